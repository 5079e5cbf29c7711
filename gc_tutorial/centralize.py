"""The Gradient Centralization operator.

GC (Yong et al., ECCV 2020, arXiv:2004.01461) replaces each weight gradient
``g`` by ``g - mean(g)``, where the mean is taken separately for every output
unit over that unit's fan-in: the weights that feed it. (PyTorch stores
``(out, in, *kernel)`` and the official code averages over axes ``1..n``.)

Where the fan-in lies depends on the layer (:mod:`gc_tutorial.layouts` has
the full table):

=====================================  ========================  ==============================
Layer kind                             Kernel layout             Axes GC averages over
=====================================  ========================  ==============================
Dense, LSTM / GRU / SimpleRNN          ``(in, units)``           all but the last
Conv1D/2D/3D, ConvLSTM, the pointwise  ``(*k, in, out)``         all but the last
kernel of SeparableConv
Conv1D/2D/3DTranspose                  ``(*k, out, in)``         all but ``-2``
DepthwiseConv1D/2D, the depthwise      ``(*k, in, multiplier)``  the spatial axes ``*k``
kernel of SeparableConv
EinsumDense, MultiHeadAttention        from the equation         the kernel subscripts not in
                                                                 the output
Embedding                              ``(vocabulary, dim)``     none (not a kernel)
=====================================  ========================  ==============================

A variable does not know its layer: :func:`gc_tutorial.mark_kernels` records
each kernel's axes on the variable, and everything here reads them
(:func:`fan_in_axes`). A kernel nobody marked gets the last-axis rule (all
axes but the last), right for Dense -- any 2-axis kernel -- and ConvND; if
it has 3 or more axes it could be a transposed, depthwise or einsum kernel,
so :func:`centralize_gradients` and the GC optimizers say so once per
variable with a :class:`gc_tutorial.GCWarning`.

Which weights GC applies to is decided per variable by :func:`gc_applies_to`:
Keras layers keep the weights GC is about under the attribute ``kernel`` (or
``*_kernel``: ``recurrent_kernel``, ``depthwise_kernel``,
``pointwise_kernel``), and biases, normalization scales, embeddings and
other parameters under other names, even when they have two or more axes
(a GRU's ``(2, 3 * units)`` bias, an ``EinsumDense`` bias, a PReLU ``alpha``).
LoRA factors (``lora_kernel_a``, ``lora_kernel_b``) are not centralized:
centralizing the gradients of ``A`` and ``B`` separately would not
centralize the update ``A @ B`` they make; :func:`centralize_gradients`
warns once when it meets them. Quantized integer kernels are not trainable
and get no gradient.

Sparse gradients follow one rule on every backend: an Embedding's
``embeddings`` is not a kernel and is never centralized (on TensorFlow its
``tf.IndexedSlices`` gradient is passed on as it is); a kernel whose
gradient arrives as ``tf.IndexedSlices`` (a kernel read with ``ops.take``)
is made dense and centralized, as JAX and PyTorch, whose gradients are
always dense, centralize it.

It is a little over the package's usual 400 lines because about 200 of
them are docstrings: the chapters show this module's code and read its docs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from gc_tutorial.layouts import layout_of

__all__ = [
    "centralize_gradient",
    "centralize_gradients",
    "centralizes",
    "gc_applies_to",
    "fan_in_axes",
    "is_kernel",
    "unit_means",
]

Axes = tuple[int, ...]


def _check_conv_only(conv_only: Any) -> bool:
    if not isinstance(conv_only, bool):
        raise TypeError(
            f"conv_only must be True or False; got {conv_only!r} ({type(conv_only).__name__})."
        )
    return conv_only


def _is_sparse(grad: Any) -> bool:
    """True for a sparse gradient: ``tf.IndexedSlices``, ``tf.SparseTensor``, JAX ``BCOO``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return isinstance(grad, (tf.IndexedSlices, tf.SparseTensor))
    if backend == "jax":
        import sys

        sparse = sys.modules.get("jax.experimental.sparse")  # only if someone made one
        return sparse is not None and isinstance(grad, sparse.JAXSparse)
    return False


def _densified(grad: Any, shape: Sequence[int | None] | None = None) -> Any:
    """A sparse gradient as the dense tensor JAX's and PyTorch's autodiff would give."""
    if keras.backend.backend() == "jax":
        return grad.todense()
    import tensorflow as tf

    if isinstance(grad, tf.SparseTensor):
        dense = tf.sparse.to_dense(grad)
    else:
        dense = tf.convert_to_tensor(grad)
    if shape is not None and None not in tuple(shape):
        dense = tf.ensure_shape(dense, tuple(shape))
    return dense


