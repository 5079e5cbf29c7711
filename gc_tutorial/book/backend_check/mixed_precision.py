"""GC in mixed precision: a taxi-fare model's loss in float32 and in mixed_float16.

Unlike the scenarios, this runs in the calling process, on its backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["mixed_precision_losses"]


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
