"""Figures of the book: learning curves, sweeps, epochs to a target, paired differences.

Each function draws a frame of statistics made beforehand by
:mod:`gc_tutorial.book.experiments.paired` (:func:`arm_curves`,
:func:`sweep_summary`, :func:`paired_differences` and
:func:`difference_statistics`), :mod:`~gc_tutorial.book.experiments.reach`
(:func:`reach_summary`) or :mod:`~gc_tutorial.book.experiments.answer`
(:func:`effect_over_epochs`), and computes none itself. The figures show the
spread over seeds next to the mean, so that a gap between two arms can be
read against the seed-to-seed noise. They are ``matplotlib.figure.Figure``
objects built without ``pyplot`` (unless an ``ax`` is passed), so a notebook
shows each figure once, as the cell's value, and no figure stays open in
``pyplot``'s registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib.axes
import matplotlib.figure
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
from matplotlib import rcParams

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


def _arm_colors(frame: pd.DataFrame) -> dict[str, str]:
    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return {arm: cycle[i % len(cycle)] for i, arm in enumerate(frame["arm"].unique())}


def _check_not_empty(frame: pd.DataFrame, what: str) -> None:
    if frame.empty:
        raise ValueError(f"Nothing to plot: the frame of {what} is empty.")


def plot_curves(
    curves: pd.DataFrame,
    ax: matplotlib.axes.Axes | None = None,
    split_labels: Mapping[str, str] | None = None,
) -> matplotlib.figure.Figure:
    """Plot a metric against epoch, mean over seeds with a ±1 std band.

    Each arm has one colour and each split one line style; the band (drawn
    where there are at least two seeds) is the mean ± one standard deviation
    over seeds at each epoch.

    Args:
        curves: A frame as
            :func:`gc_tutorial.book.experiments.paired.arm_curves` returns,
            of one metric.
        ax: Axes to draw into; by default a new figure is made.
        split_labels: Names to show in the legend for some splits, e.g.
            ``{"validation": "test"}`` when the per-epoch validation data
            was the test set; other splits are shown by their own names.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: ``curves`` is empty.
    """
    _check_not_empty(curves, "curves")
    ax = _new_axes() if ax is None else ax
    labels = dict(split_labels or {})
    colors = _arm_colors(curves)
    for split_index, split in enumerate(curves["split"].unique()):
        of_split = curves[curves["split"] == split]
        for arm, color in colors.items():
            rows = of_split[of_split["arm"] == arm]
            if rows.empty:
                continue
            epochs = rows["epoch"].to_numpy()
            mean = rows["mean"].to_numpy(dtype=float)
            sd = rows["sd"].to_numpy(dtype=float)
            ax.plot(
                epochs,
                mean,
                color=color,
                linestyle=_SPLIT_STYLES[split_index % len(_SPLIT_STYLES)],
                marker="o" if len(epochs) == 1 else None,
                label=f"{arm} ({labels.get(split, split)})",
            )
            if np.isfinite(sd).any():
                ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.2, linewidth=0)
    n_seeds = int(curves["n"].max())
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(str(curves["metric"].iat[0]))
    ax.set_title(f"mean ± 1 std over {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    ax.legend()
    return _figure_of(ax)


def plot_lr_sweep(
    summary: pd.DataFrame, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.figure.Figure:
    """Plot the final-epoch metric against the learning rate (log axis).

    One line per arm, at the mean over seeds, with error bars of ± one
    standard deviation. Where the mean is not finite (a seed's run
    diverged) the point is left out, since a mean over the surviving seeds
    would flatter the arm; an ``x`` on the top edge of the axes marks it
    instead, with a legend entry saying so. The legend sits to the right of
    the axes, clear of those marks.

    Args:
        summary: A frame as
            :func:`gc_tutorial.book.experiments.paired.sweep_summary` returns.
        ax: Axes to draw into; by default a new figure is made.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: ``summary`` is empty.
    """
    _check_not_empty(summary, "the sweep's summary")
    ax = _new_axes(width=8.0) if ax is None else ax
    top_edge = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for arm, color in _arm_colors(summary).items():
        per_rate = summary[summary["arm"] == arm].sort_values("learning_rate")
        rates = per_rate["learning_rate"].to_numpy(dtype=float)
        mean = per_rate["mean"].to_numpy(dtype=float)
        diverged = ~np.isfinite(mean)
        mean = np.where(diverged, np.nan, mean)
        sd = np.where(diverged, np.nan, per_rate["sd"].to_numpy(dtype=float))
        ax.errorbar(rates, mean, yerr=sd, color=color, marker="o", capsize=3, label=arm)
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
    first = summary.iloc[0]
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final {first['split']} {first['metric']}")
    ax.set_title("mean ± 1 std over seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _figure_of(ax)


def plot_epochs_to_reach(
    summary: pd.DataFrame, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.figure.Figure:
    """Plot the epochs each arm needs to reach a target, against the target.

    One line per arm at the median over seeds, with a band from the fastest
    to the slowest seed. Targets run from easy on the left to hard on the
    right (the x axis is reversed for ``mode="min"``). "Not reached" is
    drawn on a line one step above the last epoch, so a band touching it
    means some seed did not get there, and a median on it that half the
    seeds or more did not.

    Args:
        summary: A frame as
            :func:`gc_tutorial.book.experiments.reach.reach_summary` returns.
        ax: Axes to draw into; by default a new figure is made.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: ``summary`` is empty or mixes metrics, splits, modes or
            definitions of reaching (``sustained``).
    """
    _check_not_empty(summary, "epochs to reach")
    described = summary[["metric", "split", "mode", "sustained"]].drop_duplicates()
    if len(described) != 1:
        raise ValueError(
            "The frame mixes metrics, splits, modes or sustained; "
            "plot one at a time: "
            f"{described.to_dict('records')}."
        )
    metric, split, mode, sustained = described.iloc[0]
    epochs_run = int(summary["epochs_run"].max())
    not_reached = epochs_run + 1
    ax = _new_axes() if ax is None else ax
    for arm, color in _arm_colors(summary).items():
        per_target = summary[summary["arm"] == arm].sort_values("target")
        targets = per_target["target"].to_numpy(dtype=float)
        median, fastest, slowest = (
            per_target[column].clip(upper=not_reached) for column in ("median", "min", "max")
        )
        ax.plot(targets, median, color=color, marker="o", label=arm)
        ax.fill_between(targets, fastest, slowest, color=color, alpha=0.2, linewidth=0)
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
    n_seeds = int(summary["seeds"].max())
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

    ``row`` is a row of a :func:`difference_statistics` frame as
    ``DataFrame.itertuples`` gives it (or of a verdict table, whose rows add
    ``verdict``): a namedtuple whose fields exist only at run time, hence
    ``Any``.
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
    note = f"{row.better_in}/{row.n} better"
    verdict = getattr(row, "verdict", None)  # rows of a verdict table carry the decision
    if verdict is not None:
        note = f"{verdict}\n{note}"
        if verdict == "within noise" and np.isfinite(row.mde80):
            note += f"\nMDE {row.mde80:.2g}"
    top = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(column, 1.0, note, transform=top, ha="center", va="top", fontsize="small")
    diverged = len(values) - len(finite)
    label = f"{row.treatment}\nvs {row.baseline}"
    return label + (f"\n({diverged} non-finite)" if diverged else "")


def plot_paired_differences(
    differences: pd.DataFrame, statistics: pd.DataFrame
) -> matplotlib.figure.Figure:
    """Plot each seed's difference GC − baseline, with the mean and its interval.

    One panel per study, metric, split, epoch and window; in each, one
    column per GC arm (labelled with its baseline): the per-seed differences
    as dots, spread sideways so that equal values stay visible, and to their
    right the mean difference with its unadjusted 95% Student-t interval,
    under a line at 0. Above each column stands the sign count and, when
    ``statistics`` is a verdict table
    (:func:`gc_tutorial.book.experiments.answer.verdict_table`), the verdict
    and, beside "within noise", the minimum detectable difference. A
    non-finite difference (a diverged run) has no dot; the column's label
    counts it.

    Args:
        differences: A frame as
            :func:`gc_tutorial.book.experiments.paired.paired_differences`
            returns, or several stacked; a ``study`` column, if present,
            separates studies.
        statistics: The statistics of those differences, as
            :func:`gc_tutorial.book.experiments.paired.difference_statistics`
            returns them.

    Returns:
        The figure, with up to three panels a row.

    Raises:
        ValueError: ``statistics`` is empty, or ``differences`` lacks the
            differences of one of its rows.
    """
    _check_not_empty(statistics, "statistics")
    keys = [c for c in statistics.columns if c in differences.columns]
    per_pair = dict(list(differences.groupby(keys, sort=False, dropna=False)))
    missing = [
        key for key in statistics[keys].itertuples(index=False, name=None) if key not in per_pair
    ]
    if missing:
        raise ValueError(
            f"The differences lack the rows of {len(missing)} statistics row(s), "
            f"e.g. {dict(zip(keys, missing[0], strict=True))}; pass the differences "
            "the statistics were computed from."
        )
    panel_keys = [c for c in keys if c not in ("treatment", "baseline")]
    panels = list(statistics.groupby(panel_keys, sort=False))
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    width = 1.0 + 1.9 * max(len(rows) for _, rows in panels)
    figure = matplotlib.figure.Figure(figsize=(width * ncols, 4.2 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
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

    Raises:
        ValueError: ``statistics`` is empty.
    """
    _check_not_empty(statistics, "statistics")
    ax = ax or _new_axes()
    for (arm, baseline), rows in statistics.groupby(["treatment", "baseline"], sort=False):
        rows = rows.sort_values("epoch")
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
