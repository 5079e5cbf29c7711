"""Timing primitives: interleaved blocks, paired ratio intervals over model copies, bandwidth.

Nothing here knows about Keras: a *timer* is any callable that runs one step
and returns how long it took, in seconds.
"""

from __future__ import annotations

import gc as python_gc
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

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

Key = TypeVar("Key", bound=Hashable)


def interleave(
    timers: Mapping[Key, Callable[[], float]], steps: int, block: int
) -> dict[Key, Rounds]:
    """Run every timer ``steps`` times, taking turns in blocks of ``block`` steps.

    In round ``r`` each timer runs one block, starting with timer ``r mod n``
    and going round in order, so that no timer always follows the same one.
    (A run's timers are the copies of its arms, copy 1 of every arm, then
    copy 2 of every arm, and so on, so that the copies of an arm are spread
    over the round.) Python's
    garbage collector is paused within a round and run between rounds, so
    that a collection falls on no timed step; the objects that exist before
    the first round (the models) are frozen out of those collections
    (``gc.freeze``), which would otherwise walk every model's objects each
    round and take longer than the steps.

    Args:
        timers: A key (an arm, or an arm's copy) to a callable that runs one
            step and returns its duration in seconds.
        steps: Timed steps per timer.
        block: Steps a timer runs before the next one's turn.

    Returns:
        Each key to its step times, one list per round.
    """
    names = list(timers)
    rounds: dict[Key, Rounds] = {name: [] for name in names}
    python_gc.collect()
    python_gc.freeze()  # what exists now (the models) is left out of every later collection
    try:
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
    finally:
        python_gc.unfreeze()
    return rounds


def _as_rounds(samples: Sequence[float] | Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Per-round arrays; a flat sequence counts as a single round."""
    if len(samples) and np.ndim(samples[0]) == 0:
        return [np.asarray(samples, dtype=float)]
    return [np.asarray(r, dtype=float) for r in samples if len(r)]


def _round_medians(arm: Rounds | Sequence[Rounds]) -> np.ndarray:
    """A ``(copies, rounds)`` array of each copy's median step in each round."""
    copies = [arm] if np.ndim(arm[0][0]) == 0 else arm  # one copy's rounds, or copies
    return np.array([[np.median(r) for r in rounds] for rounds in copies], dtype=float)


def ratio_interval(
    baseline: Rounds | Sequence[Rounds],
    treated: Rounds | Sequence[Rounds],
    seed: int = 0,
    resamples: int = 4000,
    level: float = 0.95,
    resample_copies: bool = True,
) -> tuple[float, float, float]:
    """The treated arm's step time over the baseline's, and its bootstrap interval.

    Each arm is one model's step times per round of :func:`interleave`, or
    several independent copies of it (a list of those, one per copy), the
    two arms over the same rounds. In each round, an arm's step time is the
    median over its copies of each copy's median step; the round's ratio is
    the treated arm's over the baseline's, taken minutes apart at most, so a
    slow spell of the machine, which falls on both arms of a round, cancels.
    The estimate is the median of the per-round ratios.

    The percentile interval comes from a two-level bootstrap that resamples
    whole rounds (a block of steps runs at a pace of its own) and, apart
    from them, the copies. Copy ``k`` of every arm is built at the same
    point of a run (:func:`interleave`'s caller builds copy 1 of each arm,
    then copy 2, ...), and copies built together can share a pace (where
    their memory landed), so where the arms have as many copies, the copies
    are resampled in pairs (copy ``k`` of the baseline with copy ``k`` of
    the treated arm), as rounds are: a pace shared by the ``k``-th copies
    cancels, and a bias of one arm's copy widens the interval instead of
    hiding in the estimate. Where the copies do not differ, the interval
    errs wide (a copy's round-to-round noise is resampled at both levels):
    the price of not assuming that copies are alike. With one copy per arm,
    or ``resample_copies=False``, only rounds are resampled.

    Args:
        baseline: The baseline's step times in seconds: rounds, or copies of rounds.
        treated: The treated arm's, likewise, with the baseline's number of rounds.
        seed: Seed of the resampling.
        resamples: Bootstrap resamples.
        level: Coverage of the percentile interval.
        resample_copies: Resample the copies too (else rounds only).

    Returns:
        ``(ratio, low, high)``.
    """
    base, treat = _round_medians(baseline), _round_medians(treated)
    if base.shape[1] != treat.shape[1]:
        raise ValueError(f"the arms ran {base.shape[1]} and {treat.shape[1]} rounds, not paired")
    estimate = float(np.median(np.median(treat, axis=0) / np.median(base, axis=0)))
    rng = np.random.default_rng(seed)
    rounds = rng.integers(0, base.shape[1], size=(resamples, 1, base.shape[1]))

    def copies(count: int) -> np.ndarray:  # (resamples, count, 1) copy indices
        if not resample_copies:
            return np.arange(count)[None, :, None]
        return rng.integers(0, count, size=(resamples, count, 1))

    base_copies = copies(base.shape[0])
    paired = base.shape[0] == treat.shape[0]
    treat_copies = base_copies if paired else copies(treat.shape[0])

    def arm_per_round(medians: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        return np.median(medians[drawn, rounds], axis=1)  # (resamples, rounds)

    ratios = np.median(
        arm_per_round(treat, treat_copies) / arm_per_round(base, base_copies), axis=1
    )
    low, high = np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)])
    return estimate, float(low), float(high)


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
