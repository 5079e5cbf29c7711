"""The answer: each data set's table of paired comparisons, decided by one rule, in plain words.

For every comparison of a study (each GC arm against its optimizer without
GC, and GC on the update against GC on the gradient where a study has both)
and every quantity (the training loss and each test metric, each a run's
mean over its last :data:`~gc_tutorial.book.experiments.paired.ENDPOINT_WINDOW`
epochs), :func:`verdict_table` gives the paired difference over the seeds both
arms have run, its unadjusted 95% interval, the sign count, the Wilcoxon p
and its Holm adjustment over the whole table (one family per data set), the
smallest difference the seeds would detect at the family's strictest level,
and the verdict of :func:`~gc_tutorial.book.experiments.inference.decide`:
``"lower"``, ``"higher"``, ``"within noise"`` or ``"undetermined"``.

:func:`verdict_sentence` writes one row as a sentence, :func:`display_table`
the rows as a page shows them, and :func:`optimizer_answer` what GC did for
one optimizer and what to do about it (:func:`recommendation`), so that the
page's prose comes from the numbers (the pages glue it in with myst-nb).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from gc_tutorial.book.experiments.inference import ALPHA, decide
from gc_tutorial.book.experiments.paired import (
    ENDPOINT_WINDOW,
    arm_summary,
    minimum_detectable_difference,
    paired_statistics,
    paired_statistics_per_epoch,
)
from gc_tutorial.book.experiments.pilots import GC_FORMS, optimizer_and_form

__all__ = [
    "UPDATE_VS_GRADIENT",
    "VERDICT_COLUMNS",
    "comparisons",
    "learned",
    "learning_pairs",
    "verdict_table",
    "effect_over_epochs",
    "format_p",
    "display_table",
    "verdict_sentence",
    "recommendation",
    "optimizer_answer",
    "cost_words",
]

UPDATE_VS_GRADIENT = ("Adam + GC on the update", "Adam + GC")
"""The extra comparison a study with both Adam GC arms gets: update vs gradient."""

GC_VS_NONE = "GC vs no GC"
UPDATE_VS_GRADIENT_KIND = "update vs gradient"

VERDICT_COLUMNS = (
    "study",
    "kind",
    "treatment",
    "baseline",
    "metric",
    "split",
    "epoch",
    "window",
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


def learned(
    results: pd.DataFrame, max_train_loss: float, window: int = ENDPOINT_WINDOW
) -> pd.DataFrame:
    """Which arms learned: their mean training loss at the endpoint against a ceiling.

    A baseline that does not learn answers nothing about GC, so a page leaves
    its comparisons out of the verdict and says so (:func:`learning_pairs`).

    Args:
        results: A study's tidy results.
        max_train_loss: The highest mean training loss that counts as
            learning, e.g. 0.60 for a binary task whose chance is ln 2 = 0.693.
        window: Each run's loss is its mean over this many last epochs.

    Returns:
        One row per arm: ``arm``, ``train_loss`` (mean over its seeds) and
        ``learned`` (``train_loss`` at most ``max_train_loss``).
    """
    summary = arm_summary(results, "loss", "train", window=window)
    return pd.DataFrame(
        {
            "arm": summary["arm"],
            "train_loss": summary["mean"],
            "learned": summary["mean"] <= max_train_loss,
        }
    )


def learning_pairs(pairs: Mapping[str, str], arms: pd.DataFrame) -> dict[str, str]:
    """The pairs of ``pairs`` whose two arms both learned, per :func:`learned`'s ``arms``."""
    ok = set(arms.loc[arms["learned"], "arm"])
    return {arm: baseline for arm, baseline in pairs.items() if {arm, baseline} <= ok}


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
    test_metrics: Sequence[str],
    *,
    study: str,
    window: int = ENDPOINT_WINDOW,
    epoch: int | None = None,
) -> pd.DataFrame:
    """One data set's table: every comparison on every quantity, one Holm family.

    Args:
        results: The study's tidy results (every arm's test set evaluated
            after every epoch, as :func:`run_study` writes).
        pairs: GC arm to baseline (the study's ``pairs``); the update-vs-
            gradient comparison is added (:func:`comparisons`).
        test_metrics: The test metrics reported, e.g. ``("accuracy", "loss")``.
        study: The study's name, written in every row.
        window: Each run's value is its mean over this many epochs ending at
            ``epoch``.
        epoch: The last epoch of the window; ``None`` for the last in the
            results.

    Returns:
        A frame with columns :data:`VERDICT_COLUMNS` (no rows when no
        comparison has both arms): per comparison whose arms are both in
        ``results``, the training loss and then each test
        metric, over the seeds both arms have run. ``kind`` is
        ``"GC vs no GC"`` or ``"update vs gradient"``; ``treatment`` is the
        comparison's GC arm; ``p_holm`` and ``verdict`` come from
        :func:`~gc_tutorial.book.experiments.inference.decide` over the
        whole table; ``mde80`` is the smallest true difference a paired
        t-test detects with 80% power at alpha / (rows tested), the
        strictest level Holm's method applies.
    """
    epoch = int(results["epoch"].max()) if epoch is None else int(epoch)
    quantities = [("loss", "train"), *((metric, "test") for metric in test_metrics)]
    rows = []
    for arm, baseline, paired in _paired_runs(results, pairs):
        kind = UPDATE_VS_GRADIENT_KIND if (arm, baseline) == UPDATE_VS_GRADIENT else GC_VS_NONE
        for metric, split in quantities:
            statistics = paired_statistics(
                paired, {arm: baseline}, metric, split, epoch=epoch, window=window
            )
            rows.append({**statistics.iloc[0].to_dict(), "study": study, "kind": kind})
    if not rows:  # no comparison whose arms have both run (or learned)
        return pd.DataFrame(columns=list(VERDICT_COLUMNS))
    family = decide(pd.DataFrame(rows))
    tested = int(family["p_holm"].notna().sum())
    family["mde80"] = [
        minimum_detectable_difference(sd, int(n), alpha=ALPHA / max(tested, 1))
        for sd, n in zip(family["sd_difference"], family["n"], strict=True)
    ]
    return family.rename(columns={"wilcoxon_p": "p"})[list(VERDICT_COLUMNS)]


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


