"""Shared fixtures: determinism and small real-shaped models."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gc_tutorial  # noqa: E402,F401  (quiets TensorFlow's C++ start-up log)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same Python, NumPy and Keras seeds."""
    keras.utils.set_random_seed(0)


def small_cnn(model_class: type = keras.Model) -> keras.Model:
    """Conv2D + Dense model: a 4-D, a 2-D and two 1-D weights."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return model_class(inputs, outputs)


def cnn_data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and integer labels for :func:`small_cnn` (fixed seed)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype("int32") + (
        x[..., 1].mean(axis=(1, 2)) > 0
    ).astype("int32")
    return x, y
