"""What a study is: a paired comparison of optimizers, described as data.

A :class:`Study` names its model, its data, its compile settings, how much
each profile runs (:class:`Scale`), its arms (optimizer factories) and which
arm each GC arm is compared with. The book's studies are in
:mod:`~gc_tutorial.book.experiments.studies`;
:func:`~gc_tutorial.book.experiments.run_study` runs any of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import keras

__all__ = ["Arm", "OptimizerFactory", "Scale", "Study", "arm_settings"]

OptimizerFactory = Callable[[], keras.optimizers.Optimizer]
"""A zero-argument callable that returns a new optimizer (one per run)."""


@dataclasses.dataclass(frozen=True)
class Arm:
    """An optimizer method at one learning rate: the factory of one arm.

    Called, it returns ``optimizer(learning_rate=learning_rate)``, a new
    optimizer. The runner writes ``method`` and ``learning_rate`` into every
    row of the arm's runs, so that the results say what each run trained
    with in columns of their own, whatever the arm is called.

    Attributes:
        method: The optimizer and the form of GC, without the rate, e.g.
            ``"Adam + GC on the update"``.
        optimizer: An optimizer class, or a ``functools.partial`` of one
            with its other settings (``momentum=0.9``, ``where="update"``).
        learning_rate: The learning rate.
    """

    method: str
    optimizer: Callable[..., keras.optimizers.Optimizer]
    learning_rate: float

    def __call__(self) -> keras.optimizers.Optimizer:
        """A new optimizer of this arm."""
        return self.optimizer(learning_rate=self.learning_rate)


def arm_settings(arm: str, factory: OptimizerFactory) -> tuple[str, float]:
    """The ``method`` and ``learning_rate`` columns of an arm's rows.

    Args:
        arm: The arm's name in its study.
        factory: Its optimizer factory.

    Returns:
        An :class:`Arm`'s method and rate; for any other factory, the arm's
        name and the learning rate in its optimizer's config (NaN when that
        is a schedule rather than a number).
    """
    if isinstance(factory, Arm):
        return factory.method, float(factory.learning_rate)
    rate = factory().get_config().get("learning_rate")
    return arm, float(rate) if isinstance(rate, (int, float)) else float("nan")


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much of a study one profile runs.

    Attributes:
        seeds: Seeds to run, each with every arm.
        epochs: Training epochs per run.
        batch_size: Examples per training batch.
        train_subset: Training examples to use; ``None`` for all.
        test_subset: Test (and validation) examples to use; ``None`` for all.
        image_size: Side of the square input images; ``None`` for data that
            are not images.
        arms: The study's arms this profile runs, e.g. a smoke profile's few
            learning rates of a sweep; ``None`` for all of them.
    """

    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    train_subset: int | None = None
    test_subset: int | None = None
    image_size: int | None = None
    arms: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        """Check that the seeds and arms are distinct and the counts at least 1."""
        if not self.seeds:
            raise ValueError("A Scale needs at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"A Scale's seeds repeat: {self.seeds}.")
        if self.arms is not None and (not self.arms or len(set(self.arms)) != len(self.arms)):
            raise ValueError(f"A Scale's arms must be distinct, and at least one; got {self.arms}.")
        counts = ("epochs", "batch_size", "train_subset", "test_subset", "image_size")
        for name in counts:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"A Scale's {name} must be at least 1; got {value}.")


@dataclasses.dataclass(frozen=True)
class Study:
    """A paired comparison of optimizers, described as data.

    Attributes:
        name: Name of the study, e.g. ``"nyc_taxi"``; results files are
            named after it.
        build_model: Given the profile's :class:`Scale`, returns a new,
            uncompiled model.
        data: Given a seed and the :class:`Scale`, returns new ``(train,
            validation, test)`` datasets, each something ``fit`` takes whole
            (``validation`` may be ``None``); the training order must depend
            on the seed alone.
        compile_kwargs: Passed to ``model.compile`` with the optimizer;
            metrics by name, so that every model gets its own.
        profiles: Profile name (``"full"``, ``"smoke"``) to its :class:`Scale`.
        arms: Arm name to a zero-argument optimizer factory, called once per
            run: an :class:`Arm` (method and learning rate recorded in the
            results), or any callable.
        pairs: GC arm to the arm it is compared with.
        test_metrics: Test metrics the paired statistics report.

    Raises:
        ValueError: a pair, or a profile's :attr:`Scale.arms`, names an arm
            the study does not have.
    """

    name: str
    build_model: Callable[[Scale], keras.Model]
    data: Callable[[int, Scale], tuple[Any, Any, Any]]
    compile_kwargs: Mapping[str, Any]
    profiles: Mapping[str, Scale]
    arms: Mapping[str, OptimizerFactory]
    pairs: Mapping[str, str]
    test_metrics: tuple[str, ...]

    def __post_init__(self) -> None:
        """Check that every pair and every profile's arms are the study's arms."""
        unknown = sorted({arm for pair in self.pairs.items() for arm in pair} - set(self.arms))
        if unknown:
            raise ValueError(
                f"Study {self.name!r} pairs arms it does not have: {unknown}; "
                f"its arms: {list(self.arms)}."
            )
        for profile, scale in self.profiles.items():
            unknown = sorted(set(scale.arms or ()) - set(self.arms))
            if unknown:
                raise ValueError(
                    f"Study {self.name!r}'s profile {profile!r} runs arms it does "
                    f"not have: {unknown}; its arms: {list(self.arms)}."
                )

    def scale(self, profile: str) -> Scale:
        """The :class:`Scale` of ``profile``.

        A study without a ``"gpu"`` scale runs its ``"full"`` one in the
        ``gpu`` profile: only the studies whose size the CPU limits (the
        image studies) scale up on an accelerator.

        Raises:
            ValueError: the study has no such profile; the message lists them.
        """
        if profile == "gpu" and profile not in self.profiles and "full" in self.profiles:
            return self.profiles["full"]
        if profile not in self.profiles:
            raise ValueError(
                f"Study {self.name!r} has no profile {profile!r}; use one of {list(self.profiles)}."
            )
        return self.profiles[profile]

    def planned_arms(self, profile: str) -> tuple[str, ...]:
        """The arms ``profile`` runs, in the study's order.

        Raises:
            ValueError: as for :meth:`scale`.
        """
        chosen = self.scale(profile).arms
        return tuple(arm for arm in self.arms if chosen is None or arm in chosen)