def format_p(p: float) -> str:
    """A p-value for the page: three decimals, ``"< 0.001"`` below that."""
    if not math.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.0005 else f"{p:.3f}"


_METRIC_NAMES = {"mae": "MAE", "mse": "MSE", "loss": "loss", "accuracy": "accuracy"}


def _quantity(row: Mapping[str, Any]) -> str:
    """E.g. "test accuracy, epochs 48-50" or "train loss, epoch 10"."""
    metric = _METRIC_NAMES.get(str(row["metric"]), str(row["metric"]))
    epoch, window = int(row["epoch"]), int(row["window"])
    epochs = f"epoch {epoch}" if window == 1 else f"epochs {epoch - window + 1}–{epoch}"
    return f"{row['split']} {metric}, {epochs}"


def _comparison(row: Mapping[str, Any]) -> str:
    return f"{row['treatment']} vs {row['baseline']}"


def _digits(row: Mapping[str, Any]) -> int:
    """Decimals a row's figures are shown with: 3 for an accuracy, 4 otherwise."""
    return 3 if row["metric"] == "accuracy" else 4


DISPLAY_COLUMNS = (
    "data set",
    "comparison",
    "quantity",
    "difference [unadjusted 95% CI]",
    "better / worse in",
    "p (Holm)",
    "detectable",
    "verdict",
)
"""Columns of :func:`display_table`, in order."""


def display_table(table: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The verdict rows as the page shows them: few, narrow, readable columns.

    Args:
        table: Rows of :func:`verdict_table` (several studies may be stacked).
        names: Study name to the name shown, e.g. ``{"nyc_taxi": "NYC taxi"}``.

    Returns:
        A frame of strings: data set, comparison, quantity, difference with
        its unadjusted 95% interval, seeds better/worse, Holm-adjusted p,
        smallest detectable difference at the family's strictest level,
        verdict.
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
                "difference [unadjusted 95% CI]": (
                    f"{row['mean_difference']:+.{digits}f} "
                    f"[{row['ci95_low']:+.{digits}f}, {row['ci95_high']:+.{digits}f}]"
                ),
                "better / worse in": f"{row['better_in']} / {row['worse_in']} of {row['n']}",
                "p (Holm)": format_p(row["p_holm"]),
                "detectable": "–" if pd.isna(row["mde80"]) else f"{row['mde80']:.{digits}f}",
                "verdict": row["verdict"],
            }
        )
    return pd.DataFrame(shown, columns=list(DISPLAY_COLUMNS))


