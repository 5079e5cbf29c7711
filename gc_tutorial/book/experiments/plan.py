"""Which runs of a study a results file holds, and which are still to do.

:func:`plan_runs` checks a request (study, profile, arms, seeds) against the
study and the results file, and lists the (arm, seed) runs missing from it;
:func:`~gc_tutorial.book.experiments.runner.run_study` runs those, and
:func:`study_status` says, per arm, what is done. An arm whose optimizer
settings have changed since its runs in the file were made is refused, so a
study resumed later never mixes two settings under one name.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from gc_tutorial.book.experiments.provenance import optimizer_description
from gc_tutorial.book.experiments.results_file import ResultsFile
from gc_tutorial.book.experiments.studies import resolve_study
from gc_tutorial.book.experiments.study import Study

__all__ = ["Plan", "plan_runs", "study_status"]

Run = tuple[str, int]
"""An (arm, seed) run."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """A study's runs to do, and those its results file already holds.

    Attributes:
        study: The study.
        results_file: Its results file.
        done: (arm, seed) to provenance record, for every run in the file;
            the runner adds each run it saves.
        pending: The requested runs not in the file, seed by seed, each
            seed's arms in the order requested.
    """

    study: Study
    results_file: ResultsFile
    done: dict[Run, dict[str, Any]]
    pending: list[Run]


def plan_runs(
    study: str | Study,
    profile: str,
    out: str | os.PathLike[str],
    arms: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> Plan:
    """The runs of a request that ``out`` does not hold yet.

    Args:
        study: As for :func:`~gc_tutorial.book.experiments.runner.run_study`.
        profile: The study's profile.
        out: The results CSV.
        arms: Arms to run; ``None`` for those the profile runs
            (:meth:`Study.planned_arms`).
        seeds: Seeds to run; ``None`` for the profile's.

    Returns:
        The :class:`Plan`.

    Raises:
        ValueError: the study, profile or an arm is unknown, nothing is
            requested, ``out`` holds other runs than this study's profile
            (:meth:`ResultsFile.done`), or an arm to run builds another
            optimizer than its runs in ``out`` used.
    """
    resolved = resolve_study(study)
    scale = resolved.scale(profile)
    arms = list(resolved.planned_arms(profile)) if arms is None else list(arms)
    unknown = [arm for arm in arms if arm not in resolved.arms]
    if unknown:
        raise ValueError(
            f"Study {resolved.name!r} has no arm(s) {unknown}; its arms: {list(resolved.arms)}."
        )
    seeds = list(scale.seeds) if seeds is None else [int(seed) for seed in seeds]
    if not arms or not seeds:
        raise ValueError("Nothing to run: give at least one arm and one seed.")
    results_file = ResultsFile(out)
    done = results_file.done(resolved.name, profile, scale.epochs)
    _check_optimizers(resolved, arms, done, results_file)
    pending = [(arm, seed) for seed in seeds for arm in arms if (arm, seed) not in done]
    return Plan(resolved, results_file, done, pending)


def _check_optimizers(
    study: Study, arms: Sequence[str], done: dict[Run, dict[str, Any]], results_file: ResultsFile
) -> None:
    """Refuse to add runs of an arm whose optimizer settings have changed."""
    for arm in arms:
        recorded = [record for (done_arm, _), record in done.items() if done_arm == arm]
        if not recorded:
            continue
        now = optimizer_description(study.arms[arm]())
        if recorded[0].get("optimizer") != now:
            raise ValueError(
                f"Arm {arm!r} has changed since its runs in {results_file.path} "
                f"were made: they used {recorded[0].get('optimizer')}, it now builds "
                f"{now}. Write to another output path, or remove that arm's "
                "runs from the file and its provenance file."
            )


def study_status(study: str | Study, profile: str, out: str | os.PathLike[str]) -> pd.DataFrame:
    """Which of a study's planned runs are in a results file.

    Args:
        study: As for :func:`plan_runs`.
        profile: As for :func:`plan_runs`.
        out: As for :func:`plan_runs`.

    Returns:
        One row per arm (those the profile runs, then any other in the file)
        with columns ``arm``, ``done`` (planned seeds done), ``planned`` (the
        profile's seeds), ``missing`` (planned seeds not done) and ``extra``
        (seeds done outside the plan).

    Raises:
        ValueError: as for :func:`plan_runs`.
    """
    plan = plan_runs(study, profile, out)
    planned_arms = plan.study.planned_arms(profile)
    planned = list(plan.study.scale(profile).seeds)
    arms = list(planned_arms) + sorted({arm for arm, _ in plan.done} - set(planned_arms))
    rows = []
    for arm in arms:
        seeds_done = {seed for run_arm, seed in plan.done if run_arm == arm}
        in_plan = planned if arm in planned_arms else []
        rows.append(
            (
                arm,
                len(seeds_done & set(in_plan)),
                len(in_plan),
                [seed for seed in in_plan if seed not in seeds_done],
                sorted(seeds_done - set(in_plan)),
            )
        )
    return pd.DataFrame(rows, columns=["arm", "done", "planned", "missing", "extra"])
