"""Check that GC trains the same on every Keras backend and on two devices.

Each check trains the same small model with the GC optimizers on one Keras
backend and saves the weights, for another process to compare. A Python
process has one Keras backend, chosen by ``KERAS_BACKEND`` before ``keras``
is first imported, so comparing backends takes one process per backend.
This module, run as a script, is that process::

    KERAS_BACKEND=jax python -m gc_tutorial.book.backend_check routes out.npz

Scenarios:

- ``routes`` (any backend): the GC routes (``GCSGD``, ``GCAdam``, the
  ``GradientCentralization`` wrapper, the conv-only ``GCCSGD``, GC on the
  update) and plain
  optimizers, from the same NumPy initial weights on the same batches; a
  save-to-``.keras``-and-resume check; ``GCModel`` with plain Adam; and
  whether ``centralized("adam")`` gives the registered ``GCAdam``.
- ``mirrored`` (TensorFlow): one device against
  ``tf.distribute.MirroredStrategy`` on two logical CPUs, same global batches.
- ``jax_data_parallel`` (JAX): one device against
  ``keras.distribution.DataParallel`` on two host devices, same global batches.

``tests/book/test_backend_check.py`` and the book's chapter 8 start it with
:func:`run_worker` and read its results with :func:`load_results`; they also
call :func:`mixed_precision_losses`, which trains a GC taxi-fare model in
float32 and in mixed precision, in their own process. Importing this module
imports only NumPy: each scenario imports Keras, on the backend
``KERAS_BACKEND`` names, and only the TensorFlow scenario imports TensorFlow,
so the module runs on JAX and PyTorch without it, and the ``mirrored``
scenario can split the CPU before TensorFlow's runtime starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MODULE = "gc_tutorial.book.backend_check"
"""What ``python -m`` runs: this module (``__name__`` is ``"__main__"`` there)."""
# The folder that holds the gc_tutorial package imported here: the repository
# for a checkout, site-packages for an installed package.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
BACKENDS = ("tensorflow", "jax", "torch")
SCENARIOS = {
    "routes": BACKENDS,
    "mirrored": ("tensorflow",),
    "jax_data_parallel": ("jax",),
}
N_DEVICES = 2
# JAX reads this once, when it starts: the CPU shows up as N_DEVICES devices.
JAX_HOST_DEVICES_FLAG = f"--xla_force_host_platform_device_count={N_DEVICES}"

N_EXAMPLES, BATCH_SIZE, EPOCHS = 64, 16, 2  # 4 batches an epoch, 8 steps
LOSS = "sparse_categorical_crossentropy"

# Tolerances, from measurement (tests/book/test_backend_check.py and chapter 8 use them).
# Same model, weights and batches on two backends differ only by float32
# round-off in different kernels (conv, matmul, reductions): measured at most
# 3.6e-7 after 8 steps (GCAdam, JAX against TensorFlow), a few float32 ulps
# of weights of size ~0.5. 1e-5 leaves a 25x margin and is 10^4 times smaller
# than what GC changes.
BACKEND_TOLERANCE = 1e-5
# One device against two on the same global batches: two half-batch
# gradients summed in another order. Measured at most 4.2e-7.
DEVICE_TOLERANCE = 1e-5
# The same optimizer reached two ways on one backend (subclass, wrapper,
# GCModel, save and resume): 0 except on PyTorch, 6e-8, where
# keras.optimizers.Adam() builds Keras's fused torch Adam, which the wrapper
# wraps and the GCAdam subclass does not use.
SAME_BACKEND_TOLERANCE = 1e-6
# What GC must change for the comparisons to mean anything (measured ~0.1).
GC_EFFECT = 1e-3
# Mixed precision: per-epoch loss relative to float32. float16 keeps 11
# significant bits, and the runs drift apart over 490 steps: measured at most
# 0.38% (JAX; 0.09% on TensorFlow, 0.06% on PyTorch); 2% leaves a 5x margin.
MIXED_PRECISION_GAP = 0.02


# Running the worker -----------------------------------------------------------


def worker_env(backend: str, scenario: str) -> dict[str, str]:
    """The environment a worker process needs: package, backend, and host devices.

    Args:
        backend: The Keras backend the worker runs on.
        scenario: One of :data:`SCENARIOS`; ``"jax_data_parallel"`` also asks
            JAX for :data:`N_DEVICES` host devices.

    Returns:
        This process's environment with those variables set; ``PYTHONPATH``
        starts with :data:`PACKAGE_PARENT`, so the worker imports the same
        ``gc_tutorial`` as this process.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    paths = [str(PACKAGE_PARENT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if scenario == "jax_data_parallel":
        flags = env.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            env["XLA_FLAGS"] = f"{flags} {JAX_HOST_DEVICES_FLAG}".strip()
    return env


def run_worker(
    scenario: str, backend: str, out: Path | str, timeout: float = 600
) -> dict[str, Any]:
    """Run ``python -m gc_tutorial.book.backend_check scenario out`` under ``backend``.

    Scratch files (a saved model) go to ``out``'s folder.

    Args:
        scenario: One of :data:`SCENARIOS`.
        backend: The Keras backend to run it on; one the scenario allows.
        out: The ``.npz`` file the worker saves its results to.
        timeout: Seconds the worker may take.

    Returns:
        The results it saved, as :func:`load_results` reads them.

    Raises:
        RuntimeError: the worker failed; the message ends with its stderr.
    """
    command = [sys.executable, "-m", MODULE, scenario, str(out)]
    done = subprocess.run(
        command,
        env=worker_env(backend, scenario),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"KERAS_BACKEND={backend} {' '.join(command[1:])} failed "
            f"(exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    return load_results(out)


def load_results(path: Path | str) -> dict[str, Any]:
    """Read a worker's ``.npz``: weight lists per run, and plain values.

    Weights are saved as ``"<run>/<index>"``; they come back as
    ``results[run] == [array, array, ...]``, in ``model.get_weights()`` order.
    Other entries come back as Python scalars or strings.

    Args:
        path: The file a worker (or :func:`save_results`) wrote.

    Returns:
        The results, by name.
    """
    results: dict[str, Any] = {}
    weights: dict[str, dict[int, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            if "/" in key:
                run, index = key.rsplit("/", 1)
                weights.setdefault(run, {})[int(index)] = data[key]
            else:
                results[key] = data[key].item()
    for run, arrays in weights.items():
        results[run] = [arrays[i] for i in range(len(arrays))]
    return results


# The model, its start and its data ------------------------------------------------


def build_model(model_class: Any = None) -> Any:
    """Conv2D + Dense classifier: a 4-D and a 2-D kernel, two biases.

    Args:
        model_class: The functional model's class; ``keras.Model`` by default.
    """
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return (model_class or keras.Model)(inputs, outputs)


def initial_weights() -> list[np.ndarray]:
    """The same starting weights on every backend, drawn by NumPy."""
    rng = np.random.default_rng(2020)
    shapes = [(3, 3, 3, 4), (4,), (4, 3), (3,)]
    return [
        (rng.normal(size=shape) * (0.3 if len(shape) > 1 else 0.1)).astype("float32")
        for shape in shapes
    ]


def data() -> tuple[np.ndarray, np.ndarray]:
    """64 random 8x8 RGB images with three classes read from their colours."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_EXAMPLES, 8, 8, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype("int32") + (
        x[..., 1].mean(axis=(1, 2)) > 0
    ).astype("int32")
    return x, y


def fresh_model(model_class: Any = None) -> Any:
    """:func:`build_model` (of ``model_class``) with :func:`initial_weights`."""
    model = build_model(model_class)
    model.set_weights(initial_weights())
    return model


def fit(model: Any, optimizer: Any, epochs: int = EPOCHS) -> list[np.ndarray]:
    """Compile and train on :func:`data` in a fixed batch order; return weights."""
    x, y = data()
    model.compile(optimizer=optimizer, loss=LOSS)
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, shuffle=False, verbose=0)
    return model.get_weights()


def gc_optimizers() -> dict[str, Any]:
    """The optimizers compared on every backend, made fresh on each call."""
    import keras

    from gc_tutorial import GCSGD, GCAdam, GradientCentralization, centralized

    return {
        "GCSGD": GCSGD(0.1, momentum=0.9),
        "GCAdam": GCAdam(1e-2),
        "wrapper(Adam)": GradientCentralization(keras.optimizers.Adam(1e-2)),
        "GCCSGD": centralized(keras.optimizers.SGD, conv_only=True)(0.1, momentum=0.9),
        "GCAdam update": GCAdam(1e-2, where="update"),
        "wrapper(Adam) update": GradientCentralization(keras.optimizers.Adam(1e-2), where="update"),
        "SGD": keras.optimizers.SGD(0.1, momentum=0.9),
        "Adam": keras.optimizers.Adam(1e-2),
    }


# Scenarios ---------------------------------------------------------------------------


def routes(out_dir: Path) -> dict[str, Any]:
    """Every route and plain optimizer; save/resume; GCModel; name lookup."""
    import keras

    from gc_tutorial import GCAdam, GCModel, centralized

    results: dict[str, Any] = {"initial": initial_weights()}
    for name, optimizer in gc_optimizers().items():
        results[name] = fit(fresh_model(), optimizer)

    # Save after one epoch, load into a new model, train the second epoch.
    model = fresh_model()
    fit(model, GCAdam(1e-2), epochs=1)
    model.save(out_dir / "gc_adam.keras")
    restored = keras.models.load_model(out_dir / "gc_adam.keras")
    results["restored_optimizer"] = type(restored.optimizer).__name__
    results["restored_iterations"] = int(restored.optimizer.iterations)
    x, y = data()
    restored.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
    results["GCAdam resumed"] = restored.get_weights()

    results["GCModel(Adam)"] = fit(fresh_model(GCModel), keras.optimizers.Adam(1e-2))

    # Last: where it makes a second GCAdam class, it re-registers the name.
    results["name_gives_GCAdam"] = centralized("adam") is GCAdam
    results["registry_keeps_GCAdam"] = (
        keras.saving.get_registered_object("gc_tutorial>GCAdam") is GCAdam
    )
    return results


def device_optimizers() -> dict[str, Any]:
    """Factories of the optimizers trained on one device and on two."""
    from gc_tutorial import GCSGD, GCAdam

    return {
        "GCSGD": lambda: GCSGD(0.1, momentum=0.9),
        "GCAdam": lambda: GCAdam(1e-2),
        "GCAdam update": lambda: GCAdam(1e-2, where="update"),
    }


def two_logical_cpus() -> list[str]:
    """Split TensorFlow's CPU into two logical devices; call before TF starts."""
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * N_DEVICES
    )
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def fit_mirrored(strategy: Any, make_optimizer: Any) -> Any:
    """Train under a ``tf.distribute`` strategy; return the model.

    Model and optimizer are created inside ``strategy.scope()``, so their
    variables are mirrored on every replica; ``fit`` then splits each global
    batch between the replicas.
    """
    with strategy.scope():
        model = fresh_model()
        optimizer = make_optimizer()
    fit(model, optimizer)
    return model


def fit_data_parallel(devices: list[Any], make_optimizer: Any) -> Any:
    """Train under ``keras.distribution.DataParallel`` (JAX); return the model.

    The distribution is set before the model is built, so its weights are
    replicated on ``devices``; ``fit`` then shards each global batch.
    """
    import keras

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        model = fresh_model()
        fit(model, make_optimizer())
    finally:
        keras.distribution.set_distribution(None)
    return model


def gc_linearity_gap() -> tuple[float, float]:
    """Centralize-then-sum against sum-then-centralize, on real gradients.

    Under MirroredStrategy each replica's gradient is centralized before the
    all-reduce sums them; GC is linear, so that equals centralizing the sum.
    Computes both for the two half-batches of the first global batch
    (TensorFlow) and returns the largest difference and the largest
    gradient entry, for scale.
    """
    import keras
    import tensorflow as tf

    from gc_tutorial import centralize_gradients
    from gc_tutorial.book.examples import max_difference

    model, (x, y) = fresh_model(), data()
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    half = BATCH_SIZE // N_DEVICES
    per_replica = []
    for replica in range(N_DEVICES):
        rows = slice(replica * half, (replica + 1) * half)
        with tf.GradientTape() as tape:
            # A replica's loss is its own mean divided by the number of replicas.
            loss = loss_fn(y[rows], model(x[rows])) / N_DEVICES
        per_replica.append(tape.gradient(loss, model.trainable_variables))
    centralize_then_sum = [
        sum(g) for g in zip(*map(centralize_gradients, per_replica), strict=True)
    ]
    sum_then_centralize = centralize_gradients([sum(g) for g in zip(*per_replica, strict=True)])

    def as_numpy(grads: list[Any]) -> list[np.ndarray]:
        return [np.asarray(g) for g in grads]

    gap = max_difference(as_numpy(centralize_then_sum), as_numpy(sum_then_centralize))
    return gap, max(float(np.max(np.abs(g))) for g in as_numpy(sum_then_centralize))


def mirrored(out_dir: Path) -> dict[str, Any]:
    """One CPU against MirroredStrategy over two logical CPUs (TensorFlow)."""
    devices = two_logical_cpus()  # first: TensorFlow must not have started
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices)
    results: dict[str, Any] = {
        "devices": ", ".join(devices),
        "replicas": int(strategy.num_replicas_in_sync),
    }
    contexts: list[int] = []  # replicas in sync, for each call of apply()

    def recording(optimizer: Any) -> Any:
        apply = optimizer.apply

        def recorded_apply(grads: Any, trainable_variables: Any = None) -> None:
            context = tf.distribute.get_replica_context()  # None: cross-replica
            contexts.append(0 if context is None else context.num_replicas_in_sync)
            apply(grads, trainable_variables)

        optimizer.apply = recorded_apply
        return optimizer

    for name, make in device_optimizers().items():
        results[f"{name} single"] = fit(fresh_model(), make())
        model = fit_mirrored(strategy, lambda make=make: recording(make()))
        results[f"{name} mirrored"] = model.get_weights()
    # Calls are recorded while tf.function traces the step, once per replica;
    # a 0 would be a call outside the replicas (after the all-reduce).
    results["apply_calls"] = len(contexts)
    results["apply_replicas"] = ", ".join(str(n) for n in sorted(set(contexts)))
    results["linearity_gap"], results["gradient_scale"] = gc_linearity_gap()
    return results


def jax_data_parallel(out_dir: Path) -> dict[str, Any]:
    """One device against keras.distribution.DataParallel on two (JAX)."""
    import jax

    devices = jax.devices()[:N_DEVICES]
    if len(devices) < N_DEVICES:
        raise RuntimeError(
            f"JAX sees {len(devices)} device(s); set XLA_FLAGS={JAX_HOST_DEVICES_FLAG} "
            "before jax is imported."
        )
    results: dict[str, Any] = {"devices": ", ".join(str(d) for d in devices)}
    for name, make in device_optimizers().items():
        results[f"{name} single"] = fit(fresh_model(), make())  # no distribution
        model = fit_data_parallel(devices, make)
        results[f"{name} data parallel"] = model.get_weights()
    kernel = model.trainable_variables[0].value
    results["weight_devices"] = len(kernel.sharding.device_set)
    results["weights_replicated"] = bool(kernel.sharding.is_fully_replicated)
    return results


def mixed_precision_losses(epochs: int = 5, batch_size: int = 64) -> dict[str, Any]:
    """Per-epoch training loss of one GC fare model in float32 and mixed_float16.

    The data are all the cleaned NYC taxi trips of
    :func:`gc_tutorial.book.examples.fare_sample`: standardized distance,
    passengers and minutes to standardized fare, so a mean squared error of
    0.1 leaves 10% of the fares' variance unexplained (reads
    ``$GC_TUTORIAL_DATA``). Both runs use ``GCAdam(3e-3)`` from the same
    NumPy weights on the same batches in the same order. The mixed one puts
    the optimizer inside ``keras.optimizers.LossScaleOptimizer`` and keeps the
    output layer in float32, as the Keras mixed-precision guide advises. Runs
    in the calling process, on its backend, and restores the dtype policy.

    Args:
        epochs: Epochs per run.
        batch_size: Trips per batch.

    Returns:
        ``"float32"`` and ``"mixed_float16"``: the loss lists; ``"steps"``:
        steps per run; ``"applied_steps"``: steps the loss-scaled optimizer
        applied (it skips a step whose gradients overflow float16);
        ``"loss_scale"``: its final scale.
    """
    import keras

    from gc_tutorial import GCAdam
    from gc_tutorial.book.examples import fare_sample

    sample = fare_sample(n=None, seed=0)
    x, y = sample.x, sample.y
    rng = np.random.default_rng(7)
    shapes = [(3, 32), (32,), (32, 32), (32,), (32, 1), (1,)]
    start = [
        (rng.normal(size=shape) * np.sqrt(2 / shape[0])).astype("float32")
        if len(shape) == 2
        else np.zeros(shape, "float32")
        for shape in shapes
    ]
    results: dict[str, Any] = {"steps": epochs * -(-len(x) // batch_size)}
    previous = keras.mixed_precision.dtype_policy()
    try:
        for policy in ("float32", "mixed_float16"):
            keras.mixed_precision.set_dtype_policy(policy)
            model = keras.Sequential(
                [
                    keras.Input((3,)),
                    keras.layers.Dense(32, activation="relu"),
                    keras.layers.Dense(32, activation="relu"),
                    keras.layers.Dense(1, dtype="float32"),
                ]
            )
            model.set_weights(start)
            optimizer = GCAdam(3e-3)
            if policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            model.compile(optimizer=optimizer, loss="mse")
            history = model.fit(
                x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0
            )
            results[policy] = [float(v) for v in history.history["loss"]]
            if policy == "mixed_float16":
                assert model.layers[0].compute_dtype == "float16"
                results["applied_steps"] = int(optimizer.inner_optimizer.iterations)
                results["loss_scale"] = float(optimizer.dynamic_scale)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    return results


def save_results(results: dict[str, Any], path: Path | str) -> None:
    """Save :func:`routes`-style results in the layout :func:`load_results` reads.

    Args:
        results: Lists of arrays (weights) and plain values, by name.
        path: The ``.npz`` file to write.
    """
    arrays: dict[str, Any] = {}  # Any: numpy's stubs type savez's keywords as options
    for key, value in results.items():
        if isinstance(value, list):
            for index, array in enumerate(value):
                arrays[f"{key}/{index}"] = np.asarray(array)
        else:
            arrays[key] = np.asarray(value)
    np.savez(path, **arrays)


def main(argv: list[str]) -> int:
    """Run one scenario on this process's backend and save its results.

    Args:
        argv: The command line after the module name: the scenario and the
            ``.npz`` file to write.

    Returns:
        The exit status: 0 when done, 2 for a wrong command line or backend.
    """
    if len(argv) != 2 or argv[0] not in SCENARIOS:
        print(f"usage: python -m {MODULE} {{{'|'.join(SCENARIOS)}}} OUT.npz", file=sys.stderr)
        return 2
    scenario, out = argv[0], Path(argv[1])
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend not in SCENARIOS[scenario]:
        print(
            f"scenario {scenario!r} needs KERAS_BACKEND in {SCENARIOS[scenario]}, not {backend!r}",
            file=sys.stderr,
        )
        return 2
    if scenario == "jax_data_parallel":
        os.environ.update(worker_env(backend, scenario))  # before JAX sets up its devices
    start = time.perf_counter()
    scenarios = {"routes": routes, "mirrored": mirrored, "jax_data_parallel": jax_data_parallel}
    results = scenarios[scenario](out.parent)  # mirrored() splits the CPU before TF starts
    import keras

    results["backend"] = keras.backend.backend()
    results["seconds"] = time.perf_counter() - start
    save_results(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
