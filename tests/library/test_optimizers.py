"""Specification of the three GC routes: subclass, wrapper and `GCModel`."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from collections.abc import Callable

import keras
import numpy as np
import pytest
from conftest import cnn_data, small_cnn
from helpers import (
    LOSS,
    fresh_copy,
    gradients_of,
    kernel_unit_means,
    max_difference,
    train,
    unit_means_of,
)
from keras import ops

import gc_tutorial
from gc_tutorial import (
    GCSGD,
    GCAdam,
    GCAdamW,
    GCModel,
    GCRMSprop,
    GCWarning,
    GradientCentralization,
    centralize_gradients,
    centralized,
    mark_kernels,
)


def hand_step(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, transform: Callable
) -> list[np.ndarray]:
    """One step of ``optimizer`` on ``transform(gradients)``, computed by hand."""
    x, y = cnn_data()
    grads = gradients_of(model, keras.losses.SparseCategoricalCrossentropy(), x, y)
    optimizer.apply(transform(grads), model.trainable_variables)
    return model.get_weights()


def clip_by_norm(grad, clip_norm: float):
    """``tf.clip_by_norm`` in ``keras.ops``."""
    norm = ops.sqrt(ops.sum(ops.square(grad)))
    return grad * clip_norm / ops.maximum(norm, clip_norm)


def without_names(config: dict) -> dict:
    """An optimizer config minus its (auto-numbered) names, nested too."""
    return {
        key: without_names(value) if isinstance(value, dict) else value
        for key, value in config.items()
        if key != "name"
    }


# 2. The keras.io regression -------------------------------------------------


class GetGradientsSpy(keras.optimizers.RMSprop):
    """RMSprop that fails if anything calls the Keras 2 hook ``get_gradients``.

    The keras.io example (and blog wrappers) put GC in that hook.
    """

    def get_gradients(self, loss, params):
        raise AssertionError("Keras 3 called get_gradients")


def test_keras_3_never_calls_get_gradients_so_gc_placed_there_does_nothing():
    base = small_cnn()
    plain = train(fresh_copy(base), keras.optimizers.RMSprop(1e-2), steps=3)
    spied = train(fresh_copy(base), GetGradientsSpy(1e-2), steps=3)
    # On PyTorch, keras.optimizers.RMSprop() builds Keras's fused torch RMSprop,
    # which subclasses such as GetGradientsSpy do not use: float32 round-off.
    tolerance = 1e-6 if keras.backend.backend() == "torch" else 0.0
    assert max_difference(plain, spied) <= tolerance


def test_gcrmsprop_step_differs_from_plain_rmsprop():
    base = small_cnn()
    plain = train(fresh_copy(base), keras.optimizers.RMSprop(1e-2), steps=1)
    gc = train(fresh_copy(base), GCRMSprop(1e-2), steps=1)
    assert max_difference(plain, gc) > 1e-4


def test_gcrmsprop_step_equals_rmsprop_on_hand_centralized_gradients():
    base = small_cnn()
    gc = train(fresh_copy(base), GCRMSprop(1e-2), steps=1)
    by_hand = hand_step(fresh_copy(base), keras.optimizers.RMSprop(1e-2), centralize_gradients)
    assert max_difference(gc, by_hand) < 1e-6


# 3. The paper's weight-space constraint -----------------------------------------


def test_sgd_with_gc_keeps_each_units_weight_mean_fixed():
    model = small_cnn()
    before = kernel_unit_means(model)
    train(model, GCSGD(learning_rate=0.5), steps=50)
    for start, end in zip(before, kernel_unit_means(model), strict=True):
        np.testing.assert_allclose(end, start, atol=1e-5)


def test_sgd_without_gc_lets_the_weight_means_drift():
    model = small_cnn()
    before = kernel_unit_means(model)
    train(model, keras.optimizers.SGD(learning_rate=0.5), steps=50)
    drift = max(
        float(np.max(np.abs(e - s))) for s, e in zip(before, kernel_unit_means(model), strict=True)
    )
    assert drift > 1e-3


# 4. Three routes, one result -------------------------------------------------------


def test_subclass_wrapper_and_gcmodel_train_to_the_same_weights():
    base = small_cnn()
    subclass = train(fresh_copy(base), GCAdam(1e-2), steps=5)
    wrapper = train(fresh_copy(base), GradientCentralization(keras.optimizers.Adam(1e-2)), steps=5)
    plain = train(fresh_copy(base), keras.optimizers.Adam(1e-2), steps=5)
    assert max_difference(subclass, wrapper) < 1e-6
    assert max_difference(subclass, plain) > 1e-4
    model_route = train(fresh_copy(base, GCModel), keras.optimizers.Adam(1e-2), steps=5)
    assert max_difference(subclass, model_route) < 1e-6


# 5. Saving and loading keeps the optimizer state --------------------------------------

SAVED_OPTIMIZERS = {
    "GCSGD": lambda: GCSGD(1e-2, momentum=0.9),
    "GCAdam": lambda: GCAdam(1e-2),
    "GCAdamW": lambda: GCAdamW(1e-2, weight_decay=0.01),
    "GCRMSprop": lambda: GCRMSprop(1e-2),
    "GCC-Adam": lambda: centralized(keras.optimizers.Adam, conv_only=True)(1e-2),
    "wrapper": lambda: GradientCentralization(keras.optimizers.Adam(1e-2), conv_only=True),
    "GCAdam on the update": lambda: GCAdam(1e-2, where="update"),
    "wrapper on the update": lambda: GradientCentralization(
        keras.optimizers.AdamW(1e-2, weight_decay=0.1), where="update"
    ),
}


@pytest.mark.parametrize("make_optimizer", SAVED_OPTIMIZERS.values(), ids=SAVED_OPTIMIZERS.keys())
def test_saved_model_resumes_training_exactly(tmp_path, make_optimizer):
    base = small_cnn()
    uninterrupted = fresh_copy(base)
    expected = train(uninterrupted, make_optimizer(), steps=6)

    interrupted = fresh_copy(base)
    train(interrupted, make_optimizer(), steps=3)
    interrupted.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")

    assert type(restored.optimizer) is type(uninterrupted.optimizer)
    assert without_names(restored.optimizer.get_config()) == without_names(
        uninterrupted.optimizer.get_config()
    )
    assert int(restored.optimizer.iterations) == 3
    x, y = cnn_data()
    restored.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0)
    assert max_difference(restored.get_weights(), expected) < 1e-6


# 6. Edge cases ---------------------------------------------------------------------


def test_conv_only_optimizer_centralizes_conv_kernels_only():
    base = small_cnn()
    gcc = train(fresh_copy(base), centralized(keras.optimizers.SGD, conv_only=True)(0.1), steps=1)
    gc = train(fresh_copy(base), GCSGD(0.1), steps=1)
    plain = train(fresh_copy(base), keras.optimizers.SGD(0.1), steps=1)
    conv_kernel, conv_bias, dense_kernel, dense_bias = range(4)
    np.testing.assert_allclose(gcc[conv_kernel], gc[conv_kernel], atol=1e-7)
    np.testing.assert_allclose(gcc[dense_kernel], plain[dense_kernel], atol=1e-7)
    assert not np.allclose(gc[dense_kernel], plain[dense_kernel], atol=1e-6)


def test_gc_comes_before_gradient_clipping():
    base = small_cnn()
    gc_then_clip = train(fresh_copy(base), GCSGD(0.1, clipnorm=0.01), steps=1)
    by_hand = hand_step(
        fresh_copy(base),
        keras.optimizers.SGD(0.1),
        lambda grads: [clip_by_norm(g, 0.01) for g in centralize_gradients(grads)],
    )
    assert max_difference(gc_then_clip, by_hand) < 1e-6


def test_decoupled_weight_decay_is_not_centralized():
    base = small_cnn()
    gc_adamw = train(fresh_copy(base), GCAdamW(1e-2, weight_decay=0.1), steps=1)
    by_hand = hand_step(
        fresh_copy(base), keras.optimizers.AdamW(1e-2, weight_decay=0.1), centralize_gradients
    )
    assert max_difference(gc_adamw, by_hand) < 1e-6

    # Under SGD the decay shrinks each unit's weight mean, which GC alone never moves.
    model = fresh_copy(base)
    before = kernel_unit_means(model)
    train(model, GCSGD(0.1, weight_decay=0.5), steps=1)
    np.testing.assert_allclose(kernel_unit_means(model)[0], before[0] * (1 - 0.1 * 0.5), atol=1e-6)


def test_mixed_float16_under_loss_scale_optimizer_trains_with_finite_loss():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = small_cnn()
        optimizer = keras.optimizers.LossScaleOptimizer(GCAdam(1e-2))
        x, y = cnn_data()
        model.compile(optimizer=optimizer, loss=LOSS)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.layers[0].compute_dtype == "float16"
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_embedding_and_fan_in_one_layers_train_under_gc():
    model = keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),  # kernel (4, 1): centralized
            keras.layers.Dense(2),  # kernel (1, 2): fan-in 1, left alone
        ]
    )
    before = model.get_weights()
    x = np.random.default_rng(0).integers(0, 20, size=(32, 3))
    y = np.random.default_rng(1).normal(size=(32, 2)).astype("float32")
    model.compile(optimizer=GCSGD(0.1), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = model.get_weights()
    embedding, fan_in_one = 0, 3
    assert not np.allclose(after[embedding], before[embedding])
    assert not np.allclose(after[fan_in_one], before[fan_in_one])


def test_wrapper_delegates_learning_rate_and_iterations():
    inner = keras.optimizers.Adam(1e-3)
    wrapper = GradientCentralization(inner)
    wrapper.learning_rate = 5e-3
    assert float(inner.learning_rate) == pytest.approx(5e-3)
    model = small_cnn()
    train(model, wrapper, steps=2)
    assert int(wrapper.iterations) == int(inner.iterations) == 2
    assert [v.path for v in wrapper.variables] == [v.path for v in inner.variables]


def test_centralized_returns_one_registered_class_per_base():
    assert centralized(keras.optimizers.Adam) is GCAdam
    # On PyTorch, keras.optimizers.get("adam") is Keras's fused torch Adam, a
    # subclass of Adam: the name must still give the one registered GCAdam.
    assert centralized("adam") is GCAdam
    assert centralized("rmsprop") is GCRMSprop
    lion = centralized(keras.optimizers.Lion)
    assert lion.__name__ == "GCLion" and issubclass(lion, keras.optimizers.Lion)
    assert keras.saving.get_registered_object("gc_tutorial>GCLion") is lion


# Errors that help -----------------------------------------------------------------


def test_gradient_list_of_wrong_length_is_rejected():
    model = small_cnn()
    grads = [ops.zeros(v.shape) for v in model.trainable_variables]
    for optimizer in (GCAdam(), GradientCentralization(keras.optimizers.Adam())):
        with pytest.raises(ValueError, match="3 gradients for 4 trainable variables"):
            optimizer.apply(grads[:3], model.trainable_variables)


@pytest.mark.parametrize("not_an_optimizer", [keras.optimizers.Adam, "adam", 1e-3])
def test_wrapper_rejects_anything_but_an_optimizer_instance(not_an_optimizer):
    with pytest.raises(TypeError, match="wraps a keras.optimizers.Optimizer instance"):
        GradientCentralization(not_an_optimizer)


def test_wrapper_and_subclass_refuse_to_centralize_twice():
    with pytest.raises(ValueError, match="already applies Gradient Centralization"):
        GradientCentralization(GCAdam())
    with pytest.raises(ValueError, match="already applies Gradient Centralization"):
        centralized(GCAdam)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ("adamm", ValueError, "Unknown optimizer 'adamm'"),
        (keras.layers.Dense, TypeError, "expects a keras.optimizers.Optimizer subclass"),
        (keras.optimizers.Adam(), TypeError, "expects a keras.optimizers.Optimizer subclass"),
    ],
)
def test_centralized_rejects_unknown_optimizer_classes(bad, error, message):
    with pytest.raises(error, match=message):
        centralized(bad)


@pytest.mark.parametrize(
    ("gc_class", "plain"),
    [
        (GCSGD, keras.optimizers.SGD),
        (GCAdam, keras.optimizers.Adam),
        (GCAdamW, keras.optimizers.AdamW),
        (GCRMSprop, keras.optimizers.RMSprop),
    ],
)
def test_gc_optimizers_derive_from_the_class_keras_builds_on_this_backend(gc_class, plain):
    # On PyTorch, Adam() builds Keras's fused multi-tensor torch Adam; a GC
    # subclass of the public class alone would lose it and run slower.
    assert isinstance(gc_class(), type(plain()))


def test_every_public_name_comes_from_the_library_modules():
    for name in gc_tutorial.__all__:
        value = getattr(gc_tutorial, name)
        home = sys.modules[value.__module__]
        library = {
            "gc_tutorial.centralize",
            "gc_tutorial.layouts",
            "gc_tutorial.optimizers",
            "gc_tutorial.models",
        }
        assert home.__name__ in library
        assert name in home.__all__, (name, home.__name__)


def test_a_saved_model_loads_in_a_new_process_once_the_optimizers_are_imported(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=GCAdam(where="update"), loss="mse")
    model.save(tmp_path / "model.keras")
    load = (
        "import sys, keras, gc_tutorial.optimizers; "
        "model = keras.models.load_model(sys.argv[1]); "
        "print(type(model.optimizer).__name__, model.optimizer.where)"
    )
    done = subprocess.run(
        [sys.executable, "-c", load, str(tmp_path / "model.keras")],
        capture_output=True,
        text=True,
    )
    assert done.stdout.split() == ["GCAdam", "update"], done.stderr[-2000:]


def test_importing_the_package_imports_nothing_and_changes_nothing():
    probe = (
        "import os, sys; before = dict(os.environ); import gc_tutorial; "
        "print('keras' in sys.modules, dict(os.environ) == before)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


# Which weights are kernels ------------------------------------------------------------

# Layers whose non-kernel weights have 2 or more axes, with an input for each.
NOT_KERNELS = {
    "GRU": (lambda: keras.layers.GRU(4), (5, 3)),  # bias (2, 12)
    "MultiHeadAttention": (None, (5, 6)),  # EinsumDense biases (heads, key_dim)
    "LayerNormalization over 2 axes": (
        lambda: keras.layers.LayerNormalization(axis=(1, 2)),
        (5, 6),
    ),
    "PReLU": (lambda: keras.layers.PReLU(), (5, 6)),  # alpha (5, 6)
}


def one_step_per_variable(make_layer, input_shape, optimizer):
    """Build ``input -> layer -> Dense(1)``, take one GC step; return {path: (before, after)}."""
    inputs = keras.Input(input_shape)
    if make_layer is None:
        x = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(inputs, inputs)
    else:
        x = make_layer()(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(16, *input_shape)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 1)).astype("float32")
    before = [np.asarray(v) for v in model.trainable_variables]
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return [
        (v.path, start, np.asarray(v))
        for v, start in zip(model.trainable_variables, before, strict=True)
    ]


@pytest.mark.parametrize("make_layer, input_shape", NOT_KERNELS.values(), ids=NOT_KERNELS.keys())
@pytest.mark.parametrize("where", ["gradient", "update"])
def test_only_kernels_are_centralized_whatever_their_rank(make_layer, input_shape, where):
    keras.utils.set_random_seed(0)
    gc = one_step_per_variable(make_layer, input_shape, GCSGD(0.1, where=where))
    keras.utils.set_random_seed(0)
    plain = one_step_per_variable(make_layer, input_shape, keras.optimizers.SGD(0.1))
    for (path, start, end), (_, _, plain_end) in zip(gc, plain, strict=True):
        if path.endswith("kernel") and end.ndim >= 2:
            np.testing.assert_allclose(
                unit_means_of(end), unit_means_of(start), atol=1e-6, err_msg=path
            )
        else:  # a bias, gamma, beta or alpha moves exactly as under plain SGD
            np.testing.assert_allclose(end, plain_end, atol=1e-6, err_msg=path)


def test_gru_gate_biases_keep_learning():
    keras.utils.set_random_seed(0)
    steps = one_step_per_variable(lambda: keras.layers.GRU(4), (5, 3), GCSGD(0.1))
    ((start, end),) = [(a, b) for path, a, b in steps if path.endswith("bias") and a.ndim == 2]
    assert np.abs(end - start).max() > 1e-4


def test_embedding_rows_that_no_input_uses_stay_put_on_every_backend():
    model = keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ]
    )
    start = model.get_weights()[0]
    x = np.random.default_rng(0).integers(0, 10, size=(32, 3))  # rows 10..19 unseen
    model.compile(optimizer=GCSGD(0.1, momentum=0.9, where="update"), loss="mse")
    model.fit(x, np.ones((32, 1), "float32"), batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0][10:], start[10:])


# The wrapper forwards what the trainer reads --------------------------------------------


def test_wrapper_keeps_the_inner_optimizers_loss_scale_factor():
    base = small_cnn()
    plain = train(fresh_copy(base), GCSGD(0.1, loss_scale_factor=128.0), steps=3)
    wrapped = train(
        fresh_copy(base),
        GradientCentralization(keras.optimizers.SGD(0.1, loss_scale_factor=128.0)),
        steps=3,
    )
    unscaled = train(fresh_copy(base), GCSGD(0.1), steps=3)
    assert max_difference(wrapped, plain) < 1e-6
    assert max_difference(wrapped, unscaled) < 1e-5  # not 128 times too small


def test_wrapper_applies_the_inner_optimizers_global_clipnorm_after_gc():
    base = small_cnn()
    subclass = train(fresh_copy(base), GCAdam(1e-2, global_clipnorm=0.05), steps=3)
    wrapper = train(
        fresh_copy(base),
        GradientCentralization(keras.optimizers.Adam(1e-2, global_clipnorm=0.05)),
        steps=3,
    )
    assert max_difference(subclass, wrapper) < 1e-6


def test_weight_decay_exclusions_set_on_the_wrapper_reach_the_inner_optimizer():
    model = small_cnn()
    wrapper = GradientCentralization(keras.optimizers.AdamW(1e-2, weight_decay=0.5))
    wrapper.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=wrapper, loss=LOSS)
    x, y = cnn_data()
    bias = model.trainable_variables[1]
    bias.assign(np.ones(bias.shape, "float32"))
    # With zero gradients only weight decay could move the bias.
    wrapper.apply(
        [keras.ops.zeros(v.shape) for v in model.trainable_variables], model.trainable_variables
    )
    np.testing.assert_array_equal(np.asarray(bias), 1.0)


def test_wrapper_apply_gradients_returns_the_step_count():
    model = small_cnn()
    wrapper = GradientCentralization(keras.optimizers.SGD(0.1))
    zeros = [keras.ops.zeros(v.shape) for v in model.trainable_variables]
    assert int(wrapper.apply_gradients(zip(zeros, model.trainable_variables, strict=True))) == 1


# Registry --------------------------------------------------------------------------------


def test_a_users_class_named_adam_does_not_replace_the_packages_gcadam():
    class Adam(keras.optimizers.Adam):
        pass

    users = centralized(Adam)
    assert users is not GCAdam and users.__name__ == "GCAdam"
    assert keras.saving.get_registered_object("gc_tutorial>GCAdam") is GCAdam
    assert keras.saving.get_registered_name(users) != "gc_tutorial>GCAdam"


# Misuse is an error ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: GCAdam(conv_only="no"),
        lambda: centralized("adam", conv_only=1),
        lambda: GradientCentralization(keras.optimizers.Adam(), conv_only="yes"),
    ],
    ids=["subclass", "centralized", "wrapper"],
)
def test_conv_only_must_be_a_bool(build):
    with pytest.raises(TypeError, match="conv_only must be True or False"):
        build()


def test_gc_inside_gc_or_inside_loss_scaling_is_refused():
    with pytest.raises(ValueError, match="already applies Gradient Centralization"):
        centralized(GradientCentralization)
    with pytest.raises(ValueError, match="already applies Gradient Centralization"):
        GradientCentralization(keras.optimizers.LossScaleOptimizer(GCAdam()))
    with pytest.raises(ValueError, match=r"LossScaleOptimizer\(GradientCentralization"):
        GradientCentralization(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()))
    with pytest.raises(ValueError, match="wraps another optimizer"):
        centralized(keras.optimizers.LossScaleOptimizer)


# --- Golden single steps on plain variables (as Keras's adam_test.py does) ----

KERNEL = [[1.0, 2.0], [3.0, 4.0]]  # (inputs, units): unit j is column j
GRADIENT = [[1.0, 4.0], [3.0, 0.0]]  # column means 2 and 2
# Centralized: [[-1, 2], [1, -2]]; a bias of the same layer is left alone.


def one_step(optimizer: keras.optimizers.Optimizer) -> tuple[np.ndarray, np.ndarray]:
    kernel = keras.Variable(np.array(KERNEL), name="kernel")
    bias = keras.Variable(np.array([1.0, 1.0]), name="bias")
    # Tensors, as Keras's own single-step tests pass (fused torch optimizers need them).
    grads = [ops.convert_to_tensor(GRADIENT), ops.convert_to_tensor([1.0, -1.0])]
    optimizer.apply(grads, [kernel, bias])
    return ops.convert_to_numpy(kernel), ops.convert_to_numpy(bias)


def test_golden_single_step_gcsgd():
    kernel, bias = one_step(GCSGD(learning_rate=0.5))
    np.testing.assert_allclose(kernel, [[1.5, 1.0], [2.5, 5.0]], atol=1e-6)
    np.testing.assert_allclose(bias, [0.5, 1.5], atol=1e-6)  # plain SGD step


def test_golden_single_step_gcadam_on_the_gradient():
    # Adam's first step is lr * g / (|g| + eps): lr times the sign of the
    # centralized gradient.
    kernel, bias = one_step(GCAdam(learning_rate=0.1))
    np.testing.assert_allclose(kernel, [[1.1, 1.9], [2.9, 4.1]], atol=1e-6)
    np.testing.assert_allclose(bias, [0.9, 1.1], atol=1e-6)


def test_golden_single_step_gcadam_on_the_update():
    # Adam's own first step on the raw gradient is -0.1 * sign(g):
    # [[-0.1, -0.1], [-0.1, 0]]; centralizing it per column (means -0.1 and
    # -0.05) leaves [[0, -0.05], [0, 0.05]].
    kernel, bias = one_step(GCAdam(learning_rate=0.1, where="update"))
    np.testing.assert_allclose(kernel, [[1.0, 1.95], [3.0, 4.05]], atol=1e-6)
    np.testing.assert_allclose(bias, [0.9, 1.1], atol=1e-6)


# Issue #25 -------------------------------------------------------------------------------


def gc_optimizer(route: str, make_plain: Callable, **options) -> keras.optimizers.Optimizer:
    """The subclass or the wrapper route around ``make_plain()``, with GC ``options``."""
    plain = make_plain()
    if route == "wrapper":
        return GradientCentralization(plain, **options)
    config = plain.get_config()
    config.pop("name")
    return centralized(type(plain))(**config, **options)


def quiet_apply(optimizer, grads, variables) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GCWarning)
        optimizer.apply(grads, variables)


# Item 1: each kernel is averaged over its layer's fan-in ------------------------------------


def attention_model(mark: bool, names: bool = False) -> keras.Model:
    """MultiHeadAttention, Conv1DTranspose, DepthwiseConv1D, Conv1D and Dense kernels.

    With ``names``, each layer has a name of its own (``my_`` and its default name).
    """

    def named(kind: str) -> dict:
        return {"name": f"my_{kind}"} if names else {}

    inputs = keras.Input((6, 4))
    x = keras.layers.MultiHeadAttention(2, 3, **named("multi_head_attention"))(inputs, inputs)
    x = keras.layers.Conv1DTranspose(5, 3, **named("conv1d_transpose"))(x)
    x = keras.layers.DepthwiseConv1D(3, depth_multiplier=2, **named("depthwise_conv1d"))(x)
    x = keras.layers.Conv1D(3, 2, **named("conv1d"))(x)
    outputs = keras.layers.Dense(2, **named("dense"))(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    if mark:
        mark_kernels(model)
    return model


FAN_IN = {  # the fan-in axes of each kernel of attention_model, by layer
    "query": (0,),
    "key": (0,),
    "value": (0,),
    "attention_output": (0, 1),
    "conv1d_transpose": (0, 2),
    "depthwise_conv1d": (0,),
    "conv1d": (0, 1),
    "dense": (0,),
}
CONV_LAYERS = ("conv1d_transpose", "depthwise_conv1d", "conv1d")


def layer_of(variable) -> str:
    name = variable.path.split("/")[-2].removeprefix("my_")
    return next(k for k in sorted(FAN_IN, key=len, reverse=True) if name.startswith(k))


def one_sgd_step(model, optimizer, seed=0) -> list[np.ndarray]:
    """One step of random gradients; the kernels' new values."""
    variables = model.trainable_variables
    rng = np.random.default_rng(seed)
    grads = [ops.convert_to_tensor(rng.normal(size=v.shape).astype("float32")) for v in variables]
    quiet_apply(optimizer, grads, variables)
    return [ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize("route", ["subclass", "wrapper"])
@pytest.mark.parametrize("where", ["gradient", "update"])
def test_sgd_keeps_the_means_over_each_layers_own_fan_in(route, where):
    model = attention_model(mark=True)
    kernels = [v for v in model.trainable_variables if v.name == "kernel"]
    before = [ops.convert_to_numpy(v) for v in kernels]
    one_sgd_step(model, gc_optimizer(route, lambda: keras.optimizers.SGD(0.5), where=where))
    for kernel, start in zip(kernels, before, strict=True):
        axes = FAN_IN[layer_of(kernel)]
        end = ops.convert_to_numpy(kernel)
        np.testing.assert_allclose(
            end.mean(axis=axes), start.mean(axis=axes), atol=1e-6, err_msg=kernel.path
        )
        assert np.abs(end - start).max() > 1e-3, kernel.path


# Item 2: conv_only picks conv layers by kind ---------------------------------------------------


@pytest.mark.parametrize("where", ["gradient", "update"])
def test_conv_only_centralizes_conv_layers_only_not_attention(where):
    keras.utils.set_random_seed(1)
    base = attention_model(mark=True)
    weights = base.get_weights()
    results = {}
    for name, optimizer in [
        ("gcc", centralized(keras.optimizers.SGD, conv_only=True)(0.5, where=where)),
        ("gc", GCSGD(0.5, where=where)),
        ("plain", keras.optimizers.SGD(0.5)),
    ]:
        base.set_weights(weights)
        results[name] = one_sgd_step(base, optimizer)
    for i, variable in enumerate(base.trainable_variables):
        if variable.name != "kernel":
            continue
        expected = "gc" if layer_of(variable) in CONV_LAYERS else "plain"
        np.testing.assert_allclose(
            results["gcc"][i], results[expected][i], atol=1e-6, err_msg=variable.path
        )


@pytest.mark.parametrize("where", ["gradient", "update"])
def test_unmarked_kernels_under_keras_default_names_step_as_marked_ones(where):
    """Issue #32, item 4: the variables' paths name their layers; no mark, no warning."""
    keras.utils.set_random_seed(1)
    model = attention_model(mark=False)
    weights = model.get_weights()
    results = {}
    for mark in (False, True):
        model.set_weights(weights)
        if mark:
            mark_kernels(model)
        variables = model.trainable_variables
        rng = np.random.default_rng(0)
        grads = [ops.convert_to_tensor(rng.normal(size=v.shape), "float32") for v in variables]
        with warnings.catch_warnings():
            warnings.simplefilter("error", GCWarning)
            GCSGD(0.5, where=where).apply(grads, variables)
        results[mark] = [ops.convert_to_numpy(v) for v in variables]
    for unmarked, marked in zip(results[False], results[True], strict=True):
        np.testing.assert_allclose(unmarked, marked, atol=1e-6)


def test_kernels_of_layers_with_names_of_their_own_fall_back_to_the_rank_rule_with_a_warning():
    model = attention_model(mark=False, names=True)
    variables = model.trainable_variables
    grads = [ops.ones(v.shape) for v in variables]
    with pytest.warns(GCWarning, match="no recorded layout") as caught:
        centralize_gradients(grads, variables, conv_only=True)
    message = str(caught[0].message)
    assert "/query/kernel" in message and "my_conv1d_transpose" in message
    assert "my_dense" not in message  # two axes: Dense, no guess
    assert "mark_kernels(model)" in message and "GCModel" in message


# Item 3: LoRA factors are trained as without GC, with one warning ------------------------------


def test_lora_factors_train_as_under_the_plain_optimizer_with_one_warning():
    def fit(optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        model.layers[0].enable_lora(2)
        model.compile(optimizer=optimizer, loss="mse")
        x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
        model.fit(x, x[:, :4], batch_size=8, epochs=1, verbose=0)
        return model

    plain = fit(keras.optimizers.Adam(1e-2))
    with pytest.warns(GCWarning, match="LoRA factors") as caught:
        gc = fit(GCAdam(1e-2, where="update"))
    assert sum("LoRA" in str(w.message) for w in caught) == 1
    assert max_difference(gc.get_weights(), plain.get_weights()) < 1e-6


# Item 4: a kernel with a sparse TensorFlow gradient is centralized as on JAX and PyTorch --------


class TakeKernel(keras.layers.Layer):
    """A kernel read row by row with ``ops.take``: TensorFlow's gradient is sparse."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(10, 3), name="kernel")

    def call(self, ids):
        return ops.sum(ops.take(self.kernel, ids, axis=0), axis=1)


def test_a_kernel_read_by_take_is_centralized_on_every_backend():
    model = keras.Sequential([keras.Input((2,), dtype="int32"), TakeKernel()])
    start = model.get_weights()[0]
    x = np.random.default_rng(0).integers(0, 5, size=(16, 2))  # rows 5..9 unseen
    y = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    model.compile(optimizer=GCSGD(0.1), loss="mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    end = model.get_weights()[0]
    np.testing.assert_allclose(end.mean(axis=0), start.mean(axis=0), atol=1e-6)
    # The centralized gradient is dense: the unseen rows move by minus the column means.
    assert np.abs(end[5:] - start[5:]).max() > 1e-4


# Item 6: apply reads an iterator of variables once ----------------------------------------------


@pytest.mark.parametrize("where", ["gradient", "update"])
@pytest.mark.parametrize("route", ["subclass", "wrapper"])
def test_apply_accepts_a_generator_of_variables(route, where):
    optimizer = gc_optimizer(route, lambda: keras.optimizers.SGD(0.5), where=where)
    kernel = keras.Variable(np.array(KERNEL), name="kernel")
    bias = keras.Variable(np.array([1.0, 1.0]), name="bias")
    grads = [ops.convert_to_tensor(GRADIENT), ops.convert_to_tensor([1.0, -1.0])]
    for _ in range(2):  # building, then built
        optimizer.apply(grads, (v for v in [kernel, bias]))
    np.testing.assert_allclose(ops.convert_to_numpy(kernel), [[2.0, 0.0], [2.0, 6.0]], atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(bias), [0.0, 2.0], atol=1e-6)
    assert int(optimizer.iterations) == 2


# Item 12: optimizers of classes made at run time pickle ------------------------------------------


@pytest.mark.parametrize("conv_only", [False, True])
@pytest.mark.parametrize("where", ["gradient", "update"])
def test_an_optimizer_of_a_class_made_at_run_time_pickles(where, conv_only):
    cls = centralized(keras.optimizers.Lion, conv_only=conv_only, where=where)
    optimizer = cls(learning_rate=0.01, where=where)
    restored = pickle.loads(pickle.dumps(optimizer))
    assert type(restored) is cls
    assert restored.get_config() == optimizer.get_config()
    assert (restored.where, restored.conv_only) == (where, conv_only)


@pytest.mark.parametrize("where", ["gradient", "update"])
def test_the_wrapper_and_the_ready_made_classes_pickle(where):
    for optimizer in (
        GCAdam(1e-2, where=where),
        GradientCentralization(keras.optimizers.Lion(1e-3), where=where),
    ):
        restored = pickle.loads(pickle.dumps(optimizer))
        assert type(restored) is type(optimizer)
        assert without_names(restored.get_config()) == without_names(optimizer.get_config())


def test_a_pickled_run_time_class_unpickles_in_a_new_process(tmp_path):
    path = tmp_path / "optimizer.pickle"
    optimizer = centralized(keras.optimizers.Lion, where="update")(learning_rate=0.01)
    path.write_bytes(pickle.dumps(optimizer))
    load = (
        "import pickle, sys, gc_tutorial.optimizers; "
        "o = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "print(type(o).__name__, o.where, round(float(o.learning_rate), 6))"
    )
    done = subprocess.run([sys.executable, "-c", load, str(path)], capture_output=True, text=True)
    assert done.stdout.split() == ["GCLionOnUpdate", "update", "0.01"], done.stderr[-2000:]
