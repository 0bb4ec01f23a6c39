"""Losses as modules."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..module import Module

__all__ = ["MSE", "MSELoss"]


class MSE(Module):
    """Mean squared error loss; reduction 'mean' (default) or 'sum' (or 'none')."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"MSE: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


MSELoss = MSE
