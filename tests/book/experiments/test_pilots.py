"""Specification of pilot_choice: a pilot's arms ranked by validation loss."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gc_tutorial.book.experiments import RESULT_COLUMNS, pilot_choice


def pilot_results(final_losses: dict[str, list[float]]) -> pd.DataFrame:
    """Two epochs per run; the last epoch's validation loss as given, seed by seed.

    The first epoch's losses rank the arms the other way round, and the test
    split, which a pilot never has, would too: neither may count.
    """
    rows = []
    for rank, (arm, losses) in enumerate(final_losses.items()):
        for seed, loss in enumerate(losses):
            rows += [
                (seed, arm, 1, "validation", "loss", -rank),
                (seed, arm, 2, "validation", "loss", loss),
                (seed, arm, 2, "validation", "mae", 0.0),
                (seed, arm, 2, "train", "loss", -rank),
            ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def test_arms_rank_by_their_mean_validation_loss_at_the_last_epoch():
    ranking = pilot_choice(
        pilot_results({"lr 0.1": [3.0, 5.0], "lr 0.01": [1.0, 2.0], "lr 0.001": [2.0, 2.0]})
    )
    assert list(ranking.columns) == ["arm", "mean", "sd", "seeds"]
    assert list(ranking["arm"]) == ["lr 0.01", "lr 0.001", "lr 0.1"]
    assert ranking.iloc[0].to_dict() == {
        "arm": "lr 0.01",
        "mean": 1.5,
        "sd": pytest.approx(math.sqrt(0.5)),
        "seeds": 2,
    }


def test_an_arm_with_a_diverged_run_ranks_last():
    ranking = pilot_choice(pilot_results({"lr 1": [1.0, math.nan], "lr 0.1": [9.0, 9.0]}))
    assert list(ranking["arm"]) == ["lr 0.1", "lr 1"]
    assert ranking["mean"].iloc[-1] == math.inf


def test_another_validation_metric_can_rank():
    ranking = pilot_choice(pilot_results({"a": [1.0], "b": [2.0]}), metric="mae")
    assert set(ranking["mean"]) == {0.0}


def test_results_without_the_validation_metric_are_refused():
    with pytest.raises(ValueError, match="no validation 'accuracy' rows"):
        pilot_choice(pilot_results({"a": [1.0]}), metric="accuracy")
