"""Tests of significance on paired differences, and their adjustment for many tests.

The studies test each GC arm against its baseline with the two-sided
Wilcoxon signed-rank test on the per-seed differences (:func:`wilcoxon_p`;
:mod:`~gc_tutorial.book.experiments.paired` puts its p beside the interval),
and the answer page adjusts a study's p-values for their number by Holm's
method (:func:`holm`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["DECISION_RULE", "wilcoxon_p", "holm"]

DECISION_RULE = (
    "two-sided Wilcoxon signed-rank test on the per-seed paired differences, "
    "Holm-adjusted over every row of one data set's table "
    "(comparisons × quantities), at alpha 0.05"
)
"""The one rule by which every page calls a difference real (stated on the pages)."""


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences.

    Args:
        differences: One difference per seed, all finite.

    Returns:
        The p-value of ``scipy.stats.wilcoxon`` (zero differences dropped),
        or 1 when every difference is 0 (no evidence of any difference).
    """
    differences = np.asarray(differences, dtype=float)
    if not np.any(differences != 0):
        return 1.0
    return float(stats.wilcoxon(differences, alternative="two-sided").pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values.

    The k-th smallest p (from k = 0) is multiplied by ``m - k``, and the
    adjusted values are made non-decreasing in that order and capped at 1.
    Rejecting where the adjusted p is below alpha controls the chance of any
    false "better" or "worse" in the family at alpha. NaN p-values (no test)
    are kept as NaN and do not count in ``m``.

    Args:
        p_values: The family's p-values.

    Returns:
        The adjusted p-values, in the order given.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for k, index in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[index]))
        adjusted[index] = running
    return adjusted
