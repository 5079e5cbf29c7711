"""How much the book's chapters run: the ``full`` and ``smoke`` profiles.

The environment variable ``GC_TUTORIAL_PROFILE`` chooses one (see
:func:`current_profile`). The studies run from the command line have their
own seeds and epochs per profile
(:class:`gc_tutorial.book.experiments.studies.Scale`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

__all__ = ["PROFILE_ENV", "Profile", "PROFILES", "current_profile"]

PROFILE_ENV = "GC_TUTORIAL_PROFILE"
"""The environment variable that names the profile."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much the book's experiments run.

    Two profiles exist (see :data:`PROFILES`): ``"full"`` holds the settings
    whose outputs the book shows; ``"smoke"`` runs the same code path with
    few seeds, few epochs and little data, so that CI can execute every
    chapter in minutes. Numbers from a smoke run say nothing about GC.

    Attributes:
        name: ``"full"`` or ``"smoke"``.
        lr_grid: Learning rates of the taxi-fare learning-rate sweep, up to
            rates at which plain Adam fails.
        sweep_seeds: Seeds of the learning-rate sweep.
        sweep_epochs: Epochs per learning-rate sweep run.

    The studies' scales (seeds, epochs, image size) live in each
    :class:`~gc_tutorial.book.experiments.studies.Study`, one per profile.
    """

    name: str
    lr_grid: tuple[float, ...]
    sweep_seeds: tuple[int, ...]
    sweep_epochs: int


PROFILES: Mapping[str, Profile] = {
    "full": Profile(
        name="full",
        lr_grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
        sweep_seeds=(0, 1, 2),
        sweep_epochs=10,
    ),
    "smoke": Profile(
        name="smoke",
        lr_grid=(1e-3, 1.0),
        sweep_seeds=(0,),
        sweep_epochs=2,
    ),
}


def current_profile() -> Profile:
    """Return the profile named by ``GC_TUTORIAL_PROFILE`` (default ``"full"``).

    Raises:
        ValueError: the variable holds anything but ``"full"`` or ``"smoke"``.
    """
    name = os.environ.get(PROFILE_ENV, "full")
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a profile; use one of "
            f"{', '.join(repr(key) for key in PROFILES)}."
        )
    return PROFILES[name]
