"""The book's studies, their learning-rate pilots and the taxi-fare sweep, as data.

Each is a :class:`~gc_tutorial.book.experiments.study.Study`: what to train,
on what, with which arms, at which scale per profile. This module holds them,
their data and model factories, and :data:`STUDIES`, the registry by name
that :func:`gc_tutorial.book.experiments.run_study` and the command line
(``python -m gc_tutorial.book.experiments``) read (:func:`resolve_study`).
Every arm is an :class:`~gc_tutorial.book.experiments.study.Arm`: one of the
:data:`METHODS` at a learning rate. Beside the sweep, :func:`lr_sweep_frame`
arranges its results by learning rate and method.

The horses-or-humans study takes its rates from its pilot:
:data:`HORSES_OR_HUMANS_PILOT` tries every method at every rate of
:data:`HORSES_OR_HUMANS_PILOT_GRIDS`, and :func:`horses_or_humans_tuned`
builds the study from the rates it chooses (:data:`HORSES_OR_HUMANS_TUNED`).

The module is longer than the project's usual one because it is data: the
studies derived from one another (the pilots and the sweep are the studies
with other arms and scales), each documented with the constants it was
chosen by, and the factories they share.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import keras
import numpy as np
import pandas as pd

from gc_tutorial.book.data import ArrayBatches, load_horses_or_humans, load_horses_or_humans_split
from gc_tutorial.book.experiments.study import Arm, Scale, Study
from gc_tutorial.book.experiments.taxi import taxi_fare_arrays
from gc_tutorial.book.networks import horses_or_humans_cnn, taxi_fare_mlp
from gc_tutorial.optimizers import GCSGD, GCAdam, GCRMSprop

__all__ = [
    "HORSES_OR_HUMANS_IMAGE_SIZE",
    "TAXI_SGD_LEARNING_RATE",
    "TAXI_SGD_PILOT_GRID",
    "NYC_TAXI_SGD_PILOT",
    "NYC_TAXI_LR_SWEEP_GRID",
    "NYC_TAXI_LR_SWEEP_SMOKE_GRID",
    "NYC_TAXI_LR_SWEEP",
    "lr_sweep_frame",
    "horses_or_humans_data",
    "taxi_fare_data",
    "HOLD_OUT_FRACTION",
    "METHODS",
    "HORSES_OR_HUMANS_BUDGET",
    "HORSES_OR_HUMANS_PILOT_GRIDS",
    "HORSES_OR_HUMANS_PILOT",
    "HORSES_OR_HUMANS_TUNED_SEEDS",
    "horses_or_humans_tuned",
    "HORSES_OR_HUMANS_TUNED_RATES",
    "HORSES_OR_HUMANS_TUNED",
    "taxi_fare_pilot_data",
    "horses_or_humans_pilot_data",
    "NYC_TAXI",
    "STUDIES",
    "resolve_study",
]


HORSES_OR_HUMANS_IMAGE_SIZE = 100
"""Side of the images in the ``full`` profile: the CPU scale.

