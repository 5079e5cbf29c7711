"""Specification of the committed results that chapter 9 reads.

Chapters 6 and 7 save every run's per-epoch figures to
``chapters/results/<study>_<profile>.csv``; chapter 9 reads the ``full``
files. These tests check that the committed files are full-profile runs and
that they are the very runs whose summaries the chapters' stored outputs
show, so that chapter 9 cannot quietly draw on other runs than the book
reports.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gc_tutorial.experiments import PROFILES, RESULT_COLUMNS, summarize

ROOT = Path(__file__).resolve().parent.parent
FULL = PROFILES["full"]

STUDIES = {
    "nyc_taxi": {
        "chapter": "06_nyc_taxi.ipynb",
        "arms": {"Adam", "Adam + GC"},
        "seeds": FULL.taxi_seeds,
        "epochs": FULL.taxi_epochs,
        "summaries": {'summarize(results, "mae", "test"': ["mae"]},
    },
    "horses_or_humans": {
        "chapter": "07_horses_or_humans.ipynb",
        "arms": {"RMSprop", "RMSprop + GC"},
        "seeds": FULL.hoh_seeds,
        "epochs": FULL.hoh_epochs,
        "summaries": {'summarize(results, metric, "test"': ["accuracy", "loss"]},
    },
}


def committed_results(study: str) -> pd.DataFrame:
    return pd.read_csv(ROOT / "chapters" / "results" / f"{study}_full.csv")


def stored_tables(chapter: str, source_fragment: str) -> list[str]:
    """The plain-text tables a chapter's stored outputs show for one cell."""
    notebook = nbformat.read(ROOT / "chapters" / chapter, as_version=4)
    (cell,) = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and source_fragment in cell.source
    ]
    return [
        output["data"]["text/plain"]
        for output in cell.outputs
        if "text/plain" in output.get("data", {})
    ]


@pytest.mark.parametrize("study", STUDIES)
def test_committed_results_are_a_full_profile_run(study):
    spec = STUDIES[study]
    results = committed_results(study)
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert set(results["arm"]) == spec["arms"]
    assert sorted(results["seed"].unique()) == sorted(spec["seeds"])
    per_run = results[results["split"] == "validation"].groupby(["arm", "seed"])
    assert (per_run["epoch"].max() == spec["epochs"]).all()
    assert results["value"].notna().all()


@pytest.mark.parametrize("study", STUDIES)
def test_committed_results_are_the_runs_the_chapter_shows(study):
    spec = STUDIES[study]
    results = committed_results(study)
    baseline, treatment = sorted(spec["arms"], key=len)
    for fragment, metrics in spec["summaries"].items():
        shown = stored_tables(spec["chapter"], fragment)
        recomputed = [
            summarize(results, metric, "test", baseline=baseline, treatment=treatment)
            for metric in metrics
        ]
        with pd.option_context("display.precision", 4):
            assert shown == [repr(table) for table in recomputed]
