"""Several runs of one benchmark command, pooled into one results file.

A run times a few copies of every arm; where that does not resolve a
model's targets (its A/A control is wider than its band), more runs of the
same command at the same commit on the same machine add copies. Each run's
copies keep their rounds (copy ``k`` of an arm is still paired with copy
``k`` of its baseline in the same round of the same run) and are numbered
after the previous runs' copies; every comparison is then computed afresh
over all the copies (:func:`~benchmarks.gc_overhead.compare.compare_family`).
A pool of one run gives that run's comparisons.

A later run may measure only some of the first run's model and optimizer
groups (the same command narrowed with ``--models`` and ``--optimizers``),
to add copies where the A/A control is widest without timing the rest
again: each group is pooled over the runs that measured it, and the pooled
file says how many copies each group has.

The runs come from one machine unless ``--mixed-processors`` lets them come
from different processors of one size (the same cores, memory and Python):
the sessions that make them are not always given the same kind of virtual
machine. A ratio is computed within each pair of copies, so a faster
processor does not move it; the pooled ratio is then the cost averaged over
the runs' processors, and where GC costs more on one of them than on
another, the spread between the pairs of copies widens its interval. Each
run's own summary gives its processor's figures alone.

``python -m benchmarks.gc_overhead.pool RUN.json ... --out FILE.json``
writes the pooled file and its Markdown summary; the report and the book
read it as they read a single run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.gc_overhead import machine
from benchmarks.gc_overhead.compare import compare_family
from benchmarks.gc_overhead.report import markdown_report

__all__ = ["NARROWED", "RAW", "SAME", "SAME_MACHINE", "main", "pool"]

SAME = ("quick", "backend", "device", "device_name", "git_commit", "versions")
"""What every pooled run must share: the code and where it ran."""

NARROWED = ("models", "optimizer_families")
"""The settings a later run may narrow (it measures fewer models or optimizer families)."""

SAME_MACHINE = ("logical_cores", "usable_cores", "memory_gib", "python")
"""What a pooled run's machine must share with the others' when processors may differ."""


RAW = ("times_ms", "warmup_ms")
"""The fields of an arm's row a pooled file leaves in its runs' files (every step's time)."""


def _check(runs: Sequence[dict[str, Any]], names: Sequence[str], mixed_processors: bool) -> None:
    """Raise ``ValueError`` naming the first run that cannot join the first one's pool."""
    if not runs:
        raise ValueError("no runs to pool")
    for run, name in zip(runs, names, strict=True):
        if not run.get("complete"):
            raise ValueError(f"{name} is unfinished: resume it with --resume before pooling")
        if run.get("git_dirty") is not False:
            raise ValueError(f"{name} was measured from a dirty tree (or does not say)")
        for field in SAME:
            if run.get(field) != runs[0].get(field):
                raise ValueError(f"{name} differs from {names[0]} in its {field}: not pooled")
        _check_settings(run["settings"], runs[0]["settings"], f"{name} differs from {names[0]}")
        extra = sorted(set(_groups(run)) - set(_groups(runs[0])))
        if extra:
            raise ValueError(
                f"{name} measures {extra[0][0]} with {extra[0][1]}, which {names[0]} does not: "
                "the first run must measure every group"
            )
        fields = SAME_MACHINE if mixed_processors else run["machine"].keys() | runs[0]["machine"]
        for field in sorted(fields):
            if run["machine"].get(field) != runs[0]["machine"].get(field):
                raise ValueError(
                    f"{name} ran on a machine that differs from {names[0]}'s in its {field}: "
                    "not pooled"
                )


def _check_settings(settings: dict[str, Any], first: dict[str, Any], differs: str) -> None:
    """Raise ``ValueError`` where ``settings`` are not ``first``'s, narrowed or not."""
    for key in sorted((settings.keys() | first.keys()) - set(NARROWED)):
        if settings.get(key) != first.get(key):
            raise ValueError(f"{differs} in its settings ({key}): not pooled")
    for key, spec in settings.get("models", {}).items():
        if spec != first.get("models", {}).get(key):
            raise ValueError(f"{differs} in its settings of {key}: not pooled")


def _group(group: dict[str, Any]) -> tuple[str, str]:
    """Which model and optimizer family a run's group measured."""
    return group["model"], group["optimizer"]


def _groups(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The model and optimizer family groups a run measured, in its order."""
    return [_group(g) for g in run["groups"]]


def _arm(row: dict[str, Any]) -> tuple[str, str, str]:
    """Which arm of which model and optimizer family a row is a copy of."""
    return row["model"], row["optimizer"], row["arm"]


def _pooled_group(runs: Sequence[dict[str, Any]], group: dict[str, Any]) -> dict[str, Any]:
    """A group of the first run, with its time and copies in all the runs that measured it."""
    measured = [g for r in runs for g in r["groups"] if _group(g) == _group(group)]
    copies = runs[0]["settings"]["models"][group["model"]]["copies"]
    return {
        **group,
        "duration_s": round(sum(g["duration_s"] for g in measured), 1),
        "runs": len(measured),
        "copies": copies * len(measured),
    }


def pool(
    runs: Sequence[dict[str, Any]],
    names: Sequence[str] | None = None,
    mixed_processors: bool = False,
) -> dict[str, Any]:
    """The runs' copies side by side, every comparison computed over all of them.

    Args:
        runs: Complete results of one command at one commit on one machine,
            from a clean tree (fields :data:`SAME` and ``machine`` equal); a
            later run may narrow the first's :data:`NARROWED` settings to
            measure fewer of its groups.
        names: What to call each run in errors and in the pooled file
            (default: ``run 1``, ``run 2``, ...).
        mixed_processors: Let the runs' machines differ in anything but
            :data:`SAME_MACHINE` (their processor, its cache, the kernel).

    Returns:
        A results file: the first run's fields, ``arms`` with the runs'
        copies renumbered in order (each row with its ``run``, counted from
        0, and without the step times, :data:`RAW`, which stay in the runs'
        files), ``comparisons`` recomputed over them, ``gc_pass`` of every run
        (each row with its ``run``), ``groups`` with the runs that measured
        each and its copies per arm, the fewest copies of a model's arms in
        ``settings``,
        ``runs`` (each run's name, command, date, duration, load, machine and
        copy bandwidth) and ``analysis`` (the commit the pooling ran at).

    Raises:
        ValueError: a run is unfinished, from a dirty tree, differs from the
            first in one of :data:`SAME`, its machine or its settings, or
            measures a group the first does not.
    """
    names = list(names or [f"run {i + 1}" for i in range(len(runs))])
    _check(runs, names, mixed_processors)
    first = runs[0]
    arms: list[dict[str, Any]] = []
    for index, run in enumerate(runs):
        earlier = Counter(_arm(row) for row in arms)  # copies of each arm in the runs before
        arms += [
            {**row, "copy": row["copy"] + earlier[_arm(row)], "run": index} for row in run["arms"]
        ]
    models = first["settings"]["models"]
    with_peers = {}  # a model's peers join its first family's interleaving, as in a run
    for group in first["groups"]:
        with_peers.setdefault(group["model"], group["optimizer"])
    comparisons = []
    for group in first["groups"]:
        rows = [r for r in arms if r["group"] == "keras" and _arm(r)[:2] == _group(group)]
        if with_peers[group["model"]] == group["optimizer"]:
            rows += [r for r in arms if r["group"] != "keras" and r["model"] == group["model"]]
        spec = models[group["model"]]
        comparisons += compare_family(
            rows, spec["target_overhead"], spec["resolution"], first["settings"]["seed"]
        )
    groups = [_pooled_group(runs, g) for g in first["groups"]]
    settings = {
        **first["settings"],
        "models": {
            k: {**m, "copies": min(g["copies"] for g in groups if g["model"] == k)}
            for k, m in models.items()
        },
    }
    environment = machine.environment()
    return {
        **first,
        "command": None,
        "settings": settings,
        "arms": [{k: v for k, v in row.items() if k not in RAW} for row in arms],
        "comparisons": comparisons,
        "gc_pass": [{**row, "run": i} for i, run in enumerate(runs) for row in run["gc_pass"]],
        "groups": groups,
        "load_average": {
            "start": first["load_average"]["start"],
            "end": runs[-1]["load_average"]["end"],
        },
        "duration_s": round(sum(r["duration_s"] for r in runs), 1),
        "runs": [
            {
                "name": name,
                **{
                    f: run[f]
                    for f in ("command", "date_utc", "duration_s", "load_average", "machine")
                },
                "copy_bandwidth_gb_s": run["copy_bandwidth"]["bandwidth_gb_s"],
            }
            for run, name in zip(runs, names, strict=True)
        ],
        "analysis": {
            "git_commit": environment["git_commit"],
            "git_dirty": environment["git_dirty"],
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Pool the runs named on the command line; write the JSON and Markdown files."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gc_overhead.pool")
    parser.add_argument("runs", nargs="+", type=Path, help="results files of the runs")
    parser.add_argument("--out", type=Path, required=True, help="the pooled results file")
    parser.add_argument(
        "--mixed-processors",
        action="store_true",
        help="pool runs from machines of one size with different processors",
    )
    args = parser.parse_args(argv)
    runs = [json.loads(path.read_text()) for path in args.runs]
    try:
        results = pool(runs, [path.as_posix() for path in args.runs], args.mixed_processors)
    except ValueError as error:
        raise SystemExit(f"pool: {error}") from None
    results["command"] = shlex.join(["python", "-m", "benchmarks.gc_overhead.pool", *argv])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown_report(results))
    print(f"Pooled {len(runs)} runs into {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
