"""Loaders for the book's two real data sets.

- :func:`load_nyc_taxis` -- 6,433 New York City taxi trips (seaborn's
  ``taxis`` data set), for the fare-regression chapter;
- :func:`load_horses_or_humans` -- the Horses or Humans images (TFDS
  ``horses_or_humans``), for the image-classification chapter, as ``tf.data``
  pipelines or as :class:`ArrayBatches` (a ``keras.utils.PyDataset`` that
  needs no TensorFlow); :func:`load_horses_or_humans_arrays` gives the plain
  NumPy arrays behind the latter.

By default both fetch their data from the public source (and cache it). Set
the environment variable ``GC_TUTORIAL_DATA`` to a folder holding
``nyc_taxis/taxis.csv`` and ``horses_or_humans/{train,test}/{horses,humans}/``
to read a local copy instead, e.g. on a machine without internet access;
:func:`verify_sha256sums` checks such a copy against its ``SHA256SUMS``
files. The loaders never fall back to other data: a missing or broken copy is
an error.

This module imports neither TensorFlow nor TensorFlow Datasets: only the
``tf.data`` form of :func:`load_horses_or_humans` does, when it is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import pathlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import keras
import numpy as np
import pandas as pd
from PIL import Image

if TYPE_CHECKING:
    import tensorflow as tf

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

DATA_ENV = "GC_TUTORIAL_DATA"

TAXI_COLUMNS = (
    "pickup",
    "dropoff",
    "passengers",
    "distance",
    "fare",
    "tip",
    "tolls",
    "total",
    "color",
    "payment",
    "pickup_zone",
    "dropoff_zone",
    "pickup_borough",
    "dropoff_borough",
)
_TAXIS_URL = "https://raw.githubusercontent.com/mwaskom/seaborn-data/master/taxis.csv"
_TAXI_NUMBER_COLUMNS = ("passengers", "distance", "fare", "tip", "tolls", "total")
_TAXI_TIME_COLUMNS = ("pickup", "dropoff")
# The columns the fare model reads: no trip may leave one of them empty.
_TAXI_REQUIRED_COLUMNS = ("passengers", "distance", "fare", "pickup", "dropoff")

HORSES_OR_HUMANS_CLASSES = ("horses", "humans")
_TFDS_IMAGE_SIZE = 300
_SUBSET_SEED = 1234
# The file types keras.utils.image_dataset_from_directory reads, and the
# formats (as Pillow names them) TensorFlow's decode_image can decode.
_IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_IMAGE_FORMATS = ("BMP", "GIF", "JPEG", "PNG")
_SHA256SUMS = "SHA256SUMS"
# One line of `sha256sum` output: digest, space, space or "*" (binary), name.
_SHA256SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def local_data_dir() -> pathlib.Path | None:
    """Return the local data folder named by ``$GC_TUTORIAL_DATA``.

    Returns:
        The folder as a ``pathlib.Path``, or ``None`` when the variable is
        unset or empty (the loaders then download the data).

    Raises:
        FileNotFoundError: The variable names a folder that does not exist.
    """
    value = os.environ.get(DATA_ENV, "")
    if not value:
        return None
    folder = pathlib.Path(value).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"${DATA_ENV} is set to {value!r}, but {folder} is not a folder. "
            f"Point it at the folder holding nyc_taxis/ and horses_or_humans/, "
            f"or unset it to download the data."
        )
    return folder


def verify_sha256sums(folder: str | os.PathLike[str]) -> int:
    """Check the files of a local copy against the folder's ``SHA256SUMS``.

    ``SHA256SUMS`` is ``sha256sum`` output: one ``<hex digest>  <path>`` line
    per file, paths relative to ``folder`` (``sha256sum -c SHA256SUMS`` run in
    ``folder`` does the same check). Use it after copying the data to another
    machine, e.g. ``verify_sha256sums(local_data_dir() / "horses_or_humans")``.
    Files that the list does not name are not checked.

    Args:
        folder: The folder holding ``SHA256SUMS``, such as
            ``$GC_TUTORIAL_DATA/horses_or_humans`` or
            ``$GC_TUTORIAL_DATA/nyc_taxis``.

    Returns:
        The number of files checked, all of which match.

    Raises:
        FileNotFoundError: ``folder/SHA256SUMS`` or a file it lists does not
            exist (the first such file is named).
        ValueError: A file's SHA-256 differs from the listed one (the first
            such file is named), or ``SHA256SUMS`` has a malformed line or
            lists no files.
    """
    folder = pathlib.Path(folder)
    sums = folder / _SHA256SUMS
    if not sums.is_file():
        raise FileNotFoundError(f"Checksum list not found: {sums} does not exist.")
    checked = 0
    for number, line in enumerate(sums.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = _SHA256SUMS_LINE.fullmatch(line)
        if match is None:
            raise ValueError(
                f"{sums}, line {number}, is not '<sha256 hex digest>  <path>': "
                f"{line!r}. Regenerate the list with `sha256sum`."
            )
        expected, name = match.group(1).lower(), match.group(2)
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}, listed in {sums}, does not exist: the local copy is "
                f"incomplete. Copy the data again."
            )
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ValueError(
                f"{path} does not match {sums}: its SHA-256 is "
                f"{digest.hexdigest()}, the list says {expected}. The file is "
                f"damaged or different; copy it again."
            )
        checked += 1
    if checked == 0:
        raise ValueError(f"{sums} lists no files.")
    return checked


def load_nyc_taxis() -> pd.DataFrame:
    """Load the 6,433 real NYC taxi trips of March 2019 (seaborn's ``taxis``).

    Without ``$GC_TUTORIAL_DATA`` the CSV is downloaded from seaborn's data
    repository once and then read from the Keras cache
    (``~/.keras/datasets``); with it, ``$GC_TUTORIAL_DATA/nyc_taxis/taxis.csv``
    is read.

    Returns:
        One row per trip with the columns in :data:`TAXI_COLUMNS`; ``pickup``
        and ``dropoff`` are parsed as datetimes, ``passengers``,
        ``distance``, ``fare``, ``tip``, ``tolls`` and ``total`` are numbers.
        Some rows have empty ``payment`` or zone fields (NaN).

    Raises:
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder or the
            CSV in it does not exist.
        ValueError: The CSV is empty or lacks required columns; a number
            column holds a value that is not a finite number, or a time
            column one that is not a date and time; or a column the fare
            model reads (``passengers``, ``distance``, ``fare``, ``pickup``,
            ``dropoff``) is empty in some row. The message names the column,
            the row and the value.
    """
    folder = local_data_dir()
    if folder is None:
        path = pathlib.Path(keras.utils.get_file("taxis.csv", origin=_TAXIS_URL))
    else:
        path = folder / "nyc_taxis" / "taxis.csv"
        if not path.is_file():
            raise FileNotFoundError(f"NYC taxi data not found: {path} does not exist.")
    try:
        trips = pd.read_csv(path)
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"NYC taxi data file {path} is empty.") from error
    missing = [column for column in TAXI_COLUMNS if column not in trips.columns]
    if missing:
        raise ValueError(f"NYC taxi data file {path} lacks the required columns {missing}.")
    if trips.empty:
        raise ValueError(f"NYC taxi data file {path} has no rows.")
    for column in _TAXI_NUMBER_COLUMNS + _TAXI_TIME_COLUMNS:
        raw = trips[column]
        if column in _TAXI_NUMBER_COLUMNS:
            parsed = pd.to_numeric(raw, errors="coerce")
            bad = (parsed.isna() | np.isinf(parsed)) & raw.notna()
            kind = "a finite number"
        else:
            parsed = pd.to_datetime(raw, errors="coerce")
            bad = parsed.isna() & raw.notna()
            kind = "a date and time"
        if bad.any():
            _raise_bad_taxi_value(path, column, raw, bad, f"is not {kind}")
        if column in _TAXI_REQUIRED_COLUMNS and raw.isna().any():
            _raise_bad_taxi_value(
                path, column, raw, raw.isna(), "is missing (the fare model needs it)"
            )
        trips[column] = parsed
    return trips


def _raise_bad_taxi_value(
    path: pathlib.Path, column: str, raw: pd.Series, bad: pd.Series, problem: str
) -> NoReturn:
    """Raise a ValueError naming the first flagged row of a taxi CSV column."""
    rows = np.flatnonzero(bad.to_numpy())
    row = int(rows[0])
    value = raw.iloc[row]
    shown = "an empty field or NaN" if pd.isna(value) else repr(value)
    others = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
    raise ValueError(
        f"NYC taxi data file {path}: column {column!r}, row {row + 1} (line "
        f"{row + 2} of the file), holds {shown}, which {problem}{others}. "
        f"Fix or remove the row, or copy the data again."
    )


# --- Horses or Humans: the local copy ---------------------------------------


def _image_files(split_dir: pathlib.Path) -> tuple[list[pathlib.Path], np.ndarray]:
    """A local split's image files and int32 labels, in Keras's file order.

    The order is that of ``keras.utils.image_dataset_from_directory`` with
    ``shuffle=False``: class by class, folders and names sorted.
    """
    if not split_dir.is_dir():
        raise FileNotFoundError(f"Image folder not found: {split_dir}")
    files, labels = [], []
    for label, class_name in enumerate(HORSES_OR_HUMANS_CLASSES):
        class_dir = split_dir / class_name
        if not class_dir.is_dir():
            raise FileNotFoundError(f"Class folder not found: {class_dir}")
        images = [
            pathlib.Path(root, name)
            for root, _, names in sorted(os.walk(class_dir))
            for name in sorted(names)
            if name.lower().endswith(_IMAGE_EXTENSIONS)
        ]
        if not images:
            raise ValueError(f"Class folder {class_dir} holds no images.")
        files += images
        labels += [label] * len(images)
    return files, np.array(labels, dtype=np.int32)


def _file_key(path: pathlib.Path) -> tuple[str, int, int]:
    """Path, size and modification time: a changed file gets a new key."""
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


@contextlib.contextmanager
def _opened_image(path: pathlib.Path) -> Iterator[Image.Image]:
    """Open an image file; failing to read it is a ValueError naming the file."""
    try:
        with Image.open(path) as image:
            if image.format not in _IMAGE_FORMATS:
                raise ValueError(f"it is a {image.format} image")
            yield image
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable PNG, JPEG, GIF or BMP image ({error}). "
            f"Replace it with a good copy (verify_sha256sums finds damaged "
            f"files) or remove it."
        ) from error


def _check_image(path: pathlib.Path) -> None:
    """Raise a ValueError naming ``path`` if it is not a readable image.

    For a PNG, Pillow checks the structure and every chunk's CRC without
    decompressing: truncated files and changed bytes are caught, which
    TensorFlow's decoder would reject too, at a tenth of the cost of
    decoding. Other formats are decoded.
    """
    with _opened_image(path) as image:
        if image.format == "PNG":
            image.verify()
        else:
            image.load()


def _decode(path: pathlib.Path) -> np.ndarray:
    """Check and decode an image file to uint8 RGB (alpha dropped, as TF does)."""
    _check_image(path)
    with _opened_image(path) as image:
        return np.asarray(image.convert("RGB"))


# Files checked by _check_images in this process, by _file_key.
_CHECKED: set[tuple[str, int, int]] = set()


def _check_images(files: list[pathlib.Path]) -> None:
    """Check each file once per process: a broken one is a named ValueError."""
    for path in files:
        key = _file_key(path)
        if key not in _CHECKED:
            _check_image(path)
            _CHECKED.add(key)


def _bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, ...]:
    """Source indices and weights of TensorFlow's bilinear resize along an axis.

    ``tf.image.resize`` samples output pixel ``i`` at source coordinate
    ``(i + 0.5) * in_size / out_size - 0.5`` (half-pixel centres), clamped to
    the image, between its two neighbours; computed in float32 as TF does.
    """
    scale = np.float32(in_size / out_size)
    centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
    centres -= np.float32(0.5)
    floor = np.floor(centres)
    lower = np.clip(floor, 0, in_size - 1).astype(np.intp)
    upper = np.clip(floor + 1, 0, in_size - 1).astype(np.intp)
    return lower, upper, (centres - floor)[:, None]


def _resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """``tf.image.resize(image, (size, size))`` in NumPy: bilinear, float32.

    Pillow's bilinear filter averages over the whole footprint when it
    shrinks an image (antialiasing) and TensorFlow's does not: on this data
    at 32 px single pixels differ by about 100 grey levels. This follows
    TensorFlow's kernel (interpolate along x, then along y) and matches it
    bit for bit (TensorFlow 2.21).
    """
    rows_low, rows_high, row_weights = _bilinear_taps(image.shape[0], size)
    cols_low, cols_high, col_weights = _bilinear_taps(image.shape[1], size)
    pixels = image.astype(np.float32)
    left, right = pixels[:, cols_low], pixels[:, cols_high]
    across = left + (right - left) * col_weights
    top, bottom = across[rows_low], across[rows_high]
    return top + (bottom - top) * row_weights[:, None]


def _subset_mask(size: int, subset: int | None) -> np.ndarray:
    """Which of ``size`` examples (in file order) a subset keeps.

    A fixed random choice that does not depend on any global seed and holds
    both classes even though the local copy lists all horses first.
    """
    keep = np.zeros(size, dtype=bool)
    if subset is None or subset >= size:
        keep[:] = True
    else:
        keep[np.random.default_rng(_SUBSET_SEED).permutation(size)[:subset]] = True
    return keep


@dataclasses.dataclass
class _DecodedSplit:
    """One split's images at one size, decoded as they are first needed."""

    keys: list[tuple[str, int, int]]
    labels: np.ndarray
    images: np.ndarray
    decoded: np.ndarray


# Decoded splits, by (split folder, image size): one decode per process.
_DECODED: dict[tuple[pathlib.Path, int], _DecodedSplit] = {}


def _split_arrays(
    split_dir: pathlib.Path, image_size: int, subset: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """A local split's (subset of) images and labels, decoded once per process."""
    files, labels = _image_files(split_dir)
    keys = [_file_key(path) for path in files]
    cache_key = (split_dir.resolve(), image_size)
    split = _DECODED.get(cache_key)
    if split is None or split.keys != keys:
        # Rows are filled in when first asked for; pages never written to
        # take no memory.
        dtype = np.uint8 if image_size == _TFDS_IMAGE_SIZE else np.float32
        split = _DECODED[cache_key] = _DecodedSplit(
            keys=keys,
            labels=labels,
            images=np.empty((len(files), image_size, image_size, 3), dtype=dtype),
            decoded=np.zeros(len(files), dtype=bool),
        )
    keep = _subset_mask(len(files), subset)
    for index in np.flatnonzero(keep & ~split.decoded):
        image = _decode(files[index])
        if image_size == _TFDS_IMAGE_SIZE:
            if image.shape[:2] != (image_size, image_size):
                raise ValueError(
                    f"{files[index]} is {image.shape[1]}x{image.shape[0]} "
                    f"pixels; Horses or Humans images are {image_size}x"
                    f"{image_size}. Replace it with a good copy."
                )
        else:
            image = _resize_bilinear(image, image_size)
        split.images[index] = image
        split.decoded[index] = True
    images, labels = (
        (split.images.view(), split.labels.view())
        if keep.all()
        else (split.images[keep], split.labels[keep])
    )
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _check_arguments(**arguments: int | None) -> None:
    """Raise naming the first argument that is not a whole number of at least 1.

    ``None`` is allowed. A bool is refused: ``train_subset=True`` would
    otherwise be taken as 1.
    """
    for name, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be a whole number or None, got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")


def _local_horses_or_humans_dir(purpose: str) -> pathlib.Path:
    """``$GC_TUTORIAL_DATA/horses_or_humans``, or an error saying what to do."""
    folder = local_data_dir()
    if folder is None:
        raise FileNotFoundError(
            f"{purpose} reads a local copy of Horses or Humans, and "
            f"${DATA_ENV} is not set. Set ${DATA_ENV} to a folder laid out like "
            f"the book's shared data folder "
            f"(horses_or_humans/{{train,test}}/{{horses,humans}}/*.png), or "
            f"install tensorflow and tensorflow-datasets and call "
            f"load_horses_or_humans(..., format='tf') to download the images "
            f"from TensorFlow Datasets."
        )
    folder = folder / "horses_or_humans"
    if not folder.is_dir():
        raise FileNotFoundError(f"Horses or Humans folder not found: {folder}")
    return folder


def load_horses_or_humans_arrays(
    image_size: int = 300,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the Horses or Humans images from the local copy as NumPy arrays.

    Reads ``$GC_TUTORIAL_DATA/horses_or_humans/{train,test}/{horses,humans}/``
    with Pillow; needs neither TensorFlow nor a particular Keras backend. The
    images, labels and subsets are those of :func:`load_horses_or_humans`'s
    ``tf.data`` form on the same copy: decoded to RGB (alpha dropped, as
    TensorFlow does) and resized like ``tf.image.resize`` (bilinear,
    half-pixel centres, no antialiasing; the same float32 pixels as
    TensorFlow 2.21 gives). Each image is decoded once per process and kept
    in memory per split and ``image_size`` (all 1,283 images at 300x300 take
    350 MB), so later calls cost no decoding.

    Args:
        image_size: Side of the square images, in pixels; the originals are
            300x300 and are resized (bilinear) to other sizes.
        train_subset: If given, keep only this many training images: the
            same fixed random choice as :func:`load_horses_or_humans`.
        test_subset: As ``train_subset``, for the test set.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` in file order (all horses,
        then all humans): images of shape ``(n, image_size, image_size, 3)``,
        uint8 when ``image_size`` is 300 (the decoded pixels) and float32
        with values in ``[0, 255]`` otherwise; labels int32, 0 for horses and
        1 for humans. The arrays are read-only (they may share memory with
        the cache): copy them before changing them in place.

    Raises:
        ValueError: ``image_size`` or a subset is below 1; a class folder
            holds no images; an image file cannot be decoded (the file is
            named), or at ``image_size`` 300 is not 300x300.
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is unset, or the folder, the
            ``horses_or_humans`` folder in it, or a split or class folder
            does not exist.
    """
    _check_arguments(image_size=image_size, train_subset=train_subset, test_subset=test_subset)
    folder = _local_horses_or_humans_dir("load_horses_or_humans_arrays")
    return (
        _split_arrays(folder / "train", image_size, train_subset),
        _split_arrays(folder / "test", image_size, test_subset),
    )


def load_horses_or_humans_split(
    split: Literal["train", "test"], image_size: int = 300, subset: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One split of :func:`load_horses_or_humans_arrays`; the other is not read.

    For work that must not see the test split, such as choosing a learning
    rate on the training images alone.

    Args:
        split: ``"train"`` or ``"test"``.
        image_size: As for :func:`load_horses_or_humans_arrays`.
        subset: As its ``train_subset`` or ``test_subset``, for ``split``.

    Returns:
        ``(x, y)`` of ``split``, as :func:`load_horses_or_humans_arrays`
        returns them.

    Raises:
        ValueError: ``split`` is neither ``"train"`` nor ``"test"``, or as
            for :func:`load_horses_or_humans_arrays`.
        FileNotFoundError: As for :func:`load_horses_or_humans_arrays`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    _check_arguments(image_size=image_size, subset=subset)
    folder = _local_horses_or_humans_dir("load_horses_or_humans_split")
    return _split_arrays(folder / split, image_size, subset)


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(x, y)`` from in-memory arrays, for ``fit`` on every backend.

    Serves ``x`` as float32 (images may be stored as ``uint8`` and are
    converted one batch at a time) and ``y`` as given. With a
    ``shuffle_seed`` the rows come in a new random order every epoch, drawn
    from a NumPy generator seeded by it alone: two instances with one seed
    give the same orders, epoch after epoch, in any process and on any
    Keras backend (for a given NumPy version). :meth:`on_epoch_end` draws
    the next order; ``model.fit`` calls it after each epoch. Pass
    ``shuffle=False`` to ``fit``: Keras would otherwise also shuffle the
    batch order, from its own global seed.

    Args:
        x: Inputs, one row per example (images ``(n, height, width,
            channels)``, features ``(n, features)``), any real dtype.
        y: Targets or labels, one per example.
        batch_size: Rows per batch; the last batch may be smaller.
        shuffle_seed: Seed of the per-epoch orders, a non-negative integer;
            ``None`` keeps the rows in their given order.
        **kwargs: Passed to ``keras.utils.PyDataset`` (``workers``,
            ``use_multiprocessing``, ``max_queue_size``).

    Raises:
        ValueError: ``x`` and ``y`` differ in length or are empty,
            ``batch_size`` is below 1, or ``shuffle_seed`` is negative.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle_seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Check the arrays and arguments and draw the first epoch's order."""
        super().__init__(**kwargs)
        if len(x) != len(y) or len(y) == 0:
            raise ValueError(
                f"x and y must hold the same, non-zero number of rows; got {len(x)} and {len(y)}."
            )
        _check_arguments(batch_size=batch_size)
        if shuffle_seed is not None and shuffle_seed < 0:
            raise ValueError(
                f"shuffle_seed must be a non-negative integer or None, got {shuffle_seed}."
            )
        self.x, self.y, self.batch_size = x, y, batch_size
        self._rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self._epoch = 0
        self._order = self._next_order()

    @property
    def epoch(self) -> int:
        """How many times :meth:`on_epoch_end` has been called."""
        return self._epoch

    @property
    def order(self) -> np.ndarray:
        """The row indices served this epoch, batch after batch."""
        return self._order

    def _next_order(self) -> np.ndarray:
        if self._rng is None:
            return np.arange(len(self.y))
        return self._rng.permutation(len(self.y))

    def __len__(self) -> int:
        """The number of batches per epoch, the last one possibly smaller."""
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of this epoch: float32 ``x``, ``y`` as given."""
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range 0..{len(self) - 1}.")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows].astype(np.float32, copy=False), self.y[rows]

    def on_epoch_end(self) -> None:
        """Advance :attr:`epoch` and draw its order (if shuffled)."""
        self._epoch += 1
        self._order = self._next_order()


# --- Horses or Humans: the loader -------------------------------------------


def load_horses_or_humans(
    image_size: int = 300,
    batch_size: int = 128,
    shuffle_seed: int | None = 0,
    train_subset: int | None = None,
    test_subset: int | None = None,
    format: Literal["auto", "tf", "numpy"] = "auto",
) -> tuple[tf.data.Dataset, tf.data.Dataset] | tuple[ArrayBatches, ArrayBatches]:
    """Load the Horses or Humans images as batched ``(image, label)`` data.

    Two forms, chosen by ``format``:

    - ``"tf"``: ``tf.data`` pipelines (needs TensorFlow). Without
      ``$GC_TUTORIAL_DATA`` the images come from TensorFlow Datasets
      (``horses_or_humans``, downloaded once); with it, from
      ``$GC_TUTORIAL_DATA/horses_or_humans/{train,test}/{horses,humans}/``.
      Both sources give the same images (decoded to RGB, alpha dropped) and
      labels, and go through the same pipeline: optional subset, cache,
      shuffle (train only), batch, prefetch. Two calls with the same
      arguments, made under the same TensorFlow global seed
      (``keras.utils.set_random_seed``, or none set), give the same batches
      in the same order, epoch after epoch.
    - ``"numpy"``: :class:`ArrayBatches` (``keras.utils.PyDataset``) over
      :func:`load_horses_or_humans_arrays`, for any Keras backend without
      TensorFlow. Reads the local copy only (``$GC_TUTORIAL_DATA``); the
      images, labels and subsets are the ``"tf"`` form's on that copy. The
      training order is drawn from ``shuffle_seed`` and the epoch alone (see
      :class:`ArrayBatches`; pass ``shuffle=False`` to ``fit``).
    - ``"auto"`` (default): ``"tf"`` on the TensorFlow backend, ``"numpy"``
      on any other.

    Either way experiments can call it once per arm: each call serves the
    same data in the same orders, and images are decoded once per process
    in the ``"numpy"`` form.

    Args:
        image_size: Side of the square images, in pixels; the originals are
            300x300 and are resized (bilinear) to other sizes.
        batch_size: Images per batch.
        shuffle_seed: Seed of the training set's shuffle, which draws a new
            order each epoch (in the ``"tf"`` form together with TensorFlow's
            global seed at the time of the call); ``None`` keeps the
            training set in file order. The test set is never shuffled.
        train_subset: If given, use only this many training images: a fixed
            random choice, the same for every call, global seed and form.
        test_subset: As ``train_subset``, for the test set.
        format: ``"auto"``, ``"tf"`` or ``"numpy"``, as above.

    Returns:
        ``(train, test)``: 1,027 and 256 images (or the subsets). Images are
        float32 of shape ``(image_size, image_size, 3)`` with values in
        ``[0, 255]`` (not rescaled); labels are int32 scalars, 0 for horses
        and 1 for humans (:data:`HORSES_OR_HUMANS_CLASSES`).

    Raises:
        ValueError: ``image_size``, ``batch_size`` or a subset is below 1;
            ``format`` is not one of the three; a local class folder holds no
            images, or a local image file cannot be decoded (the file is
            named).
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder, the
            ``horses_or_humans`` folder in it, or a split or class folder
            does not exist; or, in the ``"numpy"`` form, it is not set.
        ImportError: ``format="tf"`` without TensorFlow installed.
    """
    _check_arguments(
        image_size=image_size,
        batch_size=batch_size,
        train_subset=train_subset,
        test_subset=test_subset,
    )
    if format == "auto":
        format = "tf" if keras.backend.backend() == "tensorflow" else "numpy"
    if format == "numpy":
        folder = _local_horses_or_humans_dir(
            "load_horses_or_humans(format='numpy'), the form used on backends "
            "other than TensorFlow,"
        )
        train = _split_arrays(folder / "train", image_size, train_subset)
        test = _split_arrays(folder / "test", image_size, test_subset)
        return (
            ArrayBatches(*train, batch_size=batch_size, shuffle_seed=shuffle_seed),
            ArrayBatches(*test, batch_size=batch_size),
        )
    if format != "tf":
        raise ValueError(f"format must be 'auto', 'tf' or 'numpy', got {format!r}.")
    try:
        import tensorflow  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "load_horses_or_humans(format='tf') needs TensorFlow: install "
            "tensorflow, or use format='numpy' with a local copy in "
            f"${DATA_ENV}."
        ) from error
    data_dir = local_data_dir()
    if data_dir is None:
        train, test = _tfds_horses_or_humans(image_size)
    else:
        train, test = _local_horses_or_humans(data_dir / "horses_or_humans", image_size)
    train = _pipeline(train, subset=train_subset, batch_size=batch_size, shuffle_seed=shuffle_seed)
    # The test set is never shuffled: evaluation order does not matter.
    test = _pipeline(test, subset=test_subset, batch_size=batch_size, shuffle_seed=None)
    return train, test


def _pipeline(
    ds: tf.data.Dataset,
    *,
    subset: int | None,
    batch_size: int,
    shuffle_seed: int | None,
) -> tf.data.Dataset:
    """Subset, cache, shuffle (unless ``shuffle_seed`` is None), batch, prefetch."""
    import tensorflow as tf

    size = int(ds.cardinality())
    if subset is not None and subset < size:
        keep = _subset_mask(size, subset)
        ds = ds.enumerate().filter(lambda index, _: tf.gather(keep, index))
        ds = ds.map(lambda _, example: example)
        size = subset
        ds = ds.apply(tf.data.experimental.assert_cardinality(size))
    ds = ds.cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(size, seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _tfds_horses_or_humans(image_size: int) -> list[tf.data.Dataset]:
    """The train and test splits from TFDS, as float32 images, int32 labels."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def convert(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.cast(image, tf.float32)
        if image_size != _TFDS_IMAGE_SIZE:
            image = tf.image.resize(image, (image_size, image_size))
        return image, tf.cast(label, tf.int32)

    splits = tfds.load("horses_or_humans", split=["train", "test"], as_supervised=True)
    return [ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE) for ds in splits]


def _local_horses_or_humans(folder: pathlib.Path, image_size: int) -> list[tf.data.Dataset]:
    """The train and test splits read from a local copy, in file order."""
    if not folder.is_dir():
        raise FileNotFoundError(f"Horses or Humans folder not found: {folder}")
    splits = []
    for split in ("train", "test"):
        files, _ = _image_files(folder / split)
        # TensorFlow's decode error would not name the file: check first.
        _check_images(files)
        splits.append(
            keras.utils.image_dataset_from_directory(
                str(folder / split),
                labels="inferred",
                label_mode="int",
                class_names=list(HORSES_OR_HUMANS_CLASSES),
                color_mode="rgb",
                image_size=(image_size, image_size),
                batch_size=None,
                shuffle=False,
                verbose=False,
            )
        )
    return splits
