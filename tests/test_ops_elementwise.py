"""Elementwise ops against torch: values, first and second derivatives (float64), torch's choices at
kinks, zeros, ties and NaN, keyword spellings and aliases, plain results of tests, and torch's errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag

from .oracles import assert_torch_bits, compare_with_torch

torch.manual_seed(0)
NAN, INF = math.nan, math.inf


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def pos(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=torch.float64) + 0.5


def unit(*shape: int) -> torch.Tensor:
    """Values in (-0.9, 0.9): the domain of asin, atanh, erfinv."""
    return torch.rand(*shape, dtype=torch.float64) * 1.8 - 0.9


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def same(fn: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The same torch-style code runs on tensors and on Variables."""
    return fn, fn


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    return (name, *same(fn), list(inputs))


# Each id starts with the primitive it covers; every function is written in the torch spelling.
CASES = [
    case("sin", lambda a: torch.sin(a), r(3, 4)),
    case("sin-method", lambda a: a.sin(), r(5)),
    case("cos", lambda a: torch.cos(a), r(3, 4)),
    case("tan", lambda a: torch.tan(a), unit(3, 4)),
    case("asin", lambda a: torch.arcsin(a), unit(3, 4)),
    case("acos", lambda a: a.acos(), unit(3, 4)),
    case("atan", lambda a: torch.arctan(a), r(3, 4)),
    case("atan2", lambda a, b: torch.atan2(a, b), r(3, 4), r(4)),
    case("atan2-alias", lambda a, b: a.arctan2(b), r(2, 1), r(1, 3)),
    case("sinh", lambda a: torch.sinh(a), r(3, 4)),
    case("cosh", lambda a: a.cosh(), r(3, 4)),
    case("tanh", lambda a: torch.tanh(a), r(3, 4) * 2),
    case("asinh", lambda a: torch.arcsinh(a), r(3, 4)),
    case("acosh", lambda a: torch.acosh(a), pos(3, 4) + 1),
    case("atanh", lambda a: a.arctanh(), unit(3, 4)),
    case("sinc", lambda a: torch.sinc(a), torch.cat([r(6), f64(1.0, -2.0)])),
    case("sinc-special", lambda a: torch.special.sinc(a), r(4)),
    case("log2", lambda a: torch.log2(a), pos(3, 4)),
    case("log10", lambda a: a.log10(), pos(3, 4)),
    case("log1p", lambda a: torch.log1p(a), pos(3, 4) - 0.9),
    case("log1p-special", lambda a: torch.special.log1p(a), pos(4)),
    case("exp2", lambda a: torch.exp2(a), r(3, 4)),
    case("exp2-special", lambda a: torch.special.exp2(a), r(4)),
    case("expm1", lambda a: torch.expm1(a), r(3, 4)),
    case("expm1-special", lambda a: torch.special.expm1(a), r(4)),
    case("rsqrt", lambda a: torch.rsqrt(a), pos(3, 4)),
    case("reciprocal", lambda a: a.reciprocal(), pos(3, 4)),
    case("logaddexp", lambda a, b: torch.logaddexp(a, b), r(3, 4) * 3, r(4)),
    case("logaddexp2", lambda a, b: a.logaddexp2(b), r(3, 1) * 3, r(4)),
    case("xlogy", lambda a, b: torch.xlogy(a, b), r(3, 4), pos(4)),
    case("xlogy-zeros", lambda a, b: torch.xlogy(a, b), f64(0.0, 0.0, 2.0, -1.5), f64(0.5, 3.0, 2.0, 0.25)),
    case("xlogy-special", lambda a, b: torch.special.xlogy(a, b), r(4), pos(4)),
    case("xlogy-number-first", lambda b: torch.xlogy(2.5, b), pos(4)),
    case("xlogy-number-second", lambda a: torch.xlogy(a, 3.0), r(4)),
    case("xlog1py", lambda a, b: torch.special.xlog1py(a, b), r(3, 4), pos(4)),
    case("hypot", lambda a, b: torch.hypot(a, b), r(3, 4), r(3, 1)),
    case("erf", lambda a: torch.erf(a), r(3, 4)),
    case("erf-special", lambda a: torch.special.erf(a), r(4)),
    case("erfc", lambda a: a.erfc(), r(3, 4)),
    case("erfinv", lambda a: torch.erfinv(a), unit(3, 4)),
    case("erfinv-special", lambda a: torch.special.erfinv(a), unit(4)),
    case("erfcx", lambda a: torch.special.erfcx(a), r(3, 4)),
    case("ndtr", lambda a: torch.special.ndtr(a), r(3, 4)),
    case("log_ndtr", lambda a: torch.special.log_ndtr(a), r(3, 4) * 3),
    case("ndtri", lambda a: torch.special.ndtri(a), torch.rand(3, 4, dtype=torch.float64) * 0.9 + 0.05),
    case("entr", lambda a: torch.special.entr(a), pos(3, 4)),
    case("logit", lambda a: torch.logit(a), torch.rand(3, 4, dtype=torch.float64) * 0.9 + 0.05),
    case("logit-eps", lambda a: torch.special.logit(a, eps=0.2), f64(0.05, 0.1, 0.3, 0.5, 0.7, 0.95)),
    case("lgamma", lambda a: torch.lgamma(a), pos(3, 4) * 3),
    case("lgamma-special", lambda a: torch.special.gammaln(a), pos(4)),
    case("digamma", lambda a: a.digamma(), pos(3, 4) * 3),
    case("digamma-psi", lambda a: torch.special.psi(a), pos(4)),
    case("polygamma", lambda a: torch.polygamma(2, a), pos(3, 4) * 3),
    case("polygamma-method", lambda a: a.polygamma(1), pos(4)),
    case("polygamma-special", lambda a: torch.special.polygamma(3, a), pos(4)),
    case("abs", lambda a: torch.abs(a), f64(-2.0, -0.0, 0.0, 1.5)),
    case("abs-method", lambda a: a.absolute() * a, r(3, 4)),
    case("sign", lambda a: torch.sign(a) * a, r(3, 4)),
    case("sign-sgn", lambda a: a.sgn() + torch.sgn(a), f64(-1.0, 0.0, 2.0)),
    case("floor", lambda a: torch.floor(a) * a, r(3, 4) * 3),
    case("ceil", lambda a: a.ceil() + a, r(3, 4) * 3),
    case("trunc", lambda a: torch.trunc(a), r(3, 4) * 3),
    case("trunc-fix", lambda a: torch.fix(a) * a.fix(), r(3, 4) * 3),
    case("round", lambda a: torch.round(a) * a, f64(0.5, 1.5, 2.5, -0.5, -1.7, 3.2)),
    case("round-decimals", lambda a: a.round(decimals=2) * a, r(3, 4)),
    case("round-special", lambda a: torch.special.round(a), r(4) * 3),
    case("rounded_div-trunc", lambda a, b: torch.div(a, b, rounding_mode="trunc"), r(3, 4) * 3, pos(4)),
    case("rounded_div-floor", lambda a, b: a.div(b, rounding_mode="floor") * a, r(3, 4) * 3, r(4)),
    case("fmod", lambda a, b: torch.fmod(a, b), r(3, 4) * 3, r(4)),
    case("fmod-number", lambda a: a.fmod(1.5), r(3, 4) * 3),
    case("remainder", lambda a, b: torch.remainder(a, b), r(3, 4) * 3, r(4)),
    case("clamp", lambda a: torch.clamp(a, -0.5, 0.5), r(3, 4)),
    case("clamp-ties", lambda a: a.clamp(min=-1.0, max=1.0), f64(-2.0, -1.0, 0.0, 1.0, 2.0)),
    case("clamp-min-only", lambda a: torch.clamp(a, min=0.2), r(3, 4)),
    case("clamp-max-only", lambda a: a.clip(max=0.2), r(3, 4)),
    case("clamp-tensors", lambda a, lo, hi: torch.clamp(a, lo, hi), r(3, 4), r(4) - 0.5, r(3, 1) + 0.5),
    case(
        "clamp-tensor-ties",
        lambda a, lo, hi: torch.clamp(a, lo, hi),
        f64(-1.0, 1.0, 0.0, 0.5, 2.0, 0.0),
        f64(-1.0, -1.0, 0.0, 1.0, -1.0, 0.0),
        f64(1.0, 1.0, 0.0, 0.0, 1.0, 0.0),
    ),
    case("clamp-broadcast-bounds", lambda a, lo: torch.clamp(a, min=lo), r(3), r(2, 3)),
    case("clamp-clamp_min", lambda a, lo: torch.clamp_min(a, lo), r(3, 4), r(4)),
    case("clamp-clamp_max", lambda a, hi: a.clamp_max(hi), r(3, 4), r(3, 1)),
    case("clamp-clamp_min-number", lambda a: a.clamp_min(0.0), r(3, 4)),
    case("lerp", lambda a, b, w: torch.lerp(a, b, w), r(3, 4), r(4), torch.rand(3, 1, dtype=torch.float64)),
    case("lerp-number", lambda a, b: a.lerp(b, 0.3), r(3, 4), r(3, 4)),
    case("lerp-weight-above-half", lambda a, b: torch.lerp(a, b, 0.75), r(3, 4), r(4)),
    # composites
    case("fmax", lambda a, b: torch.fmax(a, b), r(3, 4), r(4)),
    case("fmin", lambda a, b: a.fmin(b), r(3, 4), r(4)),
    case("frac", lambda a: torch.frac(a) * a, r(3, 4) * 3),
    case("copysign", lambda a, b: torch.copysign(a, b), r(3, 4), r(4)),
    case("float_power", lambda a, b: torch.float_power(a, b), pos(3, 4), r(4)),
    case("ldexp", lambda a, b: torch.ldexp(a, b), r(3, 4), r(4)),
    case("deg2rad", lambda a: torch.deg2rad(a) + a.rad2deg(), r(3, 4)),
    case("square", lambda a: torch.square(a), r(3, 4)),
    case("rsub", lambda a, b: torch.rsub(a, b, alpha=2.5), r(3, 4), r(4)),
    case("addcmul", lambda a, b, c: torch.addcmul(a, b, c, value=0.5), r(3, 4), r(4), r(3, 1)),
    case("addcdiv", lambda a, b, c: a.addcdiv(b, c), r(3, 4), r(4), pos(3, 1)),
    case("div-true_divide", lambda a, b: torch.true_divide(a, b), r(3, 4), pos(4)),
    case("sigmoid-expit", lambda a: torch.special.expit(a), r(3, 4) * 3),
    case("nan_to_num", lambda a: torch.nan_to_num(a) * a, r(3, 4)),
    case("positive", lambda a: torch.positive(a) * a, r(3, 4)),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


# --- torch's choices at kinks, zeros, ties, infinities and NaN: values and first derivatives -------
EDGES = [
    ("clamp-nan", lambda a: torch.clamp(a, -1.0, 1.0), [f64(-2.0, -1.0, 0.0, 1.0, 2.0, NAN)]),
    ("clamp-min-above-max", lambda a: torch.clamp(a, 1.0, -1.0), [f64(-2.0, 0.0, 2.0)]),
    (
        "clamp-tensor-nan-and-crossed",
        lambda a, lo, hi: torch.clamp(a, lo, hi),
        [f64(-2.0, NAN, 0.5, 0.0, 0.0), f64(-1.0, -1.0, 1.0, NAN, -1.0), f64(1.0, 1.0, 0.0, 1.0, NAN)],
    ),
    ("clamp-min-nan", lambda a, lo: torch.clamp(a, min=lo), [f64(-2.0, NAN, 1.0), f64(-1.0, -1.0, NAN)]),
    ("fmax-nan-ties", torch.fmax, [f64(1.0, 2.0, NAN, NAN, 3.0), f64(1.0, NAN, 2.0, NAN, 1.0)]),
    ("fmin-nan-ties", torch.fmin, [f64(1.0, 2.0, NAN, NAN, 3.0), f64(1.0, NAN, 2.0, NAN, 1.0)]),
    ("maximum-nan-ties", torch.maximum, [f64(1.0, 2.0, NAN, NAN, 3.0), f64(1.0, NAN, 2.0, NAN, 1.0)]),
    ("minimum-nan-ties", torch.minimum, [f64(1.0, 2.0, NAN, NAN, 3.0), f64(1.0, NAN, 2.0, NAN, 1.0)]),
    ("fmod-zero", torch.fmod, [f64(5.5, -5.5, 3.0, 0.0), f64(2.0, 2.0, 0.0, 0.0)]),
    ("remainder-zero", torch.remainder, [f64(5.5, -5.5, 3.0, 0.0), f64(2.0, 2.0, 0.0, 0.0)]),
    (
        "div-modes-nan-inf",
        lambda a, b: torch.div(a, b, rounding_mode="trunc") + torch.div(a, b, rounding_mode="floor"),
        [f64(1.5, -2.5, NAN, INF, 1.0), f64(2.0, 2.0, 1.0, 1.0, 0.0)],
    ),
    ("xlogy-zero", torch.xlogy, [f64(0.0, 0.0, 0.0, 2.0, 0.0), f64(0.0, -1.0, 2.0, 0.0, NAN)]),
    ("xlog1py-zero", torch.special.xlog1py, [f64(0.0, 0.0, 0.0, 2.0, 0.0), f64(-1.0, -2.0, 2.0, -1.0, NAN)]),
    ("hypot-origin", torch.hypot, [f64(0.0, 3.0, 0.0), f64(0.0, 4.0, -2.0)]),
    ("atan2-origin", torch.atan2, [f64(0.0, 1.0, 0.0, -0.0), f64(0.0, 0.0, -1.0, -1.0)]),
    ("logaddexp-infinite", torch.logaddexp, [f64(-INF, INF, 1.0, -INF), f64(-INF, INF, 2.0, 0.0)]),
    ("logaddexp2-infinite", torch.logaddexp2, [f64(-INF, INF, 1.0, INF), f64(-INF, INF, 2.0, 0.0)]),
    ("logit-outside", torch.logit, [f64(-0.5, 0.0, 0.3, 1.0, 1.5)]),
    ("logit-eps-outside", lambda a: torch.logit(a, 0.1), [f64(-0.5, 0.05, 0.1, 0.3, 0.9, 0.95, 1.5)]),
    ("nan_to_num", torch.nan_to_num, [f64(NAN, INF, -INF, 1.0)]),
    (
        "nan_to_num-keywords",
        lambda a: torch.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0),
        [f64(NAN, INF, -INF, 1.0)],
    ),
    ("sign-nan", lambda a: torch.sign(a) + a.sgn(), [f64(NAN, 0.0, -0.0, 1.0, -INF)]),
    ("abs-zero-nan", torch.abs, [f64(0.0, -0.0, NAN, -1.0, -INF)]),
    ("frac-infinite", torch.frac, [f64(INF, -2.5, NAN, -INF)]),
    ("round-ties", lambda a: torch.round(a) + torch.round(a, decimals=1), [f64(0.5, 1.5, 2.5, -0.5, 0.25, 0.35)]),
    ("sqrt-zero", torch.sqrt, [f64(0.0, 4.0)]),
    ("rsqrt-zero", torch.rsqrt, [f64(0.0, 4.0)]),
    ("reciprocal-zero", torch.reciprocal, [f64(0.0, -0.0, 2.0)]),
    ("asin-one", torch.asin, [f64(1.0, -1.0, 0.5)]),
    ("acos-one", torch.acos, [f64(1.0, -1.0, 0.5)]),
    ("acosh-one", torch.acosh, [f64(1.0, 2.0, 0.5)]),
    ("atanh-one", torch.atanh, [f64(1.0, -1.0, 0.5)]),
    ("erfinv-one", torch.erfinv, [f64(1.0, -1.0, 0.5)]),
    ("log-family-zero", lambda a: torch.log2(a) + torch.log10(a) + torch.log1p(a - 1), [f64(0.0, 1.0, 2.0)]),
    ("sinc-zero", torch.sinc, [f64(0.0, -0.0, 1e-9, 2.0)]),
    ("entr-zero", torch.special.entr, [f64(-1.0, 0.0, 0.5, 2.0)]),
    ("ndtri-ends", torch.special.ndtri, [f64(0.0, 0.3, 1.0)]),
    ("log_ndtr-tail", torch.special.log_ndtr, [f64(-40.0, -5.0, 0.0, 8.0)]),
    ("tanh-large", torch.tanh, [f64(-800.0, -1e-300, 0.0, 1e-8, 25.0, 800.0)]),
    (
        "lerp-weight-one",
        lambda a, b, w: torch.lerp(a, b, w),
        [f64(1.0, 2.0, 3.0), f64(5.0, -1.0, 3.0), f64(1.0, 0.0, 0.5)],
    ),
    ("fmax-clamp-infinite", lambda a: torch.clamp(a, -1.0, 1.0) * torch.fmax(a, a), [f64(-INF, INF, 0.0)]),
]


