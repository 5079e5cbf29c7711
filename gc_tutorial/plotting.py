"""Figures of the book: learning curves, learning-rate sweeps, epochs to a target.

The functions take the tidy frames of :mod:`gc_tutorial.experiments` and
show the spread over seeds next to the mean, so that a gap between two arms
can be read against the seed-to-seed noise. They return a
``matplotlib.figure.Figure`` built without ``pyplot`` (unless an ``ax`` is
passed), so a notebook shows each figure once, as the cell's value, and no
figure stays open in ``pyplot``'s registry.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.axes
import matplotlib.figure
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
from matplotlib import rcParams

from gc_tutorial.experiments import SEVERAL_RUNS_ERROR, metric_rows

__all__ = ["plot_curves", "plot_lr_sweep", "plot_epochs_to_reach"]

_SPLIT_STYLES = ("-", "--", ":", "-.")


def _new_axes(width: float = 6.4) -> matplotlib.axes.Axes:
    figure = matplotlib.figure.Figure(figsize=(width, 4.0), layout="constrained")
    return figure.add_subplot()


def _arm_colors(results: pd.DataFrame) -> dict[str, str]:
    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return {
        arm: cycle[i % len(cycle)] for i, arm in enumerate(results["arm"].unique())
    }


def plot_curves(
    results: pd.DataFrame,
    metric: str,
    splits: Sequence[str] = ("train", "validation"),
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    """Plot ``metric`` against epoch, mean over seeds with a ±1 std band.

    Each arm has one colour and each split one line style; the band (drawn
    when there are at least two seeds) is the mean ± one standard deviation
    (ddof=1) over seeds at each epoch.

    Args:
        results: A frame as :func:`gc_tutorial.experiments.compare_optimizers`
            returns, with one run per arm and seed.
        metric: Metric to plot, e.g. ``"loss"`` or ``"epoch_time_s"``.
        splits: Splits to draw, each as its own line per arm.
        ax: Axes to draw into; by default a new figure is made.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the metric is missing on a split, or a seed has several
            runs of one arm (filter a learning-rate sweep to one rate first).
    """
    if results.duplicated(["seed", "arm", "epoch", "split", "metric"]).any():
        raise ValueError(SEVERAL_RUNS_ERROR)
    ax = _new_axes() if ax is None else ax
    colors = _arm_colors(results)
    for split_index, split in enumerate(splits):
        rows = metric_rows(results, metric, split)
        for arm, color in colors.items():
            per_epoch = (
                rows[rows["arm"] == arm].groupby("epoch")["value"].agg(["mean", "std"])
            )
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
                label=f"{arm} ({split})",
            )
            if np.isfinite(std).any():
                ax.fill_between(
                    epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0
                )
    n_seeds = results["seed"].nunique()
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"mean ± 1 std over {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    ax.legend()
    return ax.figure


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
        results: A frame as :func:`gc_tutorial.experiments.lr_sweep` returns.
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
    top_edge = matplotlib.transforms.blended_transform_factory(
        ax.transData, ax.transAxes
    )
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
        ax.errorbar(
            rates, mean, yerr=std, color=color, marker="o", capsize=3, label=arm
        )
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
    return ax.figure


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
        reached: A frame as :func:`gc_tutorial.experiments.epochs_to_reach`
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
    ax.set_title(
        f"median and range over {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    )
    ax.legend()
    return ax.figure
