"""ASGD, as torch.optim.ASGD."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_options, scalar_dtype, to_scalar
from .scalars import add

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky): SGD with a step size eta = lr / (1 + lambd * lr * t) ** alpha and
    a decay of the parameter by lambd * eta, keeping in 'ax' the running average of the parameter from
    step t0 on (a copy of it before); weight decay (L2 added to the gradient) and maximize."""

    _traceable = False  # (the update reads eta, mu and the step count into Python, as torch's)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_options(lr=lr, weight_decay=weight_decay, foreach=foreach, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        state: dict[str, Any],
        group: dict[str, Any],
        scheduled: dict[str, Any],
    ) -> None:
        lr, lambd = to_scalar(scheduled["lr"]), group["lambd"]
        if not state:  # (all on the parameter's device, as torch keeps them)
            state["step"] = torch.zeros((), device=param.device, dtype=scalar_dtype())
            state["eta"] = torch.as_tensor(to_scalar(group["lr"]), device=param.device, dtype=scalar_dtype()).clone()
            state["mu"] = torch.ones((), device=param.device, dtype=scalar_dtype())
            state["ax"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        grad = -grad if group["maximize"] else grad
        eta, mu, ax = state["eta"], state["mu"], state["ax"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = add(grad, param, group["weight_decay"])
        eta_value = eta.item()
        param.mul_(1 - lambd * eta_value)
        param.add_(grad, alpha=-eta_value)
        if mu.item() != 1:
            ax.add_(param.sub(ax).mul_(mu))
        else:
            ax.copy_(param)
        step = state["step"].item()
        eta.copy_(torch.as_tensor(lr / ((1 + lambd * lr * step) ** group["alpha"])))
        mu.copy_(torch.as_tensor(1 / max(1, step - group["t0"])))
