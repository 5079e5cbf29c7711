"""The speed paths of the GC optimizers and ``GCModel``, behind one entry: :func:`with_gc`.

They compute what :mod:`gc_tutorial.centralize` computes, faster, and
``tests/library/test__fast.py`` holds them equal to it on every backend:

- The plan. A training step hands GC the same variables every time: which
  are kernels, over which axes, and the warnings of
  :func:`gc_tutorial.layouts.kernel_axes` are worked out once per list
  (:func:`_plan`) and kept on its first variable, so they live as long as the
  model. That matters on PyTorch, where Keras runs the step eagerly, in
  Python, on every step; on TensorFlow and JAX it runs once, while tracing.
- PyTorch: two operations per kernel, one ``sum`` over its fan-in axes and
  one subtraction that scales the sums as it goes (``sub(sums, alpha=1/n)``),
  back to back while the kernel is in the cache. A gradient that is its
  variable's own ``.grad`` -- what Keras's PyTorch trainer hands the
  optimizer, and clears with ``zero_grad()`` before the next backward pass
  -- is centralized in place, as the official GC code and
  ``torch.nn.utils.clip_grad_norm_`` change ``.grad``: on the CPU a fresh
  tensor of a kernel's size is paged in anew on every step, and costs
  several times the subtraction itself. Float16 and bfloat16 tensors are
  summed in float32, as ``keras.ops.mean`` does.
- TensorFlow: for large float32 kernels whose fan-in axes lead (Dense,
  ConvND, depthwise kernels), the means come from ``BiasAddGrad``,
  TensorFlow's kernel for exactly this reduction (the bias gradient), which
  runs near memory bandwidth on the CPU, several times faster than its
  ``Mean`` over leading axes (see ``benchmarks/``).
- GC on the update (``where="update"``): only each kernel's unit
  means (on PyTorch, its sums over the fan-in axes) are kept across the
  optimizer's step, not a copy of the kernel. On PyTorch the recentering
  subtracts in place, as Keras's PyTorch optimizers update the weights: one
  ``sum`` per kernel before the step; after it, a ``sum`` and two
  subtractions, the second scaling the difference of the sums as it goes.
  Inside a compiled step (TensorFlow, JAX) each kernel is its own small
  chain, which XLA fuses.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from gc_tutorial import centralize, layouts

Axes = tuple[int, ...]

_PLANS = "_gc_plans"  # the plans kept on a list's first variable
_PLANS_KEPT = 8  # the most kept per variable: lists are new each time, and all are dropped
_BIAS_ADD_GRAD_FROM = 1 << 16  # below this many elements the two generic operations are cheaper


def with_gc(
    grads: Sequence[Any],
    variables: Sequence[Any],
    conv_only: bool,
    step: Callable[[list[Any]], Any],
    *,
    where: str = "gradient",
    optimizer: keras.optimizers.Optimizer | None = None,
) -> Any:
    """``step(grads)`` with GC: on the kernels' gradients, or on the change ``step`` makes.

    Args:
        grads: One gradient per variable (``None`` where the loss does not
            reach it).
        variables: The trainable variables, in the same order.
        conv_only: Only the kernels of conv layers.
        step: What to do with the gradients: an optimizer's ``apply``, or
            ``list`` to get the centralized gradients back.
        where: ``"gradient"``: ``step`` gets the centralized gradients (in
            place where that is safe). ``"update"``: ``step`` gets ``grads``
            and ``optimizer``'s step is centralized.
        optimizer: With ``where="update"``, the optimizer whose state
            ``step`` updates (its moving averages get the same correction).

    Returns:
        What ``step`` returns, with ``where="gradient"``.
    """
    centralize.check_lengths(grads, variables, "trainable variables")
    plan = _plan(variables, conv_only)
    if where == "gradient":
        return step(plan.centralized(grads))
    assert optimizer is not None, "GC on the update needs the optimizer"
    return plan.apply_to_update(optimizer, step, list(grads))


def _plan(variables: Sequence[Any], conv_only: bool) -> Plan:
    """The :class:`Plan` for ``variables``, made once per list; warns once of guesses and LoRA.

    A plan is kept for the variables' identities and ``conv_only`` while
    their layouts stay those it was made with (:func:`gc_tutorial.mark_kernels`
    may record others).
    """
    key = (conv_only, tuple(map(id, variables)))
    layouts_now = tuple(map(layouts.layout_of, variables))
    kept = getattr(variables[0], _PLANS, None) if variables else None
    found = kept.get(key) if isinstance(kept, dict) else None
    if found is not None and found.layouts == layouts_now:
        return found
    axes = layouts.kernel_axes(variables, conv_only)
    kernels = tuple(i for i, a in enumerate(axes) if a is not None)
    shapes = tuple(tuple(variables[i].shape) for i in kernels)
    kernel_axes = tuple(a for a in axes if a is not None)
    made = Plan(
        variables=tuple(variables),
        layouts=layouts_now,
        kernels=kernels,
        axes=kernel_axes,
        shapes=shapes,
        scales=tuple(
            1.0 / layouts.fan_in_size(s, a) for s, a in zip(shapes, kernel_axes, strict=True)
        ),
    )
    if variables:
        kept = kept if isinstance(kept, dict) and len(kept) < _PLANS_KEPT else {}
        with contextlib.suppress(AttributeError, TypeError):  # a variable without __dict__
            setattr(variables[0], _PLANS, {**kept, key: made})
    return made


@dataclass(frozen=True)
class Plan:
    """GC over one list of variables: its kernels (indices), their axes, shapes and ``1/n``."""

    variables: tuple[Any, ...]
    layouts: tuple[Any, ...]
    kernels: tuple[int, ...]
    axes: tuple[Axes, ...]
    shapes: tuple[tuple[Any, ...], ...]
    scales: tuple[float, ...]

    def centralized(self, grads: Sequence[Any]) -> list[Any]:
        """The gradients with the kernels' centralized: in place where that is safe (PyTorch)."""
        out = list(grads)
        torch_backend = keras.backend.backend() == "torch"
        for i, axes, shape, scale in zip(
            self.kernels, self.axes, self.shapes, self.scales, strict=True
        ):
            grad = grads[i]
            if grad is None:
                continue
            if torch_backend:
                out[i] = _torch_centralized(grad, self.variables[i], axes, shape, scale)
            else:
                grad = centralize.dense_gradient(grad, shape)
                out[i] = ops.subtract(grad, _means(grad, axes, scale))
        return out

    def apply_to_update(
        self,
        optimizer: keras.optimizers.Optimizer,
        step: Callable[[list[Any]], Any],
        grads: list[Any],
    ) -> None:
        """Run ``step(grads)`` and centralize the change it makes to each kernel.

        The change to kernel ``w`` is ``w_after - w_before``; centralizing it
        gives ``w_after - (unit_means(w_after) - unit_means(w_before))``.
        ``optimizer`` is the one whose state ``step`` updates: with
        ``use_ema=True`` its moving averages get the same correction. On a
        step that only accumulates gradients the kernels are not moved. A
        kernel's ``constraint`` is applied again after the correction, as
        Keras applies it after each step.
        """
        kernels = [self.variables[i] for i in self.kernels]
        each = list(zip(kernels, self.axes, self.scales, strict=True))
        applies = _step_applies(optimizer)
        averages = getattr(optimizer, "_model_variables_moving_average", None)
        if not (optimizer.use_ema and averages):
            averages = None
        if keras.backend.backend() == "torch":
            import torch

            with torch.no_grad():
                before = [_torch_sums(kernel.value, axes) for kernel, axes, _ in each]
                step(grads)
                moved = applies is None or bool(applies)
                for (kernel, axes, scale), sums in zip(each, before, strict=True):
                    targets = [kernel] if moved else []
                    if averages is not None:
                        targets.append(averages[optimizer._get_variable_index(kernel)])
                    for target in targets:
                        value = target.value
                        value.sub_(_torch_sums(value, axes).sub_(sums), alpha=scale)
        else:
            before = [_means(ops.convert_to_tensor(k), axes, scale) for k, axes, scale in each]
            step(grads)
            for (kernel, axes, scale), mean in zip(each, before, strict=True):
                _recenter(kernel, mean, axes, scale, applies)
                if averages is not None:
                    average = averages[optimizer._get_variable_index(kernel)]
                    _recenter(average, mean, axes, scale)
        for kernel in kernels:
            if getattr(kernel, "constraint", None) is not None:
                kernel.assign(kernel.constraint(kernel))


