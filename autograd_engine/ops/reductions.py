"""Primitives: the reductions family (forward on tensors + VJPs written in primitives).

Products (exact where the input has zeros, to every order), variances and standard deviations (torch's
kernels, torch's var_backward), cumulative sums, products and log-sum-exps, vector norms (torch's
subgradients at 0), and the median without a dim. Reductions that
pick elements (max(dim), sort, topk, kthvalue, median(dim), cummax...) need no primitive of their own:
they gather at the indices torch returns, and the gradient goes to those indices.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..grad_mode import is_grad_enabled
from ..primitive import primitive
from ..variable import Variable, lift, unwrap
from .core import (
    add,
    cat,
    div,
    exp,
    gather,
    getitem,
    keep_dims,
    log,
    mul,
    normalize_dims,
    pow,
    reshape,
    reshaped,
    share_among_ties,
    sub,
    sum,
    where,
)
from .shape import flip

__all__ = [
    "cumprod",
    "cumsum",
    "logcumsumexp",
    "logsumexp",
    "median",
    "prod",
    "std",
    "std_mean",
    "var",
    "var_mean",
    "vector_norm",
]


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
    """torch's prod_backward: g * (ans / x) without zeros; with zeros, g times the product of the others
    (`_times_others`); a full product with two zeros or more has gradient 0, which torch writes as zeros
    unless the backward is recorded (create_graph: the formula, differentiable)."""
    if x.ndim == 0:
        return g
    zeros = int((unwrap(x) == 0).sum())
    if dim is None:
        if not zeros:
            return mul(g, div(ans, x))
        if zeros > 1 and not is_grad_enabled():
            return _zeros(g, x.shape)
        return reshape(_times_others(reshaped(g, ()), reshape(x, shape=(-1,)), 0), shape=tuple(x.shape))
    if not keepdim:
        g, ans = keep_dims(g, x.shape, dim), keep_dims(ans, x.shape, dim)
    return mul(g, div(ans, x)) if not zeros else _times_others(g, x, dim % x.ndim)


def _narrow(x: Any, dim: int, start: int, stop: int) -> Any:
    """x's elements start:stop along dim (torch's narrow, a view)."""
    return getitem(x, index=(slice(None),) * dim + (slice(start, stop),))


def _ones_beside(x: Any, dim: int) -> Any:
    """A constant slice of ones along `dim` of x (batched like x under torch.vmap)."""
    return unwrap(x).new_ones(tuple(1 if i == dim else n for i, n in enumerate(x.shape)))


def _times_others(g: Any, x: Any, dim: int) -> Any:
    """g times the product of the other elements of each slice along `dim`, exact with zeros, in torch's
    order (prod_safe_zeros_backward): the exclusive cumulative products from the start and from the end."""
    n, ones = x.shape[dim], _ones_beside(x, dim)
    before = cumprod(cat(ones, _narrow(x, dim, 0, n - 1), dim=dim), dim=dim)
    after = flip(cumprod(cat(ones, flip(_narrow(x, dim, 1, n), dims=(dim,)), dim=dim), dim=dim), dims=(dim,))
    return mul(g, mul(before, after))


prod.defvjp(_prod_vjp)


@primitive(saves="x ans")
def cumprod(x, *, dim):
    """Cumulative product along `dim`."""
    return torch.cumprod(x, dim)


def _cumprod_vjp(g, ans, x, *, dim):
    """torch's cumprod_backward: d/dx_k = sum over j >= k of g_j * prod(x_i, i <= j, i != k), which is the
    reversed cumsum of g * ans over x_k without zeros. With zeros, torch's O(n) masked formula
    (`_cumprod_vjp_zeros`), whose derivative is not cumprod's second one; so where the backward is
    recorded (create_graph) its O(n^2) products of the others instead (`_cumprod_vjp_recorded`)."""
    if math.prod(x.shape) <= 1 or x.shape[dim] == 1:
        return g
    w = mul(ans, g)
    zero = unwrap(x) == 0
    if not zero.any():
        return div(cumsum(w, dim=dim, reverse=True), x)
    if is_grad_enabled():
        return _cumprod_vjp_recorded(g, x, dim)
    return _cumprod_vjp_zeros(g, ans, x, w, zero, dim)


def _cumprod_vjp_zeros(g: Any, ans: Any, x: Any, w: Any, zero: torch.Tensor, dim: int) -> Any:
    """Before a slice's first zero z: the reversed cumsum of g * ans there, over x; at z: the sum of g_j times
    cumprod(x with z replaced by 1) from z to the second zero, times ans just before z; after z: 0."""
    seen = zero.cumsum(dim)
    before, up_to_second = seen == 0, seen == 1
    first_index = up_to_second.max(dim, keepdim=True).indices  # (0 in a slice without zeros: masked below)
    first = torch.zeros_like(up_to_second).scatter_(dim, first_index, True) & up_to_second
    between = up_to_second & ~first
    head = where(first_index == 0, 1.0, gather(ans, dim=dim, index=(first_index - 1).clamp_min(0)))
    terms = mul(cumprod(where(between, x, 1.0), dim=dim), where(up_to_second, g, 0.0))
    at_first = mul(sum(terms, dim=dim, keepdim=True), head)
    part = div(cumsum(where(before, w, 0.0), dim=dim, reverse=True), x)
    return where(first, at_first, where(before, part, 0.0))


def _cumprod_vjp_recorded(g: Any, x: Any, dim: int) -> Any:
    """torch's differentiable formula: for each k, the products of the others, prod(x[:k]) * cumprod(x[k+1:]),
    against g[k:]; exact with zeros to every order."""
    n, columns = x.shape[dim], []
    for k in range(n):
        after = cumprod(_narrow(x, dim, k + 1, n), dim=dim) if k < n - 1 else None
        if k == 0:
            others = cat(_ones_beside(x, dim), after, dim=dim)
        else:
            upto = prod(_narrow(x, dim, 0, k), dim=dim, keepdim=True)
            others = upto if after is None else cat(upto, mul(upto, after), dim=dim)
        columns.append(sum(mul(_narrow(g, dim, k, n), others), dim=dim, keepdim=True))
    return cat(*columns, dim=dim)


cumprod.defvjp(_cumprod_vjp)


# --- variance and standard deviation --------------------------------------------------------------
# The forwards are torch's kernels (var_mean's and std_mean's a pass of their own, whose bits differ
# from var's and mean's); `dim` is a tuple of dims or None for every element, as torch's backward
# tells the two apart. The VJPs are torch's (FunctionsManual.cpp), in its order of operations.
@primitive(saves="x")
def var(x, *, dim=None, correction=1, keepdim=False):
    """torch.var over `dim`: the squared deviations' sum over N - correction."""
    return torch.var(x, dim, correction=correction, keepdim=keepdim)


