"""Elementwise functions with torch's names and signatures: arithmetic, trigonometric and special
functions, rounding, remainders, clamping, activations, comparisons and other boolean tests.

Most are one primitive of `ops.elementwise` (torch's kernel forward, torch's derivative) under torch's
signature; the rest compose primitives. Boolean and integer tests (comparisons, isnan, bitwise ops)
run on the values and return plain tensors, never differentiated. The stable formulations keep values
and gradients finite for large inputs (no inf * 0 in any branch that is discarded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .. import ops
from ..dispatch import HANDLED, implements
from ..ops import where
from ..primitive import Primitive
from ..variable import Variable, unwrap
from .indexing import in_place_method

__all__ = [
    "abs",
    "acos",
    "acosh",
    "add",
    "addcdiv",
    "addcmul",
    "allclose",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bitwise_and",
    "bitwise_left_shift",
    "bitwise_not",
    "bitwise_or",
    "bitwise_right_shift",
    "bitwise_xor",
    "ceil",
    "clamp",
    "clamp_max",
    "clamp_min",
    "copysign",
    "cos",
    "cosh",
    "deg2rad",
    "digamma",
    "entr",
    "div",
    "eq",
    "equal",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp",
    "exp2",
    "expm1",
    "float_power",
    "floor",
    "floor_divide",
    "fmax",
    "fmin",
    "fmod",
    "frac",
    "gcd",
    "ge",
    "gt",
    "heaviside",
    "hypot",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "isclose",
    "isfinite",
    "isin",
    "isinf",
    "isnan",
    "isneginf",
    "isposinf",
    "isreal",
    "lcm",
    "ldexp",
    "le",
    "lerp",
    "lgamma",
    "log",
    "log10",
    "log1p",
    "log2",
    "log_ndtr",
    "logaddexp",
    "logaddexp2",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logit",
    "lt",
    "maximum",
    "minimum",
    "mul",
    "nan_to_num",
    "ndtr",
    "ndtri",
    "mvlgamma",
    "ne",
    "neg",
    "polygamma",
    "positive",
    "pow",
    "rad2deg",
    "reciprocal",
    "relu",
    "remainder",
    "round",
    "rsqrt",
    "rsub",
    "sigmoid",
    "sign",
    "signbit",
    "sin",
    "sinc",
    "sinh",
    "softplus",
    "sqrt",
    "square",
    "sub",
    "tan",
    "tanh",
    "threshold",
    "trunc",
    "xlog1py",
    "xlogy",
]


def _rule(prim: Primitive, *torch_functions: Callable[..., Any]) -> Callable[..., Any]:
    """`prim` under torch's signature, `f(input)` or `f(input, other)`, registered for `torch_functions`."""
    if len(prim.inputs or ()) == 1:

        def fn(input: Any) -> Any:  # noqa: A002
            return prim(input)

    else:

        def fn(input: Any, other: Any) -> Any:  # type: ignore[misc]  # noqa: A002
            return prim(input, other)

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = prim.doc
    return implements(*torch_functions)(fn)


