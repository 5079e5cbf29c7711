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

Both take ``where``, the place GC acts:

- ``where="gradient"`` (the default, the paper's Algorithm 1) centralizes
  each kernel's gradient before anything else touches it, so GC comes before
  gradient clipping and before the optimizer's moments. With SGD (with or
  without momentum) the update is then centralized too, and each output
  unit's mean weight never moves. With an adaptive optimizer it does move:
  the per-coordinate scaling of Adam or RMSprop un-centers the step.
- ``where="update"`` (the official code's ``gc_loc=False``, which its authors
  recommend for adaptive optimizers) centralizes the whole change one
  ``apply`` makes to each kernel, decoupled weight decay included. Each
  output unit's mean weight stays where it was, for any optimizer. With
  ``use_ema=True`` the moving average gets the same correction as the
  weights, so it is the average of the centralized weights: overwriting the
  weights with it (``ema_overwrite_frequency``, ``finalize_variable_values``
  at the end of ``fit``, ``keras.callbacks.SwapEMAWeights``) keeps the means
  too. With ``gradient_accumulation_steps``, the steps that only accumulate
  change no weight, and the step that applies the average is centralized.

Only kernels are centralized (see :func:`gc_tutorial.gc_applies_to`): biases,
normalization scales, embeddings and other weights are left alone, on every
backend. Each kernel is averaged over the axes that feed one output unit,
which depend on its layer:

=================================  ========================  ==========================
Layer kind                         Kernel layout             Axes GC averages over
=================================  ========================  ==========================
Dense, LSTM / GRU / SimpleRNN      ``(in, units)``           all but the last
Conv1D/2D/3D, ConvLSTM,            ``(*k, in, out)``         all but the last
SeparableConv's pointwise kernel
Conv1D/2D/3DTranspose              ``(*k, out, in)``         all but ``-2``
DepthwiseConv1D/2D,                ``(*k, in, multiplier)``  the spatial axes ``*k``
SeparableConv's depthwise kernel
EinsumDense, MultiHeadAttention    from the equation         the kernel subscripts not
                                                             in the output
=================================  ========================  ==========================

A variable does not know its layer: call :func:`gc_tutorial.mark_kernels`
on the built model before training, and the optimizers use the axes it
records (and ``conv_only=True`` picks conv layers by kind). Unmarked kernels
get the last-axis rule, right for Dense and ConvND; one with 3 or more axes
gets a :class:`gc_tutorial.GCWarning`, once. LoRA factors (``lora_kernel_a``,
``lora_kernel_b``) are not centralized, with one warning: centralizing ``A``
and ``B`` separately would not centralize the update ``A @ B``. A kernel
whose TensorFlow gradient is a ``tf.IndexedSlices`` is made dense and
centralized, as on JAX and PyTorch.

More rules, the same in both forms and on every backend:

- ``where=None`` and ``conv_only=None`` mean the default, as Keras's own
  optional arguments do (``data_format=None``): the class's default for a
  subclass (``centralized(..., where="update")`` makes ``"update"`` its
  default), ``"gradient"`` and ``False`` for :func:`centralized` and the
  wrapper. Anything else but ``"gradient"`` or ``"update"`` is an error.
- ``apply(grads, trainable_variables)`` accepts any iterable of variables,
  a generator included: it is read once into a list.
- With ``where="update"`` and a kernel that has a ``constraint`` (say
  ``kernel_constraint="non_neg"``), the constraint is applied again after
  the recentering, so it holds after every step as it does without GC; the
  per-unit means of such a kernel are then kept only as far as the
  constraint allows.
- With ``where="update"`` and ``gradient_accumulation_steps``, the kernels
  are recentered only on the steps that apply the accumulated update, so
  the steps that only accumulate leave the weights bit for bit as they were
  (also under XLA, whose fused reductions could otherwise move the means by
  round-off).
- On PyTorch with ``where="gradient"``, a gradient that is its variable's
  own ``.grad`` -- what Keras's trainer hands to ``apply``, and clears
  before the next backward pass -- is centralized in place (no copy of the
  kernel's size), as the official GC code does: after the step ``.grad``
  holds the centralized gradient. Gradients passed in any other way are
  not changed.
- The optimizers pickle (``pickle.dumps(GCAdam())``), also those of classes
  made at run time by :func:`centralized`: unpickling makes the class again.

Two differences from the official PyTorch code (``SGD_GC``, ``Adam_GC``),
on purpose:

- Weight decay. The official ``SGD_GC`` adds L2 weight decay to the gradient
  *before* GC, so the decay is centralized and the means stay fixed. Keras's
  ``weight_decay`` is decoupled (it shrinks the weights outside the
  gradient), so with ``where="gradient"`` it is not centralized and it
  shrinks each unit's mean weight too. ``where="update"`` centralizes it with
  the rest of the step, which keeps the means, as the official code does.
- Transposed convolutions. The official code averages every weight over all
  axes but PyTorch's first, which for ``ConvTranspose2d`` (``(in, out, kh,
  kw)``) is the input channel; here, once :func:`gc_tutorial.mark_kernels`
  has run, each *output* channel's fan-in is averaged, as for every other
  layer. (Depthwise kernels agree: PyTorch's ``(in * multiplier, 1, kh,
  kw)`` is averaged per channel over the kernel window, as here.)

