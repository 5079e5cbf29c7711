"""Shared fixtures: determinism and small real-shaped models.

Every test under ``tests/book`` (the chapters, the committed results, the
built site) is marked ``book``: ``python -m pytest -m "not book"`` runs the
package's unit tests alone, ``python -m pytest tests/book`` the book's.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# The imports follow the line above on purpose (noqa: E402): Keras reads
# KERAS_BACKEND once, when it is first imported.
import gc_tutorial  # noqa: E402,F401  (first: quiets TensorFlow's C++ start-up log)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BOOK_TESTS = Path(__file__).parent / "book"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected from ``tests/book`` as ``book``."""
    for item in items:
        if BOOK_TESTS in Path(item.path).parents:
            item.add_marker(pytest.mark.book)


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
