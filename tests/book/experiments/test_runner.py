"""Specification of the resumable study runner and its command line.

Most tests run :data:`TINY`, a study of a tiny Dense model on synthetic
arrays, by its import path (so that worker processes can import it too);
one runs the real ``nyc_taxi`` smoke study through the command line.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import gc_tutorial
from gc_tutorial.book.data import DATA_ENV, ArrayBatches
from gc_tutorial.book.experiments import (
    RESULT_COLUMNS,
    Scale,
    Study,
    compare_optimizers,
    run_study,
    study_status,
)
from gc_tutorial.book.experiments.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def tiny_model(scale: Scale) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1),
        ]
    )


def tiny_data(seed: int, scale: Scale) -> tuple[ArrayBatches, ...]:
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = x @ np.arange(1, 5, dtype="float32")
    return (
        ArrayBatches(x[:64], y[:64], scale.batch_size, shuffle_seed=seed),
        ArrayBatches(x[64:80], y[64:80], scale.batch_size),
        ArrayBatches(x[80:], y[80:], scale.batch_size),
    )


def _broken_optimizer() -> keras.optimizers.Optimizer:
    raise TypeError("this optimizer cannot be built")


TINY = Study(
    name="tiny",
    build_model=tiny_model,
    data=tiny_data,
    compile_kwargs={"loss": "mse", "metrics": ["mae"]},
    profiles={
        "smoke": Scale(seeds=(0, 1, 2), epochs=3, batch_size=16),
        "short": Scale(seeds=(0,), epochs=1, batch_size=16),
    },
    arms={
        "SGD": functools.partial(keras.optimizers.SGD, learning_rate=0.01),
        "SGD again": functools.partial(keras.optimizers.SGD, learning_rate=0.01),
        "SGD + GC": functools.partial(gc_tutorial.GCSGD, learning_rate=0.01),
    },
    pairs={"SGD + GC": "SGD", "SGD again": "SGD"},
    test_metrics=("mae",),
)
BROKEN = dataclasses.replace(TINY, arms={**TINY.arms, "broken": _broken_optimizer})
FASTER = dataclasses.replace(
    TINY, arms={**TINY.arms, "SGD": functools.partial(keras.optimizers.SGD, 0.02)}
)
TINY_STUDY = f"{__name__}:TINY"
BROKEN_STUDY = f"{__name__}:BROKEN"
FASTER_STUDY = f"{__name__}:FASTER"
ARMS = ["SGD", "SGD + GC"]


def scores(results: pd.DataFrame) -> pd.DataFrame:
    """Every row but the epoch times, in a fixed order."""
    kept = results[results["metric"] != "epoch_time_s"]
    return kept.sort_values(["arm", "seed", "split", "metric", "epoch"]).reset_index(drop=True)


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


def test_runs_match_compare_optimizers(full_run):
    # Same seeds, same start, same data order: run by run, the runner and
    # compare_optimizers train the same models (the runner also evaluates
    # the test set at every epoch, which draws no randomness).
    _, results = full_run
    scale = TINY.scale("smoke")
    expected = compare_optimizers(
        functools.partial(tiny_model, scale),
        {arm: TINY.arms[arm] for arm in ARMS},
        lambda seed: tiny_data(seed, scale),
        seeds=scale.seeds,
        epochs=scale.epochs,
        compile_kwargs=TINY.compile_kwargs,
    )
    last_test = (results["split"] != "test") | (results["epoch"] == scale.epochs)
    pd.testing.assert_frame_equal(scores(results[last_test]), scores(expected))


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
        assert record["backend"] == keras.backend.backend()
        assert record["device"] == "CPU" and record["processor"]
        assert {"keras", "numpy", keras.backend.backend()} <= set(record["versions"])
        assert record["versions"]["keras"] == keras.__version__
        finished = datetime.datetime.fromisoformat(record["finished_utc"])
        assert finished.utcoffset() == datetime.timedelta(0)
        assert record["seconds"] > 0
        assert "git_commit" in record and "git_dirty" in record
        optimizer = record["optimizer"]
        assert optimizer["learning_rate"] == pytest.approx(0.01)
        assert optimizer["class"].endswith("GCSGD" if "GC" in record["arm"] else ".SGD")
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


def test_a_file_not_written_by_the_runner_is_refused(tmp_path):
    out = tmp_path / "chapter.csv"
    pd.DataFrame([(0, "SGD", 1, "test", "loss", 1.0)], columns=list(RESULT_COLUMNS)).to_csv(
        out, index=False
    )
    with pytest.raises(ValueError, match="without a record in .*chapter.provenance.jsonl"):
        run_study(TINY_STUDY, "short", out)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a results file"):
        run_study(TINY_STUDY, "short", other)


def test_an_arm_whose_optimizer_changed_is_refused(tmp_path):
    out = tmp_path / "tiny.csv"
    run_study(TINY_STUDY, "short", out, arms=["SGD"])
    with pytest.raises(ValueError, match="Arm 'SGD' has changed since its runs"):
        run_study(FASTER_STUDY, "short", out, arms=["SGD"], seeds=[1])
    run_study(FASTER_STUDY, "short", out, arms=["SGD + GC"])  # unchanged arms run


def test_runs_of_another_profile_are_refused(tmp_path):
    out = tmp_path / "tiny.csv"
    run_study(TINY_STUDY, "short", out, arms=["SGD"])
    with pytest.raises(ValueError, match="'profile': 'short', 'epochs': 1"):
        run_study(TINY_STUDY, "smoke", out, arms=["SGD"], seeds=[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arms": ["Adam"]}, r"no arm\(s\) \['Adam'\]; its arms: \['SGD'"),
        ({"seeds": []}, "at least one arm and one seed"),
        ({"workers": 0}, "workers"),
    ],
)
def test_bad_requests_are_refused_before_any_run(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_study(TINY_STUDY, "short", tmp_path / "x.csv", **kwargs)
    assert not (tmp_path / "x.csv").exists()


def test_status_counts_done_and_missing_runs_per_arm(full_run, tmp_path):
    out, _ = full_run
    status = study_status(TINY_STUDY, "smoke", out).set_index("arm")
    assert status.loc["SGD", "done"] == 3 and status.loc["SGD", "missing"] == []
    assert status.loc["SGD again", "done"] == 0
    assert status.loc["SGD again", "missing"] == [0, 1, 2]
    assert (status["planned"] == 3).all()
    empty = study_status(TINY_STUDY, "smoke", tmp_path / "none.csv")
    assert empty["done"].sum() == 0


def test_command_line_status_and_errors(full_run, capsys):
    out, _ = full_run
    assert main(["status", TINY_STUDY, "--profile", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny (smoke)" in printed and "6 of 9 planned runs done" in printed
    assert main(["run", "cifar", "--profile", "smoke", "--out", str(out)]) == 1
    assert "No study 'cifar'" in capsys.readouterr().err


def real_data_dir() -> Path:
    folder = Path(os.environ.get(DATA_ENV) or SHARED_DATA)
    if not folder.is_dir():
        pytest.fail(
            f"Real data not found at {folder}. Set ${DATA_ENV} to the folder "
            f"holding nyc_taxis/ and horses_or_humans/, or put it at {SHARED_DATA}."
        )
    return folder


def test_command_line_runs_the_taxi_smoke_study(tmp_path, capsys):
    out = tmp_path / "nyc_taxi_smoke.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gc_tutorial.book.experiments",
            "run",
            "nyc_taxi",
            "--profile",
            "smoke",
            "--arms",
            "Adam",
            "Adam + GC",
            "--seeds",
            "0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, DATA_ENV: str(real_data_dir())},
    )
    assert done.returncode == 0, done.stderr
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
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": env_path},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
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
