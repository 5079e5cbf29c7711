"""Specification of gc_tutorial.book.pages: results pasted into a chapter's prose.

What :func:`glue` hands to myst-nb, and to IPython where myst-nb is not
installed, is caught at the display call, so no notebook kernel is needed.
"""

from __future__ import annotations

import sys

import IPython.core.formatters
import IPython.display
import IPython.lib.pretty
import pytest
from myst_nb.ext import glue as myst_nb_glue

from gc_tutorial.book.pages import glue, glue_text, markdown_list


@pytest.fixture
def glued(monkeypatch) -> list[tuple[dict, dict]]:
    """The (mime bundle, metadata) of each myst-nb glue, in order.

    The bundle comes from IPython's display formatter, used without the
    interactive shell (which would start a history file in ``~/.ipython``).
    """
    calls = []
    formatter = IPython.core.formatters.DisplayFormatter()
    monkeypatch.setattr(IPython.core.formatters, "format_display_data", formatter.format)
    monkeypatch.setattr(
        myst_nb_glue, "ipy_display", lambda bundle, raw, metadata: calls.append((bundle, metadata))
    )
    return calls


@pytest.fixture
def shown(monkeypatch) -> list:
    """What is shown in the notebook when myst-nb cannot be imported (Colab)."""
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    calls = []
    monkeypatch.setattr(IPython.display, "display", calls.append)
    return calls


def test_a_string_is_glued_as_markdown_under_its_name(glued):
    glue("verdict", "GC **helps**")
    ((bundle, metadata),) = glued
    assert metadata["scrapbook"]["name"] == "verdict"
    assert bundle[f"{myst_nb_glue.GLUE_PREFIX}text/markdown"] == "GC **helps**"


def test_a_value_is_shown_where_it_is_glued_only_when_asked(glued):
    glue("hidden", "a")
    glue("shown", "b", display=True)
    (hidden, _), (shown, _) = glued
    assert all(key.startswith(myst_nb_glue.GLUE_PREFIX) for key in hidden)
    assert shown["text/markdown"] == "b"


def test_without_myst_nb_the_value_is_shown_in_the_notebook(shown):
    glue("verdict", "GC **helps**")
    table = {"arm": ["Adam"]}
    glue("table", table)
    markdown, same_table = shown
    assert isinstance(markdown, IPython.display.Markdown) and markdown.data == "GC **helps**"
    assert same_table is table


def test_glued_text_is_plain_text_without_bold_marks_or_quotes(glued):
    glue_text("sentence", "GC **helps** Adam.")
    ((bundle, _),) = glued
    assert bundle[f"{myst_nb_glue.GLUE_PREFIX}text/plain"] == "GC helps Adam."


def test_glued_text_without_myst_nb_is_shown_as_plain_text(shown):
    glue_text("sentence", "GC **helps** Adam.")
    (text,) = shown
    assert IPython.lib.pretty.pretty(text) == "GC helps Adam."


def test_markdown_list_makes_one_bullet_per_item():
    assert markdown_list(["first", "second **bold**"]) == "- first\n- second **bold**"
    assert markdown_list([]) == ""
