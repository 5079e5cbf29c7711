"""Seeded, paired comparisons of optimizers: in one call, or resumable.

A fair comparison of "Adam" against "Adam + GC" changes nothing but the
optimizer: every arm of a seed starts from the seed's initial weights and
sees the seed's data order and dropout and augmentation draws
(:mod:`gc_tutorial.book.experiments.training`). :func:`compare_optimizers` and
:func:`lr_sweep` run such comparisons in the calling process and return a
tidy frame. :func:`run_study` runs a :class:`~gc_tutorial.book.experiments.Study`
run by run, in worker processes if asked, appending each finished run to a
results file (:class:`~gc_tutorial.book.experiments.results_file.ResultsFile`)
and skipping the runs already there; :func:`study_status` says what is done.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import pandas as pd

from gc_tutorial.book.experiments.frames import RESULT_COLUMNS
from gc_tutorial.book.experiments.provenance import (
    environment,
    optimizer_description,
    weights_fingerprint,
)
from gc_tutorial.book.experiments.results_file import ResultsFile
from gc_tutorial.book.experiments.studies import Study, resolve_study
from gc_tutorial.book.experiments.training import Row, seed_start, train_run

__all__ = ["compare_optimizers", "lr_sweep", "run_study", "study_status"]


def compare_optimizers(
    build_model: Callable[[], keras.Model],
    arms: Mapping[str, Callable[[], keras.optimizers.Optimizer]],
    data: Callable[[int], tuple[Any, Any, Any]],
    seeds: Sequence[int],
    epochs: int,
    compile_kwargs: Mapping[str, Any],
    verbose: int = 0,
) -> pd.DataFrame:
    """Train one model per arm and seed, every arm from the same start.

    For each seed, ``keras.utils.set_random_seed(seed)`` is called and
    ``build_model()`` gives the seed's initial weights. Then, for each arm,
    the seed is set again, a fresh model is built and given those initial
    weights, compiled with the arm's optimizer, trained for ``epochs`` epochs
    with validation after each, and evaluated on the test set. Within a seed
    the arms therefore differ only in the optimizer: same initial weights,
    same data order, same dropout and augmentation draws.

    Args:
        build_model: Returns a new, uncompiled model.
        arms: Arm name to optimizer factory, e.g. ``{"Adam": lambda:
            keras.optimizers.Adam(1e-3), "Adam + GC": lambda:
            gc_tutorial.GCAdam(1e-3)}``. A factory is called once per run,
            so no optimizer state is shared.
        data: Given a seed, returns new ``(train, validation, test)``
            datasets, each something ``model.fit(x=...)`` takes whole (a
            ``tf.data.Dataset`` yielding ``(x, y)`` batches, a
            ``keras.utils.PyDataset``). It is called once per arm, after the
            seed is set, so each arm gets a fresh pipeline: shuffle it with
            the seed to give every arm the same order. ``fit`` runs with
            ``shuffle=False``; the order is the pipeline's.
        seeds: Seeds to repeat the comparison over.
        epochs: Training epochs per run.
        compile_kwargs: Passed to ``model.compile`` with the optimizer, e.g.
            ``{"loss": "mse", "metrics": ["mae"]}``. Give metrics by name so
            that every model gets its own metric objects.
        verbose: Passed to ``fit`` and ``evaluate``.

    Returns:
        A tidy frame with columns :data:`RESULT_COLUMNS`: ``seed``, ``arm``,
        ``epoch`` (1-based), ``split`` (``"train"``, ``"validation"`` or
        ``"test"``), ``metric`` (``"loss"`` and the compiled metrics'
        names) and ``value``. Train and validation rows come for every
        epoch; test rows once, with ``epoch`` equal to ``epochs``. The
        wall time of each epoch, validation included, is the metric
        ``"epoch_time_s"`` of split ``"train"``. A diverged run's
        non-finite values are kept as they are.

    Raises:
        ValueError: ``arms`` or ``seeds`` is empty, or ``epochs < 1``.
    """
    if not arms:
        raise ValueError("compare_optimizers needs at least one arm.")
    if len(seeds) == 0:
        raise ValueError("compare_optimizers needs at least one seed.")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1; got {epochs}.")
    rows: list[Row] = []
    for seed in seeds:
        initial_weights = seed_start(build_model, seed)
        for arm, make_optimizer in arms.items():
            rows += train_run(
                build_model,
                make_optimizer,
                data,
                arm=arm,
                seed=seed,
                epochs=epochs,
                compile_kwargs=compile_kwargs,
                initial_weights=initial_weights,
                verbose=verbose,
            )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def lr_sweep(
    build_model: Callable[[], keras.Model],
    optimizer_classes: Mapping[str, Callable[..., keras.optimizers.Optimizer]],
    learning_rates: Sequence[float],
    data: Callable[[int], tuple[Any, Any, Any]],
    seeds: Sequence[int],
    epochs: int,
    compile_kwargs: Mapping[str, Any],
    verbose: int = 0,
) -> pd.DataFrame:
    """Run :func:`compare_optimizers` at every learning rate.

    At each learning rate the arms are ``optimizer_class(learning_rate=lr)``
    and, as in :func:`compare_optimizers`, start from the seed's initial
    weights; with a ``build_model`` that depends only on the seed, that is
    the same start at every learning rate too. A learning rate at which
    training diverges gives non-finite values, kept as they are.

    Args:
        build_model: As for :func:`compare_optimizers`.
        optimizer_classes: Arm name to optimizer class (or any callable
            taking ``learning_rate``), e.g. ``{"Adam": keras.optimizers.Adam,
            "Adam + GC": gc_tutorial.GCAdam}``.
        learning_rates: Learning rates to try.
        data: As for :func:`compare_optimizers`.
        seeds: As for :func:`compare_optimizers`.
        epochs: As for :func:`compare_optimizers`.
        compile_kwargs: As for :func:`compare_optimizers`.
        verbose: As for :func:`compare_optimizers`.

    Returns:
        The frames of :func:`compare_optimizers`, one per learning rate,
        stacked, with a first column ``learning_rate``.

    Raises:
        ValueError: ``learning_rates`` is empty, or as for
            :func:`compare_optimizers`.
    """
    if len(learning_rates) == 0:
        raise ValueError("lr_sweep needs at least one learning rate.")
    frames = []
    for learning_rate in learning_rates:
        arms = {
            name: functools.partial(optimizer_class, learning_rate=learning_rate)
            for name, optimizer_class in optimizer_classes.items()
        }
        frame = compare_optimizers(build_model, arms, data, seeds, epochs, compile_kwargs, verbose)
        frame.insert(0, "learning_rate", float(learning_rate))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _run_one(
    study_reference: str | Study, profile: str, arm: str, seed: int, verbose: int
) -> tuple[list[Row], dict[str, Any]]:
    """One run of a study, and its provenance record (in any process)."""
    study = resolve_study(study_reference)
    scale = study.scale(profile)
    build_model = functools.partial(study.build_model, scale)
    started = time.perf_counter()
    initial_weights = seed_start(build_model, seed)
    rows = train_run(
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


def _plan(
    study_reference: str | Study,
    profile: str,
    out: str | os.PathLike[str],
    arms: Sequence[str] | None,
    seeds: Sequence[int] | None,
) -> tuple[Study, list[tuple[str, int]], ResultsFile, dict]:
    """The study, the runs still to do, the results file, and the runs done."""
    study = resolve_study(study_reference)
    scale = study.scale(profile)
    arms = list(study.arms) if arms is None else list(arms)
    unknown = [arm for arm in arms if arm not in study.arms]
    if unknown:
        raise ValueError(
            f"Study {study.name!r} has no arm(s) {unknown}; its arms: {list(study.arms)}."
        )
    seeds = list(scale.seeds) if seeds is None else [int(seed) for seed in seeds]
    if not arms or not seeds:
        raise ValueError("Nothing to run: give at least one arm and one seed.")
    results_file = ResultsFile(out)
    done = results_file.done(study.name, profile, scale.epochs)
    _check_optimizers(study, arms, done, results_file)
    pending = [(arm, seed) for seed in seeds for arm in arms if (arm, seed) not in done]
    return study, pending, results_file, done


def _check_optimizers(
    study: Study, arms: Sequence[str], done: dict, results_file: ResultsFile
) -> None:
    """Refuse to add runs of an arm whose optimizer settings have changed."""
    for arm in arms:
        recorded = [record for (done_arm, _), record in done.items() if done_arm == arm]
        if not recorded:
            continue
        now = optimizer_description(study.arms[arm]())
        if recorded[0].get("optimizer") != now:
            raise ValueError(
                f"Arm {arm!r} has changed since its runs in {results_file.path} "
                f"were made: they used {recorded[0].get('optimizer')}, it now builds "
                f"{now}. Write to another output path, or remove that arm's "
                "runs from the file and its provenance file."
            )


def _check_pairing(done: dict, record: dict[str, Any]) -> None:
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
        arms: Arms to run; ``None`` for all of the study's.
        seeds: Seeds to run; ``None`` for the profile's.
        workers: Runs at a time. With 1 they run in this process; with more,
            each in a worker process started with the ``spawn`` method (each
            imports Keras afresh and sets its own seeds); this process alone
            writes the files.
        executor: Where to run them instead: any
            ``concurrent.futures.Executor`` (a process pool of your own, or a
            cluster's). Each run is submitted as one task; this process alone
            writes the files, as the runs finish, and the pairing check
            refuses a run whose initial weights differ from its seed's other
            arms. ``workers`` is then not used; the caller owns (and shuts
            down) the executor.
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
    _, pending, results_file, done = _plan(study, profile, out, arms, seeds)
    saved: list[tuple[str, int]] = []

    def save(rows: list[Row], record: dict[str, Any]) -> None:
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


def study_status(study: str | Study, profile: str, out: str | os.PathLike[str]) -> pd.DataFrame:
    """Which of a study's planned runs are in a results file.

    Args:
        study: As for :func:`run_study`.
        profile: As for :func:`run_study`.
        out: As for :func:`run_study`.

    Returns:
        One row per arm (the study's, then any other in the file) with
        columns ``arm``, ``done`` (planned seeds done), ``planned`` (the
        profile's seeds), ``missing`` (planned seeds not done) and ``extra``
        (seeds done outside the plan).

    Raises:
        ValueError: as for :func:`run_study`.
    """
    resolved, _, _, done = _plan(study, profile, out, None, None)
    planned = list(resolved.scale(profile).seeds)
    arms = list(resolved.arms) + sorted({arm for arm, _ in done} - set(resolved.arms))
    rows = []
    for arm in arms:
        seeds_done = {seed for run_arm, seed in done if run_arm == arm}
        in_plan = planned if arm in resolved.arms else []
        rows.append(
            (
                arm,
                len(seeds_done & set(in_plan)),
                len(in_plan),
                [seed for seed in in_plan if seed not in seeds_done],
                sorted(seeds_done - set(in_plan)),
            )
        )
    return pd.DataFrame(rows, columns=["arm", "done", "planned", "missing", "extra"])
