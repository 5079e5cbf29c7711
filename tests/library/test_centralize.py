"""Specification of the GC operator, `centralize_gradient(s)`."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from gc_tutorial import (
    GCWarning,
    KernelLayout,
    centralize_gradient,
    centralize_gradients,
    fan_in_axes,
    gc_applies_to,
    mark_kernels,
    unit_means,
)


def torch_layout_reference(grad: np.ndarray) -> np.ndarray:
    """GC as the official PyTorch code writes it, on a Keras-layout array.

    PyTorch stores weights as (out, in, *kernel) and subtracts the mean over
    axes 1..n. Move Keras's last (output) axis to the front, do that, and
    move it back.
    """
    torch_layout = np.moveaxis(grad, -1, 0)
    axes = tuple(range(1, torch_layout.ndim))
    centered = torch_layout - torch_layout.mean(axis=axes, keepdims=True)
    return np.moveaxis(centered, 0, -1)


KERNEL_SHAPES = {
    "dense": (7, 5),
    "conv1d": (3, 4, 6),
    "conv2d": (3, 3, 4, 8),
    "conv3d": (2, 3, 3, 4, 5),
}


def _random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32") + 0.5


@pytest.mark.parametrize("shape", KERNEL_SHAPES.values(), ids=KERNEL_SHAPES.keys())
def test_each_output_unit_gradient_has_zero_mean(shape):
    centered = np.asarray(centralize_gradient(_random(shape)))
    per_unit_mean = centered.reshape(-1, shape[-1]).mean(axis=0)
    np.testing.assert_allclose(per_unit_mean, 0.0, atol=1e-6)


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
def test_matches_pytorch_layout_reference(rank):
    rng = np.random.default_rng(rank)
    for trial in range(5):
        shape = tuple(int(d) for d in rng.integers(2, 6, size=rank))
        grad = _random(shape, seed=trial)
        np.testing.assert_allclose(
            np.asarray(centralize_gradient(grad)),
            torch_layout_reference(grad),
            atol=1e-6,
        )


@pytest.mark.parametrize("shape", KERNEL_SHAPES.values(), ids=KERNEL_SHAPES.keys())
def test_is_idempotent(shape):
    once = centralize_gradient(_random(shape))
    twice = centralize_gradient(once)
    np.testing.assert_allclose(np.asarray(twice), np.asarray(once), atol=1e-6)


@pytest.mark.parametrize("shape", KERNEL_SHAPES.values(), ids=KERNEL_SHAPES.keys())
def test_is_linear(shape):
    a, b = _random(shape, 1), _random(shape, 2)
    combined = centralize_gradient(2.0 * a - 3.0 * b)
    separate = 2.0 * np.asarray(centralize_gradient(a)) - 3.0 * np.asarray(centralize_gradient(b))
    np.testing.assert_allclose(np.asarray(combined), separate, atol=1e-5)


def test_changes_a_kernel_gradient_with_nonzero_mean():
    grad = _random((4, 3))
    assert not np.allclose(np.asarray(centralize_gradient(grad)), grad)


tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="a TensorFlow-specific form"
)


@tensorflow_only
def test_works_on_backend_tensors_inside_a_compiled_function():
    grad = _random((3, 3, 2, 4))
    compiled = tf.function(centralize_gradient)
    np.testing.assert_allclose(
        compiled(tf.constant(grad)).numpy(), torch_layout_reference(grad), atol=1e-6
    )


@pytest.mark.parametrize(
    "grad",
    [
        pytest.param(None, id="None"),
        pytest.param(_random((5,)), id="bias"),
        pytest.param(_random(()), id="scalar"),
        pytest.param(_random((1, 6)), id="dense-fan-in-1"),
        pytest.param(_random((1, 1, 1, 6)), id="conv-fan-in-1"),
    ],
)
def test_leaves_untouched_where_gc_does_not_apply(grad):
    assert centralize_gradient(grad) is grad


def test_embedding_gradients_are_never_centralized_on_any_backend():
    """An Embedding's `embeddings` is not a kernel; its (TF: sparse) gradient passes as it is."""
    embedding = keras.layers.Embedding(10, 4)
    embedding.build((None,))
    grad = keras.ops.convert_to_tensor(_random((10, 4)))
    if keras.backend.backend() == "tensorflow":
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(embedding(tf.constant([1, 2, 2])))
        (grad,) = tape.gradient(loss, embedding.trainable_variables)
        assert isinstance(grad, tf.IndexedSlices)
    (out,) = centralize_gradients([grad], embedding.trainable_variables)
    assert out is grad


