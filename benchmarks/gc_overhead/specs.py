"""The benchmarked models: how to build each, its batch, optimizers, targets and run lengths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from gc_tutorial.book.networks import horses_or_humans_cnn, taxi_fare_mlp

__all__ = [
    "ADAM",
    "OPTIMIZER_FAMILIES",
    "OVERHEAD_TARGETS",
    "RESOLUTION_BANDS",
    "SGD",
    "ModelSpec",
    "OptimizerSpec",
    "model_specs",
]

OVERHEAD_TARGETS = {"taxi_mlp": 0.05, "hoh_cnn": 0.02, "resnet50": 0.02}
"""Largest acceptable GC overhead per step on the CPU: 5% for the MLP, 2% for the conv nets."""

RESOLUTION_BANDS = {"taxi_mlp": 0.02, "hoh_cnn": 0.01, "resnet50": 0.01}
"""How close to 1 the A/A control's whole interval must lie for a run to resolve its targets.

Two sets of plain copies that differ in nothing must come out within 2% of
each other on the MLP and 1% on the conv nets (interval included, and 1
inside it): otherwise the run cannot tell a 2% (5%) overhead from noise.
"""

OPTIMIZER_FAMILIES = ("own", "sgd", "adam")
"""The optimizer families a run can choose (``--optimizers``): each model's own
optimizer (:attr:`ModelSpec.optimizer`: Adam; RMSprop for the CNN, as keras.io
trains it), SGD with momentum 0.9 (:data:`SGD`) and Adam (:data:`ADAM`): the
three optimizers the book's answer advises on. A model whose own optimizer is
Adam is timed with it once."""

SGD_LEARNING_RATE, SGD_MOMENTUM = 0.01, 0.9


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer family: a ``keras.optimizers`` class name and its arguments.

    The name (``"Adam"``, ``"SGD"``) is the family's name in the results:
    the ``optimizer`` of every comparison in it.
    """

    name: str
    learning_rate: float
    momentum: float | None = None

    def arguments(self) -> dict[str, float]:
        """The constructor's keyword arguments."""
        extra = {} if self.momentum is None else {"momentum": self.momentum}
        return {"learning_rate": self.learning_rate, **extra}

    def describe(self) -> str:
        """E.g. ``"SGD(learning_rate=0.01, momentum=0.9)"``."""
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.arguments().items())})"


SGD = OptimizerSpec("SGD", SGD_LEARNING_RATE, SGD_MOMENTUM)
ADAM = OptimizerSpec("Adam", 1e-3)


@dataclass
class ModelSpec:
    """One benchmarked model: its Keras builder, synthetic batch, optimizers and run lengths.

    ``build`` makes the Keras network; ``inputs`` makes one batch of
    synthetic inputs and targets of the real shapes and dtypes (the time of
    a dense training step does not depend on the values). ``optimizer`` and
    ``learning_rate`` are the model's own optimizer (the ``own`` family);
    ``copies`` is how many compiled copies of every arm are timed, and
    ``steps`` and ``warmup`` count the steps of each copy.
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
    copies: int
    steps: int
    warmup: int
    block: int
    pass_repeats: int
    notes: list[str] = field(default_factory=list)

    @property
    def target(self) -> float:
        """The overhead target for this model (see :data:`OVERHEAD_TARGETS`)."""
        return OVERHEAD_TARGETS[self.key]

    @property
    def resolution(self) -> float:
        """The A/A control's band for this model (see :data:`RESOLUTION_BANDS`)."""
        return RESOLUTION_BANDS[self.key]

    def family(self, name: str) -> OptimizerSpec:
        """The optimizer of the family ``name`` (see :data:`OPTIMIZER_FAMILIES`)."""
        own = OptimizerSpec(self.optimizer, self.learning_rate)
        return {"own": own, "sgd": SGD, "adam": ADAM}[name.lower()]

    def optimizers(self, families: Sequence[str] = OPTIMIZER_FAMILIES) -> list[OptimizerSpec]:
        """The optimizers of ``families``, each optimizer class once (the first family's)."""
        found: dict[str, OptimizerSpec] = {}
        for name in families:
            optimizer = self.family(name)
            found.setdefault(optimizer.name, optimizer)
        return list(found.values())

    def describe(self) -> dict[str, Any]:
        """The settings as plain data, for the results file."""
        return {
            "label": self.label,
            "batch_size": self.batch_size,
            "input_shape": list(self.input_shape),
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "loss": self.loss,
            "copies": self.copies,
            "steps": self.steps,
            "warmup": self.warmup,
            "block": self.block,
            "pass_repeats": self.pass_repeats,
            "target_overhead": self.target,
            "resolution": self.resolution,
            "optimizer_families": {f: self.family(f).describe() for f in OPTIMIZER_FAMILIES},
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
            copies=2 if quick else 6,
            steps=8 if quick else 4000,
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
            copies=2 if quick else 3,
            steps=4 if quick else 100,
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
            copies=2 if quick else 3,
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
