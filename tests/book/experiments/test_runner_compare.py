"""Specification of compare_optimizers and lr_sweep: paired runs in one process.

The runs here train tiny Dense models on small synthetic arrays: they test
the machinery (same start for every arm, tidy output), not GC.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import gc_tutorial
from gc_tutorial.book.experiments import compare_optimizers, lr_sweep

COMPILE = {"loss": "mse", "metrics": ["mae"]}
N_FEATURES = 4


def regression_data(seed: int) -> tuple[tf.data.Dataset, ...]:
    """Fresh train/validation/test pipelines; the train order depends on seed."""
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(96, N_FEATURES)).astype("float32")
    y = (x @ np.arange(1, N_FEATURES + 1, dtype="float32"))[:, None]
    train = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).shuffle(64, seed=seed).batch(16)
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
                keras.layers.Dense(8, activation="relu", kernel_initializer=initializer),
                keras.layers.Dropout(0.2),
                keras.layers.Dense(1, kernel_initializer=initializer),
            ]
        )
        self.models.append(model)
        return model


def assert_same_weights(a: keras.Model, b: keras.Model) -> None:
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


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
        assert len(rows) == rows.groupby(["seed", "arm", "metric"]).ngroups * len(epochs)


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
        compare_optimizers(RecordingBuilder(), arms, regression_data, seeds, epochs, COMPILE)


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
        "learning_rate",
        "seed",
        "arm",
        "epoch",
        "split",
        "metric",
        "value",
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
