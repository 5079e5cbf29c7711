"""The tidy results frame every experiment writes and every summary reads.

One row per value: ``seed``, ``arm``, ``method``, ``learning_rate``,
``epoch``, ``split``, ``metric``, ``value`` (:data:`RESULT_COLUMNS`); the
summaries read ``seed``, ``arm``, ``epoch``, ``split``, ``metric`` and
``value`` (:data:`VALUE_COLUMNS`), so a frame of those alone serves them
too. This module holds that schema and the
row selections the summaries and figures share, down to each run's value at
one epoch (:func:`run_values`).
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

__all__ = [
    "RESULT_COLUMNS",
    "VALUE_COLUMNS",
    "SEVERAL_RUNS_ERROR",
    "check_arms",
    "check_single_runs",
    "metric_rows",
    "run_values",
]

RESULT_COLUMNS = ("seed", "arm", "method", "learning_rate", "epoch", "split", "metric", "value")
"""Columns of a results file, in order: each row's run (seed and arm), what
the arm trained with (``method``, e.g. ``"Adam + GC"``, and
``learning_rate``), and one value."""

VALUE_COLUMNS = ("seed", "arm", "epoch", "split", "metric", "value")
"""The columns every summary of a results frame reads."""

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


def check_single_runs(results: pd.DataFrame) -> None:
    """Check that ``results`` hold one run per arm and seed.

    Raises:
        ValueError: some arm has several values for one seed, epoch, split
            and metric, as a learning-rate sweep has (:data:`SEVERAL_RUNS_ERROR`).
    """
    if results.duplicated(["seed", "arm", "epoch", "split", "metric"]).any():
        raise ValueError(SEVERAL_RUNS_ERROR)


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


def run_values(
    results: pd.DataFrame,
    metric: str,
    split: str,
    *,
    epoch: int | None = None,
    window: int = 1,
) -> pd.DataFrame:
    """Each run's value of ``metric`` on ``split`` at an epoch, or averaged.

    Args:
        results: A results frame with one run per arm and seed.
        metric: Metric, e.g. ``"loss"`` or ``"accuracy"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        epoch: The reporting epoch; ``None`` for the last one in the results.
        window: Average over this many epochs ending at ``epoch`` (all of
            them, from epoch 1, when ``epoch`` is smaller). A non-finite value
            in the window makes the average non-finite.

    Returns:
        A frame with columns ``arm``, ``seed``, ``epoch``, ``window`` (the
        number of epochs averaged) and ``value``, one row per run.

    Raises:
        ValueError: ``window < 1``; the metric is missing on the split; a
            seed has several runs of one arm; or a run lacks a value at an
            epoch of the window.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}.")
    rows = metric_rows(results, metric, split)
    check_single_runs(rows)
    epoch = int(rows["epoch"].max()) if epoch is None else int(epoch)
    window = min(window, epoch)
    first = epoch - window + 1
    in_window = rows[rows["epoch"].between(first, epoch)]
    runs = rows.groupby(["arm", "seed"]).size().index
    counts = in_window.groupby(["arm", "seed"]).size().reindex(runs, fill_value=0)
    short = list(counts.index[counts < window])
    if short:
        epochs = "epoch" if window == 1 else "every epoch"
        span = f"{epoch}" if window == 1 else f"{first} to {epoch}"
        raise ValueError(
            f"The results lack {split!r} {metric!r} at {epochs} {span} for "
            f"{len(short)} run(s) (arm, seed), e.g. {short[:3]}; they hold it at "
            f"epochs {sorted(set(rows['epoch']))}. Ask for an epoch and window "
            "those runs have (a test set evaluated once has only the last "
            "epoch), or run a study with run_study, which evaluates the test "
            "set after every epoch."
        )
    # A diverged run's NaN stays NaN (pandas 2 has no GroupBy.mean(skipna=False)).
    values = in_window.groupby(["arm", "seed"], sort=False)["value"].agg(
        lambda run: run.mean(skipna=False)
    )
    frame = values.reset_index()
    frame.insert(2, "epoch", epoch)
    frame.insert(3, "window", window)
    return frame
