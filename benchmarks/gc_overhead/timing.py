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
from scipy import stats

__all__ = [
    "TRIM",
    "Rounds",
    "copy_bandwidth",
    "interleave",
    "pair_ratios",
    "ratio_interval",
    "summary_ms",
    "time_calls",
]

Rounds = list[list[float]]
"""One arm's step times in seconds, one inner list per round of the interleaving."""

Key = TypeVar("Key", bound=Hashable)


def interleave(
    timers: Mapping[Key, Callable[[], float]],
    steps: int,
    block: int,
    group: Callable[[Key], Hashable] | None = None,
    seed: int | np.random.Generator = 0,
) -> dict[Key, Rounds]:
    """Run every timer ``steps`` times, taking turns in blocks of ``block`` steps.

    The timers fall into groups (``group`` of a key; by default each timer is
    a group of its own) that take their turns one after the other in every
    round. In round ``r`` each timer runs one block: the groups go round in
    order starting with group ``r mod n``, and within a group the timers run
    in an order drawn afresh each round (from ``seed``), so that no timer
    always follows the same one or holds the same place in its group. (A
    run's timers are the copies of its arms, grouped by copy: copy 1 of
    every arm, then copy 2 of every arm, and so on, so that copy ``k`` of
    every arm runs seconds from copy ``k`` of the others, and the copies of
    an arm are spread over the round.) Python's garbage collector is paused
    within a round and run between rounds, so that a collection falls on no
    timed step; the objects that exist before the first round (the models)
    are frozen out of those collections (``gc.freeze``), which would
    otherwise walk every model's objects each round and take longer than
    the steps.

    Args:
        timers: A key (an arm, or an arm's copy) to a callable that runs one
            step and returns its duration in seconds.
        steps: Timed steps per timer.
        block: Steps a timer runs before the next one's turn.
        group: The group of a key (default: the key itself).
        seed: Seed of (or generator for) the order within each group.

    Returns:
        Each key to its step times, one list per round.
    """
    groups: dict[Hashable, list[Key]] = {}
    for name in timers:
        groups.setdefault(name if group is None else group(name), []).append(name)
    members = list(groups.values())
    rng = np.random.default_rng(seed)
    rounds: dict[Key, Rounds] = {name: [] for name in timers}
    python_gc.collect()
    python_gc.freeze()  # what exists now (the models) is left out of every later collection
    try:
        for index in range(math.ceil(steps / block)):
            count = min(block, steps - index * block)
            shift = index % len(members)
            order = [
                names[i]
                for names in members[shift:] + members[:shift]
                for i in rng.permutation(len(names))
            ]
            python_gc.collect()
            python_gc.disable()
            try:
                for name in order:
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


TRIM = 0.1
"""The share of the paired log ratios cut from each end before they are averaged."""


def _paired_logs(
    baseline: Rounds | Sequence[Rounds], treated: Rounds | Sequence[Rounds]
) -> np.ndarray:
    """A ``(copies, rounds)`` array: log of each copy's median step in a round over its pair's."""
    base, treat = _round_medians(baseline), _round_medians(treated)
    if base.shape != treat.shape:
        raise ValueError(
            f"the arms have {base.shape} and {treat.shape} (copies, rounds), not paired"
        )
    return np.log(treat) - np.log(base)


def pair_ratios(
    baseline: Rounds | Sequence[Rounds], treated: Rounds | Sequence[Rounds]
) -> np.ndarray:
    """Each pair of copies' ratio, treated copy ``k`` over baseline copy ``k``.

    It is the exponential of the trimmed mean, over the rounds, of the
    pair's log ratios: what :func:`ratio_interval`'s t interval spreads
    over. A bias of one copy, which more rounds do not remove, shows here.

    Raises:
        ValueError: the arms differ in their number of copies or rounds.
    """
    return np.exp(stats.trim_mean(_paired_logs(baseline, treated), TRIM, axis=1))


def ratio_interval(
    baseline: Rounds | Sequence[Rounds],
    treated: Rounds | Sequence[Rounds],
    seed: int = 0,
    resamples: int = 4000,
    level: float = 0.95,
    resample_copies: bool = True,
) -> tuple[float, float, float]:
    """The treated arm's step time over the baseline's, and its interval.

    Each arm is one model's step times per round of :func:`interleave`, or
    several independent copies of it (a list of those, one per copy), the
    two arms with as many copies and rounds. Copy ``k`` of every arm is built
    at the same point of a run and takes its turn next to copy ``k`` of the
    other arms in every round (:func:`interleave`'s caller groups them so),
    so each copy's median step in a round is paired with the baseline's
    copy ``k`` in the same round, seconds apart: a slow spell of the machine,
    and a pace the ``k``-th copies share (where their memory landed), fall
    on both and cancel in their log ratio. The estimate is the exponential
    of the trimmed mean (:data:`TRIM` cut from each end, for the odd step
    that stalls) of all those paired log ratios.

    The interval is the wider of two, so that it errs wide whichever of two
    kinds of noise dominates:

    - a percentile bootstrap that resamples whole rounds (a block of steps
      runs at a pace of its own) and, apart from them, the pairs of copies;
    - a t interval over the pairs of copies (each pair's trimmed mean over
      the rounds), which a bias of one arm's copy widens as it should even
      with few copies, where a bootstrap over them comes out too narrow.

    With one copy per arm, or ``resample_copies=False``, only the rounds'
    bootstrap is taken.

    Args:
        baseline: The baseline's step times in seconds: rounds, or copies of rounds.
        treated: The treated arm's, likewise, with the baseline's copies and rounds.
        seed: Seed of the resampling.
        resamples: Bootstrap resamples.
        level: Coverage of the interval.
        resample_copies: Take the copies' spread into the interval (else rounds only).

    Returns:
        ``(ratio, low, high)``.

    Raises:
        ValueError: the arms differ in their number of copies or rounds.
    """
    logs = _paired_logs(baseline, treated)
    estimate = float(stats.trim_mean(logs, TRIM, axis=None))
    copies, rounds = logs.shape
    by_copies = resample_copies and copies > 1
    rng = np.random.default_rng(seed)
    drawn = np.empty(resamples)
    for chunk in np.array_split(np.arange(resamples), max(1, resamples * logs.size // 2**22)):
        picked_rounds = rng.integers(0, rounds, size=(chunk.size, 1, rounds))
        picked_copies = (
            rng.integers(0, copies, size=(chunk.size, copies, 1))
            if by_copies
            else np.arange(copies)[None, :, None]
        )
        cells = logs[picked_copies, picked_rounds].reshape(chunk.size, -1)
        drawn[chunk] = stats.trim_mean(cells, TRIM, axis=1)
    low, high = np.percentile(drawn, [50 * (1 - level), 50 * (1 + level)])
    if by_copies:
        pairs = stats.trim_mean(logs, TRIM, axis=1)
        t_low, t_high = stats.ttest_1samp(pairs, 0.0).confidence_interval(level)
        low, high = min(low, t_low), max(high, t_high)
    return float(np.exp(estimate)), float(np.exp(low)), float(np.exp(high))


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
