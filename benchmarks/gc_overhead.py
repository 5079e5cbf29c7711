"""What Gradient Centralization costs per training step, against its floor.

GC is a memory-bound pass over the gradients: every centralized gradient is
read about twice (once for the mean, once for the subtraction) and written
once, so the pass cannot take less than about

    3 x 4 bytes x (number of centralized parameters) / memory bandwidth.

This benchmark measures, in one process:

1. **Per-step training time** with and without GC for three models -- the
   taxi MLP (``taxi_fare_mlp(22)``, batch 32), the Horses-or-Humans CNN
   (``horses_or_humans_cnn(300)``, batch 128) and ``keras.applications.
   ResNet50`` (``weights=None``, 2 classes; batch 8 at 128x128 by default, a
   size a 2-core CPU can train) -- and the three ways the package offers GC:

   - ``subclass``: the ``centralized`` optimizer subclass (``GCAdam``,
     ``GCRMSprop``) against the plain optimizer;
   - ``wrapper``: ``GradientCentralization(optimizer)`` against the plain
     optimizer (the same baseline arm as ``subclass``);
   - ``GCModel``: ``gc_tutorial.GCModel`` with a plain optimizer against the
     very same ``train_step`` code with the identity in place of
     ``centralize_gradients`` (so the comparison isolates GC, not the
     difference between a hand-written and Keras's built-in ``train_step``).

   Every arm is a separately built and compiled model with the same initial
   weights. All arms are compiled and warmed up first (the first call, which
   traces, and ``--warmup`` more steps are not timed); then the arms take
   turns in blocks of ``--block`` steps, in a rotating order, until each has
   ``--steps`` timed steps. One step is one call of the model's compiled
   train function (what ``fit`` and ``train_on_batch`` call per batch) on
   fixed input tensors, timed with ``time.perf_counter`` until the loss has
   been read back to the host. The inputs are synthetic tensors of the real
   shapes: the time of a dense training step does not depend on the values.

   Overhead = GC median / baseline median - 1, with a bootstrap 95% interval
   (resampling the steps of both arms) as its noise.

2. **The GC pass alone**: ``gc_tutorial.centralize_gradients`` over one
   batch's real gradients (from ``tf.GradientTape``) inside a
   ``tf.function``, with and without XLA (``jit_compile``), against the floor
   above, computed from the copy bandwidth measured in the same run (best of
   several ``np.copyto`` of a 256 MiB array; bytes moved = 2 x size). The
   time of calling a ``tf.function`` that returns its inputs unchanged is
   measured too, so the fixed cost of a call (which a compiled training step
   does not pay) can be told from the pass. The pass alone must allocate its
   outputs, since the caller still holds the gradients; inside a training
   step TensorFlow can write them into the gradients' own buffers.
   ``benchmarks/gc_pass_variants.py`` compares other formulations of the
   same operator.

Results go to a JSON file (``--out``) and a Markdown summary next to it, with
the machine, the library versions, the date and the command that made them.

Run from the repository root::

    python -m benchmarks.gc_overhead --out benchmarks/results.json
    python -m benchmarks.gc_overhead --quick --out benchmarks/results.json

This is a benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import gc as python_gc
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gc_tutorial  # first: keeps TensorFlow's C++ start-up log quiet

# isort: split
import keras
import numpy as np
import tensorflow as tf

from gc_tutorial import (
    GCModel,
    GradientCentralization,
    centralize_gradient,
    centralize_gradients,
    centralized,
)
from gc_tutorial.models import horses_or_humans_cnn, taxi_fare_mlp

SCHEMA_VERSION = 1
BYTES_PER_PARAMETER = 4  # float32
PASSES = 3  # GC reads each centralized gradient twice and writes it once
OVERHEAD_TARGETS = {"taxi_mlp": 0.05, "hoh_cnn": 0.02, "resnet50": 0.02}
FLOOR_RATIO_TARGET = 3.0

# ---------------------------------------------------------------------------
# The arms
# ---------------------------------------------------------------------------


class GCModelWithoutGC(GCModel):
    """``GCModel`` whose gradient hook is the identity: the GCModel route's baseline.

    Both arms run ``GCModel.train_step`` line for line; only
    ``transform_gradients`` differs.
    """

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        return list(grads)


# name: (what it is, applies GC)
ARMS: dict[str, tuple[str, bool]] = {
    "plain": ("the model with the plain optimizer", False),
    "subclass": ("the model with gc_tutorial.centralized(optimizer class)", True),
    "wrapper": ("the model with GradientCentralization(plain optimizer)", True),
    "GCModel without GC": ("GCModel's train_step with GC replaced by the identity", False),
    "GCModel": ("gc_tutorial.GCModel with the plain optimizer", True),
}

# route: (baseline arm, GC arm)
ROUTES: dict[str, tuple[str, str]] = {
    "subclass": ("plain", "subclass"),
    "wrapper": ("plain", "wrapper"),
    "GCModel": ("GCModel without GC", "GCModel"),
}

# ---------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """One benchmarked model, its batch and its optimizer."""

    key: str
    label: str
    batch_size: int
    input_shape: tuple[int, ...]
    optimizer: str
    learning_rate: float
    loss: str
    steps: int
    warmup: int
    block: int
    gc_repeats: int
    image_size: int | None = None
    notes: list[str] = field(default_factory=list)

    def build(self) -> keras.Model:
        if self.key == "taxi_mlp":
            return taxi_fare_mlp(self.input_shape[0])
        if self.key == "hoh_cnn":
            return horses_or_humans_cnn(self.image_size)
        if self.key == "resnet50":
            return keras.applications.ResNet50(
                weights=None,
                input_shape=(self.image_size, self.image_size, 3),
                classes=2,
            )
        raise ValueError(self.key)

    def batch(self, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Synthetic inputs and targets of the real shapes and dtypes."""
        rng = np.random.default_rng(seed)
        shape = (self.batch_size, *self.input_shape)
        if self.key == "taxi_mlp":
            x = rng.normal(size=shape)
            y = rng.normal(size=(self.batch_size, 1))
        elif self.key == "hoh_cnn":
            x = rng.uniform(0.0, 255.0, size=shape)  # raw pixels; the model rescales
            y = rng.integers(0, 2, size=(self.batch_size, 1))
        else:
            x = rng.uniform(0.0, 1.0, size=shape)
            return tf.constant(x, tf.float32), tf.constant(
                rng.integers(0, 2, size=(self.batch_size,)), tf.int32
            )
        return tf.constant(x, tf.float32), tf.constant(y, tf.float32)