def verdict_sentence(row: Mapping[str, Any]) -> str:
    """One verdict row as a Markdown sentence; every figure read from ``row``.

    E.g. "**SGD momentum + GC vs SGD momentum**, train loss, epochs 8–10:
    lower by 0.0258 (unadjusted 95% CI 0.0209 to 0.0307); lower in 20 of 20
    seeds, p < 0.001 (Holm): **lower**."
    """
    mean, ci_low, ci_high = (
        float(row[key]) for key in ("mean_difference", "ci95_low", "ci95_high")
    )
    direction = "lower" if mean < 0 else "higher"
    digits = _digits(row)
    if ci_low <= 0 <= ci_high:
        interval = f"(unadjusted 95% CI {ci_low:+.{digits}f} to {ci_high:+.{digits}f})"
    else:
        low, high = sorted((abs(ci_low), abs(ci_high)))
        interval = f"(unadjusted 95% CI {low:.{digits}f} to {high:.{digits}f})"
    lower_is_better = row["better"] == "lower"
    lower_in = row["better_in"] if lower_is_better else row["worse_in"]
    higher_in = row["worse_in"] if lower_is_better else row["better_in"]
    counted = lower_in if direction == "lower" else higher_in
    p_text = format_p(float(row["p_holm"]))
    p_text = f"p {p_text}" if p_text.startswith("<") else f"p = {p_text}"
    return (
        f"**{_comparison(row)}**, {_quantity(row)}: {direction} by "
        f"{abs(mean):.{digits}f} {interval}; {direction} in {counted} of {row['n']} "
        f"seeds, {p_text} (Holm): **{row['verdict']}**."
    )


def _helped(row: Mapping[str, Any]) -> bool:
    """The treatment's value moved the metric's good way, beyond noise."""
    good = "lower" if row["better"] == "lower" else "higher"
    return row["verdict"] == good


def _hurt(row: Mapping[str, Any]) -> bool:
    bad = "higher" if row["better"] == "lower" else "lower"
    return row["verdict"] == bad


def _effect(row: Mapping[str, Any]) -> str:
    """What a row found, in words: "lower train loss (-0.0210)", "test MAE: no difference ..."."""
    metric = f"{row['split']} {_METRIC_NAMES.get(str(row['metric']), str(row['metric']))}"
    digits = _digits(row)
    if row["verdict"] in ("lower", "higher"):
        return f"{row['verdict']} {metric} ({float(row['mean_difference']):+.{digits}f})"
    if row["verdict"] == "within noise":
        detectable = (
            ""
            if pd.isna(row["mde80"])
            else f" (the study could detect ±{float(row['mde80']):.{digits}f})"
        )
        return f"{metric}: no difference beyond noise{detectable}"
    return f"{metric}: undetermined"


def recommendation(table: pd.DataFrame, optimizer: str) -> str:
    """What to do about GC with ``optimizer``, by a rule fixed before the runs.

    A GC form *helps* when some test quantity moved its good way beyond noise
    (lower loss or error, higher accuracy) and *hurts* when some moved the
    bad way. Then: if a form helps and hurts nothing, use it (where both
    forms do, GC on the update when the update-vs-gradient row helps on a
    test quantity and hurts on none, else GC on the gradient, the paper's
    form); otherwise don't use GC. Training loss alone never decides: a
    lower training loss that the test split does not show is no reason to
    add GC.

    Args:
        table: One data set's :func:`verdict_table`.
        optimizer: A baseline arm of the table, e.g. ``"Adam"``.

    Returns:
        ``"use GC on the gradient"``, ``"use GC on the update"`` or
        ``"don't use GC"``.
    """
    test = table[table["split"] == "test"]
    forms = test[(test["kind"] == GC_VS_NONE) & (test["baseline"] == optimizer)]
    helping = []
    for arm, rows in forms.groupby("treatment", sort=False):
        records = rows.to_dict("records")
        if any(map(_helped, records)) and not any(map(_hurt, records)):
            helping.append(optimizer_and_form(str(arm))[1])
    if not helping:
        return "don't use GC"
    if len(helping) == 1:
        return f"use {helping[0]}"
    versus = test[(test["kind"] == UPDATE_VS_GRADIENT_KIND)].to_dict("records")
    update_wins = any(map(_helped, versus)) and not any(map(_hurt, versus))
    return f"use {GC_FORMS[2] if update_wins else GC_FORMS[1]}"


