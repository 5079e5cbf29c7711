"""Speed to quality: how many epochs each run needs to reach a target.

:func:`epochs_to_reach` reads a results frame the other way round from
:func:`gc_tutorial.book.experiments.paired.arm_summary`: not "where does each
arm end?" but "when does each run first get this good?";
:func:`reach_summary` sums each arm's answers up over seeds, and
:func:`summarize_epochs_to_reach` compares two arms' answers seed by seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from gc_tutorial.book.experiments.frames import check_arms, check_single_runs, metric_rows

__all__ = [
    "REACH_COLUMNS",
    "epochs_to_reach",
    "REACH_SUMMARY_COLUMNS",
    "reach_summary",
    "summarize_epochs_to_reach",
]

_ARM_TARGET_KEYS = ("metric", "split", "mode", "sustained", "target", "arm")
"""The columns that name one target of one arm, what :func:`reach_summary` groups by."""

REACH_COLUMNS = (*_ARM_TARGET_KEYS, "seed", "epoch", "epochs_run")
"""Columns of the frame :func:`epochs_to_reach` returns, in order."""


def epochs_to_reach(
    results: pd.DataFrame,
    metric: str,
    targets: Sequence[float],
    *,
    mode: Literal["min", "max"],
    split: str = "validation",
    sustained: bool = False,
) -> pd.DataFrame:
    """The first epoch at which each run's ``metric`` reaches each target.

    This is the speed-to-quality view of a comparison: not "where does each
    arm end?" but "how many epochs does each arm need to get this good?". A
    run reaches a target at the first epoch whose value is at most the
    target (``mode="min"``, for losses and errors) or at least the target
    (``mode="max"``, for accuracies), as ``keras.callbacks.EarlyStopping``
    reads ``mode``. A non-finite value (a diverged run) reaches nothing.

    On a noisy validation curve a run can touch a target once and fall back.
    With ``sustained=True`` a run reaches a target only at the first epoch
    from which it stays at or past the target up to its last epoch.

    Args:
        results: A results frame with one run per arm and seed.
        metric: Metric to follow, e.g. ``"mae"`` or ``"accuracy"``.
        targets: Values to reach.
        mode: ``"min"`` if lower values are better, ``"max"`` if higher.
        split: Split whose per-epoch values are read, usually
            ``"validation"``.
        sustained: Count a target as reached only once the run stays at or
            past it to the end.

    Returns:
        A frame with columns :data:`REACH_COLUMNS`, one row per target, arm
        and seed, in that order: ``epoch`` is the 1-based epoch at which the
        run first reached ``target``, or ``inf`` if it did not within its
        ``epochs_run`` epochs (so that medians and comparisons treat "not
        reached" as later than any epoch).

    Raises:
        ValueError: ``mode`` is neither ``"min"`` nor ``"max"``,
            ``targets`` is empty, the metric is missing on the split, or a
            seed has several runs of one arm.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}.")
    if len(targets) == 0:
        raise ValueError("epochs_to_reach needs at least one target.")
    rows = metric_rows(results, metric, split)
    check_single_runs(rows)
    runs = [
        (arm, seed, run["epoch"].to_numpy(), run["value"].to_numpy(dtype=float))
        for (arm, seed), run in rows.sort_values("epoch", kind="stable").groupby(
            ["arm", "seed"], sort=False
        )
    ]
    reached_rows = []
    for target in targets:
        for arm, seed, epochs, values in runs:
            with np.errstate(invalid="ignore"):
                good = values <= target if mode == "min" else values >= target
            good &= np.isfinite(values)
            if sustained:  # good at this epoch and at every later one
                good = np.logical_and.accumulate(good[::-1])[::-1]
            first = float(epochs[good][0]) if good.any() else math.inf
            run_key = (metric, split, mode, sustained, float(target), arm, seed)
            reached_rows.append((*run_key, first, int(epochs[-1])))
    return pd.DataFrame(reached_rows, columns=list(REACH_COLUMNS))


REACH_SUMMARY_COLUMNS = (
    *_ARM_TARGET_KEYS,
    "seeds",
    "reached",
    "median",
    "min",
    "max",
    "epochs_run",
)
"""Columns of the frame :func:`reach_summary` returns, in order."""


