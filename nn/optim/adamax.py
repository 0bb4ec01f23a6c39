"""Adamax, as torch.optim.Adamax."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_betas, check_options, new_step, to_scalar
from .scalars import add, addcdiv_, count, lerp_, quotient

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adam with the infinity norm: the step divides the first moment by a decaying maximum of |gradient|
    (beta2 its decay) instead of a root mean square; weight decay (L2 added to the gradient) and maximize."""

    _scheduled = ("lr", "betas")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_options(lr=lr, eps=eps)
        check_betas(betas)
        check_options(weight_decay=weight_decay, foreach=foreach, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
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
        if not state:
            state["step"] = new_step(param, group)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_inf"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        grad = -grad if group["maximize"] else grad
        beta1, beta2 = scheduled["betas"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = add(grad, param, group["weight_decay"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        lerp_(exp_avg, grad, 1 - beta1)
        torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(group["eps"]), out=exp_inf)
        step_size = quotient(to_scalar(scheduled["lr"]), 1 - beta1 ** count(state["step"]))
        addcdiv_(param, exp_avg, exp_inf, -step_size)
