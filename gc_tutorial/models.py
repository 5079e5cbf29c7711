"""A Keras model whose ``train_step`` applies GC, and the book's models."""

from __future__ import annotations

from typing import Any

import keras

from gc_tutorial.centralize import centralize_gradients

__all__ = ["GCModel", "taxi_fare_mlp", "horses_or_humans_cnn"]


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCModel(keras.Model):
    """A ``keras.Model`` whose ``train_step`` centralizes the gradients.

    Use it like ``keras.Model`` -- ``GCModel(inputs, outputs)`` -- and compile
    it with any plain optimizer: GC happens in the training step, between
    ``tape.gradient`` and ``optimizer.apply``. The step is the one the Keras
    guide "Customizing what happens in fit()" writes, on public API only
    (``compute_loss``, ``optimizer.scale_loss``, ``optimizer.apply`` and
    ``compute_metrics``).

    Prefer it to a GC optimizer when the training step is yours anyway (extra
    losses, several optimizers, gradient surgery); otherwise a GC optimizer
    (``gc_tutorial.GCAdam``) is simpler and works on every backend.

    This ``train_step`` uses ``tf.GradientTape``, so it needs the TensorFlow
    backend (``KERAS_BACKEND=tensorflow``); on another backend the
    constructor raises ``RuntimeError``.

    Args:
        *args: As for ``keras.Model``.
        conv_only: If ``True``, centralize only conv kernels (GCC).
        **kwargs: As for ``keras.Model``.
    """

    def __init__(self, *args: Any, conv_only: bool = False, **kwargs: Any):
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise RuntimeError(
                "GCModel's train_step uses tf.GradientTape and needs the "
                f"TensorFlow backend; this Keras runs on {backend!r}. Use a "
                "GC optimizer (gc_tutorial.GCAdam, GradientCentralization) "
                "instead: those work on every backend."
            )
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only

    def train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = tape.gradient(scaled_loss, variables)
        self.optimizer.apply(
            centralize_gradients(grads, conv_only=self.conv_only), variables
        )
        # Under tf.distribute, compute_loss divides the loss by the number of
        # replicas so that the summed gradients average over the global
        # batch; the loss metric reports the undivided per-replica mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        batch_size = tf.shape(tf.nest.flatten(x)[0])[0]
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=batch_size)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["conv_only"] = self.conv_only
        return config


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
