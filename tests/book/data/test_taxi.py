"""Specification of the taxi loader, `gc_tutorial.book.data.taxi`.

The tests read the real CSV of the local copy, or edited copies of it; where
the CSV comes from (local copy or download) is test_fetch.py's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from real_data import real_data_dir

from gc_tutorial.book.data import taxi
from gc_tutorial.book.data.fetch import DATA_ENV


def write_taxi_csv(folder: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local copy in ``folder`` whose taxi CSV is ``text``; the loader reads it."""
    path = folder / "nyc_taxis" / "taxis.csv"
    path.parent.mkdir()
    path.write_text(text)
    monkeypatch.setenv(DATA_ENV, str(folder))
    return path


def real_taxi_rows(n: int = 5) -> pd.DataFrame:
    """The first ``n`` real trips, every field as written in the CSV."""
    return pd.read_csv(
        real_data_dir() / "nyc_taxis" / "taxis.csv",
        nrows=n,
        dtype=str,
        keep_default_na=False,
    )


def test_taxis_are_the_6433_real_trips(monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(real_data_dir()))
    trips = taxi.load_nyc_taxis()
    assert len(trips) == 6433
    assert set(taxi.TAXI_COLUMNS) <= set(trips.columns)
    assert pd.api.types.is_datetime64_any_dtype(trips["pickup"])
    assert pd.api.types.is_datetime64_any_dtype(trips["dropoff"])
    for column in ("passengers", "distance", "fare", "tip", "tolls", "total"):
        assert pd.api.types.is_numeric_dtype(trips[column]), column
    assert (trips["fare"] > 0).mean() > 0.99
    assert trips["payment"].isna().any()  # empty fields outside the model: kept


def test_taxi_csv_lacking_columns_is_an_error(tmp_path, monkeypatch):
    trips = real_taxi_rows()
    text = trips.drop(columns=["fare", "distance"]).to_csv(index=False)
    path = write_taxi_csv(tmp_path, text, monkeypatch)
    with pytest.raises(ValueError) as error:
        taxi.load_nyc_taxis()
    message = str(error.value)
    assert "fare" in message and "distance" in message and str(path) in message


@pytest.mark.parametrize(
    "text", ["", ",".join(taxi.TAXI_COLUMNS) + "\n"], ids=["no-bytes", "header-only"]
)
def test_empty_taxi_csv_is_an_error(tmp_path, monkeypatch, text):
    path = write_taxi_csv(tmp_path, text, monkeypatch)
    with pytest.raises(ValueError, match="taxis.csv") as error:
        taxi.load_nyc_taxis()
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("fare", "abc", "'abc'"),
        ("fare", "NaN", "empty"),
        ("fare", "", "empty"),
        ("passengers", "two", "'two'"),
        ("distance", "", "empty"),
        ("tip", "1,50", "'1,50'"),
        ("tolls", "inf", "inf"),
        ("total", "12.3.4", "'12.3.4'"),
        ("pickup", "", "empty"),
        ("dropoff", "yesterday", "'yesterday'"),
    ],
)
def test_bad_taxi_value_is_an_error_naming_column_row_and_value(
    tmp_path, monkeypatch, column, value, shown
):
    trips = real_taxi_rows()
    trips.loc[2, column] = value  # the third trip: row 3, line 4 of the file
    path = write_taxi_csv(tmp_path, trips.to_csv(index=False), monkeypatch)
    with pytest.raises(ValueError) as error:
        taxi.load_nyc_taxis()
    message = str(error.value)
    assert f"column {column!r}" in message
    assert "row 3" in message and shown in message and str(path) in message


def test_missing_values_outside_the_fare_model_are_allowed(tmp_path, monkeypatch):
    trips = real_taxi_rows()
    trips.loc[2, ["tip", "tolls", "total", "payment", "pickup_zone"]] = ""
    write_taxi_csv(tmp_path, trips.to_csv(index=False), monkeypatch)
    loaded = taxi.load_nyc_taxis()
    assert loaded.loc[2, ["tip", "tolls", "total", "payment"]].isna().all()
    assert pd.api.types.is_float_dtype(loaded["tip"])
