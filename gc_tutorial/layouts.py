"""Which axes of each kernel feed one output unit: the axes GC averages over.

Gradient Centralization subtracts, for every output unit, the mean of the
gradient over the weights that feed that unit (its *fan-in*). Where those
weights lie depends on the layer, not only on the kernel's shape:

========================  ====================  ======================  ====================
Layer kind                Kernel attribute      Kernel layout           Fan-in axes (what GC
                                                                        averages over)
========================  ====================  ======================  ====================
Dense                     ``kernel``            ``(in, units)``         all but the last
Conv1D/2D/3D              ``kernel``            ``(*k, in, out)``       all but the last
Conv1D/2D/3DTranspose     ``kernel``            ``(*k, out, in)``       all but ``-2``: the
                                                                        spatial ones and the
                                                                        last
DepthwiseConv1D/2D        ``kernel``            ``(*k, in, mult)``      the spatial ``*k``
SeparableConv1D/2D        ``depthwise_kernel``  ``(*k, in, mult)``      the spatial ``*k``
SeparableConv1D/2D        ``pointwise_kernel``  ``(*1, in*mult, out)``  all but the last
EinsumDense, and so       ``kernel``            from the equation       the kernel's
MultiHeadAttention's                                                    subscripts that are
query, key, value and                                                   not in the output's
output projections
LSTM, GRU, SimpleRNN      ``kernel``,           ``(in, gates*units)``,  all but the last
(their cells)             ``recurrent_kernel``  ``(units, gates*u.)``
ConvLSTM1D/2D/3D          ``kernel``,           ``(*k, in, 4*f)``,      all but the last
(their cells)             ``recurrent_kernel``  ``(*k, f, 4*f)``
Embedding                 ``embeddings``        ``(vocabulary, dim)``   none: not a kernel,
                                                                        never centralized
========================  ====================  ======================  ====================

For an ``EinsumDense`` with equation ``"abc,cde->abde"`` (MultiHeadAttention's
query, key and value: kernel ``(dim, heads, key_dim)``) the subscripts ``d``
and ``e`` appear in the output, so each ``(head, key_dim)`` pair is an output
unit and its fan-in is axis 0; for ``"abcd,cde->abe"`` (the attention output:
kernel ``(heads, key_dim, dim)``) the fan-in is axes ``(0, 1)``.

A variable does not know its layer, so the layout has to be recorded on it:
:func:`mark_kernels` walks a model (nested layers, RNN cells and the
sublayers of MultiHeadAttention included) and records each kernel's
:class:`KernelLayout` on the variable. The GC operator and optimizers read it
(:func:`gc_tutorial.fan_in_axes`). A kernel nobody marked falls back to
"output units on the last axis", which is right for Dense (any 2-axis
kernel) and ConvND, the common cases; an unmarked kernel with 3 or more axes
gets one :class:`GCWarning` naming it, since it might be a transposed,
depthwise or einsum kernel. ``mark_kernels`` warns the same way, once, for a
3-or-more-axis kernel of a layer kind it does not know (a custom layer), and
records the last-axis rule for it.

Two kinds of weights are never centralized, on purpose:

- LoRA factors (``lora_kernel_a``, ``lora_kernel_b``, after
  ``layer.enable_lora(rank)``): the update LoRA makes to the frozen kernel is
  ``A @ B``, and centralizing the gradients of ``A`` and ``B`` separately
  does not centralize it. The GC optimizers and
  :func:`gc_tutorial.centralize_gradients` train them as the plain optimizer
  does and say so once, with a :class:`GCWarning` that names them.
- Quantized kernels (``layer.quantize("int8")`` and the other integer
  modes) are not trainable, so they get no gradient and no GC; a
  ``float8`` kernel stays a trainable float kernel and is centralized as
  usual.

It is a little over the package's usual 400 lines because about 170 of
them are docstrings: the table of layer kinds is documented where it is kept.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras

__all__ = [
    "GCWarning",
    "KernelLayout",
    "einsum_fan_in_axes",
    "kernel_layouts",
    "layout_of",
    "mark_kernels",
]

_ATTRIBUTE = "_gc_layout"  # where mark_kernels records the layout on a variable
_WARNED = "_gc_warned"  # the warnings a variable has had, so each comes once


class GCWarning(UserWarning):
    """Gradient Centralization could not do exactly what was asked for a variable.

    Given once per variable: for a kernel whose layout GC has to guess, for
    the LoRA factors GC leaves alone. Silence it with
    ``warnings.filterwarnings("ignore", category=gc_tutorial.GCWarning)``.
    """


@dataclass(frozen=True)
class KernelLayout:
    """How one kernel's axes map to output units, as recorded by :func:`mark_kernels`.

    Attributes:
        layer: The kind of layer the kernel belongs to (its class name, e.g.
            ``"Conv2DTranspose"``; for an RNN cell, the RNN layer's, e.g.
            ``"LSTM"``).
        fan_in_axes: The axes that feed one output unit, non-negative and
            sorted: the axes GC averages over. Empty when every axis is an
            output axis (an elementwise ``EinsumDense`` kernel): then GC does
            not apply.
        conv: Whether the layer is a convolution (Conv, ConvTranspose,
            DepthwiseConv, SeparableConv, ConvLSTM): the kernels the paper's
            GCC variant (``conv_only=True``) centralizes.
        known: ``False`` for a layer kind this module does not know (a
            custom layer): its layout is then the last-axis rule, a guess.
    """

    layer: str
    fan_in_axes: tuple[int, ...]
    conv: bool
    known: bool = True


def _all_but(rank: int, *outputs: int) -> tuple[int, ...]:
    """The axes of a rank-``rank`` kernel other than ``outputs`` (negative allowed)."""
    skip = {axis % rank for axis in outputs}
    return tuple(axis for axis in range(rank) if axis not in skip)


def einsum_fan_in_axes(equation: str) -> tuple[int, ...]:
    """The fan-in axes of an ``EinsumDense`` kernel, read from its equation.

    The kernel is the second operand. A subscript of the kernel that also
    appears in the output indexes output units; the others are summed over,
    so they are the fan-in.

    Args:
        equation: The layer's einsum equation, e.g. ``"abc,cde->abde"``
            (MultiHeadAttention's query), possibly with ``...`` in the input
            and output (never in the kernel).

    Returns:
        The kernel axes not in the output, in order: ``(0,)`` for
        ``"abc,cde->abde"``, ``(0, 1)`` for ``"abcd,cde->abe"``.

    Raises:
        TypeError: ``equation`` is not a string.
        ValueError: ``equation`` is not of the form ``X,Y->Z`` with letters
            (and ``...``) only, as ``EinsumDense`` requires.
    """
    if not isinstance(equation, str):
        raise TypeError(f"equation must be an einsum string; got {equation!r}.")
    match = re.fullmatch(
        r"\s*([a-zA-Z.]+)\s*,\s*([a-zA-Z]+)\s*->\s*([a-zA-Z.]+)\s*", equation.replace(" ", "")
    )
    if match is None:
        raise ValueError(
            f"Cannot read the kernel's axes from the einsum equation {equation!r}: "
            "EinsumDense equations have the form 'ab,bc->ac', with '...' allowed "
            "in the input and output only."
        )
    kernel, output = match.group(2), match.group(3)
    return tuple(axis for axis, letter in enumerate(kernel) if letter not in output)


def _classes(*names: str) -> tuple[type, ...]:
    """The ``keras.layers`` classes of those names that this Keras version has."""
    found = (getattr(keras.layers, name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type))


def _is_a(obj: Any, classes: tuple[type, ...]) -> bool:
    """``isinstance(obj, classes)``, ``False`` for no classes (without narrowing ``obj``)."""
    return bool(classes) and isinstance(obj, classes)


def _conv_rule(rank: int, name: str) -> tuple[int, ...] | None:
    return _all_but(rank, -1) if name in ("kernel", "real_kernel", "imag_kernel") else None


def _transpose_rule(rank: int, name: str) -> tuple[int, ...] | None:
    return _all_but(rank, -2) if name == "kernel" else None


def _depthwise_rule(rank: int, name: str) -> tuple[int, ...] | None:
    return _all_but(rank, -2, -1) if name == "kernel" else None


def _separable_rule(rank: int, name: str) -> tuple[int, ...] | None:
    if name == "depthwise_kernel":
        return _all_but(rank, -2, -1)
    if name == "pointwise_kernel":
        return _all_but(rank, -1)
    return None


def _last_axis_rule(rank: int, name: str) -> tuple[int, ...] | None:
    if name in ("kernel", "recurrent_kernel"):
        return _all_but(rank, -1)
    return None


# (classes, layout rule, is a conv layer); the first row whose classes match wins,
# so subclasses of these layers get their parent's layout.
_KNOWN = (
    (
        _classes("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"),
        _transpose_rule,
        True,
    ),
    (_classes("DepthwiseConv1D", "DepthwiseConv2D"), _depthwise_rule, True),
    (_classes("SeparableConv1D", "SeparableConv2D"), _separable_rule, True),
    (_classes("Conv1D", "Conv2D", "Conv3D", "STFTSpectrogram"), _conv_rule, True),
    (_classes("Dense", "LSTMCell", "GRUCell", "SimpleRNNCell"), _last_axis_rule, False),
)
_CONV_RNN = _classes("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


def _own_variables(layer: Any) -> list[Any]:
    """The variables a layer creates itself, not those of its sublayers."""
    own = getattr(layer, "_trainable_variables", None)
    if own is None:  # pragma: no cover - every Keras 3 layer has them
        return list(layer.weights)
    return [*own, *getattr(layer, "_non_trainable_variables", [])]


def _short_name(variable: Any) -> str:
    return str(getattr(variable, "name", "")).rsplit("/", 1)[-1].split(":", 1)[0]


def _is_kernel_name(name: str) -> bool:
    return name == "kernel" or name.endswith("_kernel")


def _layer_layouts(layer: Any, rnn_parent: Any = None) -> tuple[dict[str, KernelLayout], list[Any]]:
    """The layouts of ``layer``'s own kernels, and those it had to guess.

    ``rnn_parent`` is the RNN layer whose cell ``layer`` is, if any: a cell
    takes its kind from it (a ConvLSTM cell is a conv cell).
    """
    variables = [v for v in _own_variables(layer) if _is_kernel_name(_short_name(v))]
    layouts: dict[str, KernelLayout] = {}
    guessed: list[Any] = []
    if not variables:
        return layouts, guessed
    einsum = _classes("EinsumDense")
    kind = type(layer if rnn_parent is None else rnn_parent).__name__
    for variable in variables:
        name, rank = _short_name(variable), len(variable.shape)
        axes: tuple[int, ...] | None = None
        conv = False
        if _is_a(layer, einsum) and name == "kernel":
            axes = einsum_fan_in_axes(layer.equation)
        else:
            for classes, rule, is_conv in _KNOWN:
                if _is_a(layer, classes):
                    axes, conv = rule(rank, name), is_conv
                    break
        if (
            axes is None and name in ("kernel", "recurrent_kernel") and _is_a(rnn_parent, _CONV_RNN)
        ):  # the cell of a ConvLSTM layer, a class Keras does not export
            axes, conv = _all_but(rank, -1), True
        if axes is None:  # a kind (or a weight of a kind) this module does not know
            layouts[name] = KernelLayout(kind, _all_but(rank, -1), conv=rank >= 3, known=False)
            if rank >= 3:
                guessed.append(variable)
        else:
            layouts[name] = KernelLayout(kind, axes, conv=conv)
    return layouts, guessed


def _check_layer(layer: Any, function: str) -> None:
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"{function} expects a keras.layers.Layer or a keras.Model; got "
            f"{type(layer).__name__} {layer!r:.80}."
        )


def kernel_layouts(layer: Any) -> dict[str, KernelLayout]:
    """The layouts of the kernels ``layer`` itself holds, by variable name.

    Only the layer's own variables, not those of its sublayers (use
    :func:`mark_kernels` for a whole model). A layer kind this module does
    not know gets the last-axis rule with ``known=False``.

    Args:
        layer: A built ``keras.layers.Layer``.

    Returns:
        ``{"kernel": KernelLayout(...), ...}``: one entry per kernel (a
        weight named ``kernel`` or ``*_kernel``), none for other weights.

    Raises:
        TypeError: ``layer`` is not a Keras layer.

    Example:
        >>> layer = keras.layers.Conv2DTranspose(8, 3)
        >>> layer.build((None, 5, 5, 4))
        >>> kernel_layouts(layer)["kernel"].fan_in_axes  # kernel (3, 3, 8, 4)
        (0, 1, 3)
    """
    _check_layer(layer, "kernel_layouts")
    return _layer_layouts(layer)[0]


def _walk(layer: Any) -> Iterator[Any]:
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is not None:
        yield from flatten(include_self=True, recursive=True)
    else:  # pragma: no cover - every Keras 3 layer has _flatten_layers
        yield layer


def _rnn_cells(layers: list[Any]) -> dict[int, Any]:
    """``id(cell) -> RNN layer`` for every cell of every RNN layer in ``layers``."""
    parents: dict[int, Any] = {}
    rnn = _classes("RNN")
    stacked = _classes("StackedRNNCells")
    for layer in layers:
        if _is_a(layer, rnn):
            cells = [layer.cell]
            while cells:
                cell = cells.pop()
                parents[id(cell)] = layer
                if _is_a(cell, stacked):
                    cells.extend(cell.cells)
    return parents


def _warn_once(variables: list[Any], kind: str, message: str) -> None:
    """Warn ``message`` (``{paths}`` in it) for those ``variables`` not yet warned of ``kind``.

    Each variable gets each kind of warning once: the variable carries the
    kinds it had.
    """
    fresh = []
    for variable in variables:
        had: frozenset[str] = getattr(variable, _WARNED, frozenset())
        if kind in had:
            continue
        with contextlib.suppress(AttributeError, TypeError):  # a variable without __dict__
            setattr(variable, _WARNED, had | {kind})
        fresh.append(variable)
    if fresh:
        paths = ", ".join(repr(str(getattr(v, "path", None) or v.name)) for v in fresh)
        warnings.warn(message.format(paths=paths), GCWarning, stacklevel=3)


_UNKNOWN_KIND = (
    "gc_tutorial.mark_kernels does not know the layer kind of the kernel(s) {paths}: "
    "it records the last-axis rule for them (output units on the last axis, as in "
    "Dense and ConvND kernels), so Gradient Centralization averages over every other "
    "axis. If that is not your layer's layout, set the variable's layout yourself: "
    "variable._gc_layout = gc_tutorial.KernelLayout(...)."
)


def mark_kernels(model: Any) -> dict[str, KernelLayout]:
    """Record on every kernel of ``model`` the axes GC averages over.

    Walks every layer, nested layers included (the cells of RNN layers, the
    forward and backward layers of ``Bidirectional``, the ``EinsumDense``
    projections of ``MultiHeadAttention``), and stores each kernel's
    :class:`KernelLayout` on the variable itself. The GC optimizers,
    :func:`gc_tutorial.centralize_gradients` and ``GCModel`` then average
    each kernel over its real fan-in, and ``conv_only=True`` picks conv
    layers by kind. Call it once the model is built (after ``keras.Input``,
    ``model.build(...)`` or a first call), before training; calling it again
    is harmless. Frozen kernels are marked too, for later fine-tuning.

    A kernel with 3 or more axes of a layer kind this module does not know
    (a custom layer) gets the last-axis rule and one :class:`GCWarning`.

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
        >>> model.compile(optimizer=gc_tutorial.GCAdam(), loss="mse")
    """
    _check_layer(model, "mark_kernels")
    if not model.weights and not model.built:
        raise ValueError(
            f"mark_kernels: {model.name!r} is not built yet, so it has no kernels to "
            "mark. Build it first: give it a keras.Input, call model.build(input_shape) "
            "or call it on a batch."
        )
    layers = list(_walk(model))
    parents = _rnn_cells(layers)
    marked: dict[str, KernelLayout] = {}
    guessed: list[Any] = []
    seen: set[int] = set()
    for layer in layers:
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        layouts, unknown = _layer_layouts(layer, parents.get(id(layer)))
        guessed.extend(unknown)
        for variable in _own_variables(layer):
            layout = layouts.get(_short_name(variable))
            if layout is None:
                continue
            setattr(variable, _ATTRIBUTE, layout)
            marked[str(getattr(variable, "path", variable.name))] = layout
    _warn_once(guessed, "unknown-kind", _UNKNOWN_KIND)
    return marked


def layout_of(variable: Any) -> KernelLayout | None:
    """The :class:`KernelLayout` :func:`mark_kernels` recorded on ``variable``, if any."""
    layout = getattr(variable, _ATTRIBUTE, None)
    return layout if isinstance(layout, KernelLayout) else None
