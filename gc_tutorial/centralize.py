"""The Gradient Centralization operator: a gradient minus its mean over each unit's fan-in.

GC (Yong et al., ECCV 2020, arXiv:2004.01461) replaces each weight gradient
``g`` by ``g - mean(g)``, where the mean is taken separately for every output
unit over that unit's fan-in: the weights that feed it. Keras keeps the
output units of Dense kernels ``(in, units)`` and ConvND kernels
``(*k, in, out)`` on the last axis, so there the mean runs over every other
axis. (PyTorch stores ``(out, in, *k)`` and the official code averages over
axes ``1..n``.) Which weights are kernels, and the fan-in of the other layer
kinds (transposed, depthwise, einsum kernels), is :mod:`gc_tutorial.layouts`'s.

This module is the arithmetic, one tensor at a time, as the chapters write
it. The GC optimizers and ``GCModel`` run the same arithmetic through faster
code (``gc_tutorial/_fast.py``), which the tests hold equal to this.

Sparse gradients follow one rule on every backend: an Embedding's
``embeddings`` is not a kernel and is never centralized (on TensorFlow its
``tf.IndexedSlices`` gradient is passed on as it is); a kernel whose
gradient arrives as ``tf.IndexedSlices`` (a kernel read with ``ops.take``)
is made dense and centralized, as JAX and PyTorch, whose gradients are
always dense, centralize it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from gc_tutorial.layouts import check_conv_only, fan_in_size, kernel_axes, layout_of

__all__ = ["centralize_gradient", "centralize_gradients", "unit_means"]

Axes = tuple[int, ...]


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
            every axis but the last, the layout of Dense and ConvND kernels.

    Returns:
        The centralized gradient, or ``grad`` itself, unchanged, when GC does
        not apply: ``grad`` is ``None``; ``axes`` is ``None`` and ``grad`` has
        fewer than 2 axes (biases, normalization scales); each output unit's
        mean would run over a single element (a Dense layer with one input:
        GC would zero the gradient and freeze the layer); ``conv_only`` and
        ``grad`` has fewer than 3 axes.

    Raises:
        TypeError: ``grad`` is not a floating-point tensor; ``conv_only`` is
            not a bool; ``axes`` is not an int or a tuple of ints.
        ValueError: ``axes`` is empty, names an axis twice or is out of range.
    """
    conv_only = check_conv_only(conv_only)
    if grad is None:
        return None
    grad = dense_gradient(grad)
    rank = len(grad.shape)
    if (conv_only and rank < 3) or (axes is None and rank < 2):
        return grad
    fan_in = tuple(range(rank - 1)) if axes is None else _normalized_axes(axes, rank)
    if fan_in_size(grad.shape, fan_in) == 1:
        return grad
    return ops.subtract(grad, ops.mean(grad, axis=fan_in, keepdims=True))


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
            default): a kernel's (:func:`gc_tutorial.layouts.layout_of`),
            else every axis but the last.

    Raises:
        TypeError: ``axes`` is not an int or a tuple of ints.
        ValueError: ``axes`` is ``None`` and ``tensor`` has fewer than 2
            axes; ``axes`` is empty, repeats an axis or is out of range.
    """
    layout = layout_of(tensor) if axes is None else None
    tensor = ops.convert_to_tensor(tensor)
    rank = len(tensor.shape)
    if axes is not None:
        fan_in = _normalized_axes(axes, rank)
    elif layout is not None and layout.fan_in_axes:
        fan_in = layout.fan_in_axes
    elif rank >= 2:
        fan_in = tuple(range(rank - 1))
    else:
        raise ValueError(
            "unit_means needs a tensor with at least 2 axes (a kernel: fan-in "
            f"and output units), or explicit axes; got shape {tuple(tensor.shape)}."
        )
    fan_in_size(tensor.shape, fan_in)  # raises for fan-in axes of unknown size
    return ops.mean(tensor, axis=fan_in, keepdims=True)


def centralize_gradients(
    grads: Sequence[Any],
    variables: Sequence[Any] | None = None,
    conv_only: bool = False,
    *,
    axes: Any = None,
) -> list[Any]:
    """Centralize the gradients of the kernels among ``variables``.

    Each gradient GC applies to goes through :func:`centralize_gradient`
    over its variable's fan-in axes; the gradients given are not changed.

    Args:
        grads: Gradients, one per variable; ``None`` entries are kept.
        variables: The variables ``grads`` belong to, in the same order.
            Only the gradients of kernels are centralized, over their
            :func:`gc_tutorial.fan_in_axes` (see :mod:`gc_tutorial.layouts`
            for the rule); the others are returned as they are. Without
            ``variables`` every gradient goes through
            :func:`centralize_gradient`'s rank rule.
        conv_only: Only the kernels of conv layers, the paper's GCC.
        axes: Fan-in axes for every gradient GC centralizes, instead of each
            kernel's (see :func:`centralize_gradient`).

    Returns:
        A new list, in the same order as ``grads``.

    Raises:
        ValueError: ``variables`` is given and its length differs from
            ``grads``'s.
        TypeError: ``conv_only`` is not a bool, or ``axes`` not axes.

    Warns:
        GCWarning: once per variable, for a kernel whose layout GC has to
            guess and for LoRA factors (not centralized).
    """
    conv_only = check_conv_only(conv_only)
    grads = list(grads)
    if variables is None:
        return [centralize_gradient(grad, conv_only, axes=axes) for grad in grads]
    variables = list(variables)
    check_lengths(grads, variables)
    out = list(grads)
    for i, fan_in in enumerate(kernel_axes(variables, conv_only)):
        if fan_in is not None and grads[i] is not None:
            grad = dense_gradient(grads[i], variables[i].shape)
            out[i] = centralize_gradient(grad, axes=fan_in if axes is None else axes)
    return out


def check_lengths(grads: Sequence[Any], variables: Sequence[Any], what: str = "variables") -> None:
    """Raise a ``ValueError`` unless there is one gradient per variable."""
    if len(grads) != len(variables):
        raise ValueError(
            f"Got {len(grads)} gradients for {len(variables)} {what}; Gradient "
            "Centralization needs exactly one gradient per variable."
        )


def dense_gradient(grad: Any, shape: Sequence[int | None] | None = None) -> Any:
    """``grad`` as a dense floating-point tensor (``shape``: the static shape it has).

    A sparse gradient (``tf.IndexedSlices``, ``tf.SparseTensor``, a JAX
    ``BCOO``) is made dense, as JAX's and PyTorch's autodiff give it; any
    other is returned as it is, once checked.

    Raises:
        TypeError: ``grad`` is not a floating-point tensor or array.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(grad, (tf.IndexedSlices, tf.SparseTensor)):
            sparse = isinstance(grad, tf.SparseTensor)
            grad = tf.sparse.to_dense(grad) if sparse else tf.convert_to_tensor(grad)
            if shape is not None and None not in tuple(shape):
                grad = tf.ensure_shape(grad, tuple(shape))
    elif backend == "jax":
        sparse_module = sys.modules.get("jax.experimental.sparse")  # only if someone made one
        if sparse_module is not None and isinstance(grad, sparse_module.JAXSparse):
            grad = grad.todense()
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
    return grad


def _normalized_axes(axes: Any, rank: int) -> Axes:
    """``axes`` as sorted non-negative ints, checked against ``rank``."""
    given = (axes,) if isinstance(axes, int) and not isinstance(axes, bool) else axes
    if not isinstance(given, Sequence) or isinstance(given, str):
        raise TypeError(
            "axes must be an int or a tuple of ints (the fan-in axes GC averages "
            f"over, e.g. (0, 1, 2) for a Conv2D kernel); got {axes!r}."
        )
    if not given or not all(isinstance(a, int) and not isinstance(a, bool) for a in given):
        raise TypeError(
            "axes must be an int or a non-empty tuple of ints (the fan-in axes GC "
            f"averages over, e.g. (0, 1, 2) for a Conv2D kernel); got {axes!r}."
        )
    if any(not -rank <= a < rank for a in given):
        raise ValueError(
            f"axes={axes!r} is out of range for a tensor with {rank} axes: each axis "
            f"must be in [-{rank}, {rank - 1}]."
        )
    normalized = tuple(sorted({a % rank for a in given}))
    if len(normalized) != len(given):
        raise ValueError(f"axes={axes!r} names an axis twice.")
    return normalized
