"""The GC cost benchmark (``benchmarks/gc_overhead``): its statistics, arms, peers and output.

Fast checks of what the benchmark's numbers rest on, on whichever backend
KERAS_BACKEND names; no timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from benchmarks.gc_overhead import report
from benchmarks.gc_overhead.arms import ARMS, GCModelWithoutGC, build_arm, register
from benchmarks.gc_overhead.keras_steps import keras_step_timer
from benchmarks.gc_overhead.run import main
from benchmarks.gc_overhead.specs import model_specs
from benchmarks.gc_overhead.timing import interleave, ratio_interval
from gc_tutorial import GCModel, centralize_gradient

REPO = Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()
HAS_OPTAX = importlib.util.find_spec("optax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _step_rounds(rng: np.random.Generator, scale: float = 1.0) -> list[list[float]]:
    """Ten rounds of twenty noisy step times (log-normal, 10% spread) around ``scale``."""
    return [list(scale * rng.lognormal(0.0, 0.1, size=20)) for _ in range(10)]


def _taxi():
    return model_specs(BACKEND, quick=True)["taxi_mlp"]


# --- The statistics -----------------------------------------------------------


def test_the_interval_finds_a_planted_ten_percent_slowdown():
    rng = np.random.default_rng(1)
    baseline, treated = _step_rounds(rng), _step_rounds(rng, scale=1.10)
    ratio, low, high = ratio_interval(baseline, treated)
    assert low <= 1.10 <= high
    assert low > 1.0  # the slowdown is told from noise
    assert ratio == pytest.approx(1.10, abs=0.03)


def test_identical_samples_give_a_ratio_of_one_inside_its_interval():
    samples = _step_rounds(np.random.default_rng(2))
    ratio, low, high = ratio_interval(samples, samples)
    assert ratio == 1.0
    assert low <= 1.0 <= high


def test_the_interval_covers_the_truth_when_each_block_has_a_pace_of_its_own():
    # A block of steps runs at its own pace (the machine's other load, caches): the
    # rounds, not the steps, are what varies, so the interval must resample rounds.
    rng = np.random.default_rng(4)

    def rounds() -> list[list[float]]:
        return [list(rng.lognormal(rng.normal(0.0, 0.1), 0.02, size=5)) for _ in range(20)]

    covered = sum(
        low <= 1.0 <= high
        for _, low, high in (ratio_interval(rounds(), rounds(), resamples=1000) for _ in range(100))
    )
    assert covered >= 88  # a 95% interval; steps resampled within rounds covered 32


def test_interleaving_gives_each_arm_its_steps_in_blocks_in_rotating_order():
    calls: list[str] = []

    def timer(name: str):
        return lambda: calls.append(name) or 0.001

    rounds = interleave({"a": timer("a"), "b": timer("b")}, steps=10, block=4)
    assert [len(r) for r in rounds["a"]] == [4, 4, 2]
    assert [len(r) for r in rounds["b"]] == [4, 4, 2]
    assert "".join(calls) == "aaaabbbb" + "bbbbaaaa" + "aabb"


# --- The arms -------------------------------------------------------------------


def test_every_arm_is_registered_once_and_gc_arms_name_a_baseline_without_gc():
    assert {"plain", "subclass", "wrapper", "update", "GCModel without GC", "GCModel"} <= set(ARMS)
    for arm in ARMS.values():
        assert callable(arm.build)
        if arm.applies_gc:
            assert not ARMS[arm.baseline].applies_gc
    (control,) = [arm for arm in ARMS.values() if arm.control]
    assert control.baseline == "plain" and not control.applies_gc
    with pytest.raises(ValueError, match="registered already"):
        register("plain", "again")(ARMS["plain"].build)
    with pytest.raises(ValueError, match="no comma in a name"):
        register("plain, again", "again")(ARMS["plain"].build)


def test_the_gcmodel_baseline_differs_from_gcmodel_only_by_an_identity_hook():
    assert issubclass(GCModelWithoutGC, GCModel)
    grads = [np.ones((2, 3)), None]
    assert GCModelWithoutGC.transform_gradients(None, grads, []) == grads


@pytest.mark.parametrize("name", list(ARMS))
def test_every_arm_builds_a_model_that_takes_a_training_step(name):
    spec = _taxi()
    model = build_arm(ARMS[name], spec.build, spec.optimizer, spec.learning_rate, spec.loss)
    timer = keras_step_timer(model, *spec.inputs(np.random.default_rng(0)))
    assert timer() > 0
    assert np.isfinite(timer.last_loss)


# --- The peers: the same operator, in another layout ------------------------


def _keras_gc(grad: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(centralize_gradient(keras.ops.convert_to_tensor(grad)))


# Keras kernel -> PyTorch/optax layout (output units first), and back.
LAYOUTS = {
    "dense": ((5, 3), (1, 0), (1, 0)),
    "conv2d": ((3, 3, 4, 6), (3, 2, 0, 1), (2, 3, 1, 0)),
}


@pytest.mark.skipif(not HAS_OPTAX, reason="optax is not installed")
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_optax_centralize_is_our_gc_once_kernels_have_the_output_axis_first(layout):
    from benchmarks.gc_overhead.optax_peer import centralize_like_optax

    shape, to_torch, back = LAYOUTS[layout]
    grad = np.random.default_rng(3).normal(size=shape).astype("float32")
    theirs = np.asarray(centralize_like_optax(grad.transpose(to_torch))).transpose(back)
    np.testing.assert_allclose(theirs, _keras_gc(grad), atol=1e-6)
    # On the Keras/Flax layout itself it averages over the wrong axes.
    assert not np.allclose(np.asarray(centralize_like_optax(grad)), _keras_gc(grad), atol=1e-3)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_official_torch_gc_line_is_our_gc_on_the_torch_layout(layout):
    import torch

    from benchmarks.gc_overhead.torch_peer import centralized_gradient_

    shape, to_torch, back = LAYOUTS[layout]
    grad = np.random.default_rng(4).normal(size=shape).astype("float32")
    theirs = centralized_gradient_(torch.from_numpy(grad.transpose(to_torch)).clone())
    np.testing.assert_allclose(theirs.numpy().transpose(back), _keras_gc(grad), atol=1e-6)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("official", ["Adam_GC", "SGD_GC"])
def test_the_official_optimizers_are_torchs_own_on_centralized_gradients(official):
    import torch

    from benchmarks.gc_overhead import torch_peer
    from benchmarks.gc_overhead.torch_peer import centralized_gradient_

    plain = {
        "Adam_GC": lambda p: torch.optim.Adam(p, lr=0.01, foreach=False),
        "SGD_GC": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=False),
    }[official]
    gc = {
        "Adam_GC": lambda p: torch_peer.Adam_GC(p, lr=0.01),
        "SGD_GC": lambda p: torch_peer.SGD_GC(p, lr=0.01, momentum=0.9),
    }[official]
    rng = np.random.default_rng(5)
    start = [torch.from_numpy(rng.normal(size=s).astype("float32")) for s in ((4, 3), (4,))]
    grads = [[torch.from_numpy(rng.normal(size=w.shape).astype("float32")) for w in start]] * 3
    ours = [w.clone().requires_grad_() for w in start]
    reference = [w.clone().requires_grad_() for w in start]
    ours_opt, reference_opt = gc(ours), plain(reference)
    for step in grads:
        for w, g in zip(ours, step, strict=True):
            w.grad = g.clone()
        for w, g in zip(reference, step, strict=True):
            w.grad = centralized_gradient_(g.clone())
        ours_opt.step()
        reference_opt.step()
    for a, b in zip(ours, reference, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6)


def test_the_backends_own_peer_trains_one_step():
    from benchmarks.gc_overhead.peers import available_peers

    peers = available_peers()
    if not peers:
        pytest.skip(f"no peer for the {BACKEND} backend")
    for peer in peers:
        timer = peer.timer(_taxi(), 0)
        assert timer() > 0
        assert np.isfinite(timer.last_loss)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_benchmark_does_not_import_tensorflow_on_other_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    code = (
        "import sys, benchmarks.gc_overhead.run, benchmarks.gc_overhead.peers; "
        "sys.exit('tensorflow' in sys.modules)"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env).returncode == 0


# --- A whole run, tiny ---------------------------------------------------------


def test_a_quick_run_writes_results_with_their_provenance(tmp_path):
    out = tmp_path / "cpu-quick.json"
    args = ["--quick", "--models", "taxi_mlp", "--arms", "subclass", "--no-peers"]
    assert main([*args, "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["backend"] == BACKEND
    assert results["command"].endswith(
        "python -m benchmarks.gc_overhead " + " ".join(args) + " --out " + str(out)
    )
    assert results["date_utc"] and results["versions"]["keras"] == keras.__version__
    assert results["device"] == "cpu" and results["device_name"].lower() == "cpu"
    assert "git_commit" in results and "git_dirty" in results
    for field in ("cpu_model", "logical_cores", "usable_cores", "memory_gib"):
        assert field in results["machine"]
    assert set(results["load_average"]) == {"start", "end"}
    (row,) = results["comparisons"]
    assert (row["arm"], row["baseline"]) == ("subclass", "plain")
    low, high = row["ratio_ci95"]
    assert low <= row["ratio"] <= high
    assert results["gc_pass"][0]["floor_ms"] > 0
    assert out.with_suffix(".md").read_text().startswith("# What GC costs")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.BEGIN}\nold\n{report.END}\nend\n")
    report.main([str(out), "--readme", str(readme)])
    text = readme.read_text()
    assert "old" not in text and "| taxi MLP | subclass | plain |" in text
    assert text.startswith("intro\n") and text.endswith("end\n")
