"""Each kernel's layout without ``mark_kernels``: from Keras's default layer names (issue #32).

A plain ``keras.Model`` compiled with a GC optimizer averages every kernel
over its layer's fan-in when its layers have Keras's default names (the
variable's path names the layer: ``conv2d_transpose_1/kernel``), and
``conv_only`` picks conv layers by kind. A kernel whose kind no name tells,
with 3 or more axes, gets one warning naming it and the fix; ``GCModel``
knows its layers whatever their names. Run under each ``KERAS_BACKEND``.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from gc_tutorial import GCSGD, GCModel, GCWarning, centralized, fan_in_axes

L = keras.layers

# Layer kind: (make it, given a name or None; input shape; its kernels' fan-in by path end).
LAYERS = {
    "Dense": (lambda name: L.Dense(3, name=name), (4,), {"kernel": (0,)}),
    "Conv1D": (lambda name: L.Conv1D(3, 2, name=name), (5, 2), {"kernel": (0, 1)}),
    "Conv2D": (lambda name: L.Conv2D(3, 2, name=name), (5, 5, 2), {"kernel": (0, 1, 2)}),
    "Conv3D": (lambda name: L.Conv3D(2, 2, name=name), (3, 3, 3, 2), {"kernel": (0, 1, 2, 3)}),
    "Conv1DTranspose": (
        lambda name: L.Conv1DTranspose(3, 2, name=name),
        (5, 2),
        {"kernel": (0, 2)},
    ),
    "Conv2DTranspose": (
        lambda name: L.Conv2DTranspose(3, 2, name=name),
        (4, 4, 2),
        {"kernel": (0, 1, 3)},
    ),
    "Conv3DTranspose": (
        lambda name: L.Conv3DTranspose(2, 2, name=name),
        (3, 3, 3, 2),
        {"kernel": (0, 1, 2, 4)},
    ),
    "DepthwiseConv1D": (
        lambda name: L.DepthwiseConv1D(2, depth_multiplier=2, name=name),
        (5, 2),
        {"kernel": (0,)},
    ),
    "DepthwiseConv2D": (
        lambda name: L.DepthwiseConv2D(2, depth_multiplier=2, name=name),
        (4, 4, 2),
        {"kernel": (0, 1)},
    ),
    "SeparableConv1D": (
        lambda name: L.SeparableConv1D(3, 2, depth_multiplier=2, name=name),
        (5, 2),
        {"depthwise_kernel": (0,), "pointwise_kernel": (0, 1)},
    ),
    "SeparableConv2D": (
        lambda name: L.SeparableConv2D(3, 2, depth_multiplier=2, name=name),
        (4, 4, 2),
        {"depthwise_kernel": (0, 1), "pointwise_kernel": (0, 1, 2)},
    ),
    "MultiHeadAttention": (
        lambda name: L.MultiHeadAttention(num_heads=2, key_dim=2, name=name),
        (5, 4),
        {"query/kernel": (0,), "key/kernel": (0,), "value/kernel": (0,)}
        | {"attention_output/kernel": (0, 1)},
    ),
    "LSTM": (
        lambda name: L.LSTM(3, return_sequences=True, name=name),
        (5, 2),
        {"/kernel": (0,), "recurrent_kernel": (0,)},
    ),
    "GRU": (lambda name: L.GRU(3, name=name), (5, 2), {"/kernel": (0,), "recurrent_kernel": (0,)}),
    "ConvLSTM1D": (
        lambda name: L.ConvLSTM1D(2, 2, name=name),
        (3, 5, 2),
        {"/kernel": (0, 1), "recurrent_kernel": (0, 1)},
    ),
}
CONV = {kind for kind in LAYERS if "Conv" in kind}


def one_layer_model(kind: str, name: str | None = None, model_class: type = keras.Model):
    """``input -> the layer -> Flatten -> Dense(1)``, and the layer."""
    make, shape, _ = LAYERS[kind]
    inputs = keras.Input(shape)
    layer = make(name)
    x = layer(inputs, inputs) if kind == "MultiHeadAttention" else layer(inputs)
    return model_class(inputs, L.Dense(1)(L.Flatten()(x))), layer


def kernels(model: keras.Model) -> list:
    return [v for v in model.trainable_variables if v.name.endswith("kernel")]


def fit_one_step(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, *model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)


def means_kept(model, layer, kind, optimizer) -> dict[str, bool]:
    """Fit one step; for each kernel, whether its means over its fan-in stayed put."""
    table, own = LAYERS[kind][2], {id(v) for v in layer.weights}
    fan_in = {  # the layer's from the table; the head Dense's (0,)
        v.path: next((a for end, a in table.items() if v.path.endswith(end)), None)
        if id(v) in own
        else (0,)
        for v in kernels(model)
    }
    before = {v.path: np.asarray(v).mean(axis=fan_in[v.path]) for v in kernels(model)}
    fit_one_step(model, optimizer)
    kept = {}
    for v in kernels(model):
        moved = np.abs(np.asarray(v).mean(axis=fan_in[v.path]) - before[v.path]).max()
        assert moved < 1e-6 or moved > 1e-5, (v.path, moved)  # clearly one or the other
        kept[v.path] = bool(moved < 1e-6)
    return kept


@pytest.mark.parametrize("kind", LAYERS)
def test_default_names_give_every_kernel_its_fan_in_without_mark_kernels(kind):
    model, layer = one_layer_model(kind)
    assert all(fan_in_axes(v) is not None for v in kernels(model))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)
        kept = means_kept(model, layer, kind, GCSGD(0.5))
    assert all(kept.values()), kept


@pytest.mark.parametrize("kind", LAYERS)
def test_conv_only_picks_conv_layers_by_kind_under_default_names(kind):
    model, layer = one_layer_model(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)
        gcc = centralized(keras.optimizers.SGD, conv_only=True)(0.5)
        kept = means_kept(model, layer, kind, gcc)
    own = {v.path for v in layer.weights}
    assert kept == {path: path in own and kind in CONV for path in kept}


@pytest.mark.parametrize("kind", LAYERS)
def test_a_name_of_its_own_warns_once_for_a_kernel_of_three_axes_or_more(kind):
    model, layer = one_layer_model(kind, name="mine")
    unknown = [
        v.path
        for v in layer.trainable_weights
        if v.name.endswith("kernel") and len(v.shape) >= 3 and "_cell/" not in v.path
    ]  # an RNN cell keeps its default name, and so its kind
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GCWarning)
        fit_one_step(model, GCSGD(0.5))
        fit_one_step(model, GCSGD(0.5))  # once per variable, not per step or optimizer
    messages = [str(w.message) for w in caught if issubclass(w.category, GCWarning)]
    if not unknown:
        assert messages == []
        return
    assert len(messages) == 1, messages
    assert all(repr(path) in messages[0] for path in unknown), messages[0]
    assert "gc_tutorial.mark_kernels(model)" in messages[0] and "GCModel" in messages[0]


@pytest.mark.parametrize("kind", LAYERS)
def test_gcmodel_knows_its_layers_whatever_their_names(kind):
    model, layer = one_layer_model(kind, name="mine", model_class=GCModel)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)
        kept = means_kept(model, layer, kind, keras.optimizers.SGD(0.5))
    assert all(kept.values()), kept


def test_a_sequential_cnn_with_gcsgd_fits_without_a_warning():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.Conv2D(8, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(8, 3, activation="relu"),
            L.Flatten(),
            L.Dense(8, activation="relu"),
            L.Dense(2, activation="softmax"),
        ]
    )
    x = np.random.default_rng(0).normal(size=(8, 12, 12, 3)).astype("float32")
    model.compile(optimizer=GCSGD(0.1), loss="sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)
        model.fit(x, np.arange(8) % 2, epochs=1, verbose=0)


def test_an_einsum_dense_under_its_default_name_warns_its_equation_decides():
    inputs = keras.Input((4,))
    layer = L.EinsumDense("ab,cb->ac", output_shape=3)  # kernel (3, 4): fan-in axis 1
    model = keras.Model(inputs, layer(inputs))
    with pytest.warns(GCWarning, match=r"EinsumDense.*mark_kernels\(model\)"):
        fit_one_step(model, GCSGD(0.5))
