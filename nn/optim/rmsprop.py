"""RMSprop, as torch.optim.RMSprop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_options, new_step, to_scalar
from .scalars import add, addcdiv_, decide

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square (alpha its smoothing; centered subtracts the
    squared running mean), with optional momentum, weight decay (L2 added to the gradient) and maximize."""

    _scheduled = ("lr", "momentum")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_options(
            lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha, differentiable=differentiable
        )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
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
        with_momentum = decide(group, "momentum", _positive)
        if not state:
            state["step"] = new_step(param, group)
            state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if with_momentum:
                state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        grad = -grad if group["maximize"] else grad
        lr, alpha = to_scalar(scheduled["lr"]), group["alpha"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = add(grad, param, group["weight_decay"])
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, 1 - alpha)
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(group["eps"])
        if with_momentum:
            buf = state["momentum_buffer"]
            buf.mul_(scheduled["momentum"]).addcdiv_(grad, avg)
            add(param, buf, -lr, inplace=True)
        else:
            addcdiv_(param, grad, avg, -lr)


def _positive(x: Any) -> bool:
    return bool(x > 0)
