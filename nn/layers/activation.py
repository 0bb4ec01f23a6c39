"""Activations as modules."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..module import Module

__all__ = ["ReLU", "Sigmoid", "Tanh"]


class ReLU(Module):
    def forward(self, x: Any) -> Any:
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Any) -> Any:
        return F.tanh(x)
