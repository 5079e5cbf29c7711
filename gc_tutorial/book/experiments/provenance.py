"""Where and with what a run was made: backend, device, versions, commit.

:func:`environment` describes the process it is called in (a worker records
its own), and :func:`page_provenance` says it in one line under a
chapter's outputs; :func:`weights_fingerprint` names a set of initial weights, so
that the record of each run shows which runs started alike;
:func:`optimizer_description` records an arm's optimizer settings.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.metadata
import json
import pathlib
import platform
import subprocess
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

__all__ = ["environment", "optimizer_description", "page_provenance", "weights_fingerprint"]

_BACKEND_PACKAGES = {
    "tensorflow": ("tensorflow",),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
    "numpy": (),
}


def _device_name(backend: str) -> str:
    """The accelerator the backend computes on, or ``"CPU"``."""
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return str(details.get("device_name", gpus[0].name))
    return "CPU"


RESULTS_FOLDERS = ("chapters/results", "benchmarks/results")
"""Where runs write their results: changes there do not make the code differ from its commit."""


def _git_commit(folder: pathlib.Path | None = None) -> tuple[str | None, bool | None]:
    """The commit of ``folder``'s checkout, and whether it has uncommitted changes.

    ``folder`` defaults to this package's. Changes to tracked files under
    :data:`RESULTS_FOLDERS` do not count: a study writes each finished run
    into a tracked results file as it goes, and that must not make the runs
    after it record a dirty tree.
    """
    folder = folder or pathlib.Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git(
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ":(top)",
        *(f":(top,exclude){path}" for path in RESULTS_FOLDERS),
    )
    return commit.strip(), None if status is None else bool(status.strip())


@functools.cache
def _process() -> dict[str, Any]:
    """What stays fixed for the life of a process: backend, device, versions."""
    backend = keras.backend.backend()
    packages = ("keras", "numpy", *_BACKEND_PACKAGES.get(backend, (backend,)))
    return {
        "backend": backend,
        "device": _device_name(backend),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {name: importlib.metadata.version(name) for name in packages},
    }


def environment() -> dict[str, Any]:
    """Describe this process's backend, device and versions, and the code's commit now.

    The backend, device and versions are read once per process; the commit
    and whether the checkout differs from it are read at every call, so that
    each run of a long study records the code it ran, even when the checkout
    changed while the process was running.

    Returns:
        A JSON-serializable dict: ``backend`` (Keras's), ``device`` (jax:
        ``jax.devices()[0].device_kind``; torch: the CUDA device's name;
        tensorflow: the first GPU's name; otherwise ``"CPU"``),
        ``processor`` (``platform.processor()``, or the machine type when
        that is empty), ``python``, ``versions`` (keras, numpy and the
        backend's packages), ``git_commit`` and ``git_dirty`` (``None``
        outside a git checkout).
    """
    commit, dirty = _git_commit()
    return {**_process(), "git_commit": commit, "git_dirty": dirty}


def page_provenance() -> str:
    """One line saying what made a notebook's outputs, for the end of each chapter.

    Returns:
        The date (UTC), the profile (``GC_TUTORIAL_PROFILE``), the Keras
        backend and device, and the versions of Python, Keras, NumPy, the
        backend's packages and ``gc_tutorial``.
    """
    from gc_tutorial.book.experiments.profiles import current_profile

    env = environment()
    versions = {"Python": env["python"], **env["versions"]}
    versions["gc_tutorial"] = importlib.metadata.version("gc_tutorial")
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return (
        f"Outputs made on {today} (UTC) with the {current_profile().name} profile, "
        f"Keras backend {env['backend']} on {env['device']}; "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + "."
    )


def weights_fingerprint(weights: Sequence[np.ndarray]) -> str:
    """SHA-256 of a model's weights: shapes, dtypes and values, in order."""
    digest = hashlib.sha256()
    for array in weights:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def optimizer_description(optimizer: keras.optimizers.Optimizer) -> dict[str, Any]:
    """An optimizer's class and settings, as JSON data, to compare runs by.

    Returns:
        ``{"class": "module.Class", **config}``: the optimizer's
        ``get_config()`` without its ``name`` (which Keras numbers per
        instance), every value JSON-serializable.
    """
    config = {k: v for k, v in optimizer.get_config().items() if k != "name"}
    cls = type(optimizer)
    described = {"class": f"{cls.__module__}.{cls.__qualname__}", **config}
    return json.loads(json.dumps(described, default=str))
