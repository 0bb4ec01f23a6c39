"""Convolution layers, 1-d to 3-d and transposed: torch.nn's constructor arguments, attributes, weight
layouts and initialisation; geometry checked at construction; forward via `nn.functional` with a choice
of lowering (1-d and 2-d)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import autograd_engine as ag

from .. import functional as F
from ..functional.conv import Ints
from ..module import Module
from .linear import empty, reset_kaiming_uniform

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "TransposeConv2d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What every convolution layer shares: torch.nn's checks of its arguments (groups, padding strings
    and modes: ValueError at construction), the geometry torch checks only at the first forward (checked
    here, naming the layer), the weight (out, in/groups, k...) or, transposed, (in, out/groups, k...),
    drawn as torch.nn draws it, and torch's repr."""

    _dims: int
    _transposed: bool
    _function: Callable[..., Any]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Ints,
        stride: Ints,
        padding: Ints | str,
        dilation: Ints,
        output_padding: Ints,
        groups: int,
        bias: bool,
        padding_mode: str,
        lowering: str | None,
        device: Any,
        dtype: Any,
    ) -> None:
        super().__init__()
        layer, n = type(self).__name__, self._dims
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {layer}')
        if groups <= 0:
            raise ValueError(f"{layer}: groups must be a positive integer (got groups={groups})")
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups:
                raise ValueError(f"{layer}: {name} must be divisible by groups ({name}={channels}, groups={groups})")
        try:
            if self._transposed:  # (no padding strings)
                padding = F.ints(padding, "padding", n)
            k, s, p, d, op = F.conv_geometry(n, kernel_size, stride, padding, dilation, output_padding)
        except (RuntimeError, TypeError) as e:
            raise type(e)(f"{layer}: {e}") from None
        if isinstance(p, str):
            if p not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {p!r}, should be one of {{'same', 'valid'}}")
            if p == "same" and any(i != 1 for i in s):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(PADDING_MODES)}, but got padding_mode='{padding_mode}'")
        if lowering == "unfold" and n == 3:
            raise ValueError(f"{layer}: the 'unfold' lowering covers 1-d and 2-d convolutions; 3-d ones run natively")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.dilation, self.output_padding = s, p, d, op
        self.transposed, self.groups, self.padding_mode = self._transposed, groups, padding_mode
        self._reversed_padding_repeated_twice = _edge_padding(p, k, d)
        self.lowering = F.check_lowering(lowering) if lowering is not None else None
        shape = (in_channels, out_channels // groups) if self._transposed else (out_channels, in_channels // groups)
        self.weight = empty((*shape, *k), device, dtype)
        self.bias = empty((out_channels,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_kaiming_uniform(self.weight, self.bias, contiguous_draw=True)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, default in (("padding", 0), ("dilation", 1), ("output_padding", 0)):
            value = getattr(self, name)
            if value != (default,) * len(value):
                text += f", {name}={value}"
        text += f", groups={self.groups}" if self.groups != 1 else ""
        text += ", bias=False" if self.bias is None else ""
        text += f", padding_mode={self.padding_mode}" if self.padding_mode != "zeros" else ""
        return text + (f", lowering={self.lowering!r}" if self.lowering else "")


def _edge_padding(padding: tuple[int, ...] | str, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> list[int]:
    """The padding as torch.nn.functional.pad takes it (last dim first, (left, right) pairs), for the
    padding modes other than zeros: 'same' puts the odd one out on the right, as torch.nn does."""
    if not isinstance(padding, str):
        return [p for p in reversed(padding) for _ in range(2)]
    totals = [d * (k - 1) if padding == "same" else 0 for k, d in zip(kernel, dilation)]
    return [side for t in reversed(totals) for side in (t // 2, t - t // 2)]


class _Conv(_ConvNd):
    """A convolution layer with torch.nn.ConvNd's arguments. `lowering` (1-d and 2-d only) picks how it
    is recorded: 'native' (one convolution primitive on torch's kernels) or 'unfold' (unfold + matmul);
    None follows `nn.functional.conv_lowering()` (default 'native')."""

    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Ints,
        stride: Ints = 1,
        padding: Ints | str = 0,
        dilation: Ints = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        lowering: str | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            0,
            groups,
            bias,
            padding_mode,
            lowering,
            device,
            dtype,
        )

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        x, padding = input, self.padding
        if self.padding_mode != "zeros":  # (as torch.nn: pad first, then convolve without padding)
            x, padding = ag.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), "valid"
        return self._function(
            x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups, lowering=self.lowering
        )


class Conv1d(_Conv):
    """1-d convolution of (N, C, L) or (C, L). Weight (out, in/groups, k), as torch.nn.Conv1d."""

    _dims, _function = 1, staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-d convolution of (N, C, H, W) or (C, H, W). Weight (out, in/groups, kh, kw), as torch.nn.Conv2d."""

    _dims, _function = 2, staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-d convolution of (N, C, D, H, W) or (C, D, H, W). Weight (out, in/groups, kd, kh, kw), as
    torch.nn.Conv3d; always recorded natively."""

    _dims, _function = 3, staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    """A transposed convolution layer with torch.nn.ConvTransposeNd's arguments (padding_mode 'zeros'
    only, as torch); `lowering` as for the convolutions: 'native' or 'unfold' (matmul + fold)."""

    _transposed = True
    padding: tuple[int, ...]  # (no padding strings)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Ints,
        stride: Ints = 1,
        padding: Ints = 0,
        output_padding: Ints = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Ints = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        *,
        lowering: str | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            output_padding,
            groups,
            bias,
            padding_mode,
            lowering,
            device,
            dtype,
        )

    def forward(self, input: Any, output_size: Sequence[int] | None = None) -> Any:  # noqa: A002 (torch's name)
        """The transposed convolution; `output_size` (spatial, or with the batch and channel dims) picks
        the output padding among the sizes the stride allows, as torch."""
        output_padding = self.output_padding if output_size is None else self._output_padding(input, output_size)
        return self._function(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
            lowering=self.lowering,
        )

    def _output_padding(self, input: Any, output_size: Sequence[int]) -> tuple[int, ...]:  # noqa: A002
        """The output padding that gives `output_size`, or torch's ValueError."""
        n, layer = self._dims, type(self).__name__
        lead = 2 if input.ndim == n + 2 else 1
        size = list(output_size)[lead:] if len(output_size) == lead + n else list(output_size)
        if len(size) != n:
            raise ValueError(
                f"{layer}: for {input.ndim}D input, output_size must have {n} or {lead + n} elements "
                f"(got {len(output_size)})"
            )
        spatial = input.shape[-n:]
        smallest = [
            (m - 1) * s - 2 * p + d * (k - 1) + 1
            for m, s, p, d, k in zip(spatial, self.stride, self.padding, self.dilation, self.kernel_size)
        ]
        largest = [m + s - 1 for m, s in zip(smallest, self.stride)]
        if any(not low <= want <= high for want, low, high in zip(size, smallest, largest)):
            raise ValueError(
                f"{layer}: requested an output size of {list(output_size)}, but valid sizes range from {smallest} "
                f"to {largest} (for an input of {tuple(spatial)})"
            )
        return tuple(want - low for want, low in zip(size, smallest))


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-d convolution of (N, C, L) or (C, L). Weight (in, out/groups, k), as torch.nn."""

    _dims, _function = 1, staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-d convolution of (N, C, H, W) or (C, H, W). Weight (in, out/groups, kh, kw), as torch.nn."""

    _dims, _function = 2, staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-d convolution of (N, C, D, H, W) or (C, D, H, W). Weight (in, out/groups, kd, kh, kw),
    as torch.nn; always recorded natively."""

    _dims, _function = 3, staticmethod(F.conv_transpose3d)


TransposeConv2d = ConvTranspose2d
