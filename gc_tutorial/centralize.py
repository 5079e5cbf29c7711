"""The Gradient Centralization operator.

GC (Yong et al., ECCV 2020, arXiv:2004.01461) replaces each weight gradient
``g`` by ``g - mean(g)``, where the mean is taken separately for every output
unit over all of that unit's fan-in. Keras stores kernels with the output axis
*last* -- Dense ``(in, out)``, ConvND ``(*kernel, in, out)`` -- so the mean runs
over every axis but the last. (PyTorch stores ``(out, in, *kernel)`` and the
official code averages over axes ``1..n``; it is the same operator.)

Which weights GC applies to is decided per variable by :func:`centralizes`:
Keras layers keep the weights GC is about under the attribute ``kernel`` (or
``*_kernel``: ``recurrent_kernel``, ``depthwise_kernel``,
``pointwise_kernel``), and biases, normalization scales, embeddings and
other parameters under other names, even when they have two or more axes
(a GRU's ``(2, 3 * units)`` bias, an ``EinsumDense`` bias, a PReLU ``alpha``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

__all__ = [
    "centralize_gradient",
    "centralize_gradients",
    "centralizes",
    "is_kernel",
    "unit_means",
]


def _is_sparse(grad: Any) -> bool:
    """True for TensorFlow's sparse gradients (``tf.IndexedSlices``).

    Embedding layers on the TensorFlow backend produce them; their rows are a
    lookup table, not an output unit's fan-in, so GC does not apply.
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(grad, (tf.IndexedSlices, tf.SparseTensor))


def _averaged_size(shape: Sequence[int | None]) -> int:
    """Number of elements each output unit's mean is taken over."""
    size = 1
    for dim in shape[:-1]:
        if dim is None:
            raise ValueError(
                "centralize_gradient needs a gradient whose axes other than "
                f"the last have a static size; got shape {tuple(shape)}. "
                "Weight gradients in Keras always have a static shape."
            )
        size *= dim
    return size


def centralize_gradient(grad: Any, conv_only: bool = False) -> Any:
    """Return ``grad`` minus its mean over every axis but the last.

    Args:
        grad: The gradient of one weight, in Keras's kernel layout (output
            units on the last axis), as a backend tensor or NumPy array, or
            ``None``.
        conv_only: If ``True``, centralize only kernels with 3 or more axes
            (Conv1D/2D/3D), the paper's "GCC" variant. The official PyTorch
            code's GCC centralizes weights with more than 3 axes (Conv2D and
            Conv3D); this package counts Conv1D kernels as conv kernels too.

    Returns:
        The centralized gradient, or ``grad`` itself, unchanged, when GC does
        not apply:

        - ``grad`` is ``None`` (a variable the loss does not depend on);
        - ``grad`` has fewer than 2 axes (biases, normalization scales);
        - ``grad`` is sparse (``tf.IndexedSlices`` from an Embedding layer);
        - each output unit's mean would run over a single element, e.g. a
          Dense layer with one input, kernel ``(1, n)``: GC would zero the
          gradient and freeze the layer;
        - ``conv_only=True`` and ``grad`` has fewer than 3 axes.

    The rule assumes the output units lie on the last axis, as in Dense and
    ConvND kernels. Kernels laid out otherwise get the same last-axis rule,
    which is then not per output unit: ``Conv2DTranspose`` (``(kh, kw, out,
    in)``, centralized per input channel, as the official code does too),
    depthwise kernels (``(kh, kw, in, multiplier)``) and ``EinsumDense`` /
    multi-head attention kernels (heads averaged together).

    Raises:
        TypeError: ``grad`` is not a floating-point tensor.
    """
    if grad is None or _is_sparse(grad):
        return grad
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
    rank = len(grad.shape)
    if rank < (3 if conv_only else 2):
        return grad
    fan_in = _averaged_size(grad.shape)
    if fan_in == 1:
        return grad
    return ops.subtract(grad, _unit_means(grad, fan_in))


def unit_means(tensor: Any) -> Any:
    """Each output unit's mean over every axis but the last, kept broadcastable.

    For a Dense kernel ``(in, out)`` this is the ``(1, out)`` column means;
    for a Conv2D kernel ``(kh, kw, in, out)``, the ``(1, 1, 1, out)`` means
    of each filter. GC keeps these fixed: in gradient mode for SGD, and in
    update mode (``where="update"``) for every optimizer.

    Args:
        tensor: A tensor, array or ``keras.Variable`` with at least 2 axes.
    """
    tensor = ops.convert_to_tensor(tensor)
    return _unit_means(tensor, _averaged_size(tensor.shape))