def _both(fn: Callable[..., Any], inputs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(value and input gradients from torch.autograd, the same from the engine), for a fixed cotangent."""
    ts = [x.clone().requires_grad_() for x in inputs]
    out_t = fn(*ts)
    seed = torch.linspace(0.5, 1.5, out_t.numel(), dtype=out_t.dtype).reshape(out_t.shape)
    grads_t = torch.autograd.grad(out_t, ts, seed, allow_unused=True)
    vs = [ag.Variable(x.clone(), requires_grad=True) for x in inputs]
    out_e = fn(*vs)
    assert isinstance(out_e, ag.Variable) and out_e.requires_grad == out_t.requires_grad
    grads_e = ag.gradients(out_e, vs, seed)
    expected = [out_t.detach()] + [torch.zeros_like(x) if g is None else g for g, x in zip(grads_t, inputs)]
    return expected, [out_e.data] + [g.data for g in grads_e]


@pytest.mark.parametrize("name,fn,inputs", EDGES, ids=[e[0] for e in EDGES])
def test_edge_values_and_gradients_match_torch(name, fn, inputs, device):
    expected, got = _both(fn, [x.to(device) for x in inputs])
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, equal_nan=True, rtol=1e-12, atol=0)
        assert torch.equal(e.isnan(), g.isnan())


def test_zero_derivatives_keep_the_result_differentiable(device):
    """As in torch, sign, floor, round, ... and division with a rounding mode give results that require
    grad, whose gradient is zero (not an error), at second order too."""
    x = ag.Variable(r(5).to(device) * 3, requires_grad=True)
    for fn in (
        torch.sign,
        torch.floor,
        torch.ceil,
        torch.round,
        torch.trunc,
        lambda a: torch.div(a, 2, rounding_mode="floor"),
    ):
        out = fn(x)
        assert out.requires_grad
        (g,) = ag.gradients(out.sum(), [x], create_graph=True)
        assert torch.equal(g.data, torch.zeros_like(x.data))


def test_floor_divide_has_a_zero_derivative_where_torch_has_none():
    """torch.floor_divide's values, with zero gradients (torch records it, then raises in backward);
    torch.remainder(number, tensor) gets the derivative torch.remainder(tensor, tensor) has."""
    a, b = r(3, 4) * 3, pos(4)
    x, y = ag.Variable(a, requires_grad=True), ag.Variable(b, requires_grad=True)
    out = torch.floor_divide(x, y)
    assert torch.equal(out.data, torch.floor_divide(a, b)) and out.requires_grad
    assert all(torch.equal(g.data, torch.zeros_like(g.data)) for g in ag.gradients(out.sum(), [x, y]))
    m = torch.remainder(2.5, y)
    assert torch.equal(m.data, torch.remainder(2.5, b))
    (g,) = ag.gradients(m.sum(), [y])
    assert torch.equal(g.data, -torch.floor(2.5 / b))


# --- dtypes and plain results ----------------------------------------------------------------------
def test_integer_inputs_follow_torch_dtypes():
    ints = torch.arange(-3, 4)
    v = ag.Variable(ints)
    for fn in (
        torch.sin,
        torch.exp2,
        torch.sqrt,
        torch.square,
        torch.abs,
        torch.sign,
        torch.floor,
        torch.reciprocal,
        lambda a: torch.clamp(a, -1, 2),
        lambda a: torch.clamp(a, 0.5),
        lambda a: torch.fmod(a, 2),
        lambda a: torch.remainder(a, 3),
        lambda a: torch.floor_divide(a, 2),
        lambda a: torch.div(a, 2),
        lambda a: torch.div(a, 2, rounding_mode="trunc"),
        lambda a: torch.deg2rad(a),
        lambda a: torch.float_power(a, 2),
    ):
        expected = fn(ints)
        got = fn(v)
        assert not got.requires_grad and got.dtype == expected.dtype
        torch.testing.assert_close(got.data, expected, equal_nan=True, rtol=0, atol=0)


BOOLEAN_TESTS = [
    lambda a, b: torch.isnan(a),
    lambda a, b: a.isinf(),
    lambda a, b: torch.isfinite(a),
    lambda a, b: torch.isposinf(a),
    lambda a, b: a.isneginf(),
    lambda a, b: torch.isreal(a),
    lambda a, b: torch.signbit(a),
    lambda a, b: torch.lt(a, b),
    lambda a, b: torch.less(a, b),
    lambda a, b: a.less_equal(b),
    lambda a, b: torch.greater(a, b),
    lambda a, b: a.greater_equal(b),
    lambda a, b: torch.eq(a, b),
    lambda a, b: torch.not_equal(a, b),
    lambda a, b: a.ne(b),
    lambda a, b: torch.isclose(a, b, rtol=0.5, equal_nan=True),
    lambda a, b: torch.isin(a, b),
    lambda a, b: torch.logical_and(a, b),
    lambda a, b: a.logical_or(b),
    lambda a, b: torch.logical_xor(a, b),
    lambda a, b: torch.logical_not(a),
    lambda a, b: torch.equal(a, b),
    lambda a, b: a.equal(a),
    lambda a, b: torch.allclose(a, b, atol=10.0),
    lambda a, b: a.allclose(a),
]


@pytest.mark.parametrize("fn", BOOLEAN_TESTS)
def test_boolean_tests_are_plain_results(fn):
    a = f64(1.0, -0.0, NAN, INF, -INF, 2.0)
    b = f64(1.0, 0.0, NAN, 1.0, -INF, 3.0)
    expected = fn(a, b)
    for args in ((ag.Variable(a, requires_grad=True), b), (a, ag.Variable(b, requires_grad=True))):
        got = fn(*args)
        assert type(got) is type(expected)
        assert got == expected if isinstance(expected, bool) else torch.equal(got, expected)


def test_bitwise_ops_on_bool_and_int():
    ints, bools = torch.tensor([5, -3, 0, 12]), torch.tensor([True, False, True, False])
    for t in (ints, bools):
        v = ag.Variable(t)
        other = t.flip(0)
        for fn in (torch.bitwise_and, torch.bitwise_or, torch.bitwise_xor):
            assert torch.equal(fn(v, other), fn(t, other)) and torch.equal(fn(other, v), fn(other, t))
        assert torch.equal(torch.bitwise_not(v), torch.bitwise_not(t)) and torch.equal(v.bitwise_not(), ~t)
        assert torch.equal(other & v, other & t) and torch.equal(other | v, other | t)
        assert torch.equal(other ^ v, other ^ t)
    v = ag.Variable(ints)
    assert torch.equal(torch.bitwise_left_shift(v, 2), ints << 2)
    assert torch.equal(v.bitwise_right_shift(1), ints >> 1)
    assert torch.equal(torch.gcd(v, ints.flip(0)), torch.gcd(ints, ints.flip(0)))
    assert torch.equal(v.lcm(ints.flip(0)), torch.lcm(ints, ints.flip(0)))


def test_tensor_operators_on_the_left_dispatch():
    """`tensor // v`, `tensor % v` reach the engine's rules (torch's operators defer to them)."""
    t = r(4) * 5
    x = ag.Variable(pos(4), requires_grad=True)
    q = t // x
    assert torch.equal(q.data, t // x.data) and q.requires_grad
    m = t % x
    assert torch.equal(m.data, t % x.data)
    m.sum().backward()
    torch.testing.assert_close(x.grad.data, -torch.floor(t / x.data), rtol=0, atol=0)


# --- keywords and signatures -------------------------------------------------------------------------
def test_torch_keywords_and_aliases():
    a, lo, hi = r(6), r(6) - 1, r(6) + 1
    v = ag.Variable(a, requires_grad=True)
    pairs = [
        (lambda x: torch.sin(input=x), None),
        (lambda x: torch.clamp(x, min=lo, max=hi), None),
        (lambda x: torch.clip(input=x, max=0.3), None),
        (lambda x: torch.clamp(x, min=-0.2), None),
        (lambda x: torch.div(x, other=hi, rounding_mode="floor"), None),
        (lambda x: torch.round(x, decimals=3), None),
        (lambda x: torch.logit(x.sigmoid(), eps=1e-3), None),
        (lambda x: torch.lerp(x, end=hi, weight=0.25), None),
        (lambda x: torch.xlogy(x, other=hi.abs()), None),
        (lambda x: torch.nan_to_num(x, posinf=1.0), None),
        (lambda x: torch.rsub(x, 2.0), None),
        (lambda x: torch.sub(x, hi, alpha=0.5), None),
        (lambda x: torch.polygamma(1, x.exp()), None),
        (lambda x: x.float_power(2.0), None),
    ]
    for fn, _ in pairs:
        expected = fn(a.clone().requires_grad_())
        got = fn(v)
        assert isinstance(got, ag.Variable)
        torch.testing.assert_close(got.data, expected.detach(), rtol=1e-12, atol=0)
    assert ag.sin is not None and ag.atan2 is not None and ag.clamp_min is not None  # also `ag.X`


def torch_error(fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (whatever torch raises, the engine must raise too)
        return e
    raise AssertionError("torch raised no error")


ERRORS = [
    ("atan2-number", lambda x: torch.atan2(x, 2.0)),
    ("hypot-number", lambda x: torch.hypot(x, 2.0)),
    ("fmax-number", lambda x: torch.fmax(x, 2.0)),
    ("clamp-no-bounds", lambda x: torch.clamp(x)),
    ("clamp-mixed-bounds", lambda x: torch.clamp(x, torch.zeros(3, dtype=torch.float64), 1.0)),
    ("div-bad-mode", lambda x: torch.div(x, 2.0, rounding_mode="nearest")),
    ("lerp-number-end", lambda x: torch.lerp(x, 2.0, 0.5)),
    ("lerp-dtypes", lambda x: torch.lerp(x, torch.zeros(3), 0.5)),
    ("fmod-int-zero", lambda x: torch.fmod(x.long() if isinstance(x, torch.Tensor) else x.to(torch.long), 0)),
    ("frac-int", lambda x: torch.frac(x.long() if isinstance(x, torch.Tensor) else x.to(torch.long))),
    ("positive-bool", lambda x: torch.positive(x > 0)),
    ("broadcast", lambda x: torch.atan2(x, torch.zeros(4, dtype=torch.float64))),
    ("round-decimals-positional", lambda x: torch.round(x, 2)),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn):
    x = f64(0.5, -1.0, 2.0)
    expected = torch_error(lambda: fn(x.clone().requires_grad_()))
    variable = ag.Variable(x.clone(), requires_grad=True)
    with pytest.raises(type(expected)) as got:
        fn(variable)
    assert type(got.value) is type(expected)
    if not isinstance(expected, TypeError):  # (torch's TypeErrors list its overloads)
        assert str(expected).splitlines()[0] in str(got.value)


# --- finite differences for the new derivatives ----------------------------------------------------
CHECKED = [
    (lambda a, b: torch.atan2(a, b), [r(3), r(3)]),
    (lambda a, b: torch.hypot(a, b), [r(3), r(3)]),
    (lambda a, b: torch.logaddexp(a, b), [r(3), r(3)]),
    (lambda a, b: torch.xlogy(a, b), [r(3), pos(3)]),
    (lambda a, b: torch.fmod(a, b), [r(3) * 3, pos(3)]),
    (lambda a, b, w: torch.lerp(a, b, w), [r(3), r(3), torch.rand(3, dtype=torch.float64)]),
    (lambda a, lo, hi: torch.clamp(a, lo, hi), [f64(-2.0, 0.1, 2.0), f64(-1.0, -1.0, -1.0), f64(1.0, 1.0, 1.0)]),
    (lambda a: torch.logit(a, eps=0.05), [torch.rand(4, dtype=torch.float64) * 0.8 + 0.1]),
    (lambda a: torch.erfinv(a) + torch.asin(a) + torch.atanh(a) + torch.sinc(a), [unit(4)]),
    (lambda a: torch.lgamma(a) + torch.polygamma(1, a) + torch.rsqrt(a) + torch.log2(a), [pos(4)]),
]


@pytest.mark.parametrize("fn,inputs", CHECKED)
def test_finite_differences(fn, inputs):
    assert ag.gradcheck(fn, inputs)
    assert ag.gradgradcheck(fn, inputs)


# --- in-place methods ----------------------------------------------------------------------------------
def test_in_place_methods_match_torch(device):
    """x.clamp_(...), x.sin_(), x.add_(y, alpha=...) ... on a non-leaf: torch's values and gradients; on a
    leaf that requires grad, torch's error; on a Variable that needs no grad, a write into its tensor."""

    def program(x: Any, y: Any) -> Any:
        z = x * 1.0
        z.clamp_(-0.8, 0.8).sin_().add_(y, alpha=2.0).mul_(x).div_(y.abs() + 1.0)
        z.round_(decimals=3).sub_(x).pow_(2).lerp_(y, 0.25).fmod_(1.5)
        return z.clamp_min_(y).exp_()

    a, b = r(3, 4).to(device), r(4).to(device)
    compare_with_torch(program, program, [a, b])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        ag.Variable(a.clone(), requires_grad=True).sin_()
    plain = ag.Variable(a.clone())
    assert plain.sin_() is plain and torch.equal(plain.data, a.sin())


