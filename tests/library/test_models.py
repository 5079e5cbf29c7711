"""`GCModel` where it must behave as `keras.Model` does (issue #25, items 7-10).

Each test runs on the process's Keras backend (``KERAS_BACKEND``); CI runs
this file on TensorFlow, JAX and PyTorch. That GCModel trains to the GC
optimizers' weights is specified with the other routes in
``test_optimizers.py`` and, across backends, in
``tests/book/test_backend_check.py``.
"""

from __future__ import annotations

import pickle
import warnings

import keras
import numpy as np
import pytest
from conftest import cnn_data, small_cnn
from helpers import LOSS, fresh_copy, kernel_unit_means, max_difference, train, unit_means_of

from gc_tutorial import GCAdam, GCModel
from gc_tutorial.layouts import GCWarning, layout_of

NO_TRAINABLE_WEIGHTS = "does not have any trainable weights"


# 7. compute_loss overrides with or without the `training` argument --------------------


class OldStyleLoss(GCModel):
    """``compute_loss`` as Keras before 3.3 defined it: no ``training``."""

    calls = 0

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        OldStyleLoss.calls += 1
        return super().compute_loss(x, y, y_pred, sample_weight)


class NewStyleLoss(GCModel):
    """``compute_loss`` with the ``training`` argument of Keras 3.3 and later."""

    trainings: list = []

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        NewStyleLoss.trainings.append(training)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)


def test_compute_loss_override_without_training_argument_trains_like_gcmodel():
    base = small_cnn()
    OldStyleLoss.calls = 0
    old_style = train(fresh_copy(base, OldStyleLoss), keras.optimizers.Adam(1e-2), steps=3)
    assert OldStyleLoss.calls > 0
    reference = train(fresh_copy(base, GCModel), keras.optimizers.Adam(1e-2), steps=3)
    assert max_difference(old_style, reference) < 1e-6


def test_compute_loss_override_with_training_argument_is_told_it_trains():
    NewStyleLoss.trainings = []
    train(fresh_copy(small_cnn(), NewStyleLoss), keras.optimizers.Adam(1e-2), steps=2)
    # Keras's build may call it with training=False first; the steps pass True.
    assert NewStyleLoss.trainings[-1] is True


# 8. Nothing to train: warn and go on, as keras.Model does -----------------------------


def frozen_cnn(model_class: type) -> keras.Model:
    model = small_cnn(model_class)
    model.trainable = False
    return model


def weightless(model_class: type) -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Softmax()(keras.layers.GlobalAveragePooling2D()(inputs))
    return model_class(inputs, outputs)


def fit_recording_warnings(model: keras.Model) -> tuple[list[float], list[str]]:
    x, y = cnn_data()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return history.history["loss"], [str(w.message) for w in caught]


