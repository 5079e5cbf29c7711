"""The study the runner's tests run: a tiny Dense model on synthetic arrays.

Worker processes import it by its import path (:data:`TINY_STUDY`), so it
lives in a module of its own. Its runs test the machinery (same start for
every arm, tidy output), not GC.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np
import pandas as pd

import gc_tutorial
from gc_tutorial.book.data import ArrayBatches
from gc_tutorial.book.experiments import Scale, Study

__all__ = ["ARMS", "BROKEN_STUDY", "FASTER_STUDY", "TINY", "TINY_STUDY", "scores", "tiny_model"]


def tiny_model(scale: Scale) -> keras.Model:
    """Dense 8 (ReLU), Dropout 0.2, Dense 1, on four features."""
    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1),
        ]
    )


def tiny_data(seed: int, scale: Scale) -> tuple[ArrayBatches, ...]:
    """64 training, 16 validation and 16 test rows of a linear target."""
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = x @ np.arange(1, 5, dtype="float32")
    return (
        ArrayBatches(x[:64], y[:64], scale.batch_size, shuffle_seed=seed),
        ArrayBatches(x[64:80], y[64:80], scale.batch_size),
        ArrayBatches(x[80:], y[80:], scale.batch_size),
    )


def _broken_optimizer() -> keras.optimizers.Optimizer:
    raise TypeError("this optimizer cannot be built")


TINY = Study(
    name="tiny",
    build_model=tiny_model,
    data=tiny_data,
    compile_kwargs={"loss": "mse", "metrics": ["mae"]},
    profiles={
        "smoke": Scale(seeds=(0, 1, 2), epochs=3, batch_size=16),
        "short": Scale(seeds=(0,), epochs=1, batch_size=16),
    },
    arms={
        "SGD": functools.partial(keras.optimizers.SGD, learning_rate=0.01),
        "SGD again": functools.partial(keras.optimizers.SGD, learning_rate=0.01),
        "SGD + GC": functools.partial(gc_tutorial.GCSGD, learning_rate=0.01),
    },
    pairs={"SGD + GC": "SGD", "SGD again": "SGD"},
    test_metrics=("mae",),
)
BROKEN = dataclasses.replace(TINY, arms={**TINY.arms, "broken": _broken_optimizer})
FASTER = dataclasses.replace(
    TINY, arms={**TINY.arms, "SGD": functools.partial(keras.optimizers.SGD, 0.02)}
)
TINY_STUDY = f"{__name__}:TINY"
BROKEN_STUDY = f"{__name__}:BROKEN"
FASTER_STUDY = f"{__name__}:FASTER"
ARMS = ["SGD", "SGD + GC"]
"""The arms most tests run: a baseline and its GC arm."""


def scores(results: pd.DataFrame) -> pd.DataFrame:
    """Every row but the epoch times, in a fixed order."""
    kept = results[results["metric"] != "epoch_time_s"]
    return kept.sort_values(["arm", "seed", "split", "metric", "epoch"]).reset_index(drop=True)
