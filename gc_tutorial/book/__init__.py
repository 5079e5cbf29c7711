"""The book's support code: what the chapters need beyond the GC library.

- :mod:`gc_tutorial.book.quiet` -- keeps TensorFlow's start-up log off the pages;
- :mod:`gc_tutorial.book.data` -- the real data sets, from their public source
  or a local copy (``GC_TUTORIAL_DATA``);
- :mod:`gc_tutorial.book.networks` -- the book's networks (taxi MLP, keras.io's CNN);
- :mod:`gc_tutorial.book.examples` -- the small problem of chapters 2 to 4;
- :mod:`gc_tutorial.book.experiments` -- studies, profiles, the resumable
  runner, paired statistics and the answer page's verdicts;
- :mod:`gc_tutorial.book.pages` -- computed sentences and tables into the prose;
- :mod:`gc_tutorial.book.plotting` -- the figures;
- :mod:`gc_tutorial.book.backend_check` -- chapter 8's per-backend runs.

They need the ``book`` extra (TensorFlow, TFDS, pandas, SciPy, matplotlib,
pooch). ``ARCHITECTURE.md`` maps every module.
"""
