"""The command line and the run: every arm and peer of each model, interleaved, then the GC pass."""

from __future__ import annotations

import argparse
import datetime
import gc as python_gc
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from benchmarks.gc_overhead import machine
from benchmarks.gc_overhead.arms import ARMS, build_arm
from benchmarks.gc_overhead.gc_pass import BYTES_PER_PARAMETER, PASSES, gc_pass_rows
from benchmarks.gc_overhead.keras_steps import StepTimer, keras_step_timer
from benchmarks.gc_overhead.peers import PEER_MODELS, available_peers
from benchmarks.gc_overhead.report import markdown_report
from benchmarks.gc_overhead.specs import ModelSpec, model_specs
from benchmarks.gc_overhead.timing import copy_bandwidth, interleave, ratio_interval, summary_ms

__all__ = ["SCHEMA_VERSION", "main", "parse_args", "run"]

SCHEMA_VERSION = 2

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
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few steps: a smoke run")
    parser.add_argument("--models", default="taxi_mlp,hoh_cnn,resnet50", help="comma-separated")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated Keras arms")
    parser.add_argument("--no-peers", action="store_true", help="leave out the peer arms")
    parser.add_argument("--steps", type=int, help="timed steps per arm (every model)")
    parser.add_argument("--warmup", type=int, help="untimed steps per arm before timing")
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
    args.arm_names = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in args.arm_names if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {list(ARMS)}")
    for name in list(args.arm_names):  # a GC arm brings its baseline
        baseline = ARMS[name].baseline
        if baseline and baseline not in args.arm_names:
            args.arm_names.insert(0, baseline)
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
        for name in ("steps", "warmup", "block", "pass_repeats"):
            if getattr(args, name) is not None:
                setattr(spec, name, getattr(args, name))
    return {k: specs[k] for k in args.model_keys}


