"""Specification of gc_tutorial.book.experiments.paired: arm summaries and paired statistics.

The paired statistics are checked on synthetic frames with known answers: a
planted difference is found with the right sign, no difference gives
intervals that cover 0 at their nominal rate, and the minimum detectable
difference matches the normal approximation and a simulation. Which value
each run contributes (an epoch, or a window of epochs) is ``test_frames.py``'s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gc_tutorial.book.experiments import paired
from gc_tutorial.book.experiments.frames import VALUE_COLUMNS

T_975_2DOF = 4.302652729911275  # Student's t, 97.5th percentile, 2 dof


# --- paired statistics --------------------------------------------------------


def paired_frame(baseline, treatment, *, metric="loss", split="test", epoch=1):
    """Results of arms "base" and "GC", seed i holding baseline[i], treatment[i]."""
    rows = [
        (seed, arm, epoch, split, metric, float(value))
        for arm, values in (("base", baseline), ("GC", treatment))
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


def one_pair(results, **kwargs):
    (row,) = paired.paired_statistics(results, {"GC": "base"}, **kwargs).itertuples()
    return row


def planted(shift: float, n: int = 12, noise: float = 0.02, level: float = 1.0):
    """Baseline values spread widely; GC = baseline + shift + centred noise.

    The noise sums to 0, so the mean difference is exactly ``shift``.
    """
    rng = np.random.default_rng(7)
    baseline = level + 0.1 * rng.normal(size=n)
    jitter = noise * rng.normal(size=n)
    return baseline, baseline + shift + (jitter - jitter.mean())


@pytest.mark.parametrize(
    "metric, shift, improved",
    [
        ("loss", -0.2, True),
        ("loss", 0.2, False),
        ("accuracy", 0.05, True),
        ("accuracy", -0.05, False),
    ],
)
def test_a_planted_shift_is_found_with_the_metrics_direction(metric, shift, improved):
    level = 0.8 if metric == "accuracy" else 1.0
    baseline, treatment = planted(shift, level=level, noise=0.005)
    row = one_pair(paired_frame(baseline, treatment, metric=metric), metric=metric, split="test")
    assert row.mean_difference == pytest.approx(shift)
    assert row.ci95_low < shift < row.ci95_high
    assert not row.ci95_low <= 0.0 <= row.ci95_high
    assert np.sign(row.mean_difference) == np.sign(shift)
    # Every seed moves the same way: 12 of 12, and the exact Wilcoxon p for
    # n = 12 with all signs alike, 2 / 2**12.
    better_in = 12 if improved else 0
    assert (row.better_in, row.worse_in, row.n) == (better_in, 12 - better_in, 12)
    assert row.wilcoxon_p == pytest.approx(2 / 2**12)
    assert row.better == ("higher" if metric == "accuracy" else "lower")


def test_the_statistics_state_no_verdict_the_decision_is_inferences():
    assert "verdict" not in paired.STATISTICS_COLUMNS
    baseline = 0.5 + 0.05 * np.random.default_rng(0).normal(size=8)
    row = one_pair(paired_frame(baseline, baseline - 0.3), metric="loss", split="test")
    assert not hasattr(row, "verdict")


def test_no_shift_intervals_cover_zero_at_the_nominal_rate():
    # 400 independent studies of 10 seeds without any true difference, as
    # 400 pairs of arms in one frame. Coverage of a 95% interval: 0.95, with
    # a standard error of about 0.011 over 400 draws.
    rng = np.random.default_rng(2024)
    n_draws, n_seeds = 400, 10
    rows = []
    for draw in range(n_draws):
        baseline = rng.normal(1.0, 0.3, size=n_seeds)
        treatment = baseline + rng.normal(0.0, 0.1, size=n_seeds)
        for arm, values in ((f"base {draw}", baseline), (f"GC {draw}", treatment)):
            rows += [(s, arm, 3, "test", "loss", v) for s, v in enumerate(values)]
    results = pd.DataFrame(rows, columns=list(VALUE_COLUMNS))
    pairs = {f"GC {draw}": f"base {draw}" for draw in range(n_draws)}
    table = paired.paired_statistics(results, pairs, "loss", "test")
    assert len(table) == n_draws and (table["n"] == n_seeds).all()
    covered = (table["ci95_low"] <= 0) & (table["ci95_high"] >= 0)
    assert covered.mean() == pytest.approx(0.95, abs=0.035)
    assert (table["wilcoxon_p"] < 0.05).mean() <= 0.05 + 0.035


def test_mde_approaches_the_normal_approximation_for_many_seeds():
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)  # 2.8016
    for sd in (0.5, 2.0):
        expected = z * sd / math.sqrt(5000)
        assert paired.minimum_detectable_difference(sd, 5000) == pytest.approx(expected, rel=2e-3)


def test_mde_has_80_percent_power_in_simulation():
    # A paired t-test on 8 differences of SD 1 whose true mean is the MDE
    # rejects (two-sided, alpha 0.05) in 80% of 20,000 simulated studies.
    n, sd = 8, 1.0
    mde = paired.minimum_detectable_difference(sd, n)
    draws = np.random.default_rng(11).normal(mde, sd, size=(20_000, n))
    t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(n))
    power = (np.abs(t) > scipy_stats.t.ppf(0.975, n - 1)).mean()
    assert power == pytest.approx(0.80, abs=0.012)
    # Fewer seeds can only detect larger differences.
    assert (
        paired.minimum_detectable_difference(sd, 4)
        > mde
        > paired.minimum_detectable_difference(sd, 20)
    )


def test_mde_edge_cases():
    assert paired.minimum_detectable_difference(0.0, 5) == 0.0
    assert math.isnan(paired.minimum_detectable_difference(1.0, 1))
    assert math.isnan(paired.minimum_detectable_difference(math.nan, 5))
    with pytest.raises(ValueError, match="power"):
        paired.minimum_detectable_difference(1.0, 5, power=0.01)


def test_a_difference_within_its_interval_comes_with_its_mde():
    rng = np.random.default_rng(3)
    baseline = rng.normal(1.0, 0.2, size=6)
    treatment = baseline + rng.normal(0.0, 0.1, size=6)
    row = one_pair(paired_frame(baseline, treatment), metric="loss", split="test")
    assert row.ci95_low <= 0.0 <= row.ci95_high
    sd = float(np.std(treatment - baseline, ddof=1))
    assert row.sd_difference == pytest.approx(sd)
    assert row.mde80 == pytest.approx(paired.minimum_detectable_difference(sd, 6))
    assert row.mde80 > abs(row.mean_difference)


def test_all_zero_differences():
    row = one_pair(paired_frame([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), metric="loss", split="test")
    assert (row.mean_difference, row.sd_difference) == (0.0, 0.0)
    assert row.wilcoxon_p == 1.0
    assert (row.better_in, row.worse_in) == (0, 0)
    assert (row.ci95_low, row.ci95_high) == (0.0, 0.0) and row.mde80 == 0.0


def test_a_non_finite_difference_is_counted_but_leaves_the_interval_undetermined():
    row = one_pair(
        paired_frame([1.0, 1.0, 1.0], [0.5, np.nan, np.inf]), metric="loss", split="test"
    )
    assert (row.better_in, row.worse_in, row.n) == (1, 1, 3)
    assert all(math.isnan(v) for v in (row.ci95_low, row.ci95_high, row.wilcoxon_p, row.mde80))


def test_one_seed_has_no_interval_p_or_mde():
    row = one_pair(paired_frame([1.0], [0.5]), metric="loss", split="test")
    assert row.better_in == 1
    assert math.isnan(row.ci95_low) and math.isnan(row.wilcoxon_p) and math.isnan(row.mde80)


def test_accuracy_intervals_stay_within_their_range():
    # Three seeds at or near 1: the raw t-interval would pass 1.
    results = paired_frame([0.98, 1.0, 0.9], [0.02, 0.0, 0.9], metric="accuracy")
    summary = paired.arm_summary(results, "accuracy", "test").set_index("arm")
    assert summary.loc["base", "ci95_high"] == 1.0
    assert summary.loc["GC", "ci95_low"] == 0.0
    assert summary.loc["base", "ci95_low"] < summary.loc["base", "mean"]
    row = one_pair(results, metric="accuracy", split="test")
    assert row.ci95_low == -1.0 and row.ci95_high < 1.0
    # A loss has no upper bound, but its mean never goes below 0.
    losses = paired.arm_summary(paired_frame([0.0, 0.1, 0.9], [1, 2, 3]), "loss", "test")
    assert losses.loc[0, "ci95_low"] == 0.0


def test_arm_summary_is_tidy():
    summary = paired.arm_summary(paired_frame([1.0, 2.0, 3.0], [1.5, 2.0, 4.0]), "loss", "test")
    assert list(summary.columns) == list(paired.ARM_SUMMARY_COLUMNS)
    assert summary["arm"].tolist() == ["base", "GC"]
    assert summary.loc[0, "mean"] == pytest.approx(2.0)
    assert summary.loc[0, "ci95_high"] == pytest.approx(2.0 + T_975_2DOF / math.sqrt(3))


def curves(n_seeds=4, epochs=10):
    """Per-epoch train loss and test accuracy; GC's accuracy is 0.01 higher."""
    rows = []
    for seed in range(n_seeds):
        for arm, gain in (("Adam", 0.0), ("Adam + GC", 0.01), ("Adam + GC on the update", 0.0)):
            for epoch in range(1, epochs + 1):
                rows.append((seed, arm, epoch, "train", "loss", 1.0 / epoch + 0.1 * seed - gain))
                rows.append(
                    (seed, arm, epoch, "test", "accuracy", 0.5 + 0.02 * epoch + 0.01 * seed + gain)
                )
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


