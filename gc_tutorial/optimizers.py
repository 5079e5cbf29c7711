"""Keras 3 optimizers that apply Gradient Centralization.

Keras 3 hands every optimizer its gradients in one place on every backend,
``Optimizer.apply(grads, trainable_variables)`` (Keras 2's ``get_gradients``
is never called, so GC code written for it trains the plain optimizer).
:func:`centralized` makes a *subclass* of any optimizer class that applies
GC there; :class:`GradientCentralization` *wraps an optimizer instance*, as
``keras.optimizers.LossScaleOptimizer`` does. Both take ``where``:

- ``"gradient"`` (the default, the paper's Algorithm 1): each kernel's
  gradient is centralized before clipping and the optimizer's moments. With
  SGD (with or without momentum) each output unit's mean weight then never
  moves; an adaptive optimizer's per-coordinate scaling un-centers the step.
  On PyTorch a gradient that is its variable's own ``.grad`` (what Keras's
  trainer hands to ``apply``) is centralized in place, as the official code
  does.
- ``"update"`` (the official code's ``gc_loc=False``, for adaptive
  optimizers): the whole change one ``apply`` makes to each kernel is
  centralized, decoupled weight decay included, so each unit's mean weight
  stays put under any optimizer; the moving average of ``use_ema`` too.
  Steps that only accumulate gradients leave the weights as they were; a
  kernel's ``constraint`` holds after every step.

Only kernels are centralized, each over its layer's fan-in
(:mod:`gc_tutorial.layouts`); ``conv_only=True`` (GCC) picks conv layers by
kind. ``None`` for ``where`` or ``conv_only`` means the default. Unlike the
official code, Keras's decoupled ``weight_decay`` is centralized only with
``where="update"``, and a ``Conv2DTranspose`` kernel per output channel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras

from gc_tutorial import _fast
from gc_tutorial.layouts import check_conv_only

__all__ = [
    "WHERE",
    "centralized",
    "GradientCentralization",
    "GCSGD",
    "GCAdam",
    "GCAdamW",
    "GCRMSprop",
]

_PACKAGE = "gc_tutorial"

WHERE = ("gradient", "update")
"""The places GC can act: on the gradient, or on the optimizer's update."""


def _options(
    conv_only: Any, where: Any, default_conv_only: bool = False, default_where: str = "gradient"
) -> tuple[bool, str]:
    """``conv_only`` and ``where`` checked; ``None`` means the default."""
    conv_only = default_conv_only if conv_only is None else check_conv_only(conv_only)
    if where is not None and (not isinstance(where, str) or where not in WHERE):
        raise ValueError(
            "where must be 'gradient' (centralize the gradient, the paper's form) or "
            "'update' (centralize the optimizer's step, the official code's "
            f"gc_loc=False), or None for the default; got {where!r}."
        )
    return conv_only, default_where if where is None else where


def _apply_with_gc(
    optimizer: keras.optimizers.Optimizer,
    apply: Callable[[list[Any], Any], Any],
    grads: Sequence[Any],
    trainable_variables: Any,
    conv_only: bool,
    where: str,
) -> None:
    """``optimizer``'s ``apply(grads, trainable_variables)`` with GC, ``where`` it acts."""
    grads = list(grads)
    if trainable_variables is not None:  # an iterator is read once, here
        trainable_variables = list(trainable_variables)
        variables = trainable_variables
    elif optimizer.built:  # what Optimizer.apply(grads) itself falls back to
        variables = list(optimizer._trainable_variables)
    else:  # Optimizer.apply raises its own error for this call
        return apply(grads, trainable_variables)
    step = lambda gradients: apply(gradients, trainable_variables)  # noqa: E731
    _fast.with_gc(grads, variables, conv_only, step, where=where, optimizer=optimizer)


if TYPE_CHECKING:  # what the mixin is mixed into, for the type checker
    from keras.optimizers import Optimizer as _OptimizerBase
else:
    _OptimizerBase = object


class _CentralizedMixin(_OptimizerBase):
    """Applies GC in ``apply``, to the gradients or to the update."""

    _default_conv_only: bool = False
    _default_where: str = "gradient"
    _gc_base: type  # the optimizer class centralized() was given

    def __init__(
        self, *args: Any, conv_only: bool | None = None, where: str | None = None, **kwargs: Any
    ) -> None:
        conv_only, where = _options(conv_only, where, self._default_conv_only, self._default_where)
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only
        self.where = where

    def apply(self, grads: Sequence[Any], trainable_variables: Any = None) -> None:
        _apply_with_gc(self, super().apply, grads, trainable_variables, self.conv_only, self.where)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["conv_only"] = self.conv_only
        config["where"] = self.where
        return config

    def __reduce__(self) -> Any:  # a class centralized() made is made again on unpickling
        reduced = super().__reduce__()
        rebuild = reduced[0] if isinstance(reduced, tuple) else None
        if rebuild is None or getattr(rebuild, "__self__", None) is not type(self):
            return reduced
        key = (self._gc_base, self._default_conv_only, self._default_where)
        return (_unpickle, (key, rebuild.__name__, *reduced[1]))


