"""Figures of the book: learning curves, sweeps, epochs to a target, paired differences.

The functions take the tidy frames of :mod:`gc_tutorial.book.experiments` and
show the spread over seeds next to the mean, so that a gap between two arms
can be read against the seed-to-seed noise. They return a
``matplotlib.figure.Figure`` built without ``pyplot`` (unless an ``ax`` is
passed), so a notebook shows each figure once, as the cell's value, and no
figure stays open in ``pyplot``'s registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.axes
import matplotlib.figure
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
from matplotlib import rcParams

from gc_tutorial.book.experiments.frames import SEVERAL_RUNS_ERROR, metric_rows
from gc_tutorial.book.experiments.stats import Better, difference_statistics

__all__ = [
    "plot_curves",
    "plot_lr_sweep",
    "plot_epochs_to_reach",
    "plot_paired_differences",
    "plot_effect_over_epochs",
]

_SPLIT_STYLES = ("-", "--", ":", "-.")


def _new_axes(width: float = 6.4) -> matplotlib.axes.Axes:
    figure = matplotlib.figure.Figure(figsize=(width, 4.0), layout="constrained")
    return figure.add_subplot()


def _figure_of(ax: matplotlib.axes.Axes) -> matplotlib.figure.Figure:
    """The figure ``ax`` lies in (the root figure, through any subfigures)."""
    figure = ax.get_figure(root=True)
    if figure is None:
        raise ValueError("The axes belong to no figure.")
    return figure


def _arm_colors(results: pd.DataFrame) -> dict[str, str]:
    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return {arm: cycle[i % len(cycle)] for i, arm in enumerate(results["arm"].unique())}


def plot_curves(
    results: pd.DataFrame,
    metric: str,
    splits: Sequence[str] = ("train", "validation"),
    ax: matplotlib.axes.Axes | None = None,
    split_labels: Mapping[str, str] | None = None,
) -> matplotlib.figure.Figure:
    """Plot ``metric`` against epoch, mean over seeds with a ±1 std band.

    Each arm has one colour and each split one line style; the band (drawn
    when there are at least two seeds) is the mean ± one standard deviation
    (ddof=1) over seeds at each epoch.

    Args:
        results: A frame as :func:`gc_tutorial.book.experiments.compare_optimizers`
            returns, with one run per arm and seed.
        metric: Metric to plot, e.g. ``"loss"`` or ``"epoch_time_s"``.
        splits: Splits to draw, each as its own line per arm.
        ax: Axes to draw into; by default a new figure is made.
        split_labels: Names to show in the legend for some splits, e.g.
            ``{"validation": "test"}`` when the per-epoch validation data
            was the test set; other splits are shown by their own names.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the metric is missing on a split, or a seed has several
            runs of one arm (filter a learning-rate sweep to one rate first).
    """
    if results.duplicated(["seed", "arm", "epoch", "split", "metric"]).any():
        raise ValueError(SEVERAL_RUNS_ERROR)
    ax = _new_axes() if ax is None else ax
    labels = dict(split_labels or {})
    colors = _arm_colors(results)
    for split_index, split in enumerate(splits):
        rows = metric_rows(results, metric, split)
        for arm, color in colors.items():
            per_epoch = rows[rows["arm"] == arm].groupby("epoch")["value"].agg(["mean", "std"])
            if per_epoch.empty:
                continue
            epochs = per_epoch.index.to_numpy()
            mean = per_epoch["mean"].to_numpy()
            std = per_epoch["std"].to_numpy()
            ax.plot(
                epochs,
                mean,
                color=color,
                linestyle=_SPLIT_STYLES[split_index % len(_SPLIT_STYLES)],
                marker="o" if len(epochs) == 1 else None,
                label=f"{arm} ({labels.get(split, split)})",
            )
            if np.isfinite(std).any():
                ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    n_seeds = results["seed"].nunique()
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"mean ± 1 std over {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    ax.legend()
    return _figure_of(ax)


def plot_lr_sweep(
    results: pd.DataFrame,
    metric: str = "loss",
    split: str = "validation",
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    """Plot the final-epoch ``metric`` against the learning rate (log axis).

    One line per arm, at the mean over seeds, with error bars of ± one
    standard deviation (ddof=1). Where any seed's value is not finite (the
    run diverged) the point is left out, since a mean over the surviving
    seeds would flatter the arm; an ``x`` on the top edge of the axes marks
    it instead, with a legend entry saying so. The legend sits to the right
    of the axes, clear of those marks.

    Args:
        results: A frame as :func:`gc_tutorial.book.experiments.lr_sweep` returns.
        metric: Metric to plot, e.g. ``"loss"``.
        split: Split to plot, e.g. ``"validation"``.
        ax: Axes to draw into; by default a new figure is made.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the metric is missing on the split.
    """
    rows = metric_rows(results, metric, split)
    final = rows[rows["epoch"] == rows["epoch"].max()]
    ax = _new_axes(width=8.0) if ax is None else ax
    top_edge = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for arm, color in _arm_colors(results).items():
        runs = final[final["arm"] == arm]
        if runs.empty:
            continue
        per_rate = runs.groupby("learning_rate")["value"].agg(
            mean="mean",
            std="std",
            diverged=lambda values: not np.isfinite(values).all(),
        )
        rates = per_rate.index.to_numpy(dtype=float)
        diverged = per_rate["diverged"].to_numpy(dtype=bool)
        mean = np.where(diverged, np.nan, per_rate["mean"].to_numpy(dtype=float))
        std = np.where(diverged, np.nan, per_rate["std"].to_numpy(dtype=float))
        ax.errorbar(rates, mean, yerr=std, color=color, marker="o", capsize=3, label=arm)
        if diverged.any():
            ax.plot(
                rates[diverged],
                np.ones(diverged.sum()),
                transform=top_edge,
                linestyle="none",
                marker="x",
                color=color,
                clip_on=False,
                label=f"{arm}: non-finite (diverged)",
            )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final {split} {metric}")
    ax.set_title("mean ± 1 std over seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _figure_of(ax)


def plot_epochs_to_reach(
    reached: pd.DataFrame, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.figure.Figure:
    """Plot the epochs each arm needs to reach a target, against the target.

    One line per arm at the median over seeds, with a band from the fastest
    to the slowest seed. Targets run from easy on the left to hard on the
    right (the x axis is reversed for ``mode="min"``). A run that never
    reached a target sits on a "not reached" line one step above the last
    epoch, so a band touching it means some seed did not get there.

    Args:
        reached: A frame as :func:`gc_tutorial.book.experiments.epochs_to_reach`
            returns.
        ax: Axes to draw into; by default a new figure is made.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: ``reached`` is empty or mixes metrics, splits, modes or
            definitions of reaching (``sustained``).
    """
    if reached.empty:
        raise ValueError("Nothing to plot: the frame of epochs to reach is empty.")
    described = reached[["metric", "split", "mode", "sustained"]].drop_duplicates()
    if len(described) != 1:
        raise ValueError(
            "The frame mixes metrics, splits, modes or sustained; "
            "plot one at a time: "
            f"{described.to_dict('records')}."
        )
    metric, split, mode, sustained = described.iloc[0]
    epochs_run = int(reached["epochs_run"].max())
    not_reached = epochs_run + 1
    ax = _new_axes() if ax is None else ax
    for arm, color in _arm_colors(reached).items():
        per_target = (
            reached[reached["arm"] == arm]
            .assign(epoch=lambda frame: frame["epoch"].clip(upper=not_reached))
            .groupby("target")["epoch"]
            .agg(["median", "min", "max"])
        )
        targets = per_target.index.to_numpy(dtype=float)
        ax.plot(targets, per_target["median"], color=color, marker="o", label=arm)
        ax.fill_between(
            targets,
            per_target["min"],
            per_target["max"],
            color=color,
            alpha=0.2,
            linewidth=0,
        )
    ax.axhline(not_reached, color="gray", linestyle=":", linewidth=1)
    ticks = matplotlib.ticker.MaxNLocator(integer=True).tick_values(1, epochs_run)
    ticks = [int(t) for t in ticks if 1 <= t <= epochs_run]
    ax.set_yticks(ticks + [not_reached], [str(t) for t in ticks] + ["not reached"])
    ax.set_ylim(0.5, not_reached + 0.5)
    if mode == "min":
        ax.invert_xaxis()
    better = "lower" if mode == "min" else "higher"
    ax.set_xlabel(f"target {split} {metric} ({better} is better)")
    ax.set_ylabel("epochs to reach and keep it" if sustained else "epochs to reach it")
    n_seeds = reached["seed"].nunique()
    ax.set_title(f"median and range over {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    ax.legend()
    return _figure_of(ax)


def _panel_title(key: dict) -> str:
    epoch, window = int(key["epoch"]), int(key["window"])
    when = f"epoch {epoch}" if window == 1 else f"mean of epochs {epoch - window + 1}-{epoch}"
    title = f"{key['split']} {key['metric']}, {when}"
    return f"{key['study']}: {title}" if "study" in key else title


def _draw_pair(ax: matplotlib.axes.Axes, column: int, row: Any, values: np.ndarray) -> str:
    """Draw one GC arm's column of a paired-differences panel; return its label.

    ``row`` is a row of :func:`difference_statistics`'s frame as
    ``DataFrame.itertuples`` gives it: a namedtuple whose fields (``verdict``,
    ``ci95_low``, ...) exist only at run time, hence ``Any``.
    """
    finite = values[np.isfinite(values)]
    spread = np.linspace(-0.3, -0.05, len(finite)) if len(finite) > 1 else -0.2
    spread = np.broadcast_to(spread, finite.shape)
    color = rcParams["axes.prop_cycle"].by_key()["color"][0]
    ax.plot(column + spread, finite, "o", color=color, alpha=0.6)
    if np.isfinite([row.ci95_low, row.ci95_high]).all():
        ax.errorbar(
            column + 0.15,
            row.mean_difference,
            yerr=[
                [row.mean_difference - row.ci95_low],
                [row.ci95_high - row.mean_difference],
            ],
            fmt="s",
            color="black",
            capsize=4,
        )
    note = f"{row.verdict}\n{row.better_in}/{row.n} better"
    if row.verdict == "no detectable difference":
        note = note.replace("detectable ", "detectable\n") + f"\nMDE {row.mde80:.2g}"
    top = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(column, 1.0, note, transform=top, ha="center", va="top", fontsize="small")
    diverged = len(values) - len(finite)
    label = f"{row.treatment}\nvs {row.baseline}"
    return label + (f"\n({diverged} non-finite)" if diverged else "")


def plot_paired_differences(
    differences: pd.DataFrame, *, better: Better | None = None
) -> matplotlib.figure.Figure:
    """Plot each seed's difference GC − baseline, with the mean and its interval.

    One panel per study, metric, split, epoch and window; in each, one
    column per GC arm (labelled with its baseline): the per-seed differences
    as dots, spread sideways so that equal values stay visible, and to their
    right the mean difference with its 95% Student-t interval as
    :func:`gc_tutorial.book.experiments.stats.difference_statistics` computes
    them, under a line at 0. Above each column stand the verdict, the sign
    count and, beside "no detectable difference", the minimum detectable
    difference. A non-finite difference (a diverged run) has no dot; the
    column's label counts it.

    Args:
        differences: A frame as
            :func:`gc_tutorial.book.experiments.stats.paired_differences` returns,
            or several stacked; a ``study`` column, if present, separates
            studies.
        better: As for
            :func:`~gc_tutorial.book.experiments.stats.difference_statistics`.

    Returns:
        The figure, with up to three panels a row.

    Raises:
        ValueError: ``differences`` is empty, or a metric's direction is
            unknown and ``better`` is None.
    """
    if differences.empty:
        raise ValueError("Nothing to plot: the frame of differences is empty.")
    statistics = difference_statistics(differences, better=better)
    keys = [c for c in statistics.columns if c in differences.columns]
    panel_keys = [c for c in keys if c not in ("treatment", "baseline")]
    panels = list(statistics.groupby(panel_keys, sort=False))
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    width = 1.0 + 1.9 * max(len(rows) for _, rows in panels)
    figure = matplotlib.figure.Figure(figsize=(width * ncols, 4.2 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    per_pair = dict(list(differences.groupby(keys, sort=False, dropna=False)))
    for ax, (panel, rows) in zip(axes, panels, strict=False):  # extra axes are hidden
        labels = [
            _draw_pair(
                ax,
                column,
                row,
                per_pair[tuple(getattr(row, key) for key in keys)]["difference"].to_numpy(
                    dtype=float
                ),
            )
            for column, row in enumerate(rows.itertuples(index=False))
        ]
        ax.axhline(0.0, color="gray", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(labels)), labels, fontsize="small")
        ax.set_xlim(-0.6, len(labels) - 0.4)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.4 * (high - low))  # room for the notes
        key = dict(zip(panel_keys, panel, strict=True))
        ax.set_title(_panel_title(key), fontsize="medium")
        ax.set_ylabel(f"GC − baseline ({rows['better'].iat[0]} is better)")
    figure.suptitle("per-seed paired differences, mean and 95% interval")
    return figure


def plot_effect_over_epochs(
    statistics: pd.DataFrame, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.figure.Figure:
    """Each comparison's paired difference per epoch, with its 95% band.

    Args:
        statistics: Rows of one metric and split at several epochs, as
            :func:`gc_tutorial.book.experiments.answer.effect_over_epochs`
            returns (columns ``treatment``, ``baseline``, ``epoch``,
            ``mean_difference``, ``ci95_low``, ``ci95_high``, ``metric``,
            ``split``, ``better``, ``n``).
        ax: Axes to draw into; a new figure when ``None``.

    Returns:
        The figure: one line per comparison (GC arm − its baseline), a band
        for the per-epoch 95% interval, and a line at zero; the y label
        says which way is better for GC.
    """
    ax = ax or _new_axes()
    for (treatment, baseline), rows in statistics.groupby(["treatment", "baseline"], sort=False):
        rows = rows.sort_values("epoch")
        arm = str(treatment).split(" (vs ", 1)[0]
        (line,) = ax.plot(
            rows["epoch"], rows["mean_difference"], marker=".", label=f"{arm} − {baseline}"
        )
        ax.fill_between(
            rows["epoch"], rows["ci95_low"], rows["ci95_high"], color=line.get_color(), alpha=0.2
        )
    ax.axhline(0.0, color="gray", linewidth=0.8)
    first = statistics.iloc[0]
    better = "below" if first["better"] == "lower" else "above"
    ax.set(
        xlabel="epoch",
        ylabel=f"{first['split']} {first['metric']}: GC − baseline\n(GC better {better} 0)",
    )
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return _figure_of(ax)