T = torch.Tensor
exp = _rule(ops.exp, torch.exp, T.exp)
log = _rule(ops.log, torch.log, T.log)
neg = _rule(ops.neg, torch.neg, torch.negative, T.neg, T.negative)
sin = _rule(ops.sin, torch.sin, T.sin)
cos = _rule(ops.cos, torch.cos, T.cos)
tan = _rule(ops.tan, torch.tan, T.tan)
asin = _rule(ops.asin, torch.asin, torch.arcsin, T.asin, T.arcsin)
acos = _rule(ops.acos, torch.acos, torch.arccos, T.acos, T.arccos)
atan = _rule(ops.atan, torch.atan, torch.arctan, T.atan, T.arctan)
sinh = _rule(ops.sinh, torch.sinh, T.sinh)
cosh = _rule(ops.cosh, torch.cosh, T.cosh)
asinh = _rule(ops.asinh, torch.asinh, torch.arcsinh, T.asinh, T.arcsinh)
acosh = _rule(ops.acosh, torch.acosh, torch.arccosh, T.acosh, T.arccosh)
atanh = _rule(ops.atanh, torch.atanh, torch.arctanh, T.atanh, T.arctanh)
sinc = _rule(ops.sinc, torch.sinc, torch.special.sinc, T.sinc)
log2 = _rule(ops.log2, torch.log2, T.log2)
log10 = _rule(ops.log10, torch.log10, T.log10)
log1p = _rule(ops.log1p, torch.log1p, torch.special.log1p, T.log1p)
exp2 = _rule(ops.exp2, torch.exp2, torch.special.exp2, T.exp2)
expm1 = _rule(ops.expm1, torch.expm1, torch.special.expm1, T.expm1)
rsqrt = _rule(ops.rsqrt, torch.rsqrt, T.rsqrt)
reciprocal = _rule(ops.reciprocal, torch.reciprocal, T.reciprocal)
erf = _rule(ops.erf, torch.erf, torch.special.erf, T.erf)
erfc = _rule(ops.erfc, torch.erfc, torch.special.erfc, T.erfc)
erfinv = _rule(ops.erfinv, torch.erfinv, torch.special.erfinv, T.erfinv)
lgamma = _rule(ops.lgamma, torch.lgamma, torch.special.gammaln, T.lgamma)
digamma = _rule(ops.digamma, torch.digamma, torch.special.digamma, torch.special.psi, T.digamma)
erfcx = _rule(ops.erfcx, torch.special.erfcx)
ndtr = _rule(ops.ndtr, torch.special.ndtr)
log_ndtr = _rule(ops.log_ndtr, torch.special.log_ndtr)
ndtri = _rule(ops.ndtri, torch.special.ndtri)
entr = _rule(ops.entr, torch.special.entr)
i0 = _rule(ops.i0, torch.i0, torch.special.i0, T.i0)
i0e = _rule(ops.i0e, torch.special.i0e)
i1 = _rule(ops.i1, torch.special.i1)
i1e = _rule(ops.i1e, torch.special.i1e)
abs = _rule(ops.abs, torch.abs, torch.absolute, T.abs, T.absolute)  # noqa: A001
sign = _rule(ops.sign, torch.sign, torch.sgn, T.sign, T.sgn)  # (sgn: the same for real numbers)
floor = _rule(ops.floor, torch.floor, T.floor)
ceil = _rule(ops.ceil, torch.ceil, T.ceil)
trunc = _rule(ops.trunc, torch.trunc, torch.fix, T.trunc, T.fix)
tanh = _rule(ops.tanh, torch.tanh, T.tanh)
sigmoid = _rule(ops.sigmoid, torch.sigmoid, torch.special.expit, T.sigmoid)  # (ops/activations.py)

maximum = _rule(ops.maximum, torch.maximum, T.maximum)
minimum = _rule(ops.minimum, torch.minimum, T.minimum)
atan2 = _rule(ops.atan2, torch.atan2, torch.arctan2, T.atan2, T.arctan2)
hypot = _rule(ops.hypot, torch.hypot, T.hypot)
logaddexp = _rule(ops.logaddexp, torch.logaddexp, T.logaddexp)
logaddexp2 = _rule(ops.logaddexp2, torch.logaddexp2, T.logaddexp2)
xlogy = _rule(ops.xlogy, torch.xlogy, torch.special.xlogy, T.xlogy)
xlog1py = _rule(ops.xlog1py, torch.special.xlog1py)
fmod = _rule(ops.fmod, torch.fmod, T.fmod)
remainder = _rule(ops.remainder, torch.remainder, T.remainder, T.__mod__)


def _is_one(alpha: Any) -> bool:
    """Whether alpha is torch's default, the int 1: plain x + y (a float 1.0 goes to torch's kernel, which
    refuses it for integer tensors)."""
    return type(alpha) is int and alpha == 1


@implements(torch.add, T.add)
def add(input: Any, other: Any, *, alpha: Any = 1) -> Any:  # noqa: A002
    """input + alpha * other, broadcasting (alpha != 1: torch's fused kernel and its bits)."""
    return ops.add(input, other) if _is_one(alpha) else ops.add(input, other, alpha=alpha)


@implements(torch.sub, torch.subtract, T.sub, T.subtract)
def sub(input: Any, other: Any, *, alpha: Any = 1) -> Any:  # noqa: A002
    """input - alpha * other, broadcasting (alpha != 1: torch's fused kernel and its bits)."""
    return ops.sub(input, other) if _is_one(alpha) else ops.sub(input, other, alpha=alpha)


@implements(torch.rsub)
def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Any:  # noqa: A002
    """other - alpha * input, broadcasting (sub with the sides swapped)."""
    return sub(other, input, alpha=alpha)


