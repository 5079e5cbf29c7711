"""Timing primitives: interleaved blocks, paired ratio intervals, copy bandwidth.

Nothing here knows about Keras: a *timer* is any callable that runs one step
and returns how long it took, in seconds.
"""

from __future__ import annotations

import gc as python_gc
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Rounds",
    "copy_bandwidth",
    "interleave",
    "ratio_interval",
    "summary_ms",
    "time_calls",
]

Rounds = list[list[float]]
"""One arm's step times in seconds, one inner list per round of the interleaving."""


def interleave(
    timers: Mapping[str, Callable[[], float]], steps: int, block: int
) -> dict[str, Rounds]:
    """Run every timer ``steps`` times, taking turns in blocks of ``block`` steps.

    In round ``r`` each arm runs one block, starting with arm ``r mod n`` and
    going round in order, so that no arm always follows the same one. Python's
    garbage collector is paused within a round (and run between rounds, where
    a full collection of a process holding several ResNet50s takes longer
    than a step), so that a collection falls on no timed step.

    Args:
        timers: Arm name to a callable that runs one step and returns its
            duration in seconds.
        steps: Timed steps per arm.
        block: Steps an arm runs before the next arm's turn.

    Returns:
        Arm name to its step times, one list per round.
    """
    names = list(timers)
    rounds: dict[str, Rounds] = {name: [] for name in names}
    for index in range(math.ceil(steps / block)):
        count = min(block, steps - index * block)
        shift = index % len(names)
        python_gc.collect()
        python_gc.disable()
        try:
            for name in names[shift:] + names[:shift]:
                timer = timers[name]
                rounds[name].append([timer() for _ in range(count)])
        finally:
            python_gc.enable()
    return rounds


def _as_rounds(samples: Sequence[float] | Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Per-round arrays; a flat sequence counts as a single round."""
    if len(samples) and np.ndim(samples[0]) == 0:
        return [np.asarray(samples, dtype=float)]
    return [np.asarray(r, dtype=float) for r in samples if len(r)]


def ratio_interval(
    baseline: Sequence[float] | Sequence[Sequence[float]],
    treated: Sequence[float] | Sequence[Sequence[float]],
    seed: int = 0,
    resamples: int = 4000,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """The treated arm's step time over the baseline's, and its bootstrap interval.

    Given the same number (two or more) of rounds of each, as
    :func:`interleave` returns them, the comparison is paired by round: each
    round gives the ratio of the two arms' median steps in that round, taken
    minutes apart at most, so a slow spell of the machine, which falls on
    both arms of a round, cancels. The estimate is the median of those
    per-round ratios, and the interval resamples whole rounds.

    Otherwise (flat samples, or rounds that do not pair) it is
    ``median(treated) / median(baseline)``, with the steps resampled
    within each round of each arm (a round of one step stays as it is).

    The intervals are ``scipy.stats.bootstrap``'s percentile intervals.

    Args:
        baseline: The baseline's step times: per round (a list of lists, as
            :func:`interleave` returns) or flat.
        treated: The treated arm's, likewise.
        seed: Seed of the resampling.
        resamples: Bootstrap resamples.
        level: Coverage of the percentile interval.

    Returns:
        ``(ratio, low, high)``.
    """
    from scipy import stats

    base, treat = _as_rounds(baseline), _as_rounds(treated)
    if len(base) == len(treat) >= 2:
        data: tuple[np.ndarray, ...] = (
            np.array([np.median(t) / np.median(b) for b, t in zip(base, treat, strict=True)]),
        )
        statistic: Callable[..., Any] = np.median
    else:  # steps resampled within each round of each arm; a round of one step stays
        varied = [
            (arm, r) for arm, rounds in enumerate((treat, base)) for r in rounds if r.size > 1
        ]
        fixed = [
            np.concatenate([[], *(r for r in rounds if r.size == 1)]) for rounds in (treat, base)
        ]
        data = tuple(r for _, r in varied)

        def statistic(*samples: np.ndarray, axis: int = -1) -> Any:
            batch = samples[0].shape[:-1] if samples else ()
            medians = []
            for arm in (0, 1):
                drawn = [s for s, (a, _) in zip(samples, varied, strict=True) if a == arm]
                drawn.append(np.broadcast_to(fixed[arm], (*batch, fixed[arm].size)))
                medians.append(np.median(np.concatenate(drawn, axis=-1), axis=-1))
            return medians[0] / medians[1]

    estimate = float(statistic(*data))
    if not data:  # nothing to resample
        return estimate, estimate, estimate
    interval = stats.bootstrap(
        data,
        statistic,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        random_state=np.random.default_rng(seed),
    ).confidence_interval
    return estimate, float(interval.low), float(interval.high)


def summary_ms(seconds: Sequence[float] | Sequence[Sequence[float]]) -> dict[str, Any]:
    """Median, quartiles, minimum and count of step times, in milliseconds."""
    values = np.concatenate(_as_rounds(seconds)) * 1e3
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "median_ms": round(float(median), 4),
        "q1_ms": round(float(q1), 4),
        "q3_ms": round(float(q3), 4),
        "min_ms": round(float(values.min()), 4),
        "n": int(values.size),
    }


def time_calls(function: Callable[[], Any], repeats: int) -> list[float]:
    """Durations in seconds of ``repeats`` calls of ``function``, collector paused."""
    seconds = []
    python_gc.collect()
    python_gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - start)
    finally:
        python_gc.enable()
    return seconds


def copy_bandwidth(size_mib: int = 256, repeats: int = 10) -> dict[str, Any]:
    """Best-of-``repeats`` bandwidth of ``np.copyto`` on one thread (bytes moved = 2 x size).

    This is the memory bandwidth a single-threaded streaming pass gets: the
    reference for the GC pass's floor.
    """
    count = size_mib * 2**20 // 4
    source = np.arange(count, dtype=np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch every page before timing
    seconds = time_calls(lambda: np.copyto(target, source), repeats)
    best = min(seconds)
    return {
        "method": "np.copyto(dst, src) of a float32 array, one thread; bytes moved = 2 x size",
        "size_mib": size_mib,
        "repeats": repeats,
        "best_s": round(best, 6),
        "bandwidth_gb_s": round(2 * source.nbytes / best / 1e9, 3),
    }