@primitive(saves="x ans")
def std(x, *, dim=None, correction=1, keepdim=False):
    """torch.std over `dim`: the square root of `var`."""
    return torch.std(x, dim, correction=correction, keepdim=keepdim)


@primitive(saves="x")
def var_mean(x, *, dim=None, correction=1, keepdim=False):
    """torch.var_mean over `dim`: (var, mean) stacked in one tensor that torch.var_mean splits."""
    return torch.stack(torch.var_mean(x, dim, correction=correction, keepdim=keepdim))


@primitive(saves="x ans")
def std_mean(x, *, dim=None, correction=1, keepdim=False):
    """torch.std_mean over `dim`: (std, mean) stacked in one tensor that torch.std_mean splits."""
    return torch.stack(torch.std_mean(x, dim, correction=correction, keepdim=keepdim))


def _var_grad(g, x, dim, correction, keepdim):
    """torch's var_backward: (2 / (N - correction)) * g * (x - mean(x)); over every element with
    N <= correction, g * (NaN where x is its mean, inf elsewhere)."""
    raw = unwrap(x)
    if raw.ndim == 0 or dim is None:
        dof = raw.numel() - correction
        if dof <= 0:
            return mul(g, torch.where(raw == raw.mean(), math.nan, math.inf).to(raw.dtype))
        return mul(mul(2.0 / dof, g), sub(x, div(sum(x), raw.numel())))
    if not keepdim and raw.ndim > 1:
        g = keep_dims(g, raw.shape, dim)
    count = math.prod(raw.shape[d] for d in dim)
    dof = count - correction
    return mul(mul(2.0 / dof if dof else math.inf, g), sub(x, div(sum(x, dim=dim, keepdim=True), count)))


def _std_grad(g, std, x, dim, correction, keepdim):
    """torch's std_backward: var's for g / (2 std), 0 where std is 0."""
    return _var_grad(where(unwrap(std) == 0, 0.0, div(g, mul(std, 2.0))), x, dim, correction, keepdim)


def _mean_grad(g, x, dim, keepdim):
    """torch's mean_backward: g spread over the reduced elements, over their count."""
    if dim is None:
        return div(g, unwrap(x).numel())
    count = math.prod(x.shape[d] for d in dim)
    return div(g if keepdim else keep_dims(g, x.shape, dim), count)


var.defvjp(lambda g, ans, x, *, dim=None, correction=1, keepdim=False: _var_grad(g, x, dim, correction, keepdim))
std.defvjp(lambda g, ans, x, *, dim=None, correction=1, keepdim=False: _std_grad(g, ans, x, dim, correction, keepdim))


def _with_mean_grad(g, spread, x, dim, keepdim):
    """torch's var_mean_backward / std_mean_backward: the spread's gradient plus the mean's."""
    return add(spread, _mean_grad(getitem(g, index=1), x, dim, keepdim))


var_mean.defvjp(
    lambda g, ans, x, *, dim=None, correction=1, keepdim=False: _with_mean_grad(
        g, _var_grad(getitem(g, index=0), x, dim, correction, keepdim), x, dim, keepdim
    )
)
std_mean.defvjp(
    lambda g, ans, x, *, dim=None, correction=1, keepdim=False: _with_mean_grad(
        g, _std_grad(getitem(g, index=0), getitem(ans, index=0), x, dim, correction, keepdim), x, dim, keepdim
    )
)


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


# --- log-sum-exp ----------------------------------------------------------------------------------
@primitive(saves="x ans")
def logsumexp(x, *, dim, keepdim=False):
    """torch.logsumexp over the tuple `dim`: log(sum(e^x)) without overflow (torch's kernel)."""
    return torch.logsumexp(x, dim, keepdim=keepdim)


def _logsumexp_vjp(g, ans, x, *, dim, keepdim=False):
    """torch's logsumexp_backward: g * e^(x - ans)."""
    if not keepdim and x.ndim:
        g, ans = keep_dims(g, x.shape, dim), keep_dims(ans, x.shape, dim)
    return mul(g, exp(sub(x, ans)))


logsumexp.defvjp(_logsumexp_vjp)


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
