"""Check that GC trains the same on every Keras backend and on two devices.

Each check trains the same small model with the GC optimizers on one Keras
backend and saves the weights, for another process to compare. A Python
process has one Keras backend, chosen by ``KERAS_BACKEND`` before ``keras``
is first imported, so comparing backends takes one process per backend.
This package, run as a script, is that process::

    KERAS_BACKEND=jax python -m gc_tutorial.book.backend_check routes out.npz

The modules:

- :mod:`.problem`: the small model, its NumPy starting weights, its data and
  the fixed-order ``fit`` every check trains with;
- :mod:`.scenarios`: what a worker runs (``routes`` on any backend,
  ``mirrored`` on TensorFlow, ``jax_data_parallel`` on JAX);
- :mod:`.mixed_precision`: float32 against mixed_float16, in the calling
  process;
- :mod:`.tolerances`: how close the results must be, from measurement;
- :mod:`.worker`: starting a worker (:func:`run_worker`) and reading the
  results it saves;
- ``__main__``: the worker's command line.

``tests/book/test_backend_check.py`` and the book's chapter 8 use the names
this package exports. Importing it imports only NumPy: each scenario imports
Keras, on the backend ``KERAS_BACKEND`` names, and only the TensorFlow
scenario imports TensorFlow, so the worker runs on JAX and PyTorch without
it, and the ``mirrored`` scenario can split the CPU before TensorFlow's
runtime starts.
"""

from __future__ import annotations

from gc_tutorial.book.backend_check.mixed_precision import mixed_precision_losses
from gc_tutorial.book.backend_check.problem import (
    BATCH_SIZE,
    EPOCHS,
    N_EXAMPLES,
    initial_weights,
)
from gc_tutorial.book.backend_check.scenarios import (
    BACKENDS,
    JAX_HOST_DEVICES_FLAG,
    fit_data_parallel,
    fit_mirrored,
    two_logical_cpus,
)
from gc_tutorial.book.backend_check.tolerances import (
    BACKEND_TOLERANCE,
    DEVICE_TOLERANCE,
    GC_EFFECT,
    MIXED_PRECISION_GAP,
    SAME_BACKEND_TOLERANCE,
)
from gc_tutorial.book.backend_check.worker import (
    MODULE,
    PACKAGE_PARENT,
    run_worker,
    worker_env,
)

__all__ = [
    "BACKENDS",
    "JAX_HOST_DEVICES_FLAG",
    "N_EXAMPLES",
    "BATCH_SIZE",
    "EPOCHS",
    "initial_weights",
    "two_logical_cpus",
    "fit_mirrored",
    "fit_data_parallel",
    "mixed_precision_losses",
    "BACKEND_TOLERANCE",
    "DEVICE_TOLERANCE",
    "SAME_BACKEND_TOLERANCE",
    "GC_EFFECT",
    "MIXED_PRECISION_GAP",
    "MODULE",
    "PACKAGE_PARENT",
    "worker_env",
    "run_worker",
]
