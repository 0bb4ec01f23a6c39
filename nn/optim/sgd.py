"""SGD, as torch.optim.SGD."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_options, to_scalar
from .scalars import add, decide

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (dampening, Nesterov), weight decay (L2 added to
    the gradient) and maximize; the momentum buffer starts as the first gradient, as in torch."""

    _scheduled = ("lr", "momentum")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | torch.Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_options(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            foreach=foreach,
            fused=fused,
            differentiable=differentiable,
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
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
        grad = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            grad = add(grad, param, group["weight_decay"])
        if decide(group, "momentum", bool):
            momentum = scheduled["momentum"]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.detach().clone()
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            grad = add(grad, buf, momentum) if group["nesterov"] else buf
        add(param, grad, -to_scalar(scheduled["lr"]), inplace=True)
