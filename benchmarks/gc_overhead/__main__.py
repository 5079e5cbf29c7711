"""``python -m benchmarks.gc_overhead``: see :mod:`benchmarks.gc_overhead.run`."""

import sys

from gc_tutorial.book.quiet import import_keras_quietly

import_keras_quietly()  # first: keeps TensorFlow's C++ start-up log quiet

from benchmarks.gc_overhead.run import main  # noqa: E402

sys.exit(main())