def optimizer_answer(table: pd.DataFrame, optimizer: str, cost: str | None = None) -> str:
    """What GC did with one optimizer, and what to do, as one Markdown paragraph.

    E.g. "**Adam** (20 seeds): GC on the gradient: lower train loss
    (-0.0210); test accuracy: no difference beyond noise (the study could
    detect ±0.041). GC on the update: …. Cost per training step: +1.2% ….
    **Advice: don't use GC.**"

    Args:
        table: One data set's :func:`verdict_table`.
        optimizer: A baseline arm of the table, e.g. ``"Adam"``.
        cost: What GC costs per step with this optimizer, in words, if
            measured (:func:`cost_words`).
    """
    rows = table[(table["kind"] == GC_VS_NONE) & (table["baseline"] == optimizer)]
    if rows.empty:
        raise ValueError(f"No GC comparison with {optimizer!r} in the table.")
    seeds = sorted(set(rows["n"]))
    counted = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds"
    parts = []
    for arm, found in rows.groupby("treatment", sort=False):
        effects = "; ".join(_effect(row) for row in found.to_dict("records"))
        parts.append(f"{optimizer_and_form(str(arm))[1]}: {effects}.")
    costs = f" Cost per training step: {cost}." if cost else ""
    advice = recommendation(table, optimizer)
    return f"**{optimizer}** ({counted}): " + " ".join(parts) + costs + f" **Advice: {advice}.**"


_COST_ARMS = {"subclass": GC_FORMS[1], "update": GC_FORMS[2]}
"""The benchmark's arms that time each GC form (its other gradient-form arms,
the wrapper and ``GCModel``, compute the same)."""


def cost_words(costs: pd.DataFrame, model: str, optimizer: str, backend: str) -> str:
    """What each GC form costs one model and optimizer per training step, in words.

    E.g. "+2.5% [+1.2, +3.8] with GC on the gradient (within the +5% target),
    +4.1% [+2.3, +5.4] with GC on the update (its interval spans the +5%
    target) (GCAdam against Adam on TensorFlow, 95% intervals; two identical
    plain models differ by +0.2% [−1.1, +0.9])". The target is judged on the
    whole interval.

    Args:
        costs: :func:`gc_tutorial.book.results.step_costs` of one backend.
        model: The benchmark's name of the model, e.g. ``"taxi_mlp"``.
        optimizer: The plain optimizer, e.g. ``"Adam"``.
        backend: The backend's name as the sentence gives it.

    Raises:
        ValueError: ``costs`` has no A/A control or no GC arm for ``model``
            and ``optimizer``.
    """
    rows = costs[(costs["model"] == model) & (costs["optimizer"] == optimizer)].set_index("arm")
    control = rows[rows["control"]]
    if control.empty or not set(_COST_ARMS) <= set(rows.index):
        raise ValueError(
            f"The benchmark has no A/A control or no GC arm for {optimizer} on {model!r}."
        )

    def percent(row: pd.Series) -> str:
        low, ratio, high = (100 * (float(row[k]) - 1) for k in ("low", "ratio", "high"))
        return f"{ratio:+.1f}% [{low:+.1f}, {high:+.1f}]".replace("-", "−")

    def judged(row: pd.Series) -> str:  # step_costs' verdict, in words
        target = f"the +{100 * (float(row['target']) - 1):.0f}% target"
        words = {"met": "within", "missed": "over", "undecided": "its interval spans"}
        return f"{words[row['verdict']]} {target}"

    forms = ", ".join(
        f"{percent(rows.loc[arm])} with {form} ({judged(rows.loc[arm])})"
        for arm, form in _COST_ARMS.items()
    )
    return (
        f"{forms} (GC{optimizer} against {optimizer} on {backend}, 95% intervals; two identical "
        f"plain models differ by {percent(control.iloc[0])})"
    )
