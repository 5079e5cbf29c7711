"""Specification of gc_tutorial.book.experiments.provenance: what made a run, and its start.

That the runner writes these into every run's record is ``test_runner.py``'s.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess

import keras
import numpy as np
import pytest

import gc_tutorial
from gc_tutorial.book.experiments import provenance
from gc_tutorial.book.experiments.provenance import (
    environment,
    optimizer_description,
    page_provenance,
    weights_fingerprint,
)


def test_the_environment_names_backend_device_versions_and_commit():
    env = environment()
    assert env["backend"] == keras.backend.backend()
    assert env["device"] == "CPU" and env["processor"]
    assert env["python"] == platform.python_version()
    assert {"keras", "numpy", keras.backend.backend()} <= set(env["versions"])
    assert env["versions"]["keras"] == keras.__version__
    assert len(env["git_commit"]) == 40 and isinstance(env["git_dirty"], bool)
    assert json.loads(json.dumps(env)) == env


def test_a_changed_results_file_leaves_the_tree_clean_and_changed_code_does_not(tmp_path):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    (tmp_path / "chapters" / "results").mkdir(parents=True)
    (tmp_path / "chapters" / "results" / "study.csv").write_text("run\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    code = tmp_path / "chapters"  # a folder inside the checkout, as the package is
    (tmp_path / "chapters" / "results" / "study.csv").write_text("run\n1\n")
    commit, dirty = provenance._git_commit(code)
    assert len(commit) == 40 and dirty is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance._git_commit(code)[1] is True


def test_each_call_reads_the_commit_anew_so_each_run_records_its_own(monkeypatch):
    states = iter([("a" * 40, False), ("b" * 40, True)])
    monkeypatch.setattr(provenance, "_git_commit", lambda: next(states))
    first, second = environment(), environment()
    assert (first["git_commit"], first["git_dirty"]) == ("a" * 40, False)
    assert (second["git_commit"], second["git_dirty"]) == ("b" * 40, True)
    assert first["versions"] == second["versions"]


def test_outside_a_git_checkout_the_commit_is_none(monkeypatch):
    def not_a_repository(args, **kwargs):
        return subprocess.CompletedProcess(args, 128, "", "fatal: not a git repository")

    monkeypatch.setattr(provenance.subprocess, "run", not_a_repository)
    assert (environment()["git_commit"], environment()["git_dirty"]) == (None, None)


def test_the_provenance_line_names_date_profile_backend_and_versions(monkeypatch):
    monkeypatch.setenv("GC_TUTORIAL_PROFILE", "smoke")
    line = page_provenance()
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert line.startswith(f"Outputs made on {today} (UTC) with the smoke profile, ")
    assert f"Keras backend {keras.backend.backend()} on " in line
    assert f"keras {keras.__version__}" in line and "gc_tutorial " in line


def test_a_weights_fingerprint_changes_with_any_value_dtype_shape_or_order():
    weights = [np.arange(6, dtype="float32").reshape(2, 3), np.ones(3, dtype="float32")]
    fingerprint = weights_fingerprint(weights)
    assert len(fingerprint) == 64
    assert weights_fingerprint([w.copy() for w in weights]) == fingerprint
    changed_value = [weights[0], weights[1] + 1e-7]
    changed_dtype = [weights[0].astype("float64"), weights[1]]
    changed_shape = [weights[0].reshape(3, 2), weights[1]]
    others = [changed_value, changed_dtype, changed_shape, weights[::-1]]
    assert len({fingerprint, *map(weights_fingerprint, others)}) == 5


def test_an_optimizer_is_described_by_its_class_and_settings_without_its_name():
    described = optimizer_description(gc_tutorial.GCSGD(learning_rate=0.01))
    assert described["class"] == "gc_tutorial.optimizers.GCSGD"
    assert described["learning_rate"] == pytest.approx(0.01)
    assert described["where"] == "gradient" and "name" not in described
    assert optimizer_description(gc_tutorial.GCSGD(learning_rate=0.01)) == described
    assert optimizer_description(gc_tutorial.GCSGD(learning_rate=0.02)) != described
    assert json.loads(json.dumps(described)) == described
