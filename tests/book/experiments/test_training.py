"""Specification of one seeded training run: its start depends on its seed alone."""

from __future__ import annotations

import contextlib
import functools
import itertools
import random
import threading
from collections.abc import Iterator

import keras
import numpy as np
from tiny_study import TINY, tiny_model

from gc_tutorial.book.experiments.provenance import weights_fingerprint
from gc_tutorial.book.experiments.training import seed_start, train_run

SCALE = TINY.scale("short")
BUILD = functools.partial(tiny_model, SCALE)


def run(seed: int) -> list[tuple]:
    """The rows of one two-epoch SGD run from the seed's start, epoch times left out."""
    rows = train_run(
        BUILD,
        TINY.arms["SGD"],
        lambda run_seed: TINY.data(run_seed, SCALE),
        arm="arm",
        seed=seed,
        epochs=2,
        compile_kwargs=TINY.compile_kwargs,
        initial_weights=seed_start(BUILD, seed),
    )
    return [row for row in rows if row[4] != "epoch_time_s"]


@contextlib.contextmanager
def another_thread_drawing() -> Iterator[None]:
    """Another thread drawing from Python's random generator all along, as a
    Dask worker's event loop does while a task trains."""
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            random.random()

    thread = threading.Thread(target=draw)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_the_seed_alone_gives_the_initial_weights():
    first = seed_start(BUILD, 4)
    keras.utils.set_random_seed(99)
    random.random()
    assert weights_fingerprint(seed_start(BUILD, 4)) == weights_fingerprint(first)
    assert weights_fingerprint(seed_start(BUILD, 5)) != weights_fingerprint(first)


def test_the_seed_alone_gives_the_run():
    assert run(4) == run(4)


def test_other_threads_drawing_random_numbers_change_nothing():
    quiet_start = weights_fingerprint(seed_start(BUILD, 4))
    quiet_run = run(4)
    with another_thread_drawing():
        busy_starts = {weights_fingerprint(seed_start(BUILD, 4)) for _ in range(3)}
        busy_run = run(4)
    assert busy_starts == {quiet_start}
    assert busy_run == quiet_run


def test_a_run_starts_from_the_given_weights_whatever_the_model_draws():
    # This builder never repeats its weights, and a learning rate of 0 keeps
    # the weights where training started: the test loss is then the one of
    # the seed's initial weights, the same for every optimizer.
    counter = itertools.count(1000)

    def never_alike() -> keras.Model:
        initializer = keras.initializers.GlorotUniform(seed=next(counter))
        return keras.Sequential(
            [keras.Input(shape=(4,)), keras.layers.Dense(1, kernel_initializer=initializer)]
        )

    frozen = {
        "SGD": functools.partial(keras.optimizers.SGD, 0.0),
        "SGD + GC": functools.partial(TINY.arms["SGD + GC"].func, 0.0),
    }
    start = seed_start(never_alike, 3)
    losses = set()
    for make_optimizer in frozen.values():
        rows = train_run(
            never_alike,
            make_optimizer,
            lambda run_seed: TINY.data(run_seed, SCALE),
            arm="frozen",
            seed=3,
            epochs=1,
            compile_kwargs=TINY.compile_kwargs,
            initial_weights=start,
        )
        losses |= {(metric, value) for _, _, _, split, metric, value in rows if split == "test"}
    assert sorted(metric for metric, _ in losses) == ["loss", "mae"]  # one value of each
    assert np.isfinite([value for _, value in losses]).all()
