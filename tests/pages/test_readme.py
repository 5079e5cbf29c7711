"""The README's Python runs as written, and its quickstart is the quickstart page's code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from helpers import run_python

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
QUICKSTART = ROOT / "chapters" / "quickstart.ipynb"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)

pytestmark = pytest.mark.book


def readme_blocks() -> list[str]:
    return PYTHON_BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks():
    assert readme_blocks(), "the README's quickstart block is gone"


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_each_python_block_of_the_readme_runs_as_written(index, tmp_path):
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(readme_blocks()[index], encoding="utf-8")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run_python(str(script), cwd=tmp_path, env=environment, timeout=600)


def shown_code(notebook: nbformat.NotebookNode) -> str:
    """The code cells a reader sees, in order, as one script."""
    cells = [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code"
        and not {"remove-cell", "nbval-ignore-output"} & set(cell.metadata.get("tags", []))
    ]
    return "\n\n".join(cells)


def test_the_quickstart_page_shows_the_readme_quickstart():
    (quickstart,) = [block for block in readme_blocks() if "import gc_tutorial" in block]
    page = shown_code(nbformat.read(QUICKSTART, as_version=4))

    def lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    assert lines(page) == lines(quickstart)
