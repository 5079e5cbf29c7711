"""The GC pass alone, compiled as the backend compiles a training step, against its floor.

GC reads each centralized gradient about twice (once for the means, once
for the subtraction) and writes it once, so no implementation can take less
than ``3 x 4 bytes x (centralized parameters) / memory bandwidth``: the
*floor*, computed with the copy bandwidth measured in the same run.

The pass is the one the GC optimizers and ``GCModel`` run in training,
``GCModel.transform_gradients`` (of a ``GCModel`` on the model's own graph),
over tensors of the model's weight shapes (the values do not matter for the
time), with the model's variables, so exactly the kernels GC touches in
training are centralized. On PyTorch it is also timed on the variables' own
``.grad`` buffers, which it centralizes in place, with no new tensors.
It is timed inside the backend's compiler -- ``tf.function`` with and
without XLA on TensorFlow, ``jax.jit`` on JAX, eagerly on PyTorch (the
Keras PyTorch trainer runs eagerly unless ``jit_compile=True``) -- next to a
function of the same arguments that returns them unchanged: the fixed cost
of a call, which a compiled training step does not pay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from benchmarks.gc_overhead.timing import summary_ms, time_calls
from gc_tutorial import GCModel, gc_applies_to

__all__ = ["BYTES_PER_PARAMETER", "PASSES", "compilers", "gc_pass_rows", "weight_shaped"]

BYTES_PER_PARAMETER = 4  # float32
PASSES = 3  # GC reads each centralized gradient twice and writes it once

Compiler = Callable[[Callable[..., Any]], Callable[..., Any]]


def _tensorflow() -> dict[str, Compiler]:
    import tensorflow as tf

    return {
        "tf.function": lambda f: tf.function(f, jit_compile=False),
        "tf.function(jit_compile=True)": lambda f: tf.function(f, jit_compile=True),
    }


def _jax() -> dict[str, Compiler]:
    import jax

    def jit(f: Callable[..., Any]) -> Callable[..., Any]:
        compiled = jax.jit(f)
        return lambda *args: jax.block_until_ready(compiled(*args))

    return {"jax.jit": jit}


def _torch() -> dict[str, Compiler]:
    import torch

    def eager(f: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            with torch.no_grad():
                return f(*args)

        return run

    return {"eager": eager}


def compilers() -> dict[str, Compiler]:
    """Name to compiler (a function that compiles a function) for this backend."""
    return {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}[keras.backend.backend()]()


def weight_shaped(variables: Sequence[Any], seed: int) -> list[Any]:
    """Standard-normal float32 tensors of the variables' shapes, as backend tensors."""
    rng = np.random.default_rng(seed)
    return [
        keras.ops.convert_to_tensor(rng.normal(size=tuple(v.shape)).astype("float32"))
        for v in variables
    ]


def _as_grad_buffers(variables: Sequence[Any], grads: Sequence[Any]) -> list[Any]:
    """On PyTorch: ``grads`` copied into the variables' own ``.grad`` buffers, and those.

    That is what Keras's PyTorch trainer hands an optimizer, and what the GC
    optimizers and ``GCModel`` centralize in place. (The model is not
    trained after the pass is timed; the next step's ``zero_grad`` would
    clear the buffers.)
    """
    buffers = []
    for variable, grad in zip(variables, grads, strict=True):
        variable.value.grad = grad.clone()
        buffers.append(variable.value.grad)
    return buffers


def gc_pass_rows(
    model_key: str,
    model: keras.Model,
    bandwidth_gb_s: float,
    repeats: int,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Time the GC pass over ``model``'s weight shapes with each compiler; one row each."""
    variables = list(model.trainable_variables)
    grads = weight_shaped(variables, seed)
    sizes = [int(np.prod(v.shape)) for v in variables]
    mask = [gc_applies_to(v) for v in variables]
    centralized = sum(size for size, c in zip(sizes, mask, strict=True) if c)
    traffic = PASSES * BYTES_PER_PARAMETER * centralized
    floor_s = traffic / (bandwidth_gb_s * 1e9)
    backend_compilers = compilers()
    centralize = GCModel(model.inputs, model.outputs).transform_gradients
    passes = [
        (name, compile_, lambda gs: centralize(gs, variables), grads)
        for name, compile_ in backend_compilers.items()
    ]
    if keras.backend.backend() == "torch":
        passes.append(
            (
                "eager, in place on .grad",
                backend_compilers["eager"],
                lambda gs: centralize(gs, variables),
                _as_grad_buffers(variables, grads),
            )
        )
    rows = []
    for name, compile_, function, arguments in passes:
        gc = compile_(function)
        identity = compile_(lambda gs: list(gs))
        gc(arguments), identity(arguments)  # trace and compile
        gc_s = time_calls(lambda gc=gc, arguments=arguments: gc(arguments), repeats)
        call_s = time_calls(
            lambda identity=identity, arguments=arguments: identity(arguments), repeats
        )
        median, call = float(np.median(gc_s)), float(np.median(call_s))
        rows.append(
            {
                "model": model_key,
                "compiler": name,
                "tensors": len(variables),
                "centralized_tensors": int(sum(mask)),
                "parameters": int(sum(sizes)),
                "centralized_parameters": int(centralized),
                "traffic_bytes": int(traffic),
                "floor_ms": round(floor_s * 1e3, 5),
                "pass": summary_ms(gc_s),
                "call": summary_ms(call_s),
                "pass_net_of_call_ms": round(max(median - call, 0.0) * 1e3, 5),
                "ratio_to_floor": round(median / floor_s, 3),
                "ratio_to_floor_net_of_call": round(max(median - call, 0.0) / floor_s, 3),
            }
        )
    return rows
