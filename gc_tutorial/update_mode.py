"""GC on the optimizer's update (``where="update"``): the means before, the recentering after.

The optimizer takes its step; then each kernel is shifted so that every
output unit's mean weight is what it was before the step, which centralizes
the change the step made (see :mod:`gc_tutorial.optimizers`). Only the
per-unit means are kept across the step, not a copy of the kernels.

How each backend gets the fewest operations:

- PyTorch (Keras runs the step eagerly): the means before the step, and
  after it the recentering, each kernel's reduction and subtraction back to
  back while the kernel is in the cache (:mod:`gc_tutorial.torch_pass`),
  subtracting in place, as Keras's PyTorch optimizers update the weights.
- TensorFlow and JAX (a compiled step): per kernel, a reduction before the
  step, and a reduction and two subtractions after it (for large kernels on
  TensorFlow the reduction is the fast ``BiasAddGrad`` form of
  :func:`gc_tutorial.centralize._unit_means`). XLA fuses each kernel's
  chain; gathering the kernels into one buffer first would only add a copy
  of every kernel, and different fan-ins still need separate reductions.
  A TensorFlow graph without XLA gets those four operations per kernel,
  besides the variable reads and the assignment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from gc_tutorial.centralize import _unit_means
from gc_tutorial.plans import Plan, plan_for


def _step_applies(optimizer: keras.optimizers.Optimizer) -> Any:
    """Whether the coming ``apply`` updates the weights: ``None`` when it always does.

    With ``gradient_accumulation_steps=n`` only every ``n``-th call does; the
    others only add the gradients to the accumulators. Read before ``apply``,
    which increments ``iterations``; the same test Keras makes.
    """
    steps = getattr(optimizer, "gradient_accumulation_steps", None)
    if not steps:
        return None
    # Not `iterations`: with accumulation that counts the updates, `_iterations` the calls.
    calls = getattr(optimizer, "_iterations", optimizer.iterations)
    return ops.equal(ops.mod(ops.add(calls, 1), steps), 0)


def _apply_to_update(
    optimizer: keras.optimizers.Optimizer,
    apply: Callable[[list[Any], Any], Any],
    grads: list[Any],
    trainable_variables: Any,
    variables: list[Any],
    conv_only: bool,
) -> None:
    """Run ``apply`` and centralize the change it makes to each kernel.

    The change to kernel ``w`` is ``w_after - w_before``; centralizing it
    gives ``w_after - (unit_means(w_after) - unit_means(w_before))``, so only
    the per-unit means of the kernels are kept, not a copy of them.
    ``optimizer`` is the one whose state ``apply`` updates: with
    ``use_ema=True`` its moving averages get the same correction, so that the
    average is that of the centralized weights. A kernel's ``constraint`` is
    applied again after the correction, as Keras applies it after each step.
    """
    plan = plan_for(variables, conv_only)
    kernels = [variables[i] for i in plan.kernels]
    applies = _step_applies(optimizer)
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not (optimizer.use_ema and averages):
        averages = None
    if keras.backend.backend() == "torch":
        _torch_apply_to_update(
            optimizer, apply, grads, trainable_variables, plan, applies, averages
        )
    else:
        means_before = [
            _unit_means(ops.convert_to_tensor(v), axes)
            for v, axes in zip(kernels, plan.axes, strict=True)
        ]
        apply(grads, trainable_variables)
        for kernel, axes, before in zip(kernels, plan.axes, means_before, strict=True):
            _recenter(kernel, before, axes, applies)
            if averages is not None:
                average = averages[optimizer._get_variable_index(kernel)]
                _recenter(average, before, axes)
    for kernel in kernels:
        if getattr(kernel, "constraint", None) is not None:
            kernel.assign(kernel.constraint(kernel))


def _recenter(variable: Any, means: Any, axes: tuple[int, ...], applies: Any = None) -> None:
    """Shift ``variable`` so that its per-unit means over ``axes`` equal ``means``.

    With ``applies`` (a boolean scalar) ``False`` the shift is exactly zero.
    One reduction and two subtractions per kernel: inside a compiled step
    (TensorFlow, JAX) the compiler sees each kernel's own small chain, which
    XLA fuses; gathering the kernels into one buffer would only add a copy.
    """
    value = ops.convert_to_tensor(variable)
    shift = ops.subtract(_unit_means(value, axes), means)
    if applies is not None:
        shift = ops.where(applies, shift, ops.zeros_like(shift))
    variable.assign(ops.subtract(value, shift))


def _torch_apply_to_update(
    optimizer: keras.optimizers.Optimizer,
    apply: Callable[[list[Any], Any], Any],
    grads: list[Any],
    trainable_variables: Any,
    plan: Plan,
    applies: Any,
    averages: list[Any] | None,
) -> None:
    """:func:`_apply_to_update` on PyTorch: each side one pass over the kernels, in place.

    The means before the step and the recentering after are each one
    :mod:`gc_tutorial.torch_pass` pass over all kernels, subtracting the
    shifts from the weights in place, as Keras's PyTorch optimizers update
    them. On a step that only accumulates gradients (``applies`` false; the eager
    step knows it before it runs) the kernels are not touched.
    """
    import torch

    from gc_tutorial import torch_pass

    accumulates_only = applies is not None and not bool(applies)
    kernels = [plan.variables[i] for i in plan.kernels]
    each = list(zip(kernels, plan.axes, plan.scales, strict=True))
    with torch.no_grad():
        means_before = [torch_pass.unit_mean(k.value, a, s) for k, a, s in each]
        apply(grads, trainable_variables)
        for (kernel, axes, scale), before in zip(each, means_before, strict=True):
            if not accumulates_only:
                torch_pass.recenter_(kernel.value, axes, scale, before)
            if averages is not None:
                average = averages[optimizer._get_variable_index(kernel)]
                torch_pass.recenter_(average.value, axes, scale, before)
