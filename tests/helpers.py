"""What several test modules share: training a small model and comparing weights."""

from __future__ import annotations

import keras
import numpy as np
from conftest import cnn_data, small_cnn

from gc_tutorial.book.examples import max_difference

__all__ = ["LOSS", "max_difference", "fresh_copy", "train", "kernel_unit_means", "unit_means_of"]

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


def unit_means_of(weight: np.ndarray) -> np.ndarray:
    """Per-output-unit mean of one kernel (output units on the last axis)."""
    weight = np.asarray(weight)
    return weight.reshape(-1, weight.shape[-1]).mean(axis=0)


def kernel_unit_means(model: keras.Model) -> list[np.ndarray]:
    """Per-output-unit mean of every kernel of ``model``."""
    return [unit_means_of(v) for v in model.trainable_variables if v.name.endswith("kernel")]
