"""The command line and the run: every copy of every arm, interleaved, then the GC pass.

A model's arms are timed once per optimizer family (``--optimizers``), each
family in an interleaving of its own: several compiled copies of every arm
(each model's own number, or ``--copies``), its plain arm and A/A control
included (the peers join the first family's interleaving). Each comparison
is an arm of one family against that family's baseline, with the family's
A/A control recorded beside it.

The results file is written after every model and family (a *group*), with
``complete`` false until the last; ``--resume`` reads such a file and times
only the groups it lacks, refusing one written at another commit, from a
dirty tree, on another machine or with other settings.
"""

from __future__ import annotations

import argparse
import datetime
import gc as python_gc
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from benchmarks.gc_overhead import machine
from benchmarks.gc_overhead.arms import ARMS, build_arm
from benchmarks.gc_overhead.compare import compare_family
from benchmarks.gc_overhead.gc_pass import BYTES_PER_PARAMETER, PASSES, gc_pass_rows
from benchmarks.gc_overhead.keras_steps import StepTimer, keras_step_timer
from benchmarks.gc_overhead.peer_arm import PeerArm
from benchmarks.gc_overhead.peers import PEER_MODELS, available_peers
from benchmarks.gc_overhead.report import markdown_report
from benchmarks.gc_overhead.specs import OPTIMIZER_FAMILIES, ModelSpec, OptimizerSpec, model_specs
from benchmarks.gc_overhead.timing import copy_bandwidth, interleave, summary_ms

__all__ = [
    "SCHEMA_VERSION",
    "build_orders",
    "family_arms",
    "main",
    "parse_args",
    "resumable",
    "run",
]

SCHEMA_VERSION = 7

MODEL_ALIASES = {"taxi": "taxi_mlp", "mlp": "taxi_mlp", "cnn": "hoh_cnn", "resnet": "resnet50"}


