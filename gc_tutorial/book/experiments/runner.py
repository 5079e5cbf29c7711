"""Run a study resumably: each (arm, seed) run in a process of its own choosing.

A fair comparison of "Adam" against "Adam + GC" changes nothing but the
optimizer: every arm of a seed starts from the seed's initial weights and
sees the seed's data order and dropout and augmentation draws
(:mod:`gc_tutorial.book.experiments.training`). :func:`run_study` runs the
runs of a :class:`~gc_tutorial.book.experiments.Study` that its results file
lacks (:func:`~gc_tutorial.book.experiments.plan.plan_runs`), here, in a
pool of worker processes, or on any ``concurrent.futures.Executor`` (a Dask
cluster's), appending each finished run to the file
(:class:`~gc_tutorial.book.experiments.results_file.ResultsFile`).
:func:`~gc_tutorial.book.experiments.plan.study_status`, which says what is
done, is importable from here too.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from gc_tutorial.book.experiments.plan import plan_runs, study_status
from gc_tutorial.book.experiments.provenance import (
    environment,
    optimizer_description,
    weights_fingerprint,
)
from gc_tutorial.book.experiments.studies import resolve_study
from gc_tutorial.book.experiments.study import Study, arm_settings
from gc_tutorial.book.experiments.training import seed_start, train_run

__all__ = ["run_study", "study_status"]


def _run_one(
    study_reference: str | Study, profile: str, arm: str, seed: int, verbose: int
) -> tuple[list[tuple], dict[str, Any]]:
    """One run of a study, as results-file rows, and its provenance record (in any process)."""
    study = resolve_study(study_reference)
    scale = study.scale(profile)
    build_model = functools.partial(study.build_model, scale)
    started = time.perf_counter()
    initial_weights = seed_start(build_model, seed)
    trained = train_run(
        build_model,
        study.arms[arm],
        lambda run_seed: study.data(run_seed, scale),
        arm=arm,
        seed=seed,
        epochs=scale.epochs,
        compile_kwargs=study.compile_kwargs,
        initial_weights=initial_weights,
        test_every_epoch=True,
        verbose=verbose,
    )
    method, learning_rate = arm_settings(arm, study.arms[arm])
    rows = [(*row[:2], method, learning_rate, *row[2:]) for row in trained]
    record = {
        "study": study.name,
        "profile": profile,
        "arm": arm,
        "seed": seed,
        "epochs": scale.epochs,
        "optimizer": optimizer_description(study.arms[arm]()),
        "initial_weights_sha256": weights_fingerprint(initial_weights),
        "seconds": round(time.perf_counter() - started, 3),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **environment(),
    }
    return rows, record


def _check_pairing(done: dict[tuple[str, int], dict[str, Any]], record: dict[str, Any]) -> None:
    """Refuse a run whose seed's other arms started from other weights."""
    for (arm, seed), other in done.items():
        if (
            seed == record["seed"]
            and other["initial_weights_sha256"] != record["initial_weights_sha256"]
        ):
            raise RuntimeError(
                f"Seed {seed}: arm {record['arm']!r} started from other initial "
                f"weights than arm {arm!r} (on {record['backend']}/"
                f"{record['device']} against {other['backend']}/"
                f"{other['device']}), so the two are not paired. Run every arm "
                "of a seed on the same backend, or write to another output path."
            )


