"""The arms: each way to train a model with or without GC, one registered callable each.

An arm turns the plain network, an optimizer class and its arguments into
the model to compile and its optimizer. A GC arm names the arm it is
compared with, its baseline: the plain optimizer of the same family, or for
``GCModel`` the same ``train_step`` with the gradient hook as the identity,
so that each ratio isolates GC. One control arm, more copies of the plain
arm, is compared with it the same way: what two arms that differ in nothing
show is the resolution of every other ratio. Every arm runs with every
optimizer family of a run (``--optimizers``) except the ``GCModel`` pair,
whose hook in ``train_step`` is the same whatever the optimizer: it runs
with each model's own optimizer only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from benchmarks.gc_overhead.specs import OptimizerSpec
from gc_tutorial import GCModel, GradientCentralization, centralized, mark_kernels

__all__ = ["ARMS", "Arm", "GCModelWithoutGC", "build_arm", "register"]

Builder = Callable[
    [keras.Model, type, dict[str, Any]], tuple[keras.Model, keras.optimizers.Optimizer]
]
"""``(network, optimizer class, its keyword arguments) -> (model, optimizer)``."""


@dataclass(frozen=True)
class Arm:
    """A registered arm: its name, what it is, its baseline arm and its builder.

    ``every_optimizer``: whether it runs with every optimizer family, or with
    each model's own optimizer only.
    """

    name: str
    what: str
    baseline: str | None
    build: Builder
    control: bool = False
    every_optimizer: bool = True

    @property
    def applies_gc(self) -> bool:
        """GC arms are the ones with a baseline, except the control."""
        return self.baseline is not None and not self.control


ARMS: dict[str, Arm] = {}
"""Every arm, by name, in the order they were registered (baselines first)."""


def register(
    name: str,
    what: str,
    baseline: str | None = None,
    control: bool = False,
    every_optimizer: bool = True,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder as the arm ``name``; a name is registered once.

    A ``control`` arm is compared with its baseline like a GC arm but applies
    no GC: the A/A comparison that says how far apart two arms differing in
    nothing come out.
    """

    def decorate(build: Builder) -> Builder:
        if name in ARMS:
            raise ValueError(f"arm {name!r} is registered already")
        if "," in name:
            raise ValueError(f"arm {name!r}: --arms is a comma-separated list; no comma in a name")
        if baseline is not None and baseline not in ARMS:
            raise ValueError(f"arm {name!r}: register its baseline {baseline!r} first")
        ARMS[name] = Arm(name, what, baseline, build, control, every_optimizer)
        return build

    return decorate


class GCModelWithoutGC(GCModel):
    """``GCModel`` whose gradient hook is the identity: the GCModel arm's baseline."""

    def transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """Hand the gradients on unchanged."""
        return list(grads)


@register("plain", "the plain optimizer (no GC)")
def plain(network: keras.Model, optimizer: type, arguments: dict[str, Any]) -> Any:
    return network, optimizer(**arguments)


# The A/A control builds exactly what `plain` builds, on other copies of the model.
register(
    "plain again",
    "the plain optimizer on other copies of the model: an A/A control, no GC",
    "plain",
    control=True,
)(plain)


@register("subclass", "gc_tutorial.centralized(optimizer class), e.g. GCAdam", "plain")
def subclass(network: keras.Model, optimizer: type, arguments: dict[str, Any]) -> Any:
    return network, centralized(optimizer)(**arguments)


@register("wrapper", "GradientCentralization(plain optimizer)", "plain")
def wrapper(network: keras.Model, optimizer: type, arguments: dict[str, Any]) -> Any:
    return network, GradientCentralization(optimizer(**arguments))


@register("update", 'centralized(optimizer class)(where="update"): GC on the update', "plain")
def update(network: keras.Model, optimizer: type, arguments: dict[str, Any]) -> Any:
    return network, centralized(optimizer)(**arguments, where="update")


@register(
    "GCModel without GC",
    "GCModel with transform_gradients as the identity",
    every_optimizer=False,
)
def gcmodel_without_gc(network: keras.Model, optimizer: type, arguments: dict[str, Any]) -> Any:
    return GCModelWithoutGC(network.inputs, network.outputs), optimizer(**arguments)


@register(
    "GCModel",
    "gc_tutorial.GCModel with the plain optimizer",
    "GCModel without GC",
    every_optimizer=False,
)
def gcmodel(network: keras.Model, optimizer: type, arguments: dict[str, Any]) -> Any:
    return GCModel(network.inputs, network.outputs), optimizer(**arguments)


def build_arm(
    arm: Arm,
    network: Callable[[], keras.Model],
    optimizer: OptimizerSpec,
    loss: str,
    weights: list[Any] | None = None,
) -> keras.Model:
    """A freshly built and compiled model for ``arm``, starting from ``weights`` if given.

    Each call makes a new copy: the copies of an arm share nothing but the
    starting weights.

    (The weights are copied rather than seeded: ``keras.utils.set_random_seed``
    imports TensorFlow whenever it is installed, whatever the backend.)
    """
    network_model = network()
    if weights is not None:
        network_model.set_weights(weights)
    mark_kernels(network_model)  # as a user would; no warning about guessed layouts
    optimizer_class = getattr(keras.optimizers, optimizer.name)
    model, instance = arm.build(network_model, optimizer_class, optimizer.arguments())
    model.compile(optimizer=instance, loss=loss)
    return model
