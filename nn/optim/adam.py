"""Adam, as torch.optim.Adam (AdamW is Adam with decoupled weight decay, as in torch)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_betas, check_options, new_step, to_scalar
from .scalars import add, addcdiv_, addcmul_, count, lerp_, quotient, root, tracing

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction, amsgrad and maximize; weight_decay is L2 added to
    the gradient, or with decoupled_weight_decay=True a shrink of the parameter by lr * weight_decay (AdamW)."""

    _scheduled = ("lr", "betas")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 1e-3,
        betas: tuple[float | torch.Tensor, float | torch.Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_options(lr=lr, eps=eps)
        check_betas(betas)
        check_options(weight_decay=weight_decay, foreach=foreach, fused=fused, differentiable=differentiable)
        if not all(isinstance(b, float) for b in betas) and not all(isinstance(b, torch.Tensor) for b in betas):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas):
            if isinstance(beta, torch.Tensor) and beta.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = dict(
            lr=lr,
            betas=tuple(map(to_scalar, betas)),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
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
        if tracing() and any(isinstance(b, torch.Tensor) for b in group["betas"]):
            raise NotImplementedError(
                f"{type(self).__name__} with Tensor betas cannot step inside ag.compile: torch computes beta ** step "
                "on them with a Python exponent, which a replay cannot vary; pass float betas, or step outside"
            )
        if not state:
            state["step"] = new_step(param, group)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        grad = -grad if group["maximize"] else grad
        lr, weight_decay = to_scalar(scheduled["lr"]), group["weight_decay"]
        beta1, beta2 = (to_scalar(b) for b in scheduled["betas"])
        state["step"] += 1
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = add(grad, param, weight_decay)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        lerp_(exp_avg, grad, 1 - (beta1.to(param) if isinstance(group["betas"][0], torch.Tensor) else beta1))
        addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
        step_size, bias_correction2_sqrt = self._step_scalars(lr, beta1, beta2, count(state["step"]))
        if group["amsgrad"]:
            second = torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        else:
            second = exp_avg_sq
        denom = (second.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        addcdiv_(param, exp_avg, denom, -step_size)

    @staticmethod
    def _step_scalars(lr: Any, beta1: Any, beta2: Any, step: Any) -> tuple[Any, Any]:
        """This step's scalars, as torch computes them: the step size lr / (1 - beta1^t) and the second-moment
        correction sqrt(1 - beta2^t) (Python floats eagerly, float64 tensors while traced: see `scalars`)."""
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        return quotient(lr, bias_correction1), root(bias_correction2)
