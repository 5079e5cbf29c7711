"""Specification of the committed results that the chapters read.

The studies' runs live under ``chapters/results/studies/`` (one CSV and its
provenance per study and profile), written by ``python -m
gc_tutorial.book.experiments run``. These tests check that the committed
files are full-profile, paired runs, that the learning rates the studies use
are the ones their pilots chose, and that what the chapters show is what the
files hold, so that no page can quietly draw on other runs than the book
reports.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gc_tutorial.book.experiments.results_file import ResultsFile

ROOT = Path(__file__).resolve().parents[2]


def stored_outputs(chapter: str, source_fragment: str) -> list[dict]:
    """The stored outputs of the one code cell of a chapter whose source holds a fragment."""
    notebook = nbformat.read(ROOT / "chapters" / chapter, as_version=4)
    (cell,) = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and source_fragment in cell.source
    ]
    return cell.outputs


# The studies the answer page reads (python -m gc_tutorial.book.experiments run ...) -----

STUDY_RESULTS = ROOT / "chapters" / "results" / "studies"


def test_the_taxi_sgd_learning_rate_is_the_pilots_choice():
    from gc_tutorial.book.experiments import chosen_rates
    from gc_tutorial.book.experiments.studies import NYC_TAXI, TAXI_SGD_LEARNING_RATE

    pilot = ResultsFile(STUDY_RESULTS / "nyc_taxi_sgd_pilot_full.csv").read()
    assert set(pilot["split"]) == {"train", "validation"}, "a pilot never sees the test split"
    assert chosen_rates(pilot) == {"SGD momentum": TAXI_SGD_LEARNING_RATE}
    for arm in ("SGD momentum", "SGD momentum + GC"):
        assert NYC_TAXI.arms[arm].learning_rate == TAXI_SGD_LEARNING_RATE


def test_the_tuned_study_runs_each_method_at_the_rate_its_complete_pilot_chose():
    from gc_tutorial.book.experiments import chosen_rates, pilot_choice, studies

    file = ResultsFile(STUDY_RESULTS / "horses_or_humans_pilot_full.csv")
    results, records = file.read(), file.records()
    assert set(results["split"]) == {"train", "validation"}, "a pilot never sees the test split"
    pilot = studies.HORSES_OR_HUMANS_PILOT
    planned = {(arm, seed) for arm in pilot.arms for seed in pilot.scale("full").seeds}
    assert set(records) == planned, "every rate of every method on every pilot seed"
    choice = pilot_choice(results)
    assert not choice["on_edge"].any(), "a choice on a grid's edge: extend that grid first"
    assert chosen_rates(results) == dict(studies.HORSES_OR_HUMANS_TUNED_RATES)
    for method, arm in studies.HORSES_OR_HUMANS_TUNED.arms.items():
        assert arm.learning_rate == studies.HORSES_OR_HUMANS_TUNED_RATES[method]


RESULTS_FILES = sorted(STUDY_RESULTS.glob("*_full.csv"))  # committed; smoke runs are local


@pytest.mark.parametrize("path", RESULTS_FILES, ids=[path.stem for path in RESULTS_FILES])
def test_every_run_of_a_study_comes_from_one_commit_with_a_clean_tree(path):
    records = ResultsFile(path).records()
    assert records, f"{path.name} has no provenance records"
    commits = {record["git_commit"] for record in records.values()}
    assert len(commits) == 1, f"{path.name}: runs at {sorted(map(str, commits))}"
    assert all(record["git_dirty"] is False for record in records.values()), path.name


@pytest.mark.parametrize("path", RESULTS_FILES, ids=[path.stem for path in RESULTS_FILES])
def test_every_row_says_the_method_and_rate_its_run_recorded(path):
    results, records = ResultsFile(path).read(), ResultsFile(path).records()
    runs = results.drop_duplicates(["arm", "seed"])
    for arm, seed, rate in zip(runs["arm"], runs["seed"], runs["learning_rate"], strict=True):
        recorded = records[(arm, int(seed))]["optimizer"]["learning_rate"]
        assert rate == pytest.approx(recorded, rel=1e-6), (path.name, arm, seed)
    assert results.groupby("arm")[["method", "learning_rate"]].nunique().max().max() == 1


def test_the_committed_horses_or_humans_study_is_complete_paired_and_from_one_clean_commit():
    from gc_tutorial.book.experiments import HORSES_OR_HUMANS_TUNED as study
    from gc_tutorial.book.experiments.results_file import ResultsFile

    scale = study.scale("full")
    file = ResultsFile(STUDY_RESULTS / "horses_or_humans_tuned_full.csv")
    results, records = file.read(), file.records()
    assert records, "no Horses or Humans runs committed"
    runs = results.groupby(["arm", "seed"])["epoch"].max()
    assert set(runs.index) == {(arm, seed) for arm in study.arms for seed in scale.seeds}
    assert set(records) == set(runs.index)
    assert (runs == scale.epochs).all()
    assert len({record["git_commit"] for record in records.values()}) == 1, "one commit"
    assert not [run for run, record in records.items() if record["git_dirty"] is not False]
    starts = {}
    for (_, seed), record in records.items():
        starts.setdefault(seed, set()).add(record["initial_weights_sha256"])
    assert all(len(fingerprints) == 1 for fingerprints in starts.values()), "unpaired seeds"


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
    from gc_tutorial.book.experiments.answer import display_table, verdict_table

    results = ResultsFile(STUDY_RESULTS / "nyc_taxi_full.csv").read()
    (shown,) = [
        output["data"]["text/html"]
        for output in stored_outputs(
            "06_nyc_taxi.ipynb", 'verdict_table(results, study.pairs, ("mae"'
        )
        if "text/html" in output.get("data", {})
    ]
    table = verdict_table(results, NYC_TAXI.pairs, ("mae", "loss"), study="nyc_taxi")
    again = display_table(table).drop(columns="data set").style.hide(axis="index")
    assert shown == again.set_uuid("taxi")._repr_html_()


def test_the_answer_table_is_recomputed_from_the_committed_results():
    from gc_tutorial.book.experiments import STUDIES
    from gc_tutorial.book.experiments.answer import (
        display_table,
        learned,
        learning_pairs,
        verdict_table,
    )

    notebook = nbformat.read(ROOT / "chapters" / "00_when_does_gc_help.ipynb", as_version=4)
    key = "application/papermill.record/text/html"
    (shown,) = [
        output["data"][key]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("metadata", {}).get("scrapbook", {}).get("name") == "verdict_table"
    ]
    tables = []
    for name, study, metrics in (
        ("nyc_taxi", "nyc_taxi", ("mae", "loss")),
        ("horses_or_humans", "horses_or_humans_tuned", ("accuracy", "loss")),
    ):
        results = ResultsFile(STUDY_RESULTS / f"{study}_full.csv").read()
        pairs = dict(STUDIES[study].pairs)
        if name == "horses_or_humans":  # arms whose training loss ended above 0.60 are left out
            pairs = learning_pairs(pairs, learned(results, 0.60))
        tables.append(verdict_table(results, pairs, metrics, study=name))
    names = {"nyc_taxi": "NYC taxi fares", "horses_or_humans": "Horses or Humans"}
    shown_again = display_table(pd.concat(tables, ignore_index=True), names)
    assert shown == shown_again.style.hide(axis="index").set_uuid("verdict")._repr_html_()
