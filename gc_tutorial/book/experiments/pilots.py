"""What a learning-rate pilot chooses: for each method, the rate with the lowest validation loss.

A pilot (:data:`~gc_tutorial.book.experiments.studies.HORSES_OR_HUMANS_PILOT`,
:data:`~gc_tutorial.book.experiments.studies.NYC_TAXI_SGD_PILOT`) trains
each method at each rate of its grid on seeds the studies do not use and
never sees the test split. :func:`pilot_choice` ranks the rates of each
method by the validation loss averaged over the last :data:`PILOT_WINDOW`
epochs and the seeds, so that one noisy epoch cannot decide, and says
whether the choice is on an edge of the grid (where a rate beyond it might
do better) and when the validation loss stopped improving.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gc_tutorial.book.experiments.frames import metric_rows

__all__ = [
    "PILOT_WINDOW",
    "GC_FORMS",
    "pilot_choice",
    "chosen_rates",
    "optimizer_and_form",
    "rates_side_by_side",
]

PILOT_WINDOW = 3
"""Epochs, ending at the last, over which a pilot averages the validation loss."""


def pilot_choice(
    results: pd.DataFrame, metric: str = "loss", window: int = PILOT_WINDOW
) -> pd.DataFrame:
    """Rank each method's learning rates by their mean validation ``metric``.

    Args:
        results: A pilot's results, with ``method`` and ``learning_rate``
            columns (:data:`~gc_tutorial.book.experiments.frames.RESULT_COLUMNS`).
        metric: The validation metric to minimize.
        window: Average each run over this many epochs, ending at the last.

    Returns:
        One row per method and rate, the methods in the order they first
        appear and each method's rates best first: ``method``,
        ``learning_rate``, ``arm``, ``mean`` and ``sd`` over the seeds of
        the per-run averages, ``seeds``, ``best_epoch`` (the epoch at which
        the seeds' mean validation ``metric`` was lowest), ``chosen`` (the
        method's best rate) and ``on_edge`` (that rate is the smallest or
        largest of the method's grid). A rate with a run that diverged (a
        non-finite value in the window) has the mean ``inf`` and ranks last.

    Raises:
        ValueError: the results have no validation ``metric``, or lack a
            run's value at an epoch of the window.
    """
    rows = metric_rows(results, metric, "validation")
    last = int(rows["epoch"].max())
    in_window = rows[rows["epoch"] > last - window]
    per_run = in_window.groupby(["method", "learning_rate", "arm", "seed"], sort=False)["value"]
    if (per_run.size() < min(window, last)).any():
        raise ValueError(
            f"Some pilot runs lack validation {metric!r} in epochs {last - window + 1} to {last}."
        )
    run_means = per_run.agg(lambda run: run.mean(skipna=False)).reset_index()
    rates = run_means.groupby(["method", "learning_rate", "arm"], sort=False)["value"]
    table = rates.agg(mean="mean", sd="std", seeds="size").reset_index()
    finite = rates.agg(lambda values: bool(np.isfinite(values).all())).to_numpy(dtype=bool)
    table["mean"] = table["mean"].where(finite, np.inf)
    curves = rows.groupby(["method", "learning_rate", "epoch"])["value"].mean()
    table["best_epoch"] = [
        int(curves.loc[(method, rate)].idxmin())
        for method, rate in zip(table["method"], table["learning_rate"], strict=True)
    ]
    order = {method: i for i, method in enumerate(table["method"].unique())}
    table = table.sort_values(
        ["method", "mean"],
        key=lambda col: col.map(order) if col.name == "method" else col,
        kind="stable",
    ).reset_index(drop=True)
    table["chosen"] = ~table.duplicated("method")
    grid = table.groupby("method")["learning_rate"].agg(["min", "max"])
    edges = grid.loc[table["method"]].to_numpy()
    on_edge = (table["learning_rate"].to_numpy()[:, None] == edges).any(axis=1)
    table["on_edge"] = table["chosen"] & on_edge
    return table


def chosen_rates(results: pd.DataFrame, metric: str = "loss") -> dict[str, float]:
    """Each method's chosen learning rate (:func:`pilot_choice`), by method."""
    table = pilot_choice(results, metric)
    chosen = table[table["chosen"]]
    return dict(zip(chosen["method"], chosen["learning_rate"].astype(float), strict=True))


GC_FORMS = ("without GC", "GC on the gradient", "GC on the update")
"""The columns of :func:`rates_side_by_side`, in the order of the method names'
suffixes: none, ``" + GC"`` and ``" + GC on the update"``."""


def optimizer_and_form(method: str) -> tuple[str, str]:
    """A method's optimizer and its form of :data:`GC_FORMS`, from its name.

    ``"Adam + GC"`` gives ``("Adam", "GC on the gradient")``; ``"SGD momentum"``
    gives ``("SGD momentum", "without GC")``.
    """
    optimizer, _, gc = method.partition(" + ")
    if not gc:
        return optimizer, GC_FORMS[0]
    return optimizer, GC_FORMS[2] if gc.endswith("on the update") else GC_FORMS[1]


def rates_side_by_side(choice: pd.DataFrame) -> pd.DataFrame:
    """The chosen rates with and without GC, one row per optimizer.

    Args:
        choice: A :func:`pilot_choice` table whose methods are named as the
            book's are: ``"Adam"``, ``"Adam + GC"``, ``"Adam + GC on the update"``.

    Returns:
        A frame indexed by optimizer (in the order the methods first
        appear), with a column per form of :data:`GC_FORMS` holding the
        chosen rate, NaN where the pilot did not try that form.
    """
    chosen = choice[choice["chosen"]]
    named = [optimizer_and_form(method) for method in chosen["method"]]
    frame = pd.DataFrame(named, columns=["optimizer", "form"]).assign(
        rate=chosen["learning_rate"].to_numpy(dtype=float)
    )
    table = frame.pivot(index="optimizer", columns="form", values="rate")
    optimizers = list(dict.fromkeys(frame["optimizer"]))
    return table.reindex(index=optimizers, columns=list(GC_FORMS)).rename_axis(columns=None)
