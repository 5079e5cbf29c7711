"""A page that reads committed results shows what those results give today.

Each such page (its code calls ``study_results`` or ``committed_path``) is
executed again in the ``full`` profile, where it trains nothing and reads the
committed results, and every output it stores (glued sentences and tables,
printed lines, table HTML, figure captions) must equal the new one. A results
file changed without re-executing its pages fails here, naming the cell.

A cell tagged ``trains-here`` (chapter 7's rerun of the keras.io example,
which trains on the page) shows what training on this machine gives, not what
the committed results give, and is left out; such a cell reads no committed
results. Three things differ between any two executions and are set aside: the address
and random id pandas gives a styled table, the day the provenance line names
(CI runs on a later day than the page was executed), and how the kernel splits
one cell's printing into stream outputs. Figures are compared by their captions
(cell metadata) and by being stored, not pixel by pixel.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from gc_tutorial.book.experiments.profiles import PROFILE_ENV
from gc_tutorial.book.results import RUN_ENV

CHAPTERS = Path(__file__).resolve().parents[2] / "chapters"
READS_RESULTS = re.compile(r"\b(study_results|committed_path)\(")
TRAINS_HERE = "trains-here"
VOLATILE = (
    (re.compile(r" at 0x[0-9a-f]+"), " at 0x…"),  # an object's address
    (re.compile(r"\bT_[0-9a-f]{5}(?![0-9a-f])"), "T_…"),  # a Styler's random table id
    (re.compile(r"Outputs made on \d{4}-\d{2}-\d{2}"), "Outputs made on …"),  # the day it ran
)


def code(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def results_pages() -> list[str]:
    return sorted(
        path.stem
        for path in CHAPTERS.glob("*.ipynb")
        if READS_RESULTS.search(code(nbformat.read(path, as_version=4)))
    )


def trains_here(cell: nbformat.NotebookNode) -> bool:
    return TRAINS_HERE in cell.get("metadata", {}).get("tags", [])


def test_a_cell_that_trains_on_the_page_reads_no_committed_results():
    for page in results_pages():
        nb = nbformat.read(CHAPTERS / f"{page}.ipynb", as_version=4)
        for index, cell in enumerate(nb.cells):
            if trains_here(cell):
                assert not READS_RESULTS.search(cell.source), f"{page} cell {index}"


def steady(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def shown(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """What one code cell shows, as (kind, text) pairs, streams joined per name."""
    parts: list[tuple[str, str]] = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            kind = f"stream {output.name}"
            if parts and parts[-1][0] == kind:
                parts[-1] = (kind, parts[-1][1] + output.text)
            else:
                parts.append((kind, output.text))
        elif output.output_type in ("display_data", "execute_result"):
            glued = output.get("metadata", {}).get("scrapbook", {}).get("name")
            label = f"glue {glued}" if glued else output.output_type
            for mime, data in sorted(output.data.items()):
                # A figure counts as stored; everything else (text, HTML, glue's
                # application/papermill.record/* copies) is compared as text.
                if mime.startswith("image/"):
                    text = "stored"
                else:
                    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True)
                parts.append((f"{label} {mime}", text))
        elif output.output_type == "error":
            parts.append(("error", f"{output.ename}: {output.evalue}"))
    return [(kind, steady(text)) for kind, text in parts]


def test_the_pages_that_read_committed_results_are_found():
    assert set(results_pages()) >= {
        "00_when_does_gc_help",
        "06_nyc_taxi",
        "07_horses_or_humans",
        "09_cost",
    }


def test_shown_sets_aside_only_what_differs_between_two_executions():
    cell = nbformat.v4.new_code_cell(
        outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="a\n"),
            nbformat.v4.new_output("stream", name="stdout", text="b\n"),
            nbformat.v4.new_output(
                "display_data",
                data={
                    "text/plain": "<Styler at 0x7f30a4de87d0>",
                    "text/html": '<table id="T_d86fd"><th id="T_d86fd_level0_col0">',
                },
            ),
        ]
    )
    assert shown(cell) == [
        ("stream stdout", "a\nb\n"),
        ("display_data text/html", '<table id="T_…"><th id="T_…_level0_col0">'),
        ("display_data text/plain", "<Styler at 0x…>"),
    ]
    cell.outputs[0].text = "c\n"
    assert shown(cell)[0] == ("stream stdout", "c\nb\n")


@pytest.mark.parametrize("page", results_pages())
def test_every_stored_output_equals_what_the_committed_results_give_now(
    page, real_data, monkeypatch
):
    from nbclient import NotebookClient

    stored = nbformat.read(CHAPTERS / f"{page}.ipynb", as_version=4)
    again = nbformat.read(CHAPTERS / f"{page}.ipynb", as_version=4)
    for cell in again.cells:
        if trains_here(cell):
            cell.source = ""  # what it shows is not compared: spare CI its training
    monkeypatch.setenv(PROFILE_ENV, "full")
    monkeypatch.delenv(RUN_ENV, raising=False)
    NotebookClient(
        again, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(CHAPTERS)}}
    ).execute(env=dict(os.environ))

    stale = []
    for index, (before, now) in enumerate(zip(stored.cells, again.cells, strict=True)):
        if trains_here(before):
            continue
        was, is_ = shown(before), shown(now)
        if was != is_:
            first = next(
                i for i in range(max(len(was), len(is_))) if was[i : i + 1] != is_[i : i + 1]
            )
            stale.append(
                f"cell {index}: stored {was[first : first + 1]}, now {is_[first : first + 1]}"
            )
    assert not stale, f"{page} is stale; re-execute it in the full profile:\n" + "\n".join(stale)


def test_the_day_a_page_ran_is_set_aside_but_its_profile_and_versions_are_not():
    line = "Outputs made on {} (UTC) with the {} profile, keras {}.\n"
    made = steady(line.format("2026-12-06", "full", "3.15.1"))
    assert made == steady(line.format("2026-12-07", "full", "3.15.1"))
    assert made != steady(line.format("2026-12-06", "smoke", "3.15.1"))
    assert made != steady(line.format("2026-12-06", "full", "3.16.0"))
