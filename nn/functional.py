"""Layers as plain functions of Variables: models can be written as functions of a params pytree.

Convolutions are lowered to the engine's unfold/fold and matmul primitives; every gradient comes from
the engine's reverse pass. Inputs are validated, with errors naming the layer and the shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
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


def pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


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
    padding: IntPair = 0,
    dilation: IntPair = 1,
    lowering: str | None = None,
) -> Variable:
    """2-d convolution (cross-correlation); weight (out, in, kh, kw) as in torch; see `conv_lowering`."""
    out_ch, in_ch, kh, kw = weight.shape
    _check_input("conv2d", x, weight, in_ch)
    s, p, d = pair(stride), pair(padding), pair(dilation)
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
    s, p, op, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
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


def linear(x: Any, weight: Any, bias: Any = None) -> Variable:
    """x @ weight.T + bias; weight (out, in) as in torch."""
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: expected input with last dim {weight.shape[1]} (weight shape "
            f"{tuple(weight.shape)}), got shape {tuple(x.shape)}"
        )
    _check_placement("linear", x, weight)
    out = x @ ag.transpose(weight, 0, 1)
    return out if bias is None else out + bias


def relu(x: Any) -> Variable:
    return ag.relu(x)


def sigmoid(x: Any) -> Variable:
    return ag.sigmoid(x)


def tanh(x: Any) -> Variable:
    return ag.tanh(x)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Variable:  # noqa: A002
    """Mean squared error; input and target must have the same shape."""
    return ag.mse(input, target, reduction)
