"""Summaries over seeds, and the paired statistics of a GC arm against its baseline.

The paired statistics are fixed before the runs. For each GC arm against its
baseline arm, paired by seed (both start from the seed's initial weights and
see its data order), on the differences GC − baseline:

- the mean difference with its 95% Student-t interval;
- the sign count: in how many seeds GC did better, and in how many worse,
  "better" following the metric's direction (lower loss or error, higher
  accuracy; :data:`METRIC_KINDS`);
- the two-sided Wilcoxon signed-rank p-value;
- the minimum detectable difference: the smallest true mean difference that
  a paired t-test with this many seeds, alpha 0.05, detects with 80% power,
  given the observed standard deviation of the differences;
- a verdict read from the interval alone: ``"better"`` or ``"worse"`` when
  it excludes 0, ``"no detectable difference"`` when it contains 0.

:func:`paired_report` computes them on the three quantities fixed for the
studies: training loss at every epoch, and each test metric at the reporting
epoch and averaged over the last 3 epochs up to it. Every function takes the
tidy results frame (:data:`~gc_tutorial.book.experiments.frames.RESULT_COLUMNS`)
and returns a tidy frame. :func:`summarize` is the chapters' older
two-arm summary.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from gc_tutorial.book.experiments.frames import SEVERAL_RUNS_ERROR, check_arms, metric_rows

__all__ = [
    "ALPHA",
    "POWER",
    "Better",
    "MetricKind",
    "METRIC_KINDS",
    "metric_kind",
    "t_interval",
    "minimum_detectable_difference",
    "run_values",
    "arm_summary",
    "DIFFERENCE_COLUMNS",
    "paired_differences",
    "STATISTICS_COLUMNS",
    "difference_statistics",
    "paired_statistics",
    "paired_report",
    "summarize",
]

ALPHA = 0.05
"""Two-sided significance level of the intervals, tests and power."""

POWER = 0.8
"""Power at which the minimum detectable difference is computed."""

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
        fewer than 2 values, ``std`` and the interval are NaN.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(np.std(values, ddof=1))
    half_width = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * std / math.sqrt(n)
    ci_low = max(mean - half_width, low)
    ci_high = min(mean + half_width, high)
    return mean, std, ci_low, ci_high


def minimum_detectable_difference(
    sd: float, n: int, *, power: float = POWER, alpha: float = ALPHA
) -> float:
    """Smallest true mean difference a paired t-test detects with ``power``.

    The two-sided paired t-test on ``n`` differences of standard deviation
    ``sd`` rejects at level ``alpha`` when ``|t| > t_crit``; under a true
    mean difference ``delta`` its statistic follows the noncentral t
    distribution with ``n - 1`` degrees of freedom and noncentrality
    ``delta * sqrt(n) / sd``. This solves power(delta) = ``power`` for
    ``delta``. For large ``n`` it approaches the normal approximation
    ``(z_{1-alpha/2} + z_{power}) * sd / sqrt(n)``.

    Args:
        sd: Standard deviation of the paired differences (ddof=1).
        n: Number of pairs (seeds).
        power: Wanted probability of rejecting, between ``alpha`` and 1.
        alpha: Two-sided significance level.

    Returns:
        The difference, in the metric's units: 0 when ``sd`` is 0, NaN when
        ``n < 3`` or ``sd`` is not finite. (With two pairs the test has one
        degree of freedom, and SciPy's noncentral t is not reliable that far
        in its tail; no design of two seeds can detect much anyway.)

    Raises:
        ValueError: ``power`` is not between ``alpha`` and 1.
    """
    if not alpha < power < 1:
        raise ValueError(f"power must lie between alpha={alpha} and 1; got {power}.")
    if n < 3 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    df = n - 1
    t_crit = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(noncentrality: float) -> float:
        rejects = stats.nct.sf(t_crit, df, noncentrality) + stats.nct.cdf(
            -t_crit, df, noncentrality
        )
        return float(rejects) - power

    upper = t_crit + float(stats.norm.ppf(power)) + 1.0
    while shortfall(upper) < 0:
        upper *= 2
    noncentrality = optimize.brentq(shortfall, 0.0, upper, xtol=1e-10)
    return noncentrality * sd / math.sqrt(n)


def _wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p; 1 when every difference is 0."""
    if not np.any(differences != 0):
        return 1.0
    return float(stats.wilcoxon(differences, alternative="two-sided").pvalue)


