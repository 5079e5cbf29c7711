"""Specification of `gc_tutorial._fast`: the speed paths equal the plain arithmetic.

The GC optimizers and ``GCModel`` reach the speed paths through one call,
``_fast.with_gc``: a plan per list of variables, on PyTorch two operations
per kernel and the ``.grad`` buffers Keras hands an optimizer centralized in
place, on TensorFlow ``BiasAddGrad`` for large kernels, and GC on the update.
On every backend the result must be that of ``gc_tutorial.centralize``'s
per-tensor operator, kernel by kernel, for every layout. Run under each
``KERAS_BACKEND``.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from helpers import gradients_of

from gc_tutorial import (
    GCAdam,
    GCWarning,
    GradientCentralization,
    _fast,
    centralize_gradient,
    centralize_gradients,
    fan_in_axes,
    mark_kernels,
    unit_means,
)

TORCH = keras.backend.backend() == "torch"

LAYERS = {  # name: (make the layer, its input shape): every layout, and weights GC leaves alone
    "dense": (lambda name: keras.layers.Dense(5, name=name), (None, 7)),
    "one_input": (lambda name: keras.layers.Dense(3, name=name), (None, 1)),
    "conv": (lambda name: keras.layers.Conv2D(4, 3, name=name), (None, 6, 6, 3)),
    "transpose": (lambda name: keras.layers.Conv2DTranspose(3, 2, name=name), (None, 5, 5, 4)),
    "depthwise": (
        lambda name: keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name=name),
        (None, 6, 6, 4),
    ),
    "einsum": (
        lambda name: keras.layers.EinsumDense("ab,cb->ac", output_shape=6, name=name),
        (None, 4),
    ),
    "embedding": (lambda name: keras.layers.Embedding(10, 3, name=name), (None, 4)),
}


def mixed_variables() -> list[keras.Variable]:
    """The trainable variables of freshly built, marked :data:`LAYERS`, biases included."""
    variables = []
    for name, (make, input_shape) in LAYERS.items():
        layer = make(name)
        layer.build(input_shape)
        mark_kernels(layer)
        variables.extend(layer.trainable_variables)
    return variables


def random_like(variables: list[keras.Variable], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=tuple(v.shape)) + 0.5).astype(keras.backend.standardize_dtype(v.dtype))
        for v in variables
    ]


def per_tensor(grads: list, variables: list[keras.Variable]) -> list[np.ndarray]:
    """Each gradient through the per-tensor operator, over its variable's fan-in axes."""
    out = []
    for grad, variable in zip(grads, variables, strict=True):
        axes = fan_in_axes(variable)
        out.append(np.asarray(grad if axes is None else centralize_gradient(grad, axes=axes)))
    return out


def assert_all_close(actual: list, expected: list, atol: float = 1e-6) -> None:
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=atol)


def test_the_mix_has_every_layout_and_weights_gc_leaves_alone():
    axes = {v.path: fan_in_axes(v) for v in mixed_variables()}
    assert axes["dense/kernel"] == (0,)
    assert axes["conv/kernel"] == (0, 1, 2)
    assert axes["transpose/kernel"] == (0, 1, 3)
    assert axes["depthwise/kernel"] == (0, 1)
    assert axes["einsum/kernel"] == (1,)
    assert axes["embedding/embeddings"] is None
    assert axes["one_input/kernel"] is None  # one input weight per unit
    assert axes["dense/bias"] is None


def fast(grads: list, variables: list) -> list:
    """The gradient pass of the GC optimizers and GCModel."""
    return _fast.with_gc(grads, variables, False, list)


# The plain pass (the public operator, per tensor) and the fast one must agree.
PASSES = {"centralize_gradients": centralize_gradients, "_fast.with_gc": fast}


@pytest.mark.parametrize("centralize", PASSES.values(), ids=PASSES.keys())
def test_the_list_pass_equals_the_per_tensor_pass_on_every_layout(centralize):
    variables = mixed_variables()
    grads = [keras.ops.convert_to_tensor(g) for g in random_like(variables)]
    expected = per_tensor(grads, variables)
    unreached = [v.path for v in variables].index("conv/kernel")  # the loss does not reach it
    grads[unreached] = None
    got = centralize(grads, variables)
    assert got.pop(unreached) is None
    assert_all_close(got, expected[:unreached] + expected[unreached + 1 :])


@pytest.mark.parametrize("centralize", PASSES.values(), ids=PASSES.keys())
def test_the_list_pass_takes_numpy_and_leaves_the_gradients_it_was_given_unchanged(centralize):
    variables = mixed_variables()
    given = random_like(variables)
    assert_all_close(centralize(given, variables), per_tensor(given, variables))
    grads = [keras.ops.convert_to_tensor(g) for g in given]
    centralize(grads, variables)
    assert_all_close(grads, given, atol=0.0)