@tensorflow_only
def test_a_sparse_gradient_without_its_variable_is_made_dense_and_centralized():
    """As on JAX and PyTorch, whose gradients are dense: one rule on every backend."""
    embedding = keras.layers.Embedding(10, 4)
    embedding.build((None,))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(embedding(tf.constant([1, 2, 2])))
    (grad,) = tape.gradient(loss, embedding.trainable_variables)
    dense = tf.convert_to_tensor(grad).numpy()
    np.testing.assert_allclose(
        np.asarray(centralize_gradient(grad)), torch_layout_reference(dense), atol=1e-6
    )


def test_conv_only_centralizes_conv_kernels_and_skips_dense():
    dense, conv1d, conv2d = _random((7, 5)), _random((3, 4, 6)), _random((3, 3, 4, 8))
    out_dense, out_1d, out_2d = centralize_gradients([dense, conv1d, conv2d], conv_only=True)
    assert out_dense is dense
    np.testing.assert_allclose(np.asarray(out_1d), torch_layout_reference(conv1d), atol=1e-6)
    np.testing.assert_allclose(np.asarray(out_2d), torch_layout_reference(conv2d), atol=1e-6)


def test_centralize_gradients_keeps_order_and_nones():
    grads = [_random((3, 2)), None, _random((2,))]
    out = centralize_gradients(grads)
    assert len(out) == 3 and out[1] is None and out[2] is grads[2]
    np.testing.assert_allclose(np.asarray(out[0]), torch_layout_reference(grads[0]), atol=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.ones((3, 2), dtype="int32"), "floating-point"),
        (np.ones((3, 2), dtype="bool"), "floating-point"),
        ("not a tensor", "tensor or array"),
    ],
)
def test_rejects_unsupported_gradients_with_a_clear_error(bad, message):
    with pytest.raises(TypeError, match=message):
        centralize_gradient(bad)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize(
    "shape",
    [*KERNEL_SHAPES.values(), (3, 3, 64, 128), (1024, 256)],
    ids=[*KERNEL_SHAPES.keys(), "large-conv2d", "large-dense"],
)
def test_every_dtype_path_matches_the_reference(shape, dtype):
    """Large float32 kernels take TensorFlow's faster reduction; all paths agree."""
    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("JAX computes in float32 unless jax_enable_x64 is set")
    grad = _random(shape).astype(dtype)
    tolerance = 2e-3 if dtype == "float16" else 1e-6
    centered = centralize_gradient(grad)
    assert keras.backend.standardize_dtype(centered.dtype) == dtype
    np.testing.assert_allclose(
        np.asarray(centered, dtype="float64"),
        torch_layout_reference(grad.astype("float64")),
        atol=tolerance,
    )


# Which variables GC applies to ---------------------------------------------------------


def _variable(shape: tuple[int, ...], name: str) -> keras.Variable:
    return keras.Variable(np.zeros(shape, "float32"), name=name)


@pytest.mark.parametrize(
    "name, shape, expected",
    [
        ("kernel", (3, 3, 2, 4), True),
        ("kernel", (5, 4), True),
        ("recurrent_kernel", (4, 12), True),
        ("depthwise_kernel", (3, 3, 8, 1), True),
        ("pointwise_kernel", (1, 1, 8, 16), True),
        ("kernel", (1, 4), False),  # fan-in 1: GC would freeze it
        ("bias", (2, 12), False),  # a GRU's bias: rank 2, but no kernel
        ("gamma", (5, 6), False),  # LayerNormalization over two axes
        ("alpha", (5, 6), False),  # PReLU
        ("embeddings", (20, 4), False),
    ],
)
def test_gc_applies_to_kernels_only(name, shape, expected):
    assert gc_applies_to(_variable(shape, name)) is expected


def test_conv_only_centralizes_conv_kernels_only():
    assert gc_applies_to(_variable((3, 3, 2, 4), "kernel"), conv_only=True)
    assert not gc_applies_to(_variable((5, 4), "kernel"), conv_only=True)


def test_centralize_gradients_with_variables_leaves_non_kernels_alone():
    variables = [_variable((5, 4), "kernel"), _variable((2, 4), "bias")]
    grads = [_random((5, 4)), _random((2, 4))]
    kernel, bias = centralize_gradients(grads, variables)
    np.testing.assert_allclose(np.asarray(kernel), torch_layout_reference(grads[0]), atol=1e-6)
    assert bias is grads[1]
    with pytest.raises(ValueError, match="2 gradients for 1 variables"):
        centralize_gradients(grads, variables[:1])


