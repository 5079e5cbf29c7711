"""Specification of the answer page's verdict table (gc_tutorial.book.experiments.answer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gc_tutorial.book.experiments.answer import (
    UPDATE_VS_GRADIENT,
    VERDICT_COLUMNS,
    comparisons,
    display_table,
    effect_over_epochs,
    format_p,
    headline,
    verdict_sentence,
    verdict_table,
)
from gc_tutorial.book.experiments.inference import holm

PAIRS = {"SGD + GC": "SGD", "Adam + GC": "Adam", "Adam + GC on the update": "Adam"}


def results_of(final_losses: dict[str, list[float]], epochs: int = 2) -> pd.DataFrame:
    """A tidy results frame: per arm, one final train loss and test accuracy per seed."""
    rows = []
    for arm, losses in final_losses.items():
        for seed, loss in enumerate(losses):
            for epoch in range(1, epochs + 1):
                value = loss * (epochs + 1 - epoch)  # falls to `loss` at the last epoch
                rows.append((seed, arm, epoch, "train", "loss", value))
                rows.append((seed, arm, epoch, "test", "accuracy", 1.0 - value / 10))
    return pd.DataFrame(rows, columns=["seed", "arm", "epoch", "split", "metric", "value"])


# --- Comparisons and the table ------------------------------------------------


def test_a_study_with_both_adam_gc_arms_also_compares_the_update_with_the_gradient():
    assert comparisons(PAIRS) == [*PAIRS.items(), UPDATE_VS_GRADIENT]
    assert comparisons({"SGD + GC": "SGD"}) == [("SGD + GC", "SGD")]


def test_the_table_has_two_rows_per_comparison_and_one_holm_family():
    seeds = np.arange(12)
    # Twelve seeds: the smallest exact Wilcoxon p is 2 / 2**12, significant after Holm.
    losses = {
        "SGD": list(1.0 + 0.1 * seeds),
        "SGD + GC": list(0.9 + 0.1 * seeds - 0.001 * seeds),
        "Adam": [1.0] * 12,
        "Adam + GC": list(1.0 + 0.01 * (seeds - 5.5)),
        "Adam + GC on the update": list(1.2 + 0.001 * seeds),
    }
    table = verdict_table(results_of(losses), PAIRS, "accuracy", study="toy")
    assert list(table.columns) == list(VERDICT_COLUMNS)
    assert len(table) == 2 * len(comparisons(PAIRS))
    assert (table["p_holm"] >= table["p"]).all()
    assert np.allclose(table["p_holm"], holm(table["p"]))
    by_pair = table.set_index(["treatment", "baseline", "split"])
    # GC lowers SGD's loss in every seed: better; and raises the update arm's: worse.
    assert by_pair.loc[("SGD + GC", "SGD", "train"), "verdict"] == "better"
    assert by_pair.loc[("SGD + GC", "SGD", "train"), "better_in"] == 12
    assert by_pair.loc[("Adam + GC on the update", "Adam", "train"), "verdict"] == "worse"
    # The update arm against the gradient arm is a row of its own, named by its arms.
    assert by_pair.loc[("Adam + GC on the update", "Adam + GC", "train"), "verdict"] == "worse"
    # Adam + GC straddles zero: within noise.
    assert by_pair.loc[("Adam + GC", "Adam", "train"), "verdict"] == "within noise"
    # Accuracy is better higher: the lower loss is a higher accuracy, also better.
    assert by_pair.loc[("SGD + GC", "SGD", "test"), "better"] == "higher"


def test_the_table_uses_only_the_seeds_both_arms_have_run():
    losses = {"SGD": [1.0, 1.0, 1.0, 1.0], "SGD + GC": [0.5, 0.5]}
    table = verdict_table(results_of(losses), {"SGD + GC": "SGD"}, "accuracy", study="toy")
    assert set(table["n"]) == {2}


def test_a_comparison_with_one_seed_is_undetermined_and_an_unrun_one_is_left_out():
    losses = {"SGD": [1.0], "SGD + GC": [0.5], "Adam": [1.0]}
    table = verdict_table(results_of(losses), PAIRS, "accuracy", study="toy")
    assert set(table["treatment"]) == {"SGD + GC"}
    assert set(table["verdict"]) == {"undetermined"}


def test_effect_over_epochs_starts_at_epoch_one():
    losses = {"SGD": [1.0, 1.2, 1.1], "SGD + GC": [0.9, 1.0, 1.0]}
    frame = effect_over_epochs(results_of(losses, epochs=3), {"SGD + GC": "SGD"}, "loss", "train")
    assert list(frame["epoch"]) == [1, 2, 3]
    assert frame["mean_difference"].iloc[-1] == pytest.approx(-0.1333333)


def test_effect_over_epochs_names_each_comparison_by_its_arm_and_baseline():
    losses = {"Adam": [1.0, 1.2], "Adam + GC": [0.9, 1.0], "Adam + GC on the update": [1.0, 1.1]}
    pairs = {"Adam + GC": "Adam", "Adam + GC on the update": "Adam"}
    frame = effect_over_epochs(results_of(losses), pairs, "loss", "train")
    shown = list(dict.fromkeys(zip(frame["treatment"], frame["baseline"], strict=True)))
    assert shown == [*pairs.items(), UPDATE_VS_GRADIENT]


# --- What the page prints ---------------------------------------------------------


@pytest.mark.parametrize(
    "p, shown", [(0.0, "< 0.001"), (0.00049, "< 0.001"), (0.0312, "0.031"), (1.0, "1.000")]
)
def test_a_p_value_never_prints_as_zero(p, shown):
    assert format_p(p) == shown


def row(mean: float, low: float, high: float, verdict: str, better_in: int = 5) -> dict:
    return {
        "study": "toy",
        "treatment": "SGD + GC",
        "baseline": "SGD",
        "metric": "loss",
        "split": "train",
        "epoch": 10,
        "better": "lower",
        "n": 6,
        "mean_difference": mean,
        "ci95_low": low,
        "ci95_high": high,
        "better_in": better_in,
        "worse_in": 6 - better_in,
        "p": 0.01,
        "p_holm": 0.0004,
        "mde80": 0.01,
        "verdict": verdict,
    }


def test_the_sentence_takes_its_direction_count_and_figures_from_the_row():
    lower = verdict_sentence(row(-0.0258, -0.0307, -0.0209, "better", better_in=6))
    assert "lower by 0.0258 (95% CI 0.0209 to 0.0307)" in lower
    assert "better in 6 of 6 seeds" in lower and "p < 0.001" in lower and "**better**" in lower
    higher = verdict_sentence(row(0.0258, 0.0209, 0.0307, "worse", better_in=0))
    assert "higher by 0.0258" in higher and "better in 0 of 6" in higher and "**worse**" in higher


def test_the_display_table_has_no_index_column_and_shows_holm_p():
    shown = display_table(pd.DataFrame([row(-0.02, -0.03, -0.01, "better")]), {"toy": "Toy"})
    assert shown.loc[0, "data set"] == "Toy"
    assert shown.loc[0, "p (Holm)"] == "< 0.001"
    assert shown.loc[0, "GC − baseline [95% CI]"] == "-0.0200 [-0.0300, -0.0100]"


def test_the_headline_groups_the_rows_by_verdict_and_counts_the_rest():
    rows = [
        row(-0.02, -0.03, -0.01, "better"),
        {**row(0.02, 0.01, 0.03, "worse"), "treatment": "Adam + GC", "baseline": "Adam"},
        {**row(0.0, -0.01, 0.01, "within noise"), "split": "test", "metric": "mae"},
    ]
    line = headline(pd.DataFrame(rows), "Toy")
    assert line.startswith("On Toy (6 seeds), **better**: SGD + GC vs SGD (final train loss)")
    assert "**worse**: Adam + GC vs Adam (final train loss)" in line
    assert line.endswith("**within noise or undetermined**: the other 1 of 3 rows.")
