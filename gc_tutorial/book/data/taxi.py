"""The NYC taxi trips of the fare-regression chapter, read and checked.

:func:`load_nyc_taxis` reads seaborn's ``taxis`` data set (6,433 real trips)
from the local copy or its public URL (:mod:`gc_tutorial.book.data.fetch`)
and refuses a file whose columns or values the chapter cannot use, naming
the column, row and value.
"""

from __future__ import annotations

import pathlib
from typing import NoReturn

import numpy as np
import pandas as pd

from gc_tutorial.book.data.fetch import nyc_taxis_csv

__all__ = ["TAXI_COLUMNS", "load_nyc_taxis"]

TAXI_COLUMNS = (
    "pickup",
    "dropoff",
    "passengers",
    "distance",
    "fare",
    "tip",
    "tolls",
    "total",
    "color",
    "payment",
    "pickup_zone",
    "dropoff_zone",
    "pickup_borough",
    "dropoff_borough",
)
_TAXI_NUMBER_COLUMNS = ("passengers", "distance", "fare", "tip", "tolls", "total")
_TAXI_TIME_COLUMNS = ("pickup", "dropoff")
# The columns the fare model reads: no trip may leave one of them empty.
_TAXI_REQUIRED_COLUMNS = ("passengers", "distance", "fare", "pickup", "dropoff")


def load_nyc_taxis() -> pd.DataFrame:
    """Load the 6,433 real NYC taxi trips of March 2019 (seaborn's ``taxis``).

    Without ``$GC_TUTORIAL_DATA`` the CSV is downloaded from seaborn's data
    repository once, checked against its SHA-256, and then read from the
    cache (``~/.cache/gc_tutorial`` on Linux; see
    :func:`gc_tutorial.book.data.fetch.download`); with it,
    ``$GC_TUTORIAL_DATA/nyc_taxis/taxis.csv`` is read.

    Returns:
        One row per trip with the columns in :data:`TAXI_COLUMNS`; ``pickup``
        and ``dropoff`` are parsed as datetimes, ``passengers``,
        ``distance``, ``fare``, ``tip``, ``tolls`` and ``total`` are numbers.
        Some rows have empty ``payment`` or zone fields (NaN).

    Raises:
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder or the
            CSV in it does not exist.
        ValueError: The downloaded CSV's SHA-256 is not the registered one;
            the CSV is empty or lacks required columns; a number column
            holds a value that is not a finite number, or a time column one
            that is not a date and time; or a column the fare model reads
            (``passengers``, ``distance``, ``fare``, ``pickup``, ``dropoff``)
            is empty in some row. The message names the column, the row and
            the value.
    """
    path = nyc_taxis_csv()
    try:
        trips = pd.read_csv(path)
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"NYC taxi data file {path} is empty.") from error
    missing = [column for column in TAXI_COLUMNS if column not in trips.columns]
    if missing:
        raise ValueError(f"NYC taxi data file {path} lacks the required columns {missing}.")
    if trips.empty:
        raise ValueError(f"NYC taxi data file {path} has no rows.")
    for column in _TAXI_NUMBER_COLUMNS + _TAXI_TIME_COLUMNS:
        raw = trips[column]
        if column in _TAXI_NUMBER_COLUMNS:
            parsed = pd.to_numeric(raw, errors="coerce")
            bad = (parsed.isna() | np.isinf(parsed)) & raw.notna()
            kind = "a finite number"
        else:
            parsed = pd.to_datetime(raw, errors="coerce")
            bad = parsed.isna() & raw.notna()
            kind = "a date and time"
        if bad.any():
            _raise_bad_taxi_value(path, column, raw, bad, f"is not {kind}")
        if column in _TAXI_REQUIRED_COLUMNS and raw.isna().any():
            _raise_bad_taxi_value(
                path, column, raw, raw.isna(), "is missing (the fare model needs it)"
            )
        trips[column] = parsed
    return trips


def _raise_bad_taxi_value(
    path: pathlib.Path, column: str, raw: pd.Series, bad: pd.Series, problem: str
) -> NoReturn:
    """Raise a ValueError naming the first flagged row of a taxi CSV column."""
    rows = np.flatnonzero(bad.to_numpy())
    row = int(rows[0])
    value = raw.iloc[row]
    shown = "an empty field or NaN" if pd.isna(value) else repr(value)
    others = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
    raise ValueError(
        f"NYC taxi data file {path}: column {column!r}, row {row + 1} (line "
        f"{row + 2} of the file), holds {shown}, which {problem}{others}. "
        f"Fix or remove the row, or copy the data again."
    )