def test_unit_means_are_the_means_gc_removes():
    grad = _random((3, 3, 2, 4))
    means = np.asarray(unit_means(grad))
    assert means.shape == (1, 1, 1, 4)
    np.testing.assert_allclose(grad - means, torch_layout_reference(grad), atol=1e-6)


# Issue #25, item 1: the output axis is not always the last ------------------------------


def reference(grad: np.ndarray, fan_in: tuple[int, ...]) -> np.ndarray:
    """``grad`` minus its means over ``fan_in``, in float64."""
    grad = np.asarray(grad, "float64")
    return grad - grad.mean(axis=fan_in, keepdims=True)


# (shape, fan-in axes): a Conv2DTranspose kernel (kh, kw, out, in), a depthwise kernel
# (kh, kw, in, multiplier), MultiHeadAttention's output kernel (heads, key_dim, dim).
LAYOUTS = {
    "conv2d-transpose": ((3, 3, 4, 5), (0, 1, 3)),
    "depthwise2d": ((3, 3, 4, 2), (0, 1)),
    "attention-output": ((2, 3, 6), (0, 1)),
    "large-transpose": ((3, 3, 64, 128), (0, 1, 3)),  # not the fast path: not leading axes
    "large-depthwise": ((3, 3, 128, 64), (0, 1)),  # the fast path, leading axes
}


@pytest.mark.parametrize("shape, axes", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_axes_name_the_fan_in_and_every_path_matches_the_reference(shape, axes):
    grad = _random(shape)
    out = np.asarray(centralize_gradient(grad, axes=axes))
    np.testing.assert_allclose(out, reference(grad, axes), atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=axes), 0.0, atol=1e-5)
    means = np.asarray(unit_means(grad, axes=axes))
    assert means.shape == tuple(1 if a in axes else d for a, d in enumerate(shape))


def test_axes_accept_negative_and_single_ints():
    grad = _random((3, 3, 4, 5))
    np.testing.assert_allclose(
        np.asarray(centralize_gradient(grad, axes=(0, 1, -1))),
        np.asarray(centralize_gradient(grad, axes=(0, 1, 3))),
    )
    np.testing.assert_allclose(
        np.asarray(centralize_gradient(grad, axes=0)), reference(grad, (0,)), atol=1e-6
    )


def _layer_variable(layer: keras.layers.Layer, input_shape: tuple) -> keras.Variable:
    layer.build(input_shape)
    return next(v for v in layer.trainable_variables if v.name == "kernel")


def test_recorded_axes_are_used_by_centralize_gradients_and_unit_means():
    layer = keras.layers.Conv2DTranspose(5, 3)
    kernel = _layer_variable(layer, (None, 6, 6, 4))  # (3, 3, 5, 4): out on axis -2
    assert mark_kernels(layer)[kernel.path].fan_in_axes == (0, 1, 3)
    grad = _random(tuple(kernel.shape))
    (out,) = centralize_gradients([grad], [kernel])
    np.testing.assert_allclose(np.asarray(out), reference(grad, (0, 1, 3)), atol=1e-6)
    assert tuple(unit_means(kernel).shape) == (1, 1, 5, 1)
    assert fan_in_axes(kernel) == (0, 1, 3)


def test_dense_and_conv_results_are_unchanged_by_marking():
    for layer, shape in [
        (keras.layers.Dense(5), (None, 7)),
        (keras.layers.Conv2D(8, 3), (None, 6, 6, 4)),
    ]:
        kernel = _layer_variable(layer, shape)
        grad = _random(tuple(kernel.shape))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GCWarning)
            (before,) = centralize_gradients([grad], [kernel])
        mark_kernels(layer)
        (after,) = centralize_gradients([grad], [kernel])
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))
        np.testing.assert_allclose(np.asarray(after), torch_layout_reference(grad), atol=1e-6)


