"""GC trains to the same weights on every backend and on two devices as on one.

A process has one Keras backend, so these checks run ``python -m
gc_tutorial.book.backend_check`` in a subprocess per backend (or engine) and
compare the weights it saves; the worker itself is tested first. What GC does
on one backend (each route, saving, update mode, mixed precision) is the
library tests' (``tests/library``, which CI runs on every backend); here is
only how the backends and the devices agree, and chapter 8's mixed-precision
claim. JAX and PyTorch come from ``requirements-backends.txt``; without them
these tests fail, they do not skip.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gc_tutorial.book import backend_check as worker
from gc_tutorial.book.backend_check import (
    BACKEND_TOLERANCE,
    DEVICE_TOLERANCE,
    MIXED_PRECISION_GAP,
)
from gc_tutorial.book.examples import max_difference


def require(backend: str) -> None:
    """Fail, naming the fix, when ``backend``'s library is not installed."""
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"The {backend} backend needs {module!r}, which is not installed: "
            "run `pip install -r requirements-backends.txt`."
        )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], dict[str, Any]]:
    """``results(scenario, backend)``: the worker's results, run once per pair."""
    folder = tmp_path_factory.mktemp("backends")

    @functools.cache
    def run(scenario: str, backend: str) -> dict[str, Any]:
        require(backend)
        return worker.run_worker(scenario, backend, folder / f"{scenario}_{backend}.npz")

    return run


# The worker itself --------------------------------------------------------------


def test_worker_runs_as_a_module_of_the_package_from_any_folder(tmp_path):
    # From a folder that holds no gc_tutorial, with the environment run_worker
    # gives it: a wrong command line gets the usage, so the package was found.
    done = subprocess.run(
        [sys.executable, "-m", worker.MODULE, "no_such_scenario", "out.npz"],
        cwd=tmp_path,
        env=worker.worker_env("tensorflow", "routes"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"usage: python -m {worker.MODULE} {{routes|mirrored|jax_data_parallel}}" in done.stderr


def test_worker_env_puts_the_imported_package_first_on_the_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "elsewhere")
    env = worker.worker_env("jax", "jax_data_parallel")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(worker.PACKAGE_PARENT), "elsewhere"]
    assert (
        worker.PACKAGE_PARENT / "gc_tutorial" / "book" / "backend_check" / "__main__.py"
    ).is_file()
    assert env["KERAS_BACKEND"] == "jax"
    assert worker.JAX_HOST_DEVICES_FLAG in env["XLA_FLAGS"]


# Across backends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "route", ["GCSGD", "GCAdam", "wrapper(Adam)", "GCCSGD", "GCAdam update", "GCModel(Adam)"]
)
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_trains_to_tensorflows_weights(results, backend, route):
    reference = results("routes", "tensorflow")
    other = results("routes", backend)
    assert other["backend"] == backend
    assert max_difference(other["initial"], reference["initial"]) == 0.0
    assert max_difference(other[route], reference[route]) < BACKEND_TOLERANCE


# Several devices ---------------------------------------------------------------------


@pytest.mark.parametrize("route", ["GCSGD", "GCAdam", "GCAdam update"])
def test_mirrored_strategy_on_two_cpus_matches_one_device(results, route):
    r = results("mirrored", "tensorflow")
    assert r["replicas"] == 2
    assert max_difference(r[f"{route} mirrored"], r[f"{route} single"]) < DEVICE_TOLERANCE
    # And the single-device run is the routes scenario's: nothing else changed.
    assert max_difference(r[f"{route} single"], results("routes", "tensorflow")[route]) == 0.0


def test_mirrored_strategy_centralizes_per_replica_which_equals_once(results):
    r = results("mirrored", "tensorflow")
    # Keras calls optimizer.apply() in each replica's context: GC runs on each
    # replica's gradient, and the all-reduce sums them afterwards.
    assert r["apply_replicas"] == "2" and r["apply_calls"] >= 2
    # GC is linear, so that equals centralizing the summed gradient once
    # (gradients of size ~0.2: float32 round-off is ~1e-8).
    assert r["linearity_gap"] < 1e-6


@pytest.mark.parametrize("route", ["GCSGD", "GCAdam", "GCAdam update"])
def test_jax_data_parallel_on_two_devices_matches_one_device(results, route):
    r = results("jax_data_parallel", "jax")
    assert r["weight_devices"] == 2 and r["weights_replicated"]
    assert max_difference(r[f"{route} data parallel"], r[f"{route} single"]) < DEVICE_TOLERANCE
    assert max_difference(r[f"{route} single"], results("routes", "jax")[route]) == 0.0


# Mixed precision ---------------------------------------------------------------------


def test_mixed_float16_tracks_float32_within_chapter_8s_gap_on_taxi_fares():
    # That GC trains under loss scaling at all is test_optimizers.py's; this is
    # how close it stays to float32 on the chapter's real problem.
    r = worker.mixed_precision_losses(epochs=5)
    assert 0 < r["applied_steps"] <= r["steps"]
    gap = np.abs(np.array(r["mixed_float16"]) - r["float32"]) / np.array(r["float32"])
    assert gap.max() < MIXED_PRECISION_GAP