def _means(tensor: Any, axes: Axes, scale: float) -> Any:
    """``ops.mean(tensor, axes, keepdims=True)``; on TensorFlow by ``BiasAddGrad`` where faster."""
    shape = tuple(tensor.shape)
    leading = len(axes)
    if (
        keras.backend.backend() == "tensorflow"
        and axes == tuple(range(leading))
        and keras.backend.standardize_dtype(tensor.dtype) == "float32"
        and None not in shape
        and math.prod(shape) >= _BIAS_ADD_GRAD_FROM
    ):
        import tensorflow as tf

        fan_in = math.prod(shape[:leading])
        sums = tf.raw_ops.BiasAddGrad(
            out_backprop=tf.reshape(tensor, (fan_in, -1)), data_format="NHWC"
        )
        return tf.reshape(sums * scale, (1,) * leading + shape[leading:])
    return ops.mean(tensor, axis=axes, keepdims=True)


def _recenter(variable: Any, means: Any, axes: Axes, scale: float, applies: Any = None) -> None:
    """Shift ``variable`` so that its unit means are ``means``; by zero where ``applies`` is false.

    The zero is exact, so that a step that only accumulates gradients
    leaves the weights bit for bit as they were, also under XLA.
    """
    value = ops.convert_to_tensor(variable)
    shift = ops.subtract(_means(value, axes, scale), means)
    if applies is not None:
        shift = ops.where(applies, shift, ops.zeros_like(shift))
    variable.assign(ops.subtract(value, shift))