@pytest.mark.parametrize("build", [frozen_cnn, weightless], ids=["frozen", "weightless"])
def test_nothing_trainable_warns_and_goes_on_as_keras_model_does(build):
    keras_model = build(keras.Model)
    gc_model = build(GCModel)
    if keras_model.weights:
        gc_model.set_weights(keras_model.get_weights())
    before = gc_model.get_weights()
    keras_losses, keras_warnings = fit_recording_warnings(keras_model)
    gc_losses, gc_warnings = fit_recording_warnings(gc_model)
    np.testing.assert_allclose(gc_losses, keras_losses, rtol=1e-6)
    for after, start in zip(gc_model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(after, start)
    warns = any(NO_TRAINABLE_WEIGHTS in w for w in keras_warnings)
    assert any(NO_TRAINABLE_WEIGHTS in w for w in gc_warnings) == warns


# 9. An optional input given as None ---------------------------------------------------


class OptionalInputLayer(keras.layers.Layer):
    """Keras's own test layer for optional inputs (``models/model_test.py``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)

    def call(self, x, o=None):
        return self.dense(x if o is None else x + o)


def optional_input_model(model_class: type) -> keras.Model:
    x = keras.Input((2,), name="x")
    # "o" flattens before "x": the first flattened input is the optional one.
    o = keras.Input((2,), name="o", optional=True)
    return model_class({"x": x, "o": o}, OptionalInputLayer()(x, o))


@pytest.mark.parametrize("as_generator", [False, True], ids=["arrays", "generator"])
def test_optional_input_given_as_none_trains_as_with_a_gc_optimizer(as_generator):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    inputs = {"x": x, "o": None}

    def data():
        if not as_generator:
            return {"x": inputs, "y": y, "batch_size": 4}

        def batches():
            while True:
                for start in (0, 4):
                    yield {"x": x[start : start + 4], "o": None}, y[start : start + 4]

        return {"x": batches(), "steps_per_epoch": 2}

    reference = optional_input_model(keras.Model)
    gc_model = optional_input_model(GCModel)
    gc_model.set_weights(reference.get_weights())
    reference.compile(optimizer=GCAdam(1e-2), loss="mse")
    gc_model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    histories = [
        model.fit(**data(), epochs=2, shuffle=False, verbose=0).history["loss"]
        for model in (reference, gc_model)
    ]
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    assert max_difference(gc_model.get_weights(), reference.get_weights()) < 1e-6
    gc_model.evaluate(inputs, y, verbose=0)
    assert gc_model.predict(inputs, verbose=0).shape == (8, 2)


# 10. A functional GCModel leaves the GCModel class alone -------------------------------


def functional_gcmodel(model_class: type = GCModel, **kwargs) -> keras.Model:
    inputs = keras.Input((4,))
    return model_class(inputs, keras.layers.Dense(3)(inputs), **kwargs)


class TwoDense(GCModel):
    """A subclassed GCModel: layers made in ``__init__``, used in ``call``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(3)

    def call(self, x):
        return self.out(self.hidden(x))


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")


def test_functional_gcmodel_leaves_the_classes_bases_alone():
    bases = GCModel.__bases__
    assert bases == (keras.Model,)
    model = functional_gcmodel()
    assert GCModel.__bases__ == bases
    assert isinstance(model, GCModel)
    assert isinstance(model, type(keras.Model(model.inputs, model.outputs)))  # Functional
    assert type(model).__name__ == "GCModel"
    assert type(functional_gcmodel()) is type(model)  # one class, made once


def test_subclassed_gcmodel_builds_and_trains_after_a_functional_one():
    x, y = regression_data()
    functional = functional_gcmodel()
    functional.compile(optimizer="sgd", loss="mse")
    functional.fit(x, y, epochs=1, verbose=0)

    model = TwoDense()
    assert model(x).shape == (32, 3)
    before = kernel_unit_means(model)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    # GC keeps each kernel unit's weight mean where it started.
    for start, end in zip(before, kernel_unit_means(model), strict=True):
        np.testing.assert_allclose(end, start, atol=1e-5)


def test_a_subclass_used_functionally_leaves_its_own_and_gcmodels_bases_alone():
    class Mine(GCModel):
        pass

    model = functional_gcmodel(Mine)
    assert Mine.__bases__ == (GCModel,) and GCModel.__bases__ == (keras.Model,)
    assert isinstance(model, Mine) and type(model).__name__ == "Mine"


def test_a_subclass_whose_init_builds_a_graph_leaves_the_bases_alone():
    class Graph(GCModel):
        def __init__(self, units, **kwargs):
            inputs = keras.Input((4,))
            super().__init__(inputs, keras.layers.Dense(units)(inputs), **kwargs)

    model = Graph(3, conv_only=True)
    assert Graph.__bases__ == (GCModel,) and GCModel.__bases__ == (keras.Model,)
    assert isinstance(model, Graph) and model.conv_only is True
    x, y = regression_data()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    # And subclassed GCModels still build afterwards.
    assert TwoDense()(x).shape == (32, 3)


def test_functional_gcmodel_saves_loads_and_pickles_as_gcmodel(tmp_path):
    model = functional_gcmodel(conv_only=True)
    x, y = regression_data()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    config = keras.saving.serialize_keras_object(model)
    assert config["registered_name"] == "gc_tutorial>GCModel"
    assert config["class_name"] == "GCModel"
    assert keras.saving.get_registered_object("gc_tutorial>GCModel") is GCModel

    model.save(tmp_path / "model.keras")
    for restored in (
        keras.models.load_model(tmp_path / "model.keras"),
        pickle.loads(pickle.dumps(model)),
    ):
        assert type(restored) is type(model) and restored.conv_only is True
    # clone_model rebuilds a functional model from (inputs, outputs, name)
    # alone: the class, not conv_only.
    assert type(keras.models.clone_model(model)) is type(model)
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert max_difference(restored.get_weights(), model.get_weights()) == 0.0
    restored.fit(x, y, epochs=1, verbose=0)
    assert GCModel.__bases__ == (keras.Model,)


# What fit reports, and the hook for the gradients -------------------------------------------


def test_gcmodel_reports_the_same_loss_and_metrics_as_fit():
    base = small_cnn()
    x, y = cnn_data()
    histories = []
    for model, optimizer in [
        (fresh_copy(base), GCAdam(1e-2)),
        (fresh_copy(base, GCModel), keras.optimizers.Adam(1e-2)),
    ]:
        model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], atol=1e-6)


