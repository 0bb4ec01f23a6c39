"""Primitives: the elementwise family (forward on tensors + VJPs written in primitives).

Each forward is torch's own kernel, so values are torch's to the bit; each VJP is torch's formula
(tools/autograd/derivatives.yaml), down to its choices at kinks, zeros and NaN. Piecewise-constant
functions (sign, floor, round, division with a rounding mode...) have a zero gradient, as in torch.
Masks that pick a formula per element are computed from values and are constants of the VJP.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..primitive import primitive
from ..variable import Variable, lift, unwrap
from .core import exp, log, pow, unbroadcast, where

__all__ = [
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "clamp",
    "cos",
    "cosh",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp2",
    "expm1",
    "floor",
    "fmod",
    "hypot",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "lerp",
    "lgamma",
    "log10",
    "log1p",
    "log2",
    "log_ndtr",
    "logaddexp",
    "logaddexp2",
    "logit",
    "ndtr",
    "ndtri",
    "polygamma",
    "reciprocal",
    "remainder",
    "round",
    "rounded_div",
    "rsqrt",
    "sign",
    "sin",
    "sinc",
    "sinh",
    "tan",
    "tanh",
    "tanh_backward",
    "trunc",
    "xlog1py",
    "xlogy",
    "zeros_for",
]

_LN2 = math.log(2.0)
_LN10 = 2.3025850929940456  # torch's literal in derivatives.yaml (math.log(10.0) is one ulp above)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)
_INV_SQRT_2PI = 1 / _SQRT_2PI


def zeros_for(g: Any, x: Any) -> Any:
    """A zero gradient of x's shape in g's dtype and device: the VJP of a piecewise-constant function
    (a constant Variable when g is one, so it also serves under create_graph)."""
    raw = unwrap(g)
    zeros = torch.zeros_like(raw) if raw.shape == x.shape else raw.new_zeros(x.shape)
    return lift(zeros, isinstance(g, Variable))


# --- trigonometric and hyperbolic -----------------------------------------------------------------
@primitive(saves="x")
def sin(x):
    """sin x."""
    return torch.sin(x)


@primitive(saves="x")
def cos(x):
    """cos x."""
    return torch.cos(x)


sin.defvjp(lambda g, ans, x: g * cos(x))
cos.defvjp(lambda g, ans, x: g * -sin(x))


@primitive(saves="ans")
def tan(x):
    """tan x."""
    return torch.tan(x)


tan.defvjp(lambda g, ans, x: g * (1 + ans * ans))


@primitive(saves="x")
def asin(x):
    """arcsin x."""
    return torch.asin(x)


asin.defvjp(lambda g, ans, x: g * rsqrt(1 - x * x))


@primitive(saves="x")
def acos(x):
    """arccos x."""
    return torch.acos(x)


acos.defvjp(lambda g, ans, x: g * -rsqrt(1 - x * x))


@primitive(saves="x")
def atan(x):
    """arctan x."""
    return torch.atan(x)


atan.defvjp(lambda g, ans, x: g / (x * x + 1))


@primitive(saves="x y")
def atan2(x, y):
    """arctan(x / y) in the quadrant of the point (y, x): torch.atan2(input=x, other=y), broadcasting."""
    return torch.atan2(x, y)


def _atan2_scale(x: Any, y: Any) -> Any:
    """1 / (x^2 + y^2), and 0 where that is 1/0 (torch's gradient of atan2 at the origin is 0)."""
    norm = x * x + y * y
    return where(norm == 0, 0.0, reciprocal(norm))


def _atan2_vjp(g, ans, x, y):
    """torch's atan2_backward: one 1 / (x^2 + y^2) shared by both gradients, so that their derivatives
    meet there and add up in torch's order (second order: torch's bits)."""
    scale = _atan2_scale(x, y)
    return unbroadcast(g * y * scale, x), unbroadcast(g * -x * scale, y)


atan2.defvjp_joint(_atan2_vjp, wrt="x y")


@primitive(saves="x")
def sinh(x):
    """sinh x."""
    return torch.sinh(x)


@primitive(saves="x")
def cosh(x):
    """cosh x."""
    return torch.cosh(x)


sinh.defvjp(lambda g, ans, x: g * cosh(x))
cosh.defvjp(lambda g, ans, x: g * sinh(x))


@primitive(saves="x")
def asinh(x):
    """arsinh x."""
    return torch.asinh(x)


asinh.defvjp(lambda g, ans, x: g * rsqrt(x * x + 1))


@primitive(saves="x")
def acosh(x):
    """arcosh x."""
    return torch.acosh(x)


acosh.defvjp(lambda g, ans, x: g * rsqrt(x * x - 1))


@primitive(saves="x")
def atanh(x):
    """artanh x."""
    return torch.atanh(x)


atanh.defvjp(lambda g, ans, x: g / (1 - x * x))


@primitive(saves="ans")
def tanh(x):
    """tanh x."""
    return torch.tanh(x)


@primitive(saves={"g": "y", "y": "g y"})
def tanh_backward(g, y):
    """g * (1 - y^2): the VJP of tanh with output y, torch's kernel, which rounds 1 - y^2 once (a fused
    multiply-add) where the composite rounds y^2 first; linear in g."""
    return torch.ops.aten.tanh_backward(g, y)


tanh.defvjp(lambda g, ans, x: tanh_backward(g, ans))
tanh_backward.defvjp(
    lambda h, ans, g, y: tanh_backward(h, y),
    lambda h, ans, g, y: h * g * y * -2.0,
)


@primitive(saves="x")
def sinc(x):
    """sin(pi x) / (pi x), 1 at 0."""
    return torch.sinc(x)


def _sinc_vjp(g, ans, x):
    """(pi x cos(pi x) - sin(pi x)) / (pi x^2), and 0 at x = 0 (as torch has it)."""
    px = x * math.pi
    return where(x == 0, 0.0, (px * cos(px) - sin(px)) / (px * x)) * g


sinc.defvjp(_sinc_vjp)


# --- exponentials, logarithms, powers -------------------------------------------------------------
@primitive(saves="x")
def log2(x):
    """Base-2 logarithm."""
    return torch.log2(x)


log2.defvjp(lambda g, ans, x: g / (x * _LN2))


@primitive(saves="x")
def log10(x):
    """Base-10 logarithm."""
    return torch.log10(x)


log10.defvjp(lambda g, ans, x: g / (x * _LN10))


@primitive(saves="x")
def log1p(x):
    """log(1 + x), accurate near 0."""
    return torch.log1p(x)


log1p.defvjp(lambda g, ans, x: g / (x + 1))


@primitive(saves="ans")
def exp2(x):
    """2 ** x."""
    return torch.exp2(x)


exp2.defvjp(lambda g, ans, x: g * ans * _LN2)


@primitive(saves="ans")
def expm1(x):
    """e ** x - 1, accurate near 0."""
    return torch.expm1(x)


expm1.defvjp(lambda g, ans, x: g * (ans + 1))


@primitive(saves="ans")
def rsqrt(x):
    """1 / sqrt(x)."""
    return torch.rsqrt(x)


rsqrt.defvjp(lambda g, ans, x: -0.5 * g * pow(ans, 3))


@primitive(saves="ans")
def reciprocal(x):
    """1 / x."""
    return torch.reciprocal(x)


reciprocal.defvjp(lambda g, ans, x: -g * (ans * ans))


@primitive(saves="x y")
def logaddexp(x, y):
    """log(e^x + e^y), broadcasting, without overflow."""
    return torch.logaddexp(x, y)


logaddexp.defvjp(
    lambda g, ans, x, y: unbroadcast(g / (1 + exp(y - x)), x),
    lambda g, ans, x, y: unbroadcast(g / (1 + exp(x - y)), y),
)


@primitive(saves="x y")
def logaddexp2(x, y):
    """log2(2^x + 2^y), broadcasting, without overflow."""
    return torch.logaddexp2(x, y)


logaddexp2.defvjp(
    lambda g, ans, x, y: unbroadcast(g / (1 + exp2(y - x)), x),
    lambda g, ans, x, y: unbroadcast(g / (1 + exp2(x - y)), y),
)


@primitive(saves="x y")
def xlogy(x, y):
    """x * log(y), and 0 where x is 0 (unless y is NaN), broadcasting; either may be a number."""
    return torch.xlogy(x, y)


xlogy.defvjp(
    lambda g, ans, x, y: unbroadcast(where((x == 0) & (y <= 0), 0.0, xlogy(g, y)), x),
    lambda g, ans, x, y: unbroadcast(g * x / y, y),
)


@primitive(saves="x y")
def xlog1py(x, y):
    """x * log1p(y), and 0 where x is 0 (unless y is NaN), broadcasting; either may be a number."""
    return torch.special.xlog1py(x, y)


xlog1py.defvjp(
    lambda g, ans, x, y: unbroadcast(where((x == 0) & (y <= -1), 0.0, xlog1py(g, y)), x),
    lambda g, ans, x, y: unbroadcast(g * x / (y + 1), y),
)


@primitive(saves="x y ans")
def hypot(x, y):
    """sqrt(x^2 + y^2), broadcasting, without overflow; the gradient at the origin is NaN, as in torch."""
    return torch.hypot(x, y)


hypot.defvjp(
    lambda g, ans, x, y: unbroadcast(g * x / ans, x),
    lambda g, ans, x, y: unbroadcast(g * y / ans, y),
)


# --- special functions ----------------------------------------------------------------------------
@primitive(saves="x")
def erf(x):
    """The error function."""
    return torch.erf(x)


@primitive(saves="x")
def erfc(x):
    """1 - erf(x), accurate for large x."""
    return torch.erfc(x)


erf.defvjp(lambda g, ans, x: exp(-(x * x)) * _TWO_OVER_SQRT_PI * g)
erfc.defvjp(lambda g, ans, x: exp(-(x * x)) * -_TWO_OVER_SQRT_PI * g)


@primitive(saves="ans")
def erfinv(x):
    """The inverse of erf on (-1, 1)."""
    return torch.erfinv(x)


erfinv.defvjp(lambda g, ans, x: exp(ans * ans) * (0.5 * math.sqrt(math.pi)) * g)


@primitive(saves="x ans")
def erfcx(x):
    """e^(x^2) erfc(x), the scaled complementary error function."""
    return torch.special.erfcx(x)


erfcx.defvjp(lambda g, ans, x: (2.0 * x * ans - _TWO_OVER_SQRT_PI) * g)


@primitive(saves="x")
def ndtr(x):
    """The standard normal CDF."""
    return torch.special.ndtr(x)


@primitive(saves="x ans")
def log_ndtr(x):
    """log of the standard normal CDF, accurate in the far left tail."""
    return torch.special.log_ndtr(x)


@primitive(saves="ans")
def ndtri(x):
    """The inverse of the standard normal CDF."""
    return torch.special.ndtri(x)


ndtr.defvjp(lambda g, ans, x: g * exp(x * x * -0.5) * _INV_SQRT_2PI)
log_ndtr.defvjp(lambda g, ans, x: g * _INV_SQRT_2PI * exp(-(ans + x * x / 2)))
ndtri.defvjp(lambda g, ans, x: g * _SQRT_2PI * exp(ans * ans / 2))


@primitive(saves="x")
def entr(x):
    """-x log x (0 at 0, -inf below)."""
    return torch.special.entr(x)


entr.defvjp(lambda g, ans, x: g * -(1 + log(x)))


@primitive(saves="x")
def logit(x, *, eps=None):
    """log(x / (1 - x)), with x first clamped to [eps, 1 - eps] when eps is given."""
    return torch.logit(x, eps)


def _logit_vjp(g, ans, x, *, eps=None):
    """g / (x (1 - x)); outside [0, 1] NaN, or with eps, 0 outside [eps, 1 - eps] (where x was clamped)."""
    low, high = (0.0, 1.0) if eps is None else (eps, 1.0 - eps)
    return where((x < low) | (x > high), math.nan if eps is None else 0.0, g / (x * (1 - x)))


logit.defvjp(_logit_vjp)


@primitive(saves="x")
def i0(x):
    """The modified Bessel function of the first kind of order 0."""
    return torch.special.i0(x)


@primitive(saves="x ans")
def i0e(x):
    """e^-|x| i0(x), the exponentially scaled i0."""
    return torch.special.i0e(x)


@primitive(saves="x ans")
def i1(x):
    """The modified Bessel function of the first kind of order 1."""
    return torch.special.i1(x)


@primitive(saves="x ans")
def i1e(x):
    """e^-|x| i1(x), the exponentially scaled i1."""
    return torch.special.i1e(x)


i0.defvjp(lambda g, ans, x: g * i1(x))
i0e.defvjp(lambda g, ans, x: g * (i1e(x) - sign(x) * ans))
# torch's i1_backward and i1e_backward: the limit 1/2 at 0 (the discarded branch is NaN there, as in torch)
i1.defvjp(lambda g, ans, x: g * where(x == 0, 0.5, i0(x) - ans / x))
i1e.defvjp(lambda g, ans, x: g * where(x == 0, 0.5, i0e(x) - ans * (sign(x) + reciprocal(x))))


@primitive(saves="x")
def lgamma(x):
    """log |Gamma(x)|."""
    return torch.lgamma(x)


@primitive(saves="x")
def digamma(x):
    """d/dx log Gamma(x)."""
    return torch.digamma(x)


@primitive(saves="x")
def polygamma(x, *, n):
    """The n-th derivative of digamma."""
    return torch.polygamma(n, x)


lgamma.defvjp(lambda g, ans, x: g * digamma(x))
digamma.defvjp(lambda g, ans, x: g * polygamma(x, n=1))
polygamma.defvjp(lambda g, ans, x, *, n: g * polygamma(x, n=n + 1))


# --- piecewise: abs, rounding, remainders, clamp, lerp --------------------------------------------
@primitive(saves="x")
def abs(x):  # noqa: A001 (the op's name)
    """|x|; the derivative at 0 (and at NaN) is 0, as in torch."""
    return torch.abs(x)


abs.defvjp(lambda g, ans, x: g * sign(x))


@primitive()
def sign(x):
    """-1, 0 or 1 by the sign of x (0 for NaN); the derivative is 0."""
    return torch.sign(x)


@primitive()
def floor(x):
    """Round down; the derivative is 0 (at the jumps too, as in torch)."""
    return torch.floor(x)


@primitive()
def ceil(x):
    """Round up; the derivative is 0."""
    return torch.ceil(x)


@primitive()
def trunc(x):
    """Round toward zero; the derivative is 0."""
    return torch.trunc(x)


@primitive()
def round(x, *, decimals=0):  # noqa: A001 (the op's name)
    """Round half to even, to `decimals` decimal places; the derivative is 0."""
    return torch.round(x, decimals=decimals) if decimals else torch.round(x)


@primitive()
def rounded_div(x, y, *, rounding_mode):
    """x / y rounded toward zero ('trunc') or down ('floor'), broadcasting; the derivative is 0, as in torch."""
    return torch.div(x, y, rounding_mode=rounding_mode)


for _flat in (sign, floor, ceil, trunc, round):
    _flat.defvjp(lambda g, ans, x, **options: zeros_for(g, x))
rounded_div.defvjp(
    lambda g, ans, x, y, *, rounding_mode: zeros_for(g, x),
    lambda g, ans, x, y, *, rounding_mode: zeros_for(g, y),
)


@primitive(saves={"x": "", "y": "x y"})
def fmod(x, y):
    """The remainder of x / y with x's sign (x - trunc(x / y) y), broadcasting."""
    return torch.fmod(x, y)


@primitive(saves={"x": "", "y": "x y"})
def remainder(x, y):
    """The remainder of x / y with y's sign (x - floor(x / y) y, Python's %), broadcasting."""
    return torch.remainder(x, y)


fmod.defvjp(
    lambda g, ans, x, y: unbroadcast(g, x),
    lambda g, ans, x, y: unbroadcast(-g * rounded_div(x, y, rounding_mode="trunc"), y),
)
remainder.defvjp(
    lambda g, ans, x, y: unbroadcast(g, x),
    lambda g, ans, x, y: unbroadcast(-g * rounded_div(x, y, rounding_mode="floor"), y),
)


@primitive(saves="x min max")
def clamp(x, min, max):  # noqa: A002 (torch's names)
    """x limited to [min, max] (either bound may be None, a number or a tensor), broadcasting; NaN stays
    NaN. Where min > max the result is max. The gradient goes to x where min <= x <= max (not at NaN), to
    a bound where the result is that bound, as in torch."""
    return torch.clamp(x, min, max)


def _clamp_vjp_x(g, ans, x, min, max):  # noqa: A002
    if min is None:
        inside = x <= max
    elif max is None:
        inside = x >= min
    else:
        inside = (x >= min) & (x <= max)
    return unbroadcast(where(inside, g, 0.0), x)


def _clamp_vjp_min(g, ans, x, min, max):  # noqa: A002
    below = x < min if max is None else (x < min) & (min < max)
    return unbroadcast(where(below, g, 0.0), min)


def _clamp_vjp_max(g, ans, x, min, max):  # noqa: A002
    above = x > max if min is None else (x > max) | (max < min)
    return unbroadcast(where(above, g, 0.0), max)


clamp.defvjp(_clamp_vjp_x, _clamp_vjp_min, _clamp_vjp_max)


@primitive(saves={"x": "weight", "end": "weight", "weight": "x end"})
def lerp(x, end, weight):
    """x + weight (end - x), broadcasting; `weight` may be a number (torch's kernel, exact at weight 1)."""
    return torch.lerp(x, end, weight)


lerp.defvjp(
    lambda g, ans, x, end, weight: unbroadcast(g * (1 - weight), x),
    lambda g, ans, x, end, weight: unbroadcast(g * weight, end),
    lambda g, ans, x, end, weight: unbroadcast(g * (end - x), weight),
)