def run_values(
    results: pd.DataFrame,
    metric: str,
    split: str,
    *,
    epoch: int | None = None,
    window: int = 1,
) -> pd.DataFrame:
    """Each run's value of ``metric`` on ``split`` at an epoch, or averaged.

    Args:
        results: A results frame with one run per arm and seed.
        metric: Metric, e.g. ``"loss"`` or ``"accuracy"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        epoch: The reporting epoch; ``None`` for the last one in the results.
        window: Average over this many epochs ending at ``epoch`` (all of
            them, from epoch 1, when ``epoch`` is smaller). A non-finite value
            in the window makes the average non-finite.

    Returns:
        A frame with columns ``arm``, ``seed``, ``epoch``, ``window`` (the
        number of epochs averaged) and ``value``, one row per run.

    Raises:
        ValueError: ``window < 1``; the metric is missing on the split; a
            seed has several runs of one arm; or a run lacks a value at an
            epoch of the window.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}.")
    rows = metric_rows(results, metric, split)
    if rows.duplicated(["arm", "seed", "epoch"]).any():
        raise ValueError(SEVERAL_RUNS_ERROR)
    epoch = int(rows["epoch"].max()) if epoch is None else int(epoch)
    window = min(window, epoch)
    first = epoch - window + 1
    in_window = rows[rows["epoch"].between(first, epoch)]
    runs = rows.groupby(["arm", "seed"]).size().index
    counts = in_window.groupby(["arm", "seed"]).size().reindex(runs, fill_value=0)
    short = list(counts.index[counts < window])
    if short:
        epochs = "epoch" if window == 1 else "every epoch"
        span = f"{epoch}" if window == 1 else f"{first} to {epoch}"
        raise ValueError(
            f"The results lack {split!r} {metric!r} at {epochs} {span} for "
            f"{len(short)} run(s) (arm, seed), e.g. {short[:3]}; they hold it at "
            f"epochs {sorted(set(rows['epoch']))}. Ask for an epoch and window "
            "those runs have (a test set evaluated once has only the last "
            "epoch), or run a study with run_study, which evaluates the test "
            "set after every epoch."
        )
    values = in_window.groupby(["arm", "seed"], sort=False)["value"].mean(skipna=False)
    frame = values.reset_index()
    frame.insert(2, "epoch", epoch)
    frame.insert(3, "window", window)
    return frame


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
        epoch: As for :func:`run_values`.
        window: As for :func:`run_values`.

    Returns:
        A tidy frame, one row per arm in order of appearance, with columns
        ``arm``, ``metric``, ``split``, ``epoch``, ``window``, ``n``,
        ``mean``, ``sd`` and ``ci95_low``, ``ci95_high``: the Student-t
        interval of the mean (:func:`t_interval`), clipped to the metric's
        range in :data:`METRIC_KINDS` (a mean accuracy's interval never
        leaves [0, 1], a mean loss's never goes below 0).

    Raises:
        ValueError: as for :func:`run_values`.
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
    columns = ["arm", "metric", "split", "epoch", "window", "n", "mean", "sd"]
    return pd.DataFrame(rows, columns=columns + ["ci95_low", "ci95_high"])


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
    "verdict",
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
        epoch: As for :func:`run_values`.
        window: As for :func:`run_values`.

    Returns:
        A tidy frame with columns :data:`DIFFERENCE_COLUMNS`, one row per
        pair and seed: ``treatment`` (the GC arm), ``baseline``, ``metric``,
        ``split``, ``epoch``, ``window``, ``seed``, both arms' values and
        their ``difference`` (treatment − baseline).

    Raises:
        ValueError: ``pairs`` is empty; an arm is missing or paired with
            itself; the two arms of a pair were run on different seeds; or
            as for :func:`run_values`.
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
        return (kind.better, n, nan, nan, nan, nan, *counts, nan, nan, "undetermined")
    span = kind.high - kind.low
    mean, sd, low, high = t_interval(differences, -span, span)
    if not (math.isfinite(low) and math.isfinite(high)):
        verdict = "undetermined"
    elif low <= 0.0 <= high:
        verdict = "no detectable difference"
    else:
        verdict = "better" if (mean > 0) == (kind.better == "higher") else "worse"
    p_value = _wilcoxon_p(differences)
    mde = minimum_detectable_difference(sd, n)
    return (kind.better, n, mean, sd, low, high, *counts, p_value, mde, verdict)


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
        - ``ci95_low``, ``ci95_high``: the 95% Student-t interval of the mean
          difference, clipped to the differences' possible range (within
          [-1, 1] for an accuracy);
        - ``better_in``, ``worse_in``: seeds in which GC did better or worse
          than its baseline (the rest are ties);
        - ``wilcoxon_p``: two-sided Wilcoxon signed-rank p-value
          (``scipy.stats.wilcoxon``, zero differences dropped; 1 when all
          are zero);
        - ``mde80``: the minimum detectable difference
          (:func:`minimum_detectable_difference`) for this ``n`` and
          ``sd_difference``, to read beside a "no detectable difference";
        - ``verdict``: ``"better"`` or ``"worse"`` (GC against its baseline)
          when the interval excludes 0, ``"no detectable difference"`` when
          it contains 0, ``"undetermined"`` when there is no interval (fewer
          than 2 seeds, or a non-finite value from a diverged run, which
          leaves the interval, p and MDE NaN but is still counted).

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
        epoch: As for :func:`run_values`.
        window: As for :func:`run_values`.
        better: As for :func:`difference_statistics`.

    Returns:
        As :func:`difference_statistics`, one row per pair.

    Raises:
        ValueError: as for :func:`paired_differences` and
            :func:`difference_statistics`.
    """
    differences = paired_differences(results, pairs, metric, split, epoch=epoch, window=window)
    return difference_statistics(differences, better=better)


