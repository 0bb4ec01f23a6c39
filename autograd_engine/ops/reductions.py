"""Primitives: the reductions family (forward on tensors + VJPs written in primitives).

Products (exact where the input has zeros, to every order), cumulative sums, products and
log-sum-exps, vector norms (torch's subgradients at 0), and the median without a dim. Reductions that
pick elements (max(dim), sort, topk, kthvalue, median(dim), cummax...) need no primitive of their own:
they gather at the indices torch returns, and the gradient goes to those indices.
"""

from __future__ import annotations

from typing import Any

import torch

from ..primitive import primitive
from ..variable import Variable, lift, unwrap
from .core import (
    add,
    div,
    exp,
    keep_dims,
    log,
    mul,
    normalize_dims,
    pow,
    reshape,
    share_among_ties,
    sub,
    sum,
    where,
)

__all__ = ["cumprod", "cumsum", "logcumsumexp", "median", "prod", "vector_norm"]


def _differentiable(x: Any) -> bool:
    """A VJP's input that is itself differentiated (under create_graph): a formula that is right only
    in value (zeros where a derivative of the zero would count) does not do for it."""
    return isinstance(x, Variable) and x.requires_grad


def _zeros(g: Any, shape: Any) -> Any:
    """Zeros of `shape`, batched like g under torch.vmap, a constant Variable where g is a Variable."""
    return lift(unwrap(g).new_zeros(tuple(shape)), isinstance(g, Variable))


# --- products -------------------------------------------------------------------------------------
@primitive(saves="x ans")
def prod(x, *, dim=None, keepdim=False):
    """Product over `dim` (an int, or None for every element)."""
    if dim is None:
        total = torch.prod(x)
        return total.reshape((1,) * x.ndim) if keepdim else total
    return torch.prod(x, dim, keepdim=keepdim)


def _prod_vjp(g, ans, x, *, dim=None, keepdim=False):
    if x.ndim == 0:
        return g
    if not keepdim:
        g, ans = keep_dims(g, x.shape, dim), keep_dims(ans, x.shape, dim)
    if not (unwrap(x) == 0).any():
        return mul(g, div(ans, x))  # torch's rule without zeros
    if dim is None:
        others = _product_of_others(reshape(x, shape=(-1,)), 0, reshape(ans, shape=(1,)))
        return mul(g, reshape(others, shape=tuple(x.shape)))
    return mul(g, _product_of_others(x, dim % x.ndim, ans))


def _product_of_others(x: Any, dim: int, total: Any) -> Any:
    """At each position, the product of the other elements of its slice along `dim` (`total` is the
    product of the slice, kept), exact where slices hold zeros.

    Let z be a slice's first zero and y the slice with z replaced by 1. The others' product is prod(y) at
    z and 0 elsewhere. As a function of x it is x_z * others(y) off z, so when x is differentiated too
    (create_graph) the zeros are peeled off one per round, which keeps every order exact."""
    factor = None
    while (zero := unwrap(x) == 0).any():
        first = zero & (zero.cumsum(dim) == 1)
        y = where(first, 1.0, x)
        rest = prod(y, dim=dim, keepdim=True)
        if not _differentiable(x):
            return where(first, rest, div(total, where(zero, 1.0, x)))
        pivot = sum(where(first, x, 0.0), dim=dim, keepdim=True)  # x_z: 0, with a derivative
        scale = where(first | ~zero.any(dim, keepdim=True), 1.0, pivot)
        factor = scale if factor is None else mul(factor, scale)
        x, total = y, rest
    out = div(total, x)
    return out if factor is None else mul(out, factor)


prod.defvjp(_prod_vjp)


@primitive(saves="x ans")
def cumprod(x, *, dim):
    """Cumulative product along `dim`."""
    return torch.cumprod(x, dim)


def _cumprod_vjp(g, ans, x, *, dim):
    """d/dx_k = sum over j >= k of g_j * prod(x_i, i <= j, i != k). Before a slice's first zero z that is
    the reversed cumsum of g * ans, over x_k; at z it is the same sum for the slice y with z replaced
    by 1; after z it is x_z times y's gradient there: 0, but differentiated it counts, so under
    create_graph the zeros are peeled off one per round (exact to every order, as torch)."""
    if x.ndim == 0 or x.shape[dim] == 1:
        return g
    rounds = []
    while (zero := unwrap(x) == 0).any():
        seen = zero.cumsum(dim)
        before, first = seen == 0, zero & (seen == 1)
        part = div(cumsum(mul(g, ans), dim=dim, reverse=True), where(before, x, 1.0))
        y = where(first, 1.0, x)
        if not _differentiable(x):
            at_zero = cumsum(mul(g, cumprod(y, dim=dim)), dim=dim, reverse=True)
            out = where(before, part, where(first, at_zero, 0.0))
            break
        pivot = sum(where(first, x, 0.0), dim=dim, keepdim=True)  # x_z: 0, with a derivative
        rounds.append((before, part, where(first, 1.0, pivot)))
        x, ans = y, cumprod(y, dim=dim)
    else:
        out = div(cumsum(mul(g, ans), dim=dim, reverse=True), x)
    for before, part, scale in reversed(rounds):
        out = where(before, part, mul(scale, out))
    return out


