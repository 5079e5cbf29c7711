"""Specification of GC on the optimizer's update (``where="update"``).

The official GC code's ``gc_loc=False``, which its authors recommend for
adaptive optimizers: the optimizer takes its step and the change it made to
each kernel is centralized. These tests run on whichever Keras backend the
process has (``KERAS_BACKEND``); CI runs them on TensorFlow, JAX and PyTorch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import keras
import numpy as np
import pytest
from conftest import cnn_data, small_cnn
from helpers import LOSS, fresh_copy, kernel_unit_means, max_difference, train, unit_means_of

from gc_tutorial import (
    GCSGD,
    GCAdam,
    GCWarning,
    GradientCentralization,
    centralized,
    mark_kernels,
)

# Every optimizer family Keras has whose step is not a plain multiple of the
# gradient, decoupled weight decay included.
ADAPTIVE = {
    "Adam": lambda: keras.optimizers.Adam(1e-2),
    "AdamW": lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.5),
    "RMSprop": lambda: keras.optimizers.RMSprop(1e-2),
    "Nadam": lambda: keras.optimizers.Nadam(1e-2),
    "Adagrad": lambda: keras.optimizers.Adagrad(0.5),
    "Lion": lambda: keras.optimizers.Lion(1e-3),
}


def update_mode(make: Callable[[], keras.optimizers.Optimizer]) -> keras.optimizers.Optimizer:
    """The subclass route: ``centralized(type)(**config, where="update")``."""
    plain = make()
    config = plain.get_config()
    config.pop("name")
    return centralized(type(plain))(**config, where="update")


def drift(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(before, after, strict=True))


# The constraint GC is about holds for every optimizer --------------------------------


@pytest.mark.parametrize("make", ADAPTIVE.values(), ids=ADAPTIVE.keys())
@pytest.mark.parametrize("route", ["subclass", "wrapper"])
def test_update_mode_keeps_each_units_weight_mean_for_any_optimizer(make, route):
    model = small_cnn()
    before = kernel_unit_means(model)
    optimizer = (
        update_mode(make) if route == "subclass" else GradientCentralization(make(), where="update")
    )
    train(model, optimizer, steps=30)
    assert drift(before, kernel_unit_means(model)) <= 1e-5


@pytest.mark.parametrize("make", ADAPTIVE.values(), ids=ADAPTIVE.keys())
def test_gradient_mode_does_not_keep_them_for_adaptive_optimizers(make):
    model = small_cnn()
    before = kernel_unit_means(model)
    optimizer = GradientCentralization(make())
    train(model, optimizer, steps=30)
    assert drift(before, kernel_unit_means(model)) > 1e-4


# The step itself -----------------------------------------------------------------


def numpy_adam_update_mode(
    start: np.ndarray,
    grads: list[np.ndarray],
    lr: float = 1e-2,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> np.ndarray:
    """Keras's Adam (``keras/src/optimizers/adam.py``) with each step centralized."""
    w, m, v = (
        start.astype("float64"),
        np.zeros_like(start, "float64"),
        np.zeros_like(start, "float64"),
    )
    for t, g in enumerate(grads, start=1):
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        step = alpha * m / (np.sqrt(v) + epsilon)
        w -= step - step.mean(axis=tuple(range(w.ndim - 1)), keepdims=True)
    return w


def test_update_mode_adam_equals_a_numpy_reference_on_plain_variables():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    bias_start = rng.normal(size=(4,)).astype("float32")
    grads = [rng.normal(size=start.shape).astype("float32") for _ in range(5)]
    bias_grads = [rng.normal(size=(4,)).astype("float32") for _ in range(5)]

    kernel = keras.Variable(start, name="kernel")
    bias = keras.Variable(bias_start, name="bias")
    plain_bias = keras.Variable(bias_start, name="bias")
    optimizer, plain = GCAdam(1e-2, where="update"), keras.optimizers.Adam(1e-2)
    for g, b in zip(grads, bias_grads, strict=True):
        g, b = keras.ops.convert_to_tensor(g), keras.ops.convert_to_tensor(b)
        optimizer.apply([g, b], [kernel, bias])
        plain.apply([b], [plain_bias])

    np.testing.assert_allclose(np.asarray(kernel), numpy_adam_update_mode(start, grads), atol=1e-6)
    # A bias is no kernel: update mode leaves its step alone.
    np.testing.assert_allclose(np.asarray(bias), np.asarray(plain_bias), atol=1e-7)


SGD_VARIANTS = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
}


