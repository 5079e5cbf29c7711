"""The one rule by which the book calls a difference real, and its parts.

Every page that states a verdict applies :data:`DECISION_RULE` through
:func:`decide`: the two-sided Wilcoxon signed-rank test on the per-seed
paired differences (:func:`wilcoxon_p`), Holm-adjusted (:func:`holm`,
statsmodels' ``multipletests``) over a *family*, which is every row of one
data set's table: each comparison (GC arm against its baseline, GC on the
update against GC on the gradient) on each quantity (training loss and each
test metric, every one a run's mean over its last epochs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

__all__ = ["ALPHA", "DECISION_RULE", "VERDICTS", "wilcoxon_p", "holm", "decide"]

ALPHA = 0.05
"""Family-wise significance level of :data:`DECISION_RULE`."""

DECISION_RULE = (
    "two-sided Wilcoxon signed-rank test on the per-seed paired differences, "
    "Holm-adjusted over every row of one data set's table "
    "(comparisons × quantities), at alpha 0.05"
)
"""The one rule by which every page calls a difference real (stated on the pages)."""

VERDICTS = ("lower", "higher", "within noise", "undetermined")
"""What :func:`decide` says of a row: the treatment's value against its baseline's."""


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

    Rejecting where the adjusted p is below alpha controls the chance of any
    false difference in the family at alpha. NaN p-values (no test) stay
    NaN and do not count in the family's size.

    Args:
        p_values: The family's p-values.

    Returns:
        The adjusted p-values (statsmodels' ``multipletests(method="holm")``),
        in the order given.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = ~np.isnan(p)
    if tested.any():
        adjusted[tested] = multipletests(p[tested], method="holm")[1]
    return adjusted


def decide(family: pd.DataFrame, *, alpha: float = ALPHA) -> pd.DataFrame:
    """Apply :data:`DECISION_RULE` to one family of paired comparisons.

    Args:
        family: Every row of one data set's table, each with ``n``,
            ``mean_difference`` (treatment − baseline) and ``wilcoxon_p``, as
            :func:`~gc_tutorial.book.experiments.paired.difference_statistics`
            gives them.
        alpha: The family-wise level.

    Returns:
        The rows with ``p_holm`` (the Holm-adjusted p over the family) and
        ``verdict`` added: ``"lower"`` or ``"higher"`` (the treatment's value
        against its baseline's) when ``p_holm`` is below ``alpha``,
        ``"within noise"`` when it is not, ``"undetermined"`` with fewer than
        2 seeds or a diverged run.
    """
    decided = family.copy()
    decided["p_holm"] = holm(decided["wilcoxon_p"].to_numpy(float))

    def verdict(n: int, mean: float, p_holm: float) -> str:
        if n < 2 or not (math.isfinite(mean) and math.isfinite(p_holm)):
            return "undetermined"
        if p_holm >= alpha:
            return "within noise"
        return "lower" if mean < 0 else "higher"

    decided["verdict"] = [
        verdict(int(n), float(mean), float(p))
        for n, mean, p in zip(
            decided["n"], decided["mean_difference"], decided["p_holm"], strict=True
        )
    ]
    return decided
