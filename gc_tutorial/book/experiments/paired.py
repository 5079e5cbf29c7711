"""Paired statistics of a GC arm against its baseline, and summaries of each arm.

For each GC arm against its baseline arm, paired by seed (both start from the
seed's initial weights and see its data order), on the differences GC −
baseline, :func:`difference_statistics` describes:

- the mean difference with its unadjusted 95% Student-t interval
  (:func:`t_interval`, SciPy's ``ttest_1samp``);
- the sign count: in how many seeds GC did better, and in how many worse,
  "better" following the metric's direction (lower loss or error, higher
  accuracy; :data:`METRIC_KINDS`);
- the two-sided Wilcoxon signed-rank p-value
  (:func:`~gc_tutorial.book.experiments.inference.wilcoxon_p`);
- the minimum detectable difference: the smallest true mean difference that
  a paired t-test with this many seeds detects with 80% power at alpha
  (:func:`minimum_detectable_difference`, statsmodels' ``TTestPower``).

It states no verdict: whether a difference is real is decided once, over a
whole data set's table, by :func:`~gc_tutorial.book.experiments.inference.decide`.
A study's endpoint for every quantity is each run's mean over its last
:data:`ENDPOINT_WINDOW` epochs
(:func:`~gc_tutorial.book.experiments.answer.verdict_table`). Each arm on its own is summarised by
:func:`arm_summary` (mean over seeds and its interval), over epochs by
:func:`arm_curves` and over a learning-rate sweep by :func:`sweep_summary`;
the figures of :mod:`gc_tutorial.book.plotting` draw these frames. Every
function takes the tidy results frame
(:data:`~gc_tutorial.book.experiments.frames.VALUE_COLUMNS`) and returns a
tidy frame.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import TTestPower

from gc_tutorial.book.experiments.frames import (
    check_arms,
    check_single_runs,
    metric_rows,
    run_values,
)
from gc_tutorial.book.experiments.inference import ALPHA, wilcoxon_p

__all__ = [
    "ALPHA",
    "ENDPOINT_WINDOW",
    "POWER",
    "Better",
    "MetricKind",
    "METRIC_KINDS",
    "metric_kind",
    "t_interval",
    "minimum_detectable_difference",
    "ARM_SUMMARY_COLUMNS",
    "arm_summary",
    "sweep_summary",
    "CURVE_COLUMNS",
    "arm_curves",
    "DIFFERENCE_COLUMNS",
    "paired_differences",
    "STATISTICS_COLUMNS",
    "difference_statistics",
    "paired_statistics",
    "paired_statistics_per_epoch",
]

POWER = 0.8
"""Power at which the minimum detectable difference is computed."""

ENDPOINT_WINDOW = 3
"""Epochs, ending at the last, over which each run's endpoint is averaged.

A study's endpoint for every quantity it reports (training loss, each test
metric) is a run's mean over its last three epochs: within one run, test
accuracy can move by several points between two epochs, as much as the
effects asked about."""

Better = Literal["lower", "higher"]
"""Which way a metric improves."""


@dataclasses.dataclass(frozen=True)
class MetricKind:
    """Which way a metric improves, and the range its values lie in.

    Attributes:
        better: ``"lower"`` (losses, errors) or ``"higher"`` (accuracies).
        low: Smallest possible value.
        high: Largest possible value.
    """

    better: Better
    low: float = -math.inf
    high: float = math.inf


_ERROR = MetricKind("lower", low=0.0)
_RATE = MetricKind("higher", low=0.0, high=1.0)

METRIC_KINDS: Mapping[str, MetricKind] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "loss",
                "mae",
                "mse",
                "rmse",
                "mean_absolute_error",
                "mean_squared_error",
                "root_mean_squared_error",
            ),
            _ERROR,
        ),
        **dict.fromkeys(
            (
                "accuracy",
                "binary_accuracy",
                "categorical_accuracy",
                "sparse_categorical_accuracy",
                "auc",
                "precision",
                "recall",
            ),
            _RATE,
        ),
    }
)
"""The metrics whose direction and range are known, by Keras name.

