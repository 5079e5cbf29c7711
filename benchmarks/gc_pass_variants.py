"""Diagnostic: the GC pass's formulations on TensorFlow, before and after.

The portable formula ``g - ops.mean(g, every axis but the last)`` runs, on
TensorFlow's CPU kernels without XLA, far below memory bandwidth: the mean
reduces the *outer* axis of the ``(fan-in, units)`` matrix. The package now
takes those column sums from ``tf.raw_ops.BiasAddGrad`` (TensorFlow's kernel
for exactly this reduction, the bias gradient) on TensorFlow float32. This
script times, on tensors of a model's real gradient shapes (the values do not
matter for the time):

- ``package``: ``gc_tutorial.centralize_gradients`` as it is now;
- ``ops_mean (before)``: the portable formula the package used before;
- ``matvec``: the column means as a matrix-vector product with a ``1/fan-in``
  vector (fast without XLA, slow with it);

each inside a ``tf.function``, with and without XLA, against the bandwidth
floor of ``benchmarks.gc_overhead`` (3 x 4 bytes per centralized parameter).
It prints a table and writes nothing. Run from the repository root::

    python -m benchmarks.gc_pass_variants --models resnet50
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from benchmarks.gc_overhead import (
    BYTES_PER_PARAMETER,
    MODEL_ALIASES,
    PASSES,
    copy_bandwidth,
    model_specs,
)
from benchmarks.gc_overhead import (
    parse_args as overhead_args,
)
from gc_tutorial import centralize_gradient, centralize_gradients


def _fan_in(g: tf.Tensor) -> int:
    return int(np.prod(g.shape[:-1]))


def _columns(g: tf.Tensor) -> tf.Tensor:
    return tf.reshape(g, (_fan_in(g), g.shape[-1]))


def gc_ops_mean(grads: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """The portable formula: ``g - ops.mean(g, every axis but the last)``.

    The package used it on TensorFlow too before taking the column sums from
    ``BiasAddGrad``; it is still what the other backends run.
    """
    out = []
    for g in grads:
        if centralize_gradient(g) is g:  # the package's rule: GC does not apply
            out.append(g)
            continue
        out.append(g - keras.ops.mean(g, axis=tuple(range(len(g.shape) - 1)), keepdims=True))
    return out


def gc_matvec(grads: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    out = []
    for g in grads:
        if centralize_gradient(g) is g:
            out.append(g)
            continue
        weights = tf.fill([_fan_in(g)], tf.constant(1.0 / _fan_in(g), g.dtype))
        out.append(g - tf.linalg.matvec(_columns(g), weights, transpose_a=True))
    return out


VARIANTS: dict[str, Callable[[Sequence[tf.Tensor]], list[Any]]] = {
    "package": lambda gs: centralize_gradients(gs),
    "ops_mean (before)": gc_ops_mean,
    "matvec": gc_matvec,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gc_pass_variants")
    parser.add_argument("--models", default="taxi,cnn,resnet50")
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed calls per variant (interleaved)"
    )
    parser.add_argument("--cnn-size", type=int, default=300)
    parser.add_argument("--resnet-size", type=int, default=128)
    args = parser.parse_args(argv)
    specs = model_specs(
        overhead_args(["--cnn-size", str(args.cnn_size), "--resnet-size", str(args.resnet_size)])
    )
    bandwidth = copy_bandwidth(256, 5)["bandwidth_gb_s"]
    print(f"copy bandwidth {bandwidth:.2f} GB/s")
    print(
        "| model | variant | jit_compile | median ms | min ms | ratio to floor "
        "| max abs diff vs package |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models.split(","):
        spec = specs[MODEL_ALIASES[name.strip()]]
        model = spec.build()
        rng = np.random.default_rng(0)
        grads = [
            tf.constant(rng.normal(size=v.shape), tf.float32) for v in model.trainable_variables
        ]
        n = sum(int(np.prod(g.shape)) for g in grads if centralize_gradient(g) is not g)
        floor_s = PASSES * BYTES_PER_PARAMETER * n / (bandwidth * 1e9)
        reference = centralize_gradients(grads)
        functions = {
            (variant, jit): tf.function(fn, jit_compile=jit)
            for variant, fn in VARIANTS.items()
            for jit in (False, True)
        }
        errors = {}
        for key, function in functions.items():
            out = function(grads)  # traces and compiles
            errors[key] = max(
                float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(out, reference, strict=True)
            )
        times: dict[tuple[str, bool], list[float]] = {key: [] for key in functions}
        for _ in range(args.repeats):
            for key, function in functions.items():
                start = time.perf_counter()
                function(grads)
                times[key].append(time.perf_counter() - start)
        for (variant, jit), seconds in times.items():
            median = float(np.median(seconds))
            print(
                f"| {spec.label} | {variant} | {jit} | {median * 1e3:.3f} "
                f"| {min(seconds) * 1e3:.3f} "
                f"| {median / floor_s:.2f} | {errors[(variant, jit)]:.1e} |"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
