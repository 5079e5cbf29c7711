"""Specification of the data loaders, `gc_tutorial.data`.

The local-copy tests read the real data: the folder named by
``$GC_TUTORIAL_DATA`` or, if that is unset, ``shared/data`` beside the
repository clone. The download paths are checked without network: TFDS with
``tfds.testing.mock_data``, the taxi CSV with a stand-in ``get_file``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from gc_tutorial import data

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEABORN_TAXIS_URL = (
    "https://raw.githubusercontent.com/mwaskom/seaborn-data/master/taxis.csv"
)


def real_data_dir() -> Path:
    """The folder holding the real data, or fail the test with directions."""
    folder = Path(os.environ.get(data.DATA_ENV) or SHARED_DATA)
    if not folder.is_dir():
        pytest.fail(
            f"Real data not found at {folder}. Set ${data.DATA_ENV} to the "
            f"folder holding nyc_taxis/ and horses_or_humans/, or put it at "
            f"{SHARED_DATA}."
        )
    return folder


@pytest.fixture
def local_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the loaders at the real local copy."""
    folder = real_data_dir()
    monkeypatch.setenv(data.DATA_ENV, str(folder))
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
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    return tmp_path


def all_labels(ds: tf.data.Dataset) -> np.ndarray:
    return np.concatenate([labels.numpy() for _, labels in ds])


def all_images(ds: tf.data.Dataset) -> np.ndarray:
    return np.concatenate([images.numpy() for images, _ in ds])


# --- local_data_dir --------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_no_local_folder_when_variable_unset_or_empty(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(data.DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(data.DATA_ENV, value)
    assert data.local_data_dir() is None


def test_variable_naming_a_missing_folder_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(data.DATA_ENV, str(missing))
    with pytest.raises(FileNotFoundError) as error:
        data.local_data_dir()
    assert data.DATA_ENV in str(error.value)
    assert str(missing) in str(error.value)
    with pytest.raises(FileNotFoundError, match=data.DATA_ENV):
        data.load_nyc_taxis()
    with pytest.raises(FileNotFoundError, match=data.DATA_ENV):
        data.load_horses_or_humans()


# --- NYC taxis -------------------------------------------------------------


def test_taxis_are_the_6433_real_trips(local_data):
    trips = data.load_nyc_taxis()
    assert len(trips) == 6433
    assert set(data.TAXI_COLUMNS) <= set(trips.columns)
    assert pd.api.types.is_datetime64_any_dtype(trips["pickup"])
    assert pd.api.types.is_datetime64_any_dtype(trips["dropoff"])
    assert (trips["fare"] > 0).mean() > 0.99


def test_taxis_are_downloaded_from_seaborn_without_the_variable(
    tmp_path, monkeypatch
):
    copy = tmp_path / "taxis.csv"
    shutil.copy(real_data_dir() / "nyc_taxis" / "taxis.csv", copy)
    requests = []

    def fake_get_file(*args, **kwargs):
        requests.append(kwargs.get("origin", args[1] if len(args) > 1 else None))
        return str(copy)

    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(data.keras.utils, "get_file", fake_get_file)
    trips = data.load_nyc_taxis()
    assert requests == [SEABORN_TAXIS_URL]
    assert len(trips) == 6433


def test_missing_taxi_csv_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="taxis.csv"):
        data.load_nyc_taxis()


def write_taxi_csv(folder: Path, text: str) -> Path:
    path = folder / "nyc_taxis" / "taxis.csv"
    path.parent.mkdir()
    path.write_text(text)
    return path


def test_taxi_csv_lacking_columns_is_an_error(tmp_path, monkeypatch):
    trips = pd.read_csv(real_data_dir() / "nyc_taxis" / "taxis.csv", nrows=5)
    path = write_taxi_csv(
        tmp_path, trips.drop(columns=["fare", "distance"]).to_csv(index=False)
    )
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError) as error:
        data.load_nyc_taxis()
    message = str(error.value)
    assert "fare" in message and "distance" in message and str(path) in message


@pytest.mark.parametrize(
    "text", ["", ",".join(data.TAXI_COLUMNS) + "\n"], ids=["no-bytes", "header-only"]
)
def test_empty_taxi_csv_is_an_error(tmp_path, monkeypatch, text):
    path = write_taxi_csv(tmp_path, text)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="taxis.csv") as error:
        data.load_nyc_taxis()
    assert str(path) in str(error.value)


# --- Horses or Humans, local copy ------------------------------------------


def test_images_are_float_pixels_with_binary_labels(local_data):
    train, test = data.load_horses_or_humans(
        image_size=64, batch_size=16, train_subset=48, test_subset=32
    )
    for ds, size in ((train, 48), (test, 32)):
        images, labels = all_images(ds), all_labels(ds)
        assert images.shape == (size, 64, 64, 3)
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert 0.0 <= images.min() and images.max() <= 255.0
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


def test_missing_horses_or_humans_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="horses_or_humans"):
        data.load_horses_or_humans()


@pytest.mark.parametrize("missing", ["test", "test/humans"])
def test_missing_split_or_class_folder_is_an_error(fake_data, missing):
    folder = fake_data / "horses_or_humans" / missing
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError) as error:
        data.load_horses_or_humans()
    assert str(folder) in str(error.value)


def test_folder_without_images_is_an_error(fake_data):
    folder = fake_data / "horses_or_humans" / "train" / "humans"
    for png in folder.glob("*.png"):
        png.unlink()
    with pytest.raises(ValueError) as error:
        data.load_horses_or_humans()
    assert str(folder) in str(error.value)


def test_unreadable_image_is_an_error(fake_data):
    bad = fake_data / "horses_or_humans" / "test" / "humans" / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.png"):
        data.load_horses_or_humans()


@pytest.mark.parametrize(
    "kwargs",
    [{"image_size": 0}, {"batch_size": 0}, {"train_subset": 0}, {"test_subset": -1}],
)
def test_bad_arguments_are_errors(local_data, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        data.load_horses_or_humans(**kwargs)


# --- Horses or Humans, TFDS ------------------------------------------------


@pytest.mark.parametrize("image_size", [300, 48])
def test_tfds_images_are_float_pixels_at_the_asked_size(monkeypatch, image_size):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    with tfds.testing.mock_data(
        num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        train, test = data.load_horses_or_humans(image_size=image_size, batch_size=4)
        for ds in (train, test):
            images, labels = all_images(ds), all_labels(ds)
            assert images.shape == (6, image_size, image_size, 3)
            assert images.dtype == np.float32 and labels.dtype == np.int32
            assert 0.0 <= images.min() and images.max() <= 255.0
            assert images.max() > 1.0
            assert set(labels) <= {0, 1}
            assert ds.element_spec[0].shape.as_list() == [
                None,
                image_size,
                image_size,
                3,
            ]
