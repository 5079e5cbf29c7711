"""Specification of gc_tutorial.book.experiments.reach: epochs needed to reach a target."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gc_tutorial.book.experiments import (
    REACH_COLUMNS,
    VALUE_COLUMNS,
    epochs_to_reach,
    reach_summary,
    summarize_epochs_to_reach,
)
from gc_tutorial.book.experiments.reach import REACH_SUMMARY_COLUMNS


def validation_curves(curves: dict[tuple[str, int], list[float]], metric="mae"):
    """A results frame whose validation ``metric`` follows the given curves."""
    rows = []
    for (arm, seed), values in curves.items():
        for epoch, value in enumerate(values, start=1):
            rows.append((seed, arm, epoch, "validation", metric, value))
            rows.append((seed, arm, epoch, "train", metric, -1.0))
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


def reach(frame, targets, mode, arm="Adam", seed=0):
    reached = epochs_to_reach(frame, "mae", targets, mode=mode)
    run = reached[(reached["arm"] == arm) & (reached["seed"] == seed)]
    return run["epoch"].tolist()


def test_reaching_a_lower_target_is_the_first_epoch_at_or_below_it():
    frame = validation_curves({("Adam", 0): [3.0, 2.0, 2.5, 1.0]})
    assert reach(frame, [3.5, 3.0, 2.2, 2.0, 1.5, 0.5], "min") == [1, 1, 2, 2, 4, math.inf]


def test_reaching_a_higher_target_is_the_first_epoch_at_or_above_it():
    frame = validation_curves({("Adam", 0): [0.5, 0.7, 0.6]})
    assert reach(frame, [0.5, 0.6, 0.7, 0.8], "max") == [1, 2, 2, math.inf]


def test_a_sustained_target_is_reached_only_once_the_run_stays_past_it():
    frame = validation_curves({("Adam", 0): [3.0, 1.0, 2.5, 1.5, 1.2]})
    assert reach(frame, [2.0, 1.0, 3.0], "min") == [2, 2, 1]
    sustained = epochs_to_reach(frame, "mae", [2.0, 1.0, 3.0], mode="min", sustained=True)
    # 2.0: touched at epoch 2, lost at 3, held from 4. 1.0: lost after epoch 2.
    assert sustained["epoch"].tolist() == [4, math.inf, 1]
    assert sustained["sustained"].all()


def test_a_non_finite_value_reaches_nothing():
    frame = validation_curves({("Adam", 0): [3.0, np.nan, np.inf, 1.0]})
    assert reach(frame, [2.0], "min") == [4]
    assert reach(frame, [2.0], "max") == [1]


def test_reach_frame_has_one_row_per_target_arm_and_seed():
    frame = validation_curves(
        {
            ("Adam", 0): [3.0, 2.0],
            ("Adam", 1): [2.0, 1.0],
            ("Adam + GC", 0): [2.5, 1.5],
            ("Adam + GC", 1): [2.5, 0.5],
        }
    )
    reached = epochs_to_reach(frame, "mae", [2.0, 1.0], mode="min")
    assert list(reached.columns) == list(REACH_COLUMNS)
    assert len(reached) == 2 * 2 * 2
    assert not reached.duplicated(["target", "arm", "seed"]).any()
    assert set(reached["epochs_run"]) == {2}
    assert set(reached["metric"]) == {"mae"} and set(reached["split"]) == {"validation"}
    assert set(reached["mode"]) == {"min"} and not reached["sustained"].any()


def test_reach_reads_the_requested_split():
    frame = validation_curves({("Adam", 0): [3.0, 2.0]})
    reached = epochs_to_reach(frame, "mae", [-0.5], mode="min", split="train")
    assert reached["epoch"].tolist() == [1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metric": "mae", "targets": [1.0], "mode": "lower"}, "mode"),
        ({"metric": "mae", "targets": [], "mode": "min"}, "target"),
        ({"metric": "accuracy", "targets": [1.0], "mode": "max"}, "'accuracy'"),
    ],
)
def test_reach_rejects_bad_requests(kwargs, match):
    frame = validation_curves({("Adam", 0): [3.0, 2.0]})
    with pytest.raises(ValueError, match=match):
        epochs_to_reach(frame, **kwargs)


def test_reach_rejects_several_runs_per_arm_and_seed():
    frame = validation_curves({("Adam", 0): [3.0, 2.0]})
    sweep = pd.concat([frame.assign(learning_rate=0.1), frame.assign(learning_rate=0.01)])
    with pytest.raises(ValueError, match="several runs"):
        epochs_to_reach(sweep, "mae", [2.0], mode="min")


def test_the_summary_has_one_row_per_target_and_arm_with_not_reached_as_inf():
    # Target 2.0: GC needs 1, never; Adam needs 1, 2. Target 0.0: nobody.
    frame = validation_curves(
        {
            ("Adam + GC", 0): [2.0, 1.0, 1.0],
            ("Adam + GC", 1): [3.0, 3.0, 3.0],
            ("Adam", 0): [2.0, 1.0, 1.0],
            ("Adam", 1): [3.0, 2.0, 2.0],
        }
    )
    summary = reach_summary(epochs_to_reach(frame, "mae", [2.0, 0.0], mode="min"))
    assert list(summary.columns) == list(REACH_SUMMARY_COLUMNS)
    assert summary["target"].tolist() == [0.0, 0.0, 2.0, 2.0]
    assert summary["arm"].tolist() == ["Adam + GC", "Adam"] * 2  # in order of appearance
    assert (summary["seeds"] == 2).all() and (summary["epochs_run"] == 3).all()
    at_2 = summary[summary["target"] == 2.0].set_index("arm")
    assert at_2.loc["Adam", ["reached", "median", "min", "max"]].tolist() == [2, 1.5, 1, 2]
    # Half the seeds never got there: the median is "not reached" too.
    assert at_2.loc["Adam + GC", ["reached", "median", "max"]].tolist() == [1, math.inf, math.inf]
    assert (summary.loc[summary["target"] == 0.0, "reached"] == 0).all()


def test_two_arms_compared_show_each_arms_summary_and_the_paired_order():
    # Target 2.0: Adam needs 1, 2, never; GC needs 1, 1, 3.
    # Target 0.0: nobody gets there.
    frame = validation_curves(
        {
            ("Adam", 0): [2.0, 1.0, 1.0],
            ("Adam", 1): [3.0, 2.0, 2.0],
            ("Adam", 2): [3.0, 3.0, 3.0],
            ("Adam + GC", 0): [2.0, 1.0, 1.0],
            ("Adam + GC", 1): [2.0, 2.0, 2.0],
            ("Adam + GC", 2): [3.0, 3.0, 2.0],
        }
    )
    reached = epochs_to_reach(frame, "mae", [2.0, 0.0], mode="min")
    summary = summarize_epochs_to_reach(reached, baseline="Adam", treatment="Adam + GC")
    assert list(summary.index) == [0.0, 2.0]
    adam, gc, paired = summary["Adam"], summary["Adam + GC"], summary["Adam + GC vs Adam"]
    assert list(adam.columns) == ["reached", "median", "min", "max"]
    assert adam.loc[2.0].tolist() == [2, 2.0, 1.0, math.inf]
    assert gc.loc[2.0].tolist() == [3, 1.0, 1.0, 3.0]
    assert list(paired.columns) == ["seeds", "sooner", "same", "later"]
    # Seed 0 tied at 1, seed 1 GC sooner (1 < 2), seed 2 GC sooner (3 < never).
    assert paired.loc[2.0].tolist() == [3, 2, 1, 0]
    # Neither arm reaches 0.0 in any seed: all ties, medians "not reached".
    assert paired.loc[0.0].tolist() == [3, 0, 3, 0]
    assert adam.loc[0.0, "reached"] == 0 and adam.loc[0.0, "median"] == math.inf


def test_a_two_arm_comparison_rejects_bad_requests():
    frame = validation_curves(
        {
            ("Adam", 0): [2.0],
            ("Adam", 1): [2.0],
            ("Adam + GC", 0): [2.0],
        }
    )
    reached = epochs_to_reach(frame, "mae", [2.0], mode="min")
    with pytest.raises(ValueError, match="both 'Adam'"):
        summarize_epochs_to_reach(reached, baseline="Adam", treatment="Adam")
    with pytest.raises(ValueError, match="'SGD'"):
        summarize_epochs_to_reach(reached, baseline="SGD", treatment="Adam")
    with pytest.raises(ValueError, match="same seeds"):
        summarize_epochs_to_reach(reached, baseline="Adam", treatment="Adam + GC")
