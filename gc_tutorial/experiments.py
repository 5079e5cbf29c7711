"""Seeded, paired comparisons of optimizers, and their summaries.

A fair comparison of "Adam" against "Adam + GC" changes nothing but the
optimizer. :func:`compare_optimizers` therefore gives every arm, for a given
seed, the same initial weights, the same data order and the same dropout and
augmentation randomness, and repeats the whole comparison over several seeds.
Its result is a tidy :class:`pandas.DataFrame` (one value per row), which
:func:`summarize` reduces to means, seed-to-seed spread and a paired 95%
confidence interval for the difference the treatment makes, and which
:mod:`gc_tutorial.plotting` draws. :func:`epochs_to_reach` reads the same
frame the other way round: how many epochs each run needed to reach a given
validation figure, which :func:`summarize_epochs_to_reach` compares over
seeds.

How much to run is set by a :class:`Profile`, chosen with the environment
variable ``GC_TUTORIAL_PROFILE`` (see :func:`current_profile`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import keras
import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "PROFILE_ENV",
    "Profile",
    "PROFILES",
    "current_profile",
    "RESULT_COLUMNS",
    "compare_optimizers",
    "summarize",
    "lr_sweep",
    "REACH_COLUMNS",
    "epochs_to_reach",
    "summarize_epochs_to_reach",
]

PROFILE_ENV = "GC_TUTORIAL_PROFILE"

RESULT_COLUMNS = ("seed", "arm", "epoch", "split", "metric", "value")
"""Columns of the frame :func:`compare_optimizers` returns, in order."""

REACH_COLUMNS = (
    "metric",
    "split",
    "mode",
    "sustained",
    "target",
    "arm",
    "seed",
    "epoch",
    "epochs_run",
)
"""Columns of the frame :func:`epochs_to_reach` returns, in order."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much the book's experiments run.

    Two profiles exist (see :data:`PROFILES`): ``"full"`` holds the settings
    whose outputs the book shows; ``"smoke"`` runs the same code path with
    few seeds, few epochs and little data, so that CI can execute every
    chapter in minutes. Numbers from a smoke run say nothing about GC.

    Attributes:
        name: ``"full"`` or ``"smoke"``.
        taxi_seeds: Seeds of the taxi-fare comparison.
        taxi_epochs: Epochs per taxi-fare run.
        lr_grid: Learning rates of the taxi-fare learning-rate sweep.
        sweep_seeds: Seeds of the learning-rate sweep.
        sweep_epochs: Epochs per learning-rate sweep run.
        hoh_seeds: Seeds of the horses-or-humans comparison.
        hoh_epochs: Epochs per horses-or-humans run.
        hoh_image_size: Side of the square images fed to the CNN.
        hoh_train_subset: Number of training images to use; ``None`` for all.
        hoh_test_subset: Number of test images to use; ``None`` for all.
    """

    name: str
    taxi_seeds: tuple[int, ...]
    taxi_epochs: int
    lr_grid: tuple[float, ...]
    sweep_seeds: tuple[int, ...]
    sweep_epochs: int
    hoh_seeds: tuple[int, ...]
    hoh_epochs: int
    hoh_image_size: int
    hoh_train_subset: int | None
    hoh_test_subset: int | None


PROFILES: Mapping[str, Profile] = {
    "full": Profile(
        name="full",
        taxi_seeds=(0, 1, 2, 3, 4),
        taxi_epochs=10,
        lr_grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
        sweep_seeds=(0, 1, 2),
        sweep_epochs=10,
        hoh_seeds=(0, 1, 2),
        hoh_epochs=10,
        hoh_image_size=300,
        hoh_train_subset=None,
        hoh_test_subset=None,
    ),
    "smoke": Profile(
        name="smoke",
        taxi_seeds=(0, 1),
        taxi_epochs=2,
        lr_grid=(1e-3, 3e-2),
        sweep_seeds=(0,),
        sweep_epochs=2,
        hoh_seeds=(0,),
        hoh_epochs=1,
        hoh_image_size=100,
        hoh_train_subset=128,
        hoh_test_subset=64,
    ),
}


def current_profile() -> Profile:
    """Return the profile named by ``GC_TUTORIAL_PROFILE`` (default ``"full"``).

    Raises:
        ValueError: the variable holds anything but ``"full"`` or ``"smoke"``.
    """
    name = os.environ.get(PROFILE_ENV, "full")
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a profile; use one of "
            f"{', '.join(repr(key) for key in PROFILES)}."
        )
    return PROFILES[name]


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
    rows: list[tuple[int, str, int, str, str, float]] = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        initial_weights = build_model().get_weights()
        for arm, make_optimizer in arms.items():
            keras.utils.set_random_seed(seed)
            model = build_model()
            model.set_weights(initial_weights)
            model.compile(optimizer=make_optimizer(), **compile_kwargs)
            train, validation, test = data(seed)
            timer = _EpochTimer()
            history = model.fit(
                train,
                validation_data=validation,
                epochs=epochs,
                shuffle=False,
                callbacks=[timer],
                verbose=verbose,
            )
            per_epoch = dict(history.history)
            per_epoch["epoch_time_s"] = timer.seconds
            for key, values in per_epoch.items():
                split, metric = (
                    ("validation", key[len("val_") :])
                    if key.startswith("val_")
                    else ("train", key)
                )
                rows += [
                    (seed, arm, epoch, split, metric, float(value))
                    for epoch, value in enumerate(values, start=1)
                ]
            scores = model.evaluate(test, return_dict=True, verbose=verbose)
            rows += [
                (seed, arm, epochs, "test", metric, float(value))
                for metric, value in scores.items()
            ]
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


SEVERAL_RUNS_ERROR = (
    "The results hold several runs of one arm for a seed (a learning-rate "
    "sweep?); select one run per arm and seed first."
)


def metric_rows(results: pd.DataFrame, metric: str, split: str) -> pd.DataFrame:
    """The rows of ``results`` holding ``metric`` on ``split``.

    Raises:
        ValueError: there are none; the message lists what there is.
    """
    rows = results[(results["metric"] == metric) & (results["split"] == split)]
    if rows.empty:
        raise ValueError(
            f"No {metric!r} on split {split!r} in the results; metrics: "
            f"{sorted(set(results['metric']))}, splits: "
            f"{sorted(set(results['split']))}."
        )
    return rows


def _check_arms(frame: pd.DataFrame, baseline: str, treatment: str) -> None:
    if baseline == treatment:
        raise ValueError(f"baseline and treatment are both {baseline!r}.")
    for arm in (baseline, treatment):
        if arm not in set(frame["arm"]):
            raise ValueError(
                f"No arm {arm!r} in the results; arms: "
                f"{sorted(set(frame['arm']))}."
            )


def _t_interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, std (ddof=1), and the 95% Student-t interval of the mean."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(values, ddof=1))
    half_width = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return mean, std, mean - half_width, mean + half_width


def summarize(
    results: pd.DataFrame,
    metric: str,
    split: str = "test",
    *,
    baseline: str,
    treatment: str,
    epoch: int | None = None,
) -> pd.DataFrame:
    """Compare two arms of a :func:`compare_optimizers` result over seeds.

    Takes each seed's value of ``metric`` on ``split`` at ``epoch`` and
    reports, for the baseline, the treatment, and the paired difference
    treatment − baseline (seed by seed, which cancels what the seed does to
    both arms), the mean over seeds, the standard deviation (ddof=1), the
    number of seeds and a 95% confidence interval for the mean from
    Student's t with n − 1 degrees of freedom.

    Args:
        results: A frame as :func:`compare_optimizers` returns, holding one
            run per arm and seed (filter a :func:`lr_sweep` result to one
            learning rate first).
        metric: Metric to compare, e.g. ``"loss"`` or ``"accuracy"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        baseline: Name of the reference arm, e.g. ``"Adam"``.
        treatment: Name of the arm under test, e.g. ``"Adam + GC"``.
        epoch: Epoch to compare; ``None`` for the last one in ``results``.

    Returns:
        A frame indexed by ``baseline``, ``treatment`` and
        ``"<treatment> - <baseline>"`` with columns ``mean``, ``std``, ``n``,
        ``ci95_low``, ``ci95_high`` and ``verdict``. ``std`` and the
        interval are NaN when ``n < 2``. ``verdict`` is filled on the
        difference row only: ``"within noise"`` when the interval contains
        0, ``"<treatment> higher"`` or ``"<treatment> lower"`` when it lies
        entirely above or below 0, and ``"undetermined"`` when there is no
        finite interval (fewer than 2 seeds, or a diverged run).

    Raises:
        ValueError: ``baseline`` equals ``treatment``; an arm, the metric,
            split or epoch is missing from ``results``; a seed has several
            runs of one arm; or the two arms were run on different seeds.
    """
    _check_arms(results, baseline, treatment)
    both_arms = results[results["arm"].isin([baseline, treatment])]
    selected = metric_rows(both_arms, metric, split)
    epoch = int(selected["epoch"].max()) if epoch is None else epoch
    selected = selected[selected["epoch"] == epoch]
    if selected.empty:
        raise ValueError(f"No {split!r} {metric!r} at epoch {epoch}.")
    if selected.duplicated(["arm", "seed"]).any():
        raise ValueError(SEVERAL_RUNS_ERROR)
    seeds_of = selected.groupby("arm")["seed"].agg(frozenset)
    if seeds_of.get(baseline) != seeds_of.get(treatment):
        raise ValueError(
            f"{baseline!r} and {treatment!r} were not run on the same seeds; "
            "a paired difference needs both arms for every seed."
        )
    paired = selected.pivot(index="seed", columns="arm", values="value")
    difference_label = f"{treatment} - {baseline}"
    samples = {
        baseline: paired[baseline].to_numpy(),
        treatment: paired[treatment].to_numpy(),
        difference_label: (paired[treatment] - paired[baseline]).to_numpy(),
    }
    rows = []
    for label, values in samples.items():
        mean, std, low, high = _t_interval(values)
        if label != difference_label:
            verdict = ""
        elif not (math.isfinite(low) and math.isfinite(high)):
            verdict = "undetermined"
        elif low <= 0.0 <= high:
            verdict = "within noise"
        else:
            verdict = f"{treatment} {'higher' if low > 0.0 else 'lower'}"
        rows.append((mean, std, len(values), low, high, verdict))
    return pd.DataFrame(
        rows,
        index=list(samples),
        columns=["mean", "std", "n", "ci95_low", "ci95_high", "verdict"],
    )


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
        frame = compare_optimizers(
            build_model, arms, data, seeds, epochs, compile_kwargs, verbose
        )
        frame.insert(0, "learning_rate", float(learning_rate))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def epochs_to_reach(
    results: pd.DataFrame,
    metric: str,
    targets: Sequence[float],
    *,
    mode: Literal["min", "max"],
    split: str = "validation",
    sustained: bool = False,
) -> pd.DataFrame:
    """The first epoch at which each run's ``metric`` reaches each target.

    This is the speed-to-quality view of a comparison: not "where does each
    arm end?" but "how many epochs does each arm need to get this good?". A
    run reaches a target at the first epoch whose value is at most the
    target (``mode="min"``, for losses and errors) or at least the target
    (``mode="max"``, for accuracies), as ``keras.callbacks.EarlyStopping``
    reads ``mode``. A non-finite value (a diverged run) reaches nothing.

    On a noisy validation curve a run can touch a target once and fall back.
    With ``sustained=True`` a run reaches a target only at the first epoch
    from which it stays at or past the target up to its last epoch.

    Args:
        results: A frame as :func:`compare_optimizers` returns, with one run
            per arm and seed.
        metric: Metric to follow, e.g. ``"mae"`` or ``"accuracy"``.
        targets: Values to reach.
        mode: ``"min"`` if lower values are better, ``"max"`` if higher.
        split: Split whose per-epoch values are read, usually
            ``"validation"``.
        sustained: Count a target as reached only once the run stays at or
            past it to the end.

    Returns:
        A frame with columns :data:`REACH_COLUMNS`, one row per target, arm
        and seed, in that order: ``epoch`` is the 1-based epoch at which the
        run first reached ``target``, or ``inf`` if it did not within its
        ``epochs_run`` epochs (so that medians and comparisons treat "not
        reached" as later than any epoch).

    Raises:
        ValueError: ``mode`` is neither ``"min"`` nor ``"max"``,
            ``targets`` is empty, the metric is missing on the split, or a
            seed has several runs of one arm.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}.")
    if len(targets) == 0:
        raise ValueError("epochs_to_reach needs at least one target.")
    rows = metric_rows(results, metric, split)
    if rows.duplicated(["arm", "seed", "epoch"]).any():
        raise ValueError(SEVERAL_RUNS_ERROR)
    runs = [
        (arm, seed, run["epoch"].to_numpy(), run["value"].to_numpy(dtype=float))
        for (arm, seed), run in rows.sort_values("epoch", kind="stable").groupby(
            ["arm", "seed"], sort=False
        )
    ]
    reached_rows = []
    for target in targets:
        for arm, seed, epochs, values in runs:
            with np.errstate(invalid="ignore"):
                good = values <= target if mode == "min" else values >= target
            good &= np.isfinite(values)
            if sustained:  # good at this epoch and at every later one
                good = np.logical_and.accumulate(good[::-1])[::-1]
            first = float(epochs[good][0]) if good.any() else math.inf
            run_key = (metric, split, mode, sustained, float(target), arm, seed)
            reached_rows.append((*run_key, first, int(epochs[-1])))
    return pd.DataFrame(reached_rows, columns=list(REACH_COLUMNS))


