"""Gradient Centralization for Keras 3: the package behind the tutorial book.

Public API:

- :func:`centralize_gradient`, :func:`centralize_gradients` -- the operator;
  :func:`centralizes` / :func:`is_kernel` -- which variables it applies to;
  :func:`unit_means` -- the per-unit means GC keeps fixed;
- :func:`centralized` and the ready-made :class:`GCSGD`, :class:`GCAdam`,
  :class:`GCAdamW`, :class:`GCRMSprop` -- GC optimizer subclasses, each with
  ``where="gradient"`` or ``"update"``;
- :class:`GradientCentralization` -- GC around an optimizer instance;
- :class:`GCModel` -- a ``keras.Model`` whose ``train_step`` applies GC.

Submodules ``data``, ``experiments`` and ``plotting`` hold the book's data
loaders, seeded comparisons and figures.
"""

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration of the block.

    TensorFlow's C++ start-up messages (oneDNN, CUDA stubs) are written by
    absl straight to the process's stderr before any log level applies, so
    neither ``TF_CPP_MIN_LOG_LEVEL`` nor Python's ``logging`` can stop them,
    and they would land in every notebook's stored output.
    """
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
with _native_stderr_silenced():
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow

        # Building many models in one process (one per arm and seed) makes
        # TensorFlow warn about retracing; that is expected here.
        tensorflow.get_logger().setLevel("ERROR")

from gc_tutorial.centralize import (  # noqa: E402
    centralize_gradient,
    centralize_gradients,
    centralizes,
    is_kernel,
    unit_means,
)
from gc_tutorial.models import GCModel  # noqa: E402
from gc_tutorial.optimizers import (  # noqa: E402
    GCSGD,
    GCAdam,
    GCAdamW,
    GCRMSprop,
    GradientCentralization,
    centralized,
)

__version__ = "0.1.0"

__all__ = [
    "centralize_gradient",
    "centralize_gradients",
    "centralizes",
    "is_kernel",
    "unit_means",
    "centralized",
    "GCSGD",
    "GCAdam",
    "GCAdamW",
    "GCRMSprop",
    "GradientCentralization",
    "GCModel",
]
