"""The book's committed results, found wherever the package is installed.

The studies' runs (``chapters/results/studies/``, one CSV and its provenance
per study and profile) and the benchmark's results (``benchmarks/results/``)
are committed to the repository, and the wheel carries them as package data:
``gc_tutorial/book/_committed/`` holds them at their repository paths
(``pyproject.toml`` maps two data-only packages onto those folders, so they
stay where they are committed). :func:`committed_path` finds a committed file
in the checkout the package is imported from (a clone, an editable install)
or else in the installed package (a wheel, Colab).

The pages read those results and train nothing that they hold
(:func:`study_results`). A study runs on a page only when asked: in the
``smoke`` profile (the tests run every study afresh, small), or with
``GC_TUTORIAL_RUN_STUDIES=1``, which runs what the committed file lacks (in a
clone, into that file, as ``python -m gc_tutorial.book.experiments run``
does; when installed, into ``results/studies/`` under the current folder,
starting from a copy of the committed file).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when called: this module loads no Keras, pandas or TensorFlow
    import pandas as pd

    from gc_tutorial.book.experiments.results_file import ResultsFile

__all__ = [
    "BENCHMARKS_FOLDER",
    "RUN_ENV",
    "STUDIES_FOLDER",
    "committed_path",
    "judge_target",
    "repository_root",
    "runs_here",
    "shown_path",
    "step_costs",
    "study_results",
    "working_folder",
]

STUDIES_FOLDER = "chapters/results/studies"
"""Where the studies' results are committed, relative to the repository root."""

BENCHMARKS_FOLDER = "benchmarks/results"
"""Where the benchmark's results are committed, relative to the repository root."""

RUN_ENV = "GC_TUTORIAL_RUN_STUDIES"
"""Set to ``1`` to make the pages run what a committed study lacks (full profile)."""

_COMMITTED = (STUDIES_FOLDER, BENCHMARKS_FOLDER)
_PACKAGED = Path(__file__).resolve().parent / "_committed"


def repository_root() -> Path | None:
    """The checkout this package is imported from, or ``None`` when it is installed.

    Returns:
        The repository root when this module lies in ``gc_tutorial/book/`` of
        a checkout (a clone, an editable install); ``None`` for a wheel.
    """
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / STUDIES_FOLDER).is_dir():
        return root
    return None


def _roots() -> list[Path]:
    """Where committed files may be: the checkout first, then the package data."""
    root = repository_root()
    return [*([root] if root is not None else []), _PACKAGED]


def committed_path(relative: str | os.PathLike[str]) -> Path:
    """The committed file or folder at a repository path, wherever it is installed.

    Args:
        relative: A path relative to the repository root, under
            ``chapters/results/studies`` or ``benchmarks/results``, e.g.
            ``"benchmarks/results"`` or
            ``"chapters/results/studies/nyc_taxi_full.csv"``.

    Returns:
        That path in the checkout the package is imported from, else in the
        installed package's data. A file the release does not hold (a study
        not run yet) is returned all the same: check ``.exists()``.

    Raises:
        ValueError: ``relative`` is not under one of the two committed folders.
        FileNotFoundError: neither the checkout nor the package holds them
            (a build of the package without its data).
    """
    path = PurePosixPath(Path(relative).as_posix())
    folder = next(
        (f for f in _COMMITTED if path == PurePosixPath(f) or PurePosixPath(f) in path.parents),
        None,
    )
    if path.is_absolute() or ".." in path.parts or folder is None:
        raise ValueError(
            f"{str(relative)!r} is not a committed result: give a repository path under "
            f"{' or '.join(_COMMITTED)}."
        )
    for root in _roots():
        if (root / folder).is_dir():
            return root.joinpath(*path.parts)
    raise FileNotFoundError(
        f"No {folder} in {' or '.join(str(root) for root in _roots())}: this copy of "
        "gc_tutorial carries no committed results. Install a release (its wheel "
        "carries them), or run from a clone of the repository."
    )


def runs_here(profile: str) -> bool:
    """Whether the pages run studies in this profile, rather than only read them.

    Args:
        profile: The profile's name.

    Returns:
        ``True`` in the ``smoke`` profile, or when ``GC_TUTORIAL_RUN_STUDIES``
        is set to anything but ``""`` or ``"0"``; ``False`` otherwise (the
        default: the pages read the committed results).
    """
    return profile == "smoke" or os.environ.get(RUN_ENV, "") not in ("", "0")


def working_folder() -> Path:
    """Where the pages write the studies they run.

    Returns:
        ``chapters/results/studies`` of the checkout (the committed folder;
        smoke files there are ignored by git and left out of the wheel), or,
        for an installed package, ``results/studies`` under the current folder.
    """
    root = repository_root()
    return root / STUDIES_FOLDER if root is not None else Path.cwd() / "results" / "studies"


