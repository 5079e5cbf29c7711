"""Loaders for the book's two real data sets.

- :func:`load_nyc_taxis` -- 6,433 New York City taxi trips (seaborn's
  ``taxis`` data set), for the fare-regression chapter (:mod:`.taxi`);
- :func:`load_horses_or_humans` -- the Horses or Humans images (TFDS
  ``horses_or_humans``), for the image-classification chapter, as ``tf.data``
  pipelines or as :class:`ArrayBatches` (a ``keras.utils.PyDataset`` that
  needs no TensorFlow); :func:`load_horses_or_humans_arrays` gives the plain
  NumPy arrays behind the latter (:mod:`.horses_or_humans`,
  :mod:`.array_batches`).

By default both fetch their data from the public source: the taxi CSV is
downloaded once, checked against its SHA-256 and cached by pooch, the images
come from TensorFlow Datasets. Set the environment variable
``GC_TUTORIAL_DATA`` to a folder holding ``nyc_taxis/taxis.csv`` and
``horses_or_humans/{train,test}/{horses,humans}/`` to read a local copy
instead, e.g. on a machine without internet access; :func:`verify_sha256sums`
checks such a copy against its ``SHA256SUMS`` files, and ``bash
scripts/fetch_data DEST`` writes one (:mod:`.fetch`). The loaders never fall
back to other data: a missing or broken copy is an error.

Importing the package loads nothing else: the names above are loaded, with
their modules, on first use (PEP 562), so that :mod:`.fetch` (``scripts/fetch_data``)
runs without Keras, pandas or Pillow installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gc_tutorial._lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from gc_tutorial.book.data.array_batches import ArrayBatches
    from gc_tutorial.book.data.fetch import DATA_ENV, local_data_dir, verify_sha256sums
    from gc_tutorial.book.data.horses_or_humans import (
        HORSES_OR_HUMANS_CLASSES,
        load_horses_or_humans,
        load_horses_or_humans_arrays,
        load_horses_or_humans_split,
    )
    from gc_tutorial.book.data.taxi import TAXI_COLUMNS, load_nyc_taxis

__all__ = [
    "DATA_ENV",
    "local_data_dir",
    "verify_sha256sums",
    "TAXI_COLUMNS",
    "load_nyc_taxis",
    "HORSES_OR_HUMANS_CLASSES",
    "ArrayBatches",
    "load_horses_or_humans_arrays",
    "load_horses_or_humans_split",
    "load_horses_or_humans",
]

__getattr__, __dir__ = _lazy_exports(
    globals(), homes=("fetch", "taxi", "horses_or_humans", "array_batches")
)
