"""Specification of the Horses or Humans loaders, `gc_tutorial.book.data.horses_or_humans`.

The local-copy tests read the real images (see real_data.py); the TFDS path
is checked without network, with ``tfds.testing.mock_data``.

The images come in two forms: ``tf.data`` pipelines ("tf") and
``keras.utils.PyDataset`` batches over NumPy arrays ("numpy", for backends
without TensorFlow). The tests run on the TensorFlow backend and check that
the two forms serve the same data; subprocesses check the NumPy form on the
JAX and PyTorch backends with TensorFlow blocked. Images are decoded once per
process, so the NumPy-form tests share one decode of the real images at 32 px.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import run_python
from real_data import REPOSITORY, real_data_dir

from gc_tutorial.book.data import horses_or_humans as data
from gc_tutorial.book.data.array_batches import ArrayBatches
from gc_tutorial.book.data.fetch import DATA_ENV


@pytest.fixture
def local_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the loaders at the real local copy."""
    folder = real_data_dir()
    monkeypatch.setenv(DATA_ENV, str(folder))
    return folder


@pytest.fixture
def fake_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid copy with 2 real PNGs per class and split; the loaders use it."""
    real = real_data_dir() / "horses_or_humans"
    for split in ("train", "test"):
        for class_name in data.HORSES_OR_HUMANS_CLASSES:
            target = tmp_path / "horses_or_humans" / split / class_name
            target.mkdir(parents=True)
            for png in sorted((real / split / class_name).glob("*.png"))[:2]:
                shutil.copy(png, target)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    return tmp_path


def all_labels(ds: tf.data.Dataset | ArrayBatches) -> np.ndarray:
    return np.concatenate([np.asarray(labels) for _, labels in ds])


def all_images(ds: tf.data.Dataset | ArrayBatches) -> np.ndarray:
    return np.concatenate([np.asarray(images) for images, _ in ds])


def one_pass(ds: tf.data.Dataset | ArrayBatches) -> tuple[np.ndarray, ...]:
    """Images and labels of one pass (a shuffled pipeline reshuffles per pass)."""
    batches = [(np.asarray(images), np.asarray(labels)) for images, labels in ds]
    return tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))


# --- Horses or Humans, local copy ------------------------------------------


def test_images_are_float_pixels_with_binary_labels(local_data):
    train, test = data.load_horses_or_humans(
        image_size=64, batch_size=16, train_subset=48, test_subset=32
    )
    for ds, size in ((train, 48), (test, 32)):
        images, labels = all_images(ds), all_labels(ds)
        assert images.shape == (size, 64, 64, 3)
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.min() >= 0.0 and images.max() <= 255.0
        assert images.max() > 1.0  # not rescaled
        assert set(labels) == {0, 1}  # both classes, nothing else
        assert int(ds.cardinality()) == size // 16


def test_full_splits_have_the_real_sizes_and_label_order(local_data):
    train, test = data.load_horses_or_humans(image_size=32, batch_size=2048)
    # horses = 0, humans = 1: the class counts identify the order.
    assert np.bincount(all_labels(train)).tolist() == [500, 527]
    assert np.bincount(all_labels(test)).tolist() == [128, 128]


def test_same_arguments_give_the_same_order_every_epoch(local_data):
    def epochs(shuffle_seed: int) -> list[np.ndarray]:
        keras.utils.set_random_seed(0)
        train, _ = data.load_horses_or_humans(
            image_size=16, batch_size=64, shuffle_seed=shuffle_seed, train_subset=64
        )
        return [all_images(train) for _ in range(2)]

    first, second = epochs(0), epochs(0)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])  # reshuffled each epoch
    assert not np.array_equal(first[0], epochs(1)[0])  # the seed matters


def test_local_copy_loads_and_ignores_non_image_files(fake_data):
    (fake_data / "horses_or_humans" / "train" / "horses" / "notes.txt").write_text(
        "not an image, and Keras does not read .txt files"
    )
    train, test = data.load_horses_or_humans(image_size=8)
    assert sorted(all_labels(train)) == [0, 0, 1, 1]
    assert sorted(all_labels(test)) == [0, 0, 1, 1]


FORMS = ["tf", "numpy"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("missing", ["test", "test/humans"])
def test_missing_split_or_class_folder_is_an_error(fake_data, missing, form):
    folder = fake_data / "horses_or_humans" / missing
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError) as error:
        data.load_horses_or_humans(format=form)
    assert str(folder) in str(error.value)


@pytest.mark.parametrize("form", FORMS)
def test_folder_without_images_is_an_error(fake_data, form):
    folder = fake_data / "horses_or_humans" / "train" / "humans"
    for png in folder.glob("*.png"):
        png.unlink()
    with pytest.raises(ValueError) as error:
        data.load_horses_or_humans(format=form)
    assert str(folder) in str(error.value)


@pytest.mark.parametrize("form", FORMS)
def test_unreadable_image_is_an_error(fake_data, form):
    bad = fake_data / "horses_or_humans" / "test" / "humans" / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.png"):
        data.load_horses_or_humans(format=form)


def truncated(png: bytes) -> bytes:
    """A valid PNG signature and header, then the data stops half-way."""
    return png[: len(png) // 2]


def changed_byte(png: bytes) -> bytes:
    """One bit flipped in the middle of the image data."""
    damaged = bytearray(png)
    damaged[len(damaged) // 2] ^= 1
    return bytes(damaged)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("damage", [truncated, changed_byte])
def test_damaged_png_is_an_error_naming_the_file(fake_data, form, damage):
    humans = fake_data / "horses_or_humans" / "test" / "humans"
    damaged = humans / "damaged.png"
    damaged.write_bytes(damage(sorted(humans.glob("*.png"))[0].read_bytes()))
    with pytest.raises(ValueError) as error:
        data.load_horses_or_humans(image_size=8, format=form)
    assert str(damaged) in str(error.value)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    "kwargs",
    [{"image_size": 0}, {"batch_size": 0}, {"train_subset": 0}, {"test_subset": -1}],
)
def test_bad_arguments_are_errors(local_data, kwargs, form):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        data.load_horses_or_humans(**kwargs, format=form)


def test_unknown_format_is_an_error(local_data):
    with pytest.raises(ValueError, match="'keras'"):
        data.load_horses_or_humans(format="keras")


def test_tf_format_without_tensorflow_says_what_to_do(local_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import fails
    with pytest.raises(ImportError, match="format='numpy'"):
        data.load_horses_or_humans(format="tf")


# --- Horses or Humans, NumPy form ------------------------------------------

# Largest per-pixel difference allowed between the two forms, in grey levels
# (pixels span 0..255). On the TensorFlow backend both resize with
# tf.image.resize (the NumPy form through keras.ops.image.resize): 0.0. On JAX
# and PyTorch keras.ops.image.resize gave the same pixels at 16 to 512 px
# except at 299 px, one float32 ulp at 255 (3e-5; all 1,283 images, Keras
# 3.15.1). The bound leaves room for a few such ulps, and is far below what a
# different resampling gives at 32 px: Pillow's (antialiased) bilinear differs
# from TensorFlow's by about 100 grey levels in the worst pixel of an image,
# bilinear without half-pixel centres by about 200.
PIXEL_TOLERANCE = 1e-3
SIZE = 32  # the NumPy-form tests share the decode of the images at this size


def matching_images(images: np.ndarray, others: np.ndarray, tolerance: float) -> np.ndarray:
    """For each image, the index of the one in ``others`` it matches.

    Fails unless every image is within ``tolerance`` (largest pixel
    difference) of exactly one image of ``others``, and the matches pair the
    two sets one to one: the same images, in any order.
    """
    assert images.shape == others.shape
    matches = []
    for index, image in enumerate(images):
        differences = np.abs(others - image).max(axis=(1, 2, 3))
        close = np.flatnonzero(differences <= tolerance)
        assert len(close) == 1, (index, np.sort(differences)[:2])
        matches.append(close[0])
    assert sorted(matches) == list(range(len(others)))
    return np.array(matches)


def test_numpy_form_serves_the_tf_forms_images_and_labels(local_data):
    kwargs = dict(image_size=SIZE, batch_size=32, train_subset=96, test_subset=64)
    tf_train, tf_test = data.load_horses_or_humans(**kwargs, format="tf")
    np_train, np_test = data.load_horses_or_humans(**kwargs, format="numpy")
    assert isinstance(tf_train, tf.data.Dataset)
    for tf_ds, np_ds in ((tf_train, np_train), (tf_test, np_test)):
        assert isinstance(np_ds, keras.utils.PyDataset)
        assert len(np_ds) == int(tf_ds.cardinality())
        images, labels = one_pass(np_ds)
        assert images.dtype == np.float32 and labels.dtype == np.int32
        tf_images, tf_labels = one_pass(tf_ds)
        # Same subset, same pixels and labels, whatever the shuffles.
        matches = matching_images(images, tf_images, PIXEL_TOLERANCE)
        np.testing.assert_array_equal(labels, tf_labels[matches])
        assert set(labels) == {0, 1}


def test_numpy_and_tf_forms_agree_exactly_at_the_native_size(fake_data):
    (x_train, y_train), (x_test, y_test) = data.load_horses_or_humans_arrays()
    tf_train, tf_test = data.load_horses_or_humans(shuffle_seed=None, format="tf")
    for x, y, tf_ds in ((x_train, y_train, tf_train), (x_test, y_test, tf_test)):
        assert x.shape == (4, 300, 300, 3) and x.dtype == np.uint8
        # Both in file order: decoded pixels, no resizing, no difference.
        np.testing.assert_array_equal(x, all_images(tf_ds))
        np.testing.assert_array_equal(y, all_labels(tf_ds))


def test_arrays_have_the_real_sizes_and_label_order(local_data):
    (x_train, y_train), (x_test, y_test) = data.load_horses_or_humans_arrays(SIZE)
    assert x_train.shape == (1027, SIZE, SIZE, 3)
    assert x_test.shape == (256, SIZE, SIZE, 3)
    for images, labels, counts in (
        (x_train, y_train, [500, 527]),
        (x_test, y_test, [128, 128]),
    ):
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.min() >= 0.0 and images.max() <= 255.0
        assert images.max() > 1.0  # not rescaled
        # File order: all horses (0), then all humans (1).
        np.testing.assert_array_equal(labels, np.repeat([0, 1], counts))
        assert not images.flags.writeable  # shared with the cache


def test_arrays_are_decoded_once_per_process(fake_data, monkeypatch):
    first = data.load_horses_or_humans_arrays(image_size=8)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image a second time")

    monkeypatch.setattr(data.Image, "open", no_decoding)
    again = data.load_horses_or_humans_arrays(image_size=8)
    train, _ = data.load_horses_or_humans(image_size=8, format="numpy")
    for (x, y), (x_again, y_again) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, x_again)
        np.testing.assert_array_equal(y, y_again)
    assert sorted(all_labels(train)) == [0, 0, 1, 1]


def numpy_epochs(shuffle_seed: int | None, epochs: int = 2) -> list[np.ndarray]:
    """Training labels and pixel sums, in serving order, epoch after epoch."""
    train, _ = data.load_horses_or_humans(
        image_size=SIZE,
        batch_size=16,
        shuffle_seed=shuffle_seed,
        train_subset=64,
        test_subset=16,
        format="numpy",
    )
    served = []
    for _ in range(epochs):
        images, labels = one_pass(train)
        served.append(np.stack([labels, images.sum(axis=(1, 2, 3))]))
        train.on_epoch_end()
    return served


def test_numpy_shuffle_depends_only_on_seed_and_epoch(local_data):
    keras.utils.set_random_seed(0)
    first = numpy_epochs(0)
    keras.utils.set_random_seed(1)  # global seeds do not matter
    second = numpy_epochs(0)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])  # reshuffled each epoch
    assert not np.array_equal(first[0], numpy_epochs(1)[0])  # the seed matters
    # The same images each epoch, in another order.
    np.testing.assert_array_equal(np.sort(first[0][1]), np.sort(first[1][1]))
    unshuffled = numpy_epochs(None)
    np.testing.assert_array_equal(unshuffled[0], unshuffled[1])
    np.testing.assert_array_equal(np.sort(unshuffled[0][0]), unshuffled[0][0])


def test_one_split_is_that_split_of_the_arrays_and_reads_only_it(local_data, monkeypatch):
    (x_train, y_train), _ = data.load_horses_or_humans_arrays(SIZE, train_subset=40)
    read = []
    split_arrays = data._split_arrays
    monkeypatch.setattr(
        data,
        "_split_arrays",
        lambda folder, *args: read.append(folder.name) or split_arrays(folder, *args),
    )
    x, y = data.load_horses_or_humans_split("train", SIZE, subset=40)
    assert read == ["train"]
    np.testing.assert_array_equal(x, x_train)
    np.testing.assert_array_equal(y, y_train)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.load_horses_or_humans_split("validation")


def test_numpy_test_set_is_never_shuffled(local_data):
    _, test = data.load_horses_or_humans(
        image_size=SIZE, batch_size=16, shuffle_seed=0, test_subset=32, format="numpy"
    )
    _, (x_test, y_test) = data.load_horses_or_humans_arrays(SIZE, test_subset=32)
    for _ in range(2):
        np.testing.assert_array_equal(all_images(test), x_test)
        np.testing.assert_array_equal(all_labels(test), y_test)
        test.on_epoch_end()


def test_numpy_form_without_a_local_copy_says_what_to_do(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    for load in (
        lambda: data.load_horses_or_humans(format="numpy"),
        data.load_horses_or_humans_arrays,
        lambda: data.load_horses_or_humans_split("train"),
    ):
        with pytest.raises(FileNotFoundError) as error:
            load()
        message = str(error.value)
        assert DATA_ENV in message and "tensorflow-datasets" in message


# The NumPy form on a backend without TensorFlow: a fresh interpreter in which
# importing TensorFlow (or TFDS) fails, loading with the default format.
WITHOUT_TENSORFLOW = """
import json
import sys

