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
from scipy import stats

from benchmarks.gc_overhead import pool, report
from benchmarks.gc_overhead.arms import ARMS, GCModelWithoutGC, build_arm, register
from benchmarks.gc_overhead.compare import DECIMALS
from benchmarks.gc_overhead.keras_steps import keras_step_timer
from benchmarks.gc_overhead.run import build_orders, family_arms, main, parse_args
from benchmarks.gc_overhead.specs import RESOLUTION_BANDS, SGD, model_specs
from benchmarks.gc_overhead.timing import interleave, pair_ratios, ratio_interval
from gc_tutorial import GCModel, centralize_gradient

STORED = 0.5 * 10**-DECIMALS  # half a unit in the last stored decimal

REPO = Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()
HAS_OPTAX = importlib.util.find_spec("optax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _step_rounds(rng: np.random.Generator, scale: float = 1.0) -> list[list[float]]:
    """Ten rounds of twenty noisy step times (log-normal, 10% spread) around ``scale``."""
    return [list(scale * rng.lognormal(0.0, 0.1, size=20)) for _ in range(10)]


def _copies(
    rng: np.random.Generator, paces: np.ndarray, biases: list[float], noise: float = 0.02
) -> list[list[list[float]]]:
    """One arm's copies, each ``bias`` times the round's pace, three noisy steps per round."""
    return [[list(b * p * rng.lognormal(0.0, noise, size=3)) for p in paces] for b in biases]


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


def test_with_copies_the_interval_covers_the_truth_despite_a_bias_between_copies():
    # Two copies of one model differ by a few percent that more rounds do not remove.
    # Each arm's copies are a draw of such biases: the arms' true ratio is 1.
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(100):
        paces = rng.lognormal(0.0, 0.05, size=20)  # the machine's pace, shared by a round
        arms = [_copies(rng, paces, list(rng.lognormal(0.0, 0.02, size=3))) for _ in range(2)]
        _, low, high = ratio_interval(*arms, resamples=1000)
        covered += low <= 1.0 <= high
    assert covered >= 85  # a 95% interval; resampling rounds alone covers about a third


def test_a_bias_between_copies_widens_the_interval_rather_than_hiding_in_it():
    rng = np.random.default_rng(6)
    paces = rng.lognormal(0.0, 0.05, size=30)
    baseline = _copies(rng, paces, [1.00, 0.98, 1.02], noise=0.005)
    treated = _copies(rng, paces, [1.04, 0.97, 1.05], noise=0.005)  # one copy drawn fast
    ratio, low, high = ratio_interval(baseline, treated)
    _, rounds_low, rounds_high = ratio_interval(baseline, treated, resample_copies=False)
    assert ratio == pytest.approx((1.04 * 0.97 / 0.98 * 1.05 / 1.02) ** (1 / 3), abs=0.005)
    assert not rounds_low <= 1.0 <= rounds_high  # rounds alone: sure of a 2% difference
    assert low <= 1.0 <= high  # copies too: the pairs' spread (+4, -1, +3%) is in the interval
    assert high - low > 5 * (rounds_high - rounds_low)


def test_with_few_copies_the_interval_is_no_narrower_than_a_t_interval_over_the_pairs():
    # A bootstrap over three pairs of copies understates their spread; the
    # t interval over the pairs (2 degrees of freedom) does not.
    rng = np.random.default_rng(9)
    paces = rng.lognormal(0.0, 0.05, size=40)
    baseline = _copies(rng, paces, [1.0, 1.0, 1.0], noise=0.005)
    treated = _copies(rng, paces, [1.03, 1.00, 1.01], noise=0.005)
    _, low, high = ratio_interval(baseline, treated)
    pairs = np.log([1.03, 1.00, 1.01])
    t_low, t_high = np.exp(stats.ttest_1samp(pairs, 0.0).confidence_interval(0.95))
    assert low <= t_low * 1.002 and high >= t_high * 0.998


def test_a_pace_shared_by_the_copies_built_together_cancels_like_a_rounds():
    # Copy k of every arm is built at the same point of the run; where that
    # leaves the k-th copies of all arms equally fast or slow, the pairs cancel it.
    rng = np.random.default_rng(8)
    paces = rng.lognormal(0.0, 0.05, size=30)
    shared = [1.00, 0.97, 1.03]
    baseline = _copies(rng, paces, shared, noise=0.005)
    treated = _copies(rng, paces, [1.02 * b for b in shared], noise=0.005)
    ratio, low, high = ratio_interval(baseline, treated)
    assert ratio == pytest.approx(1.02, abs=0.005)
    assert 1.0 < low <= 1.02 <= high < 1.04  # a 2% cost told from the copies' 6% spread


def test_each_pair_of_copies_keeps_its_own_ratio_so_a_biased_copy_shows():
    rng = np.random.default_rng(10)
    paces = rng.lognormal(0.0, 0.05, size=30)
    baseline = _copies(rng, paces, [1.0, 1.0, 1.0], noise=0.005)
    treated = _copies(rng, paces, [0.97, 1.0, 1.0], noise=0.005)  # its first copy fast
    assert pair_ratios(baseline, treated) == pytest.approx([0.97, 1.0, 1.0], abs=0.003)


def test_a_step_that_stalls_does_not_move_the_ratio():
    rng = np.random.default_rng(10)
    baseline, treated = _step_rounds(rng), _step_rounds(rng, scale=1.05)
    stalled = [list(r) for r in treated]
    stalled[3][0] *= 20  # one step in 200 waits for something else
    stalled[7] = [20 * t for t in stalled[7]]  # and one whole block
    assert ratio_interval(baseline, stalled)[0] == pytest.approx(
        ratio_interval(baseline, treated)[0], abs=0.01
    )


def test_with_one_copy_per_arm_only_the_rounds_are_resampled():
    rng = np.random.default_rng(7)
    baseline, treated = _step_rounds(rng), _step_rounds(rng, scale=1.05)
    assert (
        ratio_interval([baseline], [treated])
        == ratio_interval(baseline, treated)
        == ratio_interval(baseline, treated, resample_copies=False)
    )


def test_arms_must_have_as_many_copies_and_rounds_to_be_paired():
    rng = np.random.default_rng(7)
    baseline, treated = _step_rounds(rng), _step_rounds(rng, scale=1.05)
    with pytest.raises(ValueError, match="not paired"):
        ratio_interval(baseline, treated[:-1])
    with pytest.raises(ValueError, match="not paired"):
        ratio_interval([baseline, baseline], [treated])


def test_interleaving_gives_each_arm_its_steps_in_blocks_in_rotating_order():
    calls: list[str] = []

    def timer(name: str):
        return lambda: calls.append(name) or 0.001

    rounds = interleave({"a": timer("a"), "b": timer("b")}, steps=10, block=4)
    assert [len(r) for r in rounds["a"]] == [4, 4, 2]
    assert [len(r) for r in rounds["b"]] == [4, 4, 2]
    assert "".join(calls) == "aaaabbbb" + "bbbbaaaa" + "aabb"


def test_grouped_timers_run_together_in_rotating_groups_and_shuffled_places():
    calls: list[tuple[str, int]] = []

    def timer(key: tuple[str, int]):
        return lambda: calls.append(key) or 0.001

    keys = [(arm, copy) for copy in range(3) for arm in ("plain", "again", "gc")]
    interleave({k: timer(k) for k in keys}, steps=60, block=1, group=lambda k: k[1])
    rounds = [calls[i : i + 9] for i in range(0, len(calls), 9)]
    for index, order in enumerate(rounds):
        copies = [copy for _, copy in order]
        first = index % 3  # the groups (copies) go round, each one whole
        assert copies == [(first + g) % 3 for g in range(3) for _ in range(3)]
    places = {tuple(arm for arm, copy in order if copy == 0) for order in rounds}
    assert len(places) == 6  # every order of the three arms, drawn afresh each round
    predecessors = {order[order.index(("again", 0)) - 1] for order in rounds[1:]}
    assert ("plain", 0) in predecessors and ("gc", 0) in predecessors


def test_each_copy_builds_its_arms_in_an_order_drawn_for_it():
    names = ["plain", "plain again", "subclass", "wrapper", "update"]
    orders = build_orders(names, 3, np.random.default_rng(0))
    assert len(orders) == 3 and all(sorted(order) == sorted(names) for order in orders)
    firsts = [build_orders(names, 1, np.random.default_rng(s))[0][0] for s in range(1000)]
    counts = [firsts.count(name) for name in names]  # no arm is favoured for the first place
    assert stats.chisquare(counts).pvalue > 1e-3


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


@pytest.mark.parametrize("family", ["own", "sgd"])
@pytest.mark.parametrize("name", list(ARMS))
def test_every_arm_builds_a_model_that_takes_a_training_step(name, family):
    spec = _taxi()
    (optimizer,) = spec.optimizers([family])
    if name not in family_arms(spec, optimizer, [name]):
        pytest.skip(f"{name} runs with the model's own optimizer only")
    model = build_arm(ARMS[name], spec.build, optimizer, spec.loss)
    plain = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # the wrapper's
    assert isinstance(plain, getattr(keras.optimizers, optimizer.name))
    if family == "sgd":
        assert plain.momentum == 0.9
    timer = keras_step_timer(model, *spec.inputs(np.random.default_rng(0)))
    assert timer() > 0
    assert np.isfinite(timer.last_loss)


@pytest.mark.parametrize("key", ["taxi_mlp", "hoh_cnn", "resnet50"])
def test_every_optimizer_family_has_its_own_plain_baseline_and_a_a_control(key):
    spec = model_specs(BACKEND, quick=True)[key]
    families = spec.optimizers()
    names = [spec.optimizer, "SGD"] + (["Adam"] if spec.optimizer != "Adam" else [])
    assert [o.name for o in families] == names and families[1] == SGD  # each optimizer once
    assert SGD.arguments() == {"learning_rate": 0.01, "momentum": 0.9}
    assert spec.resolution == RESOLUTION_BANDS[key] == (0.02 if key == "taxi_mlp" else 0.01)
    for optimizer in families:
        arms = family_arms(spec, optimizer, parse_args([]).arm_names)
        assert {"plain", "plain again", "subclass", "wrapper", "update"} <= set(arms)
        assert all(ARMS[name].baseline in arms for name in arms if ARMS[name].baseline)
    assert "GCModel" not in family_arms(spec, SGD, parse_args([]).arm_names)


def test_the_command_line_brings_each_arms_baseline_the_a_a_control_and_the_copies():
    assert parse_args(["--arms", "subclass"]).arm_names == ["plain", "plain again", "subclass"]
    assert parse_args(["--arms", "GCModel"]).arm_names == [
        "plain",
        "plain again",
        "GCModel without GC",
        "GCModel",
    ]
    assert parse_args([]).copies is None  # each model's own (specs.model_specs)
    assert parse_args(["--copies", "5"]).copies == 5
    assert parse_args([]).optimizer_families == ["own", "sgd", "adam"]
    assert parse_args(["--optimizers", "SGD"]).optimizer_families == ["sgd"]
    for wrong in (["--optimizers", "adagrad"], ["--copies", "0"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)


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

QUICK_ARGS = ["--quick", "--models", "taxi_mlp", "--arms", "subclass,update", "--no-peers"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """A quick run of the taxi MLP, both optimizer families, two copies of every arm."""
    out = tmp_path_factory.mktemp("quick") / "cpu-quick.json"
    assert main([*QUICK_ARGS, "--out", str(out)]) == 0
    return out, json.loads(out.read_text())


def test_a_quick_run_writes_results_with_their_provenance(quick_run):
    out, results = quick_run
    assert results["backend"] == BACKEND
    assert results["command"].endswith(
        "python -m benchmarks.gc_overhead " + " ".join(QUICK_ARGS) + " --out " + str(out)
    )
    assert results["date_utc"] and results["versions"]["keras"] == keras.__version__
    assert results["device"] == "cpu" and results["device_name"].lower() == "cpu"
    assert "git_commit" in results and "git_dirty" in results
    for field in ("cpu_model", "logical_cores", "usable_cores", "memory_gib"):
        assert field in results["machine"]
    assert set(results["load_average"]) == {"start", "end"}
    assert {m["copies"] for m in results["settings"]["models"].values()} == {2}
    assert results["settings"]["optimizer_families"] == ["own", "sgd", "adam"]  # Adam is own
    assert results["gc_pass"][0]["floor_ms"] > 0
    assert out.with_suffix(".md").read_text().startswith("# What GC costs")


def test_every_comparison_carries_its_families_a_a_control_and_the_verdicts(quick_run):
    _, results = quick_run
    comparisons = results["comparisons"]
    assert [(c["optimizer"], c["arm"], c["baseline"]) for c in comparisons] == [
        (optimizer, arm, "plain")
        for optimizer in ("Adam", "SGD")
        for arm in ("plain again", "subclass", "update")
    ]
    for c in comparisons:
        control = next(d for d in comparisons if d["control"] and d["optimizer"] == c["optimizer"])
        low, high = c["ratio_ci95"]
        assert low <= c["ratio"] <= high
        assert c["copies"] == 2 and c["group"] == "keras" and c["model"] == "taxi_mlp"
        assert c["target_ratio"] == 1.05
        assert c["meets_target"] == (c["ratio"] <= 1.05)
        assert c["interval_below_target"] == (high <= 1.05)
        assert (c["control_ratio"], c["control_ci95"]) == (control["ratio"], control["ratio_ci95"])
        control_low, control_high = control["ratio_ci95"]
        assert c["resolved"] == (0.98 <= control_low <= 1 <= control_high <= 1.02)


def test_each_row_records_where_its_copy_built_it(quick_run):
    _, results = quick_run
    keras_rows = [r for r in results["arms"] if r["group"] == "keras"]
    for optimizer in ("Adam", "SGD"):
        for copy in (0, 1):
            built = [r for r in keras_rows if (r["optimizer"], r["copy"]) == (optimizer, copy)]
            assert sorted(r["build_position"] for r in built) == list(range(len(built)))


def test_each_group_draws_its_orders_from_entropy_of_its_own_and_records_it(quick_run):
    _, results = quick_run
    entropies = [int(g["order_entropy"]) for g in results["groups"]]
    assert len(entropies) == 2 and len(set(entropies)) == 2  # not the run's --seed, shared


def test_arms_are_compared_only_with_their_own_familys_copies(quick_run):
    _, results = quick_run
    rows = results["arms"]
    classes = {(r["optimizer"], r["arm"]): r["optimizer_class"] for r in rows}
    assert classes[("SGD", "plain")] == "SGD" and classes[("SGD", "subclass")] == "GCSGD"
    assert classes[("Adam", "plain again")] == "Adam" and classes[("Adam", "update")] == "GCAdam"

    def copies(optimizer: str, arm: str) -> list:
        found = [r for r in rows if (r["optimizer"], r["arm"]) == (optimizer, arm)]
        assert [r["copy"] for r in found] == [0, 1]
        assert all(r["last_loss_finite"] for r in found)
        return [r["times_ms"] for r in found]

    for c in results["comparisons"]:  # recomputed from the family's own copies
        ratio, low, high = ratio_interval(
            copies(c["optimizer"], c["baseline"]), copies(c["optimizer"], c["arm"])
        )
        assert c["ratio"] == pytest.approx(ratio, rel=1e-3, abs=STORED)
        assert c["ratio_ci95"] == pytest.approx([low, high], rel=1e-3, abs=STORED)
        pairs = pair_ratios(copies(c["optimizer"], c["baseline"]), copies(c["optimizer"], c["arm"]))
        assert c["pair_ratios"] == pytest.approx(list(pairs), abs=STORED)


def _table_row(tables: str, model: str, optimizer: str, arm: str) -> dict[str, str]:
    """The cells of a comparison's row in the report's tables, by column."""
    lines = tables.splitlines()
    header = next(line for line in lines if line.startswith("| model | optimizer | arm |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[:3] == [model, optimizer, arm]:
            return dict(zip(columns, cells, strict=True))
    raise AssertionError(f"no row for {model}, {optimizer}, {arm}")


def _pct(ratio: float) -> str:
    return f"{100 * (ratio - 1):+.2f}%"


def test_the_report_gives_each_ratio_its_interval_and_a_a_control(quick_run, tmp_path):
    out, results = quick_run
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.BEGIN}\nold\n{report.END}\nend\n")
    report.main([str(out), "--readme", str(readme)])
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    for c in results["comparisons"]:
        row = _table_row(text, "taxi MLP", c["optimizer"], c["arm"])
        low, high = c["ratio_ci95"]
        assert (row["baseline"], row["copies"]) == ("plain", "2")
        assert row["overhead (95% interval)"] == f"{_pct(c['ratio'])} ({_pct(low)} .. {_pct(high)})"
        assert row["A/A control (95% interval)"].startswith(_pct(c["control_ratio"]))
        assert row["A/A control (95% interval)"].endswith("resolved") == c["resolved"]
        if c["control"]:
            assert row["verdict"].startswith("A/A control")
        else:  # judged on the interval
            verdict = "met" if high <= 1.05 else "**missed**" if low > 1.05 else "undecided"
            assert row["verdict"].startswith(verdict)


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_report_still_reads_a_file_measured_before_copies(backend):
    path = REPO / "benchmarks" / "results" / f"cpu-{backend}.json"
    results = json.loads(path.read_text())
    old = [c for c in results["comparisons"] if c["group"] == "keras" and "copies" not in c]
    if not old:
        pytest.skip(f"{path.name} has been measured with copies")
    tables = report.readme_tables([path])
    models = results["settings"]["models"]
    for c in old:
        model = models[c["model"]]
        row = _table_row(tables, model["label"], model["optimizer"], c["arm"])
        assert row["overhead (95% interval)"].startswith(_pct(c["ratio"]))
        assert row["copies"] == row["A/A control (95% interval)"] == "—"


# --- Runs pooled ---------------------------------------------------------------


def _clean(results: dict, **changes) -> dict:
    """A quick run's results as if measured from a clean tree, with ``changes``."""
    return {**json.loads(json.dumps(results)), "git_dirty": False, **changes}


def _other_machine(results: dict, **changes) -> dict:
    """A clean copy of ``results`` as if measured on a machine with ``changes``."""
    return _clean(results, machine={**results["machine"], **changes})


def test_a_pool_of_one_run_gives_that_runs_comparisons(quick_run):
    _, results = quick_run
    pooled = pool.pool([_clean(results)])
    assert pooled["comparisons"] == results["comparisons"]
    assert [r["copy"] for r in pooled["arms"]] == [r["copy"] for r in results["arms"]]
    assert [r["stats"] for r in pooled["arms"]] == [r["stats"] for r in results["arms"]]


def test_pooled_runs_add_their_copies_after_the_previous_ones(quick_run):
    _, results = quick_run
    slower = _clean(results)  # a second run, on a slower afternoon: every step 10% longer
    for row in slower["arms"]:
        row["times_ms"] = [[1.1 * t for t in block] for block in row["times_ms"]]
    pooled = pool.pool([_clean(results), slower], ["first.json", "second.json"])
    assert not any(field in row for row in pooled["arms"] for field in pool.RAW)

    def copies(optimizer: str, arm: str) -> list:
        found = [r for r in pooled["arms"] if (r["optimizer"], r["arm"]) == (optimizer, arm)]
        assert [(r["copy"], r["run"]) for r in found] == [(0, 0), (1, 0), (2, 1), (3, 1)]
        return [
            row["times_ms"]
            for run in (results, slower)
            for row in run["arms"]
            if (row["optimizer"], row["arm"]) == (optimizer, arm)
        ]

    for c in pooled["comparisons"]:  # over all four copies, each paired within its own run
        ratio, low, high = ratio_interval(
            copies(c["optimizer"], c["baseline"]), copies(c["optimizer"], c["arm"])
        )
        assert c["copies"] == 4
        assert c["ratio"] == pytest.approx(ratio, rel=1e-4, abs=STORED)
        assert c["ratio_ci95"] == pytest.approx([low, high], rel=1e-4, abs=STORED)
    assert {m["copies"] for m in pooled["settings"]["models"].values()} == {4}
    assert [r["run"] for r in pooled["gc_pass"]] == [0] * len(results["gc_pass"]) + [1] * len(
        results["gc_pass"]
    )
    assert [r["name"] for r in pooled["runs"]] == ["first.json", "second.json"]
    assert pooled["duration_s"] == pytest.approx(2 * results["duration_s"], abs=0.2)
    summary = report.markdown_report({**pooled, "command": "python -m benchmarks.gc_overhead.pool"})
    command = results["command"].split(" --out ")[0]  # what the copies measured
    assert "2 runs (2 of `" + command + "`)" in summary
    assert "(run 2)" in summary  # each run's GC pass, numbered


def test_pooled_runs_keep_the_peers_of_each_models_first_family(quick_run):
    _, results = quick_run
    run = _clean(results)  # with a peer pair added to the first family, as a run times it
    first = (run["groups"][0]["model"], run["groups"][0]["optimizer"])
    copy0 = {
        r["arm"]: r for r in run["arms"] if (r["model"], r["optimizer"]) == first and r["copy"] == 0
    }
    peer = {"optimizer": "peer.sgd", "group": "peer", "control": False}
    run["arms"] += [
        {**copy0["plain"], **peer, "arm": "peer.sgd", "baseline": None},
        {**copy0["subclass"], **peer, "arm": "peer_gc", "baseline": "peer.sgd"},
    ]
    second = _clean(run)  # the peer's GC 10% slower in the second run
    (slower,) = [r for r in second["arms"] if r["arm"] == "peer_gc"]
    slower["times_ms"] = [[1.1 * t for t in block] for block in slower["times_ms"]]
    pooled = pool.pool([run, second])
    (compared,) = [c for c in pooled["comparisons"] if c["group"] == "peer"]
    assert (compared["arm"], compared["baseline"], compared["copies"]) == ("peer_gc", "peer.sgd", 2)
    assert compared["resolved"] is None  # a peer has no A/A control


def _narrowed(results: dict, optimizer: str, family: str) -> dict:
    """A clean copy of ``results`` as if run with ``--optimizers family`` (one group)."""
    run = _clean(results)
    run["groups"] = [g for g in run["groups"] if g["optimizer"] == optimizer]
    run["arms"] = [r for r in run["arms"] if r["optimizer"] == optimizer]
    run["comparisons"] = [c for c in run["comparisons"] if c["optimizer"] == optimizer]
    run["settings"]["optimizer_families"] = [family]
    run["command"] = results["command"] + f" --optimizers {family}"
    return run


def test_a_later_run_may_add_copies_to_some_groups_only(quick_run):
    _, results = quick_run
    pooled = pool.pool([_clean(results), _narrowed(results, "SGD", "sgd")])
    copies = {c["optimizer"]: c["copies"] for c in pooled["comparisons"]}
    assert copies == {"Adam": 2, "SGD": 4}
    alone = pool.pool([_clean(results)])  # Adam's comparisons are the first run's alone
    assert [c for c in pooled["comparisons"] if c["optimizer"] == "Adam"] == [
        c for c in alone["comparisons"] if c["optimizer"] == "Adam"
    ]
    assert [(g["optimizer"], g["runs"], g["copies"]) for g in pooled["groups"]] == [
        ("Adam", 1, 2),
        ("SGD", 2, 4),
    ]
    assert pooled["settings"]["models"]["taxi_mlp"]["copies"] == 2  # every arm has at least 2
    summary = report.markdown_report({**pooled, "command": "python -m benchmarks.gc_overhead.pool"})
    assert "2 copies of every arm with Adam; 4 copies of every arm with SGD" in summary
    assert "2 runs (1 of `" in summary and "--optimizers sgd`)" in summary


def test_a_later_run_may_not_measure_a_group_the_first_did_not(quick_run):
    _, results = quick_run
    with pytest.raises(ValueError, match="measures taxi_mlp with Adam, which run 1 does not"):
        pool.pool([_narrowed(results, "SGD", "sgd"), _clean(results)])


def test_a_later_run_may_not_change_a_models_settings(quick_run):
    _, results = quick_run
    other = _clean(results)
    other["settings"]["models"]["taxi_mlp"]["steps"] += 1
    with pytest.raises(ValueError, match="differs from run 1 in its settings of taxi_mlp"):
        pool.pool([_clean(results), other])


def test_pooled_runs_come_from_one_machine_unless_processors_may_differ(quick_run):
    _, results = quick_run
    other = _other_machine(results, cpu_model="Another CPU", cpu_cache="1 KB")
    with pytest.raises(ValueError, match="machine that differs from run 1's in its cpu_"):
        pool.pool([_clean(results), other])
    pooled = pool.pool([_clean(results), other], mixed_processors=True)
    assert [r["machine"]["cpu_model"] for r in pooled["runs"]] == [
        results["machine"]["cpu_model"],
        "Another CPU",
    ]
    summary = report.markdown_report({**pooled, "command": "python -m benchmarks.gc_overhead.pool"})
    assert f"{results['machine']['cpu_model']} (1 of the runs), Another CPU (1 of the runs)" in (
        summary
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"usable_cores": 4}, "machine that differs from run 1's in its usable_cores"),
        ({"python": "3.12.0"}, "machine that differs from run 1's in its python"),
    ],
)
def test_pooling_refuses_a_run_on_a_machine_of_another_size(quick_run, change, message):
    _, results = quick_run
    with pytest.raises(ValueError, match=message):
        pool.pool([_clean(results), _other_machine(results, **change)], mixed_processors=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"git_commit": "1" * 40}, "differs from run 1 in its git_commit"),
        ({"settings": {"seed": 1}}, "differs from run 1 in its settings"),
        ({"git_dirty": True}, "dirty tree"),
        ({"complete": False}, "unfinished"),
    ],
)
def test_pooling_refuses_a_run_of_another_command_commit_or_state(quick_run, change, message):
    _, results = quick_run
    with pytest.raises(ValueError, match=message):
        pool.pool([_clean(results), _clean(results, **change)])


