"""Specification of gc_tutorial.book.experiments.stats: summaries and paired statistics.

The paired statistics are checked on synthetic frames with known answers: a
planted difference is found with the right sign, no difference gives
intervals that cover 0 at their nominal rate, and the minimum detectable
difference matches the normal approximation and a simulation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gc_tutorial.book.experiments import stats
from gc_tutorial.book.experiments.frames import RESULT_COLUMNS

# --- stats.summarize: the chapters' two-arm summary -------------------------------

T_975_2DOF = 4.302652729911275  # Student's t, 97.5th percentile, 2 dof


def handmade_results(baseline, treatment, metric="loss", split="test"):
    """One value per seed for each arm at epoch 2, with decoys at epoch 1."""
    rows = []
    for arm, values in [("Adam", baseline), ("Adam + GC", treatment)]:
        for seed, value in enumerate(values):
            rows.append((seed, arm, 2, split, metric, value))
            rows.append((seed, arm, 1, split, metric, 100.0 + seed))
            rows.append((seed, arm, 2, split, "other", -50.0))
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def test_summary_per_arm_and_paired_difference():
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[1.5, 2.0, 4.0])
    summary = stats.summarize(results, "loss", split="test", baseline="Adam", treatment="Adam + GC")
    assert list(summary.index) == ["Adam", "Adam + GC", "Adam + GC - Adam"]
    assert list(summary.columns) == ["mean", "std", "n", "ci95_low", "ci95_high", "verdict"]
    assert summary.loc["Adam", "mean"] == pytest.approx(2.0)
    assert summary.loc["Adam", "std"] == pytest.approx(1.0)
    assert summary.loc["Adam + GC", "mean"] == pytest.approx(7.5 / 3)
    # Deviations from 2.5: -1.0, -0.5, 1.5 -> variance 3.5 / 2.
    assert summary.loc["Adam + GC", "std"] == pytest.approx(math.sqrt(1.75))
    assert (summary["n"] == 3).all()
    # Paired differences per seed: 0.5, 0.0, 1.0 -> mean 0.5, std 0.5.
    difference = summary.loc["Adam + GC - Adam"]
    half_width = T_975_2DOF * 0.5 / math.sqrt(3)
    assert difference["mean"] == pytest.approx(0.5)
    assert difference["std"] == pytest.approx(0.5)
    assert difference["ci95_low"] == pytest.approx(0.5 - half_width)
    assert difference["ci95_high"] == pytest.approx(0.5 + half_width)
    assert difference["verdict"] == "within noise"
    # 2.0 - 4.30 / sqrt(3) = -0.48: a loss is never negative, so its interval stops at 0.
    assert summary.loc["Adam", "ci95_low"] == 0.0
    assert summary.loc["Adam", "ci95_high"] == pytest.approx(2.0 + T_975_2DOF / math.sqrt(3))


def test_consistent_difference_is_not_noise():
    # Differences -0.5, -0.6, -0.4: mean -0.5, std 0.1, interval below 0,
    # although the arms' own spreads (std 1) overlap widely.
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[0.5, 1.4, 2.6])
    summary = stats.summarize(results, "loss", baseline="Adam", treatment="Adam + GC")
    difference = summary.loc["Adam + GC - Adam"]
    assert difference["mean"] == pytest.approx(-0.5)
    half_width = T_975_2DOF * 0.1 / math.sqrt(3)
    assert difference["ci95_high"] == pytest.approx(-0.5 + half_width)
    assert difference["verdict"] == "Adam + GC better"  # a lower loss
    flipped = stats.summarize(results, "loss", baseline="Adam + GC", treatment="Adam")
    assert flipped.loc["Adam - Adam + GC", "verdict"] == "Adam worse"
    as_score = stats.summarize(
        results, "loss", baseline="Adam", treatment="Adam + GC", better="higher"
    )
    assert as_score.loc["Adam + GC - Adam", "verdict"] == "Adam + GC worse"


def test_summarize_keeps_accuracy_intervals_in_their_range():
    # Three seeds far apart: the unclipped interval of the baseline's mean
    # accuracy, 0.5 +- 4.3 * 0.4 / sqrt(3), would reach beyond 0 and 1.
    results = handmade_results(
        baseline=[0.1, 0.5, 0.9], treatment=[0.9, 0.95, 1.0], metric="accuracy"
    )
    summary = stats.summarize(results, "accuracy", baseline="Adam", treatment="Adam + GC")
    assert summary.loc["Adam", "ci95_low"] == 0.0
    assert summary.loc["Adam", "ci95_high"] == 1.0
    difference = summary.loc["Adam + GC - Adam"]
    assert -1.0 <= difference["ci95_low"] < difference["ci95_high"] <= 1.0
    assert difference["verdict"] == "within noise"


def test_a_metric_of_unknown_direction_needs_better():
    results = handmade_results(baseline=[1.0, 2.0], treatment=[1.0, 2.0], metric="fare_error")
    with pytest.raises(ValueError, match="better='lower'"):
        stats.summarize(results, "fare_error", baseline="Adam", treatment="Adam + GC")
    summary = stats.summarize(
        results, "fare_error", baseline="Adam", treatment="Adam + GC", better="lower"
    )
    assert summary.loc["Adam + GC - Adam", "verdict"] == "within noise"


def test_summary_takes_the_requested_epoch():
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[1.0, 2.0, 3.0])
    summary = stats.summarize(results, "loss", baseline="Adam", treatment="Adam + GC", epoch=1)
    assert summary.loc["Adam", "mean"] == pytest.approx(101.0)


def test_single_seed_has_no_interval():
    results = handmade_results(baseline=[1.0], treatment=[2.0])
    summary = stats.summarize(results, "loss", baseline="Adam", treatment="Adam + GC")
    difference = summary.loc["Adam + GC - Adam"]
    assert difference["mean"] == pytest.approx(1.0)
    assert math.isnan(difference["std"])
    assert math.isnan(difference["ci95_low"]) and math.isnan(difference["ci95_high"])
    assert difference["verdict"] == "undetermined"


def test_diverged_run_is_undetermined():
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[1.0, np.nan, 3.0])
    summary = stats.summarize(results, "loss", baseline="Adam", treatment="Adam + GC")
    assert summary.loc["Adam + GC - Adam", "verdict"] == "undetermined"


def test_summary_rejects_bad_requests():
    results = handmade_results(baseline=[1.0, 2.0], treatment=[1.0, 2.0])
    with pytest.raises(ValueError, match="'RMSprop'"):
        stats.summarize(results, "loss", baseline="RMSprop", treatment="Adam + GC")
    with pytest.raises(ValueError, match="'accuracy'"):
        stats.summarize(results, "accuracy", baseline="Adam", treatment="Adam + GC")
    with pytest.raises(ValueError, match="same seeds"):
        stats.summarize(
            results.drop(index=results.index[-3:]),
            "loss",
            baseline="Adam",
            treatment="Adam + GC",
        )
    sweep = pd.concat([results.assign(learning_rate=0.1), results.assign(learning_rate=0.01)])
    with pytest.raises(ValueError, match="several runs"):
        stats.summarize(sweep, "loss", baseline="Adam", treatment="Adam + GC")


# --- paired statistics --------------------------------------------------------


def paired_frame(baseline, treatment, *, metric="loss", split="test", epoch=1):
    """Results of arms "base" and "GC", seed i holding baseline[i], treatment[i]."""
    rows = [
        (seed, arm, epoch, split, metric, float(value))
        for arm, values in (("base", baseline), ("GC", treatment))
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def one_pair(results, **kwargs):
    (row,) = stats.paired_statistics(results, {"GC": "base"}, **kwargs).itertuples()
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
    "metric, shift, verdict",
    [
        ("loss", -0.2, "better"),
        ("loss", 0.2, "worse"),
        ("accuracy", 0.05, "better"),
        ("accuracy", -0.05, "worse"),
    ],
)
def test_a_planted_shift_is_found_with_the_metrics_direction(metric, shift, verdict):
    level = 0.8 if metric == "accuracy" else 1.0
    baseline, treatment = planted(shift, level=level, noise=0.005)
    row = one_pair(paired_frame(baseline, treatment, metric=metric), metric=metric, split="test")
    assert row.verdict == verdict
    assert row.mean_difference == pytest.approx(shift)
    assert row.ci95_low < shift < row.ci95_high
    assert not row.ci95_low <= 0.0 <= row.ci95_high
    assert np.sign(row.mean_difference) == np.sign(shift)
    # Every seed moves the same way: 12 of 12, and the exact Wilcoxon p for
    # n = 12 with all signs alike, 2 / 2**12.
    better_in = 12 if verdict == "better" else 0
    assert (row.better_in, row.worse_in, row.n) == (better_in, 12 - better_in, 12)
    assert row.wilcoxon_p == pytest.approx(2 / 2**12)
    assert row.better == ("higher" if metric == "accuracy" else "lower")


def test_verdicts_speak_of_better_and_worse_never_higher_or_lower():
    rng = np.random.default_rng(0)
    verdicts = set()
    for metric in ("loss", "accuracy", "mae"):
        for shift in (-0.3, 0.0, 0.3):
            baseline = 0.5 + 0.05 * rng.normal(size=8)
            results = paired_frame(baseline, baseline + shift, metric=metric)
            verdicts.add(one_pair(results, metric=metric, split="test").verdict)
    assert verdicts == {"better", "worse", "no detectable difference"}


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
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    pairs = {f"GC {draw}": f"base {draw}" for draw in range(n_draws)}
    table = stats.paired_statistics(results, pairs, "loss", "test")
    assert len(table) == n_draws and (table["n"] == n_seeds).all()
    covered = (table["ci95_low"] <= 0) & (table["ci95_high"] >= 0)
    assert covered.mean() == pytest.approx(0.95, abs=0.035)
    assert (covered == (table["verdict"] == "no detectable difference")).all()
    assert (table["wilcoxon_p"] < 0.05).mean() <= 0.05 + 0.035


def test_mde_approaches_the_normal_approximation_for_many_seeds():
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)  # 2.8016
    for sd in (0.5, 2.0):
        expected = z * sd / math.sqrt(5000)
        assert stats.minimum_detectable_difference(sd, 5000) == pytest.approx(expected, rel=2e-3)


def test_mde_has_80_percent_power_in_simulation():
    # A paired t-test on 8 differences of SD 1 whose true mean is the MDE
    # rejects (two-sided, alpha 0.05) in 80% of 20,000 simulated studies.
    n, sd = 8, 1.0
    mde = stats.minimum_detectable_difference(sd, n)
    draws = np.random.default_rng(11).normal(mde, sd, size=(20_000, n))
    t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(n))
    power = (np.abs(t) > scipy_stats.t.ppf(0.975, n - 1)).mean()
    assert power == pytest.approx(0.80, abs=0.012)
    # Fewer seeds can only detect larger differences.
    assert (
        stats.minimum_detectable_difference(sd, 4)
        > mde
        > stats.minimum_detectable_difference(sd, 20)
    )


def test_mde_edge_cases():
    assert stats.minimum_detectable_difference(0.0, 5) == 0.0
    assert math.isnan(stats.minimum_detectable_difference(1.0, 1))
    assert math.isnan(stats.minimum_detectable_difference(math.nan, 5))
    with pytest.raises(ValueError, match="power"):
        stats.minimum_detectable_difference(1.0, 5, power=0.01)


def test_no_detectable_difference_comes_with_its_mde():
    rng = np.random.default_rng(3)
    baseline = rng.normal(1.0, 0.2, size=6)
    treatment = baseline + rng.normal(0.0, 0.1, size=6)
    row = one_pair(paired_frame(baseline, treatment), metric="loss", split="test")
    assert row.verdict == "no detectable difference"
    sd = float(np.std(treatment - baseline, ddof=1))
    assert row.sd_difference == pytest.approx(sd)
    assert row.mde80 == pytest.approx(stats.minimum_detectable_difference(sd, 6))
    assert row.mde80 > abs(row.mean_difference)


def test_all_zero_differences():
    row = one_pair(paired_frame([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), metric="loss", split="test")
    assert (row.mean_difference, row.sd_difference) == (0.0, 0.0)
    assert row.wilcoxon_p == 1.0
    assert (row.better_in, row.worse_in) == (0, 0)
    assert row.verdict == "no detectable difference" and row.mde80 == 0.0


def test_a_non_finite_difference_is_counted_but_leaves_the_interval_undetermined():
    row = one_pair(
        paired_frame([1.0, 1.0, 1.0], [0.5, np.nan, np.inf]), metric="loss", split="test"
    )
    assert row.verdict == "undetermined"
    assert (row.better_in, row.worse_in, row.n) == (1, 1, 3)
    assert all(math.isnan(v) for v in (row.ci95_low, row.ci95_high, row.wilcoxon_p, row.mde80))


def test_one_seed_is_undetermined():
    row = one_pair(paired_frame([1.0], [0.5]), metric="loss", split="test")
    assert row.verdict == "undetermined" and row.better_in == 1
    assert math.isnan(row.ci95_low) and math.isnan(row.mde80)


def test_accuracy_intervals_stay_within_their_range():
    # Three seeds at or near 1: the raw t-interval would pass 1.
    results = paired_frame([0.98, 1.0, 0.9], [0.02, 0.0, 0.9], metric="accuracy")
    summary = stats.arm_summary(results, "accuracy", "test").set_index("arm")
    assert summary.loc["base", "ci95_high"] == 1.0
    assert summary.loc["GC", "ci95_low"] == 0.0
    assert summary.loc["base", "ci95_low"] < summary.loc["base", "mean"]
    row = one_pair(results, metric="accuracy", split="test")
    assert row.ci95_low == -1.0 and row.ci95_high < 1.0
    # A loss has no upper bound, but its mean never goes below 0.
    losses = stats.arm_summary(paired_frame([0.0, 0.1, 0.9], [1, 2, 3]), "loss", "test")
    assert losses.loc[0, "ci95_low"] == 0.0


def test_arm_summary_is_tidy():
    summary = stats.arm_summary(paired_frame([1.0, 2.0, 3.0], [1.5, 2.0, 4.0]), "loss", "test")
    assert list(summary.columns) == [
        "arm",
        "metric",
        "split",
        "epoch",
        "window",
        "n",
        "mean",
        "sd",
        "ci95_low",
        "ci95_high",
    ]
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
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


PAIRS = {"Adam + GC": "Adam", "Adam + GC on the update": "Adam"}


def test_differences_are_tidy_and_paired_by_seed():
    differences = stats.paired_differences(curves(), PAIRS, "accuracy", "test", epoch=5)
    assert list(differences.columns) == list(stats.DIFFERENCE_COLUMNS)
    assert len(differences) == 2 * 4
    gc = differences[differences["treatment"] == "Adam + GC"]
    assert (gc["baseline"] == "Adam").all() and (gc["epoch"] == 5).all()
    np.testing.assert_allclose(gc["difference"], 0.01)
    np.testing.assert_allclose(gc["baseline_value"], 0.6 + 0.01 * np.arange(4))


def test_window_averages_the_last_epochs_up_to_the_reporting_epoch():
    differences = stats.paired_differences(curves(), PAIRS, "accuracy", "test", epoch=8, window=3)
    assert (differences["window"] == 3).all()
    # Mean of epochs 6, 7, 8 of 0.5 + 0.02 * epoch: 0.5 + 0.14 (seed 0, Adam).
    assert differences["baseline_value"].iloc[0] == pytest.approx(0.64)
    early = stats.paired_differences(curves(), PAIRS, "accuracy", "test", epoch=2, window=3)
    assert (early["window"] == 2).all()  # only epochs 1 and 2 exist
    assert early["baseline_value"].iloc[0] == pytest.approx(0.53)


def test_window_needs_every_epoch_and_says_how_to_get_it():
    results = curves()
    once = results[(results["split"] != "test") | (results["epoch"] == 10)]
    with pytest.raises(ValueError, match="run_study"):
        stats.paired_differences(once, PAIRS, "accuracy", "test", window=3)
    with pytest.raises(ValueError, match="window"):
        stats.paired_differences(results, PAIRS, "accuracy", "test", window=0)


def test_report_holds_the_three_fixed_quantities():
    report = stats.paired_report(curves(), PAIRS, ["accuracy"])
    assert list(report.columns) == list(stats.STATISTICS_COLUMNS)
    train = report[report["split"] == "train"]
    assert sorted(set(train["epoch"])) == list(range(1, 11))
    assert (train["metric"] == "loss").all() and len(train) == 10 * 2
    test = report[report["split"] == "test"]
    assert sorted(zip(test["epoch"], test["window"], strict=True)) == [(10, 1)] * 2 + [(10, 3)] * 2
    gc = report[report["treatment"] == "Adam + GC"]
    assert (gc["verdict"] == "better").all()
    update = report[report["treatment"] == "Adam + GC on the update"]
    assert (update["verdict"] == "no detectable difference").all()
    at_5 = stats.paired_report(curves(), PAIRS, ["accuracy"], reporting_epoch=5)
    assert at_5["epoch"].max() == 5


def test_statistics_keep_extra_key_columns():
    differences = pd.concat(
        [
            stats.paired_differences(curves(), PAIRS, "accuracy", "test").assign(study=name)
            for name in ("one", "two")
        ]
    )
    table = stats.difference_statistics(differences)
    assert list(table.columns[:7]) == [*stats.STATISTICS_COLUMNS[:6], "study"]
    assert len(table) == 4 and set(table["study"]) == {"one", "two"}


def test_unknown_metric_needs_a_direction():
    results = paired_frame([1.0, 2.0], [1.5, 2.5], metric="fare_error")
    with pytest.raises(ValueError, match="better='lower' or better='higher'"):
        stats.paired_statistics(results, {"GC": "base"}, "fare_error", "test")
    (row,) = stats.paired_statistics(
        results, {"GC": "base"}, "fare_error", "test", better="higher"
    ).itertuples()
    assert row.better == "higher" and row.better_in == 2
    with pytest.raises(ValueError, match="'lower' or 'higher'"):
        stats.paired_statistics(results, {"GC": "base"}, "fare_error", "test", better="up")


def test_paired_statistics_reject_bad_pairs():
    results = curves()
    with pytest.raises(ValueError, match="at least one pair"):
        stats.paired_statistics(results, {}, "accuracy", "test")
    with pytest.raises(ValueError, match="'SGD'"):
        stats.paired_statistics(results, {"SGD + GC": "SGD"}, "accuracy", "test")
    unpaired = results[~((results["arm"] == "Adam") & (results["seed"] == 3))]
    with pytest.raises(ValueError, match=r"same seeds \(unpaired: \[3\]\)"):
        stats.paired_statistics(unpaired, PAIRS, "accuracy", "test")
    sweep = pd.concat([results.assign(learning_rate=r) for r in (0.1, 0.01)])
    with pytest.raises(ValueError, match="several runs"):
        stats.paired_statistics(sweep, PAIRS, "accuracy", "test")
