"""Benchmarks of the ``gc_tutorial`` package (not part of the package or the tests).

Run them as modules from the repository root, for instance::

    KERAS_BACKEND=jax python -m benchmarks.gc_overhead

See ``benchmarks/README.md`` for what is measured and how.
"""
