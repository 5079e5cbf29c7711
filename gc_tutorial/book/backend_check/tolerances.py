"""How close the backend checks' weights must be, and how far GC must move them.

The tolerances come from measurement. Chapter 8 compares with all of them;
``tests/book/test_backend_check.py`` with those of the backends, the devices
and mixed precision.
"""

from __future__ import annotations

__all__ = [
    "BACKEND_TOLERANCE",
    "DEVICE_TOLERANCE",
    "SAME_BACKEND_TOLERANCE",
    "GC_EFFECT",
    "MIXED_PRECISION_GAP",
]

# Same model, weights and batches on two backends differ only by float32
# round-off in different kernels (conv, matmul, reductions): measured at most
# 3.6e-7 after 8 steps (GCAdam, JAX against TensorFlow), a few float32 ulps
# of weights of size ~0.5. 1e-5 leaves a 25x margin and is 10^4 times smaller
# than what GC changes.
BACKEND_TOLERANCE = 1e-5
# One device against two on the same global batches: two half-batch
# gradients summed in another order. Measured at most 4.2e-7.
DEVICE_TOLERANCE = 1e-5
# The same optimizer reached two ways on one backend (subclass, wrapper,
# GCModel, save and resume): 0 except on PyTorch, 6e-8, where
# keras.optimizers.Adam() builds Keras's fused torch Adam, which the wrapper
# wraps and the GCAdam subclass does not use.
SAME_BACKEND_TOLERANCE = 1e-6
# What GC must change for the comparisons to mean anything (measured ~0.1).
GC_EFFECT = 1e-3
# Mixed precision: per-epoch loss relative to float32. float16 keeps 11
# significant bits, and the runs drift apart over 490 steps: measured at most
# 0.38% (JAX; 0.09% on TensorFlow, 0.06% on PyTorch); 2% leaves a 5x margin.
MIXED_PRECISION_GAP = 0.02
