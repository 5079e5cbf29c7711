"""gc_tutorial.book.results: the committed results, found in a clone and when installed.

A page reads the committed runs and trains nothing they hold; a study runs
only in the smoke profile or with ``GC_TUTORIAL_RUN_STUDIES`` set. The wheel
that carries the results is built and checked in ``tests/pages/test_colab.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gc_tutorial.book import results
from gc_tutorial.book.experiments import runner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_runs(monkeypatch):
    """Fail if anything would train."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"run_study called: {args}")

    monkeypatch.setattr(runner, "run_study", refuse)


@pytest.fixture
def recorded_runs(monkeypatch):
    """Record what would train instead of training."""
    calls = []

    def record(study, profile, out, **kwargs):
        calls.append((study, profile, Path(out)))

    monkeypatch.setattr(runner, "run_study", record)
    return calls


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """As if installed from a wheel: no checkout, the committed files in the package data."""
    packaged = tmp_path / "site-packages" / "_committed"
    studies = packaged / results.STUDIES_FOLDER
    studies.mkdir(parents=True)
    (packaged / results.BENCHMARKS_FOLDER).mkdir(parents=True)
    for suffix in (".csv", ".provenance.jsonl"):
        (studies / f"nyc_taxi_full{suffix}").write_text(f"committed{suffix}\n")
    monkeypatch.setattr(results, "repository_root", lambda: None)
    monkeypatch.setattr(results, "_PACKAGED", packaged)
    work = tmp_path / "colab"
    work.mkdir()
    monkeypatch.chdir(work)
    return packaged


def test_a_clone_reads_its_committed_files():
    assert results.repository_root() == ROOT
    path = results.committed_path("chapters/results/studies/nyc_taxi_full.csv")
    assert path == ROOT / "chapters" / "results" / "studies" / "nyc_taxi_full.csv"
    assert path.is_file()
    assert sorted(results.committed_path("benchmarks/results").glob("*.json"))


def test_an_installed_package_reads_its_package_data(installed):
    path = results.committed_path("chapters/results/studies/nyc_taxi_full.csv")
    assert path == installed / "chapters" / "results" / "studies" / "nyc_taxi_full.csv"
    assert results.shown_path(path) == "chapters/results/studies/nyc_taxi_full.csv"
    assert results.working_folder() == Path.cwd() / "results" / "studies"


def test_a_package_without_its_data_says_so(installed, monkeypatch, tmp_path):
    monkeypatch.setattr(results, "_PACKAGED", tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="carries no committed results"):
        results.committed_path("benchmarks/results")


@pytest.mark.parametrize(
    "relative", ["chapters/notes.md", "benchmarks", "/etc/passwd", "benchmarks/results/../../x"]
)
def test_only_the_committed_folders_are_looked_up(relative):
    with pytest.raises(ValueError, match="not a committed result"):
        results.committed_path(relative)


@pytest.mark.parametrize(
    "profile, flag, runs",
    [("full", None, False), ("full", "0", False), ("full", "1", True), ("smoke", None, True)],
)
def test_studies_run_only_when_asked(monkeypatch, profile, flag, runs):
    if flag is None:
        monkeypatch.delenv(results.RUN_ENV, raising=False)
    else:
        monkeypatch.setenv(results.RUN_ENV, flag)
    assert results.runs_here(profile) is runs


def test_by_default_a_page_reads_the_committed_runs_and_trains_nothing(monkeypatch, no_runs):
    monkeypatch.delenv(results.RUN_ENV, raising=False)
    monkeypatch.delenv("GC_TUTORIAL_PROFILE", raising=False)
    file = results.study_results("nyc_taxi")
    assert file.path == ROOT / "chapters" / "results" / "studies" / "nyc_taxi_full.csv"
    assert len(file.read()) > 0


def test_a_study_never_run_reads_as_no_rows(monkeypatch, installed, no_runs):
    monkeypatch.delenv(results.RUN_ENV, raising=False)
    file = results.study_results("horses_or_humans_tuned", "gpu")
    assert not file.path.exists()
    assert file.read().empty


def test_the_smoke_profile_runs_the_study_afresh(monkeypatch, tmp_path, recorded_runs):
    monkeypatch.setattr(results, "working_folder", lambda: tmp_path)
    stale = tmp_path / "nyc_taxi_smoke.csv"
    stale.write_text("old\n")
    (tmp_path / "nyc_taxi_smoke.provenance.jsonl").write_text("old\n")
    file = results.study_results("nyc_taxi", "smoke")
    assert recorded_runs == [("nyc_taxi", "smoke", stale)]
    assert file.path == stale and not stale.exists()
    assert not file.provenance_path.exists()


def test_asked_to_run_an_installed_page_starts_from_the_committed_runs(
    monkeypatch, installed, recorded_runs
):
    monkeypatch.setenv(results.RUN_ENV, "1")
    file = results.study_results("nyc_taxi", "full")
    out = Path.cwd() / "results" / "studies" / "nyc_taxi_full.csv"
    assert recorded_runs == [("nyc_taxi", "full", out)]
    assert file.path == out
    assert out.read_text() == "committed.csv\n"
    assert file.provenance_path.read_text() == "committed.provenance.jsonl\n"
    committed = installed / results.STUDIES_FOLDER / "nyc_taxi_full.csv"
    assert committed.read_text() == "committed.csv\n", "the package data is never written"


def test_a_working_file_is_shown_relative_to_the_current_folder(installed):
    assert results.shown_path(Path.cwd() / "results" / "x.csv") == "results/x.csv"


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_step_costs_give_each_model_and_optimizer_its_a_a_control_gc_forms_and_verdicts(
    backend,
):
    costs = results.step_costs(backend)
    assert set(costs["model"]) == {"taxi_mlp", "hoh_cnn", "resnet50"}
    for (model, optimizer), rows in costs.groupby(["model", "optimizer"]):
        assert rows["control"].sum() == 1, (model, optimizer)
        assert {"subclass", "update"} <= set(rows["arm"]), (model, optimizer)
        assert ((rows["low"] <= rows["ratio"]) & (rows["ratio"] <= rows["high"])).all()
        assert rows["resolved"].isna().all() or rows["resolved"].isin([True, False]).all()
        assert rows["copies"].isna().all() or (rows["copies"] >= 2).all()  # pairs of copies
    gc = costs[~costs["control"]]
    assert (costs.loc[costs["control"], "verdict"] == "A/A control").all()
    assert ((gc["verdict"] == "met") == (gc["high"] <= gc["target"])).all()
    assert ((gc["verdict"] == "missed") == (gc["low"] > gc["target"])).all()


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (1.00, 1.04, "met"),
        (0.98, 1.05, "met"),  # an interval that ends on the target meets it
        (1.03, 1.07, "undecided"),
        (1.05, 1.08, "undecided"),  # one that starts on it may still meet it
        (1.06, 1.09, "missed"),
    ],
)
def test_a_target_is_judged_on_the_whole_interval(low, high, verdict):
    assert results.judge_target(low, high, target=1.05) == verdict


def test_a_backend_with_no_committed_benchmark_says_so():
    with pytest.raises(FileNotFoundError, match="'tpu'"):
        results.step_costs("tpu")