PAIRS = {"Adam + GC": "Adam", "Adam + GC on the update": "Adam"}


def test_curves_hold_each_arms_seed_mean_and_sd_at_every_epoch_of_each_split():
    results = pd.concat([curves(epochs=3), paired_frame([1.0], [2.0], split="validation")])
    table = paired.arm_curves(results, "loss", splits=("train", "validation"))
    assert list(table.columns) == list(paired.CURVE_COLUMNS)
    train = table[table["split"] == "train"]
    assert train["arm"].unique().tolist() == ["Adam", "Adam + GC", "Adam + GC on the update"]
    adam = train[train["arm"] == "Adam"]
    assert adam["epoch"].tolist() == [1, 2, 3] and (adam["n"] == 4).all()
    # 1 / epoch + 0.1 * seed over seeds 0 to 3: mean 1 / epoch + 0.15, sd 0.1 * sd(0..3).
    np.testing.assert_allclose(adam["mean"], 1.0 / np.arange(1, 4) + 0.15)
    np.testing.assert_allclose(adam["sd"], 0.1 * np.std([0, 1, 2, 3], ddof=1))
    validation = table[table["split"] == "validation"]
    assert validation["arm"].tolist() == ["base", "GC"] and validation["sd"].isna().all()


def test_curves_reject_a_missing_metric_and_several_runs_per_seed():
    with pytest.raises(ValueError, match="'mae'"):
        paired.arm_curves(curves(), "mae", splits=("train",))
    sweep = pd.concat([curves().assign(learning_rate=r) for r in (0.1, 0.01)])
    with pytest.raises(ValueError, match="several runs"):
        paired.arm_curves(sweep, "loss", splits=("train",))


