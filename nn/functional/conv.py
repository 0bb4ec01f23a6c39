"""Convolutions: conv2d and conv_transpose2d on torch's native kernels (the default) or lowered to
unfold/fold and matmul, with torch's argument checks; errors name the layer and the shapes."""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import autograd_engine as ag
from autograd_engine import Variable, ops

IntPair = int | tuple[int, int]
LOWERINGS = ("native", "unfold")


class _Lowering(threading.local):
    name = "native"


_lowering = _Lowering()


def conv_lowering() -> str:
    """How convolutions without an explicit `lowering` run in this thread: 'native' or 'unfold'.

    'native' (the default) records one conv2d / conv_transpose2d primitive on torch's own kernels,
    which is faster and keeps less memory for backward; 'unfold' records the textbook lowering,
    unfold + matmul (fold for the transposed conv). Both give the same values and gradients.
    """
    return _lowering.name


@contextmanager
def use_conv_lowering(name: str) -> Iterator[None]:
    """Run convolutions in the block with the given lowering (see `conv_lowering`)."""
    previous = _lowering.name
    _lowering.name = check_lowering(name)
    try:
        yield
    finally:
        _lowering.name = previous


def check_lowering(name: str | None) -> str:
    if name is None:
        return _lowering.name
    if name not in LOWERINGS:
        raise ValueError(f"unknown convolution lowering {name!r}; choose 'native' or 'unfold'")
    return name


def pair(v: Any, name: str) -> tuple[int, int]:
    """A 2-d convolution's argument `name` as a pair: an int, or a sequence of one or two ints, as torch."""
    try:
        values = tuple(operator.index(n) for n in v) if isinstance(v, Sequence) else (operator.index(v),)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {v!r}") from None
    if len(values) not in (1, 2):
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of 2 values to match the convolution "
            f"dimensions, but got {name}={list(values)}"
        )
    return values[0], values[-1]


def conv_pairs(
    kernel_size: IntPair, stride: IntPair, padding: IntPair | str, dilation: IntPair, output_padding: IntPair = 0
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int] | str, tuple[int, int], tuple[int, int]]:
    """A 2-d convolution's geometry as pairs (a padding string as it is), rejected where torch's
    convolutions reject it, with torch's errors."""
    k, s, d, op = (
        pair(kernel_size, "kernel_size"),
        pair(stride, "stride"),
        pair(dilation, "dilation"),
        pair(output_padding, "output_padding"),
    )
    p = padding if isinstance(padding, str) else pair(padding, "padding")
    if k[0] <= 0 or k[1] <= 0:
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kernel_height: {k[0]} kernel_width: {k[1]}"
        )
    if s[0] <= 0 or s[1] <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if d[0] <= 0 or d[1] <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(d)}")
    if not isinstance(p, str) and (p[0] < 0 or p[1] < 0):
        raise RuntimeError("negative padding is not supported")
    if op[0] < 0 or op[1] < 0:
        raise RuntimeError("negative output_padding is not supported")
    return k, s, p, d, op