@pytest.mark.parametrize("kwargs", SGD_VARIANTS.values(), ids=SGD_VARIANTS.keys())
def test_sgd_gives_the_same_weights_in_both_modes(kwargs):
    base = small_cnn()
    on_gradient = train(fresh_copy(base), GCSGD(0.1, **kwargs), steps=10)
    on_update = train(fresh_copy(base), GCSGD(0.1, **kwargs, where="update"), steps=10)
    assert max_difference(on_gradient, on_update) < 1e-6


@pytest.mark.parametrize("make", ADAPTIVE.values(), ids=ADAPTIVE.keys())
def test_wrapper_equals_subclass_in_update_mode(make):
    base = small_cnn()
    subclass = train(fresh_copy(base), update_mode(make), steps=5)
    wrapper = train(fresh_copy(base), GradientCentralization(make(), where="update"), steps=5)
    plain = train(fresh_copy(base), make(), steps=5)
    # PyTorch: keras.optimizers.Adam() is Keras's fused torch Adam: round-off.
    assert max_difference(subclass, wrapper) < 1e-6
    assert max_difference(subclass, plain) > 1e-4


def test_decoupled_weight_decay_is_part_of_the_centralized_update():
    model = small_cnn()
    before = kernel_unit_means(model)
    train(model, GCSGD(0.1, weight_decay=0.5, where="update"), steps=3)
    assert drift(before, kernel_unit_means(model)) <= 1e-6


# Every way the trainer reaches the optimizer ---------------------------------------------


def test_update_mode_compiled_and_eager_agree():
    """JAX: jitted and eager stateless_apply; TensorFlow: tf.function and eager."""
    base = small_cnn()
    x, y = cnn_data()
    weights = {}
    modes = [False, "auto"] if keras.backend.backend() == "torch" else [False, True]
    for jit_compile in modes:
        model = fresh_copy(base)
        model.compile(optimizer=GCAdam(1e-2, where="update"), loss=LOSS, jit_compile=jit_compile)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        assert drift(kernel_unit_means(base), kernel_unit_means(model)) <= 1e-5
        weights[jit_compile] = model.get_weights()
    assert max_difference(*weights.values()) < 1e-5


def test_gradient_accumulation_keeps_the_means_and_routes_agree():
    base = small_cnn()
    subclass_model = fresh_copy(base)
    subclass = train(
        subclass_model, GCAdam(1e-2, where="update", gradient_accumulation_steps=2), steps=6
    )
    wrapper = train(
        fresh_copy(base),
        GradientCentralization(
            keras.optimizers.Adam(1e-2, gradient_accumulation_steps=2), where="update"
        ),
        steps=6,
    )
    assert max_difference(subclass, wrapper) < 1e-6
    assert drift(kernel_unit_means(base), kernel_unit_means(subclass_model)) <= 1e-5
    assert int(subclass_model.optimizer.iterations) == 3


def test_mixed_precision_with_loss_scaling_keeps_the_means():
    # That GC trains under loss scaling is test_optimizers.py's; here, that
    # the centralized update survives the LossScaleOptimizer around it.
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = small_cnn()
        before = kernel_unit_means(model)
        x, y = cnn_data()
        # compile wraps the optimizer in a LossScaleOptimizer (mixed_float16).
        model.compile(
            optimizer=GradientCentralization(keras.optimizers.Adam(1e-2), where="update"), loss=LOSS
        )
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert drift(before, kernel_unit_means(model)) <= 1e-5


@pytest.mark.parametrize("overwrite_every", [None, 2])
def test_moving_average_of_use_ema_keeps_the_means_too(overwrite_every):
    """The average is that of the centralized weights: overwriting with it keeps the means."""
    model = small_cnn()
    before = kernel_unit_means(model)
    optimizer = GCAdam(
        1e-2,
        where="update",
        use_ema=True,
        ema_momentum=0.5,
        ema_overwrite_frequency=overwrite_every,
    )
    train(model, optimizer, steps=7)  # fit ends with finalize_variable_values
    assert drift(before, kernel_unit_means(model)) <= 1e-5
    averages = [a.numpy() for a in optimizer._model_variables_moving_average if a.ndim > 1]
    assert drift(before, [unit_means_of(a) for a in averages]) <= 1e-5


def test_swap_ema_weights_works_through_loss_scaling_and_the_wrapper():
    model = small_cnn()
    x, y = cnn_data()
    optimizer = keras.optimizers.LossScaleOptimizer(
        GradientCentralization(keras.optimizers.Adam(1e-2, use_ema=True), where="update")
    )
    model.compile(optimizer=optimizer, loss=LOSS)
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        validation_data=(x, y),
        callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=True)],
    )
    assert np.all(np.isfinite(model.get_weights()[0]))


# Configuration -------------------------------------------------------------------------


