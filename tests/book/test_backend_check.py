"""GC on the JAX and PyTorch backends, on two devices, and in mixed precision.

A process has one Keras backend, so the backend and multi-device checks run
``python -m gc_tutorial.book.backend_check`` in a subprocess per backend (or
engine) and compare the weights it saves. JAX and PyTorch come from
``requirements-backends.txt``; without them these tests fail, they do not
skip.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import unit_means_of

from gc_tutorial.book import backend_check as worker
from gc_tutorial.book.backend_check import (
    BACKEND_TOLERANCE,
    BACKENDS,
    DEVICE_TOLERANCE,
    GC_EFFECT,
    MIXED_PRECISION_GAP,
    SAME_BACKEND_TOLERANCE,
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


def unit_means(weights: list[np.ndarray], index: int) -> np.ndarray:
    """Per-output-unit mean of kernel ``index``."""
    return unit_means_of(weights[index])


CONV_KERNEL, DENSE_KERNEL = 0, 2


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
    assert (worker.PACKAGE_PARENT / "gc_tutorial" / "book" / "backend_check.py").is_file()
    assert env["KERAS_BACKEND"] == "jax"
    assert worker.JAX_HOST_DEVICES_FLAG in env["XLA_FLAGS"]


# One backend at a time ----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_subclass_and_wrapper_agree_and_differ_from_plain(results, backend):
    r = results("routes", backend)
    assert r["backend"] == backend
    assert max_difference(r["GCAdam"], r["wrapper(Adam)"]) < SAME_BACKEND_TOLERANCE
    assert max_difference(r["GCAdam"], r["Adam"]) > GC_EFFECT
    assert max_difference(r["GCSGD"], r["SGD"]) > GC_EFFECT


@pytest.mark.parametrize("backend", BACKENDS)
def test_gc_sgd_keeps_kernel_unit_means_and_gcc_only_the_conv_ones(results, backend):
    r = results("routes", backend)
    start = r["initial"]
    for kernel in (CONV_KERNEL, DENSE_KERNEL):
        np.testing.assert_allclose(
            unit_means(r["GCSGD"], kernel), unit_means(start, kernel), atol=1e-6
        )
        assert np.max(np.abs(unit_means(r["SGD"], kernel) - unit_means(start, kernel))) > GC_EFFECT
    np.testing.assert_allclose(
        unit_means(r["GCCSGD"], CONV_KERNEL), unit_means(start, CONV_KERNEL), atol=1e-6
    )
    assert (
        np.max(np.abs(unit_means(r["GCCSGD"], DENSE_KERNEL) - unit_means(start, DENSE_KERNEL)))
        > GC_EFFECT
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_gc_model_loads_and_resumes_exactly(results, backend):
    r = results("routes", backend)
    assert r["restored_optimizer"] == "GCAdam"
    assert r["restored_iterations"] == 4
    assert max_difference(r["GCAdam resumed"], r["GCAdam"]) < SAME_BACKEND_TOLERANCE


@pytest.mark.parametrize("backend", BACKENDS)
def test_gcmodel_trains_like_the_gc_optimizers(results, backend):
    r = results("routes", backend)
    assert max_difference(r["GCModel(Adam)"], r["GCAdam"]) < SAME_BACKEND_TOLERANCE


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_mode_keeps_kernel_unit_means_and_routes_agree(results, backend):
    r = results("routes", backend)
    assert max_difference(r["GCAdam update"], r["wrapper(Adam) update"]) < SAME_BACKEND_TOLERANCE
    for kernel in (CONV_KERNEL, DENSE_KERNEL):
        np.testing.assert_allclose(
            unit_means(r["GCAdam update"], kernel), unit_means(r["initial"], kernel), atol=1e-6
        )


# On PyTorch, Keras hands out its own fused subclasses of the public optimizers
# (keras.optimizers.get("adam") is a torch_adam.Adam); centralized("adam") must
# still give the one registered GCAdam, or saved models load with another class.
@pytest.mark.parametrize("backend", BACKENDS)
def test_optimizer_name_gives_the_registered_gc_class(results, backend):
    r = results("routes", backend)
    assert r["name_gives_GCAdam"]
    assert r["registry_keeps_GCAdam"]


# Across backends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "route", ["GCSGD", "GCAdam", "wrapper(Adam)", "GCCSGD", "GCAdam update", "GCModel(Adam)"]
)
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_trains_to_tensorflows_weights(results, backend, route):
    reference = results("routes", "tensorflow")
    other = results("routes", backend)
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


def relative_gap(curve: list[float], reference: list[float]) -> np.ndarray:
    return np.abs(np.array(curve) - np.array(reference)) / np.array(reference)


def test_mixed_float16_with_loss_scaling_tracks_float32_on_taxi_fares():
    r = worker.mixed_precision_losses(epochs=5)
    assert all(math.isfinite(v) for v in r["mixed_float16"])
    assert 0 < r["applied_steps"] <= r["steps"]
    gap = relative_gap(r["mixed_float16"], r["float32"])
    assert gap.max() < MIXED_PRECISION_GAP
    assert r["mixed_float16"][-1] < 0.7 * r["mixed_float16"][0]
