"""The NYC taxi-fare data, prepared once for every chapter and study.

From the raw trips of :func:`gc_tutorial.book.data.load_nyc_taxis`:
:func:`clean_taxi_trips` drops the trips that cannot be real paid trips,
:func:`taxi_features` builds the model's inputs and target, and
:func:`taxi_fare_arrays` splits them 70/15/15 and standardizes them with the
training split's statistics; :class:`gc_tutorial.book.data.ArrayBatches`
feeds them to ``fit`` on every backend. Nothing here needs TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from gc_tutorial.book.data import load_nyc_taxis

__all__ = [
    "TAXI_SPLITS",
    "clean_taxi_trips",
    "taxi_features",
    "TaxiFareArrays",
    "taxi_fare_arrays",
]

TAXI_SPLITS = {"train": 0.70, "validation": 0.15, "test": 0.15}
"""Fractions of the cleaned trips in each split (the test split takes the rest)."""

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def clean_taxi_trips(taxis: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Drop the trips that cannot describe a real paid trip.

    The rules apply in order, each to the trips the earlier ones kept: a
    missing pickup or drop-off borough (the zone lies outside the city's
    zone map); a zero distance; a drop-off at or before pickup; zero
    passengers; faster than 80 mph; a non-positive fare.

    Args:
        taxis: Trips as :func:`gc_tutorial.book.data.load_nyc_taxis` returns them.

    Returns:
        ``(trips, dropped)``: the kept trips (a copy, original index) and how
        many trips each rule dropped, indexed by the rule's description.
    """
    minutes = (taxis["dropoff"] - taxis["pickup"]).dt.total_seconds() / 60
    rules = {
        "missing borough": taxis["pickup_borough"].isna() | taxis["dropoff_borough"].isna(),
        "zero distance": taxis["distance"] <= 0,
        "drop-off not after pickup": minutes <= 0,
        "zero passengers": taxis["passengers"] <= 0,
        "faster than 80 mph": taxis["distance"] / (minutes / 60) > 80,
        "non-positive fare": taxis["fare"] <= 0,
    }
    keep = pd.Series(True, index=taxis.index)
    dropped = {}
    for reason, impossible in rules.items():
        dropped[reason] = int((keep & impossible).sum())
        keep &= ~impossible
    return taxis[keep].copy(), pd.Series(dropped, name="rows dropped")


def taxi_features(trips: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The model's inputs and target: what is known about a finished trip.

    Inputs: distance, duration in minutes, pickup hour as a point on a
    24-hour circle (sine and cosine, so 23:00 sits next to midnight),
    passengers, a green-cab flag, one-hot weekday, and one-hot pickup and
    drop-off borough (the boroughs that occur, sorted). The tip, tolls and
    total are left out: the total contains the fare, and the tip follows it.

    Args:
        trips: Cleaned trips (:func:`clean_taxi_trips`).

    Returns:
        ``(features, fares)``: a float frame, one column per input, and the
        metered fares as float32.
    """
    hour = trips["pickup"].dt.hour + trips["pickup"].dt.minute / 60
    features = pd.DataFrame(
        {
            "distance": trips["distance"],
            "duration_min": (trips["dropoff"] - trips["pickup"]).dt.total_seconds() / 60,
            "hour_sin": np.sin(2 * np.pi * hour / 24),
            "hour_cos": np.cos(2 * np.pi * hour / 24),
            "passengers": trips["passengers"],
            "green_cab": (trips["color"] == "green").astype(float),
        }
    )
    for day, name in enumerate(_WEEKDAYS):
        features[f"weekday_{name}"] = (trips["pickup"].dt.day_of_week == day).astype(float)
    for end in ("pickup", "dropoff"):
        for borough in sorted(trips[f"{end}_borough"].unique()):
            column = f"{end}_{borough.lower().replace(' ', '_')}"
            features[column] = (trips[f"{end}_borough"] == borough).astype(float)
    return features, trips["fare"].to_numpy(dtype="float32")


@dataclasses.dataclass(frozen=True)
class TaxiFareArrays:
    """The taxi-fare splits as read-only NumPy arrays.

    Attributes:
        x: Split name (``"train"``, ``"validation"``, ``"test"``) to
            standardized float32 inputs, one row per trip.
        y: Split name to fares in dollars, float32, one per trip.
        feature_names: Names of the input columns, in order.
        mean: Training-split mean of each raw input.
        std: Training-split standard deviation of each raw input.
    """

    x: Mapping[str, np.ndarray]
    y: Mapping[str, np.ndarray]
    feature_names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@functools.cache
def taxi_fare_arrays(split_seed: int = 0) -> TaxiFareArrays:
    """Load, clean, featurize, split and standardize the taxi trips.

    A random permutation drawn from ``split_seed`` splits the cleaned trips
    70/15/15 (:data:`TAXI_SPLITS`); the inputs are standardized with the
    training split's mean and standard deviation only. The result is
    computed once per process and split seed; its arrays are read-only.

    Args:
        split_seed: Seed of the permutation that assigns trips to splits
            (0 in the book).

    Returns:
        The splits' arrays, their feature names and the standardization.

    Raises:
        ValueError: an input is constant on the training split, so it
            cannot be standardized.
        FileNotFoundError: as for :func:`gc_tutorial.book.data.load_nyc_taxis`.
    """
    trips, _ = clean_taxi_trips(load_nyc_taxis())
    features, fares = taxi_features(trips)
    order = np.random.default_rng(seed=split_seed).permutation(len(features))
    n_train = int(TAXI_SPLITS["train"] * len(order))
    n_validation = int(TAXI_SPLITS["validation"] * len(order))
    rows = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_validation],
        "test": order[n_train + n_validation :],
    }
    x_all = features.to_numpy(dtype="float32")
    mean = x_all[rows["train"]].mean(axis=0)
    std = x_all[rows["train"]].std(axis=0)
    constant = [name for name, s in zip(features.columns, std, strict=True) if not s > 0]
    if constant:
        raise ValueError(
            f"The inputs {constant} are constant on the training split and "
            "cannot be standardized; drop them or use another split_seed."
        )
    return TaxiFareArrays(
        x=MappingProxyType({name: _read_only((x_all[r] - mean) / std) for name, r in rows.items()}),
        y=MappingProxyType({name: _read_only(fares[r]) for name, r in rows.items()}),
        feature_names=tuple(features.columns),
        mean=_read_only(mean),
        std=_read_only(std),
    )
