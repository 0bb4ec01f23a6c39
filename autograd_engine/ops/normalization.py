"""Primitives: the normalization family (forward on tensors + VJPs written in primitives).

`standardize` is the core of batch, layer, group and instance norm: (x - mean) / sqrt(var + eps) over
some dims (the biased variance), on torch's fused layer-norm or batch-norm kernel where the dims have
their layout. Its VJP is `standardize_backward`, again one fused kernel in an ordinary backward (linear
in g, so its own VJP for g is itself), whose VJP for x is written in primitives (with `inverse_std`), so
gradients of gradients, and of those, are recorded too. The composite (mean, subtract, square, mean,
add, power, multiply) keeps several intermediates and costs several times as much: see the timings in
tests/test_ops_normalization.py. `layer_norm` is layer norm (with or without weight and bias) in torch's one
kernel: it keeps what torch keeps (x, the weight and bias, the statistics), not the normalized values that a
separate multiply would keep, and its backward is torch's one kernel for the three gradients (a joint VJP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..primitive import primitive
from ..variable import Variable
from .core import add, div, mul, neg, sum, sum_to

__all__ = ["inverse_std", "layer_norm", "standardize", "standardize_backward"]


def _layout(x: torch.Tensor, dims: Sequence[int]) -> str:
    """'trailing' (layer norm's dims), 'channels' (batch norm's: all but dim 1) or 'other'."""
    dims = tuple(dims)
    if not dims:
        raise ValueError("standardize: dims must name at least one dim")
    if dims == tuple(range(x.ndim - len(dims), x.ndim)):
        return "trailing"
    if x.ndim > 1 and dims == (0, *range(2, x.ndim)):
        return "channels"
    return "other"


def _stats(x: torch.Tensor, dims: Sequence[int], eps: float) -> tuple[str, torch.Tensor, torch.Tensor]:
    """The layout, and the mean and 1 / sqrt(var + eps) over `dims` as torch's kernel for it returns them
    (size-1 dims for 'trailing' and 'other', one value per channel for 'channels')."""
    layout = _layout(x, dims)
    if layout == "trailing":
        _, mean, rstd = torch.native_layer_norm(x, x.shape[dims[0] :], None, None, eps)
    elif layout == "channels":
        _, mean, rstd = torch.native_batch_norm(x, None, None, None, None, True, 0.0, eps)
    else:  # (torch.var_mean is several times slower than this on the CPU)
        mean = x.mean(tuple(dims), keepdim=True)
        centered = x - mean
        rstd = torch.rsqrt((centered * centered).mean(tuple(dims), keepdim=True) + eps)
    return layout, mean, rstd


def _per_channel(t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def _mean(t: Any, dims: Sequence[int]) -> Any:
    return div(sum(t, dim=tuple(dims), keepdim=True), math.prod(t.shape[d] for d in dims))


@primitive(saves="x")
def standardize(x, *, dims, eps):
    """(x - mean) / sqrt(var + eps) over `dims` (sorted, non-negative), with the biased variance."""
    layout = _layout(x, dims)
    if layout == "trailing":
        return torch.native_layer_norm(x, x.shape[dims[0] :], None, None, eps)[0]
    if layout == "channels":
        return torch.native_batch_norm(x, None, None, None, None, True, 0.0, eps)[0]
    _, mean, rstd = _stats(x, dims, eps)
    return (x - mean) * rstd


@primitive(saves={"g": "x", "x": "g x ans"})
def standardize_backward(g, x, *, dims, eps):
    """standardize's VJP: r (g - mean(g) - y mean(g y)) over `dims`, with y = standardize(x) and r the
    inverse standard deviation of x (torch's fused backward kernel where it has one); linear in g."""
    layout, mean, rstd = _stats(x, dims, eps)
    if layout == "trailing":
        shape = x.shape[dims[0] :]
        return torch.ops.aten.native_layer_norm_backward(g, x, shape, mean, rstd, None, None, [True, False, False])[0]
    if layout == "channels":
        mask = [True, False, False]
        return torch.ops.aten.native_batch_norm_backward(g, x, None, None, None, mean, rstd, True, eps, mask)[0]
    y = (x - mean) * rstd
    return rstd * (g - g.mean(tuple(dims), keepdim=True) - y * (g * y).mean(tuple(dims), keepdim=True))


@primitive(saves="x ans")
def inverse_std(x, *, dims, eps):
    """1 / sqrt(var + eps) over `dims`, kept as size-1 dims, with the biased variance."""
    layout, _, rstd = _stats(x, dims, eps)
    return _per_channel(rstd, x.ndim) if layout == "channels" else rstd


def _count(x: Any, dims: Sequence[int]) -> int:
    return math.prod(x.shape[d] for d in dims)


def _standardize_backward_vjp_x(h, ans, g, x, *, dims, eps):
    """The curvature: with y = standardize(x) and r = inverse_std(x), the output r (g - mean(g) - y mean(g y))
    varies with x through r (d r / dx = -r^2 y / n) and through y (whose VJP is standardize_backward)."""
    r = inverse_std(x, dims=dims, eps=eps)
    y = standardize(x, dims=dims, eps=eps)
    through_r = mul(mul(div(r, _count(x, dims)), y), sum(mul(h, ans), dim=dims, keepdim=True))
    through_y = mul(r, add(mul(h, _mean(mul(g, y), dims)), mul(g, _mean(mul(h, y), dims))))
    return neg(add(through_r, standardize_backward(through_y, x, dims=dims, eps=eps)))


standardize.defvjp(lambda g, ans, x, *, dims, eps: standardize_backward(g, x, dims=dims, eps=eps))
standardize_backward.defvjp(
    lambda h, ans, g, x, *, dims, eps: standardize_backward(h, x, dims=dims, eps=eps),
    _standardize_backward_vjp_x,
)
inverse_std.defvjp(
    lambda g, ans, x, *, dims, eps: neg(
        mul(div(mul(g, mul(ans, ans)), _count(x, dims)), standardize(x, dims=dims, eps=eps))
    )
)


@primitive(saves="x weight bias", residuals="mean rstd")
def layer_norm(x, weight, bias, *, dims, eps):
    """layer norm over the trailing `dims` in one kernel (torch.native_layer_norm): standardize(x) * weight +
    bias, either of them None to skip it, without the normalized values as an intermediate kept for
    backward; the mean and inverse standard deviation are residuals for the fused backward."""
    return torch.native_layer_norm(x, x.shape[dims[0] :], weight, bias, eps)


def _layer_norm_vjp(g, ans, x, weight, bias, *, dims, eps, mean, rstd):
    """The gradients of x, weight and bias (None for an absent one): torch's fused backward kernel on tensors
    (the three in one pass, from the saved statistics); under create_graph, written in primitives:
    standardize_backward(g weight) for x, the sum of g standardize(x) for the weight, the sum of g for the bias."""
    if not isinstance(g, Variable):
        shape, mask = x.shape[dims[0] :], [True, weight is not None, bias is not None]
        return torch.ops.aten.native_layer_norm_backward(g, x, shape, mean, rstd, weight, bias, mask)
    return (
        standardize_backward(g if weight is None else mul(g, weight), x, dims=dims, eps=eps),
        None if weight is None else sum_to(mul(g, standardize(x, dims=dims, eps=eps)), weight.shape),
        None if bias is None else sum_to(g, bias.shape),
    )


layer_norm.defvjp_joint(_layer_norm_vjp, wrt="x weight bias")
