"""The Horses or Humans images of the image-classification chapter.

:func:`load_horses_or_humans` serves them batched, as ``tf.data`` pipelines
(from TensorFlow Datasets, or from the local copy in ``$GC_TUTORIAL_DATA``)
or as :class:`~gc_tutorial.book.data.array_batches.ArrayBatches` over the
NumPy arrays of :func:`load_horses_or_humans_arrays` (local copy only; no
TensorFlow needed). The local images are checked before use: an unreadable
file is an error that names it.

This module imports neither TensorFlow nor TensorFlow Datasets: only the
``tf.data`` form of :func:`load_horses_or_humans` does, when it is used. It
is longer than the book's modules usually are (about 480 lines, a third of
them docstrings) because both forms must read the same files, in the same
order, with the same checks: keeping them in one module keeps that visible.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import keras
import numpy as np
from PIL import Image

from gc_tutorial.book.data.array_batches import ArrayBatches, check_counts
from gc_tutorial.book.data.fetch import DATA_ENV, horses_or_humans_dir

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "HORSES_OR_HUMANS_CLASSES",
    "load_horses_or_humans_arrays",
    "load_horses_or_humans_split",
    "load_horses_or_humans",
]

HORSES_OR_HUMANS_CLASSES = ("horses", "humans")
_TFDS_IMAGE_SIZE = 300
_SUBSET_SEED = 1234
# The file types keras.utils.image_dataset_from_directory reads, and the
# formats (as Pillow names them) TensorFlow's decode_image can decode.
_IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_IMAGE_FORMATS = ("BMP", "GIF", "JPEG", "PNG")


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


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` as ``tf.image.resize`` does, in float32.

    ``keras.ops.image.resize``, bilinear with half-pixel centres and no
    antialiasing (TensorFlow's defaults), on the active backend: on
    TensorFlow it is ``tf.image.resize`` itself. (Pillow's bilinear filter
    antialiases when it shrinks an image: at 32 px single pixels would
    differ from TensorFlow's by about 100 grey levels.)
    """
    resized = keras.ops.image.resize(
        image.astype(np.float32),
        (size, size),
        interpolation="bilinear",
        antialias=False,
        data_format="channels_last",
    )
    return keras.ops.convert_to_numpy(resized)


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
            image = _resize(image, image_size)
        split.images[index] = image
        split.decoded[index] = True
    images, labels = (
        (split.images.view(), split.labels.view())
        if keep.all()
        else (split.images[keep], split.labels[keep])
    )
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _local_horses_or_humans_dir(purpose: str) -> pathlib.Path:
    """``$GC_TUTORIAL_DATA/horses_or_humans``, or an error saying what to do."""
    folder = horses_or_humans_dir()
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
    half-pixel centres, no antialiasing) by ``keras.ops.image.resize`` on
    the active backend: on TensorFlow the ``tf.data`` form's float32 pixels
    exactly; on JAX and PyTorch at most a float32 rounding apart. Each image
    is decoded once per process and kept in memory per split and
    ``image_size`` (all 1,283 images at 300x300 take 350 MB), so later calls
    cost no decoding.

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
    check_counts(image_size=image_size, train_subset=train_subset, test_subset=test_subset)
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
    check_counts(image_size=image_size, subset=subset)
    folder = _local_horses_or_humans_dir("load_horses_or_humans_split")
    return _split_arrays(folder / split, image_size, subset)


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
    check_counts(
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
    local = horses_or_humans_dir()
    if local is None:
        train, test = _tfds_horses_or_humans(image_size)
    else:
        train, test = _local_horses_or_humans(local, image_size)
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
