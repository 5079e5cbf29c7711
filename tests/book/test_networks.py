"""The book's networks: the taxi-fare MLP (chapter 6) and the Horses-or-Humans CNN (chapter 7)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from gc_tutorial.book.networks import horses_or_humans_cnn, taxi_fare_mlp

# Five 3x3 valid convolutions, each followed by 2x2 pooling, need about 94 pixels.
IMAGE_SIZE = 100


def raw_images(n: int) -> np.ndarray:
    """``n`` RGB images with pixel values in [0, 255], as the data sets give them."""
    return np.random.default_rng(0).uniform(0, 255, size=(n, IMAGE_SIZE, IMAGE_SIZE, 3))


def test_taxi_fare_mlp_predicts_one_fare_per_trip_from_its_features():
    x = np.random.default_rng(0).normal(size=(5, 22)).astype("float32")
    assert taxi_fare_mlp(22).predict(x, verbose=0).shape == (5, 1)


def test_cnn_gives_a_probability_per_raw_rgb_image():
    probabilities = horses_or_humans_cnn(IMAGE_SIZE).predict(raw_images(4), verbose=0)
    assert probabilities.shape == (4, 1)
    assert np.all((probabilities > 0) & (probabilities < 1))


def test_cnn_augmentation_changes_nothing_outside_training():
    augmented = horses_or_humans_cnn(IMAGE_SIZE, augment=True)
    plain = horses_or_humans_cnn(IMAGE_SIZE, augment=False)
    for target, source in zip(
        plain.trainable_variables, augmented.trainable_variables, strict=True
    ):
        target.assign(source)
    images = raw_images(3)
    np.testing.assert_allclose(
        augmented.predict(images, verbose=0), plain.predict(images, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize(
    "build, x",
    [
        (lambda: taxi_fare_mlp(22), np.ones((2, 22), "float32")),
        (lambda: horses_or_humans_cnn(IMAGE_SIZE), raw_images(2)),
    ],
    ids=["taxi_fare_mlp", "horses_or_humans_cnn"],
)
def test_saved_networks_load_with_keras_alone_wherever_the_package_keeps_them(tmp_path, build, x):
    model = build()
    assert "gc_tutorial" not in json.dumps(keras.saving.serialize_keras_object(model))
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