def model_specs(args: argparse.Namespace) -> dict[str, ModelSpec]:
    quick = args.quick
    specs = {
        "taxi_mlp": ModelSpec(
            key="taxi_mlp",
            label="taxi MLP",
            batch_size=32,
            input_shape=(22,),
            optimizer="Adam",
            learning_rate=1e-3,
            loss="mse",
            steps=60 if quick else 1000,
            warmup=10 if quick else 50,
            block=10 if quick else 20,
            gc_repeats=50 if quick else 500,
            notes=["taxi_fare_mlp(22), batch 32 (chapter 6)"],
        ),
        "hoh_cnn": ModelSpec(
            key="hoh_cnn",
            label="Horses-or-Humans CNN",
            batch_size=args.cnn_batch or (16 if quick else 128),
            image_size=args.cnn_size or (96 if quick else 300),
            input_shape=(),
            optimizer="RMSprop",
            learning_rate=1e-4,
            loss="binary_crossentropy",
            steps=20 if quick else 48,
            warmup=2 if quick else 3,
            block=5,
            gc_repeats=30 if quick else 100,
        ),
        "resnet50": ModelSpec(
            key="resnet50",
            label="ResNet50",
            # Batch 32 keeps the GC pass's memory floor near 1% of a step;
            # at batch 8 the floor alone is 2-3% of ResNet50's step here.
            batch_size=args.resnet_batch or (4 if quick else 32),
            image_size=args.resnet_size or (64 if quick else 128),
            input_shape=(),
            optimizer="Adam",
            learning_rate=1e-3,
            loss="sparse_categorical_crossentropy",
            steps=20 if quick else 48,
            warmup=2 if quick else 3,
            block=5,
            gc_repeats=20 if quick else 50,
        ),
    }
    for key in ("hoh_cnn", "resnet50"):
        spec = specs[key]
        spec.input_shape = (spec.image_size, spec.image_size, 3)
    cnn, resnet = specs["hoh_cnn"], specs["resnet50"]
    cnn.notes.append(
        f"horses_or_humans_cnn({cnn.image_size}) with its augmentation layers, "
        f"batch {cnn.batch_size} (keras.io: 300x300, batch 128)"
    )
    resnet.notes.append(
        f"keras.applications.ResNet50(weights=None, input_shape=({resnet.image_size}, "
        f"{resnet.image_size}, 3), classes=2), batch {resnet.batch_size}: chosen to "
        "fit a 2-core CPU (ImageNet training uses 224x224 and far larger batches)"
    )
    for spec in specs.values():
        if args.steps:
            spec.steps = args.steps
        if args.warmup is not None:
            spec.warmup = args.warmup
        if args.block:
            spec.block = args.block
        if args.gc_repeats:
            spec.gc_repeats = args.gc_repeats
    return specs