def test_centralized_with_where_update_makes_its_own_default():
    cls = centralized(keras.optimizers.Adam, where="update")
    assert cls.__name__ == "GCAdamOnUpdate" and cls().where == "update"
    assert cls(where="gradient").where == "gradient"
    assert GCAdam().where == "gradient"


@pytest.mark.parametrize(
    "build",
    [
        lambda: GCAdam(where=1),
        lambda: centralized("adam", where="Gradient"),
        lambda: GradientCentralization(keras.optimizers.Adam(), where=""),
    ],
    ids=["subclass", "centralized", "wrapper"],
)
def test_a_where_of_the_wrong_kind_names_the_choices(build):
    with pytest.raises(ValueError, match=r"where must be 'gradient'.*'update'.*None"):
        build()


def test_none_means_the_default_for_subclasses_centralized_and_the_wrapper():
    """Issue #25, item 11: as Keras's own optional arguments (``data_format=None``)."""
    on_update = centralized(keras.optimizers.Adam, where="update")
    assert GCAdam(where=None, conv_only=None).where == "gradient"
    assert on_update(where=None).where == "update"
    assert centralized(keras.optimizers.Adam, where=None, conv_only=None) is GCAdam
    wrapper = GradientCentralization(keras.optimizers.Adam(), where=None, conv_only=None)
    assert (wrapper.where, wrapper.conv_only) == ("gradient", False)


# Issue #25 -------------------------------------------------------------------------------


def make_route(route: str, make: Callable[[], keras.optimizers.Optimizer], **options):
    return update_mode(make) if route == "subclass" else GradientCentralization(make(), **options)


# Item 1: the means kept are those over each layer's own fan-in ------------------------------


@pytest.mark.parametrize("make", ADAPTIVE.values(), ids=ADAPTIVE.keys())
def test_update_mode_keeps_the_means_of_transposed_and_depthwise_kernels(make):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2DTranspose(4, 3)(inputs)  # kernel (3, 3, 4, 3): fan-in (0, 1, 3)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(x)  # (3, 3, 4, 2): fan-in (0, 1)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    layouts = mark_kernels(model)
    kernels = [v for v in model.trainable_variables if v.path in layouts]
    before = [np.asarray(v).mean(axis=layouts[v.path].fan_in_axes) for v in kernels]
    x = np.random.default_rng(0).normal(size=(16, 6, 6, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")
    model.compile(optimizer=GradientCentralization(make(), where="update"), loss="mse")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    after = [np.asarray(v).mean(axis=layouts[v.path].fan_in_axes) for v in kernels]
    assert drift(before, after) <= 1e-5


# Item 5: a kernel constraint holds after every step -----------------------------------------


@pytest.mark.parametrize("route", ["subclass", "wrapper"])
def test_a_kernel_constraint_holds_after_every_step_in_update_mode(route):
    layer = keras.layers.Dense(2, kernel_constraint="non_neg", use_bias=False)
    layer.build((None, 4))
    # Column 0: one weight near 0 pushed down, three pushed up. Adam moves each
    # by about lr; NonNeg stops the first at 0, and recentering the column (its
    # mean rose) would then push it below 0.
    layer.kernel.assign(np.array([[0.01, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], "float32"))
    grad = keras.ops.convert_to_tensor(np.array([[1.0, 1], [-1, -1], [-1, 1], [-1, -1]], "float32"))
    optimizer = make_route(route, lambda: keras.optimizers.Adam(0.1), where="update")
    for _ in range(4):
        optimizer.apply([grad], [layer.kernel])
        assert np.asarray(layer.kernel).min() >= 0.0
    # The unconstrained column keeps its mean; the constrained one as far as NonNeg allows.
    np.testing.assert_allclose(np.asarray(layer.kernel)[:, 1].mean(), 1.0, atol=1e-6)


# Item 13: accumulate-only steps under XLA leave the weights as they were -------------------


def test_accumulate_only_steps_leave_the_weights_bit_for_bit_even_under_xla():
    model = small_cnn()
    x, y = cnn_data()
    # PyTorch: jit_compile=True would be torch.compile (dynamo); XLA is TF's and JAX's.
    jit = keras.backend.backend() != "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GCWarning)
        model.compile(
            optimizer=GCAdam(1e-2, where="update", gradient_accumulation_steps=2),
            loss=LOSS,
            jit_compile=jit,
        )
        start = kernel_unit_means(model)
        for step in range(4):
            before = model.get_weights()
            model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
            after = model.get_weights()
            if step % 2 == 0:  # accumulate only
                assert max_difference(before, after) == 0.0, step
            else:
                assert max_difference(before, after) > 1e-4, step
    assert drift(start, kernel_unit_means(model)) <= 1e-5
