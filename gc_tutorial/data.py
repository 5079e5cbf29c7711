"""Loaders for the book's two real data sets.

- :func:`load_nyc_taxis` -- 6,433 New York City taxi trips (seaborn's
  ``taxis`` data set), for the fare-regression chapter;
- :func:`load_horses_or_humans` -- the Horses or Humans images (TFDS
  ``horses_or_humans``), for the image-classification chapter.

By default both fetch their data from the public source (and cache it). Set
the environment variable ``GC_TUTORIAL_DATA`` to a folder holding
``nyc_taxis/taxis.csv`` and ``horses_or_humans/{train,test}/{horses,humans}/``
to read a local copy instead, e.g. on a machine without internet access. The
loaders never fall back to other data: a missing or broken copy is an error.
"""

from __future__ import annotations

import os
import pathlib

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

__all__ = [
    "DATA_ENV",
    "local_data_dir",
    "TAXI_COLUMNS",
    "load_nyc_taxis",
    "HORSES_OR_HUMANS_CLASSES",
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

HORSES_OR_HUMANS_CLASSES = ("horses", "humans")
_TFDS_IMAGE_SIZE = 300
_SUBSET_SEED = 1234
# The file types keras.utils.image_dataset_from_directory reads, and the first
# bytes a file of each type starts with.
_IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM")


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


def load_nyc_taxis() -> pd.DataFrame:
    """Load the 6,433 real NYC taxi trips of March 2019 (seaborn's ``taxis``).

    Without ``$GC_TUTORIAL_DATA`` the CSV is downloaded from seaborn's data
    repository once and then read from the Keras cache
    (``~/.keras/datasets``); with it, ``$GC_TUTORIAL_DATA/nyc_taxis/taxis.csv``
    is read.

    Returns:
        One row per trip with the columns in :data:`TAXI_COLUMNS`; ``pickup``
        and ``dropoff`` are parsed as datetimes. Some rows have empty
        ``payment`` or zone fields (NaN).

    Raises:
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder or the
            CSV in it does not exist.
        ValueError: The CSV is empty or lacks required columns.
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
        raise ValueError(
            f"NYC taxi data file {path} lacks the required columns {missing}."
        )
    if trips.empty:
        raise ValueError(f"NYC taxi data file {path} has no rows.")
    for column in ("pickup", "dropoff"):
        trips[column] = pd.to_datetime(trips[column])
    return trips


def _check_image_folder(split_dir: pathlib.Path) -> None:
    """Check a local split folder before Keras reads it, with clear errors."""
    if not split_dir.is_dir():
        raise FileNotFoundError(f"Image folder not found: {split_dir}")
    for class_name in HORSES_OR_HUMANS_CLASSES:
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
        for image in images:
            with open(image, "rb") as file:
                if not file.read(8).startswith(_IMAGE_SIGNATURES):
                    raise ValueError(
                        f"{image} is not a readable PNG, JPEG, GIF or BMP image."
                    )


def _pipeline(
    ds: tf.data.Dataset,
    *,
    subset: int | None,
    batch_size: int,
    shuffle_seed: int | None,
) -> tf.data.Dataset:
    """Subset, cache, shuffle (unless ``shuffle_seed`` is None), batch, prefetch."""
    size = int(ds.cardinality())
    if subset is not None and subset < size:
        # A fixed random choice of examples, kept in file order. It does not
        # depend on TensorFlow's global seed, and it holds both classes even
        # though the local copy lists all horses first.
        keep = np.zeros(size, dtype=bool)
        keep[np.random.default_rng(_SUBSET_SEED).permutation(size)[:subset]] = True
        ds = ds.enumerate().filter(lambda index, _: tf.gather(keep, index))
        ds = ds.map(lambda _, example: example)
        size = subset
        ds = ds.apply(tf.data.experimental.assert_cardinality(size))
    ds = ds.cache()
    if shuffle_seed is not None:
        ds = ds.shuffle(size, seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load_horses_or_humans(
    image_size: int = 300,
    batch_size: int = 128,
    shuffle_seed: int | None = 0,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Load the Horses or Humans images as batched ``(image, label)`` pipelines.

    Without ``$GC_TUTORIAL_DATA`` the images come from TensorFlow Datasets
    (``horses_or_humans``, downloaded once); with it, from
    ``$GC_TUTORIAL_DATA/horses_or_humans/{train,test}/{horses,humans}/``.
    Both sources give the same images (decoded to RGB, alpha dropped) and
    labels, and go through the same pipeline: optional subset, cache, shuffle
    (train only), batch, prefetch. Two calls with the same arguments, made
    under the same TensorFlow global seed (``keras.utils.set_random_seed``,
    or none set), give the same batches in the same order, epoch after
    epoch, so experiments can call it once per arm.

    Args:
        image_size: Side of the square images, in pixels; the originals are
            300x300 and are resized (bilinear) to other sizes.
        batch_size: Images per batch.
        shuffle_seed: Seed of the training set's shuffle, which draws a new
            order each epoch (together with TensorFlow's global seed at the
            time of the call); ``None`` keeps the training set in file order.
            The test set is never shuffled.
        train_subset: If given, use only this many training images: a fixed
            random choice, the same for every call and every global seed.
        test_subset: As ``train_subset``, for the test set.

    Returns:
        ``(train, test)``: 1,027 and 256 images (or the subsets). Images are
        float32 of shape ``(image_size, image_size, 3)`` with values in
        ``[0, 255]`` (not rescaled); labels are int32 scalars, 0 for horses
        and 1 for humans (:data:`HORSES_OR_HUMANS_CLASSES`).

    Raises:
        ValueError: ``image_size``, ``batch_size`` or a subset is below 1; a
            local class folder holds no images, or a local image file is not
            a PNG, JPEG, GIF or BMP image.
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder, the
            ``horses_or_humans`` folder in it, or a split or class folder
            does not exist.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be at least 1, got {image_size}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    for name, subset in (("train_subset", train_subset), ("test_subset", test_subset)):
        if subset is not None and subset < 1:
            raise ValueError(f"{name} must be at least 1 or None, got {subset}.")
    folder = local_data_dir()
    if folder is None:
        train, test = _tfds_horses_or_humans(image_size)
    else:
        train, test = _local_horses_or_humans(folder / "horses_or_humans", image_size)
    train = _pipeline(
        train, subset=train_subset, batch_size=batch_size, shuffle_seed=shuffle_seed
    )
    # The test set is never shuffled: evaluation order does not matter.
    test = _pipeline(
        test, subset=test_subset, batch_size=batch_size, shuffle_seed=None
    )
    return train, test


def _tfds_horses_or_humans(image_size: int) -> list[tf.data.Dataset]:
    """The train and test splits from TFDS, as float32 images, int32 labels."""
    import tensorflow_datasets as tfds

    def convert(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.cast(image, tf.float32)
        if image_size != _TFDS_IMAGE_SIZE:
            image = tf.image.resize(image, (image_size, image_size))
        return image, tf.cast(label, tf.int32)

    splits = tfds.load("horses_or_humans", split=["train", "test"], as_supervised=True)
    return [ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE) for ds in splits]


def _local_horses_or_humans(
    folder: pathlib.Path, image_size: int
) -> list[tf.data.Dataset]:
    """The train and test splits read from a local copy, in file order."""
    if not folder.is_dir():
        raise FileNotFoundError(f"Horses or Humans folder not found: {folder}")
    splits = []
    for split in ("train", "test"):
        _check_image_folder(folder / split)
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