def run_study(
    study: str | Study,
    profile: str,
    out: str | os.PathLike[str],
    *,
    arms: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    workers: int = 1,
    executor: concurrent.futures.Executor | None = None,
    progress: Callable[[str], None] | None = None,
    verbose: int = 0,
) -> pd.DataFrame:
    """Run a study's missing (arm, seed) runs, saving each as it finishes.

    Every run is one :func:`~gc_tutorial.book.experiments.training.train_run`
    from the seed's initial weights, with the test set evaluated after
    every epoch. Its initial weights and data order depend on the seed
    alone, so the arms of a seed pair up even when they run in different
    processes or sessions; the fingerprint of each run's initial weights is
    recorded, and a run whose seed's other arms started elsewhere is
    refused. Runs already in ``out`` are skipped, so an interrupted study
    resumes where it stopped; an arm whose optimizer settings changed since
    its runs there were made is refused.

    Args:
        study: A name in :data:`~gc_tutorial.book.experiments.STUDIES`,
            ``"module:ATTRIBUTE"`` naming a
            :class:`~gc_tutorial.book.experiments.Study`, or the Study itself
            (with ``workers > 1`` or an ``executor`` it must pickle:
            module-level functions, no lambdas).
        profile: The study's profile, e.g. ``"full"`` or ``"smoke"``.
        out: The results CSV; its provenance file goes beside it
            (:class:`~gc_tutorial.book.experiments.results_file.ResultsFile`).
        arms: Arms to run; ``None`` for those the profile runs.
        seeds: Seeds to run; ``None`` for the profile's.
        workers: Runs at a time. With 1 they run in this process; with more,
            each in a worker process started with the ``spawn`` method (each
            imports Keras afresh and sets its own seeds); this process alone
            writes the files.
        executor: Where to run them instead: any
            ``concurrent.futures.Executor``, e.g. a process pool of your own
            or a Dask cluster's (``distributed.Client(address).get_executor()``;
            its workers must import this package and reach the study's data).
            Each run is submitted as one task and draws its random numbers
            from its seed alone, also in a worker whose other threads draw
            meanwhile (:mod:`~gc_tutorial.book.experiments.training`); this
            process alone writes the files, as the runs finish, and the
            pairing check refuses a run whose initial weights differ from its
            seed's other arms. ``workers`` is then not used; the caller owns
            (and shuts down) the executor.
        progress: Called with one line per finished run.
        verbose: Passed to ``fit`` and ``evaluate``.

    Returns:
        Every row in ``out`` once the runs are done.

    Raises:
        ValueError: the study, profile or an arm is unknown, ``workers < 1``,
            ``out`` holds other runs than this study's profile
            (:meth:`ResultsFile.done`), or an arm to run builds another
            optimizer than its runs in ``out`` used.
        RuntimeError: a run failed (the runs finished before it are saved;
            others still running are awaited and saved, the rest are not
            started), or a run's initial weights differ from those of its
            seed's other arms.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}.")
    if (workers > 1 or executor is not None) and isinstance(study, Study):
        _check_picklable(study)
    plan = plan_runs(study, profile, out, arms, seeds)
    pending, results_file, done = plan.pending, plan.results_file, plan.done
    saved: list[tuple[str, int]] = []

    def save(rows: list[tuple], record: dict[str, Any]) -> None:
        _check_pairing(done, record)
        results_file.append(rows, record)
        run = (record["arm"], record["seed"])
        done[run] = record
        saved.append(run)
        if progress is not None:
            progress(
                f"[{len(saved)}/{len(pending)}] {record['arm']} seed "
                f"{record['seed']}: {record['seconds']:.0f} s on "
                f"{record['backend']}/{record['device']}"
            )

    if workers == 1 and executor is None:
        for arm, seed in pending:
            try:
                rows, record = _run_one(study, profile, arm, seed, verbose)
            except Exception as error:
                raise _failed(arm, seed, error) from error
            save(rows, record)
        return results_file.read()
    if executor is not None:
        _run_on(executor, study, profile, pending, verbose, save)
        return results_file.read()
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, max(len(pending), 1)),
        mp_context=multiprocessing.get_context("spawn"),
    ) as pool:
        _run_on(pool, study, profile, pending, verbose, save)
    return results_file.read()


def _run_on(
    executor: concurrent.futures.Executor,
    study: str | Study,
    profile: str,
    pending: Sequence[tuple[str, int]],
    verbose: int,
    save: Callable[..., None],
) -> None:
    """Submit every pending run to ``executor`` and save each as it finishes.

    Raises:
        RuntimeError: a run failed; the runs finished before it, and those
            still running, are saved, and the rest are cancelled.
    """
    failure: tuple[str, int, BaseException] | None = None
    futures = {
        executor.submit(_run_one, study, profile, arm, seed, verbose): (arm, seed)
        for arm, seed in pending
    }
    for future in concurrent.futures.as_completed(futures):
        if future.cancelled():
            continue
        exception = future.exception()
        if exception is None:
            save(*future.result())
        elif failure is None:
            failure = (*futures[future], exception)
            for other in futures:
                other.cancel()
    if failure is not None:
        raise _failed(*failure) from failure[2]


def _check_picklable(study: Study) -> None:
    """Refuse, with directions, a Study object that worker processes cannot receive."""
    try:
        pickle.dumps(study)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise ValueError(
            f"Study {study.name!r} cannot be sent to worker processes ({error}); "
            "run it with workers=1, or define it in a module with module-level "
            "functions and pass 'module:ATTRIBUTE'."
        ) from error


def _failed(arm: str, seed: int, error: BaseException) -> RuntimeError:
    return RuntimeError(
        f"The run of arm {arm!r} with seed {seed} failed: "
        f"{type(error).__name__}: {error}. The runs saved so far stay; run "
        "again to resume."
    )
