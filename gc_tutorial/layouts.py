"""Which weights are kernels, and which axes of each kernel feed one output unit.

GC subtracts, for every output unit, the mean of the gradient over the
weights that feed it (its *fan-in*). Where they lie depends on the layer,
not only on the kernel's shape. The one table of layer kinds:

=====================  ====================  ======================  =====================
Layer kind             Kernel attribute      Kernel layout           Fan-in axes
=====================  ====================  ======================  =====================
Dense                  ``kernel``            ``(in, units)``         all but the last
Conv1D/2D/3D           ``kernel``            ``(*k, in, out)``       all but the last
Conv1D/2D/3DTranspose  ``kernel``            ``(*k, out, in)``       all but ``-2``
DepthwiseConv1D/2D     ``kernel``            ``(*k, in, mult)``      the spatial ``*k``
SeparableConv1D/2D     ``depthwise_kernel``  ``(*k, in, mult)``      the spatial ``*k``
SeparableConv1D/2D     ``pointwise_kernel``  ``(*1, in*mult, out)``  all but the last
EinsumDense            ``kernel``            from the equation       the kernel's letters
                                                                     not in the output
MultiHeadAttention,    ``query``, ``key``,   ``(dim, heads, size)``  axis 0
GroupedQueryAttention  ``value``
(EinsumDense inside)   ``attention_output``  ``(heads, size, dim)``  axes 0 and 1
LSTM, GRU, SimpleRNN,  ``kernel``,           ``(in, gates*units)``,  all but the last
ConvLSTM1D/2D/3D       ``recurrent_kernel``  ``(*k, in, 4*f)``
Embedding              ``embeddings``        ``(vocabulary, dim)``   none: not a kernel
=====================  ====================  ======================  =====================

A kernel is a weight named ``kernel`` or ``*_kernel`` (:func:`is_kernel`);
biases, normalization scales, embeddings, PReLU's ``alpha`` are not, nor
LoRA factors (``lora_kernel_a``, ``lora_kernel_b``: centralizing ``A`` and
``B`` apart would not centralize ``A @ B``; GC says so once).

The layout GC uses for a kernel (:func:`layout_of`), and so ``conv_only``'s
choice of conv layers, in this order:

1. The one :func:`mark_kernels` recorded on the variable: it knows each
   layer of a built model, whatever its name. ``GCModel`` marks its own.
2. The one the variable's path names. Keras gives a layer its kind's name
   by default (``conv2d_transpose``, ``conv2d_transpose_1``, ...) and each
   variable its layer's path: ``.../conv2d_transpose_1/kernel`` is a
   transposed kernel, ``.../multi_head_attention/query/kernel`` a projection.
3. Else the last-axis rule, right for Dense (any 2-axis kernel) and ConvND.
   For a kernel left to it with 3 or more axes, or an ``EinsumDense``
   kernel under its default name (its equation decides), GC gives one
   :class:`GCWarning` naming the kernel and the fix: ``mark_kernels(model)``
   or ``GCModel``.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
from keras.src.utils.naming import to_snake_case

__all__ = [
    "GCWarning",
    "KernelLayout",
    "einsum_fan_in_axes",
    "fan_in_axes",
    "gc_applies_to",
    "is_kernel",
    "layout_of",
    "mark_kernels",
]

Axes = tuple[int, ...]

_MARK = "_gc_layout"  # where mark_kernels records the layout on a variable
_WARNED = "_gc_warned"  # the warnings a variable has had, so each comes once
_LORA = ("lora_kernel_a", "lora_kernel_b")


class GCWarning(UserWarning):
    """Gradient Centralization could not do exactly what was asked for a variable.

    Given once per variable: for a kernel whose layout GC has to guess, for
    the LoRA factors GC leaves alone. Silence it with
    ``warnings.filterwarnings("ignore", category=gc_tutorial.GCWarning)``.
    """


@dataclass(frozen=True)
class KernelLayout:
    """How one kernel's axes map to output units.

    Attributes:
        layer: The layer's kind, its class name (an RNN cell's: its RNN's).
        fan_in_axes: The axes that feed one output unit, sorted: those GC
            averages over (none for an elementwise ``EinsumDense``).
        conv: Whether the layer is a convolution, for ``conv_only=True``.
        known: ``False`` for the last-axis rule taken as a guess.
    """

    layer: str
    fan_in_axes: Axes
    conv: bool
    known: bool = True


def check_conv_only(conv_only: Any, owner: str = "") -> bool:
    """``conv_only`` if it is ``True`` or ``False``; else a ``TypeError`` naming ``owner``."""
    if not isinstance(conv_only, bool):
        raise TypeError(
            f"{owner}conv_only must be True or False (a bool); got {conv_only!r} "
            f"({type(conv_only).__name__})."
        )
    return conv_only


def fan_in_size(shape: Sequence[int | None], axes: Axes) -> int:
    """How many weights feed one output unit: the product of ``shape`` over ``axes``."""
    size = 1
    for axis in axes:
        dim = shape[axis]
        if dim is None:
            raise ValueError(
                f"Gradient Centralization needs fan-in axes {axes} of static size; got "
                f"shape {tuple(shape)}. Weight gradients in Keras always have a static shape."
            )
        size *= int(dim)
    return size


def _weight_name(variable: Any) -> str:
    """The variable's own name, without its layer's path: ``kernel`` for ``dense/kernel``."""
    return str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":", 1)[0]


def is_kernel(variable: Any) -> bool:
    """True if ``variable`` is a layer's kernel: named ``kernel`` or ``*_kernel``.

    Name your own layer's weights so for GC to treat them as kernels.

    Args:
        variable: A ``keras.Variable`` (anything with a ``name``).
    """
    name = _weight_name(variable)
    return name == "kernel" or name.endswith("_kernel")


def _all_but(rank: int, *outputs: int) -> Axes:
    """The axes of a rank-``rank`` kernel other than ``outputs`` (negative allowed)."""
    skip = {axis % rank for axis in outputs}
    return tuple(axis for axis in range(rank) if axis not in skip)


def einsum_fan_in_axes(equation: str) -> Axes:
    """The fan-in axes of an ``EinsumDense`` kernel: its letters not in the output.

    ``(0,)`` for ``"abc,cde->abde"`` (the kernel is the second operand),
    ``(0, 1)`` for ``"abcd,cde->abe"``.

    Raises:
        TypeError: ``equation`` is not a string.
        ValueError: ``equation`` is not of the form ``X,Y->Z``.
    """
    if not isinstance(equation, str):
        raise TypeError(f"equation must be an einsum string; got {equation!r}.")
    match = re.fullmatch(r"([a-zA-Z.]+),([a-zA-Z]+)->([a-zA-Z.]+)", equation.replace(" ", ""))
    if match is None:
        raise ValueError(
            f"Cannot read the kernel's axes from the einsum equation {equation!r}: "
            "EinsumDense equations have the form 'ab,bc->ac', with '...' allowed "
            "in the input and output only."
        )
    kernel, output = match.group(2), match.group(3)
    return tuple(axis for axis, letter in enumerate(kernel) if letter not in output)


# The table of layer kinds: Keras class name -> (the output axes of its kernels, by
# weight name where they differ; whether it is a convolution). None: from the equation.
_KINDS: dict[str, tuple[Any, bool]] = {
    **dict.fromkeys(("Dense", "LSTMCell", "GRUCell", "SimpleRNNCell"), ((-1,), False)),
    **dict.fromkeys(("Conv1D", "Conv2D", "Conv3D", "ConvLSTMCell"), ((-1,), True)),
    "STFTSpectrogram": ((-1,), True),
    **dict.fromkeys(("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"), ((-2,), True)),
    **dict.fromkeys(("DepthwiseConv1D", "DepthwiseConv2D"), ((-2, -1), True)),
    **dict.fromkeys(
        ("SeparableConv1D", "SeparableConv2D"),
        ({"depthwise_kernel": (-2, -1), "pointwise_kernel": (-1,)}, True),
    ),
    "EinsumDense": (None, False),
}


def _fan_in_by_kind(kind: str, name: str, rank: int, layer: Any = None) -> Axes | None:
    """The fan-in of a ``kind`` layer's kernel ``name``; ``None``: its equation decides."""
    outputs = _KINDS[kind][0]
    if isinstance(outputs, dict):
        outputs = outputs.get(name, (-1,))
    if outputs is None:
        return None if layer is None else einsum_fan_in_axes(layer.equation)
    return _all_but(rank, *outputs)


