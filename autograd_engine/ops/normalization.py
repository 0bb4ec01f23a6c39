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
`batch_norm` (training and eval, updating the running statistics in place as torch's kernel does) and
`group_norm` are the same on their kernels. Under create_graph, layer and batch norm's gradients are still their
backward kernels (as in torch), each in a primitive (`layer_norm_backward`, `batch_norm_backward`) whose VJPs
are written in primitives; group norm's are written in primitives there (torch too uses a composite there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from ..primitive import VJP, primitive
from ..variable import Variable
from .core import add, div, expand, mul, neg, reshape, sub, sum, sum_to

__all__ = [
    "batch_norm",
    "batch_norm_backward",
    "group_norm",
    "inverse_std",
    "layer_norm",
    "layer_norm_backward",
    "standardize",
    "standardize_backward",
]


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


class _Affine(NamedTuple):
    """What a fused norm's backward kernels compute, for their VJPs written in primitives: x standardized over
    `dims` by its own statistics, or (batch norm in eval) by the running mean and variance (`running`), then
    times a weight that is per channel (`channels`: batch norm's (C,)) or of the trailing dims' shape."""

    dims: tuple[int, ...]
    eps: float
    channels: bool
    running: tuple[torch.Tensor, torch.Tensor] | None = None

    def spread(self, t: Any, ndim: int) -> Any:
        """A weight-shaped t, shaped to broadcast against x."""
        return reshape(t, shape=(1, -1) + (1,) * (ndim - 2)) if self.channels else t

    def gather(self, t: Any, shape: Sequence[int]) -> Any:
        """An x-shaped t summed down to the weight's shape."""
        return sum(t, dim=self.dims) if self.channels else sum_to(t, shape)

    def scale(self, t: Any, weight: Any) -> Any:
        return t if weight is None else mul(t, self.spread(weight, t.ndim))

    def invstd(self, ndim: int) -> torch.Tensor:
        """1 / sqrt(running_var + eps) per channel (eval mode)."""
        assert self.running is not None
        return _per_channel(1 / torch.sqrt(self.running[1] + self.eps), ndim)

    def normalized(self, x: Any) -> Any:
        """x standardized: (x - mean) / sqrt(var + eps)."""
        if self.running is None:
            return standardize(x, dims=self.dims, eps=self.eps)
        return mul(sub(x, _per_channel(self.running[0], x.ndim)), self.invstd(x.ndim))

    def back(self, u: Any, x: Any) -> Any:
        """The VJP of `normalized` at x for u (linear in u, and its own adjoint)."""
        if self.running is None:
            return standardize_backward(u, x, dims=self.dims, eps=self.eps)
        return mul(u, self.invstd(x.ndim))

    def curvature(self, h: Any, ans: Any, u: Any, x: Any) -> Any:
        """The VJP for x of back(u, x) (= ans): zero in eval mode, where the statistics do not depend on x."""
        if self.running is None:
            return _standardize_backward_vjp_x(h, ans, u, x, dims=self.dims, eps=self.eps)
        return _zeros(h, x)


def _channel_dims(x: Any) -> tuple[int, ...]:
    """Batch norm's dims: all but the channels (dim 1)."""
    return (0, *range(2, x.ndim))


def _zeros(h: Any, like: Any) -> Any:
    """Zeros of like's shape: a constant Variable under create_graph (h a Variable)."""
    zeros = torch.zeros(like.shape, dtype=like.dtype, device=like.device)
    return Variable(zeros) if isinstance(h, Variable) else zeros


def _grad_vjps(spec: Callable[[Any, dict[str, Any]], _Affine]) -> tuple[VJP, VJP, VJP]:
    """The VJPs for g, x and weight of a fused norm's gradient number `which` (0: of x, back(g weight, x);
    1: of the weight, the sum of g normalized(x); 2: of the bias, the sum of g), for its cotangent h;
    `spec(x, options)` says which norm."""

    def for_g(h, ans, g, x, weight, *, which, **options):
        s = spec(x, options)
        if which == 0:
            return s.scale(s.back(h, x), weight)
        h = s.spread(h, x.ndim)
        return mul(h, s.normalized(x)) if which == 1 else expand(h, shape=tuple(x.shape))

    def for_x(h, ans, g, x, weight, *, which, **options):
        s = spec(x, options)
        if which == 0:
            return s.curvature(h, ans, s.scale(g, weight), x)
        return s.back(mul(s.spread(h, x.ndim), g), x) if which == 1 else _zeros(h, x)

    def for_weight(h, ans, g, x, weight, *, which, **options):
        s = spec(x, options)
        return s.gather(mul(g, s.back(h, x)), weight.shape) if which == 0 else _zeros(h, weight)

    return for_g, for_x, for_weight


_GRAD_SAVES = {"g": "x weight", "x": "g x weight ans", "weight": "g x"}


def _mask(which: int) -> list[bool]:
    return [i == which for i in range(3)]


# --- the fused norms: torch's forward kernel, its backward kernel, and that kernel's VJPs in primitives -----------
@primitive(saves=_GRAD_SAVES)
def layer_norm_backward(g, x, weight, *, which, dims, eps, mean, rstd):
    """One of layer_norm's gradients (`which`: 0 of x, 1 of the weight, 2 of the bias) by torch's backward kernel
    (native_layer_norm_backward), from the saved statistics: what torch computes under create_graph too."""
    shape = x.shape[dims[0] :]
    bias = torch.empty(shape, dtype=x.dtype, device=x.device) if which == 2 else None  # (sizes its gradient only)
    return torch.ops.aten.native_layer_norm_backward(g, x, shape, mean, rstd, weight, bias, _mask(which))[which]


@primitive(saves=_GRAD_SAVES)
def batch_norm_backward(g, x, weight, *, which, training, eps, running_mean, running_var, save_mean, save_invstd):
    """One of batch_norm's gradients (`which`: 0 of x, 1 of the weight, 2 of the bias) by torch's backward kernel
    (native_batch_norm_backward), from the batch's saved statistics in training, else the running ones."""
    stats = (running_mean, running_var, save_mean, save_invstd)
    return torch.ops.aten.native_batch_norm_backward(g, x, weight, *stats, training, eps, _mask(which))[which]


layer_norm_backward.defvjp(*_grad_vjps(lambda x, o: _Affine(tuple(o["dims"]), o["eps"], channels=False)))
batch_norm_backward.defvjp(
    *_grad_vjps(
        lambda x, o: _Affine(
            _channel_dims(x), o["eps"], True, None if o["training"] else (o["running_mean"], o["running_var"])
        )
    )
)


def _fused_grads(g: Any, x: Any, weight: Any, bias: Any, grad: Callable[..., Any], kernel: Callable[..., Any]) -> Any:
    """The gradients of x, weight and bias (None for an absent one) of a fused norm: on tensors, torch's one
    backward kernel for the three (`kernel(mask)`); under create_graph, each recorded by `grad(which)`: for
    layer and batch norm that kernel in a primitive whose VJPs are written in primitives, so that the values
    are torch's there too (torch runs the same kernel under create_graph)."""
    given = [True, weight is not None, bias is not None]
    if not isinstance(g, Variable):
        return kernel(given)
    return tuple(grad(which) if wanted else None for which, wanted in enumerate(given))


@primitive(saves="x weight bias", residuals="mean rstd")
def layer_norm(x, weight, bias, *, dims, eps):
    """layer norm over the trailing `dims` in one kernel (torch.native_layer_norm): standardize(x) * weight +
    bias, either of them None to skip it, without the normalized values as an intermediate kept for
    backward; the mean and inverse standard deviation are residuals for the fused backward."""
    return torch.native_layer_norm(x, x.shape[dims[0] :], weight, bias, eps)


def _layer_norm_vjp(g, ans, x, weight, bias, *, dims, eps, mean, rstd):
    """torch's one backward kernel for the three gradients, from the saved statistics (see `_fused_grads`)."""
    shape = x.shape[dims[0] :]
    return _fused_grads(
        g,
        x,
        weight,
        bias,
        lambda which: layer_norm_backward(g, x, weight, which=which, dims=dims, eps=eps, mean=mean, rstd=rstd),
        lambda mask: torch.ops.aten.native_layer_norm_backward(g, x, shape, mean, rstd, weight, bias, mask),
    )


layer_norm.defvjp_joint(_layer_norm_vjp, wrt="x weight bias")


@primitive(saves="x weight running_mean running_var", residuals="save_mean save_invstd")
def batch_norm(x, weight, bias, running_mean, running_var, *, training, momentum, eps):
    """batch norm of (N, C, *) per channel in torch's one kernel (torch.native_batch_norm): in training, with
    the batch's statistics (kept as residuals for the fused backward), updating the running ones in place
    if given; else with the running ones. weight and bias (C,) may be None; the running statistics are
    never differentiated."""
    return torch.native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)


