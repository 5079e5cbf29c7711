"""A Keras model whose ``train_step`` applies GC."""

from __future__ import annotations

import inspect
import types
import warnings
from typing import Any, TypeVar

import keras
from keras import ops
from keras.src.models.functional import Functional
from keras.src.utils.python_utils import default

from gc_tutorial import _fast
from gc_tutorial.layouts import check_conv_only, mark_kernels

__all__ = ["GCModel"]

_M = TypeVar("_M", bound=keras.Model)


_NO_TRAINABLE_WEIGHTS = "The model does not have any trainable weights."
"""The warning of Keras's training steps, and of GCModel's, for a model with nothing
to train: they compute the loss and metrics and update nothing."""

_FUNCTIONAL_CLASS = "_functional_class"
"""The attribute under which a GCModel class keeps its functional form."""


def _functional_init_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``Model(*args, **kwargs)`` builds a functional model, as Keras decides."""
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


def _functional_class(cls: type[_M]) -> type[_M]:
    """``cls``'s functional form: a subclass of ``(cls, Functional)``, made once.

    ``keras.Model`` makes a subclass of itself functional by rewriting the
    ``__bases__`` of the class and of every class above it up to ``Model``
    (``inject_functional_model_class``), which would leave ``GCModel`` a
    ``Functional`` for good and break every subclassed ``GCModel`` built
    afterwards. The instance gets this class instead and the classes above
    stay as they are.

    The class has ``cls``'s name and module, serializes under ``cls``'s
    registered name (so a saved model loads back through ``cls``, which hands
    out this class again) and is found by pickle as ``cls._functional_class``.
    """
    made = cls.__dict__.get(_FUNCTIONAL_CLASS)
    if made is None:
        namespace = {
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__}.{_FUNCTIONAL_CLASS}",
            "__doc__": cls.__doc__,
        }
        made = types.new_class(
            cls.__name__, (cls, Functional), exec_body=lambda ns: ns.update(namespace)
        )
        setattr(cls, _FUNCTIONAL_CLASS, made)
        _serialize_as(made, cls)
    return made


def _serialize_as(made: type, cls: type) -> None:
    """Let ``made`` serialize under ``cls``'s registered name, which stays ``cls``'s."""
    name = keras.saving.get_registered_name(cls)
    registry = keras.saving.get_custom_objects()
    if ">" not in name or registry.get(name) is not cls:
        return  # not registered: both serialize by their (shared) class name
    package, _, short_name = name.rpartition(">")
    keras.saving.register_keras_serializable(package, short_name)(made)
    registry[name] = cls  # the name still deserializes to ``cls``


def _first_batch_size(x: Any) -> Any:
    """The batch size: the first dimension of the first input that is not ``None``."""
    for tensor in keras.tree.flatten(x):
        if tensor is not None:
            return ops.shape(tensor)[0]
    raise ValueError("GCModel got a batch whose inputs are all None; it needs at least one.")


@keras.saving.register_keras_serializable(package="gc_tutorial")
class GCModel(keras.Model):
    """A ``keras.Model`` whose ``train_step`` centralizes the gradients.

    Use it like ``keras.Model`` -- ``GCModel(inputs, outputs)`` or a subclass
    with its own ``call`` -- and compile it with any plain optimizer: GC
    happens in the training step, between computing the gradients and
    ``optimizer.apply``. The step is the one the Keras guides "Customizing
    what happens in fit()" write for each backend, on public API:
    ``tf.GradientTape`` on TensorFlow, ``loss.backward()`` on PyTorch, and
    ``jax.value_and_grad`` of the stateless ``compute_loss_and_updates`` on
    JAX; each with ``compute_loss``, ``optimizer.scale_loss``, the
    optimizer's ``apply`` (``stateless_apply`` on JAX) and
    ``compute_metrics``. With the same optimizer it trains to the same
    weights as ``gc_tutorial.GCAdam`` and the other GC optimizers in their
    default ``where="gradient"`` form.

    It behaves as ``keras.Model`` does, functional or subclassed, built
    before ``fit`` or by it, saved and loaded, pickled or cloned
    (``keras.models.clone_model`` rebuilds a functional one from its graph,
    as any ``Functional`` subclass: set ``conv_only`` again), under a
    ``train_step`` of your own that calls this one. Where Keras's steps
    allow for something, so does this one: a ``compute_loss`` override
    without the ``training`` argument (Keras before 3.3), nothing to train
    (a warning, and no update), optional inputs given as ``None``. A
    functional ``GCModel`` is an instance of a subclass of ``GCModel`` and
    Keras's ``Functional`` made once for it (named ``GCModel`` too), so
    ``GCModel`` itself stays a plain subclass of ``keras.Model``.

    The gradients pass through :meth:`transform_gradients`, which knows the
    model's layers: it records each kernel's layout
    (:func:`gc_tutorial.mark_kernels`) once the model is built, so every
    kernel is centralized over its real fan-in whatever its layer's name. A
    subclass may override it to do something else with the gradients.

    Prefer it to a GC optimizer when the training step is yours anyway (extra
    losses, several optimizers, gradient surgery); otherwise a GC optimizer
    is simpler. GC on the optimizer's *update* (``where="update"``) needs the
    optimizer: a training step only sees gradients.

    Args:
        *args: As for ``keras.Model``.
        conv_only: If ``True``, centralize only conv kernels (GCC).
        **kwargs: As for ``keras.Model``.

    Raises:
        TypeError: ``conv_only`` is not ``True`` or ``False``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """Hand out the functional form of ``cls`` for ``cls(inputs, outputs)``."""
        if _functional_init_arguments(args, kwargs) and not issubclass(cls, Functional):
            made = _functional_class(cls)
            return super(GCModel, made).__new__(made, *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args: Any, conv_only: bool = False, **kwargs: Any):
        """Build the model as ``keras.Model`` does and keep ``conv_only``."""
        check_conv_only(conv_only, owner=f"{type(self).__name__}: ")
        if _functional_init_arguments(args, kwargs) and not isinstance(self, Functional):
            # A subclass whose own __init__ passes (inputs, outputs) on: its
            # __new__ did not see them. Keras would rewrite the class
            # hierarchy here; switch this instance to the functional form.
            object.__setattr__(self, "__class__", _functional_class(type(self)))
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only
        # As Keras's trainers check it: overrides written for Keras < 3.3
        # have no `training` argument.
        self._compute_loss_takes_training = (
            "training" in inspect.signature(self.compute_loss).parameters
        )
        self._kernels_marked = False

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """Centralize the kernels' gradients; override to transform them otherwise.

        On its first call (the model is built by then) it records each
        kernel's layout (:func:`gc_tutorial.mark_kernels`). Then it
        centralizes as the GC optimizers do: on PyTorch the gradients this
        step hands over are the variables' own ``.grad`` buffers, which it
        clears before the next backward pass, so in place; elsewhere into new
        tensors.

        Args:
            grads: One gradient per variable (backend tensors; ``None`` for a
                variable the loss does not reach).
            variables: The model's trainable variables, in the same order.

        Returns:
            The gradients to hand to the optimizer, in the same order.
        """
        if not getattr(self, "_kernels_marked", False):
            mark_kernels(self)
            self._kernels_marked = True
        return _fast.with_gc(grads, variables, self.conv_only, list)

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

    def _training_loss(self, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> Any:
        """``compute_loss`` in training, with or without its ``training`` argument."""
        if self._compute_loss_takes_training:
            return self.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def _update_loss_metric(self, loss: Any, x: Any, replicas: int = 1) -> None:
        """Feed the unscaled batch loss to the model's ``loss`` metric."""
        batch_size = _first_batch_size(x)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=batch_size)

    def _tensorflow_train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._training_loss(x, y, y_pred, sample_weight)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        if variables:
            grads = tape.gradient(scaled_loss, variables)
            self.optimizer.apply(self.transform_gradients(grads, variables), variables)
        else:
            warnings.warn(_NO_TRAINABLE_WEIGHTS, stacklevel=2)
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
        loss = self._training_loss(x, y, y_pred, sample_weight)
        self._update_loss_metric(loss, x)
        variables = self.trainable_variables
        if variables:
            self.optimizer.scale_loss(loss).backward()
            grads = [v.value.grad for v in variables]
            with torch.no_grad():
                self.optimizer.apply(self.transform_gradients(grads, variables), variables)
        else:
            # With nothing to train the loss has no graph to run backward.
            warnings.warn(_NO_TRAINABLE_WEIGHTS, stacklevel=2)
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

    @default  # as Keras's own: a subclass without one gets the config of its arguments
    def get_config(self) -> dict[str, Any]:
        """The ``keras.Model`` config plus ``conv_only``."""
        return {**super().get_config(), "conv_only": self.conv_only}