It is longer than the package's usual 400 lines: 231 of its lines are
docstrings (the chapters show this module's code and read its docs), and
the subclass factory and the wrapper belong together: they share every check
and must stay alike (tests/library/test_optimizers.py holds them to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras

from gc_tutorial.centralize import _check_conv_only
from gc_tutorial.plans import centralize_in_place
from gc_tutorial.update_mode import _apply_to_update

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


def _check_where(where: Any, default: str = "gradient") -> str:
    """``where`` checked; ``None`` means ``default``."""
    if where is None:
        return default
    if not isinstance(where, str) or where not in WHERE:
        raise ValueError(
            f"where must be 'gradient' (centralize the gradient, the paper's "
            f"form) or 'update' (centralize the optimizer's step, the "
            f"official code's gc_loc=False), or None for the default; got {where!r}."
        )
    return where


def _check_option(conv_only: Any, default: bool = False) -> bool:
    """``conv_only`` checked; ``None`` means ``default``."""
    return default if conv_only is None else _check_conv_only(conv_only)


def _check_lengths(grads: Sequence[Any], variables: Sequence[Any]) -> None:
    if len(grads) != len(variables):
        raise ValueError(
            f"Got {len(grads)} gradients for {len(variables)} trainable "
            "variables; Gradient Centralization needs exactly one gradient "
            "per variable."
        )


def _model_variables(optimizer: keras.optimizers.Optimizer, given: Any) -> list[Any] | None:
    """The variables an ``apply(grads, given)`` call updates, if known yet."""
    if given is not None:
        return list(given)
    if optimizer.built:
        # What Optimizer.apply(grads) itself falls back to (and what the JAX
        # trainer's stateless_apply relies on).
        return list(optimizer._trainable_variables)
    return None  # Optimizer.apply raises its own error for this call


if TYPE_CHECKING:
    # What the mixin is mixed into, so that the type checker knows its
    # ``super()`` (``apply``, ``get_config``) and ``self`` are an optimizer's.
    from keras.optimizers import Optimizer as _OptimizerBase
else:
    _OptimizerBase = object


class _CentralizedMixin(_OptimizerBase):
    """Applies GC in ``apply``, to the gradients or to the update."""

    _default_conv_only: bool = False
    _default_where: str = "gradient"
    _gc_base: type  # the optimizer class centralized() was given

    def __init__(
        self,
        *args: Any,
        conv_only: bool | None = None,
        where: str | None = None,
        **kwargs: Any,
    ) -> None:
        conv_only = _check_option(conv_only, self._default_conv_only)
        where = _check_where(where, self._default_where)
        super().__init__(*args, **kwargs)
        self.conv_only = conv_only
        self.where = where

    def apply(self, grads: Sequence[Any], trainable_variables: Any = None) -> None:
        grads = list(grads)
        if trainable_variables is not None:  # an iterator is read once, here
            trainable_variables = list(trainable_variables)
        variables = _model_variables(self, trainable_variables)
        parent_apply = super().apply
        if variables is None:
            return parent_apply(grads, trainable_variables)
        _check_lengths(grads, variables)
        if self.where == "gradient":
            return parent_apply(
                centralize_in_place(grads, variables, self.conv_only), trainable_variables
            )
        _apply_to_update(
            self,
            parent_apply,
            grads,
            trainable_variables,
            variables,
            self.conv_only,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["conv_only"] = self.conv_only
        config["where"] = self.where
        return config

    def __reduce__(self) -> Any:
        # Keras pickles an optimizer as (type(self)._unpickle_model, (file,)),
        # which names the class by its module attribute: a class made by
        # centralized() at run time has none. Make it again on unpickling.
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
                f"Unknown optimizer {optimizer_class!r}: Keras has no optimizer by that name."
            ) from error
    if isinstance(optimizer_class, type) and issubclass(
        optimizer_class, keras.optimizers.Optimizer
    ):
        return _public_optimizer_class(optimizer_class)
    got = (
        f"an instance of {type(optimizer_class).__name__}"
        if isinstance(optimizer_class, keras.optimizers.Optimizer)
        else repr(optimizer_class)
    )
    raise TypeError(
        "centralized() expects a keras.optimizers.Optimizer subclass such as "
        f"keras.optimizers.Adam (or its name, 'adam'); got {got}. To add GC "
        "to an optimizer *instance*, use GradientCentralization(optimizer)."
    )


def _registered_name(name: str, base: type) -> str:
    """The name the class is registered under in Keras's serialization registry.

    Keras's own optimizers give the plain name (``GCAdam``); any other class
    adds where it comes from, so that centralizing a user's class that is
    also called ``Adam`` cannot replace the package's ``GCAdam`` when models
    are loaded.
    """
    if base.__module__.startswith("keras."):
        return name
    return f"{name}@{base.__module__}.{base.__qualname__}"


def centralized(
    optimizer_class: type | str, conv_only: bool | None = False, where: str | None = "gradient"
) -> type:
    """Return a subclass of ``optimizer_class`` that applies GC.

    The subclass overrides ``apply``, the method every Keras 3 backend's
    trainer reaches. With ``where="gradient"`` it centralizes the gradients
    of the kernels (see :func:`gc_tutorial.centralize_gradients`) before
    handing them to the parent class; with ``where="update"`` it lets the
    parent take its step and centralizes the change that step made to each
    kernel (see the module docstring). Its constructor takes the parent's
    arguments plus ``conv_only`` and ``where``, whose defaults are the values
    given here, and ``get_config`` stores both.

    The class is registered with Keras under the package name
    ``gc_tutorial``, so ``keras.models.load_model`` restores models compiled
    with it, optimizer state included. ``GCSGD``, ``GCAdam``, ``GCAdamW`` and
    ``GCRMSprop`` are made when ``gc_tutorial`` is imported; a class made
    by calling ``centralized`` yourself (``centralized(keras.optimizers.Lion)``)
    exists only once that call has run, so run it before ``load_model`` in a
    new process, as for any custom Keras object.

    Calling ``centralized`` again with the same arguments returns the same
    class.

    Args:
        optimizer_class: A ``keras.optimizers.Optimizer`` subclass, or the
            name Keras knows it by (``"adam"``).
        conv_only: Default for the subclass's ``conv_only`` argument: ``True``
            gives the paper's GCC variant (conv layers only). ``None``:
            ``False``.
        where: Default for the subclass's ``where`` argument: ``"gradient"``
            or ``"update"``. ``None``: ``"gradient"``.

    Returns:
        The new optimizer class, named ``GC<Name>`` (``GCC<Name>`` when
        ``conv_only``; ``OnUpdate`` appended when ``where="update"``).

    Raises:
        TypeError: ``optimizer_class`` is not an optimizer class, or
            ``conv_only`` is not a bool.
        ValueError: the name is unknown to Keras; the class already applies
            GC or wraps another optimizer (``LossScaleOptimizer``); ``where``
            is neither ``"gradient"`` nor ``"update"``.

    Example:
        >>> GCAdam = centralized(keras.optimizers.Adam)
        >>> model.compile(optimizer=GCAdam(learning_rate=1e-3), loss="mse")
    """
    conv_only = _check_option(conv_only)
    where = _check_where(where)
    base = _resolve_optimizer_class(optimizer_class)
    if issubclass(base, (_CentralizedMixin, GradientCentralization)):
        raise ValueError(
            f"{base.__name__} already applies Gradient Centralization; "
            "centralizing twice would be a no-op at twice the cost."
        )
    if issubclass(base, keras.optimizers.LossScaleOptimizer):
        raise ValueError(
            f"{base.__name__} wraps another optimizer; centralize that one "
            "and wrap the result: LossScaleOptimizer(GCAdam())."
        )
    key = (base, conv_only, where)
    if key not in _CENTRALIZED_CLASSES:
        parent = _constructed_class(base)
        name = ("GCC" if conv_only else "GC") + base.__name__
        name += "OnUpdate" if where == "update" else ""
        variant = "conv kernels only (GCC)" if conv_only else "every kernel"
        cls = type(
            name,
            (_CentralizedMixin, parent),
            {
                "__doc__": (
                    f"`{base.__name__}` with Gradient Centralization of "
                    f"{variant}, on the {where} by default.\n\nTakes the "
                    f"arguments of `{base.__name__}` plus `conv_only` and "
                    "`where`. Made by `gc_tutorial.centralized`."
                ),
                "__module__": __name__,
                "__qualname__": name,
                "_default_conv_only": conv_only,
                "_default_where": where,
                "_gc_base": base,
            },
        )
        keras.saving.register_keras_serializable(
            package=_PACKAGE, name=_registered_name(name, base)
        )(cls)
        _CENTRALIZED_CLASSES[key] = cls
    return _CENTRALIZED_CLASSES[key]


def _constructed_class(optimizer_class: Any) -> type:
    """The class of what ``optimizer_class(...)`` builds: usually itself.

    On PyTorch, Keras's built-in optimizers build their fused, multi-tensor
    versions (``keras.optimizers.Adam()`` is a ``torch_adam.Adam``, a
    subclass of ``Adam``), chosen in ``__new__`` for those exact classes
    only; a plain subclass of ``Adam`` would update one variable at a time,
    several times slower on models with many small tensors. GC subclasses
    derive from the class ``__new__`` picks, so they keep the fused step.
    ``__new__`` alone builds no variables and runs no ``__init__``.
    """
    return type(optimizer_class.__new__(optimizer_class))


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

    Works like ``keras.optimizers.LossScaleOptimizer``: the wrapper owns no
    hyperparameters or state of its own. ``learning_rate``, ``iterations``,
    the optimizer variables, loss scaling (``loss_scale_factor``,
    ``scale_loss``), weight-decay exclusions and the moving average of
    ``use_ema`` are the inner optimizer's, and the trainer reaches them
    through the wrapper. With ``where="gradient"`` the gradients passed to
    ``apply`` are centralized, then handed to the inner optimizer, so GC
    comes before its clipping and moments; with ``where="update"`` the inner
    optimizer takes its step and the change to each kernel is centralized.

    For mixed precision put the ``LossScaleOptimizer`` outside:
    ``LossScaleOptimizer(GradientCentralization(opt))``, which is what
    ``compile`` builds under the ``mixed_float16`` policy. The other order is
    refused, since ``compile`` would then scale the loss twice.

    Args:
        optimizer: The ``keras.optimizers.Optimizer`` instance to wrap.
        conv_only: If ``True``, centralize only the kernels of conv layers
            (GCC). ``None``: ``False``.
        where: ``"gradient"`` or ``"update"`` (see :mod:`gc_tutorial.optimizers`).
            ``None``: ``"gradient"``.
        name: Name of the wrapper; defaults to ``"gc_" + optimizer.name``.

    Raises:
        TypeError: ``optimizer`` is not a Keras optimizer instance, or
            ``conv_only`` is not a bool.
        ValueError: ``optimizer`` already applies GC, or is a
            ``LossScaleOptimizer``; ``where`` is neither ``"gradient"`` nor
            ``"update"``.

    Example:
        >>> optimizer = GradientCentralization(keras.optimizers.Adam(1e-3))
        >>> model.compile(optimizer=optimizer, loss="mse")
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        conv_only: bool | None = False,
        where: str | None = "gradient",
        name: str | None = None,
    ) -> None:
        """Check ``optimizer`` and the options, then wrap it (see the class docstring)."""
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                "GradientCentralization wraps a keras.optimizers.Optimizer "
                f"instance, such as keras.optimizers.Adam(); got {optimizer!r}."
                " To build a GC optimizer class, use centralized(cls)."
            )
        if _applies_gc(optimizer):
            raise ValueError(
                f"Optimizer {optimizer.name!r} already applies Gradient "
                "Centralization; wrapping it would centralize twice."
            )
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            raise ValueError(
                "Put the LossScaleOptimizer outside the GC wrapper: "
                "LossScaleOptimizer(GradientCentralization(inner)). Inside, "
                "compile(...) under mixed precision would scale the loss twice."
            )
        conv_only = _check_option(conv_only)
        where = _check_where(where)
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
        grads = list(grads)
        if trainable_variables is not None:  # an iterator is read once, here
            trainable_variables = list(trainable_variables)
        if not self.built:
            if trainable_variables is None:
                raise ValueError(
                    "The first call to apply() must pass trainable_variables "
                    "so that the optimizer can be built."
                )
            self.build(trainable_variables)
        variables = _model_variables(self, trainable_variables)
        assert variables is not None  # built above
        _check_lengths(grads, variables)
        if self.where == "gradient":
            self.inner_optimizer.apply(
                centralize_in_place(grads, variables, self.conv_only), trainable_variables
            )
        else:
            _apply_to_update(
                self.inner_optimizer,
                self.inner_optimizer.apply,
                grads,
                trainable_variables,
                variables,
                self.conv_only,
            )

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
