"""Seeded, paired comparisons of optimizers, their results and statistics.

A fair comparison of "Adam" against "Adam + GC" changes nothing but the
optimizer: every arm of a seed starts from the same initial weights and sees
the same data order and dropout and augmentation draws. The submodules:

- :mod:`~gc_tutorial.book.experiments.profiles` -- how much the chapters run
  (:class:`Profile`, :func:`current_profile`);
- :mod:`~gc_tutorial.book.experiments.frames` -- the tidy results frame
  (:data:`RESULT_COLUMNS`, one value per row);
- :mod:`~gc_tutorial.book.experiments.training` -- one seeded training run;
- :mod:`~gc_tutorial.book.experiments.runner` -- :func:`compare_optimizers`,
  :func:`lr_sweep`, and the resumable :func:`run_study` / :func:`study_status`;
- :mod:`~gc_tutorial.book.experiments.results_file` and
  :mod:`~gc_tutorial.book.experiments.provenance` -- a study's results CSV and the
  record of where and with what each run was made;
- :mod:`~gc_tutorial.book.experiments.studies` -- the two studies as data
  (:class:`Study`, :data:`STUDIES`);
- :mod:`~gc_tutorial.book.experiments.taxi` -- the taxi-fare data preparation;
- :mod:`~gc_tutorial.book.experiments.stats` -- summaries over seeds and the
  paired statistics fixed before the runs (:func:`paired_report`);
- :mod:`~gc_tutorial.book.experiments.reach` -- epochs needed to reach a target;
- ``python -m gc_tutorial.book.experiments`` -- the command line
  (:mod:`~gc_tutorial.book.experiments.__main__`).
"""

from gc_tutorial.book.experiments.frames import (
    RESULT_COLUMNS,
    SEVERAL_RUNS_ERROR,
    metric_rows,
)
from gc_tutorial.book.experiments.profiles import (
    PROFILE_ENV,
    PROFILES,
    Profile,
    current_profile,
)
from gc_tutorial.book.experiments.reach import (
    REACH_COLUMNS,
    epochs_to_reach,
    summarize_epochs_to_reach,
)
from gc_tutorial.book.experiments.runner import (
    compare_optimizers,
    lr_sweep,
    run_study,
    study_status,
)
from gc_tutorial.book.experiments.stats import (
    METRIC_KINDS,
    arm_summary,
    difference_statistics,
    minimum_detectable_difference,
    paired_differences,
    paired_report,
    paired_statistics,
    summarize,
)
from gc_tutorial.book.experiments.studies import (
    HORSES_OR_HUMANS,
    NYC_TAXI,
    NYC_TAXI_SGD_PILOT,
    STUDIES,
    Scale,
    Study,
    pilot_choice,
    resolve_study,
)
from gc_tutorial.book.experiments.taxi import (
    clean_taxi_trips,
    taxi_fare_arrays,
    taxi_features,
)

__all__ = [
    "SEVERAL_RUNS_ERROR",
    "metric_rows",
    "PROFILE_ENV",
    "Profile",
    "PROFILES",
    "current_profile",
    "RESULT_COLUMNS",
    "compare_optimizers",
    "summarize",
    "lr_sweep",
    "REACH_COLUMNS",
    "epochs_to_reach",
    "summarize_epochs_to_reach",
    "run_study",
    "study_status",
    "Scale",
    "Study",
    "STUDIES",
    "NYC_TAXI_SGD_PILOT",
    "pilot_choice",
    "HORSES_OR_HUMANS",
    "NYC_TAXI",
    "resolve_study",
    "METRIC_KINDS",
    "arm_summary",
    "paired_differences",
    "difference_statistics",
    "paired_statistics",
    "paired_report",
    "minimum_detectable_difference",
    "clean_taxi_trips",
    "taxi_features",
    "taxi_fare_arrays",
]