def _unpickle(key: tuple[type, bool, str], method: str, *args: Any) -> Any:
    """Make the GC class of ``key`` again and let its ``method`` unpickle the optimizer."""
    cls = centralized(key[0], conv_only=key[1], where=key[2])
    return getattr(cls, method)(*args)


_CENTRALIZED_CLASSES: dict[tuple[type, bool, str], type] = {}


def _resolve_optimizer_class(optimizer_class: Any) -> type:
    """The class to centralize: for Keras's backend-specific ones (PyTorch's fused), the public."""
    if isinstance(optimizer_class, str):
        try:
            optimizer_class = type(keras.optimizers.get(optimizer_class))
        except ValueError as error:
            raise ValueError(
                f"Unknown optimizer {optimizer_class!r}: Keras has no optimizer by that name."
            ) from error
    if not isinstance(optimizer_class, type) or not issubclass(
        optimizer_class, keras.optimizers.Optimizer
    ):
        raise TypeError(
            "centralized() expects a keras.optimizers.Optimizer subclass such as "
            f"keras.optimizers.Adam (or its name, 'adam'); got {optimizer_class!r}. To "
            "add GC to an optimizer *instance*, use GradientCentralization(optimizer)."
        )
    public = getattr(keras.optimizers, optimizer_class.__name__, None)
    if optimizer_class.__module__.startswith("keras.src.backend.") and (
        isinstance(public, type) and issubclass(optimizer_class, public)
    ):
        return public
    return optimizer_class


def centralized(
    optimizer_class: type | str, conv_only: bool | None = False, where: str | None = "gradient"
) -> type:
    """Return a subclass of ``optimizer_class`` that applies GC.

    The subclass overrides ``apply``, the method every Keras 3 backend's
    trainer reaches: with ``where="gradient"`` it centralizes the kernels'
    gradients before handing them to the parent class; with
    ``where="update"`` it lets the parent take its step and centralizes the
    change that step made to each kernel. Its constructor takes the
    parent's arguments plus ``conv_only`` and ``where``, whose defaults are
    the values given here; ``get_config`` stores both. The same arguments
    give the same class.

    The class is registered with Keras (package ``gc_tutorial``): in a new
    process, import ``gc_tutorial.optimizers`` or run your ``centralized``
    call before ``keras.models.load_model``.

    Args:
        optimizer_class: A ``keras.optimizers.Optimizer`` subclass, or the
            name Keras knows it by (``"adam"``).
        conv_only: The subclass's default ``conv_only`` (``True``: the
            paper's GCC, conv layers only). ``None``: ``False``.
        where: The subclass's default ``where``, ``"gradient"`` or
            ``"update"``. ``None``: ``"gradient"``.

    Returns:
        The class, named ``GC<Name>`` (``GCC<Name>`` with ``conv_only``;
        ``OnUpdate`` appended with ``where="update"``).

    Raises:
        TypeError: ``optimizer_class`` is no optimizer class; ``conv_only``
            is no bool.
        ValueError: an unknown name; a class that applies GC already or wraps
            another optimizer (``LossScaleOptimizer``); ``where`` of another value.

    """
    conv_only, where = _options(conv_only, where)
    base = _resolve_optimizer_class(optimizer_class)
    if issubclass(base, (_CentralizedMixin, GradientCentralization)):
        raise ValueError(f"{base.__name__} already applies Gradient Centralization.")
    if issubclass(base, keras.optimizers.LossScaleOptimizer):
        raise ValueError(
            f"{base.__name__} wraps another optimizer; centralize that one and wrap the "
            "result: LossScaleOptimizer(GCAdam())."
        )
    key = (base, conv_only, where)
    if key not in _CENTRALIZED_CLASSES:
        # On PyTorch Adam() builds Keras's fused torch Adam (chosen in __new__): derive from it.
        parent = type(base.__new__(base))
        name = ("GCC" if conv_only else "GC") + base.__name__
        name += "OnUpdate" if where == "update" else ""
        variant = "conv kernels only (GCC)" if conv_only else "every kernel"
        cls = type(
            name,
            (_CentralizedMixin, parent),
            {
                "__doc__": f"`{base.__name__}` with GC of {variant}, on the {where} by default.",
                "__module__": __name__,
                "__qualname__": name,
                "_default_conv_only": conv_only,
                "_default_where": where,
                "_gc_base": base,
            },
        )
        if not base.__module__.startswith("keras."):  # a user's Adam must not replace GCAdam
            name = f"{name}@{base.__module__}.{base.__qualname__}"
        keras.saving.register_keras_serializable(package=_PACKAGE, name=name)(cls)
        _CENTRALIZED_CLASSES[key] = cls
    return _CENTRALIZED_CLASSES[key]


