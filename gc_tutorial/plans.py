"""GC over a whole list of variables: a plan made once per list, and the pass it drives.

A training step hands GC the same variables every time: which of them are
kernels, over which axes each is averaged, and the warnings about guessed
layouts and LoRA factors are worked out once per list (:func:`plan_for`)
and kept on the list's first variable, so the plan lives as long as the
model. That matters on PyTorch, where Keras runs the step eagerly, in
Python, on every step; on TensorFlow and JAX it runs once, while tracing.

The pass itself (:func:`centralize_listed`, behind
:func:`gc_tutorial.centralize_gradients` and the GC optimizers) is per
tensor inside a compiled step, and on PyTorch two operations per kernel
(:mod:`gc_tutorial.torch_pass`), in place on the ``.grad`` buffers Keras
hands an optimizer (:func:`centralize_in_place`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from gc_tutorial.centralize import (
    Axes,
    _averaged_size,
    _centralized,
    _check_conv_only,
    _check_tensor,
    _densified,
    _is_lora,
    _is_sparse,
    _normalized_axes,
    centralize_gradient,
    fan_in_axes,
)
from gc_tutorial.layouts import _warn_once, layout_of

__all__ = ["Plan", "centralize_in_place", "centralize_listed", "plan_for"]

_UNMARKED = (
    "Gradient Centralization has no recorded layout for the kernel(s) {paths}: it "
    "assumes their output units lie on the last axis, as in Dense and ConvND "
    "kernels, and averages over every other axis. That is wrong for transposed-conv, "
    "depthwise and EinsumDense/MultiHeadAttention kernels: call "
    "gc_tutorial.mark_kernels(model) once the model is built to record each "
    "kernel's real fan-in axes. (Given once per variable.)"
)
_LORA = (
    "Gradient Centralization does not apply to the LoRA factors {paths}: "
    "centralizing the gradients of A and B separately would not centralize the "
    "update A @ B they make to the frozen kernel, so they are trained as the plain "
    "optimizer trains them. (Given once per variable.)"
)


@dataclass(frozen=True)
class Plan:
    """What GC does to the gradients of one list of variables.

    Attributes:
        variables: The list the plan was made for. Holding them keeps their
            ids, the cache key, from being reused by other objects.
        layouts: Their recorded layouts when the plan was made (a later
            :func:`gc_tutorial.mark_kernels` makes a new plan).
        kernels: The positions of the variables GC centralizes.
        axes: Their fan-in axes, in the order of ``kernels``.
        shapes: Their shapes, in the same order.
        scales: ``1 / (number of weights each unit's mean runs over)``, in
            the same order.
    """

    variables: tuple[Any, ...]
    layouts: tuple[Any, ...]
    kernels: tuple[int, ...]
    axes: tuple[Axes, ...]
    shapes: tuple[tuple[int, ...], ...]
    scales: tuple[float, ...]


_PLANS = "_gc_plans"  # on a list's first variable: the plans of the lists it starts
_PLANS_KEPT = 8  # per variable; beyond that the lists are new each time, and all are dropped


def plan_for(variables: Sequence[Any], conv_only: bool) -> Plan:
    """The :class:`Plan` for ``variables``; warns (once each) of guessed layouts and LoRA.

    Made once per list: by the variables' identity, ``conv_only`` and their
    recorded layouts.
    """
    key = (conv_only, tuple(map(id, variables)))
    layouts = tuple(map(layout_of, variables))
    plans = getattr(variables[0], _PLANS, None) if variables else None
    plan = plans.get(key) if isinstance(plans, dict) else None
    if plan is not None and plan.layouts == layouts:
        return plan
    axes = [fan_in_axes(v, conv_only=conv_only) for v in variables]
    kernels = tuple(i for i, a in enumerate(axes) if a is not None)
    shapes = tuple(tuple(variables[i].shape) for i in kernels)
    kernel_axes = tuple(a for a in axes if a is not None)
    plan = Plan(
        variables=tuple(variables),
        layouts=layouts,
        kernels=kernels,
        axes=kernel_axes,
        shapes=shapes,
        scales=tuple(1.0 / _averaged_size(s, a) for s, a in zip(shapes, kernel_axes, strict=True)),
    )
    guessed = [
        variables[i]
        for i, shape in zip(kernels, shapes, strict=True)
        if layouts[i] is None and len(shape) >= 3
    ]
    _warn_once(guessed, "unmarked", _UNMARKED)
    _warn_once([v for v in variables if _is_lora(v)], "lora", _LORA)
    if variables:
        kept = plans if isinstance(plans, dict) and len(plans) < _PLANS_KEPT else {}
        with contextlib.suppress(AttributeError, TypeError):  # a variable without __dict__
            setattr(variables[0], _PLANS, {**kept, key: plan})
    return plan


def centralize_listed(
    grads: Sequence[Any],
    variables: Sequence[Any] | None,
    conv_only: Any,
    axes: Any,
    in_place: bool,
) -> list[Any]:
    """``centralize_gradients``; with ``in_place``, see :func:`centralize_in_place`."""
    conv_only = _check_conv_only(conv_only)
    grads = list(grads)
    if variables is None:
        return [centralize_gradient(g, conv_only=conv_only, axes=axes) for g in grads]
    variables = list(variables)
    if len(variables) != len(grads):
        raise ValueError(
            f"Got {len(grads)} gradients for {len(variables)} variables; "
            "Gradient Centralization needs exactly one gradient per variable."
        )
    plan = plan_for(variables, conv_only)
    if axes is None and keras.backend.backend() == "torch":
        return _torch_centralized(grads, plan, in_place)
    out = list(grads)
    for i, fan_in in zip(plan.kernels, plan.axes, strict=True):
        grad = grads[i]
        if grad is None:
            continue
        if _is_sparse(grad):
            grad = _densified(grad, variables[i].shape)
        _check_tensor(grad)
        if axes is not None:
            fan_in = _normalized_axes(axes, len(grad.shape))
        out[i] = _centralized(grad, fan_in)
    return out


def centralize_in_place(
    grads: Sequence[Any], variables: Sequence[Any], conv_only: bool
) -> list[Any]:
    """:func:`gc_tutorial.centralize_gradients` for an optimizer's ``apply``: in place where safe.

    The internal fast path of the GC optimizers. On PyTorch, a gradient that
    is its variable's own ``.grad`` -- what Keras's PyTorch trainer hands
    to ``apply``, and clears with ``zero_grad()`` before the next backward
    pass without reading it again -- is
    centralized in place, as the official GC code and
    ``torch.nn.utils.clip_grad_norm_`` change ``.grad``: no tensor of the
    kernel's size is allocated. Every other gradient, and every gradient on
    the other backends (compiled steps, where in place means nothing), is
    centralized into a new tensor, as by ``centralize_gradients``.
    """
    return centralize_listed(grads, variables, conv_only, None, in_place=True)


def _autograd_buffer(variable: Any) -> Any:
    """The ``.grad`` PyTorch's autograd keeps for a Keras variable, if any."""
    return getattr(getattr(variable, "value", None), "grad", None)


def _torch_centralized(grads: list[Any], plan: Plan, in_place: bool) -> list[Any]:
    """The kernels' gradients centralized by :mod:`gc_tutorial.torch_pass`.

    With ``in_place``, those that are their variable's own ``.grad`` are
    centralized in place (see :func:`centralize_in_place`). A gradient
    whose shape is not its variable's takes the per-tensor path.
    """
    import torch

    from gc_tutorial import torch_pass

    out = list(grads)
    for j, i in enumerate(plan.kernels):
        grad = grads[i]
        if grad is None:
            continue
        if not isinstance(grad, torch.Tensor) or not grad.is_floating_point():
            _check_tensor(grad)  # raises for a tensor that is not floating-point
            grad = ops.convert_to_tensor(grad)
        if grad.shape != plan.shapes[j]:
            out[i] = _centralized(grad, plan.axes[j])
        elif in_place and not grad.requires_grad and grad is _autograd_buffer(plan.variables[i]):
            torch_pass.centralize_(grad, plan.axes[j], plan.scales[j])
        else:
            out[i] = torch_pass.centralized(grad, plan.axes[j], plan.scales[j])
    return out