def build_arm(spec: ModelSpec, arm: str, seed: int, jit_compile: Any = "auto") -> keras.Model:
    """A freshly built and compiled model for one arm (same initial weights)."""
    keras.utils.set_random_seed(seed)
    network = spec.build()
    optimizer_class = getattr(keras.optimizers, spec.optimizer)
    optimizer: keras.optimizers.Optimizer
    if arm == "plain":
        model, optimizer = network, optimizer_class(spec.learning_rate)
    elif arm == "subclass":
        model, optimizer = network, centralized(optimizer_class)(spec.learning_rate)
    elif arm == "wrapper":
        model = network
        optimizer = GradientCentralization(optimizer_class(spec.learning_rate))
    elif arm == "GCModel without GC":
        model = GCModelWithoutGC(network.inputs, network.outputs, name=network.name)
        optimizer = optimizer_class(spec.learning_rate)
    elif arm == "GCModel":
        model = GCModel(network.inputs, network.outputs, name=network.name)
        optimizer = optimizer_class(spec.learning_rate)
    else:
        raise ValueError(arm)
    model.compile(optimizer=optimizer, loss=spec.loss, jit_compile=jit_compile)
    return model


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_step(model: keras.Model, batch: tuple[tf.Tensor, tf.Tensor]) -> Callable[[], float]:
    """A function that runs one training step and returns its duration in s."""
    model.make_train_function()
    train_function = model.train_function
    x, y = batch

    def step() -> float:
        start = time.perf_counter()
        logs = train_function(iter(((x, y),)))
        float(logs["loss"])  # block until the step is done
        return time.perf_counter() - start

    return step


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1e3
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "median_ms": round(float(median), 4),
        "q1_ms": round(float(q1), 4),
        "q3_ms": round(float(q3), 4),
        "iqr_ms": round(float(q3 - q1), 4),
        "min_ms": round(float(values.min()), 4),
        "n": int(values.size),
    }


def bootstrap_overhead(
    baseline: Sequence[float], treated: Sequence[float], seed: int, resamples: int = 4000
) -> tuple[float, float]:
    """95% bootstrap interval of median(treated) / median(baseline) - 1."""
    rng = np.random.default_rng(seed)
    base = np.asarray(baseline)
    gc = np.asarray(treated)
    base_medians = np.median(rng.choice(base, (resamples, base.size)), axis=1)
    gc_medians = np.median(rng.choice(gc, (resamples, gc.size)), axis=1)
    low, high = np.percentile(gc_medians / base_medians - 1.0, [2.5, 97.5])
    return float(low), float(high)