def _applies_gc(optimizer: Any) -> bool:
    """Whether ``optimizer``, or an optimizer it wraps, already applies GC."""
    while optimizer is not None:
        if isinstance(optimizer, (_CentralizedMixin, GradientCentralization)):
            return True
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return False


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GradientCentralization(keras.optimizers.Optimizer):
    """Wrap an optimizer instance so that it applies GC.

    Like ``keras.optimizers.LossScaleOptimizer``, the wrapper owns no
    hyperparameters or state: ``learning_rate``, ``iterations``, the
    variables, loss scaling, weight-decay exclusions and the ``use_ema``
    average are the inner optimizer's. Under mixed precision the
    ``LossScaleOptimizer`` goes outside, as ``compile`` puts it.

    Args:
        optimizer: The ``keras.optimizers.Optimizer`` instance to wrap.
        conv_only: Only the kernels of conv layers (GCC). ``None``: ``False``.
        where: ``"gradient"`` or ``"update"``. ``None``: ``"gradient"``.
        name: Name of the wrapper; defaults to ``"gc_" + optimizer.name``.

    Raises:
        TypeError: ``optimizer`` is no optimizer instance; ``conv_only`` no bool.
        ValueError: ``optimizer`` applies GC already, or is a
            ``LossScaleOptimizer``; ``where`` of another value.

    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        conv_only: bool | None = False,
        where: str | None = "gradient",
        name: str | None = None,
    ) -> None:
        """Wrap ``optimizer`` (see the class)."""
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                "GradientCentralization wraps a keras.optimizers.Optimizer instance, such as "
                f"keras.optimizers.Adam(); got {optimizer!r}. For a class, use centralized(cls)."
            )
        if _applies_gc(optimizer):
            raise ValueError(
                f"Optimizer {optimizer.name!r} already applies Gradient Centralization; "
                "wrapping it would centralize twice."
            )
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError(
                "Put the LossScaleOptimizer outside the GC wrapper: LossScaleOptimizer("
                "GradientCentralization(inner)); inside, compile would scale the loss twice."
            )
        conv_only, where = _options(conv_only, where)
        super().__init__(learning_rate=0.0, name=name or f"gc_{optimizer.name}")
        self.inner_optimizer = optimizer
        self.conv_only = conv_only
        self.where = where

    def build(self, var_list: Sequence[Any]) -> None:
        """Build the inner optimizer's state for ``var_list``, then the wrapper."""
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self) -> list[Any]:
        """The inner optimizer's variables; the wrapper has none of its own."""
        return self.inner_optimizer.variables

    @property
    def learning_rate(self) -> Any:
        """The inner optimizer's learning rate; setting it sets that."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self) -> Any:
        """The inner optimizer's step counter."""
        return self.inner_optimizer.iterations

    @property
    def loss_scale_factor(self) -> float | None:
        """The inner optimizer's ``loss_scale_factor``; setting it sets that."""
        inner = self.__dict__.get("inner_optimizer")
        return None if inner is None else inner.loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value: float | None) -> None:
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.loss_scale_factor = value
        elif value is not None:  # Optimizer.__init__ sets None before inner exists
            raise ValueError("Set loss_scale_factor on the inner optimizer.")

    def scale_loss(self, loss: Any) -> Any:
        """Scale ``loss`` by the inner optimizer's ``loss_scale_factor``."""
        return self.inner_optimizer.scale_loss(loss)

    @property
    def _model_variables_moving_average(self) -> list[Any]:
        # Read by keras.callbacks.SwapEMAWeights, also through a
        # LossScaleOptimizer around this wrapper.
        return self.inner_optimizer._model_variables_moving_average

    def exclude_from_weight_decay(
        self, var_list: Sequence[Any] | None = None, var_names: Sequence[str] | None = None
    ) -> None:
        """Exclude variables from the inner optimizer's weight decay."""
        self.inner_optimizer.exclude_from_weight_decay(var_list=var_list, var_names=var_names)

    def apply(self, grads: Sequence[Any], trainable_variables: Any = None) -> None:
        """Take the inner optimizer's step with GC on the gradients or on the update."""
        if trainable_variables is not None:  # an iterator is read once, here
            trainable_variables = list(trainable_variables)
        if not self.built:
            if trainable_variables is None:
                raise ValueError(
                    "The first call to apply() must pass trainable_variables "
                    "so that the optimizer can be built."
                )
            self.build(trainable_variables)
        inner = self.inner_optimizer
        _apply_with_gc(inner, inner.apply, grads, trainable_variables, self.conv_only, self.where)

    def apply_gradients(self, grads_and_vars: Any) -> Any:
        """As ``Optimizer.apply_gradients``, but return the inner optimizer's ``iterations``."""
        super().apply_gradients(grads_and_vars)
        return self.iterations

    def finalize_variable_values(self, var_list: Sequence[Any]) -> None:
        """Let the inner optimizer finalize ``var_list`` (with ``use_ema``, swap in the EMA)."""
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        """The wrapper's name, options and serialized inner optimizer."""
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "conv_only": self.conv_only,
            "where": self.where,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: Any = None
    ) -> GradientCentralization:
        """Rebuild the wrapper from :meth:`get_config`, deserializing the inner optimizer."""
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(
            config.pop("optimizer"), custom_objects=custom_objects
        )
        return cls(optimizer, **config)


GCSGD = centralized(keras.optimizers.SGD)
GCAdam = centralized(keras.optimizers.Adam)
GCAdamW = centralized(keras.optimizers.AdamW)
GCRMSprop = centralized(keras.optimizers.RMSprop)
