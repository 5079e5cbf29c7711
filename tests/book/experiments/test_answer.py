"""Specification of the answer page's verdict table (gc_tutorial.book.experiments.answer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gc_tutorial.book.experiments.answer import (
    UPDATE_VS_GRADIENT,
    VERDICT_COLUMNS,
    comparisons,
    cost_words,
    display_table,
    effect_over_epochs,
    format_p,
    learned,
    learning_pairs,
    optimizer_answer,
    recommendation,
    verdict_sentence,
    verdict_table,
)
from gc_tutorial.book.experiments.inference import holm
from gc_tutorial.book.experiments.paired import minimum_detectable_difference
from gc_tutorial.book.results import judge_target

PAIRS = {"SGD + GC": "SGD", "Adam + GC": "Adam", "Adam + GC on the update": "Adam"}


def results_of(final_losses: dict[str, list[float]], epochs: int = 4) -> pd.DataFrame:
    """A tidy results frame: per arm, a train loss and test accuracy per seed and epoch.

    The loss falls to the value given over the last three epochs (their mean
    is that value); the test accuracy is 1 - loss / 10.
    """
    rows = []
    for arm, losses in final_losses.items():
        for seed, loss in enumerate(losses):
            for epoch in range(1, epochs + 1):
                value = loss * {epochs - 2: 1.1, epochs - 1: 1.0, epochs: 0.9}.get(epoch, 5.0)
                rows.append((seed, arm, epoch, "train", "loss", value))
                rows.append((seed, arm, epoch, "test", "accuracy", 1.0 - value / 10))
    return pd.DataFrame(rows, columns=["seed", "arm", "epoch", "split", "metric", "value"])


# --- Comparisons and the table ------------------------------------------------


def test_a_study_with_both_adam_gc_arms_also_compares_the_update_with_the_gradient():
    assert comparisons(PAIRS) == [*PAIRS.items(), UPDATE_VS_GRADIENT]
    assert comparisons({"SGD + GC": "SGD"}) == [("SGD + GC", "SGD")]


def test_the_table_has_a_row_per_comparison_and_quantity_and_one_holm_family():
    seeds = np.arange(12)
    # Twelve seeds: the smallest exact Wilcoxon p is 2 / 2**12, significant after Holm.
    losses = {
        "SGD": list(1.0 + 0.1 * seeds),
        "SGD + GC": list(0.9 + 0.1 * seeds - 0.001 * seeds),
        "Adam": [1.0] * 12,
        "Adam + GC": list(1.0 + 0.01 * (seeds - 5.5)),
        "Adam + GC on the update": list(1.2 + 0.001 * seeds),
    }
    table = verdict_table(results_of(losses), PAIRS, ["accuracy"], study="toy")
    assert list(table.columns) == list(VERDICT_COLUMNS)
    assert len(table) == 2 * len(comparisons(PAIRS))
    assert np.allclose(table["p_holm"], holm(table["p"]))
    by_pair = table.set_index(["treatment", "baseline", "split"])
    # GC lowers SGD's loss in every seed, and raises the update arm's.
    assert by_pair.loc[("SGD + GC", "SGD", "train"), "verdict"] == "lower"
    assert by_pair.loc[("SGD + GC", "SGD", "train"), "better_in"] == 12
    assert by_pair.loc[("Adam + GC on the update", "Adam", "train"), "verdict"] == "higher"
    # The update arm against the gradient arm is a row of its own, of its own kind.
    update = by_pair.loc[("Adam + GC on the update", "Adam + GC", "train")]
    assert (update["verdict"], update["kind"]) == ("higher", "update vs gradient")
    assert set(by_pair["kind"]) == {"GC vs no GC", "update vs gradient"}
    # Adam + GC straddles zero: within noise.
    assert by_pair.loc[("Adam + GC", "Adam", "train"), "verdict"] == "within noise"
    # Accuracy is better higher: the lower loss is a higher accuracy.
    assert by_pair.loc[("SGD + GC", "SGD", "test"), "better"] == "higher"
    assert by_pair.loc[("SGD + GC", "SGD", "test"), "verdict"] == "higher"


def test_each_quantity_is_a_runs_mean_over_its_last_three_epochs():
    table = verdict_table(
        results_of({"SGD": [1.0, 1.0, 1.0], "SGD + GC": [0.5, 0.6, 0.7]}, epochs=5),
        {"SGD + GC": "SGD"},
        ["accuracy"],
        study="toy",
    )
    assert set(zip(table["epoch"], table["window"], strict=True)) == {(5, 3)}
    train = table[table["split"] == "train"].iloc[0]
    assert train["mean_difference"] == pytest.approx(-0.4)


def test_the_detectable_difference_is_at_the_familys_strictest_level():
    seeds = np.arange(6)
    losses = {"SGD": list(1.0 + 0.1 * seeds), "SGD + GC": list(0.9 + 0.12 * seeds)}
    results = results_of(losses)
    table = verdict_table(results, {"SGD + GC": "SGD"}, ["accuracy"], study="toy")
    row = table.iloc[0]
    sd = float(np.std(0.02 * seeds - 0.1, ddof=1))
    strict = minimum_detectable_difference(sd, 6, alpha=0.05 / len(table))
    assert row["mde80"] == pytest.approx(strict)
    assert row["mde80"] > minimum_detectable_difference(sd, 6)


def test_effect_over_epochs_starts_at_epoch_one():
    losses = {"SGD": [1.0, 1.2, 1.1], "SGD + GC": [0.9, 1.0, 1.0]}
    frame = effect_over_epochs(results_of(losses, epochs=3), {"SGD + GC": "SGD"}, "loss", "train")
    assert list(frame["epoch"]) == [1, 2, 3]
    assert frame["mean_difference"].iloc[-1] == pytest.approx(-0.9 * 0.1333333)


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


def row(mean: float, low: float, high: float, verdict: str, better_in: int = 5, **changes) -> dict:
    return {
        "study": "toy",
        "kind": "GC vs no GC",
        "treatment": "SGD + GC",
        "baseline": "SGD",
        "metric": "loss",
        "split": "train",
        "epoch": 10,
        "window": 3,
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
        **changes,
    }


def test_the_sentence_takes_its_direction_count_and_figures_from_the_row():
    lower = verdict_sentence(row(-0.0258, -0.0307, -0.0209, "lower", better_in=6))
    assert "train loss, epochs 8–10: lower by 0.0258" in lower
    assert "(unadjusted 95% CI 0.0209 to 0.0307)" in lower
    assert "lower in 6 of 6 seeds" in lower and "p < 0.001" in lower and "**lower**" in lower
    higher = verdict_sentence(row(0.0258, 0.0209, 0.0307, "higher", better_in=0))
    assert "higher by 0.0258" in higher and "higher in 6 of 6" in higher
    accuracy = verdict_sentence(
        row(
            0.02,
            0.01,
            0.03,
            "higher",
            better_in=4,
            metric="accuracy",
            split="test",
            better="higher",
        )
    )
    assert (
        "test accuracy, epochs 8–10: higher by 0.020" in accuracy and "higher in 4 of 6" in accuracy
    )


def test_no_sentence_or_cell_calls_a_difference_better_or_worse():
    shown = display_table(pd.DataFrame([row(-0.02, -0.03, -0.01, "lower")]))
    sentence = verdict_sentence(row(-0.02, -0.03, -0.01, "lower"))
    assert "better" not in sentence.replace("better / worse", "")
    assert set(shown["verdict"]) == {"lower"}


def test_the_display_table_has_no_index_column_and_labels_its_interval_unadjusted():
    shown = display_table(pd.DataFrame([row(-0.02, -0.03, -0.01, "lower")]), {"toy": "Toy"})
    assert shown.loc[0, "data set"] == "Toy"
    assert shown.loc[0, "p (Holm)"] == "< 0.001"
    assert shown.loc[0, "difference [unadjusted 95% CI]"] == "-0.0200 [-0.0300, -0.0100]"


# --- The advice ---------------------------------------------------------------------


def gc_rows(arm: str, train: str, test: str, baseline: str = "Adam", **changes) -> list[dict]:
    """A comparison's two rows: train loss with ``train``, test accuracy with ``test``."""
    kind = "update vs gradient" if baseline == "Adam + GC" else "GC vs no GC"
    common = {"treatment": arm, "baseline": baseline, "kind": kind, **changes}
    accuracy = {"metric": "accuracy", "split": "test", "better": "higher"}
    return [
        row(-0.02, -0.03, -0.01, train, **common),
        row(0.01, -0.01, 0.03, test, **common, **accuracy),
    ]


