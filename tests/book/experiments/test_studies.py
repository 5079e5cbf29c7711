"""Specification of the studies as data, and of the taxi-fare preparation.

The taxi tests read the real trips: the folder named by
``$GC_TUTORIAL_DATA`` or, if that is unset, ``shared/data`` beside the
repository clone.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
import pytest

import gc_tutorial
from gc_tutorial.book.data import DATA_ENV
from gc_tutorial.book.experiments.studies import (
    HOLD_OUT_FRACTION,
    HORSES_OR_HUMANS,
    HORSES_OR_HUMANS_ADAM_LEARNING_RATE,
    HORSES_OR_HUMANS_ADAM_PILOT,
    HORSES_OR_HUMANS_SGD_LEARNING_RATE,
    HORSES_OR_HUMANS_SGD_PILOT,
    NYC_TAXI,
    NYC_TAXI_SGD_PILOT,
    STUDIES,
    Scale,
    Study,
    horses_or_humans_data,
    horses_or_humans_pilot_data,
    pilot_choice,
    resolve_study,
    taxi_fare_data,
)
from gc_tutorial.book.experiments.taxi import clean_taxi_trips, taxi_fare_arrays, taxi_features

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UPDATE_ARM = "Adam + GC on the update"

# The studies that compare GC arms with their baselines (the pilot only tunes).
COMPARISONS = {"horses_or_humans": HORSES_OR_HUMANS, "nyc_taxi": NYC_TAXI}


@pytest.fixture
def real_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the loaders at the real local copy, or fail with directions."""
    folder = Path(os.environ.get(DATA_ENV) or SHARED_DATA)
    if not folder.is_dir():
        pytest.fail(
            f"Real data not found at {folder}. Set ${DATA_ENV} to the folder "
            f"holding nyc_taxis/ and horses_or_humans/, or put it at {SHARED_DATA}."
        )
    monkeypatch.setenv(DATA_ENV, str(folder))
    return folder


# --- The studies ----------------------------------------------------------


