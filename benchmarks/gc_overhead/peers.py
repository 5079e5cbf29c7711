"""Peer arms: GC as other libraries do it, each timed against its own baseline.

A peer arm makes a :class:`~benchmarks.gc_overhead.keras_steps.StepTimer`
for a model of the same size as one of the Keras models (the same layers and
parameter counts, written in the peer's framework). The peers live in
:mod:`.optax_peer` (JAX) and :mod:`.torch_peer` (PyTorch); which of them a
run includes is :func:`available_peers`'s choice.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import keras

from benchmarks.gc_overhead.keras_steps import StepTimer
from benchmarks.gc_overhead.specs import ModelSpec

__all__ = ["PEER_MODELS", "PeerArm", "available_peers"]

PEER_MODELS = ("taxi_mlp", "hoh_cnn")
"""The Keras models the peers rewrite (ResNet50 would need torchvision / Flax)."""


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


def available_peers() -> list[PeerArm]:
    """The peer arms of the Keras backend's own framework: optax on JAX, torch on PyTorch.

    Each peer runs in the same process as the Keras arms of its framework, so
    that the two are timed side by side; TensorFlow has no peer here.
    """
    backend = keras.backend.backend()
    if backend == "jax" and importlib.util.find_spec("optax") is not None:
        from benchmarks.gc_overhead.optax_peer import OPTAX_ARMS

        return list(OPTAX_ARMS)
    if backend == "torch":
        from benchmarks.gc_overhead.torch_peer import TORCH_ARMS

        return list(TORCH_ARMS)
    return []
