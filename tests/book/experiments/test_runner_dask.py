"""Specification of a study run on a Dask cluster: the runs the default pool makes.

Skipped where ``distributed`` is not installed (the ``dask`` extra,
requirements-dev.txt). The cluster is local: one worker process with one
thread, which runs the runs one after the other while its event loop draws
random numbers of its own (see gc_tutorial.book.experiments.training). The
command line reaches it by its scheduler's address, as it would a remote one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tiny_study import TINY, TINY_STUDY, scores

from gc_tutorial.book.experiments import run_study
from gc_tutorial.book.experiments.__main__ import main

distributed = pytest.importorskip("distributed")


def fingerprints(out: Path) -> dict[tuple[str, int], str]:
    """Each run's initial-weights fingerprint, from the provenance beside ``out``."""
    lines = out.with_name(out.stem + ".provenance.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {(r["arm"], r["seed"]): r["initial_weights_sha256"] for r in records}


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local_cluster:
        yield local_cluster


def test_a_local_dask_cluster_gives_the_results_of_the_default_pool(cluster, tmp_path):
    pool_out = tmp_path / "pool" / "tiny_smoke.csv"
    pooled = run_study(TINY_STUDY, "smoke", pool_out, workers=2)
    dask_out = tmp_path / "dask" / "tiny_smoke.csv"
    with distributed.Client(cluster) as client:
        on_dask = run_study(TINY_STUDY, "smoke", dask_out, executor=client.get_executor())
    assert len(on_dask.groupby(["arm", "seed"])) == len(TINY.arms) * 3
    pd.testing.assert_frame_equal(scores(on_dask), scores(pooled))
    assert fingerprints(dask_out) == fingerprints(pool_out)


def test_the_command_line_runs_a_study_on_the_scheduler_it_names(cluster, tmp_path, capsys):
    out = tmp_path / "tiny_short.csv"
    address = ["--scheduler", cluster.scheduler_address, "--out", str(out)]
    assert main(["run", TINY_STUDY, "--profile", "short", *address]) == 0
    assert "[3/3]" in capsys.readouterr().out
    assert len(fingerprints(out)) == len(TINY.arms)
    assert main(["run", TINY_STUDY, "--profile", "short", "--workers", "2", *address]) == 1
    assert "Give --workers or --scheduler, not both." in capsys.readouterr().err
