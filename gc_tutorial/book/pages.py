"""What a chapter needs to put computed results into its prose.

A sentence that states a result is made from the numbers by code and pasted
into the page with myst-nb's ``glue``: :func:`glue` is that, and, where
myst-nb is not installed (Colab), it shows the value in the notebook
instead, so a chapter runs the same everywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue", "glue_text", "markdown_list"]


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the page (myst-nb), or show it.

    Args:
        name: The key the page's ``{glue:md}`` / ``{glue:figure}`` uses.
        value: What to paste: a string of Markdown (see
            :func:`markdown_list`), a ``pandas`` Styler or frame, a figure.
        display: Also show it where the cell is (myst-nb's ``display``).
    """
    from IPython.display import Markdown

    if isinstance(value, str):  # Markdown, for {glue:md}
        value = Markdown(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab and plain Jupyter: show it where it is made
        from IPython.display import display as show

        show(value)
        return
    myst_glue(name, value, display=display)


class _PlainText:
    """A string that displays as itself: no quotes in its ``text/plain``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


def glue_text(name: str, text: str) -> None:
    """Store plain ``text`` for another page's ``{glue:text}`` role.

    Another page pastes it with ``{glue:text}`PATH.ipynb::NAME:s``` (the
    ``:s`` keeps the path's ``::`` from being read as a format); myst-nb
    pastes only plain text across pages, so Markdown marks are removed.
    """
    glue(name, _PlainText(text.replace("**", "")))


def markdown_list(items: list[str]) -> str:
    """Markdown bullet list of ``items`` (one line each)."""
    return "\n".join(f"- {item}" for item in items)
