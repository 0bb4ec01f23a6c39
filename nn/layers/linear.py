"""Linear layers: Linear and Bilinear, with torch.nn's arguments, state-dict keys and initial draws."""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import functional as F
from .. import init
from ..module import Module, Parameter

__all__ = ["Bilinear", "Linear"]


def empty(shape: tuple[int, ...], device: Any, dtype: Any) -> Parameter:
    """An uninitialised parameter, which the layer's `reset_parameters` then draws (as torch.nn builds them)."""
    return Parameter(torch.empty(shape, device=device, dtype=dtype))


def reset_kaiming_uniform(weight: Parameter, bias: Parameter | None, contiguous_draw: bool = False) -> None:
    """torch.nn's default for Linear and the convolutions, in torch's order: the weight kaiming-uniform with
    a=sqrt(5), then the bias uniform in +-1/sqrt(fan_in) (+-0 for a zero fan-in). With `contiguous_draw`
    (the convolutions) a non-contiguous weight (channels_last) gets the draws of a contiguous one, as torch."""
    if contiguous_draw and not weight.data.is_contiguous():
        drawn = init.kaiming_uniform_(
            torch.empty_like(weight.data, memory_format=torch.contiguous_format), a=math.sqrt(5)
        )
        weight.data.copy_(drawn)
    else:
        init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight.data)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty((out_features, in_features), device, dtype)
        self.bias = empty((out_features,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_kaiming_uniform(self.weight, self.bias)

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T A x2 + b for each output feature: weight (out_features, in1_features, in2_features) and bias
    drawn as torch.nn draws them, uniform in +-1/sqrt(in1_features) (weight, then bias)."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = empty((out_features, in1_features, in2_features), device, dtype)
        self.bias = empty((out_features,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Any, input2: Any) -> Any:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
