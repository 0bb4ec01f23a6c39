"""Linear layers."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..module import Module
from .init import _bias_uniform, _kaiming_uniform

__all__ = ["Linear"]


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        shape = (out_features, in_features)
        self.weight = _kaiming_uniform(shape, device, dtype)
        self.bias = _bias_uniform(shape, out_features, device, dtype) if bias else None

    def forward(self, x: Any) -> Any:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