Losses and errors are better lower and never negative (the usual Keras
losses); accuracies and other rates are better higher and lie in [0, 1].
"""


def metric_kind(metric: str, better: Better | None = None) -> MetricKind:
    """Which way ``metric`` improves, and its range.

    Args:
        metric: A metric name, e.g. ``"loss"`` or ``"accuracy"``.
        better: ``"lower"`` or ``"higher"`` to say which way the metric
            improves; ``None`` to look it up in :data:`METRIC_KINDS`.

    Returns:
        The metric's kind: ``better`` as given or known, the range as known
        (unbounded for a metric not in :data:`METRIC_KINDS`).

    Raises:
        ValueError: ``better`` is neither ``"lower"``, ``"higher"`` nor
            ``None``, or it is ``None`` and the metric is not known.
    """
    known = METRIC_KINDS.get(metric)
    if better is None:
        if known is None:
            raise ValueError(
                f"Which way {metric!r} improves is not known; pass "
                "better='lower' or better='higher'."
            )
        return known
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher'; got {better!r}.")
    if known is None:
        return MetricKind(better)
    return dataclasses.replace(known, better=better)


def t_interval(
    values: np.ndarray, low: float = -math.inf, high: float = math.inf
) -> tuple[float, float, float, float]:
    """Mean, standard deviation and 95% Student-t interval of the mean.

    Args:
        values: A sample, e.g. one value per seed.
        low: Smallest value the mean can take; the interval is clipped to it.
        high: Largest value the mean can take; the interval is clipped to it.

    Returns:
        ``(mean, std, ci95_low, ci95_high)``: ``std`` with ddof=1, the
        interval from Student's t with n − 1 degrees of freedom, clipped to
        ``[low, high]`` (a mean accuracy's interval stays in [0, 1]). With
        fewer than 2 values, ``std`` and the interval are NaN; a non-finite
        value (a diverged run) makes them non-finite, without a warning.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    if not np.isfinite(values).all():  # a diverged run: no interval
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(values, ddof=1))
    if std == 0:
        return mean, 0.0, max(mean, low), min(mean, high)
    with warnings.catch_warnings():  # differences alike to float precision are still a sample
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        interval = stats.ttest_1samp(values, 0.0).confidence_interval(1 - ALPHA)
    return mean, std, max(float(interval.low), low), min(float(interval.high), high)


def minimum_detectable_difference(
    sd: float, n: int, *, power: float = POWER, alpha: float = ALPHA
) -> float:
    """Smallest true mean difference a paired t-test detects with ``power``.

    The two-sided paired t-test on ``n`` differences of standard deviation
    ``sd`` rejects at level ``alpha`` when ``|t| > t_crit``; under a true
    mean difference ``delta`` its statistic follows the noncentral t
    distribution with ``n - 1`` degrees of freedom and noncentrality
    ``delta * sqrt(n) / sd``. statsmodels' ``TTestPower`` solves
    power(delta) = ``power`` for the effect size ``delta / sd``. For large
    ``n`` it approaches the normal approximation
    ``(z_{1-alpha/2} + z_{power}) * sd / sqrt(n)``.

    Args:
        sd: Standard deviation of the paired differences (ddof=1).
        n: Number of pairs (seeds).
        power: Wanted probability of rejecting, between ``alpha`` and 1.
        alpha: Two-sided significance level.

    Returns:
        The difference, in the metric's units: 0 when ``sd`` is 0, NaN when
        ``n < 3`` or ``sd`` is not finite (with two pairs the test has one
        degree of freedom, and no design of two seeds detects much anyway).

    Raises:
        ValueError: ``power`` is not between ``alpha`` and 1.
    """
    if not alpha < power < 1:
        raise ValueError(f"power must lie between alpha={alpha} and 1; got {power}.")
    if n < 3 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    effect = TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(effect) * sd


ARM_SUMMARY_COLUMNS = (
    "arm",
    "metric",
    "split",
    "epoch",
    "window",
    "n",
    "mean",
    "sd",
    "ci95_low",
    "ci95_high",
)
"""Columns of the frame :func:`arm_summary` returns, in order."""


