"""The small problem every backend check trains: model, starting weights, data, fit.

A Conv2D + Dense classifier, started from weights NumPy draws (no backend's
random generator is involved), trained with ``fit(..., shuffle=False)`` on
fixed batches, so that two processes on two backends run the same steps.
Keras is imported inside the functions, on the backend the process has.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "N_EXAMPLES",
    "BATCH_SIZE",
    "EPOCHS",
    "LOSS",
    "build_model",
    "initial_weights",
    "data",
    "fresh_model",
    "fit",
]

N_EXAMPLES, BATCH_SIZE, EPOCHS = 64, 16, 2  # 4 batches an epoch, 8 steps
LOSS = "sparse_categorical_crossentropy"


def build_model(model_class: Any = None) -> Any:
    """Conv2D + Dense classifier: a 4-D and a 2-D kernel, two biases.

    Args:
        model_class: The functional model's class; ``keras.Model`` by default.
    """
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return (model_class or keras.Model)(inputs, outputs)


def initial_weights() -> list[np.ndarray]:
    """The same starting weights on every backend, drawn by NumPy."""
    rng = np.random.default_rng(2020)
    shapes = [(3, 3, 3, 4), (4,), (4, 3), (3,)]
    return [
        (rng.normal(size=shape) * (0.3 if len(shape) > 1 else 0.1)).astype("float32")
        for shape in shapes
    ]


def data() -> tuple[np.ndarray, np.ndarray]:
    """64 random 8x8 RGB images with three classes read from their colours."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_EXAMPLES, 8, 8, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype("int32") + (
        x[..., 1].mean(axis=(1, 2)) > 0
    ).astype("int32")
    return x, y


def fresh_model(model_class: Any = None) -> Any:
    """:func:`build_model` (of ``model_class``) with :func:`initial_weights`."""
    model = build_model(model_class)
    model.set_weights(initial_weights())
    return model


def fit(model: Any, optimizer: Any, epochs: int = EPOCHS) -> list[np.ndarray]:
    """Compile and train on :func:`data` in a fixed batch order; return weights."""
    x, y = data()
    model.compile(optimizer=optimizer, loss=LOSS)
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, shuffle=False, verbose=0)
    return model.get_weights()