@implements(torch.mul, torch.multiply, T.mul, T.multiply)
def mul(input: Any, other: Any) -> Any:  # noqa: A002
    """input * other, broadcasting."""
    return ops.mul(input, other)


@implements(torch.div, torch.divide, torch.true_divide, T.div, T.divide, T.true_divide)
def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Any:  # noqa: A002
    """input / other, broadcasting; with rounding_mode 'trunc' or 'floor', rounded toward zero or down
    (whose derivative is 0, as in torch)."""
    if rounding_mode is None:
        return ops.div(input, other)
    return ops.rounded_div(input, other, rounding_mode=rounding_mode)


@implements(torch.floor_divide, T.floor_divide, T.__floordiv__)
def floor_divide(input: Any, other: Any) -> Any:  # noqa: A002
    """input // other: the quotient rounded down (Python's //). Its derivative is 0 (torch has none, and
    raises in backward)."""
    return ops.rounded_div(input, other, rounding_mode="floor")


@implements(torch.addcmul, T.addcmul)
def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:  # noqa: A002
    """input + value * tensor1 * tensor2, broadcasting."""
    return ops.add(input, ops.mul(ops.mul(tensor1, value) if value != 1 else tensor1, tensor2))


@implements(torch.addcdiv, T.addcdiv)
def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:  # noqa: A002
    """input + value * tensor1 / tensor2, broadcasting."""
    return ops.add(input, ops.div(ops.mul(tensor1, value) if value != 1 else tensor1, tensor2))


@implements(torch.pow, T.pow, T.__pow__)
def pow(input: Any, exponent: Any) -> Any:  # noqa: A001, A002
    """input ** exponent; either may be a number."""
    return ops.pow(input, exponent)


@implements(torch.float_power, T.float_power)
def float_power(input: Any, exponent: Any) -> Any:  # noqa: A002
    """input ** exponent computed in float64, as torch.float_power."""
    return ops.pow(_float64(input), _float64(exponent))


def _float64(x: Any) -> Any:
    return x.to(torch.float64) if hasattr(x, "to") else float(x)


@implements(torch.ldexp, T.ldexp)
def ldexp(input: Any, other: Any) -> Any:  # noqa: A002
    """input * 2 ** other."""
    return ops.mul(input, ops.pow(2.0, other))


@implements(torch.sqrt, T.sqrt)
def sqrt(input: Any) -> Any:  # noqa: A002
    """input ** 0.5."""
    return ops.pow(input, 0.5)


@implements(torch.square, T.square)
def square(input: Any) -> Any:  # noqa: A002
    """input ** 2."""
    return ops.pow(input, 2)


@implements(torch.deg2rad, T.deg2rad)
def deg2rad(input: Any) -> Any:  # noqa: A002
    """Degrees to radians."""
    return ops.mul(input, math.pi / 180)


@implements(torch.rad2deg, T.rad2deg)
def rad2deg(input: Any) -> Any:  # noqa: A002
    """Radians to degrees."""
    return ops.mul(input, 180 / math.pi)


@implements(torch.round, torch.special.round, T.round)
def round(input: Any, *, decimals: int = 0) -> Any:  # noqa: A001, A002
    """Round half to even, to `decimals` decimal places; the derivative is 0."""
    return ops.round(input, decimals=decimals)


@implements(torch.frac, T.frac)
def frac(input: Any) -> Any:  # noqa: A002
    """input - trunc(input): the fractional part, with input's sign; the derivative is 1."""
    if not unwrap(input).is_floating_point():
        return torch.frac(unwrap(input))  # torch's error for integers
    return ops.sub(input, ops.trunc(input))


@implements(torch.copysign, T.copysign)
def copysign(input: Any, other: Any) -> Any:  # noqa: A002
    """|input| with the sign of other; the derivative is +-1 (0 where input is 0), none for other."""
    raw = unwrap(input)
    out = torch.copysign(raw, unwrap(other))
    flip = torch.where(raw == 0, 0.0, out / raw)  # +-1 (NaN where input is NaN)
    return where(raw == 0, out, ops.mul(input, flip))


@implements(torch.positive, T.positive)
def positive(input: Any) -> Any:  # noqa: A002
    """input itself (torch's error for booleans)."""
    if input.dtype == torch.bool:
        return torch.positive(unwrap(input))
    return input


