"""What a peer arm is: GC as another library does it, with the timer of one step.

A peer arm makes a :class:`~benchmarks.gc_overhead.keras_steps.StepTimer`
for a model of the same size as one of the Keras models (the same layers and
parameter counts, written in the peer's framework). The peers
(:mod:`.optax_peer`, :mod:`.torch_peer`) define their arms with this type;
:mod:`.peers` picks those a run includes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.gc_overhead.keras_steps import StepTimer
from benchmarks.gc_overhead.specs import ModelSpec

__all__ = ["PeerArm"]


@dataclass(frozen=True)
class PeerArm:
    """One peer arm: its name, group (the peer), what it is, baseline and timer factory."""

    name: str
    group: str
    what: str
    baseline: str | None
    timer: Callable[[ModelSpec, int], StepTimer]

    @property
    def applies_gc(self) -> bool:
        """GC arms are the ones with a baseline."""
        return self.baseline is not None