def time_steps(
    spec: ModelSpec, arms: list[str], seed: int, jit_compile: Any = "auto"
) -> tuple[dict[str, list[float]], list[dict[str, Any]], keras.Model]:
    """Build, warm up, then time all arms of one model, interleaved."""
    batch = spec.batch(seed)
    steps: dict[str, Callable[[], float]] = {}
    arm_info: list[dict[str, Any]] = []
    models: dict[str, keras.Model] = {}
    for order, arm in enumerate(arms):
        log(f"  [{spec.key}] building and compiling arm {arm!r}")
        start = time.perf_counter()
        model = build_arm(spec, arm, seed, jit_compile)
        build_s = time.perf_counter() - start
        step = make_step(model, batch)
        first_call_s = step()  # traces the train function
        warmup = [step() for _ in range(spec.warmup)]
        steps[arm] = step
        models[arm] = model
        arm_info.append(
            {
                "model": spec.key,
                "arm": arm,
                "what": ARMS[arm][0],
                "applies_gc": ARMS[arm][1],
                "model_class": type(model).__name__,
                "optimizer_class": type(model.optimizer).__name__,
                "jit_compile": bool(model.jit_compile),
                "build_order": order,
                "build_s": round(build_s, 4),
                "first_call_s": round(first_call_s, 4),
                "warmup_ms": [round(s * 1e3, 4) for s in warmup],
            }
        )
        log(
            f"    first call (traces) {first_call_s:.2f} s, "
            f"warm-up median {np.median(warmup) * 1e3 if warmup else float('nan'):.2f} ms"
        )

    times: dict[str, list[float]] = {arm: [] for arm in arms}
    rounds = math.ceil(spec.steps / spec.block)
    log(f"  [{spec.key}] timing {len(arms)} arms x {spec.steps} steps in {rounds} rounds")
    for round_index in range(rounds):
        shift = round_index % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            count = min(spec.block, spec.steps - len(times[arm]))
            python_gc.collect()
            python_gc.disable()
            try:
                times[arm].extend(steps[arm]() for _ in range(count))
            finally:
                python_gc.enable()
    for info in arm_info:
        model = models[info["arm"]]
        info["final_loss_finite"] = bool(
            np.isfinite(float(model.train_function(iter((batch,)))["loss"]))
        )
    return times, arm_info, models[arms[0]]


