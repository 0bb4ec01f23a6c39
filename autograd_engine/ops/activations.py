"""Primitives: the activations family, on torch's fused kernels (forward on tensors + VJPs in primitives).

Each is a function torch computes in one kernel, forward and backward, where the composite of core
primitives costs two to fifteen times as much (timings in tests/test_ops_activations.py's docstring);
each is tested equal to its composite there. Except for sigmoid's, each VJP is a `*_backward` primitive
on torch's fused backward kernel, linear in the incoming gradient `g`, whose own VJPs are written in
primitives (the curvature below), so gradients of gradients, and of those, are recorded too.

* `sigmoid`: 1 / (1 + e^-x); its VJP g * (1 - y) * y reads only the output.
* `gelu`: x Phi(x) (approximate='none', Phi the normal CDF, through erf) or its tanh approximation.
* `elu`: scale * (x if x > 0 else alpha * (e^(x * input_scale) - 1)), which is elu, selu and celu;
  torch's kernel computes e^t - 1 as expm1, which no composite of exp matches near 0.
* `softplus`, `log_sigmoid`, `hardsigmoid`, `hardswish`, `glu`: torch's kernels, whose bits no composite
  gives (log1p(e^x) inside the threshold, min(x, 0) - log1p(e^-|x|), (x + 3) clamped / 6, ...).
* `silu`: x sigmoid(x), and `mish`: x tanh(softplus(x)); torch's kernels round differently from any
  composite of torch's ops (x / (1 + e^-x), x tanh(log1p(e^x)) in vectorized loops), so only these
  primitives give torch's bits, forward and backward.
* `softmax`, `log_softmax` over one dim.

The curvatures of the `*_backward` primitives are torch's double-backward formulas (derivatives.yaml,
FunctionsManual.cpp) in the same order of operations, with torch's conventions at kinks (elu's and
softplus's second derivative is 0 at the kink, hardswish's 0 at +-3), so second derivatives are
torch's bits too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as tnf

from ..primitive import primitive
from .core import cat, exp, getitem, sum, where

__all__ = [
    "elu",
    "elu_backward",
    "gelu",
    "gelu_backward",
    "glu",
    "glu_backward",
    "hardsigmoid",
    "hardsigmoid_backward",
    "hardswish",
    "hardswish_backward",
    "log_sigmoid",
    "log_sigmoid_backward",
    "log_softmax",
    "log_softmax_backward",
    "mish",
    "mish_backward",
    "sigmoid",
    "silu",
    "silu_backward",
    "softmax",
    "softmax_backward",
    "softplus",
    "softplus_backward",
]


# --- sigmoid --------------------------------------------------------------------------------------
@primitive(saves="ans")
def sigmoid(x):
    """1 / (1 + e^-x) (torch.sigmoid's kernel: no overflow for any x)."""
    return torch.sigmoid(x)


sigmoid.defvjp(lambda g, ans, x: g * (1.0 - ans) * ans)


# --- gelu -----------------------------------------------------------------------------------------
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715  # the tanh approximation's x^3 coefficient, as torch's kernel has it


@primitive(saves="x")
def gelu(x, *, approximate="none"):
    """x Phi(x), Phi the standard normal CDF ('none', via erf), or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
    x^3))) ('tanh'), as torch.nn.functional.gelu."""
    return tnf.gelu(x, approximate=approximate)


@primitive(saves={"g": "x", "x": "g x"})
def gelu_backward(g, x, *, approximate="none"):
    """g * gelu'(x): the VJP of gelu, torch's fused kernel; linear in g."""
    return torch.ops.aten.gelu_backward(g, x, approximate=approximate)


def _gelu_curvature(x: Any, approximate: str) -> Any:
    """gelu''(x), in primitives: phi(x) (2 - x^2) for 'none' (phi the normal density), and for 'tanh',
    with u = k (x + c x^3) and t = tanh u = 2 sigmoid(2u) - 1: (1 - t^2) (u' + x (u'' - 2 t u'^2) / 2)."""
    square = x * x
    if approximate == "none":
        return exp(square * -0.5) * (1.0 / math.sqrt(2.0 * math.pi)) * (2.0 - square)
    du = (square * (3.0 * _TANH_CUBIC) + 1.0) * _SQRT_2_OVER_PI
    s = sigmoid((x + square * x * _TANH_CUBIC) * (2.0 * _SQRT_2_OVER_PI))  # tanh u = 2s - 1, 1 - tanh^2 u = 4s(1 - s)
    t = s * 2.0 - 1.0
    ddu = x * (6.0 * _TANH_CUBIC * _SQRT_2_OVER_PI)
    return s * (1.0 - s) * 4.0 * (du + x * (ddu - t * du * du * 2.0) * 0.5)


gelu.defvjp(lambda g, ans, x, *, approximate="none": gelu_backward(g, x, approximate=approximate))
gelu_backward.defvjp(
    lambda h, ans, g, x, *, approximate="none": gelu_backward(h, x, approximate=approximate),
    lambda h, ans, g, x, *, approximate="none": h * g * _gelu_curvature(x, approximate),
)


# --- elu, selu, celu ------------------------------------------------------------------------------
def _below(x: Any, bound: float) -> Any:
    """1.0 where x < bound, else 0.0, a constant in x's dtype: torch's `(x < bound).type_as(grad)` mask,
    multiplied in (not `where`) as torch does, so a NaN or inf factor stays NaN as in torch."""
    return (x < bound).to(x.dtype)


@primitive(saves="x")
def elu(x, *, alpha=1.0, scale=1.0, input_scale=1.0, backward_input_scale=None):
    """scale * x where x > 0, else scale * alpha * (e^(x * input_scale) - 1) (torch's elu kernel, with
    expm1): elu is scale = input_scale = 1, selu torch's two constants, celu input_scale = 1 / alpha.
    `backward_input_scale` is the input_scale torch's backward uses where it differs (celu's: 1 over
    alpha rounded to float32, as torch's derivatives.yaml has it); input_scale when None."""
    return torch.ops.aten.elu(x, alpha, scale, input_scale)


@primitive(saves={"g": "x", "x": "g x"})
def elu_backward(g, x, *, alpha=1.0, scale=1.0, input_scale=1.0):
    """g * elu'(x): the VJP of elu, torch's fused kernel (at 0 the slope of the negative side, as torch)."""
    return torch.ops.aten.elu_backward(g, alpha, scale, input_scale, False, x)


def _elu_vjp(g: Any, ans: Any, x: Any, *, input_scale: float = 1.0, backward_input_scale: Any = None, **kw: Any) -> Any:
    """elu_backward with the input_scale torch's backward takes."""
    scale = input_scale if backward_input_scale is None else backward_input_scale
    return elu_backward(g, x, input_scale=scale, **kw)


def _elu_double_backward(h: Any, ans: Any, g: Any, x: Any, *, input_scale: float = 1.0, **params: Any) -> Any:
    """torch's elu_double_backward: elu_backward(h g input_scale, x) where x < 0, else 0 (also at the kink)."""
    return elu_backward(h * g * input_scale, x, input_scale=input_scale, **params) * _below(x, 0.0)


elu.defvjp(_elu_vjp)
elu_backward.defvjp(lambda h, ans, g, x, **params: elu_backward(h, x, **params), _elu_double_backward)


# --- silu, mish -----------------------------------------------------------------------------------
@primitive(saves="x")
def silu(x):
    """x sigmoid(x) (swish), as torch.nn.functional.silu."""
    return tnf.silu(x)


@primitive(saves={"g": "x", "x": "g x"})
def silu_backward(g, x):
    """g * silu'(x) = g s (1 + x (1 - s)), s = sigmoid(x): the VJP of silu, torch's fused kernel; linear in g."""
    return torch.ops.aten.silu_backward(g, x)


def _silu_curvature(x: Any) -> Any:
    """silu''(x) = s u (2 + x (u - s)) in primitives, with s = sigmoid(x) and u = 1 - s = sigmoid(-x)."""
    s, u = sigmoid(x), sigmoid(-x)
    return s * u * (x * (u - s) + 2.0)


silu.defvjp(lambda g, ans, x: silu_backward(g, x))
silu_backward.defvjp(
    lambda h, ans, g, x: silu_backward(h, x),
    lambda h, ans, g, x: h * g * _silu_curvature(x),
)


@primitive(saves="x")
def mish(x):
    """x tanh(softplus(x)), as torch.nn.functional.mish."""
    return tnf.mish(x)


@primitive(saves={"g": "x", "x": "g x"})
def mish_backward(g, x):
    """g * mish'(x) = g (t + x s (1 - t^2)), t = tanh(softplus(x)), s = sigmoid(x): the VJP of mish,
    torch's fused kernel; linear in g."""
    return torch.ops.aten.mish_backward(g, x)


def _mish_curvature(x: Any) -> Any:
    """mish''(x) = (1 - t^2) s (2 + x u - 2 x t s) in primitives, with s = sigmoid(x), u = 1 - s =
    sigmoid(-x) and t = tanh(softplus(x)) = (1 - u^2) / (1 + u^2) (e^softplus(x) = 1 / u: no overflow)."""
    s, u = sigmoid(x), sigmoid(-x)
    q = u * u
    t = (1.0 - q) / (q + 1.0)
    one_minus_t2 = q * 4.0 / ((q + 1.0) * (q + 1.0))
    return one_minus_t2 * s * (x * u - x * t * s * 2.0 + 2.0)


mish.defvjp(lambda g, ans, x: mish_backward(g, x))
mish_backward.defvjp(
    lambda h, ans, g, x: mish_backward(h, x),
    lambda h, ans, g, x: h * g * _mish_curvature(x),
)


# --- softplus, log_sigmoid ------------------------------------------------------------------------
@primitive(saves="x")
def softplus(x, *, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold (torch's softplus kernel)."""
    return tnf.softplus(x, beta, threshold)


@primitive(saves={"g": "x", "x": "g x"})
def softplus_backward(g, x, *, beta=1.0, threshold=20.0):
    """g * softplus'(x) = g sigmoid(beta x), g where beta x > threshold: the VJP of softplus, torch's fused
    kernel; linear in g."""
    return torch.ops.aten.softplus_backward(g, x, beta, threshold)


def _softplus_double_backward(h: Any, ans: Any, g: Any, x: Any, *, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """torch's softplus_double_backward: h g s (1 - s) beta, s = sigmoid(beta x), where beta x < threshold
    (0 from the threshold on, the kink included)."""
    z = x * beta
    s = sigmoid(z)
    return h * g * (1.0 - s) * s * _below(z, threshold) * beta


softplus.defvjp(lambda g, ans, x, **params: softplus_backward(g, x, **params))
softplus_backward.defvjp(lambda h, ans, g, x, **params: softplus_backward(h, x, **params), _softplus_double_backward)


@primitive(saves="x", residuals="buffer")
def log_sigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|) (torch's kernel: finite for every finite x). Its
    residual `buffer` is what torch's backward kernel reads (e^-|x| on the CPU, empty on CUDA)."""
    return torch.ops.aten.log_sigmoid_forward(x)


@primitive(saves={"g": "x", "x": "g x"})
def log_sigmoid_backward(g, x, *, buffer):
    """g * log_sigmoid'(x) = g sigmoid(-x): the VJP of log_sigmoid, torch's fused kernel; linear in g."""
    return torch.ops.aten.log_sigmoid_backward(g, x, buffer)


def _log_sigmoid_double_backward(h: Any, ans: Any, g: Any, x: Any, *, buffer: Any) -> Any:
    """torch's log_sigmoid_double_backward: h g (z - 1) z, z = sigmoid(x)."""
    z = sigmoid(x)
    return h * g * (z - 1.0) * z


log_sigmoid.defvjp(lambda g, ans, x, *, buffer: log_sigmoid_backward(g, x, buffer=buffer))
log_sigmoid_backward.defvjp(
    lambda h, ans, g, x, *, buffer: log_sigmoid_backward(h, x, buffer=buffer), _log_sigmoid_double_backward
)


# --- hardsigmoid, hardswish -----------------------------------------------------------------------
@primitive(saves="x")
def hardsigmoid(x):
    """min(max(x + 3, 0), 6) / 6 (torch's kernel)."""
    return tnf.hardsigmoid(x)


@primitive(saves="x")
def hardsigmoid_backward(g, x):
    """g / 6 strictly inside (-3, 3), else 0: the VJP of hardsigmoid, torch's kernel; linear in g and flat
    in x (torch has no derivative of it in x and raises; here it is 0, which it is almost everywhere)."""
    return torch.ops.aten.hardsigmoid_backward(g, x)


hardsigmoid.defvjp(lambda g, ans, x: hardsigmoid_backward(g, x))
hardsigmoid_backward.defvjp(lambda h, ans, g, x: hardsigmoid_backward(h, x), None)


@primitive(saves="x")
def hardswish(x):
    """x min(max(x + 3, 0), 6) / 6 (torch's kernel)."""
    return tnf.hardswish(x)


@primitive(saves={"g": "x", "x": "g x"})
def hardswish_backward(g, x):
    """g * hardswish'(x): 0 below -3, x / 3 + 1/2 up to 3 (both kinks included), 1 above (torch's kernel);
    linear in g."""
    return torch.ops.aten.hardswish_backward(g, x)


hardswish.defvjp(lambda g, ans, x: hardswish_backward(g, x))
hardswish_backward.defvjp(
    lambda h, ans, g, x: hardswish_backward(h, x),
    lambda h, ans, g, x: where((x > -3.0) & (x < 3.0), h * g / 3.0, 0.0),  # torch's: 0 at the kinks
)


# --- glu ------------------------------------------------------------------------------------------
@primitive(saves="x")
def glu(x, *, dim):
    """a sigmoid(b), a and b the first and second halves of x along `dim` (torch's kernel)."""
    return tnf.glu(x, dim)


@primitive(saves={"g": "x", "x": "g x"})
def glu_backward(g, x, *, dim):
    """The VJP of glu: the halves g sigmoid(b) and g a sigmoid'(b) joined along `dim`, torch's kernel;
    linear in g."""
    return torch.ops.aten.glu_backward(g, x, dim)


def _halves(t: Any, dim: int) -> tuple[Any, Any]:
    """t's first and second halves along `dim`."""
    half, lead = t.shape[dim] // 2, (slice(None),) * dim
    return getitem(t, index=(*lead, slice(0, half))), getitem(t, index=(*lead, slice(half, None)))


def _glu_double_backward_g(h: Any, ans: Any, g: Any, x: Any, *, dim: int) -> Any:
    """torch's glu_double_backward_grad_output: the two halves of h glu_backward(1, x) added."""
    ones = torch.ones(g.shape, dtype=g.dtype, device=g.device)
    first, second = _halves(h * glu_backward(ones, x, dim=dim), dim)
    return first + second


def _glu_double_backward_x(h: Any, ans: Any, g: Any, x: Any, *, dim: int) -> Any:
    """torch's glu_double_backward, in its order of operations."""
    a, b = _halves(x, dim)
    h_a, h_b = _halves(h, dim)
    s = sigmoid(b)
    u = 1.0 - s
    su = s * u
    grad_a = h_b * g * su
    grad_b = h_b * a * g * (su * u - s * su) + h_a * g * su
    return cat(grad_a, grad_b, dim=dim)


glu.defvjp(lambda g, ans, x, *, dim: glu_backward(g, x, dim=dim))
glu_backward.defvjp(_glu_double_backward_g, _glu_double_backward_x)


# --- softmax, log_softmax -------------------------------------------------------------------------
@primitive(saves="ans")
def softmax(x, *, dim):
    """e^x / sum(e^x) over `dim` (torch's kernel, shifted by the max: no overflow)."""
    return torch.softmax(x, dim)


@primitive(saves={"g": "y", "y": "g y"})
def softmax_backward(g, y, *, dim):
    """y * (g - sum(g * y)) over `dim`: the VJP of softmax with output y, torch's fused kernel; linear in g,
    and self-adjoint in it (softmax's Jacobian is symmetric)."""
    return torch.ops.aten._softmax_backward_data(g, y, dim, y.dtype)


softmax.defvjp(lambda g, ans, x, *, dim: softmax_backward(g, ans, dim=dim))
softmax_backward.defvjp(
    lambda h, ans, g, y, *, dim: softmax_backward(h, y, dim=dim),
    lambda h, ans, g, y, *, dim: h * (g - sum(g * y, dim=dim, keepdim=True)) - g * sum(h * y, dim=dim, keepdim=True),
)


@primitive(saves="ans")
def log_softmax(x, *, dim):
    """x - log(sum(e^x)) over `dim` (torch's kernel, shifted by the max: no overflow)."""
    return torch.log_softmax(x, dim)


@primitive(saves={"g": "y", "y": "g y"})
def log_softmax_backward(g, y, *, dim):
    """g - e^y * sum(g) over `dim`: the VJP of log_softmax with output y, torch's fused kernel; linear in g."""
    return torch.ops.aten._log_softmax_backward_data(g, y, dim, y.dtype)


log_softmax.defvjp(lambda g, ans, x, *, dim: log_softmax_backward(g, ans, dim=dim))
log_softmax_backward.defvjp(
    lambda h, ans, g, y, *, dim: h - sum(h * exp(y), dim=dim, keepdim=True),
    lambda h, ans, g, y, *, dim: -(h * exp(y) * sum(g, dim=dim, keepdim=True)),
)
