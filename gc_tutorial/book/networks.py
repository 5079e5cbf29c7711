"""The book's networks: chapter 6's taxi-fare MLP and chapter 7's Horses-or-Humans CNN.

Plain ``keras.Sequential`` models, the ones the blog post and the keras.io
example train; the studies (:mod:`gc_tutorial.book.experiments.studies`), the
chapters and the cost benchmark build them from here.
"""

from __future__ import annotations

import keras

__all__ = ["taxi_fare_mlp", "horses_or_humans_cnn"]


def taxi_fare_mlp(n_features: int) -> keras.Model:
    """The blog post's fare regressor: Dense 128, Dropout 0.2, Dense 64, Dense 1.

    Args:
        n_features: Width of the (already normalized) feature vector.
    """
    return keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="taxi_fare_mlp",
    )


def horses_or_humans_cnn(image_size: int = 300, augment: bool = True) -> keras.Model:
    """The keras.io Gradient Centralization example's CNN.

    Rescaling to ``[0, 1]`` and the example's augmentation (random flips,
    rotation 0.3, zoom 0.2; active only in training) are layers of the model,
    so every arm of a comparison sees the same preprocessing.

    Args:
        image_size: Height and width of the square RGB input (300 in the
            example; smaller sizes make quick runs).
        augment: Include the augmentation layers.
    """
    layers = keras.layers
    preprocessing = [layers.Rescaling(1.0 / 255)]
    if augment:
        preprocessing += [
            layers.RandomFlip("horizontal_and_vertical"),
            layers.RandomRotation(0.3),
            layers.RandomZoom(0.2),
        ]
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),
            *preprocessing,
            layers.Conv2D(16, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Dropout(0.5),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Dropout(0.5),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(512, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="horses_or_humans_cnn",
    )
