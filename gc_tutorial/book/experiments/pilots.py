"""What a learning-rate pilot chooses: its arms ranked by validation loss.

The pilots (:data:`~gc_tutorial.book.experiments.studies.NYC_TAXI_SGD_PILOT`
and the horses-or-humans ones) train one arm per learning rate on seeds the
studies do not use and never see the test split; :func:`pilot_choice` reads
their results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["pilot_choice"]


def pilot_choice(results: pd.DataFrame, metric: str = "loss") -> pd.DataFrame:
    """Rank a pilot's arms by their mean validation ``metric`` at the last epoch.

    Args:
        results: A pilot's tidy results (``seed, arm, epoch, split, metric,
            value``), e.g. the ``nyc_taxi_sgd_pilot`` study's.
        metric: The validation metric to minimize.

    Returns:
        One row per arm, best first: ``arm``, ``mean`` and ``sd`` over the
        seeds, ``seeds`` (its runs). An arm with a run that diverged (a
        non-finite value, NaN included) has the mean ``inf`` and ranks last.

    Raises:
        ValueError: the results have no validation ``metric``.
    """
    rows = results[(results["split"] == "validation") & (results["metric"] == metric)]
    if rows.empty:
        raise ValueError(f"The pilot results have no validation {metric!r} rows.")
    last = rows[rows["epoch"] == rows["epoch"].max()]
    values = last.groupby("arm")["value"]
    table = values.agg(mean="mean", sd="std", seeds="size")
    diverged = values.agg(lambda run_values: not np.isfinite(run_values).all())
    table["mean"] = table["mean"].where(~diverged, np.inf)
    return table.sort_values("mean").reset_index()
