"""Specification of gc_tutorial.book.experiments.results_file: a study's CSV and provenance.

The files here are written through :class:`ResultsFile` itself, one row per
run, with records holding only what the file checks; what the runner puts
in a record is ``test_runner.py``'s.
"""

from __future__ import annotations

import pandas as pd
import pytest

from gc_tutorial.book.experiments import RESULT_COLUMNS
from gc_tutorial.book.experiments.results_file import ResultsFile

PLAN = {"study": "tiny", "profile": "smoke", "epochs": 3}


def append_run(file: ResultsFile, arm: str, seed: int, value: float = 1.0, **changes) -> None:
    """One run: a test-loss row, and a record of ``PLAN`` with ``changes``."""
    record = {**PLAN, "arm": arm, "seed": seed, **changes}
    file.append([(seed, arm, arm, 0.01, 3, "test", "loss", value)], record)


def test_the_provenance_file_sits_beside_the_csv(tmp_path):
    file = ResultsFile(tmp_path / "nyc_taxi_full.csv")
    assert file.provenance_path == tmp_path / "nyc_taxi_full.provenance.jsonl"


def test_a_missing_or_empty_file_reads_as_an_empty_results_frame(tmp_path):
    (tmp_path / "empty.csv").touch()
    for name in ("missing.csv", "empty.csv"):
        file = ResultsFile(tmp_path / name)
        assert file.read().empty and list(file.read().columns) == list(RESULT_COLUMNS)
        assert file.records() == {} and file.done(**PLAN) == {}


def test_appended_runs_read_back_under_one_header_each_with_its_latest_record(tmp_path):
    file = ResultsFile(tmp_path / "studies" / "tiny_smoke.csv")  # the folder is made
    append_run(file, "SGD", 0, value=0.5, note="first")
    append_run(file, "SGD + GC", 0, value=0.25)
    append_run(file, "SGD", 0, value=0.5, note="again")
    assert file.path.read_text().count("seed,arm") == 1
    rows = [
        (0, "SGD", "SGD", 0.01, 3, "test", "loss", 0.5),
        (0, "SGD + GC", "SGD + GC", 0.01, 3, "test", "loss", 0.25),
    ]
    expected = pd.DataFrame([*rows, rows[0]], columns=list(RESULT_COLUMNS))
    pd.testing.assert_frame_equal(file.read(), expected)
    assert set(file.records()) == {("SGD", 0), ("SGD + GC", 0)}
    assert file.records()[("SGD", 0)]["note"] == "again"


def test_a_run_is_done_when_its_rows_are_in_the_csv_not_before(tmp_path):
    file = ResultsFile(tmp_path / "tiny_smoke.csv")
    append_run(file, "SGD", 0)
    # Interrupted between the two writes: the record of seed 1 without its rows.
    with open(file.provenance_path, "a", encoding="utf-8") as provenance:
        provenance.write('{"arm": "SGD", "seed": 1, "study": "tiny"}\n')
    done = file.done(**PLAN)
    assert list(done) == [("SGD", 0)] and done[("SGD", 0)]["arm"] == "SGD"


def test_a_file_not_written_by_the_runner_is_refused(tmp_path):
    out = tmp_path / "chapter.csv"
    pd.DataFrame(
        [(0, "SGD", "SGD", 0.01, 1, "test", "loss", 1.0)], columns=list(RESULT_COLUMNS)
    ).to_csv(out, index=False)
    with pytest.raises(ValueError, match="without a record in .*chapter.provenance.jsonl"):
        ResultsFile(out).done(**PLAN)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    legacy = tmp_path / "legacy.csv"  # the columns before method and learning_rate
    legacy.write_text("seed,arm,epoch,split,metric,value\n0,SGD,1,test,loss,1.0\n")
    with pytest.raises(ValueError, match="not a results file"):
        ResultsFile(legacy).read()
    with pytest.raises(ValueError, match="not a results file"):
        ResultsFile(other).done(**PLAN)


@pytest.mark.parametrize(
    "record, match",
    [
        ({"profile": "short"}, "'profile': 'short'"),
        ({"epochs": 5}, "'epochs': 5"),
        ({"study": "other"}, "'study': 'other'"),
    ],
)
def test_runs_of_another_study_profile_or_length_are_refused(tmp_path, record, match):
    file = ResultsFile(tmp_path / "tiny_smoke.csv")
    append_run(file, "SGD", 0, **record)
    with pytest.raises(ValueError, match=f"holds runs of .*{match}.*write to another"):
        file.done(**PLAN)
