"""Gradient Centralization for Keras 3: the package behind the tutorial book.

Public API:

- :func:`centralize_gradient`, :func:`centralize_gradients` -- the operator;
  :func:`gc_applies_to` / :func:`is_kernel` / :func:`fan_in_axes` -- which
  variables it applies to, and over which axes; :func:`unit_means` -- the
  per-unit means GC keeps fixed;
- :func:`mark_kernels` -- records on each kernel of a model the axes that
  feed one output unit (transposed, depthwise and einsum kernels differ from
  Dense and ConvND), which everything above reads; :func:`kernel_layouts`,
  :func:`layout_of`, :func:`einsum_fan_in_axes`, :class:`KernelLayout` and
  :class:`GCWarning` go with it;
- :func:`centralized` and the ready-made :class:`GCSGD`, :class:`GCAdam`,
  :class:`GCAdamW`, :class:`GCRMSprop` -- GC optimizer subclasses, each with
  ``where="gradient"`` or ``"update"``;
- :class:`GradientCentralization` -- GC around an optimizer instance;
- :class:`GCModel` -- a ``keras.Model`` whose ``train_step`` applies GC.

These live in ``gc_tutorial.centralize``, ``.layouts``, ``.optimizers`` and ``.models`` and
need only Keras. The subpackage ``gc_tutorial.book`` holds the book's support
code (data loaders, seeded studies, statistics, figures).

Importing the package does nothing else: the names above are loaded, and
Keras with them, on first use (PEP 562), so that ``gc_tutorial.book.quiet``
can run before Keras is imported. The optimizers and ``GCModel`` register
with ``keras.saving`` when they load, so before loading a saved model that
uses them in a new process, import one of them (``from gc_tutorial import
GCAdam``) or their module (``import gc_tutorial.optimizers``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gc_tutorial._lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from gc_tutorial.centralize import (
        centralize_gradient,
        centralize_gradients,
        centralizes,
        fan_in_axes,
        gc_applies_to,
        is_kernel,
        unit_means,
    )
    from gc_tutorial.layouts import (
        GCWarning,
        KernelLayout,
        einsum_fan_in_axes,
        kernel_layouts,
        layout_of,
        mark_kernels,
    )
    from gc_tutorial.models import GCModel
    from gc_tutorial.optimizers import (
        GCSGD,
        GCAdam,
        GCAdamW,
        GCRMSprop,
        GradientCentralization,
        centralized,
    )

__version__ = "0.1.0"

__all__ = [
    "centralize_gradient",
    "centralize_gradients",
    "centralizes",
    "gc_applies_to",
    "fan_in_axes",
    "is_kernel",
    "unit_means",
    "mark_kernels",
    "kernel_layouts",
    "layout_of",
    "einsum_fan_in_axes",
    "KernelLayout",
    "GCWarning",
    "centralized",
    "GCSGD",
    "GCAdam",
    "GCAdamW",
    "GCRMSprop",
    "GradientCentralization",
    "GCModel",
]

__getattr__, __dir__ = _lazy_exports(
    globals(), homes=("centralize", "layouts", "optimizers", "models")
)
