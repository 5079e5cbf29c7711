"""The chapters' conventions: which cells the tests compare, and how each page starts.

A cell whose output depends on the profile, the machine or the clock carries
the ``nbval-ignore-output`` tag, which makes ``pytest --nbval`` skip comparing
it; the tag is the whole convention, and the page says nothing about it. A
cell whose first line still says "not compared" (the older convention) must
carry the tag, so that a reader is never told one thing while the tests do
another; the method pages (chapters 1 to 5) have no such comment left. Every
chapter opens with the same Colab cell, hidden from the book and skipped by
the tests, then imports Keras quietly, before anything else imports it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("*.ipynb"))
NOT_COMPARED = "not compared"
IGNORE_TAG = "nbval-ignore-output"


def code_cells(path: Path) -> list[dict]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


METHOD_PAGES = {
    "01_theory",
    "02_optimizer_subclass",
    "03_wrapper",
    "04_train_step",
    "05_conv_variant",
}


def says_not_compared(cell: dict) -> bool:
    first_line = "".join(cell["source"]).split("\n", 1)[0]
    return first_line.startswith("#") and NOT_COMPARED in first_line


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_cells_that_say_they_are_not_compared_are_tagged_so(path):
    untagged = [
        f"code cell {index}: {''.join(cell['source']).splitlines()[0]!r}"
        for index, cell in enumerate(code_cells(path))
        if says_not_compared(cell) and IGNORE_TAG not in cell["metadata"].get("tags", [])
    ]
    assert not untagged, f"says 'not compared' but lacks the {IGNORE_TAG} tag: {untagged}"


@pytest.mark.parametrize(
    "path",
    [path for path in CHAPTERS if path.stem in METHOD_PAGES],
    ids=[path.stem for path in CHAPTERS if path.stem in METHOD_PAGES],
)
def test_method_pages_leave_what_the_tests_compare_to_the_tags(path):
    comments = [index for index, cell in enumerate(code_cells(path)) if says_not_compared(cell)]
    assert not comments, f"code cells {comments} say 'not compared': the tag alone says it"


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_chapter_opens_with_the_hidden_colab_cell_then_imports_keras_quietly(path):
    colab, imports = code_cells(path)[:2]
    assert "google.colab" in "".join(colab["source"])
    assert {"remove-cell", "nbval-skip"} <= set(colab["metadata"].get("tags", []))
    statements = [
        line
        for line in "".join(imports["source"]).splitlines()
        if line and not line.startswith(("#", "import os", "os.environ"))
    ]
    assert statements[0] == "from gc_tutorial.book.quiet import import_keras_quietly"
    assert statements[1].split("#")[0].strip() == "import_keras_quietly()", statements[:2]


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_chapter_ends_by_saying_what_made_its_outputs(path):
    last = code_cells(path)[-1]
    assert "page_provenance()" in "".join(last["source"])
    printed = "".join("".join(output.get("text", "")) for output in last.get("outputs", []))
    assert printed.startswith("Outputs made on "), printed


MAX_PROSE_WORDS = 2000


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_no_chapter_has_over_2000_words_of_prose(path):
    import re

    notebook = json.loads(path.read_text(encoding="utf-8"))
    prose = "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"
    )
    words = len(re.sub(r"```.*?```", " ", prose, flags=re.DOTALL).split())
    assert words <= MAX_PROSE_WORDS, f"{path.name}: {words} words; say it once, link the rest"
