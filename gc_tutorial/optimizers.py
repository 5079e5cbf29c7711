"""Keras 3 optimizers that apply Gradient Centralization.

Keras 3 optimizers receive gradients in one place on every backend:
``Optimizer.apply(grads, trainable_variables)``. The TensorFlow and PyTorch
trainers call it directly (``apply_gradients`` forwards to it) and the JAX
trainer reaches it through ``stateless_apply``. Hooks from Keras 2 such as
``get_gradients`` are never called, which is why GC code written for them
silently trains the plain optimizer.

Two ways to add GC are offered here:

- :func:`centralized` makes a *subclass* of any optimizer class
  (``GCAdam = centralized(keras.optimizers.Adam)``);
- :class:`GradientCentralization` *wraps an optimizer instance*, the way
  ``keras.optimizers.LossScaleOptimizer`` does.

Both centralize before anything else touches the gradients, so GC comes
before gradient clipping (``clipnorm``, ``clipvalue``, ``global_clipnorm``).
Keras's decoupled weight decay (``weight_decay=...``, as in AdamW) is applied
to the weights directly, not through the gradient, so it is not centralized.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from gc_tutorial.centralize import centralize_gradients

__all__ = [
    "centralized",
    "GradientCentralization",
    "GCSGD",
    "GCAdam",
    "GCAdamW",
    "GCRMSprop",
]

_PACKAGE = "gc_tutorial"


def _check_lengths(grads: Sequence[Any], trainable_variables: Any) -> None:
    if trainable_variables is None:
        return
    n_vars = len(list(trainable_variables))
    if len(grads) != n_vars:
        raise ValueError(
            f"Got {len(grads)} gradients for {n_vars} trainable variables; "
            "Gradient Centralization needs exactly one gradient per variable."
        )


class _CentralizedMixin:
    """Centralizes gradients in ``apply`` before the optimizer sees them."""

    _default_conv_only: bool = False

    def __init__(self, *args: Any, conv_only: bool | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.conv_only = (
            self._default_conv_only if conv_only is None else bool(conv_only)
        )

    def apply(self, grads: Sequence[Any], trainable_variables: Any = None) -> None:
        grads = list(grads)
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
        _check_lengths(grads, trainable_variables)
        super().apply(
            centralize_gradients(grads, conv_only=self.conv_only),
            trainable_variables,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["conv_only"] = self.conv_only
        return config


_CENTRALIZED_CLASSES: dict[tuple[type, bool], type] = {}


def _public_optimizer_class(cls: type) -> type:
    """``keras.optimizers.X`` for Keras's backend-specific subclasses of it.

    On the PyTorch backend ``keras.optimizers.Adam()`` and
    ``keras.optimizers.get("adam")`` build a fused ``torch_adam.Adam``, a
    subclass of ``keras.optimizers.Adam``; GC subclasses the public class.
    """
    if not cls.__module__.startswith("keras.src.backend."):
        return cls  # a user's class, even one named Adam, is kept as it is
    public = getattr(keras.optimizers, cls.__name__, None)
    if isinstance(public, type) and issubclass(cls, public):
        return public
    return cls


def _resolve_optimizer_class(optimizer_class: Any) -> type:
    if isinstance(optimizer_class, str):
        try:
            return _public_optimizer_class(type(keras.optimizers.get(optimizer_class)))
        except ValueError as error:
            raise ValueError(
                f"Unknown optimizer {optimizer_class!r}: Keras has no "
                "optimizer by that name."
            ) from error
    if isinstance(optimizer_class, type) and issubclass(
        optimizer_class, keras.optimizers.Optimizer
    ):
        return _public_optimizer_class(optimizer_class)
    raise TypeError(
        "centralized() expects a keras.optimizers.Optimizer subclass such as "
        "keras.optimizers.Adam (or its name, 'adam'); got "
        f"{optimizer_class!r}. To add GC to an optimizer *instance*, use "
        "GradientCentralization(optimizer)."
    )


def centralized(optimizer_class: type | str, conv_only: bool = False) -> type:
    """Return a subclass of ``optimizer_class`` that applies GC.

    The subclass overrides ``apply``, the method every Keras 3 backend's
    trainer reaches, and centralizes the gradients (see
    :func:`gc_tutorial.centralize_gradients`) before handing them to the
    parent class. Its constructor takes the parent's arguments plus
    ``conv_only``. It is registered with Keras under the package name
    ``gc_tutorial``, so ``keras.models.load_model`` restores models compiled
    with it, optimizer state included.

    Calling ``centralized`` again with the same arguments returns the same
    class.

    Args:
        optimizer_class: A ``keras.optimizers.Optimizer`` subclass, or the
            name Keras knows it by (``"adam"``).
        conv_only: Default for the subclass's ``conv_only`` argument: ``True``
            gives the paper's GCC variant (conv kernels only).

    Returns:
        The new optimizer class, named ``GC<Name>`` (``GCC<Name>`` when
        ``conv_only``).

    Raises:
        TypeError: ``optimizer_class`` is not an optimizer class.
        ValueError: the name is unknown to Keras, or the class already
            applies GC.

    Example:
        >>> GCAdam = centralized(keras.optimizers.Adam)
        >>> model.compile(optimizer=GCAdam(learning_rate=1e-3), loss="mse")
    """
    base = _resolve_optimizer_class(optimizer_class)
    if issubclass(base, _CentralizedMixin):
        raise ValueError(
            f"{base.__name__} already applies Gradient Centralization; "
            "centralizing twice would be a no-op at twice the cost."
        )
    key = (base, bool(conv_only))
    if key not in _CENTRALIZED_CLASSES:
        name = ("GCC" if conv_only else "GC") + base.__name__
        variant = "conv kernels only (GCC)" if conv_only else "every kernel"
        cls = type(
            name,
            (_CentralizedMixin, base),
            {
                "__doc__": (
                    f"`keras.optimizers.{base.__name__}` with Gradient "
                    f"Centralization of {variant}.\n\nTakes the arguments of "
                    f"`{base.__name__}` plus `conv_only`. Made by "
                    "`gc_tutorial.centralized`."
                ),
                "__module__": __name__,
                "__qualname__": name,
                "_default_conv_only": bool(conv_only),
            },
        )
        keras.saving.register_keras_serializable(package=_PACKAGE, name=name)(cls)
        _CENTRALIZED_CLASSES[key] = cls
    return _CENTRALIZED_CLASSES[key]


GCSGD = centralized(keras.optimizers.SGD)
GCAdam = centralized(keras.optimizers.Adam)
GCAdamW = centralized(keras.optimizers.AdamW)
GCRMSprop = centralized(keras.optimizers.RMSprop)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GradientCentralization(keras.optimizers.Optimizer):
    """Wrap an optimizer instance so that it applies GC.

    Works like ``keras.optimizers.LossScaleOptimizer``: the wrapper owns no
    hyperparameters of its own; ``learning_rate``, ``iterations`` and the
    optimizer variables are the inner optimizer's. Gradients passed to
    ``apply`` are centralized, then handed to the inner optimizer, so GC
    comes before the inner optimizer's clipping; its decoupled weight decay
    acts on the weights and is not centralized.

    The wrapper can itself be wrapped in a ``LossScaleOptimizer`` for mixed
    precision, and serializes through ``get_config``/``from_config``.

    Args:
        optimizer: The ``keras.optimizers.Optimizer`` instance to wrap.
        conv_only: If ``True``, centralize only conv kernels (GCC).
        name: Name of the wrapper; defaults to ``"gc_" + optimizer.name``.

    Raises:
        TypeError: ``optimizer`` is not a Keras optimizer instance.
        ValueError: ``optimizer`` already applies GC.

    Example:
        >>> optimizer = GradientCentralization(keras.optimizers.Adam(1e-3))
        >>> model.compile(optimizer=optimizer, loss="mse")
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        conv_only: bool = False,
        name: str | None = None,
    ):
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                "GradientCentralization wraps a keras.optimizers.Optimizer "
                f"instance, such as keras.optimizers.Adam(); got {optimizer!r}."
                " To build a GC optimizer class, use centralized(cls)."
            )
        if isinstance(optimizer, (_CentralizedMixin, GradientCentralization)):
            raise ValueError(
                f"Optimizer {optimizer.name!r} already applies Gradient "
                "Centralization; wrapping it would centralize twice."
            )
        super().__init__(learning_rate=0.0, name=name or f"gc_{optimizer.name}")
        self.inner_optimizer = optimizer
        self.conv_only = bool(conv_only)

    def build(self, var_list: Sequence[Any]) -> None:
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self) -> list[Any]:
        return self.inner_optimizer.variables

    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self) -> Any:
        return self.inner_optimizer.iterations

    def apply(self, grads: Sequence[Any], trainable_variables: Any = None) -> None:
        grads = list(grads)
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
        _check_lengths(grads, trainable_variables)
        if not self.built:
            if trainable_variables is None:
                raise ValueError(
                    "The first call to apply() must pass trainable_variables "
                    "so that the optimizer can be built."
                )
            self.build(trainable_variables)
        self.inner_optimizer.apply(
            centralize_gradients(grads, conv_only=self.conv_only),
            trainable_variables,
        )

    def finalize_variable_values(self, var_list: Sequence[Any]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "conv_only": self.conv_only,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: Any = None
    ) -> "GradientCentralization":
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(optimizer, **config)
