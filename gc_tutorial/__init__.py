"""Gradient Centralization for Keras 3: the package behind the tutorial book.

Public API:

- :func:`centralize_gradient`, :func:`centralize_gradients` -- the operator;
  :func:`unit_means` -- the per-unit means GC keeps fixed;
- :func:`gc_applies_to`, :func:`is_kernel`, :func:`fan_in_axes` -- which
  variables GC applies to, and over which axes; :func:`mark_kernels` records
  each kernel's layout from its layer, whatever the layer's name
  (:func:`layout_of`, :func:`einsum_fan_in_axes`, :class:`KernelLayout` and
  :class:`GCWarning` go with it);
- :func:`centralized` and the ready-made :class:`GCSGD`, :class:`GCAdam`,
  :class:`GCAdamW`, :class:`GCRMSprop` -- GC optimizer subclasses, each with
  ``where="gradient"`` or ``"update"``;
- :class:`GradientCentralization` -- GC around an optimizer instance;
- :class:`GCModel` -- a ``keras.Model`` whose ``train_step`` applies GC.

They live in ``gc_tutorial.centralize``, ``.layouts``, ``.optimizers`` and
``.models`` and need only Keras; ``gc_tutorial.book`` holds the book's
support code. Importing the package does nothing else: the names are
loaded, and Keras with them, on first use (PEP 562), so that
``gc_tutorial.book.quiet`` can run before Keras is imported. To load a saved
model that uses a GC optimizer or ``GCModel`` in a new process, import one
of them (``from gc_tutorial import GCAdam``) or their module first, so that
Keras knows their registered names.
"""

from __future__ import annotations

from gc_tutorial._lazy import lazy_exports as _lazy_exports

__version__ = "0.1.0"

# Each public name, under the module that defines it.
_HOMES = {
    "centralize": ("centralize_gradient", "centralize_gradients", "unit_means"),
    "layouts": (
        *("gc_applies_to", "fan_in_axes", "is_kernel", "mark_kernels", "layout_of"),
        *("einsum_fan_in_axes", "KernelLayout", "GCWarning"),
    ),
    "optimizers": (
        *("centralized", "GCSGD", "GCAdam", "GCAdamW", "GCRMSprop"),
        "GradientCentralization",
    ),
    "models": ("GCModel",),
}
__all__ = [name for names in _HOMES.values() for name in names]

__getattr__, __dir__ = _lazy_exports(globals(), homes=tuple(_HOMES))