def summarize_epochs_to_reach(
    reached: pd.DataFrame, *, baseline: str, treatment: str
) -> pd.DataFrame:
    """Compare two arms' epochs to reach each target, over seeds.

    Args:
        reached: A frame as :func:`epochs_to_reach` returns.
        baseline: Name of the reference arm, e.g. ``"Adam"``.
        treatment: Name of the arm under test, e.g. ``"Adam + GC"``.

    Returns:
        A frame indexed by ``target``, with two column levels. Under each
        arm's name: ``reached`` (how many seeds reached the target), and the
        ``median``, ``min`` and ``max`` over seeds of the epochs needed,
        ``inf`` standing for "not reached" (a median is ``inf`` when half
        the seeds or more never got there). Under
        ``"<treatment> vs <baseline>"``: ``seeds``, and how many of them the
        treatment reached the target ``sooner``, at the ``same`` epoch
        (including neither reaching it) or ``later`` than the baseline did
        from the same start. These are counts, not a test: with few seeds,
        read a split like 2 sooner, 1 later as no evidence either way.

    Raises:
        ValueError: ``baseline`` equals ``treatment``, an arm is missing, or
            the two arms were run on different seeds.
    """
    _check_arms(reached, baseline, treatment)
    epochs = reached.pivot_table(
        index=["target", "seed"], columns="arm", values="epoch", aggfunc="first"
    )[[baseline, treatment]]
    if epochs.isna().any().any():
        raise ValueError(
            f"{baseline!r} and {treatment!r} were not run on the same seeds; "
            "a paired comparison needs both arms for every seed."
        )
    by_target = epochs.groupby(level="target")
    columns: dict[tuple[str, str], pd.Series] = {}
    for arm in (baseline, treatment):
        per_arm = by_target[arm]
        columns[(arm, "reached")] = per_arm.agg(lambda e: int(np.isfinite(e).sum()))
        columns[(arm, "median")] = per_arm.median()  # inf-aware: "not reached"
        columns[(arm, "min")] = per_arm.min()
        columns[(arm, "max")] = per_arm.max()
    paired = f"{treatment} vs {baseline}"
    difference = epochs[treatment] - epochs[baseline]
    both_missed = np.isinf(epochs[treatment]) & np.isinf(epochs[baseline])
    difference = difference.where(~both_missed, 0.0).groupby(level="target")
    columns[(paired, "seeds")] = difference.size()
    columns[(paired, "sooner")] = difference.agg(lambda d: int((d < 0).sum()))
    columns[(paired, "same")] = difference.agg(lambda d: int((d == 0).sum()))
    columns[(paired, "later")] = difference.agg(lambda d: int((d > 0).sum()))
    summary = pd.DataFrame(columns)
    summary.columns = pd.MultiIndex.from_tuples(summary.columns)
    return summary
