"""One seeded training run: the unit every comparison is made of.

A run's start depends on its seed alone: :func:`seed_start` draws the
initial weights after ``keras.utils.set_random_seed(seed)``, and
:func:`train_run` sets the seed again before building the model, calling
the data pipeline and training. Two runs of one seed with different
optimizers, in one process or in two, therefore share their initial
weights, data order and dropout and augmentation draws -- also in a process
whose other threads draw random numbers meanwhile, as a Dask worker's do
(:class:`_RunSeeds`).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras.src.random import seed_generator as keras_seed_generator

from gc_tutorial.layouts import mark_kernels

__all__ = ["Row", "seed_start", "train_run"]

Row = tuple[int, str, int, str, str, float]
"""One row of a results frame: seed, arm, epoch, split, metric, value."""


class _EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch, validation included."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class _TestEachEpoch(keras.callbacks.Callback):
    """Evaluates the model on a test set after every epoch."""

    def __init__(self, test: Any, verbose: int) -> None:
        super().__init__()
        self.test = test
        self.verbose = verbose
        self.scores: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.scores.append(self.model.evaluate(self.test, return_dict=True, verbose=self.verbose))


class _RunSeeds(threading.local):
    """Where Keras draws its default seeds from: in a run, the run's own generator.

    Keras gives every initializer and random layer (``Dropout``, the
    augmentation layers) made without a seed one drawn from Python's
    ``random`` module (``keras.src.random.seed_generator.make_default_seed``),
    whose single generator all threads of a process share. A Dask worker runs
    its tasks in a thread while its event loop draws from that generator too
    (``dask.sizeof`` samples the collections it sizes), so a run's initial
    weights and dropout draws would depend on timing, and two arms of one
    seed would not start alike. While a thread is in a run (:func:`_seeded`),
    its Keras draws come from ``random.Random(seed)`` instead: the numbers
    ``random.seed(seed)`` gives a process where nothing else draws. Outside a
    run, from the ``random`` module as before.
    """

    generator: random.Random | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.generator or random, name)


_RUN_SEEDS = _RunSeeds()


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Set ``seed`` everywhere, and give this thread's Keras seeds their own generator."""
    keras.utils.set_random_seed(seed)
    keras_seed_generator.python_random = _RUN_SEEDS
    _RUN_SEEDS.generator = random.Random(seed)
    try:
        yield
    finally:
        _RUN_SEEDS.generator = None


def seed_start(build_model: Callable[[], keras.Model], seed: int) -> list[np.ndarray]:
    """The initial weights of every run of ``seed``.

    Args:
        build_model: Returns a new, uncompiled model.
        seed: The run's seed, set with ``keras.utils.set_random_seed``.

    Returns:
        The weights of ``build_model()`` built right after the seed is set.
    """
    with _seeded(seed):
        return build_model().get_weights()


def train_run(
    build_model: Callable[[], keras.Model],
    make_optimizer: Callable[[], keras.optimizers.Optimizer],
    data: Callable[[int], tuple[Any, Any, Any]],
    *,
    arm: str,
    seed: int,
    epochs: int,
    compile_kwargs: Mapping[str, Any],
    initial_weights: Sequence[np.ndarray],
    test_every_epoch: bool = False,
    verbose: int = 0,
) -> list[Row]:
    """Train one model from the seed's start and record what it logs.

    The seed is set, a model is built and given ``initial_weights``, its
    kernels' layouts are recorded (:func:`gc_tutorial.mark_kernels`, so
    that GC averages each over its own fan-in), it is compiled with
    ``make_optimizer()``, given fresh data from
    ``data(seed)``, trained for ``epochs`` epochs with ``shuffle=False``
    (the order is the pipeline's) and evaluated on the test set, if any.

    Args:
        build_model: Returns a new, uncompiled model.
        make_optimizer: Returns a new optimizer.
        data: Given the seed, returns ``(train, validation, test)``, each
            something ``fit`` takes whole; ``validation`` may be ``None``, and
            so may ``test`` (a pilot that must not see the test split).
        arm: Name of the arm, written in every row.
        seed: The run's seed.
        epochs: Training epochs.
        compile_kwargs: Passed to ``model.compile`` with the optimizer.
        initial_weights: The seed's initial weights (:func:`seed_start`).
        test_every_epoch: Evaluate the test set after every epoch rather
            than once after the last.
        verbose: Passed to ``fit`` and ``evaluate``.

    Returns:
        Rows of a results frame: ``train`` and ``validation`` rows of every
        logged metric at every epoch, the ``train`` metric
        ``epoch_time_s`` (each epoch's wall time, validation included, test
        evaluation not), and ``test`` rows at every epoch or at the last
        (none without a test set).
    """
    with _seeded(seed):
        model = build_model()
        model.set_weights(initial_weights)
        mark_kernels(model)  # each kernel's fan-in axes, for the GC arms
        model.compile(optimizer=make_optimizer(), **compile_kwargs)
        train, validation, test = data(seed)
        timer = _EpochTimer()
        tester = _TestEachEpoch(test, verbose) if test_every_epoch and test is not None else None
        history = model.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            shuffle=False,
            callbacks=[timer] + ([tester] if tester else []),
            verbose=verbose,
        )
    per_epoch = dict(history.history)
    per_epoch["epoch_time_s"] = timer.seconds
    rows: list[Row] = []
    for key, values in per_epoch.items():
        split, metric = ("train", key)
        if key.startswith("val_"):
            split, metric = "validation", key[len("val_") :]
        rows += [
            (seed, arm, epoch, split, metric, float(value))
            for epoch, value in enumerate(values, start=1)
        ]
    if test is None:
        tested = {}
    elif tester is None:
        tested = {epochs: model.evaluate(test, return_dict=True, verbose=verbose)}
    else:
        tested = dict(enumerate(tester.scores, start=1))
    rows += [
        (seed, arm, epoch, "test", metric, float(value))
        for epoch, scores in tested.items()
        for metric, value in scores.items()
    ]
    return rows