def _batch_norm_vjp(
    g, ans, x, weight, bias, running_mean, running_var, *, training, momentum, eps, save_mean, save_invstd
):
    """torch's one backward kernel for the three gradients (see `_fused_grads`); none for the running statistics."""
    stats = {"running_mean": running_mean, "running_var": running_var, "save_mean": save_mean}
    grads = _fused_grads(
        g,
        x,
        weight,
        bias,
        lambda which: batch_norm_backward(
            g, x, weight, which=which, training=training, eps=eps, save_invstd=save_invstd, **stats
        ),
        lambda mask: torch.ops.aten.native_batch_norm_backward(
            g, x, weight, *stats.values(), save_invstd, training, eps, mask
        ),
    )
    return (*grads, None, None)


batch_norm.defvjp_joint(_batch_norm_vjp, wrt="x weight bias")


def _group_norm_sizes(x: Any, groups: int) -> tuple[int, int, int, int]:
    """N, C, HxW and the groups, as torch's group-norm kernels take them."""
    return x.shape[0], x.shape[1], math.prod(x.shape[2:]), groups


@primitive(saves="x weight", residuals="mean rstd")
def group_norm(x, weight, bias, *, groups, eps):
    """group norm of (N, C, *) in one kernel (torch.native_group_norm): each of `groups` groups of consecutive
    channels standardized over its channels and the other dims, then times weight (C,) plus bias (C,), either
    None to skip it; the mean and inverse standard deviation (N, groups) are residuals for the fused backward."""
    return torch.native_group_norm(x, weight, bias, *_group_norm_sizes(x, groups), eps)


