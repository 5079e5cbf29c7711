"""How much the book's chapters run: the ``full`` and ``smoke`` profiles.

The environment variable ``GC_TUTORIAL_PROFILE`` chooses one (see
:func:`current_profile`). What each profile runs -- seeds, epochs, data,
arms -- is in each study, per profile name
(:class:`gc_tutorial.book.experiments.study.Scale`).
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

    Three profiles exist (see :data:`PROFILES`): ``"full"`` holds the
    settings whose outputs the book shows, at the 2-core CPU's scale;
    ``"gpu"`` runs the same, with the image studies at keras.io's 300 px, on
    an accelerator (a study without a ``"gpu"`` scale runs its ``"full"``
    one: :meth:`~gc_tutorial.book.experiments.study.Study.scale`);
    ``"smoke"`` runs the same code path with few seeds, few epochs and little
    data, so that CI can execute every chapter in minutes. Numbers from a
    smoke run say nothing about GC.

    What a profile runs lives in each
    :class:`~gc_tutorial.book.experiments.study.Study`, one
    :class:`~gc_tutorial.book.experiments.study.Scale` per profile name: a
    chapter runs its studies at ``current_profile().name``.

    Attributes:
        name: ``"full"``, ``"gpu"`` or ``"smoke"``.
    """

    name: str


PROFILES: Mapping[str, Profile] = {name: Profile(name=name) for name in ("full", "gpu", "smoke")}


def current_profile() -> Profile:
    """Return the profile named by ``GC_TUTORIAL_PROFILE`` (default ``"full"``).

    Raises:
        ValueError: the variable names none of :data:`PROFILES`.
    """
    name = os.environ.get(PROFILE_ENV, "full")
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a profile; use one of "
            f"{', '.join(repr(key) for key in PROFILES)}."
        )
    return PROFILES[name]
