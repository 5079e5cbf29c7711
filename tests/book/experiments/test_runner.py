"""Specification of the resumable study runner and its command line.

Most tests run :data:`tiny_study.TINY`, a study of a tiny Dense model on
synthetic arrays, by its import path (so that worker processes can import it
too); one runs the real ``nyc_taxi`` smoke study through the command line.
Which runs are to do, and the refusals of a request that does not fit its
results file, are specified in ``test_plan.py``; the results file and the
provenance record's parts in ``test_results_file.py`` and
``test_provenance.py``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import json
import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import run_python
from real_data import real_data_dir
from tiny_study import ARMS, BROKEN_STUDY, TINY, TINY_STUDY, scores, tiny_model

from gc_tutorial.book.data import DATA_ENV
from gc_tutorial.book.experiments import RESULT_COLUMNS, run_study
from gc_tutorial.book.experiments.__main__ import main
from gc_tutorial.book.experiments.provenance import environment, optimizer_description

ROOT = Path(__file__).resolve().parents[3]
DIVERGING = dataclasses.replace(
    TINY, arms={"SGD, lr 1e6": functools.partial(keras.optimizers.SGD, learning_rate=1e6)}, pairs={}
)


def provenance(out: Path) -> list[dict]:
    path = out.with_name(out.stem + ".provenance.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Two arms, three seeds, three epochs, uninterrupted, in this process."""
    out = tmp_path_factory.mktemp("full") / "tiny_smoke.csv"
    return out, run_study(TINY_STUDY, "smoke", out, arms=ARMS)


def test_runs_write_tidy_rows_with_the_test_set_every_epoch(full_run):
    out, results = full_run
    assert list(results.columns) == list(RESULT_COLUMNS)
    pd.testing.assert_frame_equal(results, pd.read_csv(out))
    assert set(zip(results["arm"], results["seed"], strict=True)) == {
        (arm, seed) for arm in ARMS for seed in (0, 1, 2)
    }
    per_split = results.groupby("split")
    assert per_split["metric"].agg(set).to_dict() == {
        "train": {"loss", "mae", "epoch_time_s"},
        "validation": {"loss", "mae"},
        "test": {"loss", "mae"},
    }
    assert (per_split["epoch"].agg(set) == {1, 2, 3}).all()
    assert not results.duplicated(["seed", "arm", "epoch", "split", "metric"]).any()


def test_every_epoch_records_its_wall_time(full_run):
    _, results = full_run
    times = results[results["metric"] == "epoch_time_s"]
    assert len(times) == 3 * len(ARMS) * 3  # seeds x arms x epochs
    assert (times["split"] == "train").all() and (times["value"] > 0).all()


def test_the_arms_of_a_seed_differ_by_their_optimizer(full_run):
    _, results = full_run
    test_loss = results[(results["split"] == "test") & (results["metric"] == "loss")]
    by_run = test_loss.set_index(["seed", "arm", "epoch"])["value"]
    assert by_run[(0, "SGD", 3)] != by_run[(0, "SGD + GC", 3)]


def test_a_diverged_run_is_saved_with_its_non_finite_values(tmp_path):
    results = run_study(DIVERGING, "short", tmp_path / "diverging_short.csv")
    loss = results[(results["metric"] == "loss") & (results["split"] != "train")]
    assert len(loss) == 2 and not np.isfinite(loss["value"]).any()


def test_resuming_gives_the_rows_of_an_uninterrupted_run(full_run, tmp_path):
    _, uninterrupted = full_run
    out = tmp_path / "tiny_smoke.csv"
    first: list[str] = []
    run_study(TINY_STUDY, "smoke", out, arms=ARMS, seeds=[1], progress=first.append)
    rest: list[str] = []
    resumed = run_study(TINY_STUDY, "smoke", out, arms=ARMS, progress=rest.append)
    assert len(first) == 2 and len(rest) == 4  # the two runs of seed 1 are skipped
    assert rest[0].startswith("[1/4] SGD seed 0:")
    pd.testing.assert_frame_equal(scores(resumed), scores(uninterrupted))


def test_runs_already_in_the_file_are_skipped(full_run):
    out, _ = full_run
    before = out.read_bytes(), out.with_suffix(".provenance.jsonl").read_bytes()
    lines: list[str] = []
    run_study(TINY_STUDY, "smoke", out, arms=ARMS, progress=lines.append)
    assert lines == []
    assert (out.read_bytes(), out.with_suffix(".provenance.jsonl").read_bytes()) == before


def test_provenance_records_every_run(full_run):
    out, _ = full_run
    records = provenance(out)
    assert [(r["arm"], r["seed"]) for r in records] == [
        (arm, seed) for seed in (0, 1, 2) for arm in ARMS
    ]
    for record in records:
        assert (record["study"], record["profile"], record["epochs"]) == ("tiny", "smoke", 3)
        assert {key: record[key] for key in environment()} == environment()
        assert record["optimizer"] == optimizer_description(TINY.arms[record["arm"]]())
        finished = datetime.datetime.fromisoformat(record["finished_utc"])
        assert finished.utcoffset() == datetime.timedelta(0)
        assert record["seconds"] > 0
    weights = {(r["arm"], r["seed"]): r["initial_weights_sha256"] for r in records}
    for seed in (0, 1, 2):
        assert weights[("SGD", seed)] == weights[("SGD + GC", seed)]
    assert len({weights[("SGD", seed)] for seed in (0, 1, 2)}) == 3


