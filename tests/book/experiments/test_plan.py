"""Specification of the plan: which runs a results file holds, which are to do.

The results files here are written by hand, one row per run, with the
provenance records the runner would write: planning trains nothing. The
results file's own refusals (a file the runner did not write, runs of
another study, profile or length) are ``test_results_file.py``'s.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import pytest
from tiny_study import TINY

from gc_tutorial.book.experiments import Scale
from gc_tutorial.book.experiments.plan import plan_runs, study_status
from gc_tutorial.book.experiments.provenance import optimizer_description
from gc_tutorial.book.experiments.results_file import ResultsFile

ONE_ARM = dataclasses.replace(
    TINY,
    profiles={
        **TINY.profiles,
        "one arm": Scale(seeds=(0, 1), epochs=1, batch_size=16, arms=("SGD + GC",)),
    },
)


def write_runs(out, runs, study=TINY, profile="smoke") -> None:
    """Append one row and the runner's provenance record per (arm, seed)."""
    for arm, seed in runs:
        record = {
            "study": study.name,
            "profile": profile,
            "epochs": study.scale(profile).epochs,
            "arm": arm,
            "seed": seed,
            "optimizer": optimizer_description(study.arms[arm]()),
            "initial_weights_sha256": f"weights of seed {seed}",
        }
        ResultsFile(out).append([(seed, arm, arm, 0.01, 1, "test", "loss", 1.0)], record)


def test_the_runs_to_do_are_those_missing_seed_by_seed(tmp_path):
    out = tmp_path / "tiny_smoke.csv"
    write_runs(out, [("SGD", 1), ("SGD + GC", 0)])
    plan = plan_runs(TINY, "smoke", out, arms=["SGD + GC", "SGD"])
    assert plan.pending == [("SGD", 0), ("SGD + GC", 1), ("SGD + GC", 2), ("SGD", 2)]
    assert set(plan.done) == {("SGD", 1), ("SGD + GC", 0)}
    assert plan.done[("SGD", 1)]["initial_weights_sha256"] == "weights of seed 1"


def test_by_default_a_plan_is_every_arm_the_profile_runs_on_its_seeds(tmp_path):
    everything = plan_runs(TINY, "smoke", tmp_path / "a.csv")
    assert everything.pending == [(arm, seed) for seed in (0, 1, 2) for arm in TINY.arms]
    one_arm = plan_runs(ONE_ARM, "one arm", tmp_path / "b.csv")
    assert one_arm.pending == [("SGD + GC", 0), ("SGD + GC", 1)]


def test_given_seeds_replace_the_profiles(tmp_path):
    plan = plan_runs(TINY, "smoke", tmp_path / "a.csv", arms=["SGD"], seeds=[7, 3])
    assert plan.pending == [("SGD", 7), ("SGD", 3)]


@pytest.mark.parametrize(
    "profile, request_, match",
    [
        ("smoke", {"arms": ["Adam"]}, r"no arm\(s\) \['Adam'\]; its arms: \['SGD', 'SGD again'"),
        ("smoke", {"arms": []}, "Nothing to run: give at least one arm and one seed"),
        ("smoke", {"seeds": []}, "Nothing to run: give at least one arm and one seed"),
        ("quick", {}, r"no profile 'quick'; use one of \['smoke', 'short'\]"),
    ],
)
def test_a_request_the_study_cannot_fill_is_refused(tmp_path, profile, request_, match):
    with pytest.raises(ValueError, match=match):
        plan_runs(TINY, profile, tmp_path / "a.csv", **request_)


def test_an_arm_whose_optimizer_changed_is_refused_the_others_plan(tmp_path):
    out = tmp_path / "tiny_smoke.csv"
    write_runs(out, [("SGD", 0), ("SGD + GC", 0)])
    faster = dataclasses.replace(
        TINY, arms={**TINY.arms, "SGD": functools.partial(keras.optimizers.SGD, 0.02)}
    )
    with pytest.raises(ValueError, match="Arm 'SGD' has changed since its runs"):
        plan_runs(faster, "smoke", out, arms=["SGD"])
    assert plan_runs(faster, "smoke", out, arms=["SGD + GC"]).pending == [
        ("SGD + GC", 1),
        ("SGD + GC", 2),
    ]


def test_status_counts_done_and_missing_runs_per_arm(tmp_path):
    out = tmp_path / "tiny_smoke.csv"
    write_runs(out, [("SGD", seed) for seed in (0, 1, 2)] + [("SGD + GC", 1)])
    status = study_status(TINY, "smoke", out).set_index("arm")
    assert list(status.index) == list(TINY.arms)
    assert status.loc["SGD", "done"] == 3 and status.loc["SGD", "missing"] == []
    assert status.loc["SGD again", "done"] == 0
    assert status.loc["SGD again", "missing"] == [0, 1, 2]
    assert status.loc["SGD + GC", "missing"] == [0, 2]
    assert (status["planned"] == 3).all() and (status["extra"].str.len() == 0).all()
    assert study_status(TINY, "smoke", tmp_path / "none.csv")["done"].sum() == 0


def test_status_lists_runs_outside_the_plan_after_it(tmp_path):
    out = tmp_path / "tiny_one_arm.csv"
    write_runs(out, [("SGD + GC", 0), ("SGD + GC", 5), ("SGD", 0)], ONE_ARM, "one arm")
    status = study_status(ONE_ARM, "one arm", out)
    assert status.to_dict("records") == [
        {"arm": "SGD + GC", "done": 1, "planned": 2, "missing": [1], "extra": [5]},
        {"arm": "SGD", "done": 0, "planned": 0, "missing": [], "extra": [0]},
    ]
