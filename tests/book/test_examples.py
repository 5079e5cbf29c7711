"""Specification of gc_tutorial.book.examples: the small problem of chapters 2 to 4.

The fare-sample tests read the real trips: the folder named by
``$GC_TUTORIAL_DATA`` or, if that is unset, ``shared/data`` beside the
repository clone. The training tests use synthetic arrays.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gc_tutorial
from gc_tutorial.book.examples import SameStart, fare_sample, max_difference, small_mlp

CLEANED_TRIPS = 6243  # the trips clean_taxi_trips keeps (test_taxi_features.py)


@pytest.fixture
def same_start() -> SameStart:
    """64 rows of a linear target of three inputs, two epochs of batches of 16."""
    x = np.random.default_rng(5).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    return SameStart(x, y, batch_size=16, epochs=2, seed=3)


def test_a_fare_sample_is_n_cleaned_trips_standardized(real_data):
    sample = fare_sample(50, seed=1)
    assert list(sample.trips.columns) == ["distance", "passengers", "minutes", "fare"]
    assert len(sample.trips) == 50
    trips = sample.trips
    assert ((trips["distance"] > 0) & (trips["passengers"] > 0) & (trips["minutes"] > 0)).all()
    assert sample.x.shape == (50, 3) and sample.y.shape == (50, 1)
    assert sample.x.dtype == sample.y.dtype == np.float32
    np.testing.assert_allclose(sample.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(sample.y.std(), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fare_sample(50, seed=1).x, sample.x)
    assert not np.array_equal(fare_sample(50, seed=2).x, sample.x)


def test_a_fare_sample_of_none_is_every_cleaned_trip(real_data):
    assert len(fare_sample(None).trips) == CLEANED_TRIPS


@pytest.mark.parametrize("n", [1, CLEANED_TRIPS + 1])
def test_a_sample_size_outside_2_to_the_cleaned_trips_is_refused(real_data, n):
    with pytest.raises(ValueError, match=f"between 2 and {CLEANED_TRIPS} .*; got {n}"):
        fare_sample(n)


def test_the_small_mlp_has_the_stated_kernels_in_the_given_class():
    model = small_mlp(gc_tutorial.GCModel)
    assert isinstance(model, gc_tutorial.GCModel)
    kernels = [v.shape for v in model.trainable_variables if v.name.endswith("kernel")]
    assert kernels == [(3, 32), (32, 1)]


def test_every_model_starts_from_the_same_initial_weights(same_start):
    keras.utils.set_random_seed(3)
    assert max_difference(same_start.initial, small_mlp().get_weights()) == 0.0
    for model_class in (keras.Model, gc_tutorial.GCModel):
        model = same_start.model(model_class)
        assert isinstance(model, model_class)
        assert max_difference(model.get_weights(), same_start.initial) == 0.0


def test_two_runs_differ_only_in_what_they_are_given(same_start):
    first, losses = same_start.train(keras.optimizers.SGD(0.05))
    keras.utils.set_random_seed(99)  # each run reseeds: what ran before does not matter
    again, _ = same_start.train(keras.optimizers.SGD(0.05))
    assert len(losses) == 2 and losses[1] < losses[0]
    assert max_difference(first.get_weights(), again.get_weights()) == 0.0
    gc, _ = same_start.train(gc_tutorial.GCSGD(0.05))
    assert max_difference(gc.get_weights(), first.get_weights()) > 1e-4
    _, one_epoch = same_start.train(keras.optimizers.SGD(0.05), epochs=1)
    assert one_epoch == losses[:1]
    assert max_difference(same_start.model().get_weights(), same_start.initial) == 0.0


def test_max_difference_is_the_largest_absolute_difference_of_paired_weights():
    a = [np.zeros((2, 2)), np.array([1.0, 2.0])]
    assert max_difference(a, [np.full((2, 2), -0.5), np.array([1.0, 2.25])]) == 0.5
    with pytest.raises(ValueError, match="2 weights against 1"):
        max_difference(a, a[:1])
    with pytest.raises(ValueError, match=r"differ in shape: \[\(\(2,\), \(3,\)\)\]"):
        max_difference(a, [a[0], np.zeros(3)])