def _normalized_axes(axes: Any, rank: int, what: str = "axes") -> Axes:
    """``axes`` as sorted non-negative ints, checked against ``rank``."""
    if isinstance(axes, bool) or not isinstance(axes, (int, Sequence)) or isinstance(axes, str):
        raise TypeError(
            f"{what} must be an int or a tuple of ints (the fan-in axes GC averages "
            f"over, e.g. (0, 1, 2) for a Conv2D kernel); got {axes!r}."
        )
    given = (axes,) if isinstance(axes, int) else tuple(axes)
    if not given or not all(isinstance(a, int) and not isinstance(a, bool) for a in given):
        raise TypeError(
            f"{what} must be an int or a non-empty tuple of ints (the fan-in axes GC "
            f"averages over, e.g. (0, 1, 2) for a Conv2D kernel); got {axes!r}."
        )
    if any(not -rank <= a < rank for a in given):
        raise ValueError(
            f"{what}={axes!r} is out of range for a tensor with {rank} axes: each axis "
            f"must be in [-{rank}, {rank - 1}]."
        )
    normalized = tuple(sorted({a % rank for a in given}))
    if len(normalized) != len(given):
        raise ValueError(f"{what}={axes!r} names an axis twice.")
    return normalized


def _averaged_size(shape: Sequence[int | None], axes: Axes) -> int:
    """Number of elements each output unit's mean is taken over."""
    size = 1
    for axis in axes:
        dim = shape[axis]
        if dim is None:
            raise ValueError(
                "Gradient Centralization needs a gradient whose fan-in axes "
                f"{axes} have a static size; got shape {tuple(shape)}. "
                "Weight gradients in Keras always have a static shape."
            )
        size *= dim
    return size


def _check_tensor(grad: Any) -> None:
    if not hasattr(grad, "shape") or not hasattr(grad, "dtype"):
        raise TypeError(
            f"centralize_gradient expects a tensor or array, got {type(grad).__name__}."
        )
    dtype = keras.backend.standardize_dtype(grad.dtype)
    if "float" not in dtype:
        raise TypeError(
            f"Gradient Centralization needs a floating-point gradient; got "
            f"dtype {dtype} with shape {tuple(grad.shape)}."
        )


def _centralized(grad: Any, axes: Axes) -> Any:
    """``grad`` minus its means over ``axes``; ``grad`` itself when each mean has one element."""
    if _averaged_size(grad.shape, axes) == 1:
        return grad
    return ops.subtract(grad, _unit_means(grad, axes))


def centralize_gradient(grad: Any, conv_only: bool = False, *, axes: Any = None) -> Any:
    """Return ``grad`` minus its mean over each output unit's fan-in axes.

    Args:
        grad: The gradient of one weight, as a backend tensor or NumPy array,
            or ``None``. A sparse one (TensorFlow's ``tf.IndexedSlices``, a
            JAX ``BCOO``) is made dense first, as autodiff on JAX and
            PyTorch gives it.
        conv_only: If ``True``, centralize only gradients with 3 or more axes
            (Conv1D/2D/3D), the paper's "GCC" variant. (Given the variables,
            :func:`centralize_gradients` picks conv layers by kind instead.)
        axes: The fan-in axes to average over: an int or a tuple of ints,
            negative ones counting from the end. ``None`` (the default):
            every axis but the last, the layout of Dense and ConvND kernels
            (see the module docstring for the others).

    Returns:
        The centralized gradient, or ``grad`` itself, unchanged, when GC does
        not apply:

        - ``grad`` is ``None`` (a variable the loss does not depend on);
        - ``axes`` is ``None`` and ``grad`` has fewer than 2 axes (biases,
          normalization scales);
        - each output unit's mean would run over a single element, e.g. a
          Dense layer with one input, kernel ``(1, n)``: GC would zero the
          gradient and freeze the layer;
        - ``conv_only=True`` and ``grad`` has fewer than 3 axes.

    Raises:
        TypeError: ``grad`` is not a floating-point tensor; ``conv_only`` is
            not a bool; ``axes`` is not an int or a tuple of ints.
        ValueError: ``axes`` is empty, names an axis twice or is out of range.
    """
    conv_only = _check_conv_only(conv_only)
    if grad is None:
        return grad
    if _is_sparse(grad):
        grad = _densified(grad)
    _check_tensor(grad)
    rank = len(grad.shape)
    if (conv_only and rank < 3) or (axes is None and rank < 2):
        return grad
    fan_in = tuple(range(rank - 1)) if axes is None else _normalized_axes(axes, rank)
    return _centralized(grad, fan_in)