# --- torch's bits: log10's constant, atan2's shared 1 / (x^2 + y^2) ------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_log10_gradient_is_torchs_bits(dtype):
    """torch divides by x * 2.3025850929940456 (math.log(10) is one ulp above it)."""
    x = torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).to(dtype) * 3 + 0.1
    assert_torch_bits(torch.log10, x)
    assert_torch_bits(lambda a: a.log10(), x)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), ()), ((2, 1, 4), (3, 1))], ids=str)
def test_atan2_is_torchs_bits_with_second_order_close(dtype, shapes):
    """One 1 / (x^2 + y^2) shared by both gradients, as torch's atan2_backward: first order bitwise, second
    order close (its derivatives meet at the shared factor, as torch's)."""
    gen = torch.Generator().manual_seed(5)
    a, b = (torch.rand(s, dtype=torch.float64, generator=gen).to(dtype) * 4 - 2 for s in shapes)
    assert_torch_bits(torch.atan2, a, b)


# --- add and sub with alpha: torch's fused kernel, torch's bits ---------------------------------------------
def _normal(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).to(dtype)


ALPHA_SHAPES = [((100,), (100,)), ((3, 70), (70,)), ((70,), (4, 70)), ((3, 70), (1, 70)), ((100,), ())]
ALPHA_FNS = {
    "add": lambda a, b: torch.add(a, b, alpha=2.5) * a,
    "sub": lambda a, b: torch.sub(a, b, alpha=-0.3) * a,
    "method-int-alpha": lambda a, b: a.add(b, alpha=3) * b,
    "subtract-method": lambda a, b: a.subtract(b, alpha=0.7) * b,
    "rsub": lambda a, b: torch.rsub(a, b, alpha=1.7) * b,
    "number": lambda a, b: torch.add(a, 1.7, alpha=2.5) * b,
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("shapes", ALPHA_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(ALPHA_FNS))
def test_add_and_sub_with_alpha_are_torchs_fused_kernel(name, shapes, dtype):
    """torch.add(x, y, alpha=a) is one kernel (a fused multiply-add on vectors), whose bits differ from
    x + y * a; y's gradient is g * a summed to y's shape (scaled first, as torch). Values and first-order
    gradients bitwise in a plain backward and under create_graph, second order close."""
    a, b = (_normal(s, dtype, seed) for seed, s in enumerate(shapes))
    assert_torch_bits(ALPHA_FNS[name], a, b, second_order=False)
    assert_torch_bits(ALPHA_FNS[name], a, b)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_in_place_add_and_sub_with_alpha_are_torchs_bits(dtype):
    a, b = _normal((5, 70), dtype, 0), _normal((70,), dtype, 1)
    assert_torch_bits(lambda x, y: (x * 1).add_(y, alpha=2.5).sub_(y * x, alpha=0.75), a, b)


@pytest.mark.parametrize(
    "alpha,match",
    [(1.0, "alpha must not be a floating point number"), (2.5, "alpha must not be"), (True, "Boolean alpha")],
    ids=str,
)
@pytest.mark.parametrize("op", [torch.add, torch.sub], ids=lambda f: f.__name__)
def test_alpha_that_torch_refuses_is_refused(op, alpha, match):
    """A float alpha (1.0 included) for integer tensors, a boolean one for floats: torch's RuntimeError."""
    ints = torch.arange(3)
    for t in (ints, ints.double()) if alpha is True else (ints,):
        with pytest.raises(RuntimeError, match=match):
            op(t, t, alpha=alpha)
        with pytest.raises(RuntimeError, match=match):
            op(ag.Variable(t), t, alpha=alpha)


def test_integer_add_with_alpha_is_torchs():
    ints = torch.arange(5)
    got = torch.sub(ag.Variable(ints), ints.flip(0), alpha=3)
    assert isinstance(got, ag.Variable) and torch.equal(got.data, torch.sub(ints, ints.flip(0), alpha=3))