cumprod.defvjp(_cumprod_vjp)


# --- cumulative sums ------------------------------------------------------------------------------
def _flipped(fn, x, dim, reverse):
    return fn(x.flip(dim), dim).flip(dim) if reverse else fn(x, dim)


@primitive()
def cumsum(x, *, dim, reverse=False):
    """Cumulative sum along `dim` (from the end with `reverse`, the adjoint of the forward one)."""
    return _flipped(torch.cumsum, x, dim, reverse)


cumsum.defvjp(lambda g, ans, x, *, dim, reverse=False: cumsum(g, dim=dim, reverse=not reverse))


@primitive(saves="x ans")
def logcumsumexp(x, *, dim, reverse=False):
    """log(cumsum(e^x)) along `dim` without overflow (from the end with `reverse`)."""
    return _flipped(torch.logcumsumexp, x, dim, reverse)


def _logcumsumexp_vjp(g, ans, x, *, dim, reverse=False):
    """sum over later j of g_j e^(x_k - ans_j), as torch computes it: the positive and the negative
    parts of g each through a log-cumsum-exp the other way, so nothing overflows."""
    raw = unwrap(g)
    lowest = torch.finfo(raw.dtype).min
    log_abs = log(where(raw == 0, 1.0, mul(g, torch.sign(raw))))

    def part(mask: torch.Tensor) -> Any:
        return exp(add(logcumsumexp(sub(where(mask, log_abs, lowest), ans), dim=dim, reverse=not reverse), x))

    return sub(part(raw > 0), part(raw < 0))


logcumsumexp.defvjp(_logcumsumexp_vjp)


# --- norms ----------------------------------------------------------------------------------------
@primitive(saves="x ans")
def vector_norm(x, *, ord=2, dim=None, keepdim=False):  # noqa: A002 (torch's name)
    """torch.linalg.vector_norm: (sum |x|^ord)^(1/ord) over `dim` (a tuple, or None for all); inf, -inf
    and 0 as torch (max, min, count of nonzeros)."""
    return torch.linalg.vector_norm(x, ord, dim, keepdim)


def _vector_norm_vjp(g, ans, x, *, ord=2, dim=None, keepdim=False):  # noqa: A002
    """torch's norm_backward, term by term (its subgradient 0 at 0, and its NaNs in second order)."""
    p = float(ord)
    if p == 0.0:
        return _zeros(g, x.shape)
    if not keepdim:
        g, ans = keep_dims(g, x.shape, dim), keep_dims(ans, x.shape, dim)
    raw = unwrap(x)
    sign = torch.sign(raw)
    if p == 1.0:
        return mul(sign, g)
    vanishing = unwrap(ans) == 0
    if p == 2.0:
        return mul(g, where(vanishing, 0.0, div(x, ans)))
    if p in (float("inf"), float("-inf")):
        size = raw.abs()
        ties = ((size == unwrap(ans)) | size.isnan()).to(raw.dtype)  # the elements attaining it share g
        return mul(sign, mul(div(g, ties.sum(normalize_dims(dim, raw.ndim), keepdim=True)), ties))
    size = mul(x, sign)
    if p < 1.0:
        scaled = where(raw == 0, 0.0, mul(sign, pow(size, p - 1)))
        return mul(mul(scaled, g), pow(ans, 1 - p))
    scaled = mul(sign, pow(size, p - 1)) if p < 2.0 else mul(x, pow(size, p - 2))
    return mul(scaled, where(vanishing, 0.0, div(g, pow(ans, p - 1))))


vector_norm.defvjp(_vector_norm_vjp)


# --- order statistics -----------------------------------------------------------------------------
@primitive(saves="x ans")
def median(x, *, ignore_nan=False):
    """torch.median(x) (the lower median; NaN if x has one), or torch.nanmedian(x) with `ignore_nan`;
    the gradient is shared evenly among the elements equal to it, as torch shares it."""
    return torch.nanmedian(x) if ignore_nan else torch.median(x)


median.defvjp(lambda g, ans, x, *, ignore_nan=False: share_among_ties(g, ans, x, None))
