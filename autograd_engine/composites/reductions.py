"""Reductions with torch's names and signatures: sums, means, extremes and their indices, softmax."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from .. import ops
from ..dispatch import implements
from ..ops import exp, log, maximum, minimum, normalize_dim, normalize_dims
from ..variable import Variable, unwrap
from .indexing import gather
from .shape import reshape, squeeze

__all__ = [
    "ValuesIndices",
    "amax",
    "amin",
    "log_softmax",
    "logsumexp",
    "max",
    "mean",
    "min",
    "mse",
    "softmax",
    "sum",
]

Dims = int | Sequence[int] | None


@implements(torch.sum, torch.Tensor.sum)
def sum(x: Any, dim: Dims = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Sum over `dim` (all dims when None)."""
    return ops.sum(x, dim=dim, keepdim=keepdim)


class ValuesIndices(NamedTuple):
    """What max and min over a dim return, as torch.return_types.max/min do: the values (differentiable,
    the gradient going to the returned indices) and their indices (a plain int64 tensor)."""

    values: Any
    indices: torch.Tensor


@implements(torch.max, torch.Tensor.max)
def max(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """torch.max: the largest element (the gradient shared evenly among ties); with an int `dim`, the
    (values, indices) along it (the gradient goes to the returned index); with a tensor, `maximum`."""
    return _extreme("max", x, dim, keepdim)


@implements(torch.min, torch.Tensor.min)
def min(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """torch.min: as `max`, for the smallest elements; with a tensor, `minimum`."""
    return _extreme("min", x, dim, keepdim)


def _extreme(name: str, x: Any, dim: Any, keepdim: bool) -> Any:
    if isinstance(dim, (torch.Tensor, Variable)):  # torch.max(input, other)
        if keepdim:
            raise TypeError(f"{name}(input, other): keepdim is an argument of {name}(input, dim) only")
        return (maximum if name == "max" else minimum)(x, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): keepdim needs a dim")
        return (ops.max if name == "max" else ops.min)(x)
    if not isinstance(dim, int):
        raise TypeError(f"{name}(): dim must be an int, got {dim!r} (a{name} reduces over several dims)")
    d = normalize_dim(dim, x.ndim)
    indices = getattr(torch, name)(unwrap(x), d, keepdim=True).indices
    values = gather(x, d, indices)
    return ValuesIndices(values, indices) if keepdim else ValuesIndices(squeeze(values, d), indices.squeeze(d))


@implements(torch.amax, torch.Tensor.amax)
def amax(x: Any, dim: Dims = (), keepdim: bool = False) -> Any:
    """torch.amax: the max over `dim` (every dim when empty); each slice's gradient is shared evenly
    among its ties."""
    return ops.max(x, dim=normalize_dims(dim, x.ndim), keepdim=keepdim)


@implements(torch.amin, torch.Tensor.amin)
def amin(x: Any, dim: Dims = (), keepdim: bool = False) -> Any:
    """torch.amin: as `amax`, for the min."""
    return ops.min(x, dim=normalize_dims(dim, x.ndim), keepdim=keepdim)


@implements(torch.mean, torch.Tensor.mean)
def mean(x: Any, dim: Dims = None, keepdim: bool = False) -> Any:
    count = math.prod(x.shape[d] for d in normalize_dims(dim, x.ndim))
    return ops.div(sum(x, dim, keepdim), count)


def _stable_shift(x: Any, dim: Dims) -> torch.Tensor:
    """Per-slice max as a constant (finite), for shift-invariant functions: exact gradients, no overflow."""
    m = torch.amax(unwrap(x), dim=normalize_dims(dim, x.ndim), keepdim=True)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


@implements(torch.logsumexp, torch.Tensor.logsumexp)
def logsumexp(x: Any, dim: Dims = None, keepdim: bool = False) -> Any:
    """log(sum(e^x)) over `dim`, computed from x - max."""
    m = _stable_shift(x, dim)
    out = ops.add(log(sum(exp(ops.sub(x, m)), dim, keepdim=True)), m)
    if keepdim:
        return out
    dims = normalize_dims(dim, x.ndim)
    return reshape(out, tuple(n for i, n in enumerate(x.shape) if i not in dims))


@implements(torch.softmax, torch.Tensor.softmax)
def softmax(x: Any, dim: int) -> Any:
    e = exp(ops.sub(x, _stable_shift(x, dim)))
    return ops.div(e, sum(e, dim, keepdim=True))


@implements(torch.log_softmax, torch.Tensor.log_softmax)
def log_softmax(x: Any, dim: int) -> Any:
    shifted = ops.sub(x, _stable_shift(x, dim))
    return ops.sub(shifted, log(sum(exp(shifted), dim, keepdim=True)))


def mse(input: Any, target: Any, reduction: str = "mean") -> Any:  # noqa: A002
    """Mean (or summed, or elementwise with 'none') squared error; shapes must match."""
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} differ")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    d = ops.sub(input, target)
    sq = ops.mul(d, d)
    return sq if reduction == "none" else mean(sq) if reduction == "mean" else sum(sq)