def test_arms_in_worker_processes_start_alike(full_run, tmp_path):
    # Each call starts its own spawned workers, so "SGD" and "SGD again" of
    # seed 1 run in two fresh processes, neither of them this one; the
    # second call runs two arms at once in two workers. Two copies of one
    # optimizer must retrace each other exactly, and the run made here.
    _, in_process = full_run
    out = tmp_path / "tiny_smoke.csv"
    run_study(TINY_STUDY, "smoke", out, arms=["SGD"], seeds=[1], workers=2)
    results = run_study(
        TINY_STUDY, "smoke", out, arms=["SGD again", "SGD + GC"], seeds=[1], workers=2
    )
    records = provenance(out)
    assert sorted(r["arm"] for r in records) == sorted(TINY.arms)
    assert len({r["initial_weights_sha256"] for r in records}) == 1
    assert not results.duplicated(["seed", "arm", "epoch", "split", "metric"]).any()
    results = scores(results)
    keys = ["seed", "epoch", "split", "metric"]
    first = results[results["arm"] == "SGD"].set_index(keys)["value"]
    second = results[results["arm"] == "SGD again"].set_index(keys)["value"]
    pd.testing.assert_series_equal(first, second)
    here = scores(in_process[(in_process["arm"] == "SGD") & (in_process["seed"] == 1)])
    pd.testing.assert_series_equal(first, here.set_index(keys)["value"])


def test_a_failed_run_is_named_and_the_finished_ones_stay(tmp_path):
    out = tmp_path / "tiny_short.csv"
    with pytest.raises(RuntimeError, match="arm 'broken' with seed 0 failed: TypeError"):
        run_study(BROKEN_STUDY, "short", out, arms=["SGD", "broken"])
    assert [r["arm"] for r in provenance(out)] == ["SGD"]
    assert set(pd.read_csv(out)["arm"]) == {"SGD"}


def test_a_run_that_would_break_the_pairing_is_refused(tmp_path):
    out = tmp_path / "tiny_short.csv"
    run_study(TINY_STUDY, "short", out, arms=["SGD"])
    path = out.with_suffix(".provenance.jsonl")
    record = json.loads(path.read_text())
    record["initial_weights_sha256"] = "0" * 64  # as if made on another backend
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(RuntimeError, match="not paired"):
        run_study(TINY_STUDY, "short", out, arms=["SGD + GC"])
    assert set(pd.read_csv(out)["arm"]) == {"SGD"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arms": ["Adam"]}, r"no arm\(s\) \['Adam'\]"),
        ({"workers": 0}, "workers must be at least 1; got 0"),
    ],
)
def test_bad_requests_are_refused_before_any_run(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_study(TINY_STUDY, "short", tmp_path / "x.csv", **kwargs)
    assert not (tmp_path / "x.csv").exists()


def test_command_line_status_and_errors(full_run, capsys):
    out, _ = full_run
    assert main(["status", TINY_STUDY, "--profile", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny (smoke)" in printed and "6 of 9 planned runs done" in printed
    assert main(["run", "cifar", "--profile", "smoke", "--out", str(out)]) == 1
    assert "No study 'cifar'" in capsys.readouterr().err


def test_command_line_runs_the_taxi_smoke_study(tmp_path, capsys):
    out = tmp_path / "nyc_taxi_smoke.csv"
    done = run_python(
        *("-m", "gc_tutorial.book.experiments", "run", "nyc_taxi", "--profile", "smoke"),
        *("--arms", "Adam", "Adam + GC", "--seeds", "0", "--out", str(out)),
        cwd=ROOT,
        env={**os.environ, DATA_ENV: str(real_data_dir())},
        timeout=300,
    )
    assert "[2/2] Adam + GC seed 0" in done.stdout
    results = pd.read_csv(out)
    assert set(zip(results["arm"], results["seed"], results["epoch"], strict=True)) == {
        ("Adam", 0, 1),
        ("Adam + GC", 0, 1),
    }
    assert {"mae", "loss"} <= set(results.loc[results["split"] == "test", "metric"])
    assert len(provenance(out)) == 2
    assert main(["status", "nyc_taxi", "--profile", "smoke", "--out", str(out)]) == 0
    assert "2 of 10 planned runs done" in capsys.readouterr().out


BLOCK_TENSORFLOW = """
import sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ImportError("TensorFlow is blocked in this test")
sys.meta_path.insert(0, NoTensorFlow())
from gc_tutorial.book.experiments import run_study
run_study({study!r}, "short", {out!r}, arms=["SGD", "SGD + GC"])
"""


def test_the_runner_needs_no_tensorflow_on_jax(tmp_path):
    out = tmp_path / "tiny_short.csv"
    code = BLOCK_TENSORFLOW.format(study=TINY_STUDY, out=str(out))
    env_path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    run_python(
        "-c",
        code,
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": env_path},
        timeout=300,
    )
    assert {r["backend"] for r in provenance(out)} == {"jax"}


def test_any_executor_runs_a_study_as_the_default_runner_does(full_run, tmp_path):
    # run_study takes any concurrent.futures.Executor and saves each run as
    # it finishes, in this process; here a one-thread pool.
    _, in_process = full_run
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        results = run_study(
            TINY_STUDY, "smoke", tmp_path / "tiny_smoke.csv", arms=ARMS, executor=pool
        )
    pd.testing.assert_frame_equal(scores(results), scores(in_process))


def test_a_study_object_that_cannot_pickle_is_refused_for_an_executor(tmp_path):
    unpicklable = dataclasses.replace(TINY, build_model=lambda scale: tiny_model(scale))
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        pytest.raises(ValueError, match="cannot be sent to worker processes"),
    ):
        run_study(unpicklable, "short", tmp_path / "tiny_short.csv", executor=pool)
