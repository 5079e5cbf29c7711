"""Starting a worker process on a backend, and reading the results it saves.

A Python process has one Keras backend, chosen by ``KERAS_BACKEND`` before
``keras`` is first imported, so comparing backends takes one process per
backend: :func:`run_worker` starts ``python -m gc_tutorial.book.backend_check``
(:mod:`gc_tutorial.book.backend_check.__main__`) with :func:`worker_env`, and
reads the ``.npz`` it writes with :func:`save_results` back with
:func:`load_results`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gc_tutorial.book.backend_check.scenarios import JAX_HOST_DEVICES_FLAG

__all__ = [
    "MODULE",
    "PACKAGE_PARENT",
    "worker_env",
    "run_worker",
    "load_results",
    "save_results",
]

MODULE = "gc_tutorial.book.backend_check"
"""What ``python -m`` runs: this package, whose ``__main__`` is the worker."""
# The folder that holds the gc_tutorial package imported here: the repository
# for a checkout, site-packages for an installed package.
PACKAGE_PARENT = Path(__file__).resolve().parents[3]


def worker_env(backend: str, scenario: str) -> dict[str, str]:
    """The environment a worker process needs: package, backend, and host devices.

    Args:
        backend: The Keras backend the worker runs on.
        scenario: One of :data:`SCENARIOS`; ``"jax_data_parallel"`` also asks
            JAX for :data:`N_DEVICES` host devices.

    Returns:
        This process's environment with those variables set; ``PYTHONPATH``
        starts with :data:`PACKAGE_PARENT`, so the worker imports the same
        ``gc_tutorial`` as this process.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    paths = [str(PACKAGE_PARENT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if scenario == "jax_data_parallel":
        flags = env.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            env["XLA_FLAGS"] = f"{flags} {JAX_HOST_DEVICES_FLAG}".strip()
    return env


def run_worker(
    scenario: str, backend: str, out: Path | str, timeout: float = 600
) -> dict[str, Any]:
    """Run ``python -m gc_tutorial.book.backend_check scenario out`` under ``backend``.

    Scratch files (a saved model) go to ``out``'s folder.

    Args:
        scenario: One of :data:`SCENARIOS`.
        backend: The Keras backend to run it on; one the scenario allows.
        out: The ``.npz`` file the worker saves its results to.
        timeout: Seconds the worker may take.

    Returns:
        The results it saved, as :func:`load_results` reads them.

    Raises:
        RuntimeError: the worker failed; the message ends with its stderr.
    """
    command = [sys.executable, "-m", MODULE, scenario, str(out)]
    done = subprocess.run(
        command,
        env=worker_env(backend, scenario),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"KERAS_BACKEND={backend} {' '.join(command[1:])} failed "
            f"(exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    return load_results(out)


def load_results(path: Path | str) -> dict[str, Any]:
    """Read a worker's ``.npz``: weight lists per run, and plain values.

    Weights are saved as ``"<run>/<index>"``; they come back as
    ``results[run] == [array, array, ...]``, in ``model.get_weights()`` order.
    Other entries come back as Python scalars or strings.

    Args:
        path: The file a worker (or :func:`save_results`) wrote.

    Returns:
        The results, by name.
    """
    results: dict[str, Any] = {}
    weights: dict[str, dict[int, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            if "/" in key:
                run, index = key.rsplit("/", 1)
                weights.setdefault(run, {})[int(index)] = data[key]
            else:
                results[key] = data[key].item()
    for run, arrays in weights.items():
        results[run] = [arrays[i] for i in range(len(arrays))]
    return results


def save_results(results: dict[str, Any], path: Path | str) -> None:
    """Save :func:`routes`-style results in the layout :func:`load_results` reads.

    Args:
        results: Lists of arrays (weights) and plain values, by name.
        path: The ``.npz`` file to write.
    """
    arrays: dict[str, Any] = {}  # Any: numpy's stubs type savez's keywords as options
    for key, value in results.items():
        if isinstance(value, list):
            for index, array in enumerate(value):
                arrays[f"{key}/{index}"] = np.asarray(array)
        else:
            arrays[key] = np.asarray(value)
    np.savez(path, **arrays)
