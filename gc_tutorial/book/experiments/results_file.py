"""A study's results on disk: a tidy CSV, and one provenance record per run.

``STUDY_PROFILE.csv`` holds the rows of every finished run
(:data:`~gc_tutorial.book.experiments.frames.RESULT_COLUMNS`);
``STUDY_PROFILE.provenance.jsonl`` beside it holds one JSON record per run:
which study, profile, arm, seed and epochs, the fingerprint of its initial
weights, and the backend, device, versions and commit that produced it.
:class:`ResultsFile` appends a run as soon as it finishes (record first, then
rows, each flushed to disk), so a run is done exactly when its rows are in
the CSV, and an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable
from typing import Any

import pandas as pd

from gc_tutorial.book.experiments.frames import RESULT_COLUMNS

__all__ = ["ResultsFile"]

RunKey = tuple[str, int]


class ResultsFile:
    """The results CSV at ``path`` and its provenance file beside it.

    Args:
        path: The CSV, e.g. ``chapters/results/studies/nyc_taxi_full.csv``; the
            provenance file is the same name with ``.provenance.jsonl`` in
            place of the suffix.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Name the CSV at ``path`` and its provenance file; nothing is read yet."""
        self.path = pathlib.Path(path)
        self.provenance_path = self.path.with_name(self.path.stem + ".provenance.jsonl")

    def read(self) -> pd.DataFrame:
        """All rows written so far (an empty frame if there is no file).

        Raises:
            ValueError: the file's columns are not the results columns.
        """
        if not self.path.exists() or self.path.stat().st_size == 0:
            return pd.DataFrame(columns=list(RESULT_COLUMNS))
        results = pd.read_csv(self.path)
        if list(results.columns) != list(RESULT_COLUMNS):
            raise ValueError(
                f"{self.path} has the columns {list(results.columns)}, not "
                f"{list(RESULT_COLUMNS)}: it is not a results file. Choose "
                "another output path."
            )
        return results

    def records(self) -> dict[RunKey, dict[str, Any]]:
        """The latest provenance record of each (arm, seed)."""
        if not self.provenance_path.exists():
            return {}
        records = {}
        with open(self.provenance_path, encoding="utf-8") as file:
            for line in file:
                if line.strip():
                    record = json.loads(line)
                    records[(record["arm"], int(record["seed"]))] = record
        return records

    def done(self, study: str, profile: str, epochs: int) -> dict[RunKey, dict]:
        """The runs in the CSV, each with its record, checked against a plan.

        Args:
            study: The study's name.
            profile: The profile's name.
            epochs: Epochs per run of that profile.

        Returns:
            (arm, seed) to provenance record, for every run in the CSV.

        Raises:
            ValueError: the CSV is not a results file, a run in it has no
                provenance record (the CSV was not written by
                :func:`~gc_tutorial.book.experiments.run_study`, or its
                provenance file is gone), or a run belongs to another study,
                profile or number of epochs.
        """
        results = self.read()
        runs = set(zip(results["arm"], results["seed"].astype(int), strict=True))
        records = self.records()
        missing = sorted(runs - set(records))
        if missing:
            raise ValueError(
                f"{self.path} holds {len(missing)} run(s) without a record in "
                f"{self.provenance_path}, e.g. {missing[:3]}: it was not "
                "written by run_study, or its provenance file was removed. "
                "Write to another output path (or move the file away)."
            )
        planned = {"study": study, "profile": profile, "epochs": epochs}
        for run in sorted(runs):
            found = {key: records[run].get(key) for key in planned}
            if found != planned:
                raise ValueError(
                    f"{self.path} holds runs of {found}, not of {planned}; "
                    "write to another output path."
                )
        return {run: records[run] for run in runs}

    def append(self, rows: Iterable[tuple], record: dict[str, Any]) -> None:
        """Write one finished run: its provenance record, then its rows.

        Each write is flushed and synced before the next, so that a run is
        in the CSV only with its record beside it.

        Args:
            rows: The run's rows, in :data:`RESULT_COLUMNS` order (method
                and learning rate included).
            record: The run's provenance; JSON-serializable, with at least
                ``arm`` and ``seed``.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.provenance_path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record, sort_keys=True) + "\n")
            _sync(file)
        new = not self.path.exists() or self.path.stat().st_size == 0
        frame = pd.DataFrame(list(rows), columns=list(RESULT_COLUMNS))
        with open(self.path, "a", encoding="utf-8", newline="") as file:
            frame.to_csv(file, header=new, index=False, lineterminator="\n")
            _sync(file)


def _sync(file: Any) -> None:
    file.flush()
    os.fsync(file.fileno())
