"""Keras's own optimizer tests, run against the GC subclasses (issue #25).

The keras wheel ships its optimizer tests (``keras/src/optimizers/*_test.py``).
Nearly all their variables are not kernels (``keras.Variable([...])``, named
``variable``), so GC must leave those results exactly as plain Keras gives
them, in both forms: ``where="gradient"`` and ``where="update"``. (The few
tests that fit a model with a Dense layer either have a fan-in of 1, which
GC leaves alone, or check no exact value, but one: see ``SKIPS``.)

Each Keras ``TestCase`` is subclassed here, once per form; the subclass's
``setUp`` replaces, in the Keras test module, the optimizer class the tests
name (``Adam`` in ``adam_test.py``; the whole ``optimizers`` module in
``optimizer_test.py``) by ``centralized(that class, where=...)``, and
``tearDown`` puts it back. ``optimizer_sparse_test.py`` binds its classes
when it is imported, so its parameterized tests are rebuilt with the GC
classes. pytest collects the subclasses, and with them every test Keras
has, pickling included.

Left out: Keras's ``multi_optimizer_test.py`` (MultiOptimizer routes
variables to several optimizers; each would be a GC optimizer, but its
tests fit models, for minutes). Skipped, with the reason: the tests listed
in ``SKIPS``; on JAX, for time, 8 of the 11 optimizers of
``test_gradient_accumulation_with_weigth_decay`` (Adam, SGD and Lion run).
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable
from typing import Any

import keras
import pytest

from gc_tutorial import centralized

testing = pytest.importorskip("keras.src.testing")
# Keras's wheel ships its own tests (keras/src/optimizers/*_test.py) from 3.15 on.
pytest.importorskip(
    "keras.src.optimizers.adam_test", reason="this Keras's wheel ships no tests (3.15 and later do)"
)
keras_optimizers = importlib.import_module("keras.src.optimizers")

# Keras test module -> the names its tests build optimizers from.
MODULES = {
    "adadelta_test": ("Adadelta",),
    "adafactor_test": ("Adafactor",),
    "adagrad_test": ("Adagrad",),
    "adam_test": ("Adam",),
    "adamax_test": ("Adamax",),
    "adamw_test": ("AdamW",),
    "ftrl_test": ("Ftrl",),
    "lamb_test": ("Lamb",),
    "lion_test": ("Lion",),
    "nadam_test": ("Nadam",),
    "rmsprop_test": ("RMSprop",),
    "sgd_test": ("SGD",),
    "muon_test": ("Muon",),
    "schedule_free_adamw_test": ("ScheduleFreeAdamW",),
    "loss_scale_optimizer_test": ("SGD",),  # the inner optimizer
    "optimizer_test": ("optimizers",),  # the module: every class and get()
}

# (test name, form or None for both) -> why it cannot hold for a GC subclass.
SKIPS = {
    ("test_optimizer_auto_naming", None): (
        "checks the names Keras derives from the class name (`adam_w`); a GC "
        "subclass is another class, `GCAdamW`"
    ),
    ("test_tf_checkpointing", "update"): (
        "trains a Dense layer, whose kernel GC does centralize: on the update, its "
        "column means stay put and the prediction moves by less than the test's "
        "1e-3 after one Adam step (the checkpoint itself round-trips)"
    ),
}

if keras.backend.backend() == "jax":
    # Eager JAX compiles Keras's accumulation `lax.cond` again on every call: 3-5 s
    # for each of these 22 tests, as for plain Keras. Adam, SGD and Lion (0, 1, 7) run.
    for _index in (2, 3, 4, 5, 6, 8, 9, 10):
        SKIPS[(f"test_gradient_accumulation_with_weigth_decay{_index}", None)] = (
            "slow on eager JAX (Keras recompiles its accumulation cond each call); "
            "Adam, SGD and Lion represent the optimizers here, all run on TF and torch"
        )

FORMS = ("gradient", "update")


def _gc_class(cls: type, where: str) -> type:
    return centralized(cls, where=where)


def _is_concrete_optimizer(value: Any) -> bool:
    """A Keras optimizer class GC can subclass (not the base or a wrapper)."""
    if not isinstance(value, type) or not issubclass(value, keras.optimizers.Optimizer):
        return False
    wrappers = (
        keras.optimizers.LossScaleOptimizer,
        getattr(keras.optimizers, "MultiOptimizer", ()),
    )
    if issubclass(value, wrappers):
        return False
    return value not in (keras.optimizers.Optimizer, keras_optimizers.Optimizer)


class GCOptimizers(types.ModuleType):
    """``keras.src.optimizers`` with every optimizer class replaced by its GC subclass."""

    def __init__(self, where: str) -> None:
        super().__init__("gc_optimizers")
        self._where = where

    def __getattr__(self, name: str) -> Any:
        value = getattr(keras_optimizers, name)
        return _gc_class(value, self._where) if _is_concrete_optimizer(value) else value

    def get(self, identifier: Any) -> Any:
        optimizer = keras_optimizers.get(identifier)
        if optimizer is None or not _is_concrete_optimizer(type(optimizer)):
            return optimizer
        return _gc_class(type(optimizer), self._where).from_config(optimizer.get_config())


def _replacement(module: types.ModuleType, name: str, where: str) -> Any:
    if name == "optimizers":
        return GCOptimizers(where)
    return _gc_class(getattr(module, name), where)


def _test_case(module: types.ModuleType) -> type:
    (case,) = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, testing.TestCase)
        and value.__module__ == module.__name__
    ]
    return case


def _skip(method: Callable, reason: str) -> Callable:
    def skipped(self: Any) -> None:
        pytest.skip(reason)

    skipped.__name__ = method.__name__
    return skipped


def _patched_suite(module: types.ModuleType, names: tuple[str, ...], where: str) -> type:
    """A subclass of ``module``'s TestCase whose tests see the GC classes."""
    case = _test_case(module)

    def setUp(self: Any) -> None:  # noqa: N802 - unittest's name
        self._originals = {name: getattr(module, name) for name in names}
        for name in names:
            setattr(module, name, _replacement(module, name, where))
        case.setUp(self)

    def tearDown(self: Any) -> None:  # noqa: N802 - unittest's name
        try:
            case.tearDown(self)
        finally:
            for name, original in self._originals.items():
                setattr(module, name, original)

    body: dict[str, Any] = {"setUp": setUp, "tearDown": tearDown, "__module__": __name__}
    for attribute in dir(case):
        reason = SKIPS.get((attribute, None)) or SKIPS.get((attribute, where))
        if reason is not None:
            body[attribute] = _skip(getattr(case, attribute), reason)
    return type(f"{case.__name__}GC{where.capitalize()}", (case,), body)