sys.modules["tensorflow"] = None
sys.modules["tensorflow_datasets"] = None

import keras
from gc_tutorial.book.data import load_horses_or_humans

train, test = load_horses_or_humans(
    image_size=16, batch_size=8, shuffle_seed=3, train_subset=24, test_subset=8
)
served = [(images, labels) for images, labels in train]
model = keras.Sequential(
    [
        keras.Input((16, 16, 3)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(loss="binary_crossentropy", optimizer="sgd")
model.fit(train, epochs=2, shuffle=False, verbose=0)
print(json.dumps({
    "backend": keras.backend.backend(),
    "kind": type(train).__name__,
    "shape": list(served[0][0].shape),
    "dtypes": [str(served[0][0].dtype), str(served[0][1].dtype)],
    "labels": [int(label) for _, labels in served for label in labels],
    "sums": [float(image.sum()) for images, _ in served for image in images],
    "test_labels": [int(label) for _, labels in test for label in labels],
    "epochs_after_fit": train.epoch,
}))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_numpy_form_runs_without_tensorflow(local_data, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    run = run_python("-c", WITHOUT_TENSORFLOW, cwd=REPOSITORY, env=env, timeout=300)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["kind"] == "ArrayBatches"
    assert result["shape"] == [8, 16, 16, 3]
    assert result["dtypes"] == ["float32", "int32"]
    assert result["epochs_after_fit"] >= 2  # fit reshuffles each epoch
    # The same images in the same order as in this (TensorFlow) process.
    train, test = data.load_horses_or_humans(
        image_size=16,
        batch_size=8,
        shuffle_seed=3,
        train_subset=24,
        test_subset=8,
        format="numpy",
    )
    assert result["labels"] == all_labels(train).tolist()
    # The backends' resize kernels may round differently (PIXEL_TOLERANCE).
    sums = [float(image.sum()) for image in all_images(train)]
    np.testing.assert_allclose(result["sums"], sums, rtol=0, atol=16 * 16 * 3 * PIXEL_TOLERANCE)
    assert result["test_labels"] == all_labels(test).tolist()
    assert set(result["labels"]) == {0, 1}


# --- Horses or Humans, TFDS ------------------------------------------------


@pytest.mark.parametrize("image_size", [300, 48])
def test_tfds_images_are_float_pixels_at_the_asked_size(monkeypatch, image_size):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        train, test = data.load_horses_or_humans(image_size=image_size, batch_size=4)
        for ds in (train, test):
            images, labels = all_images(ds), all_labels(ds)
            assert images.shape == (6, image_size, image_size, 3)
            assert images.dtype == np.float32 and labels.dtype == np.int32
            assert images.min() >= 0.0 and images.max() <= 255.0
            assert images.max() > 1.0
            assert set(labels) <= {0, 1}
            assert ds.element_spec[0].shape.as_list() == [
                None,
                image_size,
                image_size,
                3,
            ]