def test_gcmodel_transform_gradients_is_the_hook_subclasses_override():
    class NoGCModel(GCModel):
        def transform_gradients(self, grads, variables):
            return list(grads)

    base = small_cnn()
    plain = train(fresh_copy(base), keras.optimizers.Adam(1e-2), steps=3)
    hooked = train(fresh_copy(base, NoGCModel), keras.optimizers.Adam(1e-2), steps=3)
    assert max_difference(plain, hooked) < 1e-6


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch keeps .grad buffers")
def test_on_torch_gcmodel_centralizes_the_grad_buffers_it_hands_the_optimizer_in_place():
    model = fresh_copy(small_cnn(), GCModel)
    train(model, keras.optimizers.Adam(1e-2), steps=1)
    for variable in model.trainable_variables:
        if len(variable.shape) > 1:  # a kernel: its own .grad now has zero unit means
            grad = keras.ops.convert_to_numpy(variable.value.grad)
            assert np.abs(grad.mean(axis=tuple(range(grad.ndim - 1)))).max() < 1e-6


# GCModel marks the kernels' layouts before its first step ------------------------------


def transposed_and_depthwise(model_class: type) -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2DTranspose(4, 3, name="transposed")(inputs)  # (3, 3, out, in)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)  # (3, 3, in, multiplier)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    return model_class(inputs, outputs)


# Each kernel's fan-in axes: the transposed kernel's output units are on axis
# -2, the depthwise kernel's on the last two axes.
FAN_IN = {"transposed": (0, 1, 3), "depthwise": (0, 1)}


def fan_in_means(model: keras.Model) -> dict[str, np.ndarray]:
    return {
        name: np.asarray(model.get_layer(name).kernel).mean(axis=axes)
        for name, axes in FAN_IN.items()
    }


def test_gcmodel_centralizes_transposed_and_depthwise_kernels_over_their_fan_in():
    plain = transposed_and_depthwise(keras.Model)
    model = transposed_and_depthwise(GCModel)
    model.set_weights(plain.get_weights())
    before = fan_in_means(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)  # every kernel's layout is known
        train(model, keras.optimizers.SGD(0.5), steps=5)
    train(plain, keras.optimizers.SGD(0.5), steps=5)
    for name, axes in FAN_IN.items():
        assert layout_of(model.get_layer(name).kernel).fan_in_axes == axes
        np.testing.assert_allclose(fan_in_means(model)[name], before[name], atol=1e-6)
        assert np.max(np.abs(fan_in_means(plain)[name] - before[name])) > 1e-4


# Misuse is an error -----------------------------------------------------------------------


@pytest.mark.parametrize("conv_only", ["no", 1, None, np.bool_(True)])
def test_conv_only_that_is_not_a_bool_is_refused_naming_the_accepted_values(conv_only):
    with pytest.raises(TypeError) as error:
        functional_gcmodel(conv_only=conv_only)
    message = str(error.value)
    assert "GCModel" in message and "conv_only must be True or False" in message
    assert repr(conv_only) in message and type(conv_only).__name__ in message
    with pytest.raises(TypeError, match="conv_only must be True or False"):
        TwoDense(conv_only=conv_only)


# Issue #32, item 3: GCModel behaves as keras.Model does in every case ------------------------


@keras.saving.register_keras_serializable(package="gc_tutorial_tests")
class ConvNet(GCModel):
    """A subclassed GCModel: a Conv1D and a Dense made in ``__init__``, used in ``call``."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.conv = keras.layers.Conv1D(4, 3)
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(self.flatten(self.conv(x)))


class StepSeen:
    """A user's ``train_step`` on top of GCModel's: it runs, then GCModel's step."""

    seen = False

    def train_step(self, *args):
        StepSeen.seen = True
        return super().train_step(*args)


