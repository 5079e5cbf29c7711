"""What a worker process runs: one scenario on its backend, returning its results.

- :func:`routes` (any backend): the GC routes (``GCSGD``, ``GCAdam``, the
  ``GradientCentralization`` wrapper, the conv-only ``GCCSGD``, GC on the
  update) and plain optimizers, from the same NumPy initial weights on the
  same batches; a save-to-``.keras``-and-resume check; ``GCModel`` with plain
  Adam; and whether ``centralized("adam")`` gives the registered ``GCAdam``.
- :func:`mirrored` (TensorFlow): one device against
  ``tf.distribute.MirroredStrategy`` on two logical CPUs, same global batches.
- :func:`jax_data_parallel` (JAX): one device against
  ``keras.distribution.DataParallel`` on two host devices, same global batches.

Each takes the folder for scratch files and returns results in the layout
:func:`gc_tutorial.book.backend_check.worker.save_results` writes. Only
:func:`mirrored` imports TensorFlow, after it has split the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gc_tutorial.book.backend_check.problem import (
    BATCH_SIZE,
    data,
    fit,
    fresh_model,
    initial_weights,
)

__all__ = [
    "BACKENDS",
    "SCENARIOS",
    "N_DEVICES",
    "JAX_HOST_DEVICES_FLAG",
    "RUNS",
    "routes",
    "mirrored",
    "jax_data_parallel",
    "two_logical_cpus",
    "fit_mirrored",
    "fit_data_parallel",
]

BACKENDS = ("tensorflow", "jax", "torch")
SCENARIOS = {
    "routes": BACKENDS,
    "mirrored": ("tensorflow",),
    "jax_data_parallel": ("jax",),
}
"""Each scenario and the backends it runs on."""
N_DEVICES = 2
# JAX reads this once, when it starts: the CPU shows up as N_DEVICES devices.
JAX_HOST_DEVICES_FLAG = f"--xla_force_host_platform_device_count={N_DEVICES}"


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


RUNS = {"routes": routes, "mirrored": mirrored, "jax_data_parallel": jax_data_parallel}
"""Each scenario's function, by the name the command line gives."""
