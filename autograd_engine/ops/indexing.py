"""Primitives: the indexing family (forward on tensors + VJPs written in primitives).

Reading positions (getitem, gather) and their adjoints (untake, ungather) are core primitives; this
family writes into positions: `index_put` (x[index] = values, and its accumulating form), `scatter`
(overwrite along a dim), `scatter_add` and `scatter_reduce` (sum, prod, mean, amax, amin into positions),
`index_add` (slices added along a dim).
Each forward is torch's own kernel, and each VJP is torch's formula, down to its conventions: an overwritten
position of x gets no gradient, and every value written there, repeats included, gets the gradient of
the position it was written to. Index tensors are options (keyword-only), never differentiated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..primitive import primitive
from ..variable import unwrap
from .core import expand, gather, getitem, mul, pad, reshape, sum_to, where

__all__ = ["index_add", "index_put", "scatter", "scatter_add", "scatter_reduce"]


def unbroadcast_values(g: Any, shape: Sequence[int]) -> Any:
    """The gradient of values broadcast to g's shape: summed over the broadcast dims (leading size-1
    dims beyond g's, which torch drops from assigned values, restored)."""
    shape = tuple(shape)
    if len(shape) > g.ndim:
        return reshape(sum_to(g, shape[len(shape) - g.ndim :]), shape=shape)
    return sum_to(g, shape)


def pad_to(g: Any, shape: Sequence[int]) -> Any:
    """The gradient of a `src` that torch reads only as far as the index reaches: zeros beyond."""
    if tuple(g.shape) == tuple(shape):
        return g
    return pad(g, widths=tuple(w for n, m in zip(reversed(shape), reversed(g.shape)) for w in (0, n - m)))


# --- x[index] = values ----------------------------------------------------------------------------
@primitive()
def index_put(x, values, *, index, accumulate=False):
    """x with `values` (a tensor or a number, broadcast) written at x[index], any Python index (ints,
    slices, None, Ellipsis, integer and boolean tensors); with `accumulate`, added there instead (repeats
    add up; `index` then holds tensors and full slices, as torch.index_put's tuple does with None)."""
    out = x.clone()
    if accumulate:
        parts = index if isinstance(index, tuple) else (index,)
        torch.ops.aten.index_put_(out, [None if isinstance(i, slice) else i for i in parts], values, True)
    else:
        out[index] = values
    return out


index_put.defvjp(
    lambda g, ans, x, values, *, index, accumulate=False: g if accumulate else index_put(g, 0.0, index=index),
    lambda g, ans, x, values, *, index, accumulate=False: unbroadcast_values(getitem(g, index=index), values.shape),
)


# --- scatter --------------------------------------------------------------------------------------
@primitive()
def scatter(x, src, *, dim, index):
    """torch.scatter: x with the elements of `src` (a tensor, or a number everywhere) written at `index`
    along `dim`."""
    return torch.scatter(x, dim, index, src)


scatter.defvjp(
    lambda g, ans, x, src, *, dim, index: scatter(g, 0.0, dim=dim, index=index),
    lambda g, ans, x, src, *, dim, index: pad_to(gather(g, dim=dim, index=index), src.shape),
)


@primitive()
def scatter_add(x, src, *, dim, index):
    """torch.scatter_add: x with the elements of `src` added at `index` along `dim` (repeats add up)."""
    return torch.scatter_add(x, dim, index, src)


scatter_add.defvjp(
    lambda g, ans, x, src, *, dim, index: g,
    lambda g, ans, x, src, *, dim, index: pad_to(gather(g, dim=dim, index=index), src.shape),
)


@primitive()
def index_add(x, source, *, dim, index, alpha=1):
    """torch.index_add: x with alpha * source's slices added at the positions `index` (a vector) along `dim`.
    torch's kernel, since its bits are not scatter_add's where alpha != 1: it adds slice after slice in
    index order, each in add's fused x + alpha * y kernel."""
    return torch.index_add(x, dim, index, source, alpha=alpha)


