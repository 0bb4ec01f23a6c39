"""Adagrad, as torch.optim.Adagrad."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .optimizer import Optimizer, check_options, new_step, to_scalar
from .scalars import add, addcdiv_, count, quotient

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Divide the gradient by the root of the sum of its squares so far (started at
    initial_accumulator_value), with a learning rate decaying as lr / (1 + (t - 1) * lr_decay), weight
    decay (L2 added to the gradient) and maximize.

    As in torch, the state of every parameter is created by the constructor, and the accumulator of one
    added later starts at the constructor's initial_accumulator_value whatever its group says."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | torch.Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_options(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            foreach=foreach,
            fused=fused,
            differentiable=differentiable,
        )
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._fresh_state(p.data, group)

    def _fresh_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        accumulator = self.defaults["initial_accumulator_value"]
        return {"step": new_step(param, group), "sum": torch.full_like(param, accumulator)}

    def share_memory(self) -> None:
        """Move the accumulators to shared memory (for Hogwild-style training across processes)."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        state: dict[str, Any],
        group: dict[str, Any],
        scheduled: dict[str, Any],
    ) -> None:
        if not state:
            state.update(self._fresh_state(param, group))
        state["step"] += 1
        grad = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            grad = add(grad, param, group["weight_decay"])
        clr = self._step_lr(to_scalar(scheduled["lr"]), group["lr_decay"], count(state["step"]))
        state_sum = state["sum"]
        state_sum.addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(group["eps"])
        addcdiv_(param, grad, std, -clr)

    @staticmethod
    def _step_lr(lr: Any, lr_decay: float, step: Any) -> Any:
        """This step's learning rate lr / (1 + (t - 1) * lr_decay), as torch computes it (a Python float
        eagerly, a float64 tensor while traced: see `scalars`)."""
        return quotient(lr, 1 + (step - 1) * lr_decay)
