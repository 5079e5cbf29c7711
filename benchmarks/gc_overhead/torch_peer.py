"""The official PyTorch peer: ``SGD_GC`` and ``Adam_GC`` from the paper's code.

Yong et al., "Gradient Centralization: A New Optimization Technique for Deep
Neural Networks" (ECCV 2020, arXiv:2004.01461); the official code is
``github.com/Yonghongwei/Gradient-Centralization``, ``algorithm/SGD.py`` and
``Adam.py``. Its optimizers are ``torch.optim.SGD`` / ``Adam`` written as a
loop over the parameters, with one line added after the (L2) weight decay:
every gradient with more than one axis loses its mean over axes ``1..n``
(PyTorch weights are ``(out, in, ...)``, so that is each output unit's
fan-in), in place. They are written here with today's ``add_(x, alpha=...)``
signatures, step for step otherwise.

The models are the taxi MLP and the Horses-or-Humans CNN as ``torch.nn``
modules of the same sizes (NCHW; no dropout or augmentation layers). The
baselines are ``torch.optim.SGD`` / ``Adam`` with ``foreach=False``: the
same per-parameter loop as the official code, which is also what PyTorch
runs on the CPU by default. ResNet50 would need torchvision, which is not
installed here, so it has no PyTorch peer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from benchmarks.gc_overhead.keras_steps import StepTimer
from benchmarks.gc_overhead.peer_arm import PeerArm
from benchmarks.gc_overhead.specs import ModelSpec

__all__ = ["TORCH_ARMS", "SGD_GC", "Adam_GC", "centralized_gradient_", "torch_model"]


def centralized_gradient_(grad: torch.Tensor) -> torch.Tensor:
    """The official GC line: subtract the mean over axes ``1..n`` in place, if ``dim > 1``."""
    if grad.dim() > 1:
        grad.add_(-grad.mean(dim=tuple(range(1, grad.dim())), keepdim=True))
    return grad


class SGD_GC(torch.optim.Optimizer):
    """SGD with momentum, L2 weight decay and GC on the gradient, as the official code."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        """As ``torch.optim.SGD`` (without its newer options)."""
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one step: decay, centralize, momentum, update."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if group["weight_decay"] != 0:
                    d_p.add_(p, alpha=group["weight_decay"])
                centralized_gradient_(d_p)  # GC operation for Conv layers and FC layers
                if group["momentum"] != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(group["momentum"]).add_(d_p, alpha=1 - group["dampening"])
                    d_p = d_p.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                p.add_(d_p, alpha=-group["lr"])
        return loss


class Adam_GC(torch.optim.Optimizer):
    """Adam with L2 weight decay and GC on the gradient, as the official code."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        """As ``torch.optim.Adam`` (without amsgrad and the newer options)."""
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one step: decay, centralize, moments, bias-corrected update."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1
                bias_correction1 = 1 - beta1 ** state["step"]
                bias_correction2 = 1 - beta2 ** state["step"]
                if group["weight_decay"] != 0:
                    grad.add_(p, alpha=group["weight_decay"])
                centralized_gradient_(grad)  # GC operation for Conv layers and FC layers
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / math.sqrt(bias_correction2)).add_(group["eps"])
                p.addcdiv_(exp_avg, denom, value=-group["lr"] / bias_correction1)
        return loss


def _cnn(size: int) -> torch.nn.Module:
    layers: list[torch.nn.Module] = []
    channels = 3
    for filters in (16, 32, 64, 64, 64):
        layers += [torch.nn.Conv2d(channels, filters, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
        channels, size = filters, (size - 2) // 2
    return torch.nn.Sequential(
        *layers,
        torch.nn.Flatten(),
        torch.nn.Linear(size * size * channels, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 1),
    )


def torch_model(spec: ModelSpec, seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The peer module of ``spec``'s model and its loss (on logits for the CNN)."""
    torch.manual_seed(seed)
    if spec.key == "taxi_mlp":
        mlp = torch.nn.Sequential(
            torch.nn.Linear(spec.input_shape[0], 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 64),
            torch.nn.ReLU(),
            torch.nn.Linear(64, 1),
        )
        return mlp, torch.nn.MSELoss()
    return _cnn(spec.input_shape[0]), torch.nn.BCEWithLogitsLoss()


def torch_step_timer(
    spec: ModelSpec, seed: int, optimizer: Callable[[Iterable[Any]], torch.optim.Optimizer]
) -> StepTimer:
    """A timed eager training step of the peer model of ``spec`` with ``optimizer``."""
    model, loss_fn = torch_model(spec, seed)
    x, y = spec.inputs(np.random.default_rng(seed))
    x_tensor = torch.from_numpy(x if x.ndim == 2 else x.transpose(0, 3, 1, 2) / 255.0)
    x_tensor = x_tensor.float().contiguous()
    y_tensor = torch.from_numpy(y)
    instance = optimizer(model.parameters())
    model.train()

    def run() -> torch.Tensor:
        instance.zero_grad()
        loss = loss_fn(model(x_tensor), y_tensor)
        loss.backward()
        instance.step()
        return loss.detach()

    run()  # creates the optimizer state
    return StepTimer(run)


def _arm(name: str, what: str, baseline: str | None, optimizer: Callable[..., Any]) -> PeerArm:
    return PeerArm(
        name,
        "official PyTorch",
        what,
        baseline,
        lambda spec, seed: torch_step_timer(spec, seed, optimizer),
    )


TORCH_ARMS = (
    _arm(
        "torch.optim.Adam",
        "torch.optim.Adam(lr=1e-3, foreach=False)",
        None,
        lambda params: torch.optim.Adam(params, lr=1e-3, foreach=False),
    ),
    _arm("Adam_GC", "the official Adam_GC(lr=1e-3)", "torch.optim.Adam", Adam_GC),
    _arm(
        "torch.optim.SGD",
        "torch.optim.SGD(lr=1e-2, momentum=0.9, foreach=False)",
        None,
        lambda params: torch.optim.SGD(params, lr=1e-2, momentum=0.9, foreach=False),
    ),
    _arm(
        "SGD_GC",
        "the official SGD_GC(lr=1e-2, momentum=0.9)",
        "torch.optim.SGD",
        lambda params: SGD_GC(params, lr=1e-2, momentum=0.9),
    ),
)
"""The official code's arms and PyTorch's own optimizers as their baselines."""
