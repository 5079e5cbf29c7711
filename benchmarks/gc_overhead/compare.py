"""Each arm against its baseline, from one family's rows as a results file stores them.

A row is one copy of one arm (or a peer) with its step times in milliseconds
per round (``times_ms``); :func:`compare_family` gives every arm that names
a baseline its ratio and interval (:func:`~benchmarks.gc_overhead.timing.ratio_interval`)
and the family's A/A control beside it. A run and a pool of runs
(:mod:`benchmarks.gc_overhead.pool`) both compare through it, so a pool of
one run reproduces that run's comparisons exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.gc_overhead.timing import Rounds, pair_ratios, ratio_interval, summary_ms

#: Ratios and their intervals are stored rounded to this many decimals.
DECIMALS = 5

__all__ = ["compare_family"]


def _seconds(rows: Sequence[dict[str, Any]], arm: str) -> list[Rounds]:
    """The copies of ``arm`` in copy order, their step times in seconds per round."""
    found = sorted((r for r in rows if r["arm"] == arm), key=lambda r: r["copy"])
    return [[[ms / 1e3 for ms in block] for block in r["times_ms"]] for r in found]


def compare_family(
    rows: Sequence[dict[str, Any]], target: float, resolution: float, seed: int = 0
) -> list[dict[str, Any]]:
    """Every arm of one model and optimizer family against its baseline.

    Args:
        rows: The family's rows, one per copy of every arm and peer: ``model``,
            ``optimizer``, ``arm``, ``copy``, ``group`` (``"keras"`` or the
            peer's), ``baseline`` (``None`` for a baseline), ``control``
            (whether the arm is the A/A control) and ``times_ms``.
        target: The largest acceptable overhead, e.g. ``0.02``.
        resolution: The A/A control's band, e.g. ``0.01``.
        seed: Seed of the bootstrap.

    Returns:
        One comparison per arm with a baseline, in the rows' order: ``model``,
        ``group``, ``optimizer``, ``arm``, ``baseline``, ``control``,
        ``copies``, both medians, ``ratio`` with ``ratio_ci95``, ``pair_ratios``
        (each pair of copies' ratio, in copy order),
        ``target_ratio``, ``meets_target`` (the ratio is at most the target),
        ``interval_below_target`` (the whole interval is), and for the Keras
        arms the family's A/A control (``control_ratio``, ``control_ci95``)
        and ``resolved``: whether that interval contains 1 and lies within
        ``1 +/- resolution``.
    """
    comparisons = []
    for row in rows:
        if row["baseline"] is None or row["copy"] != 0:
            continue
        name, baseline = row["arm"], row["baseline"]
        arm, base = _seconds(rows, name), _seconds(rows, baseline)
        ratio, low, high = ratio_interval(base, arm, seed)
        comparisons.append(
            {
                "model": row["model"],
                "group": row["group"],
                "optimizer": row["optimizer"],
                "arm": name,
                "baseline": baseline,
                "control": bool(row.get("control", False)),
                "copies": len(arm),
                "baseline_median_ms": summary_ms(sum(base, []))["median_ms"],
                "median_ms": summary_ms(sum(arm, []))["median_ms"],
                "ratio": round(ratio, DECIMALS),
                "ratio_ci95": [round(low, DECIMALS), round(high, DECIMALS)],
                "pair_ratios": [round(float(r), DECIMALS) for r in pair_ratios(base, arm)],
                "target_ratio": 1 + target,
                "meets_target": bool(ratio <= 1 + target),
                "interval_below_target": bool(high <= 1 + target),
            }
        )
    control = next((c for c in comparisons if c["control"]), None)
    for c in comparisons:
        c["control_ratio"] = c["control_ci95"] = c["resolved"] = None
        if c["group"] == "keras" and control is not None:
            low, high = control["ratio_ci95"]
            c["control_ratio"], c["control_ci95"] = control["ratio"], [low, high]
            c["resolved"] = bool(1 - resolution <= low <= 1 <= high <= 1 + resolution)
    return comparisons
