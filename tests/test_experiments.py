"""Specification of gc_tutorial.experiments: profiles, paired runs, summaries.

The runs here train tiny Dense models on small synthetic arrays: they test
the machinery (same start for every arm, tidy output, statistics), not GC.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import gc_tutorial
from gc_tutorial import experiments
from gc_tutorial.experiments import (
    PROFILE_ENV,
    REACH_COLUMNS,
    compare_optimizers,
    current_profile,
    epochs_to_reach,
    lr_sweep,
    summarize,
    summarize_epochs_to_reach,
)

COMPILE = {"loss": "mse", "metrics": ["mae"]}
N_FEATURES = 4


def regression_data(seed: int) -> tuple[tf.data.Dataset, ...]:
    """Fresh train/validation/test pipelines; the train order depends on seed."""
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(96, N_FEATURES)).astype("float32")
    y = (x @ np.arange(1, N_FEATURES + 1, dtype="float32"))[:, None]
    train = (
        tf.data.Dataset.from_tensor_slices((x[:64], y[:64]))
        .shuffle(64, seed=seed)
        .batch(16)
    )
    validation = tf.data.Dataset.from_tensor_slices((x[64:80], y[64:80])).batch(16)
    test = tf.data.Dataset.from_tensor_slices((x[80:], y[80:])).batch(16)
    return train, validation, test


class RecordingBuilder:
    """``build_model`` that keeps every model it builds, in order.

    With ``seed_independent=True`` each model's initializer is seeded by a
    call counter, so no two builds share weights whatever the global seed:
    only an explicit weight copy can make two arms start alike.
    """

    def __init__(self, seed_independent: bool = False):
        self.models: list[keras.Model] = []
        self._counter = itertools.count(1000)
        self._seed_independent = seed_independent

    def __call__(self) -> keras.Model:
        initializer = (
            keras.initializers.GlorotUniform(seed=next(self._counter))
            if self._seed_independent
            else "glorot_uniform"
        )
        model = keras.Sequential(
            [
                keras.Input(shape=(N_FEATURES,)),
                keras.layers.Dense(
                    8, activation="relu", kernel_initializer=initializer
                ),
                keras.layers.Dropout(0.2),
                keras.layers.Dense(1, kernel_initializer=initializer),
            ]
        )
        self.models.append(model)
        return model


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


# --- Profiles -------------------------------------------------------------


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert current_profile().name == "full"


def test_full_profile_is_the_book_settings(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "full")
    assert dataclasses.asdict(current_profile()) == {
        "name": "full",
        "taxi_seeds": (0, 1, 2, 3, 4),
        "taxi_epochs": 10,
        "lr_grid": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
        "sweep_seeds": (0, 1, 2),
        "sweep_epochs": 10,
        "hoh_seeds": (0, 1, 2),
        "hoh_epochs": 10,
        "hoh_image_size": 300,
        "hoh_train_subset": None,
        "hoh_test_subset": None,
    }


def test_smoke_profile_is_small(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "smoke")
    assert dataclasses.asdict(current_profile()) == {
        "name": "smoke",
        "taxi_seeds": (0, 1),
        "taxi_epochs": 2,
        "lr_grid": (1e-3, 3e-2),
        "sweep_seeds": (0,),
        "sweep_epochs": 2,
        "hoh_seeds": (0,),
        "hoh_epochs": 1,
        "hoh_image_size": 100,
        "hoh_train_subset": 128,
        "hoh_test_subset": 64,
    }


def test_profiles_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        experiments.PROFILES["full"].taxi_epochs = 1


def test_unknown_profile_names_the_variable_and_choices(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    with pytest.raises(ValueError, match="GC_TUTORIAL_PROFILE") as error:
        current_profile()
    assert "'full'" in str(error.value) and "'smoke'" in str(error.value)


# --- compare_optimizers ---------------------------------------------------


@pytest.fixture(scope="module")
def paired_run():
    """Two seeds, two identical SGD arms and one Adam arm, two epochs."""
    builder = RecordingBuilder()
    results = compare_optimizers(
        builder,
        {
            "SGD": lambda: keras.optimizers.SGD(0.01),
            "SGD again": lambda: keras.optimizers.SGD(0.01),
            "Adam": lambda: keras.optimizers.Adam(0.01),
        },
        regression_data,
        seeds=(0, 1),
        epochs=2,
        compile_kwargs=COMPILE,
    )
    return builder, results


def test_results_are_tidy(paired_run):
    _, results = paired_run
    assert list(results.columns) == ["seed", "arm", "epoch", "split", "metric", "value"]
    assert set(results["seed"]) == {0, 1}
    assert list(results["arm"].unique()) == ["SGD", "SGD again", "Adam"]
    assert set(results["split"]) == {"train", "validation", "test"}
    metrics_by_split = results.groupby("split")["metric"].agg(set).to_dict()
    assert metrics_by_split == {
        "train": {"loss", "mae", "epoch_time_s"},
        "validation": {"loss", "mae"},
        "test": {"loss", "mae"},
    }
    assert not results.duplicated(["seed", "arm", "epoch", "split", "metric"]).any()


def test_train_and_validation_every_epoch_test_once_at_the_end(paired_run):
    _, results = paired_run
    for split, epochs in [("train", {1, 2}), ("validation", {1, 2}), ("test", {2})]:
        rows = results[results["split"] == split]
        assert set(rows["epoch"]) == epochs
        assert len(rows) == rows.groupby(["seed", "arm", "metric"]).ngroups * len(
            epochs
        )


def test_epoch_wall_time_is_recorded(paired_run):
    _, results = paired_run
    times = results[results["metric"] == "epoch_time_s"]
    assert len(times) == 2 * 3 * 2  # seeds x arms x epochs
    assert (times["value"] > 0).all()
    assert (times["split"] == "train").all()


def test_identical_arms_give_identical_results(paired_run):
    # Same initial weights, data order and dropout draws: two copies of one
    # arm must retrace each other exactly, epoch time aside.
    _, results = paired_run
    scores = results[results["metric"] != "epoch_time_s"]
    keys = ["seed", "epoch", "split", "metric"]
    first = scores[scores["arm"] == "SGD"].set_index(keys)["value"]
    second = scores[scores["arm"] == "SGD again"].set_index(keys)["value"]
    pd.testing.assert_series_equal(first, second)


def test_arms_with_different_optimizers_differ(paired_run):
    _, results = paired_run
    loss = results[(results["metric"] == "loss") & (results["split"] == "test")]
    by_arm = loss.set_index(["seed", "arm"])["value"]
    assert by_arm[(0, "SGD")] != by_arm[(0, "Adam")]


def test_seeds_give_different_initial_weights(paired_run):
    builder, _ = paired_run
    # Builds per seed: one reference, then one per arm (3 arms).
    first_seed_reference, second_seed_reference = builder.models[0], builder.models[4]
    assert not np.array_equal(
        first_seed_reference.get_weights()[0], second_seed_reference.get_weights()[0]
    )


def test_initial_weights_are_those_the_seed_gives(paired_run):
    builder, _ = paired_run
    keras.utils.set_random_seed(1)
    assert_same_weights(RecordingBuilder()(), builder.models[4])


def test_every_arm_starts_from_the_reference_weights():
    # The builder never repeats weights, and a learning rate of 0 keeps the
    # weights where training started: so each arm's final weights are its
    # initial ones, which must be the seed's reference build's.
    builder = RecordingBuilder(seed_independent=True)
    frozen = {
        "frozen": lambda: keras.optimizers.SGD(0.0),
        "frozen + GC": lambda: gc_tutorial.GCSGD(0.0),
    }
    results = compare_optimizers(
        builder, frozen, regression_data, seeds=(3,), epochs=1, compile_kwargs=COMPILE
    )
    reference, *arm_models = builder.models
    assert len(arm_models) == 2
    for model in arm_models:
        assert_same_weights(model, reference)
    test_loss = results[(results["split"] == "test") & (results["metric"] == "loss")]
    assert test_loss["value"].nunique() == 1


@pytest.mark.parametrize(
    "arms, seeds, epochs, match",
    [
        ({}, (0,), 1, "arm"),
        ({"SGD": keras.optimizers.SGD}, (), 1, "seed"),
        ({"SGD": keras.optimizers.SGD}, (0,), 0, "epochs"),
    ],
)
def test_compare_optimizers_rejects_empty_or_zero(arms, seeds, epochs, match):
    with pytest.raises(ValueError, match=match):
        compare_optimizers(
            RecordingBuilder(), arms, regression_data, seeds, epochs, COMPILE
        )


# --- summarize --------------------------------------------------------------

T_975_2DOF = 4.302652729911275  # Student's t, 97.5th percentile, 2 dof


def handmade_results(baseline, treatment, metric="loss", split="test"):
    """One value per seed for each arm at epoch 2, with decoys at epoch 1."""
    rows = []
    for arm, values in [("Adam", baseline), ("Adam + GC", treatment)]:
        for seed, value in enumerate(values):
            rows.append((seed, arm, 2, split, metric, value))
            rows.append((seed, arm, 1, split, metric, 100.0 + seed))
            rows.append((seed, arm, 2, split, "other", -50.0))
    return pd.DataFrame(rows, columns=list(experiments.RESULT_COLUMNS))


def test_summary_per_arm_and_paired_difference():
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[1.5, 2.0, 4.0])
    summary = summarize(
        results, "loss", split="test", baseline="Adam", treatment="Adam + GC"
    )
    assert list(summary.index) == ["Adam", "Adam + GC", "Adam + GC - Adam"]
    assert list(summary.columns) == [
        "mean", "std", "n", "ci95_low", "ci95_high", "verdict"
    ]
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
    assert summary.loc["Adam", "ci95_low"] == pytest.approx(
        2.0 - T_975_2DOF / math.sqrt(3)
    )


def test_consistent_difference_is_not_noise():
    # Differences -0.5, -0.6, -0.4: mean -0.5, std 0.1, interval below 0,
    # although the arms' own spreads (std 1) overlap widely.
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[0.5, 1.4, 2.6])
    summary = summarize(results, "loss", baseline="Adam", treatment="Adam + GC")
    difference = summary.loc["Adam + GC - Adam"]
    assert difference["mean"] == pytest.approx(-0.5)
    half_width = T_975_2DOF * 0.1 / math.sqrt(3)
    assert difference["ci95_high"] == pytest.approx(-0.5 + half_width)
    assert difference["verdict"] == "Adam + GC lower"
    flipped = summarize(results, "loss", baseline="Adam + GC", treatment="Adam")
    assert flipped.loc["Adam - Adam + GC", "verdict"] == "Adam higher"


def test_summary_takes_the_requested_epoch():
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[1.0, 2.0, 3.0])
    summary = summarize(
        results, "loss", baseline="Adam", treatment="Adam + GC", epoch=1
    )
    assert summary.loc["Adam", "mean"] == pytest.approx(101.0)


def test_single_seed_has_no_interval():
    results = handmade_results(baseline=[1.0], treatment=[2.0])
    summary = summarize(results, "loss", baseline="Adam", treatment="Adam + GC")
    difference = summary.loc["Adam + GC - Adam"]
    assert difference["mean"] == pytest.approx(1.0)
    assert math.isnan(difference["std"])
    assert math.isnan(difference["ci95_low"]) and math.isnan(difference["ci95_high"])
    assert difference["verdict"] == "undetermined"


def test_diverged_run_is_undetermined():
    results = handmade_results(baseline=[1.0, 2.0, 3.0], treatment=[1.0, np.nan, 3.0])
    summary = summarize(results, "loss", baseline="Adam", treatment="Adam + GC")
    assert summary.loc["Adam + GC - Adam", "verdict"] == "undetermined"


def test_summary_rejects_bad_requests():
    results = handmade_results(baseline=[1.0, 2.0], treatment=[1.0, 2.0])
    with pytest.raises(ValueError, match="'RMSprop'"):
        summarize(results, "loss", baseline="RMSprop", treatment="Adam + GC")
    with pytest.raises(ValueError, match="'accuracy'"):
        summarize(results, "accuracy", baseline="Adam", treatment="Adam + GC")
    with pytest.raises(ValueError, match="same seeds"):
        summarize(
            results.drop(index=results.index[-3:]),
            "loss",
            baseline="Adam",
            treatment="Adam + GC",
        )
    sweep = pd.concat(
        [results.assign(learning_rate=0.1), results.assign(learning_rate=0.01)]
    )
    with pytest.raises(ValueError, match="several runs"):
        summarize(sweep, "loss", baseline="Adam", treatment="Adam + GC")


# --- lr_sweep ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep():
    return lr_sweep(
        RecordingBuilder(),
        {"SGD": keras.optimizers.SGD, "SGD + GC": gc_tutorial.GCSGD},
        learning_rates=(0.01, 1e6),
        data=regression_data,
        seeds=(0,),
        epochs=1,
        compile_kwargs=COMPILE,
    )


def test_sweep_adds_learning_rate_to_the_tidy_columns(sweep):
    assert list(sweep.columns) == [
        "learning_rate", "seed", "arm", "epoch", "split", "metric", "value"
    ]
    assert set(sweep["learning_rate"]) == {0.01, 1e6}


def test_sweep_has_one_final_value_per_seed_rate_and_arm(sweep):
    final = sweep[(sweep["split"] == "validation") & (sweep["metric"] == "loss")]
    assert len(final) == 1 * 2 * 2
    assert not final.duplicated(["learning_rate", "seed", "arm"]).any()


def test_sweep_keeps_diverged_runs_as_non_finite(sweep):
    loss = sweep[(sweep["metric"] == "loss") & (sweep["split"] != "train")]
    stable = loss[loss["learning_rate"] == 0.01]["value"]
    diverged = loss[loss["learning_rate"] == 1e6]["value"]
    assert np.isfinite(stable).all()
    assert not np.isfinite(diverged).any()


def test_sweep_rejects_empty_grid():
    with pytest.raises(ValueError, match="learning rate"):
        lr_sweep(
            RecordingBuilder(),
            {"SGD": keras.optimizers.SGD},
            (),
            regression_data,
            (0,),
            1,
            COMPILE,
        )


# --- epochs_to_reach / summarize_epochs_to_reach ----------------------------


def validation_curves(curves: dict[tuple[str, int], list[float]], metric="mae"):
    """A results frame whose validation ``metric`` follows the given curves."""
    rows = []
    for (arm, seed), values in curves.items():
        for epoch, value in enumerate(values, start=1):
            rows.append((seed, arm, epoch, "validation", metric, value))
            rows.append((seed, arm, epoch, "train", metric, -1.0))
    return pd.DataFrame(rows, columns=list(experiments.RESULT_COLUMNS))


def reach(frame, targets, mode, arm="Adam", seed=0):
    reached = epochs_to_reach(frame, "mae", targets, mode=mode)
    run = reached[(reached["arm"] == arm) & (reached["seed"] == seed)]
    return run["epoch"].tolist()


def test_reaching_a_lower_target_is_the_first_epoch_at_or_below_it():
    frame = validation_curves({("Adam", 0): [3.0, 2.0, 2.5, 1.0]})
    assert reach(frame, [3.5, 3.0, 2.2, 2.0, 1.5, 0.5], "min") == [
        1, 1, 2, 2, 4, math.inf
    ]


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
    frame = validation_curves({
        ("Adam", 0): [3.0, 2.0], ("Adam", 1): [2.0, 1.0],
        ("Adam + GC", 0): [2.5, 1.5], ("Adam + GC", 1): [2.5, 0.5],
    })
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


def test_reach_summary_counts_medians_ranges_and_paired_order():
    # Target 2.0: Adam needs 1, 2, never; GC needs 1, 1, 3.
    # Target 0.0: nobody gets there.
    frame = validation_curves({
        ("Adam", 0): [2.0, 1.0, 1.0], ("Adam", 1): [3.0, 2.0, 2.0], ("Adam", 2): [3.0, 3.0, 3.0],
        ("Adam + GC", 0): [2.0, 1.0, 1.0], ("Adam + GC", 1): [2.0, 2.0, 2.0],
        ("Adam + GC", 2): [3.0, 3.0, 2.0],
    })
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


def test_reach_summary_rejects_bad_requests():
    frame = validation_curves({
        ("Adam", 0): [2.0], ("Adam", 1): [2.0], ("Adam + GC", 0): [2.0],
    })
    reached = epochs_to_reach(frame, "mae", [2.0], mode="min")
    with pytest.raises(ValueError, match="both 'Adam'"):
        summarize_epochs_to_reach(reached, baseline="Adam", treatment="Adam")
    with pytest.raises(ValueError, match="'SGD'"):
        summarize_epochs_to_reach(reached, baseline="SGD", treatment="Adam")
    with pytest.raises(ValueError, match="same seeds"):
        summarize_epochs_to_reach(reached, baseline="Adam", treatment="Adam + GC")