def study_results(study: str, profile: str | None = None) -> ResultsFile:
    """A study's results file for a page: the committed one, or runs made here when asked.

    Args:
        study: A study's name in
            :data:`~gc_tutorial.book.experiments.STUDIES`, e.g. ``"nyc_taxi"``.
        profile: The profile; ``None`` for the current one
            (``GC_TUTORIAL_PROFILE``, default ``full``).

    Returns:
        The committed ``STUDY_PROFILE.csv`` (it may not exist: a study not
        run yet reads as no rows), untouched. When :func:`runs_here`: the file
        in :func:`working_folder` after running what it lacks, afresh in the
        ``smoke`` profile, else starting from a copy of the committed runs.
    """
    from gc_tutorial.book.experiments.profiles import current_profile
    from gc_tutorial.book.experiments.results_file import ResultsFile

    profile = current_profile().name if profile is None else profile
    name = f"{study}_{profile}.csv"
    committed = ResultsFile(committed_path(f"{STUDIES_FOLDER}/{name}"))
    if not runs_here(profile):
        return committed
    out = ResultsFile(working_folder() / name)
    if profile == "smoke":  # afresh: smoke runs are quick and say nothing about GC
        out.path.unlink(missing_ok=True)
        out.provenance_path.unlink(missing_ok=True)
    elif out.path != committed.path and not out.path.exists() and committed.path.exists():
        out.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(committed.path, out.path)
        if committed.provenance_path.exists():
            shutil.copyfile(committed.provenance_path, out.provenance_path)
    out.path.parent.mkdir(parents=True, exist_ok=True)

    from gc_tutorial.book.experiments.runner import run_study

    run_study(study, profile, out.path, workers=1)
    return out


def shown_path(path: str | os.PathLike[str]) -> str:
    """A results path as a page prints it: the same in a clone and in Colab.

    Args:
        path: A path that :func:`committed_path`, :func:`study_results` or
            :func:`working_folder` gave.

    Returns:
        The repository path (``chapters/results/studies/...``) of a file in
        the checkout or the package's data; else the path relative to the
        current folder when it lies below it; else the path itself.
    """
    resolved = Path(path).resolve()
    for root in [*_roots(), Path.cwd().resolve()]:
        if resolved.is_relative_to(root):
            return resolved.relative_to(root).as_posix()
    return str(path)


def judge_target(low: float, high: float, target: float) -> str:
    """A target judged on a whole interval of step-time ratios.

    Returns ``"met"`` when the interval ``low`` to ``high`` lies at or below
    ``target``, ``"missed"`` when it lies wholly above it, and
    ``"undecided"`` when it spans it.
    """
    if high <= target:
        return "met"
    return "missed" if low > target else "undecided"


def step_costs(backend: str = "tensorflow", device: str = "cpu") -> pd.DataFrame:
    """What each Keras form of GC costs per training step, from the committed benchmark.

    Args:
        backend: The Keras backend whose run to read
            (``benchmarks/results/DEVICE-BACKEND.json``).
        device: ``"cpu"`` or ``"gpu"``.

    Returns:
        One row per model, optimizer family and Keras arm, the A/A control
        (more copies of the plain model, no GC) included: ``model``,
        ``optimizer`` (the plain optimizer the arm adds GC to), ``arm``,
        ``control`` (whether the row is the A/A control), ``baseline_ms``
        (the baseline's median step), the arm's step time over its
        baseline's as ``ratio`` with its 95% interval ``low`` to ``high``,
        ``target`` (the largest acceptable ratio), ``verdict`` (``"met"``
        when the whole interval lies at or below the target, ``"missed"``
        when it lies above, else ``"undecided"``; ``"A/A control"`` for the
        control) and ``resolved`` (whether the A/A control of the same model
        and optimizer lies within the model's resolution band) and ``copies``
        (the copies of each of the two arms compared); the last two ``None``
        in a file that does not record them.

    Raises:
        FileNotFoundError: no committed benchmark run for ``backend``.
    """
    import json

    import pandas as pd

    path = committed_path(f"{BENCHMARKS_FOLDER}/{device}-{backend}.json")
    if not path.exists():
        raise FileNotFoundError(f"No committed benchmark run for {backend!r}: {path} is missing.")
    run = json.loads(path.read_text())
    models = run["settings"]["models"]
    return pd.DataFrame(
        [
            {
                "model": c["model"],
                "optimizer": c.get("optimizer", models[c["model"]]["optimizer"]),
                "arm": c["arm"],
                "control": bool(c.get("control")),
                "baseline_ms": c["baseline_median_ms"],
                "ratio": c["ratio"],
                "low": c["ratio_ci95"][0],
                "high": c["ratio_ci95"][1],
                "target": c["target_ratio"],
                "verdict": "A/A control"
                if c.get("control")
                else judge_target(c["ratio_ci95"][0], c["ratio_ci95"][1], c["target_ratio"]),
                "resolved": c.get("resolved"),
                "copies": c.get("copies"),
            }
            for c in run["comparisons"]
            if c["group"] == "keras"
        ]
    )