keras.io trains its CNN on 300 px images; on this project's 2-core CPU one
epoch takes about 2 s at 100 px and 35-48 s at 300 px, so a study of seven
arms and twenty seeds fits in a few hours only at the smaller size (the
network's five conv/pool blocks take at least 94 px). The ``gpu`` profile
runs keras.io's 300 px.
"""

TAXI_SGD_LEARNING_RATE = 0.003
"""Learning rate of the taxi-fare "SGD momentum" arms (momentum 0.9).

Chosen by the :data:`NYC_TAXI_SGD_PILOT` study (lowest mean validation loss
after 10 epochs; ``chapters/results/studies/nyc_taxi_sgd_pilot_full.csv``, which
``tests/pages/test_book_results.py`` checks against this value).
"""


def _image_size(scale: Scale) -> int:
    """``scale.image_size``, which an image study's :class:`Scale` must set."""
    if scale.image_size is None:
        raise ValueError(f"An image study needs a Scale with an image_size; got {scale}.")
    return scale.image_size


def horses_or_humans_data(seed: int, scale: Scale) -> tuple[Any, None, Any]:
    """Horses or Humans at ``scale``, the training set shuffled by ``seed``.

    Returns:
        ``(train, None, test)`` from
        :func:`gc_tutorial.book.data.load_horses_or_humans`: the study has no
        validation split; the runner evaluates the test set every epoch.
    """
    train, test = load_horses_or_humans(
        image_size=_image_size(scale),
        batch_size=scale.batch_size,
        shuffle_seed=seed,
        train_subset=scale.train_subset,
        test_subset=scale.test_subset,
    )
    return train, None, test


HOLD_OUT_FRACTION = 0.2
"""Share of each class of the training images the horses-or-humans pilot holds out."""


def horses_or_humans_pilot_data(seed: int, scale: Scale) -> tuple[ArrayBatches, ArrayBatches, None]:
    """Horses or Humans' training split alone, for choosing a learning rate.

    A fixed random :data:`HOLD_OUT_FRACTION` of each class (the same for
    every seed) is held out as the validation set; the rest is trained on,
    shuffled by ``seed``. The test split is never loaded, so no choice made
    from these runs can depend on it. The images come from the local copy
    (``$GC_TUTORIAL_DATA``) as NumPy arrays, on every backend.

    Returns:
        ``(train, validation, None)`` :class:`ArrayBatches`.

    Raises:
        FileNotFoundError: as for :func:`load_horses_or_humans_split`.
    """
    x, y = load_horses_or_humans_split("train", _image_size(scale), scale.train_subset)
    rng = np.random.default_rng(0)
    held_out = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        held_out[rng.choice(rows, round(HOLD_OUT_FRACTION * len(rows)), replace=False)] = True
    train = ArrayBatches(x[~held_out], y[~held_out], scale.batch_size, shuffle_seed=seed)
    validation = ArrayBatches(x[held_out], y[held_out], scale.batch_size)
    return train, validation, None


def taxi_fare_data(seed: int, scale: Scale) -> tuple[ArrayBatches, ArrayBatches, ArrayBatches]:
    """The taxi-fare splits at ``scale``, the training set shuffled by ``seed``.

    Subsets are the first rows of each split (the splits are already in
    random order); ``test_subset`` applies to the validation split too.

    Returns:
        ``(train, validation, test)`` :class:`ArrayBatches` of
        :func:`taxi_fare_arrays`; only the training batches are shuffled.
    """
    arrays = taxi_fare_arrays()
    subset = {
        "train": scale.train_subset,
        "validation": scale.test_subset,
        "test": scale.test_subset,
    }

    def batches(split: str) -> ArrayBatches:
        return ArrayBatches(
            arrays.x[split][: subset[split]],
            arrays.y[split][: subset[split]],
            scale.batch_size,
            shuffle_seed=seed if split == "train" else None,
        )

    return batches("train"), batches("validation"), batches("test")


def taxi_fare_pilot_data(seed: int, scale: Scale) -> tuple[ArrayBatches, ArrayBatches, None]:
    """The taxi-fare training and validation splits, for choosing a learning rate.

    Returns:
        ``(train, validation, None)`` as :func:`taxi_fare_data` gives them:
        a pilot never sees the test split.
    """
    train, validation, _ = taxi_fare_data(seed, scale)
    return train, validation, None


def _taxi_model(scale: Scale) -> keras.Model:
    return taxi_fare_mlp(len(taxi_fare_arrays().feature_names))


def _hoh_model(scale: Scale) -> keras.Model:
    return horses_or_humans_cnn(_image_size(scale))


METHODS: Mapping[str, Callable[..., keras.optimizers.Optimizer]] = MappingProxyType(
    {
        "RMSprop": keras.optimizers.RMSprop,
        "RMSprop + GC": GCRMSprop,
        "SGD momentum": functools.partial(keras.optimizers.SGD, momentum=0.9),
        "SGD momentum + GC": functools.partial(GCSGD, momentum=0.9),
        "Adam": keras.optimizers.Adam,
        "Adam + GC": GCAdam,
        "Adam + GC on the update": functools.partial(GCAdam, where="update"),
    }
)
"""The optimizer methods the book compares, by name, each without its learning rate."""


def _arm(method: str, learning_rate: float) -> Arm:
    return Arm(method, METHODS[method], learning_rate)


def _sgd_momentum(learning_rate: float, gc: bool) -> Arm:
    return _arm("SGD momentum + GC" if gc else "SGD momentum", learning_rate)


def _grid_arm(method: str, learning_rate: float) -> str:
    """The name of the arm of a learning-rate grid, e.g. ``"Adam, lr 0.001"``."""
    return f"{method}, lr {learning_rate:g}"


def _grid_arms(grids: Mapping[str, Sequence[float]]) -> Mapping[str, Arm]:
    """One arm per method and rate of ``grids``, named by :func:`_grid_arm`."""
    return MappingProxyType(
        {
            _grid_arm(method, rate): _arm(method, rate)
            for method, rates in grids.items()
            for rate in rates
        }
    )


def _adam_arms(learning_rate: float) -> Mapping[str, Arm]:
    return {
        method: _arm(method, learning_rate)
        for method in ("Adam", "Adam + GC", "Adam + GC on the update")
    }


_ADAM_PAIRS = {"Adam + GC": "Adam", "Adam + GC on the update": "Adam"}

NYC_TAXI = Study(
    name="nyc_taxi",
    build_model=_taxi_model,
    data=taxi_fare_data,
    compile_kwargs=MappingProxyType({"loss": keras.losses.Huber(), "metrics": ["mae"]}),
    profiles=MappingProxyType(
        {
            "full": Scale(seeds=tuple(range(20)), epochs=10, batch_size=32),
            "smoke": Scale(
                seeds=(0, 1), epochs=1, batch_size=32, train_subset=512, test_subset=256
            ),
        }
    ),
    arms=MappingProxyType(
        {
            "SGD momentum": _sgd_momentum(TAXI_SGD_LEARNING_RATE, gc=False),
            "SGD momentum + GC": _sgd_momentum(TAXI_SGD_LEARNING_RATE, gc=True),
            **_adam_arms(1e-3),
        }
    ),
    pairs=MappingProxyType({"SGD momentum + GC": "SGD momentum", **_ADAM_PAIRS}),
    test_metrics=("mae", "loss"),
)
"""The blog's fare MLP on real taxi trips (Huber loss, MAE, batch 32).

Adam runs at 1e-3 (the blog's setting); SGD with momentum 0.9 at
:data:`TAXI_SGD_LEARNING_RATE`. Full: 20 seeds, 10 epochs, all trips.
Smoke: two seeds, one epoch, 512 training and 256 validation and test trips.
"""


HORSES_OR_HUMANS_BUDGET = 50
"""Epochs per run of the horses-or-humans study and its pilot: the CPU's cap.

At 100 px and batch 128 an epoch is 8 steps, and a 50-epoch run takes about
two minutes on the project's 2-core CPU, which is what the study's 140 runs
can afford. Every arm trains for the same budget; the pilot reports, per
arm, the epoch at which its validation loss stopped improving
(:func:`~gc_tutorial.book.experiments.pilots.pilot_choice`).
"""

_HOH_COMPILE = MappingProxyType({"loss": "binary_crossentropy", "metrics": ["accuracy"]})

_HOH_SMOKE = Scale(
    seeds=(0,), epochs=1, batch_size=128, train_subset=128, test_subset=64, image_size=100
)
"""One seed, one epoch, 128 training and 64 test images at 100 px."""


def _hoh_profiles(seeds: tuple[int, ...], smoke: Scale) -> Mapping[str, Scale]:
    """``full`` at :data:`HORSES_OR_HUMANS_IMAGE_SIZE`, ``gpu`` at 300 px, and ``smoke``."""

    def scale(image_size: int) -> Scale:
        return Scale(
            seeds=seeds, epochs=HORSES_OR_HUMANS_BUDGET, batch_size=128, image_size=image_size
        )

    return MappingProxyType(
        {"full": scale(HORSES_OR_HUMANS_IMAGE_SIZE), "gpu": scale(300), "smoke": smoke}
    )


HORSES_OR_HUMANS_PILOT_GRIDS: Mapping[str, tuple[float, ...]] = MappingProxyType(
    {
        "RMSprop": (1e-4, 3e-4, 1e-3, 3e-3),
        "RMSprop + GC": (1e-4, 3e-4, 1e-3, 3e-3),
        "SGD momentum": (3e-3, 1e-2, 3e-2, 1e-1),
        "SGD momentum + GC": (3e-3, 1e-2, 3e-2, 1e-1),
        "Adam": (3e-4, 1e-3, 3e-3, 1e-2),
        "Adam + GC": (3e-4, 1e-3, 3e-3, 1e-2),
        "Adam + GC on the update": (3e-4, 1e-3, 3e-3, 1e-2),
    }
)
"""The learning rates the horses-or-humans pilot tries, per method: four on a
log grid (steps of about 3), the same grid with and without GC. RMSprop's
starts at keras.io's 1e-4; SGD's and Adam's bracket their usual defaults.
A method whose choice lands on an edge of its grid gets the next rate beyond
it before its rate is used."""

HORSES_OR_HUMANS_PILOT = Study(
    name="horses_or_humans_pilot",
    build_model=_hoh_model,
    data=horses_or_humans_pilot_data,
    compile_kwargs=_HOH_COMPILE,
    profiles=_hoh_profiles(
        (100, 101),
        smoke=Scale(
            seeds=(0,),
            epochs=1,
            batch_size=32,
            train_subset=80,
            image_size=100,
            arms=tuple(
                _grid_arm(method, rates[1])
                for method, rates in HORSES_OR_HUMANS_PILOT_GRIDS.items()
            ),
        ),
    ),
    arms=_grid_arms(HORSES_OR_HUMANS_PILOT_GRIDS),
    pairs=MappingProxyType({}),
    test_metrics=("accuracy", "loss"),
)
"""The pilot that chooses every arm's learning rate for the study.

Each method of :data:`HORSES_OR_HUMANS_PILOT_GRIDS` at each of its rates, on
seeds 100 and 101 (two, not the taxi pilot's three: each run takes minutes
on the CPU), for :data:`HORSES_OR_HUMANS_BUDGET` epochs, trained on 80% of
the training split and judged on the other 20%
(:func:`horses_or_humans_pilot_data`; the test split is never loaded). A
method's rate is the one with the lowest validation loss averaged over the
last :data:`~gc_tutorial.book.experiments.pilots.PILOT_WINDOW` epochs and
the seeds (:func:`~gc_tutorial.book.experiments.pilots.pilot_choice`).
"""

HORSES_OR_HUMANS_TUNED_SEEDS = tuple(range(20))
"""Seeds of the study: 20 paired runs per arm."""


def horses_or_humans_tuned(rates: Mapping[str, float]) -> Study:
    """The horses-or-humans study, each method at its pilot's rate.

    The keras.io CNN on Horses or Humans (binary cross-entropy, batch 128):
    the seven methods of :data:`METHODS`, each at the rate
    :data:`HORSES_OR_HUMANS_PILOT` chose for it; seeds
    :data:`HORSES_OR_HUMANS_TUNED_SEEDS`; :data:`HORSES_OR_HUMANS_BUDGET`
    epochs, the test split evaluated after every epoch. Full (the CPU
    scale): all images at :data:`HORSES_OR_HUMANS_IMAGE_SIZE` px. GPU: the
    same at keras.io's 300 px (``--profile gpu``; it runs on the JAX backend
    too). Smoke: one seed, one epoch, 128 training and 64 test images at
    100 px. Each GC arm is compared with its
    optimizer without GC, and GC on the update with GC on the gradient
    (:func:`~gc_tutorial.book.experiments.answer.comparisons`), on the
    endpoint :data:`~gc_tutorial.book.experiments.paired.ENDPOINT_WINDOW`
    (the mean over the last three epochs) of the training loss, the test
    accuracy and the test loss, by the one decision rule of
    :mod:`~gc_tutorial.book.experiments.inference`.

    Args:
        rates: Method name to its chosen learning rate, for every method.

    Raises:
        ValueError: ``rates`` lacks a method or names an unknown one.
    """
    if set(rates) != set(METHODS):
        raise ValueError(f"Give a rate for each of {list(METHODS)}; got {sorted(rates)}.")
    return Study(
        name="horses_or_humans_tuned",
        build_model=_hoh_model,
        data=horses_or_humans_data,
        compile_kwargs=_HOH_COMPILE,
        profiles=_hoh_profiles(HORSES_OR_HUMANS_TUNED_SEEDS, smoke=_HOH_SMOKE),
        arms=MappingProxyType({method: _arm(method, rates[method]) for method in METHODS}),
        pairs=MappingProxyType(
            {"RMSprop + GC": "RMSprop", "SGD momentum + GC": "SGD momentum", **_ADAM_PAIRS}
        ),
        test_metrics=("accuracy", "loss"),
    )


HORSES_OR_HUMANS_TUNED_RATES: Mapping[str, float] = MappingProxyType(
    {
        "RMSprop": 0.001,
        "RMSprop + GC": 0.001,
        "SGD momentum": 0.01,
        "SGD momentum + GC": 0.03,
        "Adam": 0.003,
        "Adam + GC": 0.001,
        "Adam + GC on the update": 0.003,
    }
)
"""Each method's learning rate in the study: what
:data:`HORSES_OR_HUMANS_PILOT` chose from its committed runs
(``chapters/results/studies/horses_or_humans_pilot_full.csv``), written
here so that the study's runs cannot change with that file;
``tests/pages/test_book_results.py`` checks that the two agree."""

HORSES_OR_HUMANS_TUNED = horses_or_humans_tuned(HORSES_OR_HUMANS_TUNED_RATES)
"""The book's horses-or-humans study (:func:`horses_or_humans_tuned`) at
:data:`HORSES_OR_HUMANS_TUNED_RATES`: seven arms, 20 paired seeds each."""


TAXI_SGD_PILOT_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
"""Learning rates the taxi-fare SGD pilot tries (momentum 0.9)."""

NYC_TAXI_SGD_PILOT = dataclasses.replace(
    NYC_TAXI,
    name="nyc_taxi_sgd_pilot",
    data=taxi_fare_pilot_data,
    profiles=MappingProxyType(
        {
            "full": Scale(seeds=(100, 101, 102), epochs=10, batch_size=32),
            "smoke": NYC_TAXI.profiles["smoke"],
        }
    ),
    arms=_grid_arms({"SGD momentum": TAXI_SGD_PILOT_GRID}),
    pairs=MappingProxyType({}),
)
"""The pilot that chooses :data:`TAXI_SGD_LEARNING_RATE`: plain SGD with
momentum 0.9 at each rate of :data:`TAXI_SGD_PILOT_GRID`, on seeds the study
does not use, on the training and validation splits alone
(:func:`taxi_fare_pilot_data`). The rate is chosen by the validation loss
over the last epochs (mean over the seeds), never by the test split: see
:func:`gc_tutorial.book.experiments.pilot_choice`.
"""

NYC_TAXI_LR_SWEEP_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
"""Learning rates of the taxi-fare learning-rate sweep, up to rates at which
plain Adam fails."""

NYC_TAXI_LR_SWEEP_SMOKE_GRID = (1e-3, 1.0)
"""The rates of :data:`NYC_TAXI_LR_SWEEP_GRID` its smoke profile runs."""

_LR_SWEEP_METHODS = ("Adam", "Adam + GC", "Adam + GC on the update")
"""The methods of the learning-rate sweep, in the order its frame sorts them."""

NYC_TAXI_LR_SWEEP = dataclasses.replace(
    NYC_TAXI,
    name="nyc_taxi_lr_sweep",
    profiles=MappingProxyType(
        {
            "full": Scale(seeds=(0, 1, 2), epochs=10, batch_size=32),
            "smoke": Scale(
                seeds=(0,),
                epochs=2,
                batch_size=32,
                train_subset=512,
                test_subset=256,
                arms=tuple(
                    _grid_arm(method, lr)
                    for method in _LR_SWEEP_METHODS
                    for lr in NYC_TAXI_LR_SWEEP_SMOKE_GRID
                ),
            ),
        }
    ),
    arms=_grid_arms({method: NYC_TAXI_LR_SWEEP_GRID for method in _LR_SWEEP_METHODS}),
    pairs=MappingProxyType(
        {
            _grid_arm(gc_arm, lr): _grid_arm("Adam", lr)
            for gc_arm in ("Adam + GC", "Adam + GC on the update")
            for lr in NYC_TAXI_LR_SWEEP_GRID
        }
    ),
)
"""The taxi-fare learning-rate sweep of chapter 6: Adam, Adam + GC and Adam +
GC on the update at every rate of :data:`NYC_TAXI_LR_SWEEP_GRID` (one arm
each, named like the pilots' arms, e.g. ``"Adam + GC, lr 0.001"``), on the
fare MLP and data of :data:`NYC_TAXI`. Each GC arm is paired with Adam at its
rate. Full: seeds 0 to 2, 10 epochs, all trips. Smoke: the rates of
:data:`NYC_TAXI_LR_SWEEP_SMOKE_GRID`, one seed, two epochs, 512 training and
256 validation and test trips. :func:`lr_sweep_frame` arranges its results
by rate.
"""

STUDIES: Mapping[str, Study] = MappingProxyType(
    {
        study.name: study
        for study in (
            HORSES_OR_HUMANS_PILOT,
            HORSES_OR_HUMANS_TUNED,
            NYC_TAXI,
            NYC_TAXI_SGD_PILOT,
            NYC_TAXI_LR_SWEEP,
        )
    }
)
"""The book's studies by name."""


def resolve_study(reference: str | Study) -> Study:
    """The study a name in :data:`STUDIES` or a ``module:ATTRIBUTE`` names.

    Args:
        reference: ``"nyc_taxi"``, ``"horses_or_humans_tuned"``, the import
            path of any :class:`Study`, e.g. ``"my_studies:CIFAR"`` (a worker
            process imports it by that path), or a :class:`Study` itself.

    Returns:
        The study.

    Raises:
        ValueError: the name is unknown, or the attribute is not a Study.
        ImportError: the module cannot be imported.
    """
    if isinstance(reference, Study):
        return reference
    if reference in STUDIES:
        return STUDIES[reference]
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise ValueError(
            f"No study {reference!r}; use one of {list(STUDIES)} or "
            "'module:ATTRIBUTE' naming a gc_tutorial.book.experiments.Study."
        )
    study = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(study, Study):
        raise ValueError(
            f"{reference!r} does not name a gc_tutorial.book.experiments.Study "
            f"(found {type(study).__name__})."
        )
    return study


def lr_sweep_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The :data:`NYC_TAXI_LR_SWEEP` results by learning rate and optimizer.

    Args:
        results: Rows of the ``nyc_taxi_lr_sweep`` study, with their
            ``method`` and ``learning_rate`` columns, e.g. what
            :func:`~gc_tutorial.book.experiments.run_study` returns for it.

    Returns:
        The same rows with ``arm`` the method (``"Adam"``, ``"Adam +
        GC"``, ``"Adam + GC on the update"``) and ``learning_rate`` first,
        without the ``method`` column, ordered by learning rate, seed and
        method: a sweep as
        :func:`~gc_tutorial.book.experiments.paired.sweep_summary` takes it
        (whose summary :func:`gc_tutorial.book.plotting.plot_lr_sweep`
        draws).

    Raises:
        ValueError: a method of ``results`` is not one of the sweep's.
    """
    unknown = sorted(set(results["method"]) - set(_LR_SWEEP_METHODS))
    if unknown:
        raise ValueError(
            f"The results hold methods that are not {NYC_TAXI_LR_SWEEP.name!r}'s: "
            f"{unknown[:3]}; its methods are {list(_LR_SWEEP_METHODS)}."
        )
    frame = results.assign(arm=results["method"]).drop(columns="method")
    frame = frame[["learning_rate", *(c for c in frame.columns if c != "learning_rate")]]
    rank = frame["arm"].map({name: i for i, name in enumerate(_LR_SWEEP_METHODS)})
    order = np.lexsort((np.arange(len(frame)), rank, frame["seed"], frame["learning_rate"]))
    return frame.iloc[order].reset_index(drop=True)
