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

from collections.abc import Sequence

import torch

__all__ = ["centralize_", "centralized", "recenter_", "unit_means"]

Axes = tuple[int, ...]

_NARROW = (torch.float16, torch.bfloat16)  # summed in float32, as keras.ops.mean does


def _unit_mean(tensor: torch.Tensor, axes: Axes, scale: float) -> torch.Tensor:
    """A narrow-float tensor's per-unit means over ``axes``, summed in float32."""
    return tensor.sum(axes, keepdim=True, dtype=torch.float32).mul_(scale).to(tensor.dtype)


def unit_means(
    tensors: Sequence[torch.Tensor], axes: Sequence[Axes], scales: Sequence[float]
) -> list[torch.Tensor]:
    """Each tensor's per-unit means over its ``axes``, kept broadcastable against it.

    Args:
        tensors: The tensors (kernels or their gradients).
        axes: Each tensor's fan-in axes, non-negative.
        scales: Each tensor's ``1 / (number of elements one mean runs over)``.
    """
    return [
        _unit_mean(t, a, s) if t.dtype in _NARROW else t.sum(a, keepdim=True).mul_(s)
        for t, a, s in zip(tensors, axes, scales, strict=True)
    ]


def centralize_(
    tensors: Sequence[torch.Tensor], axes: Sequence[Axes], scales: Sequence[float]
) -> None:
    """Subtract from each tensor, in place, its per-unit means over its ``axes``."""
    for tensor, fan_in, scale in zip(tensors, axes, scales, strict=True):
        if tensor.dtype in _NARROW:
            tensor.sub_(_unit_mean(tensor, fan_in, scale))
        else:
            tensor.sub_(tensor.sum(fan_in, keepdim=True), alpha=scale)


def centralized(
    tensors: Sequence[torch.Tensor], axes: Sequence[Axes], scales: Sequence[float]
) -> list[torch.Tensor]:
    """New tensors: each of ``tensors`` minus its per-unit means over its ``axes``."""
    return [
        t - _unit_mean(t, a, s)
        if t.dtype in _NARROW
        else torch.sub(t, t.sum(a, keepdim=True), alpha=s)
        for t, a, s in zip(tensors, axes, scales, strict=True)
    ]


def recenter_(
    tensors: Sequence[torch.Tensor],
    axes: Sequence[Axes],
    scales: Sequence[float],
    means: Sequence[torch.Tensor],
) -> None:
    """Shift each tensor, in place, so that its per-unit means are ``means`` again.

    ``means`` are :func:`unit_means` of the same tensors taken earlier (before
    an optimizer step): the shift is the change of each unit's mean since.
    """
    for tensor, fan_in, scale, before in zip(tensors, axes, scales, means, strict=True):
        (shift,) = unit_means([tensor], [fan_in], [scale])
        tensor.sub_(shift.sub_(before))
