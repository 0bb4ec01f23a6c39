"""Padding layers, as torch.nn's: zero, constant, reflection, replication and circular padding of the last
1, 2 or 3 dims, each a module over `nn.functional.pad`. `padding` is an int (the same on every side) or
a tuple (left, right[, top, bottom[, front, back]]), stored as a tuple as torch stores it; the functional
checks the input as torch's pad does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.nn.modules.utils import _ntuple

from .. import functional as F
from ..module import Module

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]

Padding = int | Sequence[int]


class _PadNd(Module):
    """Pads the last `dims` dims of its input in `mode`; subclasses set the two."""

    mode: str
    dims: int

    def __init__(self, padding: Padding) -> None:
        super().__init__()
        self.padding: tuple[int, ...] = _ntuple(2 * self.dims)(padding)

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    """Pads with `value`."""

    mode = "constant"

    def __init__(self, padding: Padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ReflectionPadNd(_PadNd):
    mode = "reflect"


class _ReplicationPadNd(_PadNd):
    mode = "replicate"


class _CircularPadNd(_PadNd):
    """Wraps around; the input must have `dims` + 1 or `dims` + 2 dims (torch.nn's check, a ValueError)."""

    mode = "circular"

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        if input.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(f"expected {self.dims + 1}D or {self.dims + 2}D input (got {input.ndim}D input)")
        return super().forward(input)


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim of (N, C, W) or (C, W) with `value`."""

    dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims of (N, C, H, W) or (C, H, W) with `value`."""

    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims of (N, C, D, H, W) or (C, D, H, W) with `value`."""

    dims = 3


class _ZeroPadNd(_ConstantPadNd):
    """Pads with 0."""

    def __init__(self, padding: Padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd, ConstantPad1d):
    """ConstantPad1d with value 0."""


class ZeroPad2d(_ZeroPadNd, ConstantPad2d):
    """ConstantPad2d with value 0."""


class ZeroPad3d(_ZeroPadNd, ConstantPad3d):
    """ConstantPad3d with value 0."""


class ReflectionPad1d(_ReflectionPadNd):
    """Mirrors the last dim at its ends (the edge itself not repeated)."""

    dims = 1


class ReflectionPad2d(_ReflectionPadNd):
    """Mirrors the last two dims at their ends."""

    dims = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Mirrors the last three dims at their ends."""

    dims = 3


class ReplicationPad1d(_ReplicationPadNd):
    """Repeats the last dim's edge values."""

    dims = 1


class ReplicationPad2d(_ReplicationPadNd):
    """Repeats the last two dims' edge values."""

    dims = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Repeats the last three dims' edge values."""

    dims = 3


class CircularPad1d(_CircularPadNd):
    """Wraps the last dim around."""

    dims = 1


class CircularPad2d(_CircularPadNd):
    """Wraps the last two dims around."""

    dims = 2


class CircularPad3d(_CircularPadNd):
    """Wraps the last three dims around."""

    dims = 3
