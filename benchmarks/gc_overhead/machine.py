"""The machine a run happened on, the library versions, and the load."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

import keras

from gc_tutorial.book.experiments.provenance import environment

__all__ = ["backend_settings", "device", "environment", "load_average", "machine", "versions"]

_LIBRARIES = ("numpy", "keras", "tensorflow", "jax", "jaxlib", "optax", "torch", "gc_tutorial")


def _proc_field(path: str, name: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """CPU model and cache, cores (logical and usable), memory, OS, Python."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    memory = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_cache": _proc_field("/proc/cpuinfo", "cache size"),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": round(int(memory.split()[0]) / 2**20, 1) if memory else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    """Installed versions of the libraries that matter here (read, not imported)."""
    found = {}
    for name in _LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def device() -> str:
    """``"gpu"`` if the Keras backend computes on a GPU here, else ``"cpu"``.

    Read off the device name that :func:`gc_tutorial.book.experiments.provenance.environment`
    finds for the backend (``"CPU"``, ``"cpu"`` or the accelerator's name).
    """
    return "cpu" if environment()["device"].lower() == "cpu" else "gpu"


def backend_settings() -> dict[str, Any]:
    """The backend's threading settings, where it has any to read."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return {
            "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    if backend == "torch":
        import torch

        return {"torch_threads": torch.get_num_threads()}
    import jax

    return {"jax_devices": [str(d) for d in jax.devices()]}


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages, where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
