"""Seeded, paired comparisons of optimizers, their results and statistics.

A fair comparison of "Adam" against "Adam + GC" changes nothing but the
optimizer: every arm of a seed starts from the same initial weights and sees
the same data order and dropout and augmentation draws. The submodules:

- :mod:`~gc_tutorial.book.experiments.profiles` -- how much the chapters run
  (:class:`Profile`, :func:`current_profile`);
- :mod:`~gc_tutorial.book.experiments.frames` -- the tidy results frame
  (:data:`RESULT_COLUMNS`, one value per row);
- :mod:`~gc_tutorial.book.experiments.training` -- one seeded training run;
- :mod:`~gc_tutorial.book.experiments.runner` -- :func:`run_study`, the one
  runner: resumable, here, in worker processes or on any executor (a Dask
  cluster's);
- :mod:`~gc_tutorial.book.experiments.plan` -- which runs a results file holds
  and which are to do (:func:`study_status`);
- :mod:`~gc_tutorial.book.experiments.results_file` and
  :mod:`~gc_tutorial.book.experiments.provenance` -- a study's results CSV and the
  record of where and with what each run was made;
- :mod:`~gc_tutorial.book.experiments.study` -- what a study is
  (:class:`Study`, :class:`Scale`);
- :mod:`~gc_tutorial.book.experiments.studies` -- the book's studies, pilots
  and learning-rate sweep as data (:data:`STUDIES`, :func:`lr_sweep_frame`);
- :mod:`~gc_tutorial.book.experiments.pilots` -- what a pilot chooses
  (:func:`pilot_choice`);
- :mod:`~gc_tutorial.book.experiments.taxi` -- the taxi-fare data preparation;
- :mod:`~gc_tutorial.book.experiments.paired` -- summaries over seeds and the
  paired statistics of each comparison;
- :mod:`~gc_tutorial.book.experiments.inference` -- the one decision rule
  (Wilcoxon signed-rank, Holm over a data set's table: :func:`decide`);
- :mod:`~gc_tutorial.book.experiments.answer` -- each data set's verdict
  table, its sentences and the advice per optimizer;
- :mod:`~gc_tutorial.book.experiments.reach` -- epochs needed to reach a target;
- ``python -m gc_tutorial.book.experiments`` -- the command line
  (:mod:`~gc_tutorial.book.experiments.__main__`).
"""

from gc_tutorial.book.experiments.frames import (
    RESULT_COLUMNS,
    SEVERAL_RUNS_ERROR,
    VALUE_COLUMNS,
    metric_rows,
)
from gc_tutorial.book.experiments.paired import (
    METRIC_KINDS,
    arm_curves,
    arm_summary,
    difference_statistics,
    minimum_detectable_difference,
    paired_differences,
    paired_statistics,
    sweep_summary,
)
from gc_tutorial.book.experiments.pilots import PILOT_WINDOW, chosen_rates, pilot_choice
from gc_tutorial.book.experiments.plan import study_status
from gc_tutorial.book.experiments.profiles import (
    PROFILE_ENV,
    PROFILES,
    Profile,
    current_profile,
)
from gc_tutorial.book.experiments.reach import (
    REACH_COLUMNS,
    epochs_to_reach,
    reach_summary,
    summarize_epochs_to_reach,
)
from gc_tutorial.book.experiments.runner import run_study
from gc_tutorial.book.experiments.studies import (
    HORSES_OR_HUMANS_PILOT,
    HORSES_OR_HUMANS_TUNED,
    NYC_TAXI,
    NYC_TAXI_LR_SWEEP,
    NYC_TAXI_SGD_PILOT,
    STUDIES,
    lr_sweep_frame,
    resolve_study,
)
from gc_tutorial.book.experiments.study import Arm, Scale, Study
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
    "VALUE_COLUMNS",
    "REACH_COLUMNS",
    "epochs_to_reach",
    "reach_summary",
    "summarize_epochs_to_reach",
    "run_study",
    "study_status",
    "Arm",
    "Scale",
    "Study",
    "STUDIES",
    "NYC_TAXI_SGD_PILOT",
    "NYC_TAXI_LR_SWEEP",
    "lr_sweep_frame",
    "PILOT_WINDOW",
    "pilot_choice",
    "chosen_rates",
    "HORSES_OR_HUMANS_PILOT",
    "HORSES_OR_HUMANS_TUNED",
    "NYC_TAXI",
    "resolve_study",
    "METRIC_KINDS",
    "arm_summary",
    "arm_curves",
    "sweep_summary",
    "paired_differences",
    "difference_statistics",
    "paired_statistics",
    "minimum_detectable_difference",
    "clean_taxi_trips",
    "taxi_features",
    "taxi_fare_arrays",
]