def log(message: str) -> None:
    """Progress, on stderr."""
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see ``python -m benchmarks.gc_overhead --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gc_overhead",
        description=(
            "Per-step cost of Gradient Centralization on the Keras backend that "
            "KERAS_BACKEND names, its peers, and the GC pass against its floor."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON results file, a Markdown summary next to it "
        "(default: benchmarks/results/<device>-<backend>.json)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the groups (model x optimizer family) an unfinished --out file already has "
        "and time only the others (same commit, clean tree, machine and settings)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few steps: a smoke run")
    parser.add_argument("--models", default="taxi_mlp,hoh_cnn,resnet50", help="comma-separated")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated Keras arms")
    parser.add_argument(
        "--optimizers",
        default=",".join(OPTIMIZER_FAMILIES),
        help="comma-separated optimizer families: own (each model's own: Adam, RMSprop for "
        "the CNN), sgd (SGD with momentum 0.9), adam (Adam, where it is not the model's own); "
        "each family has its own plain arm and A/A",
    )
    parser.add_argument(
        "--copies",
        type=int,
        help="independent compiled copies of every arm (default: each model's own, "
        "specs.model_specs: 6 for the MLP, 3 for the conv nets; 2 with --quick)",
    )
    parser.add_argument("--no-peers", action="store_true", help="leave out the peer arms")
    parser.add_argument("--steps", type=int, help="timed steps per copy of an arm (every model)")
    parser.add_argument("--warmup", type=int, help="untimed steps per copy before timing")
    parser.add_argument("--block", type=int, help="steps an arm runs before the next one's turn")
    parser.add_argument("--pass-repeats", type=int, help="timed calls of the GC pass")
    parser.add_argument("--cnn-size", type=int, help="CNN image size (default: specs.CPU_SIZES)")
    parser.add_argument("--cnn-batch", type=int, help="CNN batch")
    parser.add_argument("--resnet-size", type=int, help="ResNet50 image size")
    parser.add_argument("--resnet-batch", type=int, help="ResNet50 batch")
    parser.add_argument("--copy-mib", type=int, default=256, help="size of the bandwidth copy")
    parser.add_argument(
        "--torch-threads",
        type=int,
        help="torch.set_num_threads for the PyTorch backend and peer (default: torch's own)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.model_keys = [MODEL_ALIASES.get(m.strip(), m.strip()) for m in args.models.split(",")]
    families = [f.strip().lower() for f in args.optimizers.split(",") if f.strip()]
    args.optimizer_families = list(dict.fromkeys(families))
    unknown = [f for f in args.optimizer_families if f not in OPTIMIZER_FAMILIES]
    if unknown or not args.optimizer_families:
        parser.error(f"unknown optimizer family {unknown}; choose from {OPTIMIZER_FAMILIES}")
    if args.copies is not None and args.copies < 1:
        parser.error("--copies: at least 1")
    wanted = {a.strip() for a in args.arms.split(",") if a.strip()}
    unknown = sorted(wanted - set(ARMS))
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {list(ARMS)}")
    wanted |= {n for n, arm in ARMS.items() if arm.control}  # every comparison reports its A/A
    wanted |= {ARMS[n].baseline for n in wanted if ARMS[n].baseline}  # and its baseline
    args.arm_names = [n for n in ARMS if n in wanted]  # registered order: baselines first
    return args


def _specs(args: argparse.Namespace) -> dict[str, ModelSpec]:
    specs = model_specs(
        keras.backend.backend(),
        args.quick,
        args.cnn_size,
        args.cnn_batch,
        args.resnet_size,
        args.resnet_batch,
    )
    unknown = [k for k in args.model_keys if k not in specs]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {list(specs)}")
    for spec in specs.values():
        for name in ("copies", "steps", "warmup", "block", "pass_repeats"):
            if getattr(args, name) is not None:
                setattr(spec, name, getattr(args, name))
    return {k: specs[k] for k in args.model_keys}


def family_arms(spec: ModelSpec, optimizer: OptimizerSpec, arm_names: list[str]) -> list[str]:
    """The arms of ``arm_names`` that run with ``optimizer`` on ``spec``'s model.

    Every arm runs with the model's own optimizer; with another, only the
    arms registered ``every_optimizer`` (not the ``GCModel`` pair).
    """
    own = optimizer.name == spec.optimizer
    return [name for name in arm_names if own or ARMS[name].every_optimizer]


def build_orders(
    arm_names: Sequence[str], copies: int, rng: np.random.Generator
) -> list[list[str]]:
    """The order each copy builds its arms in: a permutation per copy, drawn from ``rng``.

    The models a group builds first can step slower than the ones built
    after them; drawing the order keeps that place off any one arm, and
    each row records its place (``build_position``).
    """
    return [[arm_names[i] for i in rng.permutation(len(arm_names))] for _ in range(copies)]


def _time_family(
    spec: ModelSpec,
    optimizer: OptimizerSpec,
    arm_names: list[str],
    peers: list[PeerArm],
    weights: list[Any],
    seed: int,
    orders: np.random.SeedSequence,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], keras.Model]:
    """Build and warm up every copy of every arm of one optimizer family, time them, compare.

    The peers, if any, are timed in the same interleaving (one copy each).
    ``seed`` fixes the inputs and the bootstrap; ``orders`` draws the order
    in which each copy builds its arms and the order of the turns in each
    round. Returns the rows (one per copy, in registered order), the
    comparisons and the baseline's copy 0.
    """
    x, y = spec.inputs(np.random.default_rng(seed))
    arm_names = family_arms(spec, optimizer, arm_names)
    timers: dict[tuple[str, int], StepTimer] = {}
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    models: dict[tuple[str, int], keras.Model] = {}
    where = f"[{spec.key}, {optimizer.name}]"
    copies = spec.copies
    build_rng, round_rng = (np.random.default_rng(s) for s in orders.spawn(2))
    orders_built = build_orders(arm_names, copies, build_rng)
    for copy, order in enumerate(orders_built):  # copy 0 of every arm, then copy 1, ...
        for position, name in enumerate(order):
            arm = ARMS[name]
            log(f"  {where} building arm {name!r}, copy {copy + 1} of {copies}")
            start = time.perf_counter()
            model = models[name, copy] = build_arm(arm, spec.build, optimizer, spec.loss, weights)
            timers[name, copy] = keras_step_timer(model, x, y)
            rows[name, copy] = {
                "model": spec.key,
                "optimizer": optimizer.name,
                "arm": name,
                "copy": copy,
                "group": "keras",
                "what": arm.what,
                "baseline": arm.baseline,
                "control": arm.control,
                "build_position": position,
                "model_class": type(model).__name__,
                "optimizer_class": type(model.optimizer).__name__,
                "build_and_first_step_s": round(time.perf_counter() - start, 3),
            }
    for peer in peers:
        log(f"  {where} building peer arm {peer.name!r}")
        start = time.perf_counter()
        timers[peer.name, 0] = peer.timer(spec, seed)
        rows[peer.name, 0] = {
            "model": spec.key,
            "optimizer": peer.baseline or peer.name,
            "arm": peer.name,
            "copy": 0,
            "group": peer.group,
            "what": peer.what,
            "baseline": peer.baseline,
            "build_and_first_step_s": round(time.perf_counter() - start, 3),
        }
    for key, timer in timers.items():
        rows[key]["warmup_ms"] = [round(timer() * 1e3, 4) for _ in range(spec.warmup)]
    log(f"  {where} timing {len(timers)} models x {spec.steps} steps, blocks of {spec.block}")
    rounds = interleave(timers, spec.steps, spec.block, group=lambda key: key[1], seed=round_rng)
    for key, row in rows.items():
        row["times_ms"] = [[round(s * 1e3, 4) for s in r] for r in rounds[key]]
        row["stats"] = summary_ms(rounds[key])
        row["last_loss_finite"] = bool(np.isfinite(timers[key].last_loss))
    keras_rows = [rows[name, copy] for copy in range(copies) for name in arm_names]
    rows_out = keras_rows + [rows[peer.name, 0] for peer in peers]
    comparisons = compare_family(rows_out, spec.target, spec.resolution, seed)
    for c in comparisons:
        low, high = c["ratio_ci95"]
        log(f"  {where} {c['arm']} / {c['baseline']}: {c['ratio']:.4f} ({low:.4f} .. {high:.4f})")
    return rows_out, comparisons, models[arm_names[0], 0]