def test_an_unmarked_kernel_with_three_axes_warns_once_naming_it():
    kernel = _variable((3, 4, 6), "kernel")
    grads = [_random((3, 4, 6))]
    with pytest.warns(GCWarning, match=r"no recorded layout.*mark_kernels") as caught:
        (out,) = centralize_gradients(grads, [kernel])
    assert kernel.path in str(caught[0].message)
    np.testing.assert_allclose(np.asarray(out), torch_layout_reference(grads[0]), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centralize_gradients(grads, [kernel])  # once per variable
        centralize_gradients([_random((5, 4))], [_variable((5, 4), "kernel")])  # 2 axes: Dense


def test_a_custom_layer_kernel_with_three_axes_warns_once_when_marked():
    class Custom(keras.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(2, 3, 4), name="kernel")

        def call(self, x):
            return x

    layer = Custom()
    layer.build((None, 3))
    with pytest.warns(GCWarning, match="does not know the layer kind"):
        layouts = mark_kernels(layer)
    (layout,) = layouts.values()
    assert layout == KernelLayout("Custom", (0, 1), conv=True, known=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mark_kernels(layer)
        centralize_gradients([_random((2, 3, 4))], [layer.kernel])


# Issue #25, item 3: LoRA factors -------------------------------------------------------


def test_lora_factors_are_not_centralized_and_warn_once():
    layer = keras.layers.Dense(4)
    layer.build((None, 6))
    layer.enable_lora(2)
    variables = layer.trainable_variables  # bias, lora_kernel_a (6, 2), lora_kernel_b (2, 4)
    grads = [_random(tuple(v.shape), seed=i) for i, v in enumerate(variables)]
    with pytest.warns(GCWarning, match="LoRA factors") as caught:
        out = centralize_gradients(grads, variables)
    message = str(caught[0].message)
    assert "lora_kernel_a" in message and "lora_kernel_b" in message
    assert all(o is g for o, g in zip(out, grads, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centralize_gradients(grads, variables)


# Issue #25, item 4: a kernel with a sparse (TF) gradient is centralized everywhere -----


class TakeKernel(keras.layers.Layer):
    """A kernel read row by row with ``ops.take``: TensorFlow's gradient is sparse."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(10, 3), name="kernel")

    def call(self, ids):
        return ops.take(self.kernel, ids, axis=0)


def test_a_kernel_with_a_sparse_gradient_is_centralized_as_on_every_backend():
    layer = TakeKernel()
    layer.build((None,))
    ids = np.array([1, 2, 2])
    # d/dkernel of sum(take(kernel, ids)): ones in the rows looked up, counted.
    dense = np.zeros((10, 3), "float32")
    np.add.at(dense, ids, 1.0)
    grad = keras.ops.convert_to_tensor(dense)
    if keras.backend.backend() == "tensorflow":
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(tf.constant(ids)))
        (grad,) = tape.gradient(loss, [layer.kernel])
        assert isinstance(grad, tf.IndexedSlices)
    elif keras.backend.backend() == "jax":  # autodiff is dense; a sparse one made by hand
        from jax.experimental import sparse

        grad = sparse.BCOO.fromdense(dense)
    (out,) = centralize_gradients([grad], [layer.kernel])
    np.testing.assert_allclose(np.asarray(out), reference(dense, (0,)), atol=1e-6)
    assert tuple(out.shape) == (10, 3)


# Bad arguments name themselves and what is accepted ---------------------------------------


@pytest.mark.parametrize(
    "axes, error, message",
    [
        ((), TypeError, "non-empty tuple of ints"),
        ((0, 4), ValueError, r"out of range .* 4 axes"),
        ((0, -4), ValueError, "names an axis twice"),
        ("0", TypeError, "axes must be an int or a tuple of ints"),
        ((0.0, 1), TypeError, "axes must be an int or a non-empty tuple"),
        (True, TypeError, "axes must be an int or a tuple of ints"),
    ],
)
def test_bad_axes_are_refused_naming_the_argument(axes, error, message):
    with pytest.raises(error, match=message):
        centralize_gradient(_random((3, 3, 4, 5)), axes=axes)
    with pytest.raises(error, match=message):
        unit_means(_random((3, 3, 4, 5)), axes=axes)


def test_other_bad_arguments_are_refused_clearly():
    with pytest.raises(TypeError, match="conv_only must be True or False"):
        centralize_gradient(_random((3, 4)), conv_only="yes")
    with pytest.raises(TypeError, match="conv_only must be True or False"):
        centralize_gradients([_random((3, 4))], conv_only=1)
    with pytest.raises(ValueError, match="at least 2 axes"):
        unit_means(_random((4,)))
    with pytest.raises(TypeError, match=r"mark_kernels expects a keras.layers.Layer"):
        mark_kernels([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built yet"):
        mark_kernels(keras.Sequential([keras.layers.Dense(2)]))