def test_the_pool_command_writes_the_pooled_file_and_its_summary(quick_run, tmp_path):
    _, results = quick_run
    runs = [tmp_path / "r1.json", tmp_path / "r2.json"]
    for path in runs:
        path.write_text(json.dumps(_clean(results)))
    out = tmp_path / "pooled" / "cpu-x.json"
    assert pool.main([str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    pooled = json.loads(out.read_text())
    assert pooled["command"].startswith("python -m benchmarks.gc_overhead.pool ")
    assert len(pooled["runs"]) == 2 and pooled["analysis"]["git_commit"]
    assert out.with_suffix(".md").read_text().startswith("# What GC costs")
    runs[1].write_text(json.dumps(_clean(results, complete=False)))
    with pytest.raises(SystemExit, match="r2.json is unfinished"):
        pool.main([str(runs[0]), str(runs[1]), "--out", str(out)])


# --- A long run, interrupted and resumed ---------------------------------------

RESUME_ARGS = ["--quick", "--models", "taxi_mlp", "--arms", "subclass", "--no-peers"]


class _Stopped(Exception):
    """Stands for the run being killed."""


@pytest.fixture
def clean_tree(monkeypatch):
    """The provenance of a clean tree at a fixed commit, whatever the checkout's state."""
    from benchmarks.gc_overhead import machine

    state = {**machine.environment(), "git_commit": "0" * 40, "git_dirty": False}
    monkeypatch.setattr(machine, "environment", lambda: dict(state))
    return state


def _stopped_after_first_group(out: Path) -> dict:
    """Run until the first group (the MLP with Adam) is saved, then stop as a kill would."""
    from benchmarks.gc_overhead.run import run

    def save_then_stop(results: dict) -> None:
        out.write_text(json.dumps(results))
        raise _Stopped

    with pytest.raises(_Stopped):
        run(parse_args([*RESUME_ARGS, "--out", str(out)]), "first", save=save_then_stop)
    return json.loads(out.read_text())


def test_a_stopped_run_resumes_with_the_groups_it_lacks_and_keeps_the_others(tmp_path, clean_tree):
    out = tmp_path / "cpu-resumed.json"
    first = _stopped_after_first_group(out)
    assert first["complete"] is False
    assert [(g["model"], g["optimizer"]) for g in first["groups"]] == [("taxi_mlp", "Adam")]
    assert report.provenance(first).count("unfinished: 1 model x optimizer groups") == 1

    assert main([*RESUME_ARGS, "--out", str(out), "--resume"]) == 0
    resumed = json.loads(out.read_text())
    assert resumed["complete"] is True and resumed["command"] == "first"
    assert [(g["model"], g["optimizer"]) for g in resumed["groups"]] == [
        ("taxi_mlp", "Adam"),
        ("taxi_mlp", "SGD"),
    ]
    assert resumed["groups"][0] == first["groups"][0]
    adam = [c for c in resumed["comparisons"] if c["optimizer"] == "Adam"]
    assert adam == first["comparisons"], "a finished group is kept, not timed again"
    assert {c["optimizer"] for c in resumed["comparisons"]} == {"Adam", "SGD"}
    assert resumed["duration_s"] == pytest.approx(sum(g["duration_s"] for g in resumed["groups"]))
    assert "unfinished" not in report.provenance(resumed)


def test_resuming_refuses_a_file_it_cannot_continue(tmp_path, clean_tree):
    out = tmp_path / "cpu-resumed.json"
    with pytest.raises(SystemExit, match="no results file"):
        main([*RESUME_ARGS, "--out", str(out), "--resume"])
    _stopped_after_first_group(out)
    with pytest.raises(SystemExit, match="settings"):
        main([*RESUME_ARGS, "--copies", "3", "--out", str(out), "--resume"])
    clean_tree["git_commit"] = "1" * 40
    with pytest.raises(SystemExit, match="commit"):
        main([*RESUME_ARGS, "--out", str(out), "--resume"])
    clean_tree["git_dirty"] = True
    with pytest.raises(SystemExit, match="clean tree"):
        main([*RESUME_ARGS, "--out", str(out), "--resume"])