def _gc_pass(
    key: str, model: keras.Model, bandwidth: dict[str, Any], spec: ModelSpec, step_ms: float
) -> list[dict[str, Any]]:
    """The GC pass alone over ``model``'s weights, against its floor and the plain step."""
    rows = gc_pass_rows(key, model, bandwidth["bandwidth_gb_s"], spec.pass_repeats)
    for row in rows:
        row["baseline_step_ms"] = step_ms
        row["floor_share_of_step"] = round(row["floor_ms"] / step_ms, 5)
        row["pass_share_of_step"] = round(row["pass_net_of_call_ms"] / step_ms, 5)
        log(
            f"  [{key}] GC pass ({row['compiler']}): {row['pass']['median_ms']:.3f} ms, "
            f"call {row['call']['median_ms']:.3f} ms, floor {row['floor_ms']:.3f} ms"
        )
    return rows


def _settings(args: argparse.Namespace, specs: dict[str, ModelSpec]) -> dict[str, Any]:
    return {
        "seed": args.seed,
        "models": {k: s.describe() for k, s in specs.items()},
        "arms": {n: ARMS[n].what for n in args.arm_names},
        "optimizer_families": args.optimizer_families,
        "peers": not args.no_peers,
        "timing": (
            "one step = one call of the compiled train function (what fit calls per "
            "batch; for the peers, their own jitted or eager step) on fixed synthetic "
            "tensors of the real shapes, timed with time.perf_counter until the loss "
            "is read back; each copy's first step and warm-up steps untimed; the copies "
            "of every arm of one model and optimizer interleaved in blocks, grouped by "
            "copy (copy k of every arm together), the groups in rotating order, the arms "
            "in a group in an order drawn afresh each round; each copy's arms built in "
            "an order of its own; both orders drawn afresh in every run (from the "
            "group's order_entropy); Python's collector paused in a round"
        ),
        "ratio": (
            "paired by copy and round: each copy's median step in a round over the "
            "baseline's same copy's in the same round; the ratio is the exponential of "
            "the 10% trimmed mean of those log ratios; 95% interval: the wider of a "
            "percentile bootstrap resampling rounds and pairs of copies, and a t "
            "interval over the pairs of copies"
        ),
        "resolved": (
            "the A/A control's interval (plain again / plain, same model and optimizer) "
            "contains 1 and lies within 1 +/- the model's resolution"
        ),
        "floor": f"{PASSES} x {BYTES_PER_PARAMETER} bytes x centralized parameters / "
        "copy bandwidth",
    }


def resumable(previous: dict[str, Any], fresh: dict[str, Any]) -> None:
    """Raise ``SystemExit`` naming why ``previous`` cannot be continued by ``fresh``'s run."""
    if previous.get("complete", True):
        raise SystemExit("--resume: that results file is complete; remove it to measure again")
    if previous["git_dirty"] is not False or fresh["git_dirty"] is not False:
        raise SystemExit("--resume: needs a clean tree, now and in the file's first run")
    for field, what in (
        ("git_commit", "commit"),
        ("backend", "backend"),
        ("device_name", "device"),
        ("machine", "machine"),
        ("settings", "settings (the command's options)"),
    ):
        if previous[field] != fresh[field]:
            raise SystemExit(
                f"--resume: the file's {what} is {previous[field]!r}, "
                f"this run's is {fresh[field]!r}"
            )


