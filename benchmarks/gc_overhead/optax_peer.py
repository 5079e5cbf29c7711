"""The optax peer: ``optax.centralize()`` chained before ``optax.adam`` in a pure JAX step.

The models are the taxi MLP and the Horses-or-Humans CNN written in plain
JAX (``jax.lax.conv_general_dilated``, ``jax.lax.reduce_window``), with
Flax's layouts, the same as Keras's: Dense kernels ``(in, out)``, conv
kernels ``(kh, kw, in, out)``. There is no dropout or augmentation layer:
their cost is not GC's, and the parameters are the same.

optax's ``centralize`` subtracts each gradient's mean over axes ``1..n``:
right for PyTorch's ``(out, in, ...)`` layout, but on Flax/Keras kernels it
averages each *input's* row across output units instead of each output
unit's fan-in. It is timed as a Flax user would chain it (the cost is that of
the same amount of memory traffic either way); :func:`centralize_like_optax`
is the layout fix the tests use to check it is otherwise the same operator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.gc_overhead.keras_steps import StepTimer
from benchmarks.gc_overhead.peer_arm import PeerArm
from benchmarks.gc_overhead.specs import ModelSpec

__all__ = ["OPTAX_ARMS", "centralize_like_optax", "init_model", "optax_step_timer"]

Params = dict[str, Any]


def _dense(key: jax.Array, fan_in: int, units: int) -> tuple[jax.Array, jax.Array]:
    limit = np.sqrt(6.0 / (fan_in + units))  # Glorot uniform, as Keras's Dense
    return jax.random.uniform(key, (fan_in, units), jnp.float32, -limit, limit), jnp.zeros(units)


def _conv(key: jax.Array, channels: int, filters: int) -> tuple[jax.Array, jax.Array]:
    fan_in, fan_out = 9 * channels, 9 * filters
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    kernel = jax.random.uniform(key, (3, 3, channels, filters), jnp.float32, -limit, limit)
    return kernel, jnp.zeros(filters)


def _mlp(key: jax.Array, features: int) -> Params:
    keys = jax.random.split(key, 3)
    widths = [features, 128, 64, 1]
    return {f"dense{i}": _dense(keys[i], widths[i], widths[i + 1]) for i in range(3)}


def _mlp_apply(params: Params, x: jax.Array) -> jax.Array:
    for i in range(3):
        w, b = params[f"dense{i}"]
        x = x @ w + b
        x = jax.nn.relu(x) if i < 2 else x
    return x


_CNN_FILTERS = (16, 32, 64, 64, 64)


def _cnn_flat_size(size: int) -> int:
    for _ in _CNN_FILTERS:
        size = (size - 2) // 2  # 3x3 valid conv, then 2x2 max pooling
    return size * size * _CNN_FILTERS[-1]


def _cnn(key: jax.Array, size: int) -> Params:
    keys = jax.random.split(key, len(_CNN_FILTERS) + 2)
    channels = (3, *_CNN_FILTERS)
    params = {
        f"conv{i}": _conv(keys[i], channels[i], filters) for i, filters in enumerate(_CNN_FILTERS)
    }
    params["dense0"] = _dense(keys[-2], _cnn_flat_size(size), 512)
    params["dense1"] = _dense(keys[-1], 512, 1)
    return params


def _cnn_apply(params: Params, x: jax.Array) -> jax.Array:
    x = x / 255.0
    for i in range(len(_CNN_FILTERS)):
        kernel, bias = params[f"conv{i}"]
        x = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = jax.nn.relu(x + bias)
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    x = x.reshape(x.shape[0], -1)
    w, b = params["dense0"]
    x = jax.nn.relu(x @ w + b)
    w, b = params["dense1"]
    return x @ w + b


def init_model(key: str, spec: ModelSpec, seed: int) -> tuple[Params, Callable[..., jax.Array]]:
    """Initial parameters and the loss function ``loss(params, x, y)`` of a peer model."""
    rng = jax.random.key(seed)
    if key == "taxi_mlp":

        def mse(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
            return jnp.mean((_mlp_apply(params, x) - y) ** 2)

        return _mlp(rng, spec.input_shape[0]), mse

    def bce(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean(optax.sigmoid_binary_cross_entropy(_cnn_apply(params, x), y))

    return _cnn(rng, spec.input_shape[0]), bce


def optax_step_timer(
    spec: ModelSpec, seed: int, transformation: optax.GradientTransformation
) -> StepTimer:
    """A timed, jitted training step of the peer model of ``spec`` with ``transformation``."""
    params, loss_fn = init_model(spec.key, spec, seed)
    x, y = (jnp.asarray(a) for a in spec.inputs(np.random.default_rng(seed)))

    def step(params: Params, opt_state: Any) -> tuple[Params, Any, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = transformation.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    jitted = jax.jit(step, donate_argnums=(0, 1))  # as Keras's JAX trainer donates its state
    state = [params, transformation.init(params)]

    def run() -> jax.Array:
        state[0], state[1], loss = jitted(state[0], state[1])
        return loss

    run()  # traces and compiles
    return StepTimer(run)


def centralize_like_optax(grad: Any) -> Any:
    """optax's ``centralize`` applied to one gradient (mean over axes ``1..n``)."""
    transformation = optax.centralize()
    updates, _ = transformation.update(grad, transformation.init(grad))
    return updates


OPTAX_ARMS = (
    PeerArm(
        name="optax.adam",
        group="optax",
        what="pure JAX step, optax.adam(1e-3)",
        baseline=None,
        timer=lambda spec, seed: optax_step_timer(spec, seed, optax.adam(1e-3)),
    ),
    PeerArm(
        name="optax.centralize + adam",
        group="optax",
        what="pure JAX step, optax.chain(optax.centralize(), optax.adam(1e-3))",
        baseline="optax.adam",
        timer=lambda spec, seed: optax_step_timer(
            spec, seed, optax.chain(optax.centralize(), optax.adam(1e-3))
        ),
    ),
)
"""optax's arms: plain Adam, and centralize chained before it."""
