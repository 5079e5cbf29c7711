"""The worker's command line: one scenario on this process's backend, saved to ``.npz``.

For example::

    KERAS_BACKEND=jax python -m gc_tutorial.book.backend_check routes out.npz
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gc_tutorial.book.backend_check.scenarios import RUNS, SCENARIOS
from gc_tutorial.book.backend_check.worker import MODULE, save_results, worker_env


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
    results = RUNS[scenario](out.parent)  # mirrored() splits the CPU before TF starts
    import keras

    results["backend"] = keras.backend.backend()
    results["seconds"] = time.perf_counter() - start
    save_results(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
