"""Shape and layout with torch's names and signatures: reshape, permute, cat, stack, squeeze, pad..."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .. import ops
from ..dispatch import implements
from ..ops import normalize_dim, normalize_dims, transpose

__all__ = [
    "cat",
    "expand",
    "flatten",
    "fold",
    "pad",
    "permute",
    "reshape",
    "squeeze",
    "stack",
    "transpose",
    "unfold",
    "unsqueeze",
]

Dims = int | Sequence[int] | None

implements(torch.transpose, torch.swapaxes, torch.swapdims, torch.Tensor.transpose)(transpose)


@implements(torch.reshape)
def reshape(x: Any, shape: Sequence[int]) -> Any:
    return ops.reshape(x, shape=tuple(shape))


@implements(torch.permute)
def permute(x: Any, dims: Sequence[int]) -> Any:
    return ops.permute(x, dims=tuple(dims))


def expand(x: Any, shape: Sequence[int]) -> Any:
    return ops.expand(x, shape=tuple(shape))


@implements(torch.cat, torch.concat, torch.concatenate)
def cat(xs: Sequence[Any], dim: int = 0) -> Any:
    """Concatenate along an existing dim."""
    if len(xs) == 0:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return ops.cat(*xs, dim=dim)


def pad(x: Any, pad: Sequence[int], value: float = 0.0) -> Any:  # noqa: A002
    """Constant padding in torch.nn.functional.pad order (last dim first); negative amounts crop."""
    return ops.pad(x, widths=tuple(pad), value=value)


def unfold(x: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:
    """torch.nn.functional.unfold (im2col) on (N, C, H, W)."""
    return ops.unfold(x, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)


def fold(x: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:
    """torch.nn.functional.fold (col2im), the adjoint of unfold."""
    return ops.fold(
        x, output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride
    )


@implements(torch.flatten, torch.Tensor.flatten)
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    shape = tuple(x.shape)
    start, end = normalize_dim(start_dim, len(shape)), normalize_dim(end_dim, len(shape))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if not shape:
        return reshape(x, (1,))
    return reshape(x, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])


@implements(torch.unsqueeze, torch.Tensor.unsqueeze)
def unsqueeze(x: Any, dim: int) -> Any:
    shape = list(x.shape)
    shape.insert(normalize_dim(dim, len(shape) + 1), 1)
    return reshape(x, shape)


@implements(torch.squeeze, torch.Tensor.squeeze)
def squeeze(x: Any, dim: Dims = None) -> Any:
    """Drop the size-1 dims: all of them, or those among `dim` (an int or a tuple); other dims stay."""
    shape = tuple(x.shape)
    if dim is None:
        dims: Sequence[int] = range(len(shape))
    else:
        dims = normalize_dims(dim, len(shape)) if isinstance(dim, int) or len(dim) else ()
    kept = tuple(n for i, n in enumerate(shape) if n != 1 or i not in dims)
    return x if kept == shape else reshape(x, kept)


@implements(torch.stack)
def stack(xs: Sequence[Any], dim: int = 0) -> Any:
    """Join tensors of one shape along a new dim."""
    if len(xs) == 0:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shape = tuple(xs[0].shape)
    for i, x in enumerate(xs):
        if tuple(x.shape) != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(x.shape)} at entry {i}"
            )
    d = normalize_dim(dim, len(shape) + 1)
    return cat([unsqueeze(x, d) for x in xs], d)
