"""The answer page's verdict table, made from a study's committed results.

For every comparison of a study (each GC arm against its baseline, and GC on
the update against GC on the gradient where a study has both) and two
quantities (the final training loss, and the study's first test metric at
the last epoch), :func:`verdict_table` gives the paired difference over the
seeds both arms have run, its 95% interval, the sign count, the Wilcoxon
signed-rank p adjusted for the number of comparisons by Holm's method
within the study (its *family*: every row of that study's table; Holm's
method is :func:`~gc_tutorial.book.experiments.inference.holm`), the
smallest difference the seeds would detect, and a verdict:

- ``"better"`` or ``"worse"``: the Holm-adjusted p is below
  :data:`~gc_tutorial.book.experiments.paired.ALPHA`; the direction is the
  mean difference's, read with the metric's direction (a lower loss is
  better);
- ``"within noise"``: it is not;
- ``"undetermined"``: fewer than 2 paired seeds, or a diverged run.

:func:`verdict_sentence` writes one row as a sentence, so that the page's
prose comes from the numbers (the page glues it in with myst-nb).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from gc_tutorial.book.experiments.inference import holm
from gc_tutorial.book.experiments.paired import (
    ALPHA,
    paired_statistics,
    paired_statistics_per_epoch,
)

__all__ = [
    "UPDATE_VS_GRADIENT",
    "VERDICT_COLUMNS",
    "comparisons",
    "verdict_table",
    "effect_over_epochs",
    "format_p",
    "display_table",
    "verdict_sentence",
    "headline",
]

UPDATE_VS_GRADIENT = ("Adam + GC on the update", "Adam + GC")
"""The extra comparison a study with both Adam GC arms gets: update vs gradient."""

VERDICT_COLUMNS = (
    "study",
    "treatment",
    "baseline",
    "metric",
    "split",
    "epoch",
    "better",
    "n",
    "mean_difference",
    "ci95_low",
    "ci95_high",
    "better_in",
    "worse_in",
    "p",
    "p_holm",
    "mde80",
    "verdict",
)
"""Columns of :func:`verdict_table`, in order."""


def comparisons(pairs: Mapping[str, str]) -> list[tuple[str, str]]:
    """A study's pairs, plus GC on the update against GC on the gradient.

    Args:
        pairs: GC arm to its baseline, a :class:`Study`'s ``pairs``.

    Returns:
        ``(arm, baseline)`` for every item of ``pairs``, in order, then
        :data:`UPDATE_VS_GRADIENT` when both of its arms are GC arms of
        ``pairs`` (its arm is then compared twice, with two baselines).
    """
    table = list(pairs.items())
    update, gradient = UPDATE_VS_GRADIENT
    if update in pairs and gradient in pairs:
        table.append(UPDATE_VS_GRADIENT)
    return table


def _paired_runs(
    results: pd.DataFrame, pairs: Mapping[str, str]
) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """Each comparison's arm, baseline and the runs of the seeds both have run.

    Comparisons with no such seed are left out.
    """
    for arm, baseline in comparisons(pairs):
        runs = results[results["arm"].isin([arm, baseline])]
        seeds = runs.groupby("seed")["arm"].nunique()
        paired = runs[runs["seed"].isin(seeds.index[seeds == 2])]
        if not paired.empty:
            yield arm, baseline, paired


def verdict_table(
    results: pd.DataFrame,
    pairs: Mapping[str, str],
    test_metric: str,
    *,
    study: str,
    epoch: int | None = None,
) -> pd.DataFrame:
    """The verdict rows of one study (one Holm family).

    Args:
        results: The study's tidy results (every arm's test set evaluated
            after every epoch, as :func:`run_study` writes).
        pairs: GC arm to baseline (the study's ``pairs``); the update-vs-
            gradient comparison is added (:func:`comparisons`).
        test_metric: The test metric reported, e.g. ``"accuracy"``.
        study: The study's name, written in every row.
        epoch: The epoch to report; ``None`` for the last in the results.

    Returns:
        A frame with columns :data:`VERDICT_COLUMNS`, two rows per comparison
        whose arms are both in ``results`` (final training loss, then the
        test metric), computed over the seeds both arms have run;
        ``treatment`` is the comparison's GC arm.
    """
    epoch = int(results["epoch"].max()) if epoch is None else int(epoch)
    rows = []
    for arm, baseline, paired in _paired_runs(results, pairs):
        for metric, split in (("loss", "train"), (test_metric, "test")):
            statistics = paired_statistics(paired, {arm: baseline}, metric, split, epoch=epoch)
            row = statistics.iloc[0].to_dict()
            row.update(study=study, p=row.pop("wilcoxon_p"))
            rows.append(row)
    table = pd.DataFrame(rows, columns=[c for c in VERDICT_COLUMNS if c != "p_holm"])
    table.insert(VERDICT_COLUMNS.index("p_holm"), "p_holm", holm(table["p"].to_numpy()))
    table["verdict"] = [_verdict(row) for row in table.to_dict("records")]
    return table[list(VERDICT_COLUMNS)]


def effect_over_epochs(
    results: pd.DataFrame, pairs: Mapping[str, str], metric: str, split: str
) -> pd.DataFrame:
    """The paired difference of every comparison at every epoch, from epoch 1.

    Args:
        results: A study's tidy results.
        pairs: GC arm to baseline; the update-vs-gradient comparison is added.
        metric: E.g. ``"loss"``.
        split: E.g. ``"train"`` or ``"test"``.

    Returns:
        Rows of
        :func:`~gc_tutorial.book.experiments.paired.paired_statistics_per_epoch`
        for every comparison (:func:`comparisons`), over the seeds both arms
        have run. The intervals are per epoch, unadjusted: they show the
        course, not a test.
    """
    frames = [
        paired_statistics_per_epoch(paired, {arm: baseline}, metric, split)
        for arm, baseline, paired in _paired_runs(results, pairs)
    ]
    return pd.concat(frames, ignore_index=True)


def _verdict(row: Mapping[str, Any]) -> str:
    mean, p_holm = float(row["mean_difference"]), float(row["p_holm"])
    if row["n"] < 2 or not (math.isfinite(mean) and math.isfinite(p_holm)):
        return "undetermined"
    if p_holm >= ALPHA:
        return "within noise"
    improved = mean > 0 if row["better"] == "higher" else mean < 0
    return "better" if improved else "worse"


def format_p(p: float) -> str:
    """A p-value for the page: three decimals, ``"< 0.001"`` below that."""
    if not math.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.0005 else f"{p:.3f}"


_QUANTITY = {"train": "final train {metric}", "test": "test {metric}, epoch {epoch}"}
_METRIC_NAMES = {"mae": "MAE", "mse": "MSE"}


def _quantity(row: Mapping[str, Any]) -> str:
    metric = _METRIC_NAMES.get(str(row["metric"]), row["metric"])
    return _QUANTITY[str(row["split"])].format(metric=metric, epoch=row["epoch"])


def _comparison(row: Mapping[str, Any]) -> str:
    return f"{row['treatment']} vs {row['baseline']}"


def _digits(row: Mapping[str, Any]) -> int:
    """Decimals a row's figures are shown with: 3 for an accuracy, 4 otherwise."""
    return 3 if row["metric"] == "accuracy" else 4


def display_table(table: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The verdict rows as the page shows them: few, narrow, readable columns.

    Args:
        table: Rows of :func:`verdict_table` (several studies may be stacked).
        names: Study name to the name shown, e.g. ``{"nyc_taxi": "NYC taxi"}``.

    Returns:
        A frame of strings: data set, comparison, quantity, difference with
        its 95% interval, seeds better/worse, Holm-adjusted p, smallest
        detectable difference, verdict.
    """
    names = names or {}
    shown = []
    for row in table.to_dict("records"):
        digits = _digits(row)
        shown.append(
            {
                "data set": names.get(row["study"], row["study"]),
                "comparison": _comparison(row),
                "quantity": _quantity(row),
                "GC − baseline [95% CI]": (
                    f"{row['mean_difference']:+.{digits}f} "
                    f"[{row['ci95_low']:+.{digits}f}, {row['ci95_high']:+.{digits}f}]"
                ),
                "better / worse in": f"{row['better_in']} / {row['worse_in']} of {row['n']}",
                "p (Holm)": format_p(row["p_holm"]),
                "detectable": "–" if pd.isna(row["mde80"]) else f"{row['mde80']:.{digits}f}",
                "verdict": row["verdict"],
            }
        )
    return pd.DataFrame(shown)


def verdict_sentence(row: Mapping[str, Any]) -> str:
    """One verdict row as a Markdown sentence; every figure read from ``row``.

    E.g. "**SGD momentum + GC vs SGD momentum**, final train loss: lower by
    0.0258 (95% CI 0.0209 to 0.0307); better in 20 of 20 seeds, p < 0.001
    (Holm): **better**."
    """
    mean, ci_low, ci_high = (
        float(row[key]) for key in ("mean_difference", "ci95_low", "ci95_high")
    )
    direction = "lower" if mean < 0 else "higher"
    digits = _digits(row)
    if ci_low <= 0 <= ci_high:
        interval = f"(95% CI {ci_low:+.{digits}f} to {ci_high:+.{digits}f})"
    else:
        low, high = sorted((abs(ci_low), abs(ci_high)))
        interval = f"(95% CI {low:.{digits}f} to {high:.{digits}f})"
    better_in, n = row["better_in"], row["n"]
    verdict = str(row["verdict"])
    p_text = format_p(float(row["p_holm"]))
    p_text = f"p {p_text}" if p_text.startswith("<") else f"p = {p_text}"
    return (
        f"**{_comparison(row)}**, {_quantity(row)}: {direction} by "
        f"{abs(mean):.{digits}f} {interval}; better in {better_in} of {n} seeds, "
        f"{p_text} (Holm): **{verdict}**."
    )


def headline(table: pd.DataFrame, name: str) -> str:
    """One study's verdicts in one Markdown sentence, grouped by verdict.

    E.g. "On NYC taxi fares (20 seeds), **better**: SGD momentum + GC vs SGD
    momentum (final train loss); **worse**: ...; **within noise**: the other
    5 of 8 rows."

    Args:
        table: One study's rows of :func:`verdict_table`.
        name: The study's name as the sentence shows it.
    """
    seeds = sorted(set(table["n"]))
    counted = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]} seeds"
    parts = []
    for verdict in ("better", "worse"):
        rows = table[table["verdict"] == verdict].to_dict("records")
        if rows:
            listed = "; ".join(f"{_comparison(row)} ({_quantity(row)})" for row in rows)
            parts.append(f"**{verdict}**: {listed}")
    rest = int((~table["verdict"].isin(["better", "worse"])).sum())
    if rest:
        other = "the other " if parts else ""
        parts.append(f"**within noise or undetermined**: {other}{rest} of {len(table)} rows")
    return f"On {name} ({counted}), " + "; ".join(parts) + "."