def _group_norm_grad(g: Any, x: Any, weight: Any, which: int, groups: int, eps: float) -> Any:
    """group_norm's gradient `which` (0 of x, 1 of the weight, 2 of the bias) in primitives: x standardized as
    (N, groups, -1) rows, as layer norm; torch too computes these (under create_graph) from a composite."""
    spec, channels = _Affine(_channel_dims(x), eps, channels=True), (x.shape[1],)
    if which == 2:
        return spec.gather(g, channels)
    rows = (x.shape[0], groups, -1)
    x_rows = reshape(x, shape=rows)
    if which == 1:
        y = reshape(standardize(x_rows, dims=(2,), eps=eps), shape=tuple(x.shape))
        return spec.gather(mul(g, y), channels)
    u = reshape(spec.scale(g, weight), shape=rows)
    return reshape(standardize_backward(u, x_rows, dims=(2,), eps=eps), shape=tuple(x.shape))


def _weight_for_kernel(x: torch.Tensor, weight: Any, bias: Any) -> Any:
    """The weight for torch's group-norm backward kernel: ones for a bias without a weight (where torch's own
    backward fails sizing the bias gradient; times 1 changes no bit of the others), else the weight (or None)."""
    if weight is None and bias is not None:
        return torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    return weight


def _group_norm_vjp(g, ans, x, weight, bias, *, groups, eps, mean, rstd):
    """torch's one backward kernel for the three gradients, from the saved statistics; under create_graph, in
    primitives (see `_fused_grads`)."""
    sizes = _group_norm_sizes(x, groups)
    return _fused_grads(
        g,
        x,
        weight,
        bias,
        lambda which: _group_norm_grad(g, x, weight, which, groups, eps),
        lambda mask: torch.ops.aten.native_group_norm_backward(
            g.contiguous(), x.contiguous(), mean, rstd, _weight_for_kernel(x, weight, bias), *sizes, mask
        ),
    )


group_norm.defvjp_joint(_group_norm_vjp, wrt="x weight bias")