def unit_means(tensor: Any, *, axes: Any = None) -> Any:
    """Each output unit's mean over its fan-in axes, kept broadcastable.

    For a Dense kernel ``(in, out)`` this is the ``(1, out)`` column means;
    for a Conv2D kernel ``(kh, kw, in, out)``, the ``(1, 1, 1, out)`` means
    of each filter; for a Conv2DTranspose kernel ``(kh, kw, out, in)``, the
    ``(1, 1, out, 1)`` means. GC keeps these fixed: in gradient mode for SGD,
    and in update mode (``where="update"``) for every optimizer.

    Args:
        tensor: A tensor, array or ``keras.Variable`` with at least 2 axes.
        axes: The fan-in axes (an int or a tuple of ints). ``None`` (the
            default): the axes :func:`gc_tutorial.mark_kernels` recorded on
            ``tensor`` if it is a marked variable, else every axis but the
            last.

    Raises:
        TypeError: ``axes`` is not an int or a tuple of ints.
        ValueError: ``axes`` is ``None`` and ``tensor`` has fewer than 2
            axes; ``axes`` is empty, repeats an axis or is out of range.
    """
    layout = layout_of(tensor) if axes is None else None
    tensor = ops.convert_to_tensor(tensor)
    rank = len(tensor.shape)
    if axes is None and layout is not None and layout.fan_in_axes:
        fan_in = layout.fan_in_axes
    elif axes is None:
        if rank < 2:
            raise ValueError(
                "unit_means needs a tensor with at least 2 axes (a kernel: fan-in "
                f"and output units), or explicit axes; got shape {tuple(tensor.shape)}."
            )
        fan_in = tuple(range(rank - 1))
    else:
        fan_in = _normalized_axes(axes, rank)
    _averaged_size(tensor.shape, fan_in)  # checks the fan-in axes are static
    return _unit_means(tensor, fan_in)


# Below this many elements a kernel's GC pass is dominated by the fixed cost
# of each operation, and the generic mean (two operations) is the cheaper one.
_FAST_REDUCTION_MIN_SIZE = 1 << 16


def _unit_means(grad: Any, axes: Axes) -> Any:
    """Each output unit's mean gradient over ``axes``, shaped to broadcast against ``grad``.

    This is ``ops.mean(grad, axis=axes, keepdims=True)``. On TensorFlow, for
    large float32 kernels whose fan-in axes are the leading ones (Dense,
    ConvND, depthwise kernels), the sums come from ``BiasAddGrad`` instead:
    TensorFlow's kernel for exactly this reduction (the bias gradient) runs
    near memory bandwidth on the CPU, several times faster than its generic
    ``Mean`` over leading axes (see ``benchmarks/``). Both give the same
    means to float32 round-off. Other layouts (transposed kernels, some
    einsum kernels) take ``ops.mean``.
    """
    shape = tuple(grad.shape)
    leading = len(axes)
    if (
        keras.backend.backend() == "tensorflow"
        and keras.backend.standardize_dtype(grad.dtype) == "float32"
        and axes == tuple(range(leading))
        and None not in shape
    ):
        fan_in = _averaged_size(shape, axes)
        units = 1
        for dim in shape[leading:]:
            units *= dim
        if fan_in * units >= _FAST_REDUCTION_MIN_SIZE:
            import tensorflow as tf

            sums = tf.raw_ops.BiasAddGrad(
                out_backprop=tf.reshape(grad, (fan_in, units)), data_format="NHWC"
            )
            return tf.reshape(sums * (1.0 / fan_in), (1,) * leading + shape[leading:])
    return ops.mean(grad, axis=axes, keepdims=True)


def is_kernel(variable: Any) -> bool:
    """True if ``variable`` is a layer's kernel: named ``kernel`` or ``*_kernel``.

    Keras layers name the weights that multiply their inputs ``kernel``
    (Dense, ConvND, EinsumDense and so multi-head attention, the LSTM and GRU
    input kernels), ``recurrent_kernel``, ``depthwise_kernel`` or
    ``pointwise_kernel``. Their other weights have other names: ``bias``,
    ``gamma``, ``beta``, ``embeddings``, ``alpha``, the LoRA factors
    ``lora_kernel_a`` and ``lora_kernel_b``, ... Name your own layer's
    weights the same way (``self.add_weight(name="kernel", ...)``) for GC to
    treat them as kernels.

    Args:
        variable: A ``keras.Variable`` (anything with a ``name``).
    """
    name = str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    return name == "kernel" or name.endswith("_kernel")