@pytest.mark.parametrize("centralize", PASSES.values(), ids=PASSES.keys())
def test_the_list_pass_averages_float16_kernels_in_float32(centralize):
    layer = keras.layers.Dense(8, dtype="float16")
    layer.build((None, 4096))
    grads = [g * 40 for g in random_like(layer.trainable_variables)]  # sums past float16's max
    got = centralize(grads, layer.trainable_variables)
    assert keras.backend.standardize_dtype(got[0].dtype) == "float16"
    expected = grads[0] - grads[0].astype("float64").mean(axis=0, keepdims=True)
    np.testing.assert_allclose(np.asarray(got[0], dtype="float64"), expected, rtol=1e-3, atol=0.05)


@pytest.mark.parametrize("centralize", PASSES.values(), ids=PASSES.keys())
def test_marking_kernels_after_a_first_call_changes_the_axes_used(centralize):
    layer = keras.layers.Conv2DTranspose(3, 2, name="up")  # a name of its own: no kind
    layer.build((None, 5, 5, 4))
    grads = random_like(layer.trainable_variables)
    with pytest.warns(GCWarning, match="no recorded layout"):
        guessed = centralize(grads, layer.trainable_variables)
    mark_kernels(layer)  # the fast pass makes its plan again
    marked = centralize(grads, layer.trainable_variables)
    np.testing.assert_allclose(
        np.asarray(guessed[0]), centralize_gradient(grads[0], axes=(0, 1, 2)), atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(marked[0]), centralize_gradient(grads[0], axes=(0, 1, 3)), atol=1e-6
    )


@pytest.mark.parametrize("shape", [(1024, 256), (3, 3, 64, 128), (3, 3, 128, 64)])
def test_the_fast_means_of_large_kernels_equal_the_plain_ones(shape):
    """TensorFlow takes its BiasAddGrad route for these; every backend agrees with ops.mean."""
    kernel = keras.Variable(np.zeros(shape, "float32"), name="kernel")  # of no layer
    (grad,) = random_like([kernel])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GCWarning)  # the last-axis rule, as for the plain pass
        (got,) = fast([keras.ops.convert_to_tensor(grad)], [kernel])
    np.testing.assert_allclose(np.asarray(got), centralize_gradient(grad), atol=1e-5)


@pytest.mark.skipif(not TORCH, reason="autograd's .grad buffers are PyTorch's")
def test_on_torch_the_fast_path_centralizes_grad_buffers_in_place_and_nothing_else():
    import torch

    variables = mixed_variables()
    given = random_like(variables)
    buffered = [v.path in ("dense/kernel", "conv/kernel", "transpose/kernel") for v in variables]
    grads = []
    for variable, grad, is_buffer in zip(variables, given, buffered, strict=True):
        if is_buffer:
            variable.value.grad = torch.tensor(grad)
        grads.append(variable.value.grad if is_buffer else torch.tensor(grad))
    got = fast(grads, variables)
    expected = per_tensor(given, variables)
    assert_all_close(got, expected)
    for variable, grad, out, was, is_buffer in zip(
        variables, grads, got, given, buffered, strict=True
    ):
        if is_buffer:  # centralized where it is: the buffer, changed
            assert out is grad is variable.value.grad
        else:  # the depthwise and einsum kernels' fresh tensors: left as they were
            np.testing.assert_array_equal(np.asarray(grad), was)


def snapshot(variables: list[keras.Variable]) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


def restore(variables: list[keras.Variable], values: list[np.ndarray]) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


@pytest.mark.parametrize("route", ["subclass", "wrapper"])
def test_update_mode_equals_the_plain_step_recentered_per_tensor(route):
    variables = mixed_variables()
    start = snapshot(variables)
    steps = [random_like(variables, seed) for seed in range(3)]
    plain = keras.optimizers.Adam(1e-2)
    for grads in steps:  # the plain step, then each kernel recentered on its own
        means = [unit_means(v) if fan_in_axes(v) else None for v in variables]
        plain.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
        for variable, before in zip(variables, means, strict=True):
            if before is not None:
                variable.assign(variable - (unit_means(variable) - before))
    expected = snapshot(variables)

    restore(variables, start)
    if route == "subclass":
        optimizer = GCAdam(1e-2, where="update")
    else:
        optimizer = GradientCentralization(keras.optimizers.Adam(1e-2), where="update")
    for grads in steps:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    assert_all_close(snapshot(variables), expected)


@pytest.mark.parametrize("where", ["gradient", "update"])
def test_a_training_step_through_fit_equals_one_through_apply(where):
    """On PyTorch ``fit`` hands the optimizer ``.grad`` buffers: the in-place path."""
    model = keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.DepthwiseConv2D(2),
            keras.layers.Conv2DTranspose(2, 2),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    mark_kernels(model)
    start = model.get_weights()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6, 6, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    model.compile(optimizer=GCAdam(1e-2, where=where), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    through_fit = model.get_weights()

    model.set_weights(start)
    optimizer = GCAdam(1e-2, where=where)
    loss = keras.losses.MeanSquaredError()
    for _ in range(2):
        grads = gradients_of(model, loss, x, y)
        optimizer.apply(grads, model.trainable_variables)
    assert_all_close(through_fit, model.get_weights(), atol=1e-5)
