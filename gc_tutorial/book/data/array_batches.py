"""Batches of in-memory arrays for ``model.fit`` on any Keras backend.

:class:`ArrayBatches` serves ``(x, y)`` from NumPy arrays in a per-epoch
order drawn from its own seed, so the order is the same on every backend;
:func:`check_counts` is the argument check it shares with the loaders.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

__all__ = ["ArrayBatches", "check_counts"]


def check_counts(**arguments: int | None) -> None:
    """Check that each argument is a whole number of at least 1, or ``None``.

    Args:
        **arguments: The values, by the argument names the errors give.

    Raises:
        TypeError: A value is not a whole number (a bool is refused:
            ``train_subset=True`` would otherwise be taken as 1); the first
            such argument is named.
        ValueError: A value is below 1; the first such argument is named.
    """
    for name, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be a whole number or None, got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")


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
        check_counts(batch_size=batch_size)
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
