"""Specification of the GC operator, `centralize_gradient(s)`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gc_tutorial import centralize_gradient, centralize_gradients, centralizes, unit_means


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


@tensorflow_only
def test_leaves_sparse_embedding_gradients_untouched():
    embedding = keras.layers.Embedding(10, 4)
    embedding.build((None,))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(embedding(tf.constant([1, 2, 2])))
    (grad,) = tape.gradient(loss, embedding.trainable_variables)
    assert isinstance(grad, tf.IndexedSlices)
    assert centralize_gradient(grad) is grad


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
def test_centralizes_kernels_only(name, shape, expected):
    assert centralizes(_variable(shape, name)) is expected


def test_conv_only_centralizes_conv_kernels_only():
    assert centralizes(_variable((3, 3, 2, 4), "kernel"), conv_only=True)
    assert not centralizes(_variable((5, 4), "kernel"), conv_only=True)


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
