"""Layers: parameters with torch.nn's layouts and default initialisation, forward via `nn.functional`.

Initialisation draws from torch's generator in the same order as torch.nn (weight, then bias, each
uniform in +-1/sqrt(fan_in)), so the same seed gives the same model as torch.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from . import functional as F
from .functional import IntPair
from .module import Module, Parameter


def _uniform(shape: tuple[int, ...], bound: float, device: Any, dtype: Any) -> Parameter:
    return Parameter(torch.empty(shape, device=device, dtype=dtype).uniform_(-bound, bound))


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = _uniform((out_features, in_features), bound, device, dtype)
        self.bias = _uniform((out_features,), bound, device, dtype) if bias else None

    def forward(self, x: Any) -> Any:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


Pair = tuple[int, int]


def _geometry(
    layer: str,
    kernel_size: IntPair,
    stride: IntPair,
    padding: IntPair | str,
    dilation: IntPair,
    output_padding: IntPair,
) -> tuple[Pair, Pair, Pair | str, Pair, Pair]:
    """A conv layer's geometry as pairs, checked at construction: torch checks it at the first forward
    only (the same errors, here naming the layer), and a Conv2d's padding string as torch.nn.Conv2d does."""
    try:
        if layer != "Conv2d":
            padding = F.pair(padding, "padding")
        geometry = F.conv_pairs(kernel_size, stride, padding, dilation, output_padding)
    except (RuntimeError, TypeError) as e:
        raise type(e)(f"{layer}: {e}") from None
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'same', 'valid'}}")
        if padding == "same" and geometry[1] != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
    return geometry


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: geometry, lowering, and torch's initialisation (the fan-in
    is the weight's dim 1 times the kernel area, for both layouts)."""

    def __init__(
        self,
        weight_shape: tuple[int, int, int, int],
        stride: Pair,
        padding: Pair | str,
        dilation: Pair,
        bias: bool,
        lowering: str | None,
        device: Any,
        dtype: Any,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = (
            (weight_shape[1], weight_shape[0]) if isinstance(self, Conv2d) else weight_shape[:2]
        )
        self.kernel_size = tuple(weight_shape[2:])
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.lowering = F.check_lowering(lowering) if lowering is not None else None
        fan_in = weight_shape[1] * weight_shape[2] * weight_shape[3]
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight = _uniform(weight_shape, bound, device, dtype)
        self.bias = _uniform((self.out_channels,), bound, device, dtype) if bias else None

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        defaults = {"padding": (0, 0), "output_padding": (0, 0), "dilation": (1, 1)}
        for name, default in defaults.items():
            value = getattr(self, name, default)
            if value != default:
                text += f", {name}={value}"
        text += "" if self.bias is not None else ", bias=False"
        return text + (f", lowering={self.lowering!r}" if self.lowering else "")


class Conv2d(_ConvNd):
    """2-d convolution. Weight (out, in, kh, kw), as torch.nn.Conv2d.

    `lowering` picks how it is recorded: 'native' (one conv2d primitive on torch's kernels) or 'unfold'
    (unfold + matmul); None follows `nn.functional.conv_lowering()` (default 'native').
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair | str = 0,
        dilation: IntPair = 1,
        *,
        bias: bool = True,
        lowering: str | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        k, s, p, d, _ = _geometry("Conv2d", kernel_size, stride, padding, dilation, 0)
        super().__init__((out_channels, in_channels, *k), s, p, d, bias, lowering, device, dtype)

    def forward(self, x: Any) -> Any:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, lowering=self.lowering)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-d convolution. Weight (in, out, kh, kw), as torch.nn.ConvTranspose2d.

    `lowering` as for Conv2d: 'native' (one conv_transpose2d primitive) or 'unfold' (matmul + fold).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        *,
        bias: bool = True,
        dilation: IntPair = 1,
        lowering: str | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        k, s, p, d, op = _geometry("ConvTranspose2d", kernel_size, stride, padding, dilation, output_padding)
        super().__init__((in_channels, out_channels, *k), s, p, d, bias, lowering, device, dtype)
        self.output_padding = op

    def forward(self, x: Any) -> Any:
        return F.conv_transpose2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,  # type: ignore[arg-type]  # a pair: _geometry takes no padding string here
            self.output_padding,
            1,
            self.dilation,
            lowering=self.lowering,
        )


TransposeConv2d = ConvTranspose2d


class ReLU(Module):
    def forward(self, x: Any) -> Any:
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Any) -> Any:
        return F.tanh(x)


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


class Sequential(Module):
    """Modules applied in order; children are named '0', '1', ... as in torch."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Any:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self)), module)
        return self
