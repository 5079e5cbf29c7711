"""Benchmarks of the ``gc_tutorial`` package (not part of the package or the tests).

Run them as modules from the repository root, for instance::

    python -m benchmarks.gc_overhead --out benchmarks/results.json

See :mod:`benchmarks.gc_overhead` for what is measured and how.
"""