def run(
    args: argparse.Namespace,
    command: str,
    previous: dict[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] = lambda results: None,
) -> dict[str, Any]:
    """Run the benchmark that ``args`` describes; return the results as plain data.

    ``save`` is called with the results so far after every group (model and
    optimizer family). With ``previous`` (an unfinished file of the same
    commit, machine and settings), its groups are kept and only the others timed.
    """
    started = time.perf_counter()
    backend = keras.backend.backend()
    if args.torch_threads and backend == "torch":
        import torch

        torch.set_num_threads(args.torch_threads)
    specs = _specs(args)
    environment = machine.environment()
    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "quick": bool(args.quick),
        "complete": False,
        "command": command,
        "date_utc": _now(),
        "backend": backend,
        "device": machine.device(),
        "device_name": environment["device"],
        "git_commit": environment["git_commit"],
        "git_dirty": environment["git_dirty"],
        "machine": machine.machine(),
        "versions": machine.versions(),
        "backend_settings": machine.backend_settings(),
        "load_average": {"start": machine.load_average()},
        "settings": _settings(args, specs),
    }
    if previous is not None:
        resumable(previous, results)
        results = previous
        log(f"Resuming {len(results['groups'])} finished group(s) of {results['date_utc']}")
    else:
        log(f"Backend {backend}; measuring copy bandwidth ({args.copy_mib} MiB)")
        results["copy_bandwidth"] = copy_bandwidth(args.copy_mib, 5 if args.quick else 10)
        results["arms"], results["comparisons"], results["gc_pass"] = [], [], []
        results["groups"] = []
    done = {(g["model"], g["optimizer"]) for g in results["groups"]}
    for key, spec in specs.items():
        optimizers = spec.optimizers(args.optimizer_families)
        if all((key, optimizer.name) in done for optimizer in optimizers):
            continue
        log(f"Model {spec.label}: {'; '.join(spec.notes)}")
        weights = spec.build().get_weights()  # every copy of every arm starts from these
        for index, optimizer in enumerate(optimizers):
            if (key, optimizer.name) in done:
                continue
            group_start, load = time.perf_counter(), machine.load_average()
            orders = np.random.SeedSequence()  # afresh in every run: pooled runs share --seed
            group: dict[str, Any] = {
                "model": key,
                "optimizer": optimizer.name,
                "date_utc": _now(),
                "order_entropy": str(orders.entropy),
            }
            with_peers = index == 0 and not args.no_peers and spec.key in PEER_MODELS
            peers = available_peers() if with_peers else []
            rows, comparisons, model = _time_family(
                spec, optimizer, args.arm_names, peers, weights, args.seed, orders
            )
            results["arms"] += rows
            results["comparisons"] += comparisons
            if index == 0:
                step_ms = next(c["baseline_median_ms"] for c in comparisons if c["control"])
                results["gc_pass"] += _gc_pass(key, model, results["copy_bandwidth"], spec, step_ms)
            del model
            keras.backend.clear_session()
            python_gc.collect()
            group["duration_s"] = round(time.perf_counter() - group_start, 1)
            group["load_average"] = {"start": load, "end": machine.load_average()}
            results["groups"].append(group)
            results["load_average"]["end"] = group["load_average"]["end"]
            results["duration_s"] = round(sum(g["duration_s"] for g in results["groups"]), 1)
            save(results)
    results["complete"] = True
    if previous is None:
        results["duration_s"] = round(time.perf_counter() - started, 1)
    return results


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write the JSON and Markdown files; print the summary."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(
        [f"KERAS_BACKEND={keras.backend.backend()}", "python", "-m", "benchmarks.gc_overhead"]
        + argv
    )
    out = args.out or Path(f"benchmarks/results/{machine.device()}-{keras.backend.backend()}.json")
    previous = None
    if args.resume:
        if not out.exists():
            raise SystemExit(f"--resume: no results file {out} to resume")
        previous = json.loads(out.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(results: dict[str, Any]) -> None:
        out.write_text(json.dumps(results, indent=1) + "\n")

    results = run(args, command, previous, save)
    save(results)
    report = markdown_report(results)
    out.with_suffix(".md").write_text(report)
    print(report)
    log(f"Wrote {out} and {out.with_suffix('.md')} in {results['duration_s']:.0f} s")
    return 0