# The attention layers' EinsumDense projections, which they name themselves.
_ATTENTION = ("MultiHeadAttention", "GroupedQueryAttention")
_PROJECTIONS = {"query": (0,), "key": (0,), "value": (0,), "gate": (0,), "attention_output": (0, 1)}
# Keras names a layer after its class: Conv2DTranspose -> conv2d_transpose(_1, _2, ...).
_DEFAULT_NAMES = {to_snake_case(kind): kind for kind in (*_KINDS, *_ATTENTION)}
_NUMBERED = re.compile(r"_\d+$")


@functools.lru_cache(maxsize=4096)
def _layout_from_path(path: str, name: str, rank: int) -> KernelLayout | None:
    """The layout the default layer names on ``path`` give a kernel, if they give one."""
    owners = [_NUMBERED.sub("", part) for part in path.split("/")[:-1]]
    kind = _DEFAULT_NAMES.get(owners[-1]) if owners else None
    if kind in _KINDS:
        axes = _fan_in_by_kind(kind, name, rank)
        return KernelLayout(kind, axes or _all_but(rank, -1), _KINDS[kind][1], axes is not None)
    if len(owners) > 1 and _DEFAULT_NAMES.get(owners[-2]) in _ATTENTION:
        axes = _PROJECTIONS.get(owners[-1])
        return None if axes is None else KernelLayout("EinsumDense", axes, conv=False)
    return None


