"""Convolutions with torch.nn.functional's signatures: conv1d/2d/3d and conv_transpose1d/2d/3d (groups
included) on torch's native kernels, the 1-d ones as 2-d convolutions of height 1. The 2-d (and so 1-d)
ones can also be lowered to unfold/fold and matmul (`conv_lowering`). Arguments are checked as torch
checks them, with torch's error types and words, naming the layer and the shapes."""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

import autograd_engine as ag
from autograd_engine import Variable, implements, ops
from autograd_engine.ops import conv as conv_ops
from autograd_engine.variable import unwrap

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

IntPair = int | tuple[int, int]
Ints = int | Sequence[int]
LOWERINGS = ("native", "unfold")


class ShapeError(RuntimeError, ValueError):
    """An input a layer cannot take with its weight (its shape, dtype or device): torch's RuntimeError,
    and a ValueError (a bad argument value)."""


class _Lowering(threading.local):
    name = "native"


_lowering = _Lowering()


def conv_lowering() -> str:
    """How 1-d and 2-d convolutions without an explicit `lowering` run in this thread: 'native' or 'unfold'.

    'native' (the default) records one conv2d / conv_transpose2d primitive on torch's own kernels,
    which is faster and keeps less memory for backward; 'unfold' records the textbook lowering,
    unfold + matmul (fold for the transposed conv). Both give the same values and gradients.
    3-d convolutions always run natively.
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


def ints(v: Any, name: str, n: int) -> tuple[int, ...]:
    """A convolution's argument `name` as n ints: an int, or a sequence of one or n ints, as torch."""
    if type(v) is int:  # (the common cases first: this runs for every convolution)
        return (v,) * n
    if type(v) is tuple and len(v) == n and all(type(i) is int for i in v):
        return v
    try:
        values = tuple(operator.index(i) for i in v) if isinstance(v, Sequence) else (operator.index(v),)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {v!r}") from None
    if len(values) not in (1, n):
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {n} values to match the convolution "
            f"dimensions, but got {name}={list(values)}"
        )
    return values * n if len(values) == 1 else values


def pair(v: Any, name: str) -> tuple[int, int]:
    """A 2-d convolution's argument `name` as a pair: an int, or a sequence of one or two ints, as torch."""
    return ints(v, name, 2)  # type: ignore[return-value]


def _per_dim(label: str, values: Sequence[int]) -> str:
    """torch's words for per-dimension values: 'stride_height: 1 stride_width: 2'."""
    dims = ("depth", "height", "width")[-len(values) :] if len(values) > 1 else ("",)
    return " ".join(f"{label}_{dim}: {v}" if dim else f"{label}: {v}" for dim, v in zip(dims, values))


def conv_geometry(
    n: int, kernel_size: Ints, stride: Ints, padding: Ints | str, dilation: Ints, output_padding: Ints = 0
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...] | str, tuple[int, ...], tuple[int, ...]]:
    """An n-d convolution's geometry as n-tuples (a padding string as it is), rejected where torch's
    convolutions reject it, with torch's errors."""
    k, s, d, op = (
        ints(kernel_size, "kernel_size", n),
        ints(stride, "stride", n),
        ints(dilation, "dilation", n),
        ints(output_padding, "output_padding", n),
    )
    p = padding if isinstance(padding, str) else ints(padding, "padding", n)
    if min(k) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got {_per_dim('kernel', k)}")
    if min(s) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(d) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(d)}")
    if not isinstance(p, str) and min(p) < 0:
        raise RuntimeError("negative padding is not supported")
    if min(op) < 0:
        raise RuntimeError("negative output_padding is not supported")
    return k, s, p, d, op


def conv_pairs(
    kernel_size: IntPair, stride: IntPair, padding: IntPair | str, dilation: IntPair, output_padding: IntPair = 0
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int] | str, tuple[int, int], tuple[int, int]]:
    """A 2-d convolution's geometry as pairs (a padding string as it is): `conv_geometry` for 2 dims."""
    return conv_geometry(2, kernel_size, stride, padding, dilation, output_padding)  # type: ignore[return-value]