def test_the_registry_holds_both_studies_by_name():
    assert dict(STUDIES) == {
        "horses_or_humans": HORSES_OR_HUMANS,
        "horses_or_humans_sgd_pilot": HORSES_OR_HUMANS_SGD_PILOT,
        "horses_or_humans_adam_pilot": HORSES_OR_HUMANS_ADAM_PILOT,
        "nyc_taxi": NYC_TAXI,
        "nyc_taxi_sgd_pilot": NYC_TAXI_SGD_PILOT,
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
    hoh, taxi = HORSES_OR_HUMANS.scale("full"), NYC_TAXI.scale("full")
    assert len(hoh.seeds) >= 12 and hoh.epochs == 30 and hoh.image_size == 100
    assert len(taxi.seeds) == 20 and taxi.epochs == 10 and taxi.image_size is None


@pytest.mark.parametrize(
    "study", [HORSES_OR_HUMANS, HORSES_OR_HUMANS_SGD_PILOT, HORSES_OR_HUMANS_ADAM_PILOT]
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
        (HORSES_OR_HUMANS, "RMSprop", keras.optimizers.RMSprop, 1e-4),
        (HORSES_OR_HUMANS, "RMSprop + GC", gc_tutorial.GCRMSprop, 1e-4),
        (
            HORSES_OR_HUMANS,
            "SGD momentum",
            keras.optimizers.SGD,
            HORSES_OR_HUMANS_SGD_LEARNING_RATE,
        ),
        (
            HORSES_OR_HUMANS,
            "SGD momentum + GC",
            gc_tutorial.GCSGD,
            HORSES_OR_HUMANS_SGD_LEARNING_RATE,
        ),
        (HORSES_OR_HUMANS, "Adam", keras.optimizers.Adam, HORSES_OR_HUMANS_ADAM_LEARNING_RATE),
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
    adam = study.arms["Adam"]()
    assert float(optimizer.learning_rate) == pytest.approx(float(adam.learning_rate))


def test_a_study_refuses_pairs_of_arms_it_lacks():
    with pytest.raises(ValueError, match=r"pairs arms it does not have: \['SGD', 'SGD \+ GC'\]"):
        dataclasses.replace(NYC_TAXI, pairs={"SGD + GC": "SGD"}, name="broken")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"seeds": ()}, "at least one seed"),
        ({"seeds": (0, 0)}, "repeat"),
        ({"epochs": 0}, "epochs"),
        ({"test_subset": 0}, "test_subset"),
    ],
)
def test_scales_reject_nonsense(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Scale(**{"seeds": (0,), "epochs": 1, "batch_size": 8, **kwargs})


def test_unknown_profile_lists_the_profiles():
    with pytest.raises(ValueError, match=r"no profile 'quick'; use one of \['full', 'smoke'\]"):
        NYC_TAXI.scale("quick")


def test_studies_resolve_by_name_or_import_path():
    assert resolve_study("nyc_taxi") is NYC_TAXI
    by_path = "gc_tutorial.book.experiments.studies:HORSES_OR_HUMANS"
    assert resolve_study(by_path) is HORSES_OR_HUMANS
    with pytest.raises(ValueError, match="module:ATTRIBUTE"):
        resolve_study("cifar")
    with pytest.raises(ValueError, match="does not name a gc_tutorial.book.experiments.Study"):
        resolve_study("gc_tutorial.book.experiments.studies:Scale")


def test_horses_or_humans_smoke_data(real_data):
    scale = HORSES_OR_HUMANS.scale("smoke")
    train, validation, test = horses_or_humans_data(0, scale)
    assert validation is None
    images, labels = next(iter(train))
    assert tuple(images.shape) == (scale.batch_size, 100, 100, 3)
    assert HORSES_OR_HUMANS.build_model(scale).input_shape == (None, 100, 100, 3)
    assert sum(len(y) for _, y in test) == scale.test_subset


def test_the_pilot_holds_out_part_of_each_class_of_the_training_split_only(real_data):
    scale = HORSES_OR_HUMANS_SGD_PILOT.scale("smoke")
    train, validation, test = horses_or_humans_pilot_data(0, scale)
    assert test is None, "the pilot must never see the test split"
    assert len(train.y) + len(validation.y) == scale.train_subset
    for label in (0, 1):
        in_class = np.sum(train.y == label) + np.sum(validation.y == label)
        assert np.sum(validation.y == label) == round(HOLD_OUT_FRACTION * in_class)
    other_seed, same_held_out, _ = horses_or_humans_pilot_data(1, scale)
    np.testing.assert_array_equal(same_held_out.x, validation.x)
    assert not np.array_equal(other_seed.order, train.order)


def test_the_pilot_records_validation_only_and_ranks_its_rates(real_data, tmp_path):
    from gc_tutorial.book.experiments import run_study

    results = run_study(HORSES_OR_HUMANS_SGD_PILOT.name, "smoke", tmp_path / "pilot.csv")
    assert set(results["split"]) == {"train", "validation"}
    ranking = pilot_choice(results)
    assert set(ranking["arm"]) == set(HORSES_OR_HUMANS_SGD_PILOT.arms)


# --- The taxi-fare preparation ----------------------------------------------


def test_cleaning_drops_what_chapter_6_drops(real_data):
    from gc_tutorial.book.data import load_nyc_taxis

    trips, dropped = clean_taxi_trips(load_nyc_taxis())
    assert dropped.to_dict() == {
        "missing borough": 50,
        "zero distance": 36,
        "drop-off not after pickup": 0,
        "zero passengers": 95,
        "faster than 80 mph": 9,
        "non-positive fare": 0,
    }
    assert len(trips) == 6243
    features, fares = taxi_features(trips)
    assert features.shape == (6243, 22) and fares.dtype == np.float32


def test_arrays_are_split_standardized_and_read_only(real_data):
    arrays = taxi_fare_arrays()
    assert {name: len(y) for name, y in arrays.y.items()} == {
        "train": 4370,
        "validation": 936,
        "test": 937,
    }
    assert arrays.feature_names[:3] == ("distance", "duration_min", "hour_sin")
    assert len(arrays.feature_names) == arrays.x["train"].shape[1] == 22
    assert round(float(arrays.y["train"].mean()), 2) == 12.94
    np.testing.assert_allclose(arrays.x["train"].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(arrays.x["train"].std(axis=0), 1.0, rtol=1e-4)
    assert arrays.x["test"].dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        arrays.x["train"][0, 0] = 1.0
    assert taxi_fare_arrays() is arrays  # prepared once per process


def test_taxi_data_subsets_and_shuffles_only_training(real_data):
    scale = NYC_TAXI.scale("smoke")
    train, validation, test = taxi_fare_data(3, scale)
    assert (len(train.x), len(validation.x), len(test.x)) == (512, 256, 256)
    arrays = taxi_fare_arrays()
    np.testing.assert_array_equal(test[0][1], arrays.y["test"][: scale.batch_size])
    assert not np.array_equal(train[0][1], arrays.y["train"][: scale.batch_size])
    again, _, _ = taxi_fare_data(3, scale)
    np.testing.assert_array_equal(train[0][0], again[0][0])
