"""Specification of gc_tutorial.book.experiments.taxi: the taxi-fare preparation.

(Named for its features: ``test_taxi.py`` is the loader's, in tests/book/data.)
Most tests read the real trips: the folder named by ``$GC_TUTORIAL_DATA``
or, if that is unset, ``shared/data`` beside the repository clone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gc_tutorial.book.data import load_nyc_taxis
from gc_tutorial.book.experiments.taxi import clean_taxi_trips, taxi_fare_arrays, taxi_features


def test_cleaning_drops_what_chapter_6_drops(real_data):
    trips, dropped = clean_taxi_trips(load_nyc_taxis())
    assert dropped.to_dict() == {
        "missing borough": 50,
        "zero distance": 36,
        "drop-off not after pickup": 0,
        "zero passengers": 95,
        "faster than 80 mph": 9,
        "non-positive fare": 0,
    }
    assert len(trips) == 6243
    features, fares = taxi_features(trips)
    assert features.shape == (6243, 22) and fares.dtype == np.float32


def test_the_pickup_hour_is_a_point_on_a_24_hour_circle_and_boroughs_are_one_hot():
    trips = pd.DataFrame(
        {
            "pickup": pd.to_datetime(["2019-03-04 23:30", "2019-03-05 00:30"]),
            "dropoff": pd.to_datetime(["2019-03-04 23:45", "2019-03-05 00:50"]),
            "distance": [2.0, 3.0],
            "passengers": [1, 2],
            "color": ["yellow", "green"],
            "pickup_borough": ["Manhattan", "Staten Island"],
            "dropoff_borough": ["Queens", "Queens"],
            "fare": [9.5, 14.0],
        }
    )
    features, fares = taxi_features(trips)
    late, early = features.iloc[0], features.iloc[1]
    # 23:30 and 00:30 lie an hour apart on the circle, mirrored about midnight.
    assert late["hour_sin"] == pytest.approx(-early["hour_sin"])
    assert late["hour_cos"] == pytest.approx(early["hour_cos"])
    assert list(features["duration_min"]) == [15.0, 20.0]
    assert list(features["green_cab"]) == [0.0, 1.0]
    assert (late["weekday_mon"], early["weekday_tue"]) == (1.0, 1.0)
    boroughs = [name for name in features.columns if name.startswith(("pickup_", "dropoff_"))]
    assert boroughs == ["pickup_manhattan", "pickup_staten_island", "dropoff_queens"]
    assert "fare" not in features.columns and list(fares) == [9.5, 14.0]


def test_arrays_are_split_standardized_and_read_only(real_data):
    arrays = taxi_fare_arrays()
    assert {name: len(y) for name, y in arrays.y.items()} == {
        "train": 4370,
        "validation": 936,
        "test": 937,
    }
    assert arrays.feature_names[:3] == ("distance", "duration_min", "hour_sin")
    assert len(arrays.feature_names) == arrays.x["train"].shape[1] == 22
    assert round(float(arrays.y["train"].mean()), 2) == 12.94
    np.testing.assert_allclose(arrays.x["train"].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(arrays.x["train"].std(axis=0), 1.0, rtol=1e-4)
    assert arrays.x["test"].dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        arrays.x["train"][0, 0] = 1.0
    assert taxi_fare_arrays() is arrays  # prepared once per process