def test_a_sweep_summary_holds_every_arm_at_every_rate_at_the_last_epoch():
    sweep = pd.concat(
        [
            paired_frame([1.0, 2.0], [1.0 + rate, 2.0 + rate], epoch=epoch).assign(
                learning_rate=rate
            )
            for rate in (0.1, 0.01)
            for epoch in (1, 2)
        ]
    )
    sweep.loc[(sweep["learning_rate"] == 0.1) & (sweep["seed"] == 1), "value"] = np.nan
    summary = paired.sweep_summary(sweep, "loss", "test")
    assert list(summary.columns) == ["learning_rate", *paired.ARM_SUMMARY_COLUMNS]
    assert summary["learning_rate"].tolist() == [0.01, 0.01, 0.1, 0.1]
    assert (summary["epoch"] == 2).all()
    assert summary["mean"].tolist()[:2] == pytest.approx([1.5, 1.51])
    assert summary["mean"].iloc[2:].isna().all()  # a diverged seed leaves no mean


def test_statistics_per_epoch_run_from_epoch_one_to_the_last():
    table = paired.paired_statistics_per_epoch(curves(epochs=4), PAIRS, "accuracy", "test")
    assert table["epoch"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert (
        paired.paired_statistics_per_epoch(curves(epochs=4), PAIRS, "loss", "train", last_epoch=2)[
            "epoch"
        ].max()
        == 2
    )


def test_differences_are_tidy_and_paired_by_seed():
    differences = paired.paired_differences(curves(), PAIRS, "accuracy", "test", epoch=5)
    assert list(differences.columns) == list(paired.DIFFERENCE_COLUMNS)
    assert len(differences) == 2 * 4
    gc = differences[differences["treatment"] == "Adam + GC"]
    assert (gc["baseline"] == "Adam").all() and (gc["epoch"] == 5).all()
    np.testing.assert_allclose(gc["difference"], 0.01)
    np.testing.assert_allclose(gc["baseline_value"], 0.6 + 0.01 * np.arange(4))


def test_statistics_keep_extra_key_columns():
    differences = pd.concat(
        [
            paired.paired_differences(curves(), PAIRS, "accuracy", "test").assign(study=name)
            for name in ("one", "two")
        ]
    )
    table = paired.difference_statistics(differences)
    assert list(table.columns[:7]) == [*paired.STATISTICS_COLUMNS[:6], "study"]
    assert len(table) == 4 and set(table["study"]) == {"one", "two"}


def test_unknown_metric_needs_a_direction():
    results = paired_frame([1.0, 2.0], [1.5, 2.5], metric="fare_error")
    with pytest.raises(ValueError, match="better='lower' or better='higher'"):
        paired.paired_statistics(results, {"GC": "base"}, "fare_error", "test")
    (row,) = paired.paired_statistics(
        results, {"GC": "base"}, "fare_error", "test", better="higher"
    ).itertuples()
    assert row.better == "higher" and row.better_in == 2
    with pytest.raises(ValueError, match="'lower' or 'higher'"):
        paired.paired_statistics(results, {"GC": "base"}, "fare_error", "test", better="up")


def test_paired_statistics_reject_bad_pairs():
    results = curves()
    with pytest.raises(ValueError, match="at least one pair"):
        paired.paired_statistics(results, {}, "accuracy", "test")
    with pytest.raises(ValueError, match="'SGD'"):
        paired.paired_statistics(results, {"SGD + GC": "SGD"}, "accuracy", "test")
    unpaired = results[~((results["arm"] == "Adam") & (results["seed"] == 3))]
    with pytest.raises(ValueError, match=r"same seeds \(unpaired: \[3\]\)"):
        paired.paired_statistics(unpaired, PAIRS, "accuracy", "test")
    sweep = pd.concat([results.assign(learning_rate=r) for r in (0.1, 0.01)])
    with pytest.raises(ValueError, match="several runs"):
        paired.paired_statistics(sweep, PAIRS, "accuracy", "test")