def _string_padding(
    x: Any, padding: str, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[Any, tuple[int, ...]]:
    """padding 'valid' (none) or 'same' as torch does it: half the dilated kernel on each side, the odd one
    out at the end (bottom, right), which the input gets explicitly. Returns the input and the padding."""
    if padding not in ("same", "valid"):
        raise RuntimeError(f"Invalid padding string: {padding!r}")
    if padding == "valid":
        return x, (0,) * len(kernel)
    if max(stride) != 1:
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if any(t % 2 for t in total):
        x = ag.pad(x, tuple(w for t in reversed(total) for w in (0, t % 2)))
    return x, tuple(t // 2 for t in total)


def _is_batched(layer: str, n: int, x: Any, weight: Any, transposed: bool) -> bool:
    """torch's first checks of an n-d convolution: the input's and the weight's dims. True for a batched
    input, False for an unbatched one."""
    ndim = x.ndim
    if ndim not in (n + 1, n + 2):
        raise ShapeError(
            f"{layer}: Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {layer}, but got input of "
            f"size: {list(x.shape)}"
        )
    if weight.ndim != n + 2:
        raise ShapeError(
            f"{layer}: expected a {n + 2}-d weight ({'in, out/groups' if transposed else 'out, in/groups'}, "
            f"kernel...), got shape {tuple(weight.shape)}"
        )
    return ndim == n + 2


def _check_weight(layer: str, n: int, x: Any, weight: Any, bias: Any, groups: int, transposed: bool) -> None:
    """torch's checks of an n-d convolution's groups, weight and bias against its input (their tensors)."""
    shape, kernel = x.shape, weight.shape
    if groups <= 0:
        raise RuntimeError(f"{layer}: non-positive groups is not supported")
    if kernel[0] < groups:
        raise ShapeError(
            f"{layer}: Given groups={groups}, expected weight to be at least {groups} at dimension 0, but got "
            f"weight of size {list(kernel)} instead"
        )
    if kernel[0] % groups:
        raise ShapeError(
            f"{layer}: Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but "
            f"got weight of size [{list(kernel)}] instead"
        )
    channels = shape[-n - 1]
    expected = kernel[0] if transposed else kernel[1] * groups
    if channels != expected:
        given = "transposed=1" if transposed else f"groups={groups}"
        raise ShapeError(
            f"{layer}: expected {expected} input channels in an input of shape {tuple(shape)} (Given {given}, "
            f"weight of size {list(kernel)}, expected input{list(shape)} to have {expected} channels, but got "
            f"{channels} channels instead)"
        )
    dtype, device = x.dtype, x.device
    if weight.dtype != dtype or weight.device != device:
        _check_placement(layer, x, weight)
    if bias is not None:
        out_channels = kernel[1] * groups if transposed else kernel[0]
        if bias.shape != (out_channels,):
            raise ShapeError(
                f"{layer}: Given weight of size {list(kernel)}, expected bias to be 1-dimensional with "
                f"{out_channels} elements, but got bias of size {list(bias.shape)} instead"
            )
        if bias.dtype != dtype or bias.device != device:
            _check_placement(layer, x, bias, "bias")


def _check_placement(layer: str, x: Any, weight: Any, what: str = "weight") -> None:
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ShapeError(
            f"{layer}: input is {x.dtype} on {x.device} but the {what} is {weight.dtype} on {weight.device}; "
            "move one with .to()"
        )


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _too_small(sizes: Sequence[int], kernel: Sequence[int], padding: Sequence[int], dilation: Sequence[int]) -> bool:
    """Some padded input size is below the dilated kernel's."""
    for size, k, p, d in zip(sizes, kernel, padding, dilation):
        if size + 2 * p < d * (k - 1) + 1:
            return True
    return False


def _batched(x: Any, batched: bool) -> Any:
    return x if batched else ops.reshape(x, shape=(1, *x.shape))


def _unbatched(out: Any, batched: bool) -> Any:
    return out if batched else ops.reshape(out, shape=tuple(out.shape[1:]))


def _height_one(x: Any) -> Any:
    """(N, C, L) as (N, C, 1, L): a 1-d convolution is a 2-d one of height 1."""
    return ops.reshape(x, shape=(*x.shape[:2], 1, x.shape[2]))


def _drop_height(out: Any, n: int) -> Any:
    """A 2-d convolution's (N, C, 1, L) result as the 1-d convolution's (N, C, L) (n == 1)."""
    return ops.reshape(out, shape=(*out.shape[:2], out.shape[3])) if n == 1 else out


def _native_only(layer: str, lowering: str | None) -> None:
    if lowering == "unfold":
        raise ValueError(f"{layer}: the 'unfold' lowering covers 1-d and 2-d convolutions; 3-d ones run natively")


def _conv(
    layer: str,
    n: int,
    x: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    lowering: str | None,
) -> Any:
    """An n-d convolution: torch's checks, then the native kernel or (1-d and 2-d) the unfold lowering."""
    raw, kernel_raw = unwrap(x), unwrap(weight)
    batched = _is_batched(layer, n, raw, kernel_raw, transposed=False)
    kernel = tuple(kernel_raw.shape[2:])
    _, s, p, d, _ = conv_geometry(n, kernel, stride, padding, dilation)
    _check_weight(layer, n, raw, kernel_raw, unwrap(bias), groups, transposed=False)
    x = _batched(x, batched)
    if isinstance(p, str):
        x, p = _string_padding(x, p, kernel, s, d)
    spatial = unwrap(x).shape[2:]
    if _too_small(spatial, kernel, p, d):
        sizes = [size + 2 * pad for size, pad in zip(spatial, p)]
        dilated = [dil * (k - 1) + 1 for k, dil in zip(kernel, d)]
        raise ShapeError(
            f"{layer}: input of shape {tuple(x.shape)} (padded by {p}) is smaller than the dilated kernel "
            f"{tuple(dilated)} (Calculated padded input size per channel: ({' x '.join(map(str, sizes))}). "
            f"Kernel size: ({' x '.join(map(str, dilated))}). Kernel size can't be greater than actual input size)"
        )
    if n == 3:
        _native_only(layer, lowering)
        return _unbatched(conv_ops.conv3d(x, weight, bias, stride=s, padding=p, dilation=d, groups=groups), batched)
    if n == 1:  # a 2-d convolution of height 1
        x, weight, s, p, d = _height_one(x), _height_one(weight), (1, *s), (0, *p), (1, *d)
    return _unbatched(_drop_height(_conv2d(x, weight, bias, s, p, d, groups, lowering), n), batched)


def _conv2d(
    x: Any,
    weight: Any,
    bias: Any,
    s: tuple[int, ...],
    p: tuple[int, ...],
    d: tuple[int, ...],
    groups: int,
    lowering: str | None,
) -> Any:
    if check_lowering(lowering) == "native":
        return ops.conv2d(x, weight, bias, stride=s, padding=p, dilation=d, groups=groups)
    n, _, h, w = x.shape
    out_ch, in_ch, kh, kw = weight.shape
    ho, wo = (conv_output_size(h, kh, s[0], p[0], d[0]), conv_output_size(w, kw, s[1], p[1], d[1]))
    cols = ag.unfold(x, (kh, kw), dilation=d, padding=p, stride=s)  # (N, C*kh*kw, L), channels outermost
    if groups == 1:
        out = ag.reshape(weight, (out_ch, in_ch * kh * kw)) @ cols  # (N, out, L)
    else:  # one matmul per group: (G, out/G, in/G*kh*kw) @ (N, G, in/G*kh*kw, L)
        per_group = ag.reshape(weight, (groups, out_ch // groups, in_ch * kh * kw))
        out = ag.reshape(per_group @ ag.reshape(cols, (n, groups, in_ch * kh * kw, -1)), (n, out_ch, -1))
    if bias is not None:
        out = out + ag.reshape(bias, (out_ch, 1))
    return ag.reshape(out, (n, out_ch, ho, wo))


def named_for_dims(fn: Any, name: str, doc: str) -> Any:
    """`fn`, made in a factory for each number of dims, under torch's name for it."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _convs(n: int, shapes: str, weight: str) -> Any:
    """convNd with torch's signature (and `lowering`, see `conv_lowering`)."""
    name = f"conv{n}d"

    def conv(
        input: Any,  # noqa: A002 (torch's names)
        weight: Any,
        bias: Any = None,
        stride: Ints = 1,
        padding: Ints | str = 0,
        dilation: Ints = 1,
        groups: Any = 1,
        *,
        lowering: str | None = None,
    ) -> Variable:
        return _conv(name, n, input, weight, bias, stride, padding, dilation, operator.index(groups), lowering)

    doc = (
        f"{n}-d convolution (cross-correlation) of {shapes}; weight {weight} as in torch; padding an int, a "
        f"tuple, 'valid' or 'same' (stride 1); `lowering` (1-d and 2-d): see `conv_lowering`."
    )
    return named_for_dims(conv, name, doc)


conv1d = implements(torch.nn.functional.conv1d)(_convs(1, "(N, C, L) or (C, L)", "(out, in/groups, k)"))
conv2d = implements(torch.nn.functional.conv2d)(_convs(2, "(N, C, H, W) or (C, H, W)", "(out, in/groups, kh, kw)"))
conv3d = implements(torch.nn.functional.conv3d)(
    _convs(3, "(N, C, D, H, W) or (C, D, H, W)", "(out, in/groups, kd, kh, kw)")
)


def _conv_transpose(
    layer: str,
    n: int,
    x: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: int,
    dilation: Any,
    lowering: str | None,
) -> Any:
    """An n-d transposed convolution: torch's checks, then the native kernel or (1-d, 2-d) matmul + fold."""
    raw, kernel_raw = unwrap(x), unwrap(weight)
    batched = _is_batched(layer, n, raw, kernel_raw, transposed=True)
    kernel = tuple(kernel_raw.shape[2:])
    p = ints(padding, "padding", n)
    _, s, _, d, op = conv_geometry(n, kernel, stride, p, dilation, output_padding)
    _check_weight(layer, n, raw, kernel_raw, unwrap(bias), groups, transposed=True)
    x = _batched(x, batched)
    if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
        raise ShapeError(
            f"{layer}: output padding must be smaller than either stride or dilation, but got "
            f"{_per_dim('output_padding', op)} {_per_dim('stride', s)} {_per_dim('dilation', d)}"
        )
    sizes = [
        (m - 1) * si - 2 * pi + di * (k - 1) + o + 1 for m, si, pi, di, k, o in zip(x.shape[2:], s, p, d, kernel, op)
    ]
    if min(sizes) < 1:
        raise ShapeError(
            f"{layer}: input of shape {tuple(x.shape)} gives an empty output {tuple(sizes)} (Given input size per "
            f"channel: ({' x '.join(map(str, x.shape[2:]))}). Calculated output size per channel: "
            f"({' x '.join(map(str, sizes))}). Output size is too small)"
        )
    if n == 3:
        _native_only(layer, lowering)
        out = conv_ops.conv_transpose3d(
            x, weight, bias, stride=s, padding=p, output_padding=op, dilation=d, groups=groups
        )
        return _unbatched(out, batched)
    if n == 1:  # a 2-d transposed convolution of height 1
        x, weight, s, p, op, d = _height_one(x), _height_one(weight), (1, *s), (0, *p), (0, *op), (1, *d)
    return _unbatched(_drop_height(_conv_transpose2d(x, weight, bias, s, p, op, d, groups, lowering), n), batched)


def _conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any,
    s: tuple[int, ...],
    p: tuple[int, ...],
    op: tuple[int, ...],
    d: tuple[int, ...],
    groups: int,
    lowering: str | None,
) -> Any:
    if check_lowering(lowering) == "native":
        return ops.conv_transpose2d(x, weight, bias, stride=s, padding=p, output_padding=op, dilation=d, groups=groups)
    in_ch, group_out, kh, kw = weight.shape
    out_ch = group_out * groups
    n, _, h, w = x.shape
    ho = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    wo = (w - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    # columns (N, out*kh*kw, h*w): per group, the weight (in/G, out/G*kh*kw) transposed times the input
    if groups == 1:  # one matrix shared by the batch: its gradient is one product, not one per image
        cols = ag.transpose(ag.reshape(weight, (in_ch, out_ch * kh * kw)), 0, 1) @ ag.reshape(x, (n, in_ch, h * w))
    else:
        per_group = ag.transpose(ag.reshape(weight, (groups, in_ch // groups, group_out * kh * kw)), -1, -2)
        cols = per_group @ ag.reshape(x, (n, groups, in_ch // groups, h * w))
        cols = ag.reshape(cols, (n, out_ch * kh * kw, h * w))
    if op[0] < s[0] and op[1] < s[1]:  # fold lays out exactly h x w blocks for this size
        out = ag.fold(cols, (ho, wo), (kh, kw), dilation=d, padding=p, stride=s)
    else:  # output_padding >= stride (allowed below the dilation): fold the full output, then crop/extend
        full = ((h - 1) * s[0] + d[0] * (kh - 1) + 1, (w - 1) * s[1] + d[1] * (kw - 1) + 1)
        out = ag.fold(cols, full, (kh, kw), dilation=d, stride=s)
        out = ag.pad(out, (-p[1], op[1] - p[1], -p[0], op[0] - p[0]))
    if bias is not None:
        out = out + ag.reshape(bias, (out_ch, 1, 1))
    return out


def _conv_transposes(n: int, shapes: str, weight: str) -> Any:
    """conv_transposeNd with torch's signature (and `lowering`, see `conv_lowering`)."""
    name = f"conv_transpose{n}d"

    def conv_transpose(
        input: Any,  # noqa: A002 (torch's names)
        weight: Any,
        bias: Any = None,
        stride: Ints = 1,
        padding: Ints = 0,
        output_padding: Ints = 0,
        groups: Any = 1,
        dilation: Any = 1,
        *,
        lowering: str | None = None,
    ) -> Variable:
        return _conv_transpose(
            name, n, input, weight, bias, stride, padding, output_padding, operator.index(groups), dilation, lowering
        )

    doc = f"Transposed {n}-d convolution of {shapes}; weight {weight} as in torch; see `conv_lowering`."
    return named_for_dims(conv_transpose, name, doc)


conv_transpose1d = implements(torch.nn.functional.conv_transpose1d)(
    _conv_transposes(1, "(N, C, L) or (C, L)", "(in, out/groups, k)")
)
conv_transpose2d = implements(torch.nn.functional.conv_transpose2d)(
    _conv_transposes(2, "(N, C, H, W) or (C, H, W)", "(in, out/groups, kh, kw)")
)
conv_transpose3d = implements(torch.nn.functional.conv_transpose3d)(
    _conv_transposes(3, "(N, C, D, H, W) or (C, D, H, W)", "(in, out/groups, kd, kh, kw)")
)
