"""Gradient Centralization on PyTorch: per kernel, its means and their subtraction back to back.

Keras runs a PyTorch training step eagerly: nothing fuses GC's operations or
hides their fixed cost, so the pass is written with as few operations per
kernel as PyTorch allows:

- one ``sum`` over the kernel's fan-in axes (PyTorch has no grouped reduction
  over chosen axes; a ``sum`` avoids ``mean``'s extra division kernel);
- one subtraction that scales the sums as it goes (``sub(sums, alpha=1/n)``),
  in place where nobody reads the tensor again.

Each kernel is reduced and subtracted before the next is touched, so the
subtraction reads a kernel that the reduction has just brought into the
cache. Reducing all kernels first and subtracting with one grouped
``torch._foreach_sub_`` after (an earlier version) took longer on
ResNet50's kernels, whose early kernels had left the cache by then, and was
no quicker on the taxi MLP's three small ones: the launches it saves cost
less than the cache misses it adds.

Any layout goes through the same calls: the sums keep their reduced axes, so
each broadcasts against its own tensor. Float16 and bfloat16 tensors are
summed in float32 and their means cast back, as ``keras.ops.mean`` does. The
results equal the per-tensor ``ops.mean``/``ops.subtract`` pass to float
round-off (``x - s * sum`` instead of ``x - sum / n``).

In place, on the weights or on gradients nobody reads again, no tensor of a
kernel's size is allocated: on the CPU a fresh allocation of that size is
paged in anew on every step, and costs several times the subtraction itself.
Only imported on the PyTorch backend.
"""

from __future__ import annotations

import torch

__all__ = ["centralize_", "centralized", "recenter_", "unit_mean"]

Axes = tuple[int, ...]

_NARROW = (torch.float16, torch.bfloat16)  # summed in float32, as keras.ops.mean does


def unit_mean(tensor: torch.Tensor, axes: Axes, scale: float) -> torch.Tensor:
    """``tensor``'s per-unit means over ``axes``, kept broadcastable against it.

    Args:
        tensor: A kernel or its gradient.
        axes: Its fan-in axes, non-negative.
        scale: ``1 / (number of elements one mean runs over)``.
    """
    if tensor.dtype in _NARROW:
        return tensor.sum(axes, keepdim=True, dtype=torch.float32).mul_(scale).to(tensor.dtype)
    return tensor.sum(axes, keepdim=True).mul_(scale)


def centralize_(tensor: torch.Tensor, axes: Axes, scale: float) -> None:
    """Subtract from ``tensor``, in place, its per-unit means over ``axes``."""
    if tensor.dtype in _NARROW:
        tensor.sub_(unit_mean(tensor, axes, scale))
    else:
        tensor.sub_(tensor.sum(axes, keepdim=True), alpha=scale)


def centralized(tensor: torch.Tensor, axes: Axes, scale: float) -> torch.Tensor:
    """A new tensor: ``tensor`` minus its per-unit means over ``axes``."""
    if tensor.dtype in _NARROW:
        return tensor - unit_mean(tensor, axes, scale)
    return torch.sub(tensor, tensor.sum(axes, keepdim=True), alpha=scale)


def recenter_(tensor: torch.Tensor, axes: Axes, scale: float, mean: torch.Tensor) -> None:
    """Shift ``tensor``, in place, so that its per-unit means are ``mean`` again.

    ``mean`` is :func:`unit_mean` of the same tensor taken earlier (before an
    optimizer step): the shift is the change of each unit's mean since.
    """
    tensor.sub_(unit_mean(tensor, axes, scale).sub_(mean))
