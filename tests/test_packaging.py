"""The GC library needs Keras only; the book's support code is an extra.

``pip install gc_tutorial`` brings Keras alone; ``gc_tutorial[book]`` adds
TensorFlow, TFDS, pandas, SciPy, matplotlib and Pillow for the chapters.
So ``import gc_tutorial`` and its optimizers must work in a process where
none of those can be imported.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from pathlib import Path

import pytest
from helpers import run_python

ROOT = Path(__file__).resolve().parents[1]

# SciPy is in the extra too, but JAX itself needs it, so it is not blocked here.
BOOK_ONLY = ("tensorflow", "tensorflow_datasets", "pandas", "matplotlib", "PIL")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs the JAX backend")
def test_the_gc_library_imports_and_trains_without_the_book_extra():
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class BookOnly(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BOOK_ONLY!r}:
                    raise ImportError(f"{{name}} is not installed (book extra)")
                return None

        sys.meta_path.insert(0, BookOnly())
        import keras, numpy as np
        import gc_tutorial

        model = gc_tutorial.GCModel(*(lambda i: (i, keras.layers.Dense(2)(i)))(keras.Input((3,))))
        model.compile(optimizer=gc_tutorial.GCAdam(1e-2, where="update"), loss="mse")
        model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)
        print("trained", model.optimizer.iterations.numpy())
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = run_python("-c", script, cwd=ROOT, env=env, timeout=300)
    assert result.stdout.strip() == "trained 1", result.stdout