def paired_report(
    results: pd.DataFrame,
    pairs: Mapping[str, str],
    test_metrics: Sequence[str],
    *,
    reporting_epoch: int | None = None,
    window: int = 3,
) -> pd.DataFrame:
    """The statistics fixed before the runs, on all three quantities.

    1. Training loss (split ``"train"``, as ``fit`` logs it) at every epoch
       from 1 to the reporting epoch;
    2. each test metric at the reporting epoch;
    3. each test metric averaged over the last ``window`` epochs up to the
       reporting epoch.

    The per-epoch training-loss rows describe the course of training; they
    are many tests, not one.

    Args:
        results: A results frame with one run per arm and seed, with test
            values at every epoch of the window (as :func:`run_study`
            writes).
        pairs: GC arm to its baseline arm.
        test_metrics: Test metrics to report, e.g. ``("accuracy",)``; each
            must be in :data:`METRIC_KINDS`.
        reporting_epoch: The epoch to report; ``None`` for the last one at
            which the results hold the first test metric.
        window: Epochs averaged in quantity 3.

    Returns:
        The rows of :func:`paired_statistics` for every quantity, stacked in
        the order above.

    Raises:
        ValueError: ``test_metrics`` is empty, or as for
            :func:`paired_statistics`.
    """
    if not test_metrics:
        raise ValueError("paired_report needs at least one test metric.")
    if reporting_epoch is None:
        test_rows = metric_rows(results, test_metrics[0], "test")
        reporting_epoch = int(test_rows["epoch"].max())
    frames = [
        paired_statistics(results, pairs, "loss", "train", epoch=epoch)
        for epoch in range(1, reporting_epoch + 1)
    ]
    for averaged in (1, window):
        frames += [
            paired_statistics(
                results, pairs, metric, "test", epoch=reporting_epoch, window=averaged
            )
            for metric in test_metrics
        ]
    return pd.concat(frames, ignore_index=True)


def summarize(
    results: pd.DataFrame,
    metric: str,
    split: str = "test",
    *,
    baseline: str,
    treatment: str,
    epoch: int | None = None,
    better: Better | None = None,
) -> pd.DataFrame:
    """Compare two arms of a :func:`compare_optimizers` result over seeds.

    Takes each seed's value of ``metric`` on ``split`` at ``epoch`` and
    reports, for the baseline, the treatment, and the paired difference
    treatment − baseline (seed by seed, which cancels what the seed does to
    both arms), the mean over seeds, the standard deviation (ddof=1), the
    number of seeds and a 95% confidence interval for the mean from
    Student's t with n − 1 degrees of freedom, clipped to the values the
    metric can take (an accuracy's interval stays in [0, 1], a difference
    of accuracies in [-1, 1]). :func:`paired_statistics` gives the studies'
    fuller statistics.

    Args:
        results: A frame as :func:`compare_optimizers` returns, holding one
            run per arm and seed (filter a :func:`lr_sweep` result to one
            learning rate first).
        metric: Metric to compare, e.g. ``"loss"`` or ``"accuracy"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        baseline: Name of the reference arm, e.g. ``"Adam"``.
        treatment: Name of the arm under test, e.g. ``"Adam + GC"``.
        epoch: Epoch to compare; ``None`` for the last one in ``results``.
        better: ``"lower"`` or ``"higher"``: which way the metric improves;
            ``None`` to look it up in :data:`METRIC_KINDS`.

    Returns:
        A frame indexed by ``baseline``, ``treatment`` and
        ``"<treatment> - <baseline>"`` with columns ``mean``, ``std``, ``n``,
        ``ci95_low``, ``ci95_high`` and ``verdict``. ``std`` and the
        interval are NaN when ``n < 2``. ``verdict`` is filled on the
        difference row only: ``"within noise"`` when the interval contains
        0, ``"<treatment> better"`` or ``"<treatment> worse"`` when it lies
        entirely on one side of 0, and ``"undetermined"`` when there is no
        finite interval (fewer than 2 seeds, or a diverged run).

    Raises:
        ValueError: which way the metric improves is not known and
            ``better`` is not given; ``baseline`` equals ``treatment``; an arm, the metric,
            split or epoch is missing from ``results``; a seed has several
            runs of one arm; or the two arms were run on different seeds.
    """
    kind = metric_kind(metric, better)
    check_arms(set(results["arm"].unique()), baseline, treatment)
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
    span = kind.high - kind.low
    rows = []
    for label, values in samples.items():
        if label != difference_label:
            mean, std, low, high = t_interval(values, kind.low, kind.high)
            verdict = ""
        else:
            mean, std, low, high = t_interval(values, -span, span)
            if not (math.isfinite(low) and math.isfinite(high)):
                verdict = "undetermined"
            elif low <= 0.0 <= high:
                verdict = "within noise"
            else:
                improved = (low > 0.0) == (kind.better == "higher")
                verdict = f"{treatment} {'better' if improved else 'worse'}"
        rows.append((mean, std, len(values), low, high, verdict))
    return pd.DataFrame(
        rows,
        index=list(samples),
        columns=["mean", "std", "n", "ci95_low", "ci95_high", "verdict"],
    )