def reach_summary(reached: pd.DataFrame) -> pd.DataFrame:
    """Each arm's epochs to reach each target, summed up over seeds.

    Args:
        reached: A frame as :func:`epochs_to_reach` returns (several
            metrics, splits, modes or definitions may be stacked).

    Returns:
        A tidy frame with columns :data:`REACH_SUMMARY_COLUMNS`, one row per
        metric, split, mode, definition, target (increasing) and arm (in
        order of appearance): ``seeds``; how many of them ``reached`` the
        target; the ``median``, ``min`` and ``max`` over seeds of the epochs
        needed, ``inf`` standing for "not reached" (a median is ``inf`` when
        half the seeds or more never got there); and ``epochs_run``, the
        most epochs any of the runs had.
    """
    keys = list(_ARM_TARGET_KEYS)
    order = {arm: index for index, arm in enumerate(pd.unique(reached["arm"]))}
    summary = (
        reached.groupby(keys)
        .agg(
            seeds=("seed", "size"),
            reached=("epoch", lambda epochs: int(np.isfinite(epochs).sum())),
            median=("epoch", "median"),  # inf-aware: "not reached"
            min=("epoch", "min"),
            max=("epoch", "max"),
            epochs_run=("epochs_run", "max"),
        )
        .reset_index()
    )
    in_order = summary.sort_values(
        keys, key=lambda column: column.map(order) if column.name == "arm" else column
    )
    return in_order[list(REACH_SUMMARY_COLUMNS)].reset_index(drop=True)


def summarize_epochs_to_reach(
    reached: pd.DataFrame, *, baseline: str, treatment: str
) -> pd.DataFrame:
    """Compare two arms' epochs to reach each target, over seeds.

    Args:
        reached: A frame as :func:`epochs_to_reach` returns.
        baseline: Name of the reference arm, e.g. ``"Adam"``.
        treatment: Name of the arm under test, e.g. ``"Adam + GC"``.

    Returns:
        A frame indexed by ``target``, with two column levels. Under each
        arm's name: ``reached`` (how many seeds reached the target), and the
        ``median``, ``min`` and ``max`` over seeds of the epochs needed,
        ``inf`` standing for "not reached" (a median is ``inf`` when half
        the seeds or more never got there). Under
        ``"<treatment> vs <baseline>"``: ``seeds``, and how many of them the
        treatment reached the target ``sooner``, at the ``same`` epoch
        (including neither reaching it) or ``later`` than the baseline did
        from the same start. These are counts, not a test: with few seeds,
        read a split like 2 sooner, 1 later as no evidence either way.

    Raises:
        ValueError: ``baseline`` equals ``treatment``, an arm is missing, or
            the two arms were run on different seeds.
    """
    check_arms(set(reached["arm"].unique()), baseline, treatment)
    epochs = reached.pivot_table(
        index=["target", "seed"], columns="arm", values="epoch", aggfunc="first"
    )[[baseline, treatment]]
    if epochs.isna().any().any():
        raise ValueError(
            f"{baseline!r} and {treatment!r} were not run on the same seeds; "
            "a paired comparison needs both arms for every seed."
        )
    per_arm = reach_summary(reached).set_index(["arm", "target"])
    columns: dict[tuple[str, str], pd.Series] = {
        (arm, statistic): per_arm.loc[arm, statistic]
        for arm in (baseline, treatment)
        for statistic in ("reached", "median", "min", "max")
    }
    paired = f"{treatment} vs {baseline}"
    difference = epochs[treatment] - epochs[baseline]
    both_missed = np.isinf(epochs[treatment]) & np.isinf(epochs[baseline])
    difference = difference.where(~both_missed, 0.0).groupby(level="target")
    columns[(paired, "seeds")] = difference.size()
    columns[(paired, "sooner")] = difference.agg(lambda d: int((d < 0).sum()))
    columns[(paired, "same")] = difference.agg(lambda d: int((d == 0).sum()))
    columns[(paired, "later")] = difference.agg(lambda d: int((d > 0).sum()))
    summary = pd.DataFrame(columns)
    summary.columns = pd.MultiIndex.from_tuples(summary.columns)
    return summary
