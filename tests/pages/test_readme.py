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


# The README's answer, against the committed results ------------------------------------


def answer_tables():
    from gc_tutorial.book.experiments import STUDIES
    from gc_tutorial.book.experiments.answer import learned, learning_pairs, verdict_table
    from gc_tutorial.book.experiments.results_file import ResultsFile

    studies = ROOT / "chapters" / "results" / "studies"
    taxi = ResultsFile(studies / "nyc_taxi_full.csv").read()
    hoh = ResultsFile(studies / "horses_or_humans_tuned_full.csv").read()
    arms = learned(hoh, 0.60)
    return (
        verdict_table(taxi, STUDIES["nyc_taxi"].pairs, ("mae", "loss"), study="nyc_taxi"),
        verdict_table(
            hoh,
            learning_pairs(STUDIES["horses_or_humans_tuned"].pairs, arms),
            ("accuracy", "loss"),
            study="horses_or_humans",
        ),
        arms,
    )


def verdicts(table, treatment, baseline, split):
    rows = table[
        (table["treatment"] == treatment)
        & (table["baseline"] == baseline)
        & (table["split"] == split)
    ]
    assert len(rows), (treatment, baseline, split)
    return set(zip(rows["metric"], rows["verdict"], strict=True))


def test_the_readmes_answer_says_what_the_answer_page_says():
    from gc_tutorial.book.experiments.answer import recommendation

    text = " ".join(README.read_text(encoding="utf-8").split())
    taxi, hoh, arms = answer_tables()
    assert recommendation(taxi, "SGD momentum") == "don't use GC"
    assert "SGD with momentum, NYC taxi fares: **don't use GC** (it lowered the training" in text
    assert verdicts(taxi, "SGD momentum + GC", "SGD momentum", "train") == {("loss", "lower")}
    assert {v for _, v in verdicts(taxi, "SGD momentum + GC", "SGD momentum", "test")} == {
        "within noise"
    }
    assert recommendation(taxi, "Adam") == "don't use GC"
    assert (
        "Adam, NYC taxi fares: **don't use GC** (on the gradient it raised the test error;" in text
    )
    assert ("mae", "higher") in verdicts(taxi, "Adam + GC", "Adam", "test")
    update = verdicts(taxi, "Adam + GC on the update", "Adam", "test")
    assert {v for _, v in update} == {"within noise"}
    study = ROOT / "chapters" / "results" / "studies" / "horses_or_humans_tuned_full.csv"
    from gc_tutorial.book.experiments.results_file import ResultsFile

    runs = ResultsFile(study).read().groupby("arm")["seed"].nunique()
    assert set(runs) == {20}, "every arm of the study has run its 20 seeds"
    assert "Horses or Humans (20 paired seeds per arm):" in text
    assert arms["learned"].all(), "every arm of the study learned: all are in the verdict"
    assert recommendation(hoh, "RMSprop") == "use GC on the gradient"
    assert "RMSprop: **use GC on the gradient** (it raised the test accuracy and lowered" in text
    assert verdicts(hoh, "RMSprop + GC", "RMSprop", "train") == {("loss", "lower")}
    assert verdicts(hoh, "RMSprop + GC", "RMSprop", "test") == {
        ("accuracy", "higher"),
        ("loss", "within noise"),
    }
    assert recommendation(hoh, "SGD momentum") == "don't use GC"
    assert "SGD with momentum: **don't use GC** (no figure moved beyond noise)." in text
    for split in ("train", "test"):
        sgd = verdicts(hoh, "SGD momentum + GC", "SGD momentum", split)
        assert {v for _, v in sgd} == {"within noise"}
    assert recommendation(hoh, "Adam") == "use GC on the update"
    assert "Adam: **use GC on the update** (it raised the test accuracy and lowered" in text
    assert "on the gradient it did both too, but its test accuracy was lower than on the" in text
    for form in ("Adam + GC on the update", "Adam + GC"):
        assert verdicts(hoh, form, "Adam", "train") == {("loss", "lower")}
        assert verdicts(hoh, form, "Adam", "test") == {
            ("accuracy", "higher"),
            ("loss", "within noise"),
        }
    assert ("accuracy", "higher") in verdicts(hoh, "Adam + GC on the update", "Adam + GC", "test")