@keras.saving.register_keras_serializable(package="gc_tutorial_tests")
class ConvNetWithStep(StepSeen, ConvNet):
    pass


@keras.saving.register_keras_serializable(package="gc_tutorial_tests")
class GCModelWithStep(StepSeen, GCModel):
    pass


def conv_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    return rng.normal(size=(32, 6, 2)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")


def gc_model(kind: str, conv_only: bool = False, own_step: bool = False) -> keras.Model:
    """The same Conv1D + Dense network as a functional or a subclassed GCModel."""
    if kind == "functional":
        inputs = keras.Input((6, 2))
        x = keras.layers.Flatten()(keras.layers.Conv1D(4, 3)(inputs))
        model_class = GCModelWithStep if own_step else GCModel
        return model_class(inputs, keras.layers.Dense(3)(x), conv_only=conv_only)
    model = (ConvNetWithStep if own_step else ConvNet)(conv_only=conv_only)
    if kind == "subclassed, built before fit":
        model(conv_data()[0][:1])
    return model


def fit(model: keras.Model, epochs: int = 1) -> None:
    x, y = conv_data()
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)


def assert_trains_with_gc(model: keras.Model, conv_only: bool) -> None:
    """Compiled with plain SGD, only GC keeps the kernels' unit means where they were."""
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    kernels = [v for v in model.trainable_variables if v.name == "kernel"]
    assert [len(k.shape) for k in kernels] == [3, 2]  # the conv kernel, the dense kernel
    before = [unit_means_of(k) for k in kernels]
    with warnings.catch_warnings():
        warnings.simplefilter("error", GCWarning)  # every layout is known
        fit(model, epochs=2)
    for kernel, start in zip(kernels, before, strict=True):
        kept = len(kernel.shape) == 3 or not conv_only
        moved = np.abs(unit_means_of(kernel) - start).max()
        assert (moved < 1e-5) if kept else (moved > 1e-4), (kernel.path, moved)


KINDS = ["functional", "subclassed", "subclassed, built before fit"]


@pytest.mark.parametrize("conv_only", [False, True], ids=["GC", "GCC"])
@pytest.mark.parametrize("kind", KINDS)
def test_gcmodel_fits_as_keras_model_does(kind, conv_only):
    model = gc_model(kind, conv_only)
    model.compile(optimizer="adam", loss="mse")
    fit(model)  # builds a subclassed model that is not built yet, as keras.Model's fit does
    assert_trains_with_gc(model, conv_only)


def saved_and_loaded(model: keras.Model, tmp_path) -> keras.Model:
    model.save(tmp_path / "model.keras")
    return keras.models.load_model(tmp_path / "model.keras")


RESTORED = {
    "save and load": saved_and_loaded,
    "pickle": lambda model, tmp_path: pickle.loads(pickle.dumps(model)),
    "clone_model": lambda model, tmp_path: keras.models.clone_model(model),
}


@pytest.mark.parametrize("restore", RESTORED.values(), ids=RESTORED.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_a_restored_gcmodel_is_the_same_kind_of_model_and_trains_with_gc(kind, restore, tmp_path):
    model = gc_model(kind, conv_only=True)
    model.compile(optimizer="adam", loss="mse")
    fit(model)
    restored = restore(model, tmp_path)
    assert type(restored) is type(model) and isinstance(restored, GCModel)
    if kind == "functional" and restore is RESTORED["clone_model"]:
        # clone_model rebuilds a functional model from its graph and name alone, as it
        # does any subclass of Keras's Functional: the class, not other arguments.
        restored.conv_only = True
    assert restored.conv_only is True
    if restore is not RESTORED["clone_model"]:  # a clone has weights of its own
        assert max_difference(restored.get_weights(), model.get_weights()) == 0.0
    assert_trains_with_gc(restored, conv_only=True)


@pytest.mark.parametrize("kind", KINDS)
def test_a_users_train_step_on_top_of_gcmodels_runs_and_gc_still_applies(kind):
    StepSeen.seen = False
    model = gc_model(kind, own_step=True)
    model.compile(optimizer="sgd", loss="mse")
    fit(model)
    assert StepSeen.seen
    assert_trains_with_gc(model, conv_only=False)
