"""Which peer arms a run includes: GC as other libraries do it, each against its own baseline.

The peers live in :mod:`.optax_peer` (JAX) and :mod:`.torch_peer` (PyTorch),
their arms of the type :class:`~benchmarks.gc_overhead.peer_arm.PeerArm`;
which of them a run includes is :func:`available_peers`'s choice.
"""

from __future__ import annotations

import importlib.util

import keras

from benchmarks.gc_overhead.peer_arm import PeerArm

__all__ = ["PEER_MODELS", "available_peers"]

PEER_MODELS = ("taxi_mlp", "hoh_cnn")
"""The Keras models the peers rewrite (ResNet50 would need torchvision / Flax)."""


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