@pytest.mark.parametrize(
    "gradient, update, versus, advice",
    [
        ("higher", "within noise", "within noise", "use GC on the gradient"),
        ("within noise", "higher", "within noise", "use GC on the update"),
        ("higher", "higher", "higher", "use GC on the update"),
        ("higher", "higher", "within noise", "use GC on the gradient"),
        ("within noise", "within noise", "within noise", "don't use GC"),
        ("lower", "within noise", "within noise", "don't use GC"),
    ],
)
def test_the_advice_follows_the_test_figures_by_the_fixed_rule(gradient, update, versus, advice):
    table = pd.DataFrame(
        gc_rows("Adam + GC", "lower", gradient)
        + gc_rows("Adam + GC on the update", "lower", update)
        + gc_rows("Adam + GC on the update", "within noise", versus, baseline="Adam + GC")
    )
    assert recommendation(table, "Adam") == advice


def test_a_lower_training_loss_alone_is_no_reason_to_add_gc():
    table = pd.DataFrame(gc_rows("SGD + GC", "lower", "within noise", baseline="SGD"))
    assert recommendation(table, "SGD") == "don't use GC"


def test_the_answer_for_an_optimizer_says_what_each_form_did_and_the_advice():
    table = pd.DataFrame(
        gc_rows("Adam + GC", "lower", "within noise")
        + gc_rows("Adam + GC on the update", "within noise", "higher")
    )
    answer = optimizer_answer(table, "Adam", cost="+1.2%")
    assert answer.startswith("**Adam** (6 seeds): GC on the gradient: lower train loss (-0.0200)")
    assert "test accuracy: no difference beyond noise (the study could detect ±0.010)." in answer
    assert "GC on the update: train loss: no difference beyond noise" in answer
    assert "higher test accuracy (+0.010)" in answer
    assert answer.endswith("Cost per training step: +1.2%. **Advice: use GC on the update.**")
    with pytest.raises(ValueError, match="No GC comparison with 'RMSprop'"):
        optimizer_answer(table, "RMSprop")


