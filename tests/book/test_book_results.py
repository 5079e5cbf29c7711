"""Specification of the committed results that the chapters read.

Chapter 7 saves every run's per-epoch figures to
``chapters/results/horses_or_humans_<profile>.csv``; chapters 0, 6 and 9
read the studies under ``chapters/results/studies/``. These tests check
that the committed files are full-profile runs and that they are the very
runs whose summaries the chapters' stored outputs
show, so that chapter 9 cannot quietly draw on other runs than the book
reports.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gc_tutorial.book.experiments import PROFILES, RESULT_COLUMNS, summarize

ROOT = Path(__file__).resolve().parents[2]
FULL = PROFILES["full"]

STUDIES = {
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


# The studies the answer page reads (python -m gc_tutorial.book.experiments run ...) -----

STUDY_RESULTS = ROOT / "chapters" / "results" / "studies"


def test_the_taxi_sgd_learning_rate_is_the_pilots_choice():
    from gc_tutorial.book.experiments import pilot_choice
    from gc_tutorial.book.experiments.studies import NYC_TAXI, TAXI_SGD_LEARNING_RATE

    pilot = pd.read_csv(STUDY_RESULTS / "nyc_taxi_sgd_pilot_full.csv")
    assert set(pilot["split"]) >= {"validation"}
    best = pilot_choice(pilot)["arm"].iloc[0]
    assert best == f"SGD momentum, lr {TAXI_SGD_LEARNING_RATE:g}"
    assert NYC_TAXI.arms["SGD momentum"].keywords["learning_rate"] == TAXI_SGD_LEARNING_RATE


def test_no_full_horses_or_humans_study_uses_sgd_before_its_pilot_has_chosen_the_rate():
    study = STUDY_RESULTS / "horses_or_humans_full.csv"
    pilot = STUDY_RESULTS / "horses_or_humans_sgd_pilot_full.csv"
    if study.exists():
        sgd_arms = {arm for arm in pd.read_csv(study)["arm"].unique() if "SGD" in arm}
        assert pilot.exists() or not sgd_arms, sgd_arms


def test_the_committed_taxi_study_is_complete_with_its_provenance():
    from gc_tutorial.book.experiments import NYC_TAXI
    from gc_tutorial.book.experiments.results_file import ResultsFile

    scale = NYC_TAXI.scale("full")
    file = ResultsFile(STUDY_RESULTS / "nyc_taxi_full.csv")
    results, records = file.read(), file.records()
    runs = results.groupby(["arm", "seed"])["epoch"].max()
    assert set(runs.index) == {(arm, seed) for arm in NYC_TAXI.arms for seed in scale.seeds}
    assert (runs == scale.epochs).all()
    assert set(records) == set(runs.index)
    assert all(record["backend"] and record["device"] for record in records.values())


def test_chapter_6_shows_the_committed_taxi_study():
    from gc_tutorial.book.experiments import NYC_TAXI
    from gc_tutorial.book.experiments.results_file import ResultsFile

    results = ResultsFile(STUDY_RESULTS / "nyc_taxi_full.csv").read()
    (shown,) = stored_tables("06_nyc_taxi.ipynb", 'summarize(results, "mae", "test"')
    for treatment, baseline in NYC_TAXI.pairs.items():
        table = summarize(results, "mae", "test", baseline=baseline, treatment=treatment)
        for arm in (baseline, treatment):
            mean, std = table.loc[arm, "mean"], table.loc[arm, "std"]
            assert f"{mean:.3f} ± {std:.3f}" in shown, (arm, shown)
        assert f"{table.iloc[-1]['mean']:+.4f}" in shown
        assert table.iloc[-1]["verdict"] in shown