def arm_summary(
    results: pd.DataFrame,
    metric: str,
    split: str,
    *,
    epoch: int | None = None,
    window: int = 1,
) -> pd.DataFrame:
    """Each arm's mean over seeds, with its 95% interval.

    Args:
        results: A results frame with one run per arm and seed.
        metric: Metric, e.g. ``"accuracy"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        epoch: As for :func:`~gc_tutorial.book.experiments.frames.run_values`.
        window: As for :func:`~gc_tutorial.book.experiments.frames.run_values`.

    Returns:
        A tidy frame with columns :data:`ARM_SUMMARY_COLUMNS`, one row per
        arm in order of appearance: ``n`` seeds, their ``mean`` and ``sd``
        (ddof=1), and ``ci95_low``, ``ci95_high``: the Student-t interval of
        the mean (:func:`t_interval`), clipped to the metric's range in
        :data:`METRIC_KINDS` (a mean accuracy's interval never leaves
        [0, 1], a mean loss's never goes below 0). A run's non-finite value
        (it diverged) makes its arm's mean non-finite.

    Raises:
        ValueError: as for :func:`~gc_tutorial.book.experiments.frames.run_values`.
    """
    kind = METRIC_KINDS.get(metric)
    bounds = (kind.low, kind.high) if kind else (-math.inf, math.inf)
    values = run_values(results, metric, split, epoch=epoch, window=window)
    rows = []
    for arm, runs in values.groupby("arm", sort=False):
        mean, sd, low, high = t_interval(runs["value"].to_numpy(), *bounds)
        rows.append(
            (arm, metric, split, runs["epoch"].iat[0], runs["window"].iat[0])
            + (len(runs), mean, sd, low, high)
        )
    return pd.DataFrame(rows, columns=list(ARM_SUMMARY_COLUMNS))


def sweep_summary(
    sweep: pd.DataFrame, metric: str = "loss", split: str = "validation"
) -> pd.DataFrame:
    """Each arm's summary at the last epoch, at every learning rate of a sweep.

    Args:
        sweep: A results frame with a ``learning_rate`` column, one run per
            learning rate, arm and seed, as
            :func:`~gc_tutorial.book.experiments.studies.lr_sweep_frame` returns.
        metric: Metric, e.g. ``"loss"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.

    Returns:
        The rows of :func:`arm_summary` at the sweep's last epoch, for every
        learning rate in increasing order, with a first column
        ``learning_rate``. An arm whose mean is not finite had a run diverge
        at that rate.

    Raises:
        ValueError: as for :func:`arm_summary`.
    """
    epoch = int(metric_rows(sweep, metric, split)["epoch"].max())
    frames = [
        arm_summary(runs, metric, split, epoch=epoch).assign(learning_rate=rate)
        for rate, runs in sweep.groupby("learning_rate")
    ]
    return pd.concat(frames, ignore_index=True)[["learning_rate", *ARM_SUMMARY_COLUMNS]]


CURVE_COLUMNS = ("arm", "metric", "split", "epoch", "n", "mean", "sd")
"""Columns of the frame :func:`arm_curves` returns, in order."""


def arm_curves(
    results: pd.DataFrame, metric: str, splits: Sequence[str] = ("train", "validation")
) -> pd.DataFrame:
    """Each arm's mean and standard deviation over seeds at every epoch.

    Args:
        results: A results frame with one run per arm and seed.
        metric: Metric, e.g. ``"loss"`` or ``"epoch_time_s"``.
        splits: The splits to follow, each its own curve per arm.

    Returns:
        A tidy frame with columns :data:`CURVE_COLUMNS`, one row per split
        (in the order given), arm (in order of appearance) and epoch: ``n``,
        the seeds with a value at that epoch, their ``mean`` and ``sd``
        (ddof=1; NaN with one seed). Values that are NaN are left out of
        ``n``, the mean and the standard deviation.

    Raises:
        ValueError: the metric is missing on a split, or a seed has several
            runs of one arm (filter a learning-rate sweep to one rate first).
    """
    check_single_runs(results)
    frames = []
    for split in splits:
        rows = metric_rows(results, metric, split)
        order = {arm: index for index, arm in enumerate(pd.unique(rows["arm"]))}
        per_epoch = (
            rows.groupby(["arm", "epoch"])["value"]
            .agg(n="count", mean="mean", sd="std")
            .reset_index()
            .sort_values("arm", key=lambda arms: arms.map(order), kind="stable")
        )
        frames.append(per_epoch.assign(metric=metric, split=split))
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]


_PAIR_KEYS = ("treatment", "baseline", "metric", "split", "epoch", "window")
_PER_SEED = ("seed", "baseline_value", "treatment_value", "difference")

