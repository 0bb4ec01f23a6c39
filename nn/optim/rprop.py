"""Rprop, as torch.optim.Rprop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_options, new_step, to_scalar

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Resilient backpropagation: each element moves by its own step size against the sign of its
    gradient; the step size grows by etas[1] while the gradient keeps its sign and shrinks by etas[0] when
    it flips (that element then skips one update), clamped to step_sizes; maximize."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_options(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        check_options(foreach=foreach, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            etas=etas,
            step_sizes=step_sizes,
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
        if not state:  # (the step sizes start at the group's lr, which the update itself never reads)
            state["step"] = new_step(param, group)
            state["prev"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["step_size"] = torch.full_like(grad, to_scalar(group["lr"]))
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        grad = -grad if group["maximize"] else grad
        prev, step_size = state["prev"], state["step_size"]
        state["step"] += 1
        sign = grad.mul(prev).sign()  # (selections by where: torch's masked writes, without reading the mask)
        factor = torch.where(sign.gt(0), etaplus, torch.where(sign.lt(0), etaminus, torch.where(sign.eq(0), 1.0, sign)))
        step_size.mul_(factor).clamp_(step_size_min, step_size_max)
        grad = torch.where(factor.eq(etaminus), 0.0, grad)
        param.addcmul_(grad.sign(), step_size, value=-1)
        prev.copy_(grad)