@implements(torch.nan_to_num, T.nan_to_num)
def nan_to_num(
    input: Any,  # noqa: A002
    nan: float = 0.0,
    posinf: float | None = None,
    neginf: float | None = None,
) -> Any:
    """NaN, inf and -inf replaced by numbers (the largest finite ones for infinities by default); the
    derivative is 1 where input is finite, else 0."""
    raw = unwrap(input)
    return where(torch.isfinite(raw), input, torch.nan_to_num(raw, nan, posinf, neginf))


@implements(torch.fmax, T.fmax)
def fmax(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise max that ignores NaN (NaN only where both are); a tie's gradient goes to input."""
    a, b = unwrap(input), unwrap(other)
    return where((a >= b) | b.isnan(), input, other)


@implements(torch.fmin, T.fmin)
def fmin(input: Any, other: Any) -> Any:  # noqa: A002
    """Elementwise min that ignores NaN (NaN only where both are); a tie's gradient goes to input."""
    a, b = unwrap(input), unwrap(other)
    return where((a <= b) | b.isnan(), input, other)


@implements(torch.clamp, torch.clip, T.clamp, T.clip)
def clamp(input: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002
    """input limited to [min, max] (numbers or tensors, broadcasting; one may be None); where min > max the
    result is max. The gradient goes to input where min <= input <= max, to a bound where it is the
    result, as in torch."""
    return ops.clamp(input, min, max)


@implements(torch.clamp_min, T.clamp_min)
def clamp_min(input: Any, min: Any) -> Any:  # noqa: A002
    """clamp(input, min=min)."""
    return ops.clamp(input, min, None)


@implements(torch.clamp_max, T.clamp_max)
def clamp_max(input: Any, max: Any) -> Any:  # noqa: A002
    """clamp(input, max=max)."""
    return ops.clamp(input, None, max)


@implements(torch.lerp, T.lerp)
def lerp(input: Any, end: Any, weight: Any) -> Any:  # noqa: A002
    """input + weight * (end - input), broadcasting; weight may be a number."""
    return ops.lerp(input, end, weight)


@implements(torch.logit, torch.special.logit, T.logit)
def logit(input: Any, eps: float | None = None) -> Any:  # noqa: A002
    """log(p / (1 - p)), p being input clamped to [eps, 1 - eps] when eps is given."""
    return ops.logit(input, eps=eps)


@implements(torch.polygamma, torch.special.polygamma)
def polygamma(n: int, input: Any) -> Any:  # noqa: A002
    """The n-th derivative of digamma."""
    return ops.polygamma(input, n=n)


@implements(T.polygamma)
def _polygamma_method(self: Any, n: int) -> Any:
    return ops.polygamma(self, n=n)


@implements(torch.mvlgamma, torch.special.multigammaln, T.mvlgamma)
def mvlgamma(input: Any, p: int) -> Any:  # noqa: A002
    """log of the multivariate gamma function of dimension p: sum_j lgamma(input - j/2) (j < p) plus
    p (p - 1) / 4 log(pi), computed as torch does."""
    raw = unwrap(input)
    if p < 1 or not raw.is_floating_point():
        return Variable(torch.mvlgamma(raw, p))  # torch's error for p < 1; integers: not differentiated
    shifts = torch.arange(-p * 0.5 + 0.5, 0.5, 0.5, dtype=raw.dtype, device=raw.device)
    terms = ops.lgamma(ops.add(ops.reshape(input, shape=(*raw.shape, 1)), shifts))
    return ops.add(ops.sum(terms, dim=-1), p * (p - 1) * math.log(math.pi) / 4)


@implements(torch.heaviside, T.heaviside)
def heaviside(input: Any, values: Any) -> Any:  # noqa: A002
    """0 where input < 0, 1 where input > 0, `values` where input is 0 (broadcasting). torch has no
    derivative for it (its backward raises); here the result is a constant Variable that does not require
    grad, so nothing flows back through it."""
    return Variable(torch.heaviside(unwrap(input), unwrap(values)))


@implements(torch.relu, torch.Tensor.relu)
def relu(x: Any) -> Any:
    """max(x, 0); the derivative at 0 is 0 and NaN stays NaN (with gradient 1), as in torch."""
    return threshold(x, 0.0, 0.0)


def softplus(x: Any) -> Any:
    """log(1 + e^x) = -log_sigmoid(-x) = max(x, 0) + log1p(e^-|x|) with no threshold: finite for every
    finite x, slope 1/2 at 0 (torch's log_sigmoid kernels, forward and backward)."""
    return ops.neg(ops.log_sigmoid(ops.neg(x)))


def threshold(x: Any, threshold: float, value: float) -> Any:
    """x where x > threshold, else `value` (torch.nn.functional.threshold); NaN passes through."""
    if value > threshold:  # the primitive's output would no longer tell where x > threshold
        return where(unwrap(x) <= threshold, value, x)
    return ops.threshold(x, threshold=threshold, value=value)


def _on_values(*torch_functions: Callable[..., Any]) -> Any:
    """A test or bitwise op that runs torch_functions[0] on the values: a plain (boolean or integer)
    tensor, or a bool, never differentiated; registered for every spelling in `torch_functions`."""
    compute = torch_functions[0]

    def fn(*args: Any, **kwargs: Any) -> Any:
        return compute(*[unwrap(a) for a in args], **{k: unwrap(v) for k, v in kwargs.items()})

    fn.__name__ = fn.__qualname__ = compute.__name__
    fn.__doc__ = f"torch.{compute.__name__} on the values: never differentiated."
    return implements(*torch_functions)(fn)


lt = _on_values(torch.lt, torch.less, T.lt, T.less)
le = _on_values(torch.le, torch.less_equal, T.le, T.less_equal)
gt = _on_values(torch.gt, torch.greater, T.gt, T.greater)
ge = _on_values(torch.ge, torch.greater_equal, T.ge, T.greater_equal)
eq = _on_values(torch.eq, T.eq)
ne = _on_values(torch.ne, torch.not_equal, T.ne, T.not_equal)
equal = _on_values(torch.equal, T.equal)
allclose = _on_values(torch.allclose, T.allclose)
isclose = _on_values(torch.isclose, T.isclose)
isnan = _on_values(torch.isnan, T.isnan)
isinf = _on_values(torch.isinf, T.isinf)
isfinite = _on_values(torch.isfinite, T.isfinite)
isposinf = _on_values(torch.isposinf, T.isposinf)
isneginf = _on_values(torch.isneginf, T.isneginf)
isreal = _on_values(torch.isreal, T.isreal)
isin = _on_values(torch.isin)
signbit = _on_values(torch.signbit, T.signbit)
logical_and = _on_values(torch.logical_and, T.logical_and)
logical_or = _on_values(torch.logical_or, T.logical_or)
logical_xor = _on_values(torch.logical_xor, T.logical_xor)
logical_not = _on_values(torch.logical_not, T.logical_not)
gcd = _on_values(torch.gcd, T.gcd)
lcm = _on_values(torch.lcm, T.lcm)
bitwise_and = _on_values(torch.bitwise_and, T.bitwise_and, T.__and__, T.__rand__)
bitwise_or = _on_values(torch.bitwise_or, T.bitwise_or, T.__or__, T.__ror__)
bitwise_xor = _on_values(torch.bitwise_xor, T.bitwise_xor, T.__xor__, T.__rxor__)
bitwise_not = _on_values(torch.bitwise_not, T.bitwise_not, T.__invert__)
bitwise_left_shift = _on_values(torch.bitwise_left_shift, T.bitwise_left_shift, T.__lshift__)
bitwise_right_shift = _on_values(torch.bitwise_right_shift, T.bitwise_right_shift, T.__rshift__)


# --- in-place methods: torch.Tensor.X_ is X written into the Variable, as torch does it (see in_place)
_IN_PLACE = """add sub subtract mul multiply div divide true_divide pow abs absolute neg negative exp log
sqrt rsqrt square sin cos tan asin arcsin acos arccos atan arctan atan2 arctan2 sinh cosh asinh arcsinh acosh
arccosh atanh arctanh sinc log2 log10 log1p exp2 expm1 reciprocal erf erfc erfinv lgamma digamma polygamma sign
sgn floor ceil trunc fix round frac clamp clip clamp_min clamp_max fmod remainder floor_divide hypot xlogy lerp
logit nan_to_num copysign ldexp deg2rad rad2deg addcmul addcdiv i0 mvlgamma""".split()
for _name in _IN_PLACE:
    implements(getattr(T, f"{_name}_"))(in_place_method(f"{_name}_", HANDLED[getattr(T, _name)]))