def _time_model(
    spec: ModelSpec, arm_names: list[str], with_peers: bool, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], keras.Model]:
    """Build and warm up every arm of one model, time them interleaved, compare."""
    x, y = spec.inputs(np.random.default_rng(seed))
    timers: dict[str, StepTimer] = {}
    rows: dict[str, dict[str, Any]] = {}
    models: dict[str, keras.Model] = {}
    weights = None
    for name in arm_names:
        arm = ARMS[name]
        log(f"  [{spec.key}] building arm {name!r}")
        start = time.perf_counter()
        model = build_arm(arm, spec.build, spec.optimizer, spec.learning_rate, spec.loss, weights)
        weights = weights or model.get_weights()
        timers[name] = keras_step_timer(model, x, y)
        models[name] = model
        rows[name] = {
            "model": spec.key,
            "arm": name,
            "group": "keras",
            "what": arm.what,
            "baseline": arm.baseline,
            "control": arm.control,
            "model_class": type(model).__name__,
            "optimizer_class": type(model.optimizer).__name__,
            "build_and_first_step_s": round(time.perf_counter() - start, 3),
        }
    peers = available_peers() if with_peers and spec.key in PEER_MODELS else []
    for peer in peers:
        log(f"  [{spec.key}] building peer arm {peer.name!r}")
        start = time.perf_counter()
        timers[peer.name] = peer.timer(spec, seed)
        rows[peer.name] = {
            "model": spec.key,
            "arm": peer.name,
            "group": peer.group,
            "what": peer.what,
            "baseline": peer.baseline,
            "build_and_first_step_s": round(time.perf_counter() - start, 3),
        }
    for name, timer in timers.items():
        rows[name]["warmup_ms"] = [round(timer() * 1e3, 4) for _ in range(spec.warmup)]
    log(f"  [{spec.key}] timing {len(timers)} arms x {spec.steps} steps, blocks of {spec.block}")
    rounds = interleave(timers, spec.steps, spec.block)
    for name, row in rows.items():
        row["times_ms"] = [[round(s * 1e3, 4) for s in r] for r in rounds[name]]
        row["stats"] = summary_ms(rounds[name])
        row["last_loss_finite"] = bool(np.isfinite(timers[name].last_loss))
    comparisons = []
    for name, row in rows.items():
        if row["baseline"] is None:
            continue
        base = rows[row["baseline"]]
        ratio, low, high = ratio_interval(rounds[row["baseline"]], rounds[name], seed)
        comparisons.append(
            {
                "model": spec.key,
                "group": row["group"],
                "arm": name,
                "baseline": row["baseline"],
                "control": bool(row.get("control", False)),
                "baseline_median_ms": base["stats"]["median_ms"],
                "median_ms": row["stats"]["median_ms"],
                "ratio": round(ratio, 5),
                "ratio_ci95": [round(low, 5), round(high, 5)],
                "target_ratio": 1 + spec.target,
                "meets_target": bool(ratio <= 1 + spec.target),
                "interval_below_target": bool(high <= 1 + spec.target),
            }
        )
        log(
            f"  [{spec.key}] {name} / {row['baseline']}: {ratio:.4f} (95%: {low:.4f} .. {high:.4f})"
        )
    return list(rows.values()), comparisons, models[arm_names[0]]


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run the benchmark that ``args`` describes; return the results as plain data."""
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
        "command": command,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": backend,
        "device": machine.device(),
        "device_name": environment["device"],
        "git_commit": environment["git_commit"],
        "git_dirty": environment["git_dirty"],
        "machine": machine.machine(),
        "versions": machine.versions(),
        "backend_settings": machine.backend_settings(),
        "load_average": {"start": machine.load_average()},
        "settings": {
            "seed": args.seed,
            "models": {k: s.describe() for k, s in specs.items()},
            "arms": {n: ARMS[n].what for n in args.arm_names},
            "peers": not args.no_peers,
            "timing": (
                "one step = one call of the compiled train function (what fit calls per "
                "batch; for the peers, their own jitted or eager step) on fixed synthetic "
                "tensors of the real shapes, timed with time.perf_counter until the loss "
                "is read back; each arm's first step and warm-up steps untimed; arms "
                "interleaved in blocks, rotating order; Python's collector paused in a round"
            ),
            "ratio": (
                "paired by round of the interleaving: the median over rounds of (arm's "
                "median step / its baseline's median step in that round); 95% percentile "
                "bootstrap interval, rounds resampled"
            ),
            "floor": f"{PASSES} x {BYTES_PER_PARAMETER} bytes x centralized parameters / "
            "copy bandwidth",
        },
    }
    log(f"Backend {backend}; measuring copy bandwidth ({args.copy_mib} MiB)")
    bandwidth = copy_bandwidth(args.copy_mib, 5 if args.quick else 10)
    results["copy_bandwidth"] = bandwidth
    results["arms"], results["comparisons"], results["gc_pass"] = [], [], []
    for key, spec in specs.items():
        log(f"Model {spec.label}: {'; '.join(spec.notes)}")
        rows, comparisons, model = _time_model(spec, args.arm_names, not args.no_peers, args.seed)
        results["arms"] += rows
        results["comparisons"] += comparisons
        step_ms = next(r["stats"]["median_ms"] for r in rows if r["arm"] == args.arm_names[0])
        for row in gc_pass_rows(key, model, bandwidth["bandwidth_gb_s"], spec.pass_repeats):
            row["baseline_step_ms"] = step_ms
            row["floor_share_of_step"] = round(row["floor_ms"] / step_ms, 5)
            row["pass_share_of_step"] = round(row["pass_net_of_call_ms"] / step_ms, 5)
            results["gc_pass"].append(row)
            log(
                f"  [{key}] GC pass ({row['compiler']}): {row['pass']['median_ms']:.3f} ms, "
                f"call {row['call']['median_ms']:.3f} ms, floor {row['floor_ms']:.3f} ms"
            )
        del model
        keras.backend.clear_session()
        python_gc.collect()
    results["load_average"]["end"] = machine.load_average()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write the JSON and Markdown files; print the summary."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(
        [f"KERAS_BACKEND={keras.backend.backend()}", "python", "-m", "benchmarks.gc_overhead"]
        + argv
    )
    results = run(args, command)
    out = args.out or Path(f"benchmarks/results/{results['device']}-{results['backend']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    report = markdown_report(results)
    out.with_suffix(".md").write_text(report)
    print(report)
    log(f"Wrote {out} and {out.with_suffix('.md')} in {results['duration_s']:.0f} s")
    return 0