def layout_of(variable: Any) -> KernelLayout | None:
    """The layout GC uses for ``variable``; ``None`` for a variable that is no kernel.

    The one :func:`mark_kernels` recorded; else the one the variable's path
    names; else the last-axis rule, ``known=False`` (see the module docstring).
    """
    marked = getattr(variable, _MARK, None)
    if isinstance(marked, KernelLayout):
        return marked
    if not is_kernel(variable) or not hasattr(variable, "shape"):
        return None
    rank = len(variable.shape)
    path = str(getattr(variable, "path", None) or _weight_name(variable))
    named = _layout_from_path(path, _weight_name(variable), rank)
    return named or KernelLayout("unknown", _all_but(rank, -1), conv=rank >= 3, known=False)


def fan_in_axes(variable: Any, conv_only: bool = False) -> Axes | None:
    """The axes GC averages ``variable``'s gradient over, or ``None`` if it leaves it alone.

    Those of :func:`layout_of`; ``None`` for anything that is no kernel, with
    ``conv_only`` for a kernel of a layer that is no convolution, and when
    each output unit has a single input weight (a Dense layer with one
    input): GC would zero its gradient and freeze it.

    Args:
        variable: A ``keras.Variable``.
        conv_only: Only the kernels of conv layers, the paper's GCC.

    Raises:
        TypeError: ``conv_only`` is not a bool.
    """
    conv_only = check_conv_only(conv_only)
    layout = layout_of(variable)
    if layout is None or (conv_only and not layout.conv) or not layout.fan_in_axes:
        return None
    if fan_in_size(tuple(variable.shape), layout.fan_in_axes) <= 1:
        return None
    return layout.fan_in_axes


def gc_applies_to(variable: Any, conv_only: bool = False) -> bool:
    """True if GC applies to ``variable``: its :func:`fan_in_axes` are not ``None``.

    Args:
        variable: A ``keras.Variable``.
        conv_only: Only the kernels of conv layers, the paper's GCC.
    """
    return fan_in_axes(variable, conv_only=conv_only) is not None


_GUESSED = (
    "Gradient Centralization has no recorded layout for the kernel(s) {paths}, and their "
    "paths name no layer kind that tells which axes feed each output unit (a layer named "
    "otherwise than by Keras, or an EinsumDense: its equation decides). It averages over "
    "every axis but the last, right for Dense and ConvND kernels, wrong for transposed, "
    "depthwise and most einsum kernels. Fix: call gc_tutorial.mark_kernels(model) once "
    "the model is built, or train a gc_tutorial.GCModel. (Given once per variable.)"
)
_UNKNOWN_KIND = (
    "gc_tutorial.mark_kernels does not know the layer kind of the kernel(s) {paths}: GC "
    "averages them over every axis but the last, as Dense and ConvND kernels. If that is "
    "not their layout, name them otherwise (not 'kernel' or '*_kernel') to leave them out."
)
_LORA_MESSAGE = (
    "Gradient Centralization does not apply to the LoRA factors {paths}: centralizing A "
    "and B apart would not centralize their update A @ B, so they are trained as the "
    "plain optimizer trains them. (Given once per variable.)"
)


