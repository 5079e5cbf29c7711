"""Specification of `gc_tutorial.book.data.array_batches`: batches of in-memory arrays."""

from __future__ import annotations

import numpy as np
import pytest

from gc_tutorial.book.data.array_batches import ArrayBatches, check_counts


def served_labels(batches: ArrayBatches) -> np.ndarray:
    return np.concatenate([np.asarray(labels) for _, labels in batches])


def epoch_orders(batches: ArrayBatches, epochs: int) -> list[np.ndarray]:
    orders = []
    for _ in range(epochs):
        orders.append(np.concatenate([batches[i][1] for i in range(len(batches))]))
        batches.on_epoch_end()
    return orders


def test_array_batches_serve_every_row_once_per_epoch():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    batches = ArrayBatches(images, np.arange(10), batch_size=4, shuffle_seed=7)
    assert len(batches) == 3
    for epoch in range(2):
        assert batches.epoch == epoch
        sizes = [len(labels) for _, labels in batches]
        assert sizes == [4, 4, 2]
        served = served_labels(batches)
        np.testing.assert_array_equal(served, batches.order)
        x = np.concatenate([np.asarray(x) for x, _ in batches])
        assert x.dtype == np.float32  # uint8 rows served as float32
        np.testing.assert_array_equal(x.ravel(), served)
        assert sorted(served) == list(range(10))
        batches.on_epoch_end()
    with pytest.raises(IndexError):
        batches[3]


def test_batches_cover_every_row_once_in_a_seeded_order_each_epoch():
    x, y = np.arange(20.0)[:, None], np.arange(20)
    first = epoch_orders(ArrayBatches(x, y, batch_size=6, shuffle_seed=5), 3)
    second = epoch_orders(ArrayBatches(x, y, batch_size=6, shuffle_seed=5), 3)
    other = epoch_orders(ArrayBatches(x, y, batch_size=6, shuffle_seed=6), 1)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(sorted(order) == list(range(20)) for order in first)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], other[0])
    unshuffled = ArrayBatches(x, y, batch_size=6)
    assert len(unshuffled) == 4 and len(unshuffled[3][1]) == 2
    np.testing.assert_array_equal(epoch_orders(unshuffled, 2)[1], y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y": np.zeros(3)}, "same, non-zero number"),
        ({"x": np.zeros((0, 1, 1, 3)), "y": np.zeros(0)}, "same, non-zero number"),
        ({"batch_size": 0}, "batch_size"),
        ({"shuffle_seed": -1}, "shuffle_seed"),
    ],
)
def test_bad_array_batches_are_errors(kwargs, match):
    arguments = {"x": np.zeros((4, 1, 1, 3)), "y": np.zeros(4)}
    with pytest.raises(ValueError, match=match):
        ArrayBatches(**{**arguments, "batch_size": 2, **kwargs})


@pytest.mark.parametrize("bad", [True, 2.5, "64"])
def test_a_count_must_be_a_whole_number(bad):
    with pytest.raises(TypeError, match="train_subset must be a whole number"):
        check_counts(image_size=32, train_subset=bad)


def test_counts_of_at_least_one_or_none_pass():
    check_counts(image_size=1, batch_size=np.int64(8), train_subset=None)
    with pytest.raises(ValueError, match="test_subset must be at least 1, got 0"):
        check_counts(image_size=1, test_subset=0)
