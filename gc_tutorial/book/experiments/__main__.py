"""Command line: run a study resumably, or say what of it is done.

Usage::

    python -m gc_tutorial.book.experiments run STUDY [--profile full|smoke]
        [--arms ARM ...] [--seeds SEED ...] [--workers N | --scheduler ADDRESS]
        [--out CSV]
    python -m gc_tutorial.book.experiments status STUDY [--profile full|smoke]
        [--out CSV]

``STUDY`` is a name in :data:`~gc_tutorial.book.experiments.STUDIES`
(``nyc_taxi``, ``nyc_taxi_lr_sweep``, ``horses_or_humans``, the pilots) or
``module:ATTRIBUTE`` naming a :class:`~gc_tutorial.book.experiments.Study`.
The profile defaults to ``$GC_TUTORIAL_PROFILE`` (else ``full``), the output
to ``chapters/results/studies/STUDY_PROFILE.csv`` under the current folder.
Each finished run is appended to the output at once, so an interrupted
``run`` resumes where it stopped when started again. ``--scheduler`` runs the
runs on the Dask cluster whose scheduler is at ``ADDRESS`` (the ``dask``
extra), this process writing the output.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import pathlib
import sys
from collections.abc import Iterator, Sequence

from gc_tutorial.book.experiments.plan import study_status
from gc_tutorial.book.experiments.profiles import PROFILE_ENV
from gc_tutorial.book.experiments.runner import run_study
from gc_tutorial.book.experiments.studies import STUDIES, resolve_study

_GPU_SHARING = {
    # Several workers share one accelerator: without these, the first to
    # start reserves (nearly) all of its memory.
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gc_tutorial.book.experiments",
        description="Run the book's paired optimizer studies, resumably.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the runs missing from the output")
    status = commands.add_parser("status", help="print runs done and missing per arm")
    for command in (run, status):
        command.add_argument(
            "study", help=f"{' or '.join(STUDIES)}, or module:ATTRIBUTE of a Study"
        )
        command.add_argument(
            "--profile",
            default=os.environ.get(PROFILE_ENV, "full"),
            help=f"the study's profile (default: ${PROFILE_ENV} or 'full')",
        )
        command.add_argument(
            "--out",
            type=pathlib.Path,
            help="results CSV (default: chapters/results/studies/STUDY_PROFILE.csv)",
        )
    run.add_argument("--arms", nargs="+", help="arms to run (default: the profile's)")
    run.add_argument("--seeds", nargs="+", type=int, help="seeds to run (default: the profile's)")
    run.add_argument(
        "--workers", type=int, default=1, help="runs at a time, each in its own process"
    )
    run.add_argument(
        "--scheduler",
        help="run on the Dask cluster of this scheduler address, e.g. host:8786",
    )
    run.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    return parser


@contextlib.contextmanager
def _executor(address: str | None) -> Iterator[concurrent.futures.Executor | None]:
    """The executor of the Dask cluster whose scheduler is at ``address``, if any.

    Raises:
        ValueError: Dask's ``distributed`` is not installed.
    """
    if address is None:
        yield None
        return
    try:
        import distributed
    except ImportError as error:
        raise ValueError(
            f"--scheduler needs Dask's distributed ({error}); install the dask "
            'extra: pip install -e ".[dask]".'
        ) from error
    with distributed.Client(address) as client:
        yield client.get_executor()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the request is invalid (the
        message says why and what to do).
    """
    args = _parser().parse_args(argv)
    try:
        name = resolve_study(args.study).name
        default = pathlib.Path("chapters", "results", "studies", f"{name}_{args.profile}.csv")
        out = args.out or default
        if args.command == "status":
            table = study_status(args.study, args.profile, out)
            print(
                f"{name} ({args.profile}) in {out}: {table['done'].sum()} of "
                f"{table['planned'].sum()} planned runs done"
            )
            print(table.to_string(index=False))
            return 0
        if args.workers > 1:
            if args.scheduler:
                raise ValueError("Give --workers or --scheduler, not both.")
            for variable, value in _GPU_SHARING.items():
                os.environ.setdefault(variable, value)
        with _executor(args.scheduler) as executor:
            run_study(
                args.study,
                args.profile,
                out,
                arms=args.arms,
                seeds=args.seeds,
                workers=args.workers,
                executor=executor,
                progress=lambda line: print(line, flush=True),
                verbose=args.verbose,
            )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"All requested runs are in {out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