def _is_lora(variable: Any) -> bool:
    name = str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    return name in ("lora_kernel_a", "lora_kernel_b")


def fan_in_axes(variable: Any, conv_only: bool = False) -> Axes | None:
    """The axes GC averages ``variable``'s gradient over, or ``None`` if it leaves it alone.

    For a kernel :func:`gc_tutorial.mark_kernels` marked, its recorded
    fan-in axes (and with ``conv_only``, only if its layer is a convolution).
    For an unmarked kernel, every axis but the last (with ``conv_only``, only
    if it has 3 or more axes). ``None`` for anything that is no kernel
    (:func:`is_kernel`), for a kernel with fewer than 2 axes that nobody
    marked, and when each output unit has a single input weight (a Dense
    layer with one input): GC would zero its gradient and freeze it.

    Args:
        variable: A ``keras.Variable``.
        conv_only: Only the kernels of conv layers, the paper's GCC.

    Raises:
        TypeError: ``conv_only`` is not a bool.
    """
    conv_only = _check_conv_only(conv_only)
    if not is_kernel(variable):
        return None
    shape = tuple(variable.shape)
    layout = layout_of(variable)
    if layout is not None:
        if conv_only and not layout.conv:
            return None
        axes = layout.fan_in_axes
    else:
        if len(shape) < (3 if conv_only else 2):
            return None
        axes = tuple(range(len(shape) - 1))
    if not axes or _averaged_size(shape, axes) <= 1:
        return None
    return axes


def gc_applies_to(variable: Any, conv_only: bool = False) -> bool:
    """True if GC applies to ``variable``: a kernel, under the guards of :func:`fan_in_axes`.

    So that a 1-D weight or a fan-in-1 kernel (Dense with one input) is never
    frozen by GC.

    Args:
        variable: A ``keras.Variable``.
        conv_only: Only the kernels of conv layers (by the kind
            :func:`gc_tutorial.mark_kernels` recorded; unmarked: 3 or more
            axes), the paper's GCC.
    """
    return fan_in_axes(variable, conv_only=conv_only) is not None


def centralizes(variable: Any, conv_only: bool = False) -> bool:
    """Deprecated alias of :func:`gc_applies_to`, kept for one release (removed in 0.3).

    The old name read too much like :func:`gc_tutorial.centralized`, which
    makes an optimizer class; this one only asks whether GC applies.
    """
    warnings.warn(
        "gc_tutorial.centralizes is deprecated and will be removed in 0.3; use "
        "gc_tutorial.gc_applies_to, the same test under a clearer name.",
        DeprecationWarning,
        stacklevel=2,
    )
    return gc_applies_to(variable, conv_only=conv_only)


def centralize_gradients(
    grads: Sequence[Any],
    variables: Sequence[Any] | None = None,
    conv_only: bool = False,
    *,
    axes: Any = None,
) -> list[Any]:
    """Centralize the gradients of the kernels among ``variables``.

    The gradients given are not changed: those GC centralizes are returned
    as new tensors. On PyTorch, whose Keras training step runs eagerly, the
    kernels' gradients go through one pass of two operations per kernel (a
    ``sum`` over its fan-in axes and one scaled subtraction) instead of
    several through Keras's ``ops``; which kernels and axes is worked out
    once per list of variables.

    Args:
        grads: Gradients, one per variable; ``None`` entries are kept as
            ``None``.
        variables: The variables ``grads`` belong to, in the same order. Only
            the gradients of variables for which :func:`gc_applies_to` holds are
            centralized, over their :func:`fan_in_axes` (those
            :func:`gc_tutorial.mark_kernels` recorded); the others are
            returned as they are. Without ``variables`` every gradient goes
            through :func:`centralize_gradient`'s rank rule, for tensors that
            belong to no layer.
        conv_only: See :func:`gc_applies_to`.
        axes: Fan-in axes for every gradient GC centralizes, instead of the
            recorded or default ones (see :func:`centralize_gradient`).

    Returns:
        A new list, in the same order as ``grads``.

    Raises:
        ValueError: ``variables`` is given and its length differs from
            ``grads``'s.
        TypeError: ``conv_only`` is not a bool, or ``axes`` not axes.

    Warns:
        GCWarning: once per variable, for an unmarked kernel with 3 or more
            axes (its layout is a guess) and for LoRA factors (not
            centralized).
    """
    from gc_tutorial.plans import centralize_listed  # which imports this module

    return centralize_listed(grads, variables, conv_only, axes, in_place=False)
