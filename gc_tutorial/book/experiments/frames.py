"""The tidy results frame every experiment writes and every summary reads.

One row per value: ``seed``, ``arm``, ``epoch``, ``split``, ``metric``,
``value`` (:data:`RESULT_COLUMNS`). This module holds that schema and the
row selections the summaries and figures share.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

__all__ = ["RESULT_COLUMNS", "SEVERAL_RUNS_ERROR", "metric_rows", "check_arms"]

RESULT_COLUMNS = ("seed", "arm", "epoch", "split", "metric", "value")
"""Columns of a results frame, in order."""

SEVERAL_RUNS_ERROR = (
    "The results hold several runs of one arm for a seed (a learning-rate "
    "sweep?); select one run per arm and seed first."
)


def metric_rows(results: pd.DataFrame, metric: str, split: str) -> pd.DataFrame:
    """The rows of ``results`` holding ``metric`` on ``split``.

    Raises:
        ValueError: there are none; the message lists what there is.
    """
    rows = results[(results["metric"] == metric) & (results["split"] == split)]
    if rows.empty:
        raise ValueError(
            f"No {metric!r} on split {split!r} in the results; metrics: "
            f"{sorted(set(results['metric']))}, splits: "
            f"{sorted(set(results['split']))}."
        )
    return rows


def check_arms(arms: Collection[str], baseline: str, treatment: str) -> None:
    """Check that ``baseline`` and ``treatment`` are two different known arms.

    Args:
        arms: The arms there are, e.g. ``results["arm"].unique()``.
        baseline: The reference arm.
        treatment: The arm compared with it.

    Raises:
        ValueError: the two are the same arm, or one is not in ``arms``; the
            message lists the arms there are.
    """
    if baseline == treatment:
        raise ValueError(f"baseline and treatment are both {baseline!r}.")
    for arm in (baseline, treatment):
        if arm not in arms:
            raise ValueError(f"No arm {arm!r} in the results; arms: {sorted(arms)}.")
