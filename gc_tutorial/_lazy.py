"""A package's public names, loaded from their modules on first use (PEP 562).

``gc_tutorial`` and ``gc_tutorial.book.data`` list their public names in
``__all__`` but import the modules that define them, and Keras, pandas or
Pillow with those, only when one of the names is first used: importing
``gc_tutorial`` leaves ``gc_tutorial.book.quiet`` free to run before Keras, and
``scripts/fetch_data`` runs with pooch alone. Each package binds the two
module hooks :func:`lazy_exports` makes::

    __getattr__, __dir__ = lazy_exports(globals(), homes=("centralize", ...))

This module imports only the standard library, so that both packages stay
that light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: MutableMapping[str, Any], homes: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` that load a package's public names on first use.

    Args:
        namespace: The package's ``globals()``, holding its ``__name__`` and
            its ``__all__``, the public names.
        homes: The modules that define those names, relative to the package,
            e.g. ``("centralize", "layouts")``.

    Returns:
        ``(__getattr__, __dir__)``, for the package to bind at module level.
        The first use of a name in ``__all__`` imports every module in
        ``homes`` and stores in ``namespace`` each of their ``__all__`` names
        that the package's ``__all__`` lists; any other missing name is an
        ``AttributeError``. ``__dir__`` lists the package's names, the public
        ones not yet loaded included.
    """
    package = namespace["__name__"]
    public = namespace["__all__"]

    def load(name: str) -> Any:
        """Load the public names from their modules on first use of any of them."""
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        for home in homes:
            module = importlib.import_module(f"{package}.{home}")
            namespace.update({n: getattr(module, n) for n in module.__all__ if n in public})
        return namespace[name]

    def names() -> list[str]:
        """The module's names, the public ones not yet loaded included."""
        return sorted({*namespace, *public})

    return load, names
