"""The benchmarked models: how to build each, its batch, optimizer and run lengths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from gc_tutorial.book.networks import horses_or_humans_cnn, taxi_fare_mlp

__all__ = ["OVERHEAD_TARGETS", "ModelSpec", "model_specs"]

OVERHEAD_TARGETS = {"taxi_mlp": 0.05, "hoh_cnn": 0.02, "resnet50": 0.02}
"""Largest acceptable GC overhead per step on the CPU: 5% for the MLP, 2% for the conv nets."""


@dataclass
class ModelSpec:
    """One benchmarked model: its Keras builder, synthetic batch, optimizer and run lengths.

    ``build`` makes the Keras network; ``inputs`` makes one batch of
    synthetic inputs and targets of the real shapes and dtypes (the time of
    a dense training step does not depend on the values).
    """

    key: str
    label: str
    build: Callable[[], keras.Model]
    inputs: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
    batch_size: int
    input_shape: tuple[int, ...]
    optimizer: str
    learning_rate: float
    loss: str
    steps: int
    warmup: int
    block: int
    pass_repeats: int
    notes: list[str] = field(default_factory=list)

    @property
    def target(self) -> float:
        """The overhead target for this model (see :data:`OVERHEAD_TARGETS`)."""
        return OVERHEAD_TARGETS[self.key]

    def describe(self) -> dict[str, Any]:
        """The settings as plain data, for the results file."""
        return {
            "label": self.label,
            "batch_size": self.batch_size,
            "input_shape": list(self.input_shape),
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "loss": self.loss,
            "steps": self.steps,
            "warmup": self.warmup,
            "block": self.block,
            "pass_repeats": self.pass_repeats,
            "target_overhead": self.target,
            "notes": self.notes,
        }


def _regression_batch(batch: int, features: int) -> Callable[[np.random.Generator], Any]:
    def inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(batch, features)).astype("float32")
        return x, rng.normal(size=(batch, 1)).astype("float32")

    return inputs


def _image_batch(
    batch: int, size: int, scale: float, sparse_labels: bool
) -> Callable[[np.random.Generator], Any]:
    def inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(0.0, scale, size=(batch, size, size, 3)).astype("float32")
        if sparse_labels:
            return x, rng.integers(0, 2, size=(batch,)).astype("int32")
        return x, rng.integers(0, 2, size=(batch, 1)).astype("float32")

    return inputs


CPU_SIZES: dict[str, dict[str, int]] = {
    "tensorflow": {"cnn_size": 150, "cnn_batch": 32, "resnet_size": 128, "resnet_batch": 16},
    "jax": {"cnn_size": 128, "cnn_batch": 16, "resnet_size": 96, "resnet_batch": 8},
    "torch": {"cnn_size": 96, "cnn_batch": 8, "resnet_size": 64, "resnet_batch": 4},
}
"""Default image sizes and batches per backend: what a 2-core CPU trains in minutes.

Keras's PyTorch backend runs eagerly and JAX compiles each arm's ResNet50
step for half a minute on the CPU, so they get smaller conv nets than
TensorFlow. Override them with ``--cnn-size`` and friends (on a GPU, say).
"""

QUICK_SIZES = {"cnn_size": 96, "cnn_batch": 4, "resnet_size": 32, "resnet_batch": 2}


def model_specs(
    backend: str = "tensorflow",
    quick: bool = False,
    cnn_size: int | None = None,
    cnn_batch: int | None = None,
    resnet_size: int | None = None,
    resnet_batch: int | None = None,
) -> dict[str, ModelSpec]:
    """The three models, at sizes a 2-core CPU trains in a few minutes.

    Args:
        backend: The Keras backend, which picks the default sizes (:data:`CPU_SIZES`).
        quick: Tiny images and batches and few steps: a smoke run, noisy.
        cnn_size, cnn_batch: The CNN's image size (at least 94) and batch.
        resnet_size, resnet_batch: ResNet50's (image size at least 32).
    """
    sizes = QUICK_SIZES if quick else CPU_SIZES[backend]
    cnn_size = cnn_size or sizes["cnn_size"]
    cnn_batch = cnn_batch or sizes["cnn_batch"]
    resnet_size = resnet_size or sizes["resnet_size"]
    resnet_batch = resnet_batch or sizes["resnet_batch"]
    return {
        "taxi_mlp": ModelSpec(
            key="taxi_mlp",
            label="taxi MLP",
            build=lambda: taxi_fare_mlp(22),
            inputs=_regression_batch(32, 22),
            batch_size=32,
            input_shape=(22,),
            optimizer="Adam",
            learning_rate=1e-3,
            loss="mse",
            steps=8 if quick else 1000,
            warmup=2 if quick else 50,
            block=4 if quick else 10,
            pass_repeats=5 if quick else 300,
            notes=["taxi_fare_mlp(22), batch 32 (chapter 6)"],
        ),
        "hoh_cnn": ModelSpec(
            key="hoh_cnn",
            label="Horses-or-Humans CNN",
            build=lambda: horses_or_humans_cnn(cnn_size),
            inputs=_image_batch(cnn_batch, cnn_size, 255.0, sparse_labels=False),
            batch_size=cnn_batch,
            input_shape=(cnn_size, cnn_size, 3),
            optimizer="RMSprop",
            learning_rate=1e-4,
            loss="binary_crossentropy",
            steps=4 if quick else 60,
            warmup=1 if quick else 3,
            block=2 if quick else 1,
            pass_repeats=5 if quick else 100,
            notes=[
                f"horses_or_humans_cnn({cnn_size}) with its augmentation layers, batch "
                f"{cnn_batch} (keras.io trains it at 300x300, batch 128)"
            ],
        ),
        "resnet50": ModelSpec(
            key="resnet50",
            label="ResNet50",
            build=lambda: keras.applications.ResNet50(
                weights=None, input_shape=(resnet_size, resnet_size, 3), classes=2
            ),
            inputs=_image_batch(resnet_batch, resnet_size, 1.0, sparse_labels=True),
            batch_size=resnet_batch,
            input_shape=(resnet_size, resnet_size, 3),
            optimizer="Adam",
            learning_rate=1e-3,
            loss="sparse_categorical_crossentropy",
            steps=4 if quick else 40,
            warmup=1 if quick else 2,
            block=2 if quick else 1,
            pass_repeats=3 if quick else 30,
            notes=[
                f"keras.applications.ResNet50(weights=None, input_shape=({resnet_size}, "
                f"{resnet_size}, 3), classes=2), batch {resnet_batch}: sized for a 2-core "
                "CPU (ImageNet training uses 224x224 and far larger batches)"
            ],
        ),
    }
