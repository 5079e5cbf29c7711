"""Specification of pilot_choice: each method's rates ranked by late validation loss."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gc_tutorial.book.experiments import RESULT_COLUMNS, chosen_rates, pilot_choice
from gc_tutorial.book.experiments.pilots import rates_side_by_side


def pilot_results(curves: dict[tuple[str, float], list[list[float]]]) -> pd.DataFrame:
    """Runs with the given validation loss per epoch: (method, rate) -> one curve per seed.

    Every run also logs a validation MAE of 0 and a training loss that ranks
    the rates the other way round, which must not count.
    """
    rows = []
    for rank, ((method, rate), runs) in enumerate(curves.items()):
        arm = f"{method}, lr {rate:g}"
        for seed, curve in enumerate(runs):
            for epoch, loss in enumerate(curve, start=1):
                rows += [
                    (seed, arm, method, rate, epoch, "validation", "loss", loss),
                    (seed, arm, method, rate, epoch, "validation", "mae", 0.0),
                    (seed, arm, method, rate, epoch, "train", "loss", -rank),
                ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


FLAT = [5.0, 5.0, 5.0, 5.0]


def test_each_method_chooses_the_rate_with_the_lowest_mean_over_the_last_three_epochs():
    results = pilot_results(
        {
            ("SGD", 0.1): [[0.0, 3.0, 3.0, 3.0], [0.0, 3.0, 3.0, 3.0]],
            ("SGD", 0.01): [[9.0, 1.0, 2.0, 3.0], [9.0, 1.0, 2.0, 3.0]],
            ("SGD", 0.001): [[9.0, 2.0, 2.0, 2.0], [9.0, 2.0, 2.0, 2.0]],
            ("Adam", 0.001): [FLAT, FLAT],
        }
    )
    table = pilot_choice(results)
    assert list(table.columns) == [
        "method",
        "learning_rate",
        "arm",
        "mean",
        "sd",
        "seeds",
        "best_epoch",
        "chosen",
        "on_edge",
    ]
    sgd = table[table["method"] == "SGD"]
    # Epochs 2-4 average 2.0 for both 0.01 and 0.001; the last epoch alone
    # would pick 0.001, the first epoch 0.1. A stable sort keeps the grid's order.
    assert list(sgd["learning_rate"]) == [0.01, 0.001, 0.1]
    assert list(sgd["mean"]) == [2.0, 2.0, 3.0]
    assert list(sgd["chosen"]) == [True, False, False]
    assert list(sgd["best_epoch"]) == [2, 2, 1]
    assert list(table["method"]) == ["SGD", "SGD", "SGD", "Adam"]
    assert chosen_rates(results) == {"SGD": 0.01, "Adam": 0.001}


def test_a_choice_on_the_edge_of_its_grid_is_flagged():
    results = pilot_results(
        {
            ("Adam", 0.001): [[3.0, 3.0, 3.0]],
            ("Adam", 0.003): [[2.0, 2.0, 2.0]],
            ("Adam", 0.01): [[1.0, 1.0, 1.0]],
            ("SGD", 0.01): [[3.0, 3.0, 3.0]],
            ("SGD", 0.03): [[1.0, 1.0, 1.0]],
            ("SGD", 0.1): [[2.0, 2.0, 2.0]],
        }
    )
    table = pilot_choice(results).set_index("arm")
    assert table.loc["Adam, lr 0.01", "on_edge"]
    assert not table.loc["SGD, lr 0.03", "on_edge"]
    assert not table.loc["Adam, lr 0.001", "on_edge"], "only the chosen rate is flagged"


def test_a_rate_with_a_diverged_run_ranks_last():
    results = pilot_results(
        {("Adam", 1.0): [[1.0, 1.0, 1.0], [1.0, math.nan, 1.0]], ("Adam", 0.1): [[9.0] * 3] * 2}
    )
    table = pilot_choice(results)
    assert list(table["learning_rate"]) == [0.1, 1.0]
    assert table["mean"].iloc[-1] == math.inf


def test_the_sd_is_over_the_seeds_run_means():
    table = pilot_choice(pilot_results({("Adam", 0.1): [[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]]}))
    assert table.loc[0, "sd"] == pytest.approx(math.sqrt(2.0))
    assert table.loc[0, "seeds"] == 2


def test_another_validation_metric_can_rank():
    table = pilot_choice(pilot_results({("a", 1.0): [FLAT], ("a", 2.0): [FLAT]}), metric="mae")
    assert set(table["mean"]) == {0.0}


def test_results_without_the_validation_metric_are_refused():
    with pytest.raises(ValueError, match="No 'accuracy' on split 'validation'"):
        pilot_choice(pilot_results({("a", 1.0): [FLAT]}), metric="accuracy")


def test_the_rates_side_by_side_put_each_optimizers_chosen_rate_under_its_gc_form():
    results = pilot_results(
        {
            ("SGD momentum", 0.01): [[1.0, 1.0, 1.0]],
            ("SGD momentum", 0.03): [[2.0, 2.0, 2.0]],
            ("SGD momentum + GC", 0.01): [[2.0, 2.0, 2.0]],
            ("SGD momentum + GC", 0.03): [[1.0, 1.0, 1.0]],
            ("Adam", 0.001): [[5.0, 5.0, 5.0]],
            ("Adam + GC on the update", 0.003): [[5.0, 5.0, 5.0]],
        }
    )
    table = rates_side_by_side(pilot_choice(results))
    assert list(table.index) == ["SGD momentum", "Adam"]
    assert list(table.columns) == ["without GC", "GC on the gradient", "GC on the update"]
    assert table.loc["SGD momentum"].tolist()[:2] == [0.01, 0.03]
    assert math.isnan(table.loc["SGD momentum", "GC on the update"])
    assert table.loc["Adam", "without GC"] == 0.001
    assert math.isnan(table.loc["Adam", "GC on the gradient"])
    assert table.loc["Adam", "GC on the update"] == 0.003