def _index_add_vjp_source(g, ans, x, source, *, dim, index, alpha=1):
    """torch's: g.index_select(dim, index) expanded to source's shape, times alpha."""
    picked = getitem(g, index=(slice(None),) * dim + (index,)) if g.ndim else g
    picked = picked if tuple(picked.shape) == tuple(source.shape) else expand(picked, shape=tuple(source.shape))
    return picked if alpha == 1 else mul(picked, alpha)


index_add.defvjp(lambda g, ans, x, source, *, dim, index, alpha=1: g, _index_add_vjp_source)


@primitive(saves="x src ans")
def scatter_reduce(x, src, *, dim, index, reduce, include_self=True):
    """torch.scatter_reduce: the elements of `src` reduced ("sum", "prod", "mean", "amax", "amin") into x
    at `index` along `dim`, x's own values included unless `include_self` is False."""
    return torch.scatter_reduce(x, dim, index, src, reduce, include_self=include_self)


def _scatter_reduce_vjp(argnum: int, g, ans, x, src, *, dim, index, reduce, include_self=True):
    """torch's scatter_reduce_backward for input `argnum` (0: x, 1: src), written in primitives; masks
    and counts are constants."""
    shape = tuple(src.shape)
    if shape != tuple(index.shape):  # torch reads src only as far as the index reaches
        src = getitem(src, index=tuple(slice(0, n) for n in index.shape))
    raw_x, raw_src = unwrap(x), unwrap(src)
    if reduce == "mean":
        count = torch.full_like(raw_x, float(include_self)).scatter_add(dim, index, torch.ones_like(raw_src))
        g = g / count.masked_fill(count == 0, 1)
    if reduce in ("sum", "mean"):
        grad_self, src_mask = g, None
    elif reduce in ("amax", "amin"):  # shared evenly among the elements equal to the result
        self_mask = (raw_x == unwrap(ans)).to(raw_x.dtype)
        src_mask = (raw_src == unwrap(ans).gather(dim, index)).to(raw_x.dtype)
        g = g / self_mask.scatter_add(dim, index, src_mask)
        grad_self = g * self_mask
    elif reduce == "prod":
        grad = _prod_vjp(argnum, g, ans, x, src, dim=dim, index=index, include_self=include_self)
        return pad_to(grad, shape) if argnum == 1 else grad
    else:
        raise ValueError(f"scatter_reduce: reduce must be sum, prod, mean, amax or amin, got {reduce!r}")
    if argnum == 1:
        grad_src = gather(g, dim=dim, index=index)
        return pad_to(grad_src if src_mask is None else grad_src * src_mask, shape)
    return grad_self if include_self else scatter(grad_self, 0.0, dim=dim, index=index)


def _prod_vjp(argnum: int, g, ans, x, src, *, dim, index, include_self) -> Any:
    """The product's gradients, exact where an element is zero (the product of the others), as torch's."""
    raw_x, raw_src = unwrap(x), unwrap(src)
    options = {"dim": dim, "index": index, "reduce": "prod", "include_self": include_self}
    if argnum == 0:
        masked_self = where(raw_x == 0, 1.0, x)
        grad_self = g * scatter_reduce(masked_self, src, **options) / masked_self
        return grad_self if include_self else scatter(grad_self, 0.0, dim=dim, index=index)
    src_zero = raw_src == 0
    zeros_there = torch.zeros_like(raw_x).scatter_add(dim, index, src_zero.to(raw_x.dtype)).gather(dim, index)
    single_zero = src_zero & (zeros_there == 1)
    others = scatter_reduce(x, where(single_zero, 1.0, src), **options)
    return where(
        single_zero,
        gather(g * others, dim=dim, index=index),
        gather(g * ans, dim=dim, index=index) / where(src_zero, 1.0, src),
    )


scatter_reduce.defvjp(
    lambda g, ans, x, src, **options: _scatter_reduce_vjp(0, g, ans, x, src, **options),
    lambda g, ans, x, src, **options: _scatter_reduce_vjp(1, g, ans, x, src, **options),
)
