"""One Keras training step, as ``fit`` runs it, timed; one factory per backend.

A step is one call of the model's compiled train function -- what ``fit``
calls per batch -- on fixed input tensors, timed with ``time.perf_counter``
until the loss has been read back to the host (which waits for the step on
every backend, JAX's asynchronous dispatch included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

__all__ = ["StepTimer", "keras_step_timer"]


class StepTimer:
    """Runs one training step per call and returns its duration in seconds.

    ``last_loss`` holds the loss of the latest step (a Python float).
    """

    def __init__(self, run: Callable[[], Any]) -> None:
        """Wrap ``run``, which takes one step and returns its loss as a host scalar."""
        self._run = run
        self.last_loss = float("nan")

    def __call__(self) -> float:
        """Take one step; return how long it took, loss read back included."""
        start = time.perf_counter()
        loss = float(self._run())
        elapsed = time.perf_counter() - start
        self.last_loss = loss
        return elapsed


def _tensorflow(model: keras.Model, x: Any, y: Any) -> Callable[[], Any]:
    model.make_train_function()
    train_function = model.train_function
    return lambda: train_function(iter(((x, y),)))["loss"]


def _torch(model: keras.Model, x: Any, y: Any) -> Callable[[], Any]:
    model.make_train_function()
    model.train()  # what fit does: torch modules in training mode
    train_function = model.train_function
    return lambda: train_function([(x, y)])["loss"]


def _jax(model: keras.Model, x: Any, y: Any) -> Callable[[], Any]:
    # fit's loop on JAX: the state travels from step to step as arrays, and
    # is written back into the variables only at the end of an epoch.
    model.make_train_function()
    state = [
        model._get_jax_state(
            trainable_variables=True,
            non_trainable_variables=True,
            optimizer_variables=True,
            metrics_variables=True,
        )
    ]

    def run() -> Any:
        logs, state[0] = model.train_function(state[0], iter(((x, y),)))
        return logs["loss"]

    return run


_FACTORIES: dict[str, Callable[[keras.Model, Any, Any], Callable[[], Any]]] = {
    "tensorflow": _tensorflow,
    "torch": _torch,
    "jax": _jax,
}


def keras_step_timer(model: keras.Model, x: np.ndarray, y: np.ndarray) -> StepTimer:
    """A :class:`StepTimer` for a compiled model on this backend, with fixed inputs.

    Builds the model's optimizer and metrics the way ``fit`` does, by one
    ``train_on_batch`` (which also traces and compiles the train function),
    so the first timed call is a warm one.
    """
    x_tensor, y_tensor = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    model.train_on_batch(x_tensor, y_tensor)
    return StepTimer(_FACTORIES[keras.backend.backend()](model, x_tensor, y_tensor))
