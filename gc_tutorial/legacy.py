"""The GC code of the popular tutorials, reproduced so the book can test it.

Nothing here applies Gradient Centralization on Keras 3; that is the point.
The chapters import these classes to show, by running them, what goes wrong.
Do not use them for training.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["KerasIOGCRMSprop", "BlogGCWrapper"]


class KerasIOGCRMSprop(keras.optimizers.RMSprop):
    """The keras.io example's ``GCRMSprop`` (Keras 3 version), as published.

    It overrides ``get_gradients``, a Keras 2 hook that no Keras 3 trainer
    calls, so training with it is training with plain ``RMSprop``. (If the
    hook were ever called it would fail too: ``super().get_gradients()`` is
    called without arguments and ``ops.mean`` takes no ``keep_dims``.)
    """

    def get_gradients(self, loss: Any, params: Any) -> list[Any]:
        grads = []
        gradients = super().get_gradients()
        for grad in gradients:
            grad_len = len(grad.shape)
            if grad_len > 1:
                axis = list(range(grad_len - 1))
                grad -= ops.mean(grad, axis=axis, keep_dims=True)
            grads.append(grad)
        return grads


class BlogGCWrapper(keras.optimizers.Optimizer):
    """A blog-style GC wrapper around an optimizer instance, as published.

    Its constructor passes ``name`` as the first positional argument of
    ``keras.optimizers.Optimizer``, which is ``learning_rate``, so creating
    it raises ``ValueError`` before any training happens.
    """

    def __init__(
        self, optimizer: keras.optimizers.Optimizer, name: str = "GCWrapper", **kwargs: Any
    ):
        super().__init__(name, **kwargs)
        self._optimizer = optimizer

    def get_gradients(self, loss: Any, params: Any) -> list[Any]:
        grads = self._optimizer.get_gradients(loss, params)
        return [
            g - ops.mean(g, axis=list(range(len(g.shape) - 1)), keepdims=True)
            if len(g.shape) > 1
            else g
            for g in grads
        ]
