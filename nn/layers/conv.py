"""Convolution layers: parameters with torch.nn's layouts, geometry checked at construction, forward via
`nn.functional` with a choice of lowering."""

from __future__ import annotations

import math
from typing import Any

from .. import functional as F
from ..functional import IntPair
from ..module import Module
from .init import _uniform

Pair = tuple[int, int]

__all__ = ["Conv2d", "ConvTranspose2d", "TransposeConv2d"]


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
