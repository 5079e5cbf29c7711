"""Every figure a chapter draws is stored with the page, numbered and captioned.

A cell that draws a figure (it calls ``plt.show()``, or its stored outputs
hold an image) must store its ``image/png`` output, since the book shows
stored outputs, and carry a myst-nb figure caption and name (cell metadata
``mystnb.figure``), which Jupyter Book numbers and other pages can
reference with ``{numref}``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

DRAWS = re.compile(r"\bplt\.show\(\)")


def figure_cells(path: Path) -> list[tuple[int, nbformat.NotebookNode]]:
    """The code cells of a chapter that draw a figure, with their indices."""
    notebook = nbformat.read(path, as_version=4)
    cells = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        has_image = any("image/png" in output.get("data", {}) for output in cell.outputs)
        if has_image or DRAWS.search(cell.source):
            cells.append((index, cell))
    return cells


FIGURES = [(path, index, cell) for path in CHAPTERS for index, cell in figure_cells(path)]


def test_the_book_has_figures():
    assert len(FIGURES) >= 10


@pytest.mark.parametrize(
    "path, index, cell",
    FIGURES,
    ids=[f"{path.stem}-cell{index}" for path, index, _ in FIGURES],
)
def test_a_figure_cell_stores_its_image_with_a_numbered_caption(path, index, cell):
    images = [output for output in cell.outputs if "image/png" in output.get("data", {})]
    assert images, f"{path.name} cell {index} draws a figure but stores no image/png"
    figure = cell.metadata.get("mystnb", {}).get("figure", {})
    assert figure.get("name", "").startswith("fig-"), f"{path.name} cell {index}: no figure name"
    assert len(figure.get("caption", "")) > 20, f"{path.name} cell {index}: no caption"
