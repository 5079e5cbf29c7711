"""A Keras model whose ``train_step`` applies GC, and the book's models."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from gc_tutorial.centralize import centralize_gradients

__all__ = ["GCModel", "taxi_fare_mlp", "horses_or_humans_cnn"]


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCModel(keras.Model):
    """A ``keras.Model`` whose ``train_step`` centralizes the gradients.

    Use it like ``keras.Model`` -- ``GCModel(inputs, outputs)`` -- and compile
    it with any plain optimizer: GC happens in the training step, between
    computing the gradients and ``optimizer.apply``. The step is the one the
    Keras guides "Customizing what happens in fit()" write for each backend,
    on public API: ``tf.GradientTape`` on TensorFlow, ``loss.backward()`` on
    PyTorch, and ``jax.value_and_grad`` of the stateless
    ``compute_loss_and_updates`` on JAX; each with ``compute_loss``,
    ``optimizer.scale_loss``, the optimizer's ``apply`` (``stateless_apply``
    on JAX) and ``compute_metrics``. With the same optimizer it trains to the
    same weights as ``gc_tutorial.GCAdam`` and the other GC optimizers in
    their default ``where="gradient"`` form.

    The gradients pass through :meth:`transform_gradients`, which a subclass
    may override to do something else with them (clip, add noise, log).

    Prefer it to a GC optimizer when the training step is yours anyway (extra
    losses, several optimizers, gradient surgery); otherwise a GC optimizer
    is simpler. GC on the optimizer's *update* (``where="update"``) needs the
    optimizer: a training step only sees gradients.

    Args:
        *args: As for ``keras.Model``.
        conv_only: If ``True``, centralize only conv kernels (GCC).
        **kwargs: As for ``keras.Model``.
    """

    def __init__(self, *args: Any, conv_only: bool = False, **kwargs: Any):
        """Build the model as ``keras.Model`` does and keep ``conv_only``."""
        if not isinstance(conv_only, bool):
            raise TypeError(f"conv_only must be True or False; got {conv_only!r}.")
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """Centralize the kernels' gradients; override to transform them otherwise.

        Args:
            grads: One gradient per variable (backend tensors; ``None`` for a
                variable the loss does not reach).
            variables: The model's trainable variables, in the same order.

        Returns:
            The gradients to hand to the optimizer, in the same order.
        """
        return centralize_gradients(grads, variables, conv_only=self.conv_only)

    def train_step(self, *args: Any) -> Any:
        """Run this backend's training step, which centralizes the gradients."""
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "torch":
            return self._torch_train_step(*args)
        if backend == "tensorflow":
            return self._tensorflow_train_step(*args)
        raise RuntimeError(f"GCModel has no train_step for the {backend!r} backend.")

    def _update_loss_metric(self, loss: Any, x: Any, replicas: int = 1) -> None:
        """Feed the unscaled batch loss to the model's ``loss`` metric."""
        batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=batch_size)

    def _tensorflow_train_step(self, data: Any) -> dict[str, Any]:
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
        self.optimizer.apply(self.transform_gradients(grads, variables), variables)
        # Under tf.distribute, compute_loss divides the loss by the number of
        # replicas so that the summed gradients average over the global
        # batch; the loss metric reports the undivided per-replica mean.
        self._update_loss_metric(
            loss, x, replicas=tf.distribute.get_strategy().num_replicas_in_sync
        )
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _torch_train_step(self, data: Any) -> dict[str, Any]:
        import torch

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        self.zero_grad()  # clear the previous step's .grad
        loss = self.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        self._update_loss_metric(loss, x)
        self.optimizer.scale_loss(loss).backward()
        variables = self.trainable_variables
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(self.transform_gradients(grads, variables), variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _jax_train_step(self, state: Any, data: Any) -> tuple[dict[str, Any], Any]:
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (_, aux), grads = grad_fn(
            trainable,
            non_trainable,
            metrics_variables,
            x,
            y,
            sample_weight,
            training=True,
            optimizer_variables=optimizer_variables,
        )
        loss, y_pred, non_trainable, metrics_variables = aux
        grads = self.transform_gradients(list(grads), self.trainable_variables)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable
        )
        mapping = list(zip(self.metrics_variables, metrics_variables, strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self._update_loss_metric(loss, x)
            logs = self.compute_metrics(x, y, y_pred, sample_weight)
        current = [scope.get_current_value(v) for v in self.metrics_variables]
        metrics_variables = [
            v.value if value is None else value
            for v, value in zip(self.metrics_variables, current, strict=True)
        ]
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def get_config(self) -> dict[str, Any]:
        """The ``keras.Model`` config plus ``conv_only``."""
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