def copy_bandwidth(size_mib: int, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` bandwidth of ``np.copyto`` (bytes moved = 2 x size)."""
    count = size_mib * 2**20 // 4
    source = np.arange(count, dtype=np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch every page before timing
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        seconds.append(time.perf_counter() - start)
    best = min(seconds)
    return {
        "method": "np.copyto(dst, src) of a float32 array, one thread; bytes moved = 2 x size",
        "size_mib": size_mib,
        "repeats": repeats,
        "seconds": [round(s, 6) for s in seconds],
        "best_s": round(best, 6),
        "bandwidth_gb_s": round(2 * source.nbytes / best / 1e9, 3),
    }


def gradients_of(model: keras.Model, batch: tuple[tf.Tensor, tf.Tensor]) -> list[tf.Tensor]:
    """One batch's gradients of the model's trainable weights."""
    x, y = batch
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
    return [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]


def time_calls(function: Callable[[], Any], repeats: int) -> list[float]:
    seconds = []
    python_gc.collect()
    python_gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - start)
    finally:
        python_gc.enable()
    return seconds


def gc_pass(
    spec: ModelSpec,
    model: keras.Model,
    batch: tuple[tf.Tensor, tf.Tensor],
    bandwidth_gb_s: float,
    jit_modes: Sequence[bool],
) -> list[dict[str, Any]]:
    """Time ``centralize_gradients`` on real gradients against its floor."""
    grads = gradients_of(model, batch)
    centralized_mask = [centralize_gradient(g) is not g for g in grads]
    sizes = [int(np.prod(g.shape)) for g in grads]
    n_centralized = sum(size for size, c in zip(sizes, centralized_mask, strict=True) if c)
    traffic = PASSES * BYTES_PER_PARAMETER * n_centralized
    floor_s = traffic / (bandwidth_gb_s * 1e9)
    # The fixed cost of calling a tf.function with these arguments: one that
    # returns its inputs unchanged (without XLA, which would copy them).
    identity = tf.function(lambda gs: list(gs))
    identity(grads)
    identity_s = time_calls(lambda: identity(grads), spec.gc_repeats)
    call_s = float(np.median(identity_s))
    rows = []
    for jit in jit_modes:
        centralize = tf.function(lambda gs: centralize_gradients(gs), jit_compile=jit)
        # On CPU, TensorFlow runs a tf.function synchronously: the call returns
        # when every output has been computed.
        centralize(grads)
        # Bound now (B023), and a lambda like the identity's, so that both
        # timings carry the same call overhead.
        centralize_s = time_calls(lambda centralize=centralize: centralize(grads), spec.gc_repeats)
        median_s = float(np.median(centralize_s))
        rows.append(
            {
                "model": spec.key,
                "jit_compile": jit,
                "parameters": int(sum(sizes)),
                "centralized_parameters": int(n_centralized),
                "centralized_tensors": int(sum(centralized_mask)),
                "tensors": len(grads),
                "traffic_bytes": int(traffic),
                "floor_ms": round(floor_s * 1e3, 5),
                "pass": stats_ms(centralize_s),
                "call_overhead": stats_ms(identity_s),
                "pass_net_of_call_ms": round(max(median_s - call_s, 0.0) * 1e3, 5),
                "achieved_gb_s": round(traffic / median_s / 1e9, 3),
                "ratio": round(median_s / floor_s, 3),
                "ratio_net_of_call": round(max(median_s - call_s, 0.0) / floor_s, 3),
                "target_ratio": FLOOR_RATIO_TARGET,
                "meets_target": bool(median_s / floor_s <= FLOOR_RATIO_TARGET),
            }
        )
        log(
            f"  [{spec.key}] GC pass (jit_compile={jit}): {median_s * 1e3:.3f} ms, "
            f"call alone {call_s * 1e3:.3f} ms, floor {floor_s * 1e3:.3f} ms, "
            f"ratio {median_s / floor_s:.2f}"
        )
    return rows


# ---------------------------------------------------------------------------
# The machine and the report
# ---------------------------------------------------------------------------


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_description() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": _cpuinfo_field("model name") or platform.processor() or platform.machine(),
        "cpu_cache": _cpuinfo_field("cache size"),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "gc_tutorial": gc_tutorial.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "tf_synchronous_execution": bool(tf.config.experimental.get_synchronous_execution()),
    }


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _pct(x: float) -> str:
    return f"{100 * x:+.2f}%"


def markdown_report(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# What GC costs per training step",
        "",
        f"Made by `{results['command']}` on {results['date_utc']}"
        + (" (**quick run: small sizes, few steps, noisy**)." if results["quick"] else "."),
        "",
        f"Machine: {m['cpu_model']}, {m['usable_cores']} usable of {m['logical_cores']} "
        f"logical cores, {m['memory_gib']} GiB, GPUs: {m['gpus']}; Python {m['python']}, "
        f"NumPy {m['numpy']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
        f"gc_tutorial {m['gc_tutorial']}. Load average at start / end: "
        f"{results['load_average_start']} / {results['load_average_end']}"
        + (" (**the machine was busy: noisy timings**)." if results["busy_at_start"] else "."),
        "",
        results["inputs_note"],
        "",
        "## Per-step time",
        "",
        "| model | route | baseline median ms (IQR) | GC median ms (IQR) | overhead "
        "| 95% interval | target | within noise | <= target | interval <= target "
        "| GC pass / step | floor / step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["step_times"]:
        b, g = row["baseline"], row["gc"]
        lines.append(
            f"| {row['model_label']} | {row['route']} | {b['median_ms']:.3f} ({b['iqr_ms']:.3f}) "
            f"| {g['median_ms']:.3f} ({g['iqr_ms']:.3f}) | {_pct(row['overhead'])} "
            f"| {_pct(row['overhead_ci95'][0])} .. {_pct(row['overhead_ci95'][1])} "
            f"| <= {100 * row['target']:.0f}% | {'yes' if row['within_noise'] else 'no'} "
            f"| {'yes' if row['meets_target'] else 'no'} "
            f"| {'yes' if row['interval_below_target'] else 'no'} "
            f"| {100 * row['pass_share']:.2f}% | {100 * row['floor_share']:.2f}% |"
        )
    lines += [
        "",
        "GC pass / step and floor / step: the GC pass timed alone (without XLA, less "
        "the fixed cost of calling a tf.function) and its bandwidth floor, as shares "
        "of the baseline step: what GC would add if it cost exactly that inside the step.",
        "",
        "Models:",
        "",
    ]
    for spec in results["settings"]["models"].values():
        lines.append(
            f"- {spec['label']}: {'; '.join(spec['notes'])}; optimizer {spec['optimizer']}"
            f"({spec['learning_rate']}), loss {spec['loss']}; {spec['warmup']} warm-up "
            f"steps, {spec['steps']} timed steps per arm in blocks of {spec['block']}."
        )
    bw = results["copy_bandwidth"]
    lines += [
        "",
        "## The GC pass alone",
        "",
        f"Copy bandwidth: {bw['bandwidth_gb_s']:.2f} GB/s ({bw['method']}, {bw['size_mib']} MiB, "
        f"best of {bw['repeats']}). Floor = {PASSES} x {BYTES_PER_PARAMETER} bytes x "
        "centralized parameters / bandwidth.",
        "",
        "| model | jit_compile | centralized parameters | floor ms "
        "| GC pass median ms (IQR) | call alone ms | ratio | ratio net of call "
        "| meets <= 3x |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["gc_pass"]:
        lines.append(
            f"| {results['settings']['models'][row['model']]['label']} | {row['jit_compile']} "
            f"| {row['centralized_parameters']:,} | {row['floor_ms']:.4f} "
            f"| {row['pass']['median_ms']:.4f} ({row['pass']['iqr_ms']:.4f}) "
            f"| {row['call_overhead']['median_ms']:.4f} | {row['ratio']:.2f} "
            f"| {row['ratio_net_of_call']:.2f} | {'yes' if row['meets_target'] else 'no'} |"
        )
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

MODEL_ALIASES = {
    "taxi": "taxi_mlp",
    "taxi_mlp": "taxi_mlp",
    "mlp": "taxi_mlp",
    "cnn": "hoh_cnn",
    "hoh_cnn": "hoh_cnn",
    "resnet50": "resnet50",
    "resnet": "resnet50",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gc_overhead",
        description=(
            "Per-step cost of Gradient Centralization, and the GC pass against "
            "its memory-bandwidth floor."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results.json"),
        help="JSON results file; a Markdown summary is written next to it (.md)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small images and batches, few steps: a smoke run in minutes, noisy",
    )
    parser.add_argument(
        "--models",
        default="taxi,cnn,resnet50",
        help="comma-separated: taxi, cnn, resnet50 (default: all)",
    )
    parser.add_argument(
        "--routes",
        default="subclass,wrapper,GCModel",
        help="comma-separated: subclass, wrapper, GCModel (default: all)",
    )
    parser.add_argument("--steps", type=int, help="timed steps per arm (all models)")
    parser.add_argument("--warmup", type=int, help="untimed steps per arm after the first call")
    parser.add_argument("--block", type=int, help="steps an arm runs before the next arm's turn")
    parser.add_argument("--gc-repeats", type=int, help="timed calls of the GC pass")
    parser.add_argument(
        "--cnn-size", type=int, help="CNN image size (default 300; quick 96; at least 78)"
    )
    parser.add_argument("--cnn-batch", type=int, help="CNN batch size (default 128; quick 16)")
    parser.add_argument(
        "--resnet-size", type=int, help="ResNet50 image size (default 128; quick 64)"
    )
    parser.add_argument(
        "--resnet-batch", type=int, help="ResNet50 batch size (default 32; quick 4)"
    )
    parser.add_argument("--copy-mib", type=int, default=256, help="size of the bandwidth copy")
    parser.add_argument(
        "--copy-repeats", type=int, help="copies timed (best counts; default 10, quick 5)"
    )
    parser.add_argument("--no-jit", action="store_true", help="time the GC pass without XLA only")
    parser.add_argument(
        "--jit-compile",
        choices=["auto", "true", "false"],
        default="auto",
        help="compile() argument of every arm (auto: Keras's default, no XLA on CPU)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    try:
        args.model_keys = list(
            dict.fromkeys(MODEL_ALIASES[m.strip()] for m in args.models.split(",") if m.strip())
        )
    except KeyError as error:
        parser.error(f"unknown model {error.args[0]!r}; choose from taxi, cnn, resnet50")
    args.route_names = [r.strip() for r in args.routes.split(",") if r.strip()]
    unknown = [r for r in args.route_names if r not in ROUTES]
    if unknown:
        parser.error(f"unknown route(s) {unknown}; choose from {list(ROUTES)}")
    return args


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    started = time.perf_counter()
    specs = model_specs(args)
    arms = list(dict.fromkeys(arm for route in args.route_names for arm in ROUTES[route]))
    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "quick": bool(args.quick),
        "command": "python -m benchmarks.gc_overhead " + shlex.join(argv),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "load_average_start": _load(),
        "inputs_note": (
            "Inputs are synthetic tensors of the real shapes and dtypes, fixed for the "
            "whole run: the time of a dense training step does not depend on the values, "
            "so no data set is read."
        ),
        "settings": {
            "routes": {r: {"baseline": ROUTES[r][0], "gc": ROUTES[r][1]} for r in args.route_names},
            "arms": {a: ARMS[a][0] for a in arms},
            "models": {k: asdict(specs[k]) for k in args.model_keys},
            "timing": (
                "one step = one call of the compiled train function (what fit calls per "
                "batch) on fixed tensors, timed with time.perf_counter until the loss is "
                "read back; first call and warm-up steps excluded; arms interleaved in "
                "blocks, rotating order; Python's garbage collector paused within a block"
            ),
            "overhead": "GC median / baseline median - 1; 95% bootstrap interval over steps",
            "seed": args.seed,
            "jit_compile": args.jit_compile,
        },
    }
    load = results["load_average_start"]
    cores = results["machine"]["usable_cores"] or 1
    results["busy_at_start"] = bool(load and load[0] > 0.5 * cores)
    if results["busy_at_start"]:
        log(
            f"WARNING: load average {load[0]} on {cores} cores: the machine is busy, "
            "timings will be noisy. Run the benchmark on a quiet machine."
        )
    log(f"Measuring copy bandwidth ({args.copy_mib} MiB)")
    bandwidth = copy_bandwidth(args.copy_mib, args.copy_repeats or (5 if args.quick else 10))
    log(f"  {bandwidth['bandwidth_gb_s']:.2f} GB/s")
    step_rows: list[dict[str, Any]] = []
    arm_rows: list[dict[str, Any]] = []
    pass_rows: list[dict[str, Any]] = []
    jit_modes = [False] if args.no_jit else [False, True]
    for key in args.model_keys:
        spec = specs[key]
        log(f"Model {spec.label}: {'; '.join(spec.notes)}")
        times, info, plain_model = time_steps(spec, arms, args.seed, args.jit_compile)
        for row in info:
            row["times_ms"] = [round(s * 1e3, 4) for s in times[row["arm"]]]
            row["stats"] = stats_ms(times[row["arm"]])
        arm_rows += info
        for route in args.route_names:
            base_arm, gc_arm = ROUTES[route]
            base, gc = stats_ms(times[base_arm]), stats_ms(times[gc_arm])
            overhead = gc["median_ms"] / base["median_ms"] - 1.0
            low, high = bootstrap_overhead(times[base_arm], times[gc_arm], args.seed)
            target = OVERHEAD_TARGETS[key]
            step_rows.append(
                {
                    "model": key,
                    "model_label": spec.label,
                    "route": route,
                    "baseline_arm": base_arm,
                    "gc_arm": gc_arm,
                    "baseline": base,
                    "gc": gc,
                    "overhead": round(overhead, 5),
                    "overhead_ci95": [round(low, 5), round(high, 5)],
                    "within_noise": bool(low <= 0.0 <= high),
                    "target": target,
                    "meets_target": bool(overhead <= target),
                    # The measurement is precise enough to confirm the target.
                    "interval_below_target": bool(high <= target),
                }
            )
            log(
                f"  [{key}] {route}: {base['median_ms']:.3f} -> {gc['median_ms']:.3f} ms, "
                f"overhead {_pct(overhead)} (95%: {_pct(low)} .. {_pct(high)})"
            )
        batch = spec.batch(args.seed)
        model_pass_rows = gc_pass(spec, plain_model, batch, bandwidth["bandwidth_gb_s"], jit_modes)
        pass_rows += model_pass_rows
        # What the pass alone predicts for a step: its floor and its measured
        # time (without XLA, as in the compiled step; less the cost of a call,
        # which the compiled step does not pay) over the baseline step.
        unjitted = next(r for r in model_pass_rows if not r["jit_compile"])
        for row in step_rows:
            if row["model"] == key:
                row["floor_share"] = round(unjitted["floor_ms"] / row["baseline"]["median_ms"], 5)
                row["pass_share"] = round(
                    unjitted["pass_net_of_call_ms"] / row["baseline"]["median_ms"], 5
                )
        del plain_model
        keras.backend.clear_session()
        python_gc.collect()
    results["copy_bandwidth"] = bandwidth
    results["step_times"] = step_rows
    results["gc_pass"] = pass_rows
    results["arms"] = arm_rows
    results["load_average_end"] = _load()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    results = run(args, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    report = markdown_report(results)
    args.out.with_suffix(".md").write_text(report)
    print(report)
    log(f"Wrote {args.out} and {args.out.with_suffix('.md')} in {results['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