# Below this many elements a kernel's GC pass is dominated by the fixed cost
# of each operation, and the generic mean (two operations) is the cheaper one.
_FAST_REDUCTION_MIN_SIZE = 1 << 16


def _unit_means(grad: Any, fan_in: int) -> Any:
    """Each output unit's mean gradient, shaped to broadcast against ``grad``.

    ``fan_in`` is the number of elements each mean runs over.

    This is ``ops.mean`` over every axis but the last. On TensorFlow, for
    large float32 kernels, the column sums come from ``BiasAddGrad`` instead:
    TensorFlow's kernel for exactly this reduction (the bias gradient) runs
    near memory bandwidth on the CPU, several times faster than its generic
    ``Mean`` over leading axes (see ``benchmarks/``). Both give the same
    means to float32 round-off.
    """
    dtype = keras.backend.standardize_dtype(grad.dtype)
    units = grad.shape[-1]
    if (
        keras.backend.backend() == "tensorflow"
        and dtype == "float32"
        and fan_in * units >= _FAST_REDUCTION_MIN_SIZE
    ):
        import tensorflow as tf

        sums = tf.raw_ops.BiasAddGrad(
            out_backprop=tf.reshape(grad, (fan_in, units)), data_format="NHWC"
        )
        return sums * (1.0 / fan_in)
    axes = tuple(range(len(grad.shape) - 1))
    return ops.mean(grad, axis=axes, keepdims=True)


def is_kernel(variable: Any) -> bool:
    """True if ``variable`` is a layer's kernel: named ``kernel`` or ``*_kernel``.

    Keras layers name the weights that multiply their inputs ``kernel``
    (Dense, ConvND, EinsumDense and so multi-head attention, the LSTM and GRU
    input kernels), ``recurrent_kernel``, ``depthwise_kernel`` or
    ``pointwise_kernel``. Their other weights have other names: ``bias``,
    ``gamma``, ``beta``, ``embeddings``, ``alpha``, ... Name your own layer's
    weights the same way (``self.add_weight(name="kernel", ...)``) for GC to
    treat them as kernels.

    Args:
        variable: A ``keras.Variable`` (anything with a ``name``).
    """
    name = str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    return name == "kernel" or name.endswith("_kernel")


def centralizes(variable: Any, conv_only: bool = False) -> bool:
    """True if GC applies to ``variable``: a kernel, under the guards.

    GC applies to a kernel (:func:`is_kernel`) with at least 2 axes (3 with
    ``conv_only``) whose output units each have more than one input weight.
    The same guards as :func:`centralize_gradient`, so that a 1-D weight or
    a fan-in-1 kernel (Dense with one input) is never frozen by GC.

    Args:
        variable: A ``keras.Variable``.
        conv_only: Only conv kernels (3 or more axes), the paper's GCC.
    """
    shape = tuple(variable.shape)
    if not is_kernel(variable) or len(shape) < (3 if conv_only else 2):
        return False
    return _averaged_size(shape) > 1


def centralize_gradients(
    grads: Sequence[Any],
    variables: Sequence[Any] | None = None,
    conv_only: bool = False,
) -> list[Any]:
    """Centralize the gradients of the kernels among ``variables``.

    Args:
        grads: Gradients, one per variable; ``None`` entries are kept as
            ``None``.
        variables: The variables ``grads`` belong to, in the same order. Only
            the gradients of variables for which :func:`centralizes` holds are
            centralized; the others are returned as they are. Without
            ``variables`` every gradient goes through
            :func:`centralize_gradient`'s rank rule, for tensors that belong
            to no layer.
        conv_only: See :func:`centralize_gradient`.

    Returns:
        A new list, in the same order as ``grads``.

    Raises:
        ValueError: ``variables`` is given and its length differs from
            ``grads``'s.
    """
    if variables is None:
        return [centralize_gradient(g, conv_only=conv_only) for g in grads]
    variables = list(variables)
    if len(variables) != len(grads):
        raise ValueError(
            f"Got {len(grads)} gradients for {len(variables)} variables; "
            "Gradient Centralization needs exactly one gradient per variable."
        )
    return [
        centralize_gradient(g, conv_only=conv_only) if centralizes(v, conv_only=conv_only) else g
        for g, v in zip(grads, variables, strict=True)
    ]