def _step_applies(optimizer: keras.optimizers.Optimizer) -> Any:
    """Whether the coming ``apply`` updates the weights; ``None`` when it always does.

    With ``gradient_accumulation_steps=n`` only every ``n``-th call does.
    Read before ``apply``, as Keras reads it, from the count of calls
    (``_iterations``; with accumulation ``iterations`` counts the updates).
    """
    steps = getattr(optimizer, "gradient_accumulation_steps", None)
    if not steps:
        return None
    calls = getattr(optimizer, "_iterations", optimizer.iterations)
    return ops.equal(ops.mod(ops.add(calls, 1), steps), 0)


def _torch_sums(tensor: Any, axes: Axes) -> Any:
    """``tensor``'s sums over ``axes``, kept as axes of size 1; float16 and bfloat16 in float32."""
    import torch

    if tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.sum(axes, keepdim=True, dtype=torch.float32)
    return tensor.sum(axes, keepdim=True)


def _torch_centralized(grad: Any, variable: Any, axes: Axes, shape: tuple, scale: float) -> Any:
    """One gradient on PyTorch: in place if it is ``variable``'s own ``.grad``, else a new one."""
    import torch

    if not isinstance(grad, torch.Tensor) or not grad.is_floating_point():
        grad = ops.convert_to_tensor(centralize.dense_gradient(grad))
    if grad.shape != shape:
        return centralize.centralize_gradient(grad, axes=axes)
    own = getattr(getattr(variable, "value", None), "grad", None)
    sums = _torch_sums(grad, axes)
    if grad is own and not grad.requires_grad:
        return grad.sub_(sums, alpha=scale)
    return torch.sub(grad, sums, alpha=scale).to(grad.dtype)
