"""What several test modules share: a small model trained, its gradients, weights compared,
and Python run in a child process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import keras
import numpy as np
from conftest import cnn_data, small_cnn

from gc_tutorial.book.examples import max_difference

__all__ = [
    "LOSS",
    "max_difference",
    "fresh_copy",
    "train",
    "gradients_of",
    "kernel_unit_means",
    "unit_means_of",
    "run_python",
]

LOSS = "sparse_categorical_crossentropy"


def fresh_copy(model: keras.Model, model_class: type = keras.Model) -> keras.Model:
    """A :func:`small_cnn` of ``model_class`` with ``model``'s weights."""
    clone = small_cnn(model_class)
    clone.set_weights(model.get_weights())
    return clone


def train(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, steps: int
) -> list[np.ndarray]:
    """Compile and fit ``steps`` full-batch steps on fixed data; return weights."""
    x, y = cnn_data()
    model.compile(optimizer=optimizer, loss=LOSS)
    model.fit(x, y, batch_size=len(x), epochs=steps, shuffle=False, verbose=0)
    return model.get_weights()


def gradients_of(model: keras.Model, loss_fn: Callable, x: np.ndarray, y: np.ndarray) -> list:
    """Fresh gradient tensors of ``loss_fn(y, model(x))`` on the current Keras backend.

    Computed by the backend's own autodiff, never read from ``.grad`` buffers.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, model.trainable_variables)
    if backend == "jax":
        import jax

        def loss_of(trainable):
            y_pred, _ = model.stateless_call(
                trainable, model.non_trainable_variables, x, training=True
            )
            return loss_fn(y, y_pred)

        return jax.grad(loss_of)([v.value for v in model.trainable_variables])
    if backend == "torch":
        import torch

        loss = loss_fn(y, model(x, training=True))
        return list(torch.autograd.grad(loss, [v.value for v in model.trainable_variables]))
    raise NotImplementedError(f"no gradient helper for the {backend} backend")


def unit_means_of(weight: np.ndarray) -> np.ndarray:
    """Per-output-unit mean of one kernel (output units on the last axis)."""
    weight = np.asarray(weight)
    return weight.reshape(-1, weight.shape[-1]).mean(axis=0)


def kernel_unit_means(model: keras.Model) -> list[np.ndarray]:
    """Per-output-unit mean of every kernel of ``model``."""
    return [unit_means_of(v) for v in model.trainable_variables if v.name.endswith("kernel")]


def run_python(
    *args: str, cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in a child process; fail, showing its stderr, unless it exits 0."""
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done
