"""Keep TensorFlow's start-up log out of the book's pages and the test output."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["import_keras_quietly"]


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration of the block."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def import_keras_quietly() -> None:
    """Import Keras, and TensorFlow when it is the backend, without their start-up log.

    TensorFlow's C++ start-up messages (oneDNN, CUDA stubs) are written by
    absl straight to the process's stderr before any log level applies, so
    neither ``TF_CPP_MIN_LOG_LEVEL`` nor Python's ``logging`` can stop them,
    and they would land in every notebook's stored output. This imports
    Keras with file descriptor 2 sent to ``/dev/null``, sets
    ``TF_CPP_MIN_LOG_LEVEL=3`` unless it is set, and keeps TensorFlow's
    Python logger to errors (building one model per arm and seed makes it
    warn about retracing, which is expected here).

    Call it first, before anything imports Keras, as the chapters and the
    tests' ``conftest.py`` do: it cannot unprint what an earlier import
    printed. Called again, or once Keras is imported, it only sets the
    logger level.
    """
    first = "keras" not in sys.modules
    if first:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_silenced() if first else contextlib.nullcontext():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow  # its import is what prints the log

            tensorflow.get_logger().setLevel("ERROR")
