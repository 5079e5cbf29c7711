"""The small real problem the method chapters share, and how they train it.

Chapters 2 to 4 compare ways of applying GC step by step, so they need a
problem that trains in seconds and runs that differ only in the optimizer.
This module is the one copy of it (as d2l keeps one copy of its helpers):
:func:`fare_sample`, a few hundred real taxi trips as a standardized
regression; :func:`small_mlp`, the model; :class:`SameStart`, which trains
fresh copies of that model from one set of initial weights on the same
batches; and :func:`max_difference`, which compares the weights runs end
with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd

from gc_tutorial.book.data import load_nyc_taxis
from gc_tutorial.book.experiments.taxi import clean_taxi_trips

__all__ = [
    "SAMPLE_FEATURES",
    "FareSample",
    "fare_sample",
    "small_mlp",
    "SameStart",
    "max_difference",
]

SAMPLE_FEATURES = ("distance", "passengers", "minutes")
"""The inputs of :func:`fare_sample`: miles, passengers and trip duration."""


@dataclasses.dataclass(frozen=True)
class FareSample:
    """A sample of taxi trips, as read and as a model takes them.

    Attributes:
        trips: The sampled trips: the columns of :data:`SAMPLE_FEATURES` and
            ``"fare"``, in miles, passengers, minutes and dollars.
        x: The inputs, standardized over the sample, shape ``(n, 3)``.
        y: The fares, standardized over the sample, shape ``(n, 1)``.
    """

    trips: pd.DataFrame
    x: np.ndarray
    y: np.ndarray


def fare_sample(n: int | None = 384, seed: int = 0) -> FareSample:
    """Draw ``n`` real trips and standardize their inputs and fares.

    The trips come from the same cleaning as every other chapter's
    (:func:`gc_tutorial.book.experiments.taxi.clean_taxi_trips`), so no impossible
    trip (zero distance, zero passengers, a drop-off before its pickup)
    enters the sample.

    Args:
        n: Number of trips; ``None`` for all the cleaned trips, in an order
            drawn from ``seed``.
        seed: Seed of the draw.

    Returns:
        The trips and their standardized arrays, float32.

    Raises:
        ValueError: ``n`` is not between 2 and the number of cleaned trips.
    """
    trips, _ = clean_taxi_trips(load_nyc_taxis())
    n = len(trips) if n is None else n
    if not 2 <= n <= len(trips):
        raise ValueError(f"n must lie between 2 and {len(trips)} (the cleaned trips); got {n}.")
    trips = trips.assign(minutes=(trips["dropoff"] - trips["pickup"]).dt.total_seconds() / 60)
    sample = trips.sample(n=n, random_state=seed)[[*SAMPLE_FEATURES, "fare"]]
    features = sample[list(SAMPLE_FEATURES)].to_numpy("float32")
    fares = sample[["fare"]].to_numpy("float32")
    return FareSample(
        trips=sample,
        x=(features - features.mean(axis=0)) / features.std(axis=0),
        y=(fares - fares.mean()) / fares.std(),
    )


def small_mlp(model_class: type[keras.Model] = keras.Model) -> keras.Model:
    """Dense 32 (ReLU), Dense 1 on three inputs: kernels (3, 32) and (32, 1).

    Args:
        model_class: The functional model's class, e.g.
            :class:`gc_tutorial.GCModel`.
    """
    inputs = keras.Input(shape=(len(SAMPLE_FEATURES),))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    outputs = keras.layers.Dense(1)(hidden)
    return model_class(inputs, outputs)


class SameStart:
    """Train fresh copies of one model from the same start on the same batches.

    The model is built once, under ``seed``, and its initial weights kept.
    Every :meth:`train` builds a new copy with exactly those weights,
    reseeds, and fits it on ``(x, y)`` in order (``shuffle=False``) with the
    same loss, so two runs differ only in what they are given.

    Args:
        x: Inputs.
        y: Targets.
        build_model: Returns a new model; takes the model class.
        batch_size: Examples per batch.
        epochs: Epochs per run unless :meth:`train` is told otherwise.
        seed: Seed of the initial weights and of every run.

    Attributes:
        initial: The initial weights, as ``get_weights`` returns them.
        loss: The loss every run minimizes (mean squared error).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        build_model: Callable[..., keras.Model] = small_mlp,
        *,
        batch_size: int = 32,
        epochs: int = 5,
        seed: int = 0,
    ) -> None:
        """Build the model once, under ``seed``, and keep its initial weights."""
        self.x, self.y = x, y
        self.build_model = build_model
        self.batch_size, self.epochs, self.seed = batch_size, epochs, seed
        self.loss = keras.losses.MeanSquaredError()
        keras.utils.set_random_seed(seed)
        self.initial = build_model().get_weights()

    def model(self, model_class: type[keras.Model] = keras.Model) -> keras.Model:
        """A new copy of the model, of ``model_class``, with the initial weights."""
        model = self.build_model(model_class)
        model.set_weights(self.initial)
        return model

    def train(
        self,
        optimizer: keras.optimizers.Optimizer,
        *,
        epochs: int | None = None,
        model_class: type[keras.Model] = keras.Model,
    ) -> tuple[keras.Model, list[float]]:
        """Fit a fresh copy with ``optimizer``; return it and its loss per epoch."""
        keras.utils.set_random_seed(self.seed)
        model = self.model(model_class)
        model.compile(optimizer=optimizer, loss=self.loss)
        history = model.fit(
            self.x,
            self.y,
            batch_size=self.batch_size,
            epochs=self.epochs if epochs is None else epochs,
            shuffle=False,
            verbose=0,
        )
        return model, history.history["loss"]


def max_difference(weights_a: Sequence[np.ndarray], weights_b: Sequence[np.ndarray]) -> float:
    """Largest absolute difference between two lists of weight arrays.

    Raises:
        ValueError: the lists differ in length, or two paired arrays in shape.
    """
    if len(weights_a) != len(weights_b):
        raise ValueError(f"{len(weights_a)} weights against {len(weights_b)}.")
    pairs = [(np.asarray(a), np.asarray(b)) for a, b in zip(weights_a, weights_b, strict=True)]
    mismatched = [(a.shape, b.shape) for a, b in pairs if a.shape != b.shape]
    if mismatched:
        raise ValueError(f"Paired weights differ in shape: {mismatched[:3]}.")
    return max(float(np.max(np.abs(a - b))) for a, b in pairs)