def _sparse_suite(where: str) -> type | None:
    """``optimizer_sparse_test.py``'s parameterized tests, rebuilt with the GC classes."""
    try:
        module = importlib.import_module("keras.src.optimizers.optimizer_sparse_test")
    except ImportError:  # pragma: no cover - an older Keras
        return None
    case = _test_case(module)
    body: dict[str, Any] = {"__module__": __name__}
    for params in module.TEST_CASES:
        params = dict(params)
        label = params.pop("testcase_name")
        optimizer_class = params["optimizer_class"]
        if not _is_concrete_optimizer(optimizer_class):
            continue  # LossScaleOptimizer(SGD), Keras's own ScatterUpdateOptimizer test class
        params["optimizer_class"] = _gc_class(optimizer_class, where)
        for test in ("test_sparse_gradients", "test_sparse_correctness"):
            generated = getattr(case, f"{test}_{label}", None)
            if generated is None:
                continue
            original = inspect.unwrap(generated)

            def run(self: Any, _original: Callable = original, _params: dict = params) -> None:
                _original(self, **_params)

            run.__name__ = f"{test}_{label}"
            body[run.__name__] = run
    # Keep only the rebuilt tests: the inherited ones would run plain Keras again.
    for attribute in dir(case):
        if attribute.startswith("test") and attribute not in body:
            body[attribute] = None
    return type(f"OptimizerSparseTestGC{where.capitalize()}", (case,), body)


for _form in FORMS:
    for _name, _patched in MODULES.items():
        try:
            _module = importlib.import_module(f"keras.src.optimizers.{_name}")
        except ImportError:  # this Keras has no such optimizer (Muon is new in 3.10)
            continue
        _suite = _patched_suite(_module, _patched, _form)
        globals()[_suite.__name__] = _suite
    _sparse = _sparse_suite(_form)
    if _sparse is not None:
        globals()[_sparse.__name__] = _sparse
# pytest collects every TestCase subclass bound to a module name: only the named ones.
del _form, _name, _patched, _module, _suite, _sparse


def test_the_suite_covers_every_optimizer_keras_exports():
    """A new Keras optimizer gets its test module listed above."""
    exported = {
        name for name, value in vars(keras.optimizers).items() if _is_concrete_optimizer(value)
    }
    covered = {names[0] for names in MODULES.values()}
    assert exported <= covered | {"Optimizer"}, sorted(exported - covered)
