"""Property tests of GC over every Keras layer that has a kernel (issue #25, items 1-2).

For each layer kind, ``hypothesis`` draws small shapes (and an optimizer,
a route and a seed), builds the layer, marks it with ``mark_kernels`` and
checks the two forms of GC against a fan-in written out here, independently
of ``gc_tutorial.layouts``:

- gradient form: each output unit's incoming gradient has mean 0 over its
  fan-in, and is ``g - mean(g)`` exactly; ``conv_only`` touches conv layers
  only;
- update form: each unit's incoming-weight mean is unchanged after several
  steps of Adam, RMSprop, SGD with momentum or Lion.

The Embedding has no kernel: GC leaves it as the plain optimizer would.
The number of examples comes from the hypothesis profile (tests/conftest.py:
``HYPOTHESIS_PROFILE=ci``, the default, or ``dev``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

from gc_tutorial import (
    GCWarning,
    GradientCentralization,
    centralize_gradients,
    centralized,
    einsum_fan_in_axes,
    mark_kernels,
)

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given = hypothesis.given

L = keras.layers
# Few distinct sizes, 1 among them (a fan-in of 1 is left alone): on JAX every
# new shape compiles its operations anew, which costs far more than the test.
small = st.sampled_from([1, 2])
channels = st.sampled_from([1, 3])

# A built layer and the fan-in of each of its kernels, by the end of the
# variable's path ("query/kernel", "depthwise_kernel"); None: not centralized.
Built = tuple[keras.layers.Layer, dict[str, tuple[int, ...]]]


def _build(layer: keras.layers.Layer, input_shape: tuple) -> keras.layers.Layer:
    layer.build((None, *input_shape))
    return layer


def dense(draw: Callable) -> Built:
    n_in, units = draw(channels), draw(channels)
    return _build(L.Dense(units), (n_in,)), {"kernel": (0,)}


def conv(rank: int) -> Callable[[Callable], Built]:
    def build(draw: Callable) -> Built:
        k, n_in, filters = draw(small), draw(channels), draw(channels)
        cls = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[rank]
        layer = _build(cls(filters, k), (3,) * rank + (n_in,))
        return layer, {"kernel": tuple(range(rank + 1))}  # (*k, in, out)

    return build


def conv_transpose(rank: int) -> Callable[[Callable], Built]:
    def build(draw: Callable) -> Built:
        k, n_in, filters = draw(small), draw(channels), draw(channels)
        cls = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}[rank]
        layer = _build(cls(filters, k), (2,) * rank + (n_in,))
        # (*k, out, in): the spatial axes and the last feed one output channel.
        return layer, {"kernel": (*range(rank), rank + 1)}

    return build


def depthwise(rank: int) -> Callable[[Callable], Built]:
    def build(draw: Callable) -> Built:
        k, n_in, multiplier = draw(small), draw(channels), draw(st.sampled_from([1, 2]))
        cls = {1: L.DepthwiseConv1D, 2: L.DepthwiseConv2D}[rank]
        layer = _build(cls(k, depth_multiplier=multiplier), (3,) * rank + (n_in,))
        return layer, {"kernel": tuple(range(rank))}  # (*k, in, multiplier)

    return build


def separable(rank: int) -> Callable[[Callable], Built]:
    def build(draw: Callable) -> Built:
        k, n_in, filters = draw(small), draw(channels), draw(channels)
        multiplier = draw(st.sampled_from([1, 2]))
        cls = {1: L.SeparableConv1D, 2: L.SeparableConv2D}[rank]
        layer = _build(cls(filters, k, depth_multiplier=multiplier), (3,) * rank + (n_in,))
        return layer, {
            "depthwise_kernel": tuple(range(rank)),  # (*k, in, multiplier)
            "pointwise_kernel": tuple(range(rank + 1)),  # (*1, in * multiplier, out)
        }

    return build


# Equation, input shape, output shape and the kernel's fan-in, written out.
EINSUM = [
    ("ab,bc->ac", lambda d: (d[0],), lambda d: (d[1],), (0,)),
    ("abc,cd->abd", lambda d: (3, d[0]), lambda d: (3, d[1]), (0,)),
    ("abc,cde->abde", lambda d: (3, d[0]), lambda d: (3, d[1], d[2]), (0,)),
    ("abcd,cde->abe", lambda d: (3, d[0], d[1]), lambda d: (3, d[2]), (0, 1)),
    ("ab,bcd->acd", lambda d: (d[0],), lambda d: (d[1], d[2]), (0,)),
    ("...b,bc->...c", lambda d: (3, d[0]), lambda d: (d[1],), (0,)),
]


def einsum_dense(draw: Callable) -> Built:
    equation, input_shape, output_shape, fan_in = draw(st.sampled_from(EINSUM))
    dims = [draw(channels) for _ in range(3)]
    layer = _build(L.EinsumDense(equation, output_shape=output_shape(dims)), input_shape(dims))
    return layer, {"kernel": fan_in}


def attention(draw: Callable) -> Built:
    heads, key_dim, dim = draw(st.integers(1, 2)), draw(channels), draw(channels)
    layer = L.MultiHeadAttention(num_heads=heads, key_dim=key_dim)
    layer.build((None, 3, dim), (None, 3, dim))
    # query/key/value: (dim, heads, key_dim), each (head, unit) an output;
    # attention_output: (heads, key_dim, dim), each of dim fed by every head.
    fan_in = {f"{name}/kernel": (0,) for name in ("query", "key", "value")}
    return layer, {**fan_in, "attention_output/kernel": (0, 1)}


def recurrent(cls: type) -> Callable[[Callable], Built]:
    def build(draw: Callable) -> Built:
        n_in, units = draw(channels), draw(channels)
        layer = _build(cls(units), (3, n_in))
        return layer, {"/kernel": (0,), "recurrent_kernel": (0,)}  # (in|units, gates * units)

    return build


def embedding(draw: Callable) -> Built:
    layer = L.Embedding(draw(st.sampled_from([2, 5])), draw(channels))
    layer.build((None,))
    return layer, {}


KINDS: dict[str, tuple[Callable[[Callable], Built], bool]] = {  # builder, is a conv layer
    "Dense": (dense, False),
    "Conv1D": (conv(1), True),
    "Conv2D": (conv(2), True),
    "Conv3D": (conv(3), True),
    "Conv1DTranspose": (conv_transpose(1), True),
    "Conv2DTranspose": (conv_transpose(2), True),
    "Conv3DTranspose": (conv_transpose(3), True),
    "DepthwiseConv1D": (depthwise(1), True),
    "DepthwiseConv2D": (depthwise(2), True),
    "SeparableConv1D": (separable(1), True),
    "SeparableConv2D": (separable(2), True),
    "EinsumDense": (einsum_dense, False),
    "MultiHeadAttention": (attention, False),
    "LSTM": (recurrent(L.LSTM), False),
    "GRU": (recurrent(L.GRU), False),
    "Embedding": (embedding, False),
}


def expected_fan_in(variable: Any, fan_in: dict[str, tuple[int, ...]]) -> tuple[int, ...] | None:
    """The fan-in written out above for ``variable``, if it is a kernel GC centralizes."""
    path = variable.path
    axes = next((a for end, a in fan_in.items() if path.endswith(end)), None)
    if axes is None:
        return None
    if int(np.prod([variable.shape[a] for a in axes])) == 1:
        return None  # one input weight per unit: GC would freeze it
    return axes


def random_like(variables: list[Any], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=tuple(v.shape)).astype("float32") + 0.5 for v in variables]


def numpy_of(value: Any) -> np.ndarray:
    return ops.convert_to_numpy(value)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_gradient_form_centralizes_each_units_fan_in(kind, data):
    build, is_conv = KINDS[kind]
    layer, fan_in = build(data.draw)
    layouts = mark_kernels(layer)
    variables = layer.trainable_variables
    assert {path.split("/")[-1] for path in layouts} <= {
        v.path.split("/")[-1] for v in layer.weights
    }
    grads = random_like(variables, data.draw(st.integers(0, 2**16)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)  # every kernel is marked: no guess
        centered = centralize_gradients(grads, variables)
        gcc = centralize_gradients(grads, variables, conv_only=True)
    for variable, grad, out, out_gcc in zip(variables, grads, centered, gcc, strict=True):
        axes = expected_fan_in(variable, fan_in)
        if axes is None:
            assert out is grad and out_gcc is grad, variable.path
            continue
        out = numpy_of(out)
        np.testing.assert_allclose(out.mean(axis=axes), 0.0, atol=1e-5, err_msg=variable.path)
        reference = grad - grad.astype("float64").mean(axis=axes, keepdims=True)
        np.testing.assert_allclose(out, reference, atol=1e-5, err_msg=variable.path)
        if is_conv:
            np.testing.assert_array_equal(numpy_of(out_gcc), out, err_msg=variable.path)
        else:
            assert out_gcc is grad, variable.path


OPTIMIZERS = {
    "Adam": lambda: keras.optimizers.Adam(0.05),
    "RMSprop": lambda: keras.optimizers.RMSprop(0.05),
    "SGD momentum": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
    "Lion": lambda: keras.optimizers.Lion(0.01),
}


def gc_on_update(name: str, route: str) -> keras.optimizers.Optimizer:
    plain = OPTIMIZERS[name]()
    if route == "wrapper":
        return GradientCentralization(plain, where="update")
    config = plain.get_config()
    config.pop("name")
    return centralized(type(plain), where="update")(**config)


STEPS = 3


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_update_form_keeps_each_units_incoming_weight_mean(kind, data):
    build, _ = KINDS[kind]
    layer, fan_in = build(data.draw)
    mark_kernels(layer)
    variables = layer.trainable_variables
    name = data.draw(st.sampled_from(sorted(OPTIMIZERS)))
    optimizer = gc_on_update(name, data.draw(st.sampled_from(["subclass", "wrapper"])))
    seed = data.draw(st.integers(0, 2**16))
    plain, plain_variables = None, []
    if kind == "Embedding":  # no kernel: GC must step as the plain optimizer does
        plain = OPTIMIZERS[name]()
        plain_variables = [keras.Variable(numpy_of(v), name=v.name) for v in variables]
    before = [numpy_of(v) for v in variables]
    for step in range(STEPS):
        grads = [ops.convert_to_tensor(g) for g in random_like(variables, seed + step)]
        optimizer.apply(grads, variables)
        if plain is not None:
            plain.apply(grads, plain_variables)
    for variable, start in zip(variables, before, strict=True):
        end = numpy_of(variable)
        axes = expected_fan_in(variable, fan_in)
        if axes is not None:
            np.testing.assert_allclose(
                end.mean(axis=axes), start.mean(axis=axes), atol=1e-5, err_msg=variable.path
            )
    if plain is not None:
        for variable, twin in zip(variables, plain_variables, strict=True):
            np.testing.assert_allclose(numpy_of(variable), numpy_of(twin), atol=1e-6)


# The layouts themselves --------------------------------------------------------------------


@given(
    letters=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=4, unique=True),
    kept=st.sets(st.integers(0, 3)),
)
def test_einsum_fan_in_is_the_kernel_letters_missing_from_the_output(letters, kept):
    kernel = "".join(letters)
    output = "z" + "".join(c for i, c in enumerate(kernel) if i in kept)
    equation = f"z{kernel},{kernel}->{output}"
    expected = tuple(i for i in range(len(kernel)) if i not in kept)
    assert einsum_fan_in_axes(equation) == expected


@pytest.mark.parametrize("bad", ["ab,bc", "ab->b", "ab,b...c->ac", 3])
def test_einsum_equations_that_are_not_einsum_dense_ones_are_refused(bad):
    with pytest.raises((ValueError, TypeError), match="einsum"):
        einsum_fan_in_axes(bad)


def test_the_layouts_of_one_layer_and_the_conv_lstm_cell():
    layer = L.Conv2DTranspose(5, 3)
    layer.build((None, 4, 4, 2))
    assert mark_kernels(layer)[layer.kernel.path].fan_in_axes == (0, 1, 3)
    conv_lstm = L.ConvLSTM2D(2, 3)
    conv_lstm.build((None, 2, 4, 4, 3))
    layouts = mark_kernels(conv_lstm)
    assert {v.layer for v in layouts.values()} == {"ConvLSTM2D"}
    assert {(v.fan_in_axes, v.conv) for v in layouts.values()} == {((0, 1, 2), True)}
    with pytest.raises(TypeError, match="mark_kernels expects a keras.layers.Layer"):
        mark_kernels("dense")