def _warn_once(variables: list[Any], kind: str, message: str) -> None:
    """Warn ``message`` (``{paths}`` in it) of those ``variables`` not yet warned of ``kind``."""
    fresh = []
    for variable in variables:
        had: frozenset[str] = getattr(variable, _WARNED, frozenset())
        if kind not in had:
            with contextlib.suppress(AttributeError, TypeError):  # a variable without __dict__
                setattr(variable, _WARNED, had | {kind})
            fresh.append(variable)
    if fresh:
        paths = ", ".join(repr(str(getattr(v, "path", None) or v.name)) for v in fresh)
        warnings.warn(message.format(paths=paths), GCWarning, stacklevel=4)


def _guessed(variable: Any) -> bool:
    """Whether ``variable``'s layout is a guess that could be wrong."""
    layout = layout_of(variable)
    if layout is None or layout.known:
        return False
    return len(variable.shape) >= 3 or layout.layer == "EinsumDense"


def kernel_axes(variables: Sequence[Any], conv_only: bool = False) -> list[Axes | None]:
    """:func:`fan_in_axes` of each variable, warning once per variable of guesses and LoRA."""
    axes = [fan_in_axes(v, conv_only) for v in variables]
    guessed = [v for v, a in zip(variables, axes, strict=True) if a is not None and _guessed(v)]
    _warn_once(guessed, "guess", _GUESSED)
    _warn_once([v for v in variables if _weight_name(v) in _LORA], "lora", _LORA_MESSAGE)
    return axes


def _kind_of(layer: Any) -> str | None:
    """The first Keras class of the table in ``layer``'s MRO: subclasses get their parent's."""
    for cls in type(layer).__mro__:
        if cls.__name__ in _KINDS and cls.__module__.startswith("keras."):
            return cls.__name__
    return None


def mark_kernels(model: Any) -> dict[str, KernelLayout]:
    """Record on every kernel of ``model`` the axes GC averages over.

    Walks every layer, nested ones included (RNN cells, ``Bidirectional``'s
    layers, ``MultiHeadAttention``'s projections), and records each kernel's
    :class:`KernelLayout` on the variable (:func:`layout_of` reads it):
    whatever the layers are named, each kernel is then averaged over its
    real fan-in, and ``conv_only=True`` picks conv layers by kind. Call it
    once the model is built; calling it again is harmless. A kernel with 3
    or more axes of a layer kind the table does not know (a custom layer)
    gets the last-axis rule and one :class:`GCWarning`.

    Args:
        model: A ``keras.Model`` or any ``keras.layers.Layer``.

    Returns:
        ``{variable.path: KernelLayout}`` for every kernel marked.

    Raises:
        TypeError: ``model`` is not a Keras layer or model.
        ValueError: ``model`` is not built yet, so it has no kernels to mark.

    Example:
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2DTranspose(4, 3)])
        >>> mark_kernels(model)
        {'sequential/conv2d_transpose/kernel': KernelLayout(layer='Conv2DTranspose', ...)}
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            "mark_kernels expects a keras.layers.Layer or a keras.Model; got "
            f"{type(model).__name__} {model!r:.80}."
        )
    if not model.weights and not model.built:
        raise ValueError(
            f"mark_kernels: {model.name!r} is not built yet, so it has no kernels to "
            "mark. Build it first: give it a keras.Input, call model.build(input_shape) "
            "or call it on a batch."
        )
    layers = list({id(layer): layer for layer in model._flatten_layers()}.values())
    kinds = {id(layer): type(layer).__name__ for layer in layers}
    for layer in layers:  # an RNN cell reports its RNN layer's kind
        cells = [layer.cell] if isinstance(layer, keras.layers.RNN) else []
        while cells:
            cell = cells.pop()
            kinds[id(cell)] = type(layer).__name__
            cells.extend(getattr(cell, "cells", []))  # StackedRNNCells
    marked: dict[str, KernelLayout] = {}
    guessed = []
    for layer in layers:
        kind = _kind_of(layer)
        for kernel in [*layer._trainable_variables, *layer._non_trainable_variables]:
            if not is_kernel(kernel):
                continue
            rank = len(kernel.shape)
            name = _weight_name(kernel)
            axes = None if kind is None else _fan_in_by_kind(kind, name, rank, layer)
            if kind is None or axes is None:  # a layer kind the table does not know
                guessed += [kernel] if rank >= 3 else []
                layout = KernelLayout(kinds[id(layer)], _all_but(rank, -1), rank >= 3, False)
            else:
                layout = KernelLayout(kinds[id(layer)], axes, _KINDS[kind][1])
            setattr(kernel, _MARK, layout)
            marked[str(getattr(kernel, "path", kernel.name))] = layout
    _warn_once(guessed, "guess", _UNKNOWN_KIND)
    return marked