DIFFERENCE_COLUMNS = _PAIR_KEYS + _PER_SEED
"""Columns of the frame :func:`paired_differences` returns, in order."""

STATISTICS_COLUMNS = _PAIR_KEYS + (
    "better",
    "n",
    "mean_difference",
    "sd_difference",
    "ci95_low",
    "ci95_high",
    "better_in",
    "worse_in",
    "wilcoxon_p",
    "mde80",
)
"""Columns of the frame :func:`difference_statistics` returns, in order."""


def paired_differences(
    results: pd.DataFrame,
    pairs: Mapping[str, str],
    metric: str,
    split: str,
    *,
    epoch: int | None = None,
    window: int = 1,
) -> pd.DataFrame:
    """Each seed's difference GC − baseline, for every pair of arms.

    Args:
        results: A results frame with one run per arm and seed.
        pairs: GC arm to its baseline arm, e.g. ``{"Adam + GC": "Adam"}``.
        metric: Metric, e.g. ``"loss"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        epoch: As for :func:`~gc_tutorial.book.experiments.frames.run_values`.
        window: As for :func:`~gc_tutorial.book.experiments.frames.run_values`.

    Returns:
        A tidy frame with columns :data:`DIFFERENCE_COLUMNS`, one row per
        pair and seed: ``treatment`` (the GC arm), ``baseline``, ``metric``,
        ``split``, ``epoch``, ``window``, ``seed``, both arms' values and
        their ``difference`` (treatment − baseline).

    Raises:
        ValueError: ``pairs`` is empty; an arm is missing or paired with
            itself; the two arms of a pair were run on different seeds; or
            as for :func:`~gc_tutorial.book.experiments.frames.run_values`.
    """
    if not pairs:
        raise ValueError("paired_differences needs at least one pair of arms.")
    values = run_values(results, metric, split, epoch=epoch, window=window)
    seeds_of = values.groupby("arm")["seed"].agg(frozenset)
    by_seed = values.pivot(index="seed", columns="arm", values="value")
    arms = set(seeds_of.index)
    frames = []
    for treatment, baseline in pairs.items():
        check_arms(arms, baseline, treatment)
        if seeds_of[baseline] != seeds_of[treatment]:
            unpaired = sorted(seeds_of[baseline] ^ seeds_of[treatment])
            raise ValueError(
                f"{baseline!r} and {treatment!r} were not run on the same "
                f"seeds (unpaired: {unpaired}); a paired difference needs "
                "both arms for every seed: run the missing ones or drop them."
            )
        both_run = by_seed.index.isin(list(seeds_of[baseline]))
        paired = by_seed.loc[both_run, [baseline, treatment]]
        frames.append(
            pd.DataFrame(
                {
                    "treatment": treatment,
                    "baseline": baseline,
                    "metric": metric,
                    "split": split,
                    "epoch": values["epoch"].iat[0],
                    "window": values["window"].iat[0],
                    "seed": paired.index.to_numpy(),
                    "baseline_value": paired[baseline].to_numpy(),
                    "treatment_value": paired[treatment].to_numpy(),
                    "difference": (paired[treatment] - paired[baseline]).to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _pair_statistics(differences: np.ndarray, kind: MetricKind) -> tuple:
    """The :data:`STATISTICS_COLUMNS` after the keys, for one pair."""
    n = len(differences)
    improvement = differences if kind.better == "higher" else -differences
    better_in = int((improvement > 0).sum())
    worse_in = int((improvement < 0).sum())
    counts = (better_in, worse_in)
    if not np.isfinite(differences).all():
        nan = math.nan
        return (kind.better, n, nan, nan, nan, nan, *counts, nan, nan)
    span = kind.high - kind.low
    mean, sd, low, high = t_interval(differences, -span, span)
    p_value = wilcoxon_p(differences) if n >= 2 else math.nan
    mde = minimum_detectable_difference(sd, n)
    return (kind.better, n, mean, sd, low, high, *counts, p_value, mde)


def difference_statistics(
    differences: pd.DataFrame, *, better: Better | None = None
) -> pd.DataFrame:
    """The fixed paired statistics of each pair in a differences frame.

    Args:
        differences: A frame as :func:`paired_differences` returns; frames
            of several metrics, epochs or studies may be stacked (any extra
            column, e.g. ``study``, is kept as a key).
        better: Which way the metric improves, ``"lower"`` or ``"higher"``;
            ``None`` to take it from :data:`METRIC_KINDS`.

    Returns:
        A tidy frame with columns :data:`STATISTICS_COLUMNS` (after any extra
        key columns), one row per pair, metric, split, epoch and window:

        - ``better``: the metric's direction;
        - ``n``: seeds; ``mean_difference``, ``sd_difference`` (ddof=1);
        - ``ci95_low``, ``ci95_high``: the unadjusted 95% Student-t interval
          of the mean difference, clipped to the differences' possible range
          (within [-1, 1] for an accuracy);
        - ``better_in``, ``worse_in``: seeds in which GC did better or worse
          than its baseline (the rest are ties);
        - ``wilcoxon_p``: two-sided Wilcoxon signed-rank p-value
          (:func:`~gc_tutorial.book.experiments.inference.wilcoxon_p`);
        - ``mde80``: the minimum detectable difference
          (:func:`minimum_detectable_difference`) at :data:`ALPHA` for this
          ``n`` and ``sd_difference``.

        Fewer than 2 seeds, or a non-finite value from a diverged run, leave
        the interval, p and MDE NaN; the run is still counted. Whether a
        difference is real is
        :func:`~gc_tutorial.book.experiments.inference.decide`'s to say.

    Raises:
        ValueError: a metric's direction is unknown and ``better`` is None.
    """
    per_seed = [column for column in _PER_SEED if column in differences.columns]
    keys = [column for column in differences.columns if column not in per_seed]
    rows = []
    for key, group in differences.groupby(keys, sort=False, dropna=False):
        kind = metric_kind(dict(zip(keys, key, strict=True))["metric"], better)
        rows.append(key + _pair_statistics(group["difference"].to_numpy(float), kind))
    statistics = list(STATISTICS_COLUMNS[len(_PAIR_KEYS) :])
    return pd.DataFrame(rows, columns=keys + statistics)


def paired_statistics(
    results: pd.DataFrame,
    pairs: Mapping[str, str],
    metric: str,
    split: str,
    *,
    epoch: int | None = None,
    window: int = 1,
    better: Better | None = None,
) -> pd.DataFrame:
    """The fixed paired statistics of every GC arm against its baseline.

    :func:`paired_differences` followed by :func:`difference_statistics`.

    Args:
        results: A results frame with one run per arm and seed.
        pairs: GC arm to its baseline arm.
        metric: Metric, e.g. ``"accuracy"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        epoch: As for :func:`~gc_tutorial.book.experiments.frames.run_values`.
        window: As for :func:`~gc_tutorial.book.experiments.frames.run_values`.
        better: As for :func:`difference_statistics`.

    Returns:
        As :func:`difference_statistics`, one row per pair.

    Raises:
        ValueError: as for :func:`paired_differences` and
            :func:`difference_statistics`.
    """
    differences = paired_differences(results, pairs, metric, split, epoch=epoch, window=window)
    return difference_statistics(differences, better=better)


def paired_statistics_per_epoch(
    results: pd.DataFrame,
    pairs: Mapping[str, str],
    metric: str,
    split: str,
    *,
    last_epoch: int | None = None,
) -> pd.DataFrame:
    """The rows of :func:`paired_statistics` at every epoch from 1.

    The intervals are per epoch, unadjusted: they show the course of
    training, they are many tests, not one.

    Args:
        results: A results frame with one run per arm and seed, holding
            ``metric`` on ``split`` at every epoch.
        pairs: GC arm to its baseline arm.
        metric: Metric, e.g. ``"loss"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        last_epoch: The last epoch; ``None`` for the last one at which the
            results hold ``metric`` on ``split``.

    Returns:
        The rows of :func:`paired_statistics` for epochs 1 to ``last_epoch``,
        stacked in that order.

    Raises:
        ValueError: as for :func:`paired_statistics`.
    """
    if last_epoch is None:
        last_epoch = int(metric_rows(results, metric, split)["epoch"].max())
    frames = [
        paired_statistics(results, pairs, metric, split, epoch=epoch)
        for epoch in range(1, last_epoch + 1)
    ]
    return pd.concat(frames, ignore_index=True)
