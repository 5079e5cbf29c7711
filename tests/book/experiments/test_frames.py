"""Specification of gc_tutorial.book.experiments.frames: the results frame's row selections."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from gc_tutorial.book.experiments.frames import (
    VALUE_COLUMNS,
    check_arms,
    metric_rows,
    run_values,
)


def curves() -> pd.DataFrame:
    """Seeds 0 and 1 of two arms, epochs 1 to 10.

    Train loss 1 / epoch; test accuracy 0.5 + 0.02 * epoch + 0.01 * seed.
    """
    rows = []
    for seed, arm, epoch in itertools.product((0, 1), ("Adam", "Adam + GC"), range(1, 11)):
        rows.append((seed, arm, epoch, "train", "loss", 1.0 / epoch))
        rows.append((seed, arm, epoch, "test", "accuracy", 0.5 + 0.02 * epoch + 0.01 * seed))
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


def test_run_values_hold_each_runs_value_at_the_last_epoch_by_default():
    values = run_values(curves(), "accuracy", "test")
    assert list(values.columns) == ["arm", "seed", "epoch", "window", "value"]
    assert (values["epoch"] == 10).all() and (values["window"] == 1).all()
    by_run = values.set_index(["arm", "seed"])["value"].sort_index()
    assert list(by_run.index) == [("Adam", 0), ("Adam", 1), ("Adam + GC", 0), ("Adam + GC", 1)]
    np.testing.assert_allclose(by_run, [0.7, 0.71, 0.7, 0.71])
    at_4 = run_values(curves(), "loss", "train", epoch=4)
    assert (at_4["epoch"] == 4).all() and (at_4["value"] == 0.25).all()


def test_window_averages_the_last_epochs_up_to_the_reporting_epoch():
    values = run_values(curves(), "accuracy", "test", epoch=8, window=3)
    assert (values["window"] == 3).all()
    # Mean of epochs 6, 7, 8 of 0.5 + 0.02 * epoch + 0.01 * seed: 0.64 for seed 0.
    assert values.set_index(["arm", "seed"]).loc[("Adam", 0), "value"] == pytest.approx(0.64)
    early = run_values(curves(), "accuracy", "test", epoch=2, window=3)
    assert (early["window"] == 2).all()  # only epochs 1 and 2 exist
    assert early.set_index(["arm", "seed"]).loc[("Adam", 0), "value"] == pytest.approx(0.53)


def test_a_non_finite_value_in_the_window_makes_the_average_non_finite():
    results = curves()
    results.loc[(results["epoch"] == 9) & (results["seed"] == 0), "value"] = np.nan
    values = run_values(results, "accuracy", "test", window=3).set_index(["arm", "seed"])
    assert np.isnan(values.loc[("Adam", 0), "value"])
    assert values.loc[("Adam", 1), "value"] == pytest.approx(0.5 + 0.18 + 0.01)


def test_window_needs_every_epoch_and_says_how_to_get_it():
    results = curves()
    once = results[(results["split"] != "test") | (results["epoch"] == 10)]
    with pytest.raises(ValueError, match="at every epoch 8 to 10 .*run_study"):
        run_values(once, "accuracy", "test", window=3)
    with pytest.raises(ValueError, match="window must be at least 1; got 0"):
        run_values(results, "accuracy", "test", window=0)


def test_several_runs_of_one_arm_for_a_seed_are_refused():
    sweep = pd.concat([curves().assign(learning_rate=rate) for rate in (0.1, 0.01)])
    with pytest.raises(ValueError, match="several runs of one arm for a seed"):
        run_values(sweep, "loss", "train")


def test_a_missing_metric_is_refused_naming_the_metrics_and_splits_there_are():
    assert len(metric_rows(curves(), "loss", "train")) == 2 * 2 * 10
    there_are = r"metrics: \['accuracy', 'loss'\], splits: \['test', 'train'\]"
    with pytest.raises(ValueError, match=f"No 'loss' on split 'test'.*{there_are}"):
        metric_rows(curves(), "loss", "test")


@pytest.mark.parametrize(
    "baseline, treatment, match",
    [
        ("Adam", "Adam", "baseline and treatment are both 'Adam'"),
        ("SGD", "Adam", r"No arm 'SGD' in the results; arms: \['Adam', 'Adam \+ GC'\]"),
        ("Adam", "SGD + GC", "No arm 'SGD \\+ GC'"),
    ],
)
def test_arms_to_compare_must_be_two_different_known_arms(baseline, treatment, match):
    check_arms({"Adam", "Adam + GC"}, "Adam", "Adam + GC")  # accepted
    with pytest.raises(ValueError, match=match):
        check_arms({"Adam", "Adam + GC"}, baseline, treatment)
