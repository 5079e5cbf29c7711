"""Gradient Centralization on PyTorch as grouped operations over many tensors.

Keras runs a PyTorch training step eagerly: nothing fuses GC's operations or
hides their fixed cost, so done one tensor at a time GC is a Python loop of
separate operations per kernel, each through Keras's ``ops`` layer. Here the
work for a whole list of kernels is:

- one reduction per tensor, ``sum`` over its fan-in axes (PyTorch has no
  grouped reduction over chosen axes; a plain ``sum`` costs about half a
  ``mean`` on small tensors, which adds a division kernel);
- one ``torch._foreach_mul_`` that turns every sum into a mean;
- one ``torch._foreach_sub_`` (in place) or ``torch._foreach_sub`` that
  subtracts every mean, broadcast over its tensor's fan-in axes.

Any layout goes through the same calls: the means keep their reduced axes,
so each broadcasts against its own tensor. Float16 and bfloat16 tensors are
summed in float32 and their means cast back, as ``keras.ops.mean`` does.
The results equal the per-tensor ``ops.mean``/``ops.subtract`` pass to
float round-off (``sum * (1 / n)`` instead of ``sum / n``).

In place, on the weights or on gradients nobody reads again, no tensor of a
kernel's size is allocated: on the CPU a fresh allocation of that size is
paged in anew on every step, and costs more than the subtraction itself.
Only imported on the PyTorch backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["centralize_", "centralized", "recenter_", "unit_means"]

Axes = tuple[int, ...]

_NARROW = (torch.float16, torch.bfloat16)  # summed in float32, as keras.ops.mean does


def unit_means(
    tensors: Sequence[torch.Tensor], axes: Sequence[Axes], scales: Sequence[float]
) -> list[torch.Tensor]:
    """Each tensor's per-unit means over its ``axes``, kept broadcastable against it.

    Args:
        tensors: The tensors (kernels or their gradients).
        axes: Each tensor's fan-in axes, non-negative.
        scales: Each tensor's ``1 / (number of elements one mean runs over)``.
    """
    sums = []
    narrow = False
    for tensor, fan_in in zip(tensors, axes, strict=True):
        if tensor.dtype in _NARROW:
            narrow = True
            sums.append(tensor.sum(fan_in, keepdim=True, dtype=torch.float32))
        else:
            sums.append(tensor.sum(fan_in, keepdim=True))
    if sums:
        torch._foreach_mul_(sums, list(scales))
    if narrow:
        return [s.to(t.dtype) for s, t in zip(sums, tensors, strict=True)]
    return sums


def centralize_(
    tensors: Sequence[torch.Tensor], axes: Sequence[Axes], scales: Sequence[float]
) -> None:
    """Subtract from each tensor, in place, its per-unit means over its ``axes``."""
    if tensors:
        torch._foreach_sub_(list(tensors), unit_means(tensors, axes, scales))


def centralized(
    tensors: Sequence[torch.Tensor], axes: Sequence[Axes], scales: Sequence[float]
) -> list[torch.Tensor]:
    """New tensors: each of ``tensors`` minus its per-unit means over its ``axes``."""
    if not tensors:
        return []
    return list(torch._foreach_sub(list(tensors), unit_means(tensors, axes, scales)))


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
    if not tensors:
        return
    shifts = unit_means(tensors, axes, scales)
    torch._foreach_sub_(shifts, list(means))
    torch._foreach_sub_(list(tensors), shifts)