def _string_padding(
    x: Any, padding: str, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> tuple[Any, tuple[int, int]]:
    """padding 'valid' (none) or 'same' as torch does it: half the dilated kernel on each side, the odd one
    out at the end (bottom, right), which the input gets explicitly. Returns the input and the padding."""
    if padding not in ("same", "valid"):
        raise RuntimeError(f"Invalid padding string: {padding!r}")
    if padding == "valid":
        return x, (0, 0)
    if stride != (1, 1):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if total[0] % 2 or total[1] % 2:
        x = ag.pad(x, (0, total[1] % 2, 0, total[0] % 2))
    return x, (total[0] // 2, total[1] // 2)


def _check_input(layer: str, x: Any, weight: Any, channels: int, what: str = "input") -> None:
    if x.ndim != 4:
        raise ValueError(f"{layer}: expected a 4-d {what} (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(
            f"{layer}: expected {channels} input channels (weight shape {tuple(weight.shape)}), "
            f"got input of shape {tuple(x.shape)}"
        )
    _check_placement(layer, x, weight)


def _check_placement(layer: str, x: Any, weight: Any) -> None:
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ValueError(
            f"{layer}: input is {x.dtype} on {x.device} but the weight is {weight.dtype} on {weight.device}; "
            "move one with .to()"
        )


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: IntPair | str = 0,
    dilation: IntPair = 1,
    lowering: str | None = None,
) -> Variable:
    """2-d convolution (cross-correlation); weight (out, in, kh, kw) as in torch; padding an int, a pair,
    'valid' or 'same' (stride 1); see `conv_lowering`."""
    out_ch, in_ch, kh, kw = weight.shape
    _check_input("conv2d", x, weight, in_ch)
    _, s, padding, d, _ = conv_pairs((kh, kw), stride, padding, dilation)
    if isinstance(padding, str):
        x, p = _string_padding(x, padding, (kh, kw), s, d)
    else:
        p = padding
    n, _, h, w = x.shape
    ho, wo = (conv_output_size(h, kh, s[0], p[0], d[0]), conv_output_size(w, kw, s[1], p[1], d[1]))
    if ho < 1 or wo < 1:
        raise ValueError(
            f"conv2d: input of shape {tuple(x.shape)} (padded by {p}) is smaller than the dilated "
            f"kernel {(d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)}"
        )
    if check_lowering(lowering) == "native":
        return ops.conv2d(x, weight, bias, stride=s, padding=p, dilation=d)
    cols = ag.unfold(x, (kh, kw), dilation=d, padding=p, stride=s)  # (N, in*kh*kw, L)
    out = ag.reshape(weight, (out_ch, in_ch * kh * kw)) @ cols  # (N, out, L)
    if bias is not None:
        out = out + ag.reshape(bias, (out_ch, 1))
    return ag.reshape(out, (n, out_ch, ho, wo))


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    dilation: IntPair = 1,
    lowering: str | None = None,
) -> Variable:
    """Transposed convolution; weight (in, out, kh, kw) as in torch; see `conv_lowering`."""
    in_ch, out_ch, kh, kw = weight.shape
    _check_input("conv_transpose2d", x, weight, in_ch)
    p = pair(padding, "padding")
    _, s, _, d, op = conv_pairs((kh, kw), stride, p, dilation, output_padding)
    if op[0] >= max(s[0], d[0]) or op[1] >= max(s[1], d[1]):
        raise ValueError(f"conv_transpose2d: output_padding {op} must be smaller than stride {s} or dilation {d}")
    n, _, h, w = x.shape
    ho = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    wo = (w - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"conv_transpose2d: input of shape {tuple(x.shape)} gives an empty output ({ho}, {wo})")
    if check_lowering(lowering) == "native":
        return ops.conv_transpose2d(x, weight, bias, stride=s, padding=p, output_padding=op, dilation=d)
    cols = ag.transpose(ag.reshape(weight, (in_ch, out_ch * kh * kw)), 0, 1) @ ag.reshape(x, (n, in_ch, h * w))
    if op[0] < s[0] and op[1] < s[1]:  # fold lays out exactly h x w blocks for this size
        out = ag.fold(cols, (ho, wo), (kh, kw), dilation=d, padding=p, stride=s)
    else:  # output_padding >= stride (allowed below the dilation): fold the full output, then crop/extend
        full = ((h - 1) * s[0] + d[0] * (kh - 1) + 1, (w - 1) * s[1] + d[1] * (kw - 1) + 1)
        out = ag.fold(cols, full, (kh, kw), dilation=d, stride=s)
        out = ag.pad(out, (-p[1], op[1] - p[1], -p[0], op[0] - p[0]))
    if bias is not None:
        out = out + ag.reshape(bias, (out_ch, 1, 1))
    return out
