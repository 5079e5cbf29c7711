"""Specification of the book's studies as data, and of the data each one trains on.

The data tests read the real data: the folder named by
``$GC_TUTORIAL_DATA`` or, if that is unset, ``shared/data`` beside the
repository clone. The taxi-fare preparation they build on is
``test_taxi_features.py``'s.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pandas as pd
import pytest

import gc_tutorial
from gc_tutorial.book.experiments import (
    RESULT_COLUMNS,
    VALUE_COLUMNS,
    Arm,
    Study,
    pilot_choice,
    run_study,
)
from gc_tutorial.book.experiments.studies import (
    HOLD_OUT_FRACTION,
    HORSES_OR_HUMANS_BUDGET,
    HORSES_OR_HUMANS_PILOT,
    HORSES_OR_HUMANS_PILOT_GRIDS,
    HORSES_OR_HUMANS_TUNED,
    HORSES_OR_HUMANS_TUNED_RATES,
    HORSES_OR_HUMANS_TUNED_SEEDS,
    METHODS,
    NYC_TAXI,
    NYC_TAXI_LR_SWEEP,
    NYC_TAXI_LR_SWEEP_GRID,
    NYC_TAXI_LR_SWEEP_SMOKE_GRID,
    NYC_TAXI_SGD_PILOT,
    STUDIES,
    horses_or_humans_data,
    horses_or_humans_pilot_data,
    horses_or_humans_tuned,
    lr_sweep_frame,
    resolve_study,
    taxi_fare_data,
    taxi_fare_pilot_data,
)
from gc_tutorial.book.experiments.taxi import taxi_fare_arrays

UPDATE_ARM = "Adam + GC on the update"

# The studies that compare GC arms with their baselines (the pilot only tunes).
COMPARISONS = {"horses_or_humans_tuned": HORSES_OR_HUMANS_TUNED, "nyc_taxi": NYC_TAXI}


# --- The studies ----------------------------------------------------------


def test_the_registry_holds_every_study_by_name():
    assert dict(STUDIES) == {
        "horses_or_humans_pilot": HORSES_OR_HUMANS_PILOT,
        "horses_or_humans_tuned": HORSES_OR_HUMANS_TUNED,
        "nyc_taxi": NYC_TAXI,
        "nyc_taxi_sgd_pilot": NYC_TAXI_SGD_PILOT,
        "nyc_taxi_lr_sweep": NYC_TAXI_LR_SWEEP,
    }


@pytest.mark.parametrize("study", COMPARISONS.values(), ids=list(COMPARISONS))
def test_smoke_is_smaller_than_full_in_every_dimension(study):
    full, smoke = study.scale("full"), study.scale("smoke")
    assert set(smoke.seeds) < set(full.seeds)
    assert 1 <= smoke.epochs < full.epochs
    assert smoke.batch_size == full.batch_size
    for field in ("train_subset", "test_subset"):
        assert getattr(full, field) is None, f"{field}: full uses all the data"
        assert getattr(smoke, field) >= 1, field
    if full.image_size is not None:
        assert 1 <= smoke.image_size <= full.image_size


def test_full_profiles_follow_the_design():
    hoh, taxi = HORSES_OR_HUMANS_TUNED.scale("full"), NYC_TAXI.scale("full")
    assert len(hoh.seeds) == 20 and hoh.epochs == HORSES_OR_HUMANS_BUDGET == 50
    assert hoh.image_size == 100
    assert len(taxi.seeds) == 20 and taxi.epochs == 10 and taxi.image_size is None


@pytest.mark.parametrize(
    "study",
    [HORSES_OR_HUMANS_TUNED, HORSES_OR_HUMANS_PILOT],
    ids=["study", "pilot"],
)
def test_the_gpu_profile_is_the_full_one_at_keras_io_image_size(study):
    full, gpu = study.scale("full"), study.scale("gpu")
    assert gpu == dataclasses.replace(full, image_size=300)


@pytest.mark.parametrize("study", COMPARISONS.values(), ids=list(COMPARISONS))
def test_every_gc_arm_is_paired_with_its_plain_baseline(study):
    assert set(study.pairs) | set(study.pairs.values()) == set(study.arms)
    for gc_arm, baseline in study.pairs.items():
        assert gc_arm.startswith(baseline + " + GC"), (gc_arm, baseline)
    assert study.pairs[UPDATE_ARM] == "Adam"


def optimizer_of(study: Study, arm: str) -> keras.optimizers.Optimizer:
    return study.arms[arm]()


@pytest.mark.parametrize(
    "study, arm, cls, learning_rate",
    [
        *(
            (HORSES_OR_HUMANS_TUNED, method, cls, HORSES_OR_HUMANS_TUNED_RATES[method])
            for method, cls in [
                ("RMSprop", keras.optimizers.RMSprop),
                ("RMSprop + GC", gc_tutorial.GCRMSprop),
                ("SGD momentum", keras.optimizers.SGD),
                ("SGD momentum + GC", gc_tutorial.GCSGD),
                ("Adam", keras.optimizers.Adam),
                ("Adam + GC", gc_tutorial.GCAdam),
            ]
        ),
        (NYC_TAXI, "Adam + GC", gc_tutorial.GCAdam, 1e-3),
    ],
)
def test_arms_build_the_stated_optimizer(study, arm, cls, learning_rate):
    optimizer = optimizer_of(study, arm)
    # isinstance: on PyTorch keras.optimizers.Adam() is Keras's fused subclass.
    assert isinstance(optimizer, cls)
    assert float(optimizer.learning_rate) == pytest.approx(learning_rate)
    if arm.startswith("SGD"):
        assert optimizer.momentum == 0.9
    assert optimizer_of(study, arm) is not optimizer  # a new one per run


@pytest.mark.parametrize("study", COMPARISONS.values(), ids=list(COMPARISONS))
def test_the_update_arm_is_adam_gc_acting_on_the_update(study):
    optimizer = study.arms[UPDATE_ARM]()
    assert type(optimizer) is gc_tutorial.GCAdam and optimizer.where == "update"


def test_studies_resolve_by_name_or_import_path():
    assert resolve_study("nyc_taxi") is NYC_TAXI
    by_path = "gc_tutorial.book.experiments.studies:HORSES_OR_HUMANS_TUNED"
    assert resolve_study(by_path) is HORSES_OR_HUMANS_TUNED
    with pytest.raises(ValueError, match="module:ATTRIBUTE"):
        resolve_study("cifar")
    with pytest.raises(ValueError, match="does not name a gc_tutorial.book.experiments.Study"):
        resolve_study("gc_tutorial.book.experiments.studies:Scale")


def test_horses_or_humans_smoke_data(real_data):
    scale = HORSES_OR_HUMANS_TUNED.scale("smoke")
    train, validation, test = horses_or_humans_data(0, scale)
    assert validation is None
    images, labels = next(iter(train))
    assert tuple(images.shape) == (scale.batch_size, 100, 100, 3)
    assert HORSES_OR_HUMANS_TUNED.build_model(scale).input_shape == (None, 100, 100, 3)
    assert sum(len(y) for _, y in test) == scale.test_subset


def test_the_pilot_holds_out_part_of_each_class_of_the_training_split_only(real_data):
    scale = HORSES_OR_HUMANS_PILOT.scale("smoke")
    train, validation, test = horses_or_humans_pilot_data(0, scale)
    assert test is None, "the pilot must never see the test split"
    assert len(train.y) + len(validation.y) == scale.train_subset
    for label in (0, 1):
        in_class = np.sum(train.y == label) + np.sum(validation.y == label)
        assert np.sum(validation.y == label) == round(HOLD_OUT_FRACTION * in_class)
    other_seed, same_held_out, _ = horses_or_humans_pilot_data(1, scale)
    np.testing.assert_array_equal(same_held_out.x, validation.x)
    assert not np.array_equal(other_seed.order, train.order)


# --- The tuned horses-or-humans study and its pilot ----------------------------


def test_the_pilot_tries_every_method_at_every_rate_of_its_grid():
    assert set(HORSES_OR_HUMANS_PILOT_GRIDS) == set(METHODS)
    built = {
        (arm.method, arm.learning_rate)
        for arm in HORSES_OR_HUMANS_PILOT.arms.values()
        if isinstance(arm, Arm)
    }
    grid = {(m, rate) for m, rates in HORSES_OR_HUMANS_PILOT_GRIDS.items() for rate in rates}
    assert built == grid and len(HORSES_OR_HUMANS_PILOT.arms) == len(grid)


def test_each_grid_is_at_least_three_rates_a_log_step_apart_the_same_with_and_without_gc():
    for method, rates in HORSES_OR_HUMANS_PILOT_GRIDS.items():
        assert len(rates) >= 3 and list(rates) == sorted(rates)
        steps = np.diff(np.log10(rates))
        assert np.all((steps > 0.4) & (steps < 0.6)), method
        plain = method.split(" + ")[0]
        assert rates == HORSES_OR_HUMANS_PILOT_GRIDS[plain], method


def test_the_pilot_and_the_tuned_study_share_the_budget_and_never_the_seeds():
    study = horses_or_humans_tuned({method: 1e-3 for method in METHODS})
    pilot, full = HORSES_OR_HUMANS_PILOT.scale("full"), study.scale("full")
    assert pilot.epochs == full.epochs == HORSES_OR_HUMANS_BUDGET
    assert (pilot.batch_size, pilot.image_size) == (full.batch_size, full.image_size)
    assert full.seeds == HORSES_OR_HUMANS_TUNED_SEEDS and len(full.seeds) >= 20
    assert not set(pilot.seeds) & set(full.seeds)
    assert HORSES_OR_HUMANS_PILOT.data is horses_or_humans_pilot_data
    assert study.data is horses_or_humans_data


def test_the_tuned_study_runs_each_method_at_its_own_rate():
    rates = {method: 10.0 ** -(i + 1) for i, method in enumerate(METHODS)}
    study = horses_or_humans_tuned(rates)
    assert list(study.arms) == list(METHODS)
    for method, arm in study.arms.items():
        assert float(arm().learning_rate) == pytest.approx(rates[method])
    assert study.pairs == {
        "RMSprop + GC": "RMSprop",
        "SGD momentum + GC": "SGD momentum",
        "Adam + GC": "Adam",
        UPDATE_ARM: "Adam",
    }
    assert study.test_metrics == ("accuracy", "loss")
    with pytest.raises(ValueError, match="Give a rate for each"):
        horses_or_humans_tuned({"Adam": 1e-3})


def test_the_pilot_records_validation_only_with_method_and_rate_in_columns(real_data, tmp_path):
    results = run_study(HORSES_OR_HUMANS_PILOT.name, "smoke", tmp_path / "pilot.csv")
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert set(results["split"]) == {"train", "validation"}
    runs = results.drop_duplicates("arm").set_index("arm")
    for arm in HORSES_OR_HUMANS_PILOT.planned_arms("smoke"):
        factory = HORSES_OR_HUMANS_PILOT.arms[arm]
        assert (runs.loc[arm, "method"], runs.loc[arm, "learning_rate"]) == (
            factory.method,
            factory.learning_rate,
        )
    assert set(pilot_choice(results)["arm"]) == set(HORSES_OR_HUMANS_PILOT.planned_arms("smoke"))


def test_the_taxi_pilot_never_loads_the_test_split(real_data):
    assert NYC_TAXI_SGD_PILOT.data is taxi_fare_pilot_data
    train, validation, test = taxi_fare_pilot_data(0, NYC_TAXI.scale("smoke"))
    assert test is None and len(validation.x) == 256


# --- The taxi-fare learning-rate sweep ---------------------------------------

SWEEP_OPTIMIZERS = {
    "Adam": keras.optimizers.Adam,
    "Adam + GC": gc_tutorial.GCAdam,
    "Adam + GC on the update": gc_tutorial.GCAdam,
}


def test_the_sweep_has_one_arm_per_optimizer_and_rate_named_like_the_pilots():
    assert list(NYC_TAXI_LR_SWEEP.arms) == [
        f"{optimizer}, lr {lr:g}" for optimizer in SWEEP_OPTIMIZERS for lr in NYC_TAXI_LR_SWEEP_GRID
    ]
    for optimizer, cls in SWEEP_OPTIMIZERS.items():
        for lr in NYC_TAXI_LR_SWEEP_GRID:
            built = NYC_TAXI_LR_SWEEP.arms[f"{optimizer}, lr {lr:g}"]()
            assert isinstance(built, cls) and float(built.learning_rate) == pytest.approx(lr)
            if cls is gc_tutorial.GCAdam:
                assert built.where == ("update" if "update" in optimizer else "gradient")


def test_each_sweep_gc_arm_is_paired_with_adam_at_its_rate():
    assert len(NYC_TAXI_LR_SWEEP.pairs) == 2 * len(NYC_TAXI_LR_SWEEP_GRID)
    for gc_arm, baseline in NYC_TAXI_LR_SWEEP.pairs.items():
        optimizer, rate = gc_arm.split(", lr ")
        assert optimizer in ("Adam + GC", "Adam + GC on the update")
        assert baseline == f"Adam, lr {rate}"


def test_the_sweep_trains_the_taxi_model_on_the_taxi_data():
    same = ("build_model", "data", "compile_kwargs", "test_metrics")
    assert all(getattr(NYC_TAXI_LR_SWEEP, field) == getattr(NYC_TAXI, field) for field in same)


def test_the_sweep_profiles():
    full, smoke = NYC_TAXI_LR_SWEEP.scale("full"), NYC_TAXI_LR_SWEEP.scale("smoke")
    assert (full.seeds, full.epochs, full.batch_size) == ((0, 1, 2), 10, 32)
    assert full.train_subset is full.test_subset is full.arms is None
    assert (smoke.seeds, smoke.epochs, smoke.train_subset, smoke.test_subset) == ((0,), 2, 512, 256)
    assert set(NYC_TAXI_LR_SWEEP_SMOKE_GRID) < set(NYC_TAXI_LR_SWEEP_GRID)
    assert NYC_TAXI_LR_SWEEP.planned_arms("smoke") == tuple(
        f"{optimizer}, lr {lr:g}"
        for optimizer in SWEEP_OPTIMIZERS
        for lr in NYC_TAXI_LR_SWEEP_SMOKE_GRID
    )


def sweep_results(arms: list[str], seeds=(1, 0)) -> pd.DataFrame:
    """Two rows per run (validation loss at epochs 1 and 2), runs in the order given."""
    rows = []
    for arm in arms:
        method, _, rate = arm.partition(", lr ")
        rows += [
            (seed, arm, method, float(rate or "nan"), epoch, "validation", "loss", float(epoch))
            for seed in seeds
            for epoch in (1, 2)
        ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def test_the_sweep_frame_orders_runs_by_rate_seed_and_method():
    results = sweep_results(
        ["Adam + GC, lr 1", "Adam, lr 0.001", "Adam, lr 1", "Adam + GC, lr 0.001"]
    )
    frame = lr_sweep_frame(results)
    assert list(frame.columns) == ["learning_rate", *VALUE_COLUMNS]
    assert "method" not in frame.columns
    runs = frame.drop_duplicates(["learning_rate", "seed", "arm"])
    assert list(zip(runs["learning_rate"], runs["seed"], runs["arm"], strict=True)) == [
        (0.001, 0, "Adam"),
        (0.001, 0, "Adam + GC"),
        (0.001, 1, "Adam"),
        (0.001, 1, "Adam + GC"),
        (1.0, 0, "Adam"),
        (1.0, 0, "Adam + GC"),
        (1.0, 1, "Adam"),
        (1.0, 1, "Adam + GC"),
    ]
    assert list(frame["epoch"][:2]) == [1, 2]  # each run's rows keep their order
    assert len(frame) == len(results)


def test_the_sweep_frame_refuses_arms_of_other_studies():
    with pytest.raises(ValueError, match=r"not 'nyc_taxi_lr_sweep''s: \['SGD'\]"):
        lr_sweep_frame(sweep_results(["SGD, lr 0.1"]))


def test_the_sweep_smoke_study_runs_through_the_runner(real_data, tmp_path):
    frame = lr_sweep_frame(run_study(NYC_TAXI_LR_SWEEP.name, "smoke", tmp_path / "sweep.csv"))
    final = frame[(frame["split"] == "validation") & (frame["metric"] == "loss")]
    final = final[final["epoch"] == 2]
    assert set(final["learning_rate"]) == set(NYC_TAXI_LR_SWEEP_SMOKE_GRID)
    assert set(final["arm"]) == set(SWEEP_OPTIMIZERS)
    assert len(final) == len(NYC_TAXI_LR_SWEEP_SMOKE_GRID) * len(SWEEP_OPTIMIZERS)


# --- The taxi-fare study's data ---------------------------------------------


def test_taxi_data_subsets_and_shuffles_only_training(real_data):
    scale = NYC_TAXI.scale("smoke")
    train, validation, test = taxi_fare_data(3, scale)
    assert (len(train.x), len(validation.x), len(test.x)) == (512, 256, 256)
    arrays = taxi_fare_arrays()
    np.testing.assert_array_equal(test[0][1], arrays.y["test"][: scale.batch_size])
    assert not np.array_equal(train[0][1], arrays.y["train"][: scale.batch_size])
    again, _, _ = taxi_fare_data(3, scale)
    np.testing.assert_array_equal(train[0][0], again[0][0])