def benchmark_rows(model="taxi_mlp", optimizer="Adam", **ratios):
    return [
        {
            "model": model,
            "optimizer": optimizer,
            "arm": arm,
            "control": arm == "plain again",
            "ratio": ratio,
            "low": ratio - 0.01,
            "high": ratio + 0.02,
            "target": 1.05 if model == "taxi_mlp" else 1.02,
            "verdict": judge_target(
                ratio - 0.01, ratio + 0.02, 1.05 if model == "taxi_mlp" else 1.02
            ),
        }
        for arm, ratio in ratios.items()
    ]


def test_the_cost_in_words_gives_each_gc_form_judged_on_its_interval_and_the_a_a_control():
    costs = pd.DataFrame(
        benchmark_rows(**{"plain again": 0.995, "subclass": 1.087, "wrapper": 1.5, "update": 1.02})
        + benchmark_rows(
            "hoh_cnn", "RMSprop", **{"plain again": 1.0, "subclass": 2.0, "update": 2.0}
        )
    )
    assert cost_words(costs, "taxi_mlp", "Adam", "TensorFlow") == (
        "+8.7% [+7.7, +10.7] with GC on the gradient (over the +5% target), +2.0% [+1.0, +4.0] "
        "with GC on the update (within the +5% target) (GCAdam against Adam on TensorFlow, 95% "
        "intervals; two identical plain models differ by −0.5% [−1.5, +1.5])"
    )
    spanning = costs.assign(high=costs["high"] + 0.02)  # the update's interval now reaches 6%
    spanning["verdict"] = [judge_target(*r) for r in spanning[["low", "high", "target"]].values]
    assert "+2.0% [+1.0, +6.0] with GC on the update (its interval spans the +5% target)" in (
        cost_words(spanning, "taxi_mlp", "Adam", "TensorFlow")
    )
    with pytest.raises(ValueError, match="'resnet50'"):
        cost_words(costs, "resnet50", "Adam", "TensorFlow")
    with pytest.raises(ValueError, match="SGD on 'taxi_mlp'"):
        cost_words(costs, "taxi_mlp", "SGD", "TensorFlow")
    without_control = costs[~costs["control"]]
    with pytest.raises(ValueError, match="no A/A control"):
        cost_words(without_control, "taxi_mlp", "Adam", "TensorFlow")


# --- Arms that did not learn ----------------------------------------------------------


def test_arms_above_the_loss_ceiling_have_not_learned_and_leave_the_verdict():
    results = results_of({"SGD": [0.7, 0.7], "SGD + GC": [0.5, 0.55], "Adam": [0.3, 0.3]})
    arms = learned(results, max_train_loss=0.6).set_index("arm")
    assert arms.loc["SGD", "train_loss"] == pytest.approx(0.7)
    assert list(arms["learned"]) == [False, True, True]
    pairs = {"SGD + GC": "SGD", "Adam + GC": "Adam"}
    assert learning_pairs(pairs, arms.reset_index()) == {}
    arms.loc["Adam + GC"] = (0.2, True)
    assert learning_pairs(pairs, arms.reset_index()) == {"Adam + GC": "Adam"}


def test_a_table_without_comparisons_is_empty_with_its_columns():
    table = verdict_table(results_of({"SGD": [1.0, 1.1]}), {}, ["accuracy"], study="toy")
    assert table.empty and list(table.columns) == list(VERDICT_COLUMNS)
    shown = display_table(table)
    assert shown.empty and "data set" in shown.columns
