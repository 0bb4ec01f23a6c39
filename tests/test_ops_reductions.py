"""Reductions and sorting: torch's functions and methods on Variables against torch.autograd (values, first
and second derivatives), with zeros, ties and NaNs where torch has rules for them; torch's return types,
plain-tensor results and exceptions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag
from autograd_engine.variable import unwrap

from .oracles import assert_torch_bits, compare_with_torch, r

INF = float("inf")
NAN = float("nan")


def same(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[str, Any, Any, list[torch.Tensor]]:
    """A case whose torch spelling runs on tensors and on Variables alike."""
    return (name, fn, fn, list(inputs))


def f64(*rows: Any) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def both(pair: Any) -> Any:
    """Both results of var_mean / std_mean / aminmax, weighted, in one output."""
    return pair[0] * 2 + pair[1]


ZEROS = f64([2.0, 0.0, 3.0, -1.5], [0.0, 0.5, 0.0, 2.0], [0.0, 0.0, 0.0, 1.5], [1.5, -2.0, 0.5, 3.0])
TIES = f64([1.0, 3.0, 3.0, 0.0, 3.0], [2.0, 2.0, 1.0, 1.0, 5.0], [4.0, 4.0, 4.0, 4.0, 4.0])
WITH_NAN = f64([1.0, NAN, 3.0, 0.5], [2.0, 0.0, 1.0, 5.0])
Q = f64(0.25, 0.9)
ZERO_ROW = f64([0.0, 0.0, 0.0], [1.0, -2.0, 0.5])  # norms at 0 (first order: torch's subgradient 0)

# (id, engine function, torch function, inputs); the ids of primitives start with their names
CASES = [
    # primitives of ops/reductions.py
    same("prod-all", lambda a: torch.prod(a), r(2, 3)),
    same("prod-dim", lambda a: a.prod(1), r(3, 4)),
    same("prod-keepdim-negative", lambda a: torch.prod(a, -2, keepdim=True), r(2, 3, 4)),
    same("prod-0d", lambda a: a.prod(), r(1)[0]),
    same("prod-one-zero", lambda a: a.prod(), f64(2.0, 0.0, 3.0, -1.5)),
    same("prod-two-zeros", lambda a: torch.prod(a), f64(0.0, 3.0, 0.0, 5.0)),
    same("prod-three-zeros", lambda a: torch.prod(a), f64(0.0, 3.0, 0.0, 0.0)),
    same("prod-rows-with-zeros", lambda a: a.prod(1), ZEROS),
    same("prod-columns-with-zeros", lambda a: a.prod(0, True), ZEROS),
    same("prod-all-with-zeros", lambda a: a.prod(), ZEROS[:2]),
    same("cumprod", lambda a: torch.cumprod(a, 1), r(3, 4)),
    same("cumprod-dim0", lambda a: a.cumprod(0), r(4, 2)),
    same("cumprod-zeros", lambda a: a.cumprod(-1), ZEROS),
    same("cumprod-zeros-dim0", lambda a: torch.cumprod(a, 0), ZEROS),
    same("cumprod-leading-zero", lambda a: a.cumprod(0), f64(0.0, 2.0, -3.0, 0.5)),
    same("cumprod-0d", lambda a: a.cumprod(0), r(1)[0]),
    same("cumsum", lambda a: torch.cumsum(a, 1), r(3, 4)),
    same("cumsum-method-negative", lambda a: a.cumsum(-3), r(3, 2, 2)),
    same("cumsum-0d", lambda a: a.cumsum(0), r(1)[0]),
    (
        "cumsum-reverse",
        lambda a: ag.ops.cumsum(a, dim=1, reverse=True),
        lambda a: a.flip(1).cumsum(1).flip(1),
        [r(3, 4)],
    ),
    same("logcumsumexp", lambda a: torch.logcumsumexp(a, 1), r(3, 4)),
    same("logcumsumexp-method", lambda a: a.logcumsumexp(0), r(4, 2)),
    same("logcumsumexp-wide", lambda a: a.logcumsumexp(0), f64(-800.0, 2.0, -5.0, 700.0, 1.0)),
    (
        "logcumsumexp-reverse",
        lambda a: ag.ops.logcumsumexp(a, dim=0, reverse=True),
        lambda a: a.flip(0).logcumsumexp(0).flip(0),
        [r(5, 2)],
    ),
    same("vector_norm", lambda a: torch.linalg.vector_norm(a), r(3, 4)),
    same("vector_norm-dims", lambda a: torch.linalg.vector_norm(a, 3, (0, -1), True), r(2, 3, 4)),
    same("vector_norm-1", lambda a: torch.linalg.vector_norm(a, 1, 1), r(3, 4)),
    same("vector_norm-1.5", lambda a: torch.linalg.vector_norm(a, ord=1.5, dim=0), r(3, 4)),
    same("vector_norm-0.5", lambda a: torch.linalg.vector_norm(a, 0.5, -1), r(3, 4)),
    same("vector_norm-negative", lambda a: torch.linalg.vector_norm(a, -1.5, 1), r(3, 4)),
    same("vector_norm-inf", lambda a: torch.linalg.vector_norm(a, INF, 1), r(3, 4)),
    same("vector_norm-inf-ties", lambda a: torch.linalg.vector_norm(a, INF, 1), f64([1.0, -3.0, 3.0], [2.0, 2.0, 2.0])),
    same("vector_norm-minus-inf-ties", lambda a: torch.linalg.vector_norm(a, -INF), f64(1.0, -1.0, 3.0)),
    same("vector_norm-0", lambda a: torch.linalg.vector_norm(a, 0, 1), ZEROS),
    same("vector_norm-at-zero-1", lambda a: torch.linalg.vector_norm(a, 1, 1), ZERO_ROW),
    same("vector_norm-at-zero-3", lambda a: torch.linalg.vector_norm(a, 3, 1), ZERO_ROW),
    same("vector_norm-at-zero-inf", lambda a: torch.linalg.vector_norm(a, INF, 1), ZERO_ROW),
    same("vector_norm-0d", lambda a: torch.linalg.vector_norm(a), r(1)[0]),
    same("median-all", lambda a: torch.median(a), r(3, 5)),
    same("median-all-even-count", lambda a: a.median(), r(2, 3)),  # the lower of the middle two
    same("median-all-ties", lambda a: a.median(), TIES),
    same("median-nanmedian", lambda a: torch.nanmedian(a), WITH_NAN),
    same("median-nanmedian-ties", lambda a: a.nanmedian(), f64(1.0, NAN, 2.0, 2.0, NAN, 3.0)),
    # sums, means, products, variances
    same("sum-dims-list", lambda a: torch.sum(a, [0, 2]), r(2, 3, 4)),
    same("sum-keywords", lambda a: a.sum(dim=(0, -1), keepdim=True), r(2, 3, 4)),
    same("sum-empty-dims", lambda a: torch.sum(a, ()), r(2, 3)),
    same("sum-dtype", lambda a: torch.sum(a.float(), 1, dtype=torch.float64), r(2, 3)),
    same("mean-dtype", lambda a: a.float().mean(0, dtype=torch.float64), r(2, 3)),
    same("mean-list-keepdim", lambda a: torch.mean(a, [1, 2], True), r(2, 3, 4)),
    same("nansum", lambda a: torch.nansum(a, 1), WITH_NAN),
    same("nansum-all", lambda a: a.nansum(), WITH_NAN),
    same("nanmean", lambda a: torch.nanmean(a, 1, keepdim=True), WITH_NAN),
    same("nanmean-all", lambda a: a.nanmean(), WITH_NAN),
    same("var", lambda a: torch.var(a), r(3, 4)),
    same("var-dim", lambda a: a.var(1), r(3, 4)),
    same("var-unbiased-positional", lambda a: torch.var(a, 0, False, True), r(3, 4)),
    same("var-unbiased-only", lambda a: torch.var(a, False), r(3, 4)),
    same("var-correction", lambda a: torch.var(a, dim=(0, 2), correction=2, keepdim=True), r(2, 3, 4)),
    same("var-correction-float", lambda a: a.var(correction=0.5), r(3, 4)),
    same("var-unbiased-keyword", lambda a: a.var(1, unbiased=False), r(3, 4)),
    same("std", lambda a: torch.std(a, 1), r(3, 4)),
    same("std-all-biased", lambda a: a.std(unbiased=False), r(3, 4)),
    same("std-correction-keepdim", lambda a: torch.std(a, -1, keepdim=True, correction=0), r(2, 5)),
    same("std-constant-rows", lambda a: torch.std(a, 1), f64([2.0, 2.0, 2.0], [1.0, 3.0, -1.0])),
    same("var_mean", lambda a: both(torch.var_mean(a, 1)), r(3, 4)),
    same("var_mean-keepdim-correction", lambda a: both(torch.var_mean(a, 0, correction=0, keepdim=True)), r(3, 4)),
    same("std_mean", lambda a: both(torch.std_mean(a, (0, 1), True)), r(3, 4)),
    same("std_mean-all", lambda a: both(torch.std_mean(a, unbiased=False)), r(3, 4)),
    # norms
    same("norm", lambda a: torch.norm(a), r(3, 4)),
    same("norm-method-p-dim", lambda a: a.norm(3, 1), r(3, 4)),
    same("norm-fro-dims", lambda a: torch.norm(a, "fro", (0, 1), keepdim=True), r(3, 4)),
    same("norm-inf", lambda a: torch.norm(a, p=INF, dim=0), r(3, 4)),
    same("norm-zero-row", lambda a: torch.norm(a, dim=1), ZERO_ROW.clone() + f64([0.0, 0.0, 1e-3], [0, 0, 0])),
    same("dist", lambda a, b: torch.dist(a, b), r(3, 4), r(4)),
    same("dist-p", lambda a, b: a.dist(b, 1.5), r(3, 4), r(3, 4)),
    # extremes, sorting, selection: the gradient goes to the returned indices
    same("amax-ties", lambda a: torch.amax(a, 1), TIES),
    same("aminmax", lambda a: both(torch.aminmax(a)), TIES),
    same("aminmax-dim", lambda a: both(a.aminmax(dim=1, keepdim=True)), TIES),
    same("max-dim-ties", lambda a: torch.max(a, 1).values, TIES),
    same("min-dim-keyword", lambda a: a.min(dim=0, keepdim=True)[0], TIES),
    same("sort", lambda a: torch.sort(a).values, r(3, 5)),
    same("sort-descending-dim", lambda a: a.sort(0, True)[0], r(3, 5)),
    same("sort-stable-ties", lambda a: torch.sort(a, stable=True, descending=True).values, TIES),
    same("sort-0d", lambda a: a.sort()[0], r(1)[0]),
    same("msort", lambda a: torch.msort(a), r(4, 3)),
    same("topk", lambda a: torch.topk(a, 2).values, r(3, 5)),
    same("topk-smallest-unsorted", lambda a: a.topk(3, 0, largest=False, sorted=False).values, r(4, 3)),
    same("topk-ties", lambda a: torch.topk(a, 3, dim=1).values, TIES),
    same("kthvalue", lambda a: torch.kthvalue(a, 2).values, r(3, 5)),
    same("kthvalue-dim-keepdim", lambda a: a.kthvalue(3, 0, True)[0], TIES),
    same("median-dim", lambda a: torch.median(a, 1).values, r(3, 5)),
    same("median-dim-ties", lambda a: a.median(1, keepdim=True).values, TIES),
    same("median-dim-nan", lambda a: torch.nanmedian(a, 1).values, WITH_NAN),
    same("quantile", lambda a: torch.quantile(a, 0.3), r(3, 4)),
    same("quantile-q-tensor-keepdim", lambda a: torch.quantile(a, Q, 1, keepdim=True), r(3, 4)),
    same("quantile-q-tensor-all-keepdim", lambda a: a.quantile(Q, keepdim=True), r(3, 4)),
    same("quantile-midpoint", lambda a: a.quantile(0.5, 0, True, interpolation="midpoint"), r(3, 4)),
    same("quantile-lower", lambda a: a.quantile(0.4, -1, interpolation="lower"), r(3, 4)),
    same("quantile-higher", lambda a: torch.quantile(a, 0.4, -1, interpolation="higher"), r(3, 4)),
    same("quantile-nearest", lambda a: torch.quantile(a, 0.4, 0, interpolation="nearest"), r(3, 4)),
    same("quantile-dim0-3d", lambda a: a.quantile(0.7, 0), r(2, 3, 4)),
    same("quantile-ties", lambda a: torch.quantile(a, Q, 1), TIES),
    same("quantile-0d", lambda a: a.quantile(0.7, 0, keepdim=True), r(1)[0]),
    same("nanquantile", lambda a: torch.nanquantile(a, 0.3, 1), WITH_NAN),
    same("nanquantile-all", lambda a: a.nanquantile(Q), WITH_NAN),
    same("mode", lambda a: torch.mode(a).values, TIES),
    same("mode-dim0", lambda a: a.mode(0, True)[0], TIES),
    same("cummax", lambda a: torch.cummax(a, 1).values, TIES),
    same("cummax-random", lambda a: a.cummax(0)[0], r(5, 3)),
    same("cummin", lambda a: torch.cummin(a, -1).values, TIES),
    # log-sum-exp and softmax
    same("logsumexp-keepdim", lambda a: torch.logsumexp(a, (0, 1), keepdim=True), r(3, 4)),
    same("logsumexp-method", lambda a: a.logsumexp(-1), r(3, 4)),
    same("logsumexp-special", lambda a: torch.special.logsumexp(a, 0), r(3, 4)),
    same("softmax-dtype", lambda a: torch.softmax(a.float(), 1, dtype=torch.float64), r(3, 4)),
    same("softmax-method", lambda a: a.softmax(dim=0), r(3, 4)),
    same("softmax-method-dtype", lambda a: a.float().softmax(-1, torch.float64), r(3, 4)),
    same("log_softmax-dtype", lambda a: torch.log_softmax(a.float(), 1, dtype=torch.float64), r(3, 4)),
    same("log_softmax-method", lambda a: a.log_softmax(-2), r(3, 4)),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "fn,x",
    [
        (lambda a: a.prod(1), ZEROS),
        (lambda a: a.prod(), f64(0.0, 2.0, 0.0, -1.0)),
        (lambda a: a.cumprod(1), ZEROS),
        (lambda a: torch.cumsum(a, 0), r(4, 2)),
        (lambda a: torch.logcumsumexp(a, 1), r(2, 4)),
        (lambda a: torch.linalg.vector_norm(a, 3, 1), r(3, 4)),
        (lambda a: torch.linalg.vector_norm(a, 1.5, 0), r(3, 4)),
        (lambda a: torch.median(a), r(7)),
    ],
)
def test_finite_differences(fn, x, device):
    assert ag.gradcheck(fn, [x.to(device)])
    assert ag.gradgradcheck(fn, [x.to(device)])


def test_third_order_of_products_with_zeros():
    """The zeros are peeled off one per order: third derivatives of prod and cumprod match torch's."""
    x = f64(0.0, 2.0, 0.0, 0.0, -1.5)
    w = torch.arange(5.0, dtype=torch.float64)
    for fn in (lambda a: a.prod(), lambda a: a.cumprod(0).sum()):
        t = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(fn(t), t, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), t, create_graph=True)
        (expected,) = torch.autograd.grad((h * w).sum(), t)
        first = ag.grad(fn)
        second = ag.grad(lambda b, first=first: first(b).sum())
        got = ag.grad(lambda a, second=second: (second(a) * w).sum())(x)
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("p", [2, 1.5, 0.5, -1, 3, 1, INF, 0])
def test_norm_at_zero_matches_torch_to_second_order_nans_included(p):
    """The gradient at 0 is torch's subgradient 0; second derivatives there are torch's too (NaN where
    torch's rule divides 0 by 0)."""
    x = f64([0.0, 0.0, 0.0], [0.0, 1.0, -2.0])
    w = f64([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    t = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(torch.linalg.vector_norm(t, p, 1).sum(), t, create_graph=True, allow_unused=True)
    g = torch.zeros_like(x) if g is None else g
    (h,) = torch.autograd.grad((g * w).sum(), t, allow_unused=True) if g.requires_grad else (None,)

    def first(a: Any) -> Any:
        return ag.grad(lambda b: torch.linalg.vector_norm(b, p, 1).sum())(a)

    torch.testing.assert_close(first(x), g.detach())
    second = ag.grad(lambda a: (first(a) * w).sum())(x)
    torch.testing.assert_close(second, torch.zeros_like(x) if h is None else h, equal_nan=True)


def test_median_with_nan_is_nan_and_its_gradient_goes_to_the_nans():
    x = f64(1.0, NAN, 3.0, NAN)
    t = x.clone().requires_grad_()
    torch.median(t).backward()
    v = ag.Variable(x.clone(), requires_grad=True)
    out = torch.median(v)
    out.backward()
    assert out.data.isnan() and torch.equal(v.grad.data, t.grad)
    assert torch.equal(torch.nanmedian(v).data, torch.nanmedian(x))


@pytest.mark.parametrize(
    "name,fn",
    [
        ("sort", lambda x: torch.sort(x, 1, descending=True)),
        ("sort-stable", lambda x: x.sort(stable=True)),
        ("topk", lambda x: torch.topk(x, 2, 0)),
        ("kthvalue", lambda x: x.kthvalue(2, 1, True)),
        ("median", lambda x: torch.median(x, 0)),
        ("nanmedian", lambda x: x.nanmedian(1)),
        ("mode", lambda x: torch.mode(x, 1)),
        ("cummax", lambda x: torch.cummax(x, 1)),
        ("cummin", lambda x: x.cummin(0)),
        ("max", lambda x: torch.max(x, 1, True)),
        ("min", lambda x: x.min(0)),
    ],
)
def test_values_and_indices_as_torch_returns_them(name, fn):
    x = TIES.clone()
    got, expected = fn(ag.Variable(x, requires_grad=True)), fn(x)
    assert isinstance(got.values, ag.Variable) and type(got.indices) is torch.Tensor
    assert torch.equal(got.values.data, expected.values) and torch.equal(got.indices, expected.indices)
    values, indices = got  # unpacks as torch's return types do
    assert values is got[0] and indices is got[1]


def test_aminmax_var_mean_std_mean_return_types():
    x = ag.Variable(r(3, 4), requires_grad=True)
    low, high = torch.aminmax(x, dim=0)
    assert torch.aminmax(x).min.shape == () and torch.equal(high.data, torch.amax(x.data, 0))
    assert torch.equal(low.data, torch.aminmax(x.data, dim=0).min)
    for fn in (torch.var_mean, torch.std_mean):
        got, expected = fn(x, 1), fn(x.data, 1)
        assert type(got) is tuple and len(got) == 2
        for a, b in zip(got, expected):
            torch.testing.assert_close(a.data, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: torch.argmax(x),
        lambda x: x.argmax(1, keepdim=True),
        lambda x: torch.argmin(x, dim=0),
        lambda x: x.argsort(1, descending=True),
        lambda x: torch.argsort(x, stable=True),
        lambda x: torch.any(x > 2, 1),
        lambda x: (x > 0).all(),
        lambda x: torch.any(x),
        lambda x: x.all(dim=0, keepdim=True),
        lambda x: torch.count_nonzero(x, (0, 1)),
        lambda x: x.count_nonzero(1),
        lambda x: torch.searchsorted(torch.sort(x, 1).values, x),
        lambda x: torch.bucketize(x, torch.tensor([0.5, 2.5])),
    ],
)
def test_indices_booleans_and_counts_are_plain_tensors(fn):
    x = TIES.clone()
    got = fn(ag.Variable(x, requires_grad=True))
    assert type(got) is torch.Tensor and torch.equal(got, fn(x))


def test_dtypes_as_torch():
    ints = torch.arange(6).reshape(2, 3)
    v = ag.Variable(ints)
    for fn in (
        lambda x: torch.sum(x),
        lambda x: x.sum(1),
        lambda x: torch.prod(x, 1),
        lambda x: x.cumsum(1),
        lambda x: torch.cumprod(x, 0),
        lambda x: torch.mean(x, 1, dtype=torch.float32),
        lambda x: x.sum(dtype=torch.float64),
        lambda x: torch.cumsum(x, 1, dtype=torch.int32),
        lambda x: torch.sort(x, 1, descending=True).values,
        lambda x: torch.nansum(x, 0),
        lambda x: x.prod(dtype=torch.int16),
    ):
        got, expected = fn(v), fn(ints)
        assert got.dtype == expected.dtype and torch.equal(got.data, expected)
    for fn in (
        lambda x: torch.softmax(x, 1, dtype=torch.float64),
        lambda x: torch.norm(x, 2, 1, dtype=torch.float64),
        lambda x: torch.linalg.vector_norm(x, 3, dtype=torch.float64),
    ):
        x = ag.Variable(torch.randn(3, 4), requires_grad=True)
        t = x.data.clone().requires_grad_()
        y, expected = fn(x), fn(t)
        assert y.dtype == torch.float64
        torch.testing.assert_close(y.data, expected.detach())
        (y * y).sum().backward()
        (expected * expected).sum().backward()
        assert x.grad.dtype == torch.float32
        torch.testing.assert_close(x.grad.data, t.grad)


def _torch_error(fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (whatever torch raises, the engine must raise the same)
        return e
    raise AssertionError("torch raised no error")


X = r(2, 3)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: torch.sum(x, 2),
        lambda x: x.mean((0, 0)),
        lambda x: torch.var(x, 5),
        lambda x: x.std(-3),
        lambda x: torch.prod(x, 2),
        lambda x: torch.cumsum(x, 2),
        lambda x: x.cumprod(-3),
        lambda x: torch.logcumsumexp(x, 2),
        lambda x: torch.sort(x, 3),
        lambda x: torch.topk(x, 4),
        lambda x: x.topk(-1),
        lambda x: torch.kthvalue(x, 4),
        lambda x: x.kthvalue(0),
        lambda x: torch.median(x, 2),
        lambda x: torch.cummax(x, 2),
        lambda x: torch.linalg.vector_norm(x, dim=3),
        lambda x: torch.norm(x, "abc"),
        lambda x: torch.argmax(x, 2),
        lambda x: torch.mean(x.long()),
        lambda x: torch.var(x.long()),
        lambda x: torch.linalg.vector_norm(x.long()),
        lambda x: torch.prod(x, (0, 1)),
        lambda x: torch.var(x, unbiased=True, correction=1),
        lambda x: torch.aminmax(x, dim=(0, 1)),
        lambda x: torch.prod(x, keepdim=True),
        lambda x: torch.quantile(x, 1.5),
        lambda x: torch.quantile(x, f64(0.2, 1.5)),
        lambda x: torch.quantile(x, torch.tensor([0.5])),
        lambda x: torch.quantile(x, 0.5, 2),
        lambda x: torch.nanquantile(x, 0.5, interpolation="cubic"),
        lambda x: torch.quantile(x.long(), 0.5),
    ],
)
def test_errors_as_torch(fn):
    expected = _torch_error(lambda: fn(X))
    with pytest.raises(type(expected)):
        fn(ag.Variable(X.clone(), requires_grad=True))
    if isinstance(expected, (IndexError, RuntimeError)):  # torch's words (TypeErrors list overloads instead)
        with pytest.raises(type(expected), match=re.escape(str(expected).splitlines()[0])):
            fn(ag.Variable(X.clone(), requires_grad=True))


def test_nuclear_norm_goes_to_matrix_norm():
    """torch.norm(x, 'nuc') is torch.linalg.matrix_norm in torch too: it records through that function's
    rule, or names it."""
    x = ag.Variable(r(3, 4), requires_grad=True)
    try:
        got = torch.norm(x, "nuc")
    except (ag.NoRuleError, NotImplementedError) as e:  # one clear error naming it
        assert "matrix_norm" in str(e) and ("nuc" in str(e) or "no rule" in str(e))
    else:
        torch.testing.assert_close(got.data, torch.norm(x.data, "nuc"))


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: torch.cumprod(a, 1),
        lambda a: torch.prod(a, 1),
        lambda a: torch.logcumsumexp(a, 1),
        lambda a: torch.cumsum(a, 0),
        lambda a: torch.linalg.vector_norm(a, 3, 1),
        lambda a: torch.linalg.vector_norm(a, 0, 0),
        lambda a: torch.sort(a, 1).values,
        lambda a: torch.median(a) * a,
    ],
)
def test_jacobians_batch_the_new_vjps(fn):
    """ag.jacobian runs the VJPs under torch.vmap: they must batch (no data-dependent branch on g)."""
    x = ZEROS.clone()
    expected = torch.autograd.functional.jacobian(fn, x)
    torch.testing.assert_close(ag.jacobian(fn)(x), expected)


# --- torch's bits: values and first-order gradients torch.equal to torch.autograd ----------------------
SPREADS = ["var", "std", "var_mean", "std_mean"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("name", SPREADS)
@pytest.mark.parametrize("dim", [None, 1, (0, 2), [-1, 0]], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("correction", [0, 1, 2.5])
def test_var_std_are_torchs_bits(dtype, name, dim, keepdim, correction):
    """torch's kernels (var_mean's and std_mean's a pass of their own) and torch's var_backward /
    std_backward in its order: values and gradients bitwise, second order close."""
    x = torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(dtype) * 3 + 1
    assert_torch_bits(lambda a: getattr(torch, name)(a, dim, correction=correction, keepdim=keepdim), x)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("name", SPREADS)
@pytest.mark.parametrize(
    "call",
    [
        lambda f, a: f(a),
        lambda f, a: f(a, False),
        lambda f, a: f(a, 1, False, True),
        lambda f, a: f(a, dim=0, unbiased=True),
        lambda f, a: f(a[0, 0]),  # 0-d: N = 1, so NaN (correction 1)
    ],
)
def test_var_std_overloads_are_torchs_bits(name, call):
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert_torch_bits(lambda a: call(getattr(torch, name), a), x, second_order=call(torch.var, x).numel() > 1)


@pytest.mark.parametrize("name", SPREADS)
@pytest.mark.parametrize("dim,correction", [(None, 12), (None, 13), (1, 4), (1, 5), ((0, 1), 12.5)], ids=str)
def test_var_std_with_correction_at_least_n_give_torchs_inf(name, dim, correction):
    """N - correction <= 0: over every element torch's gradient is inf (NaN where x is the mean), over
    dims 2 / (N - correction) (inf at 0, negative beyond); the values are torch's inf and NaN."""
    x = f64([1.0, 2.0, 3.0, 2.0], [0.5, 2.0, 4.0, -1.0], [2.0, 2.0, 7.0, 1.0])  # mean 2: some x equal it
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        assert_torch_bits(lambda a: getattr(torch, name)(a, dim, correction=correction), x, second_order=False)


@pytest.mark.parametrize("name", ["std", "std_mean"])
def test_std_gradient_is_zero_where_std_is_zero(name):
    assert_torch_bits(lambda a: getattr(torch, name)(a, 1), f64([2.0, 2.0, 2.0], [1.0, 3.0, -1.0]))


def test_var_over_no_dims_differentiates_the_full_reduction():
    """Deliberate difference: torch.var(x, []) is torch.var(x) in value, but torch's gradient reads the
    empty dims as a count of 1 (±inf everywhere); the engine gives torch.var(x)'s gradient."""
    x = ag.Variable(r(3, 4), requires_grad=True)
    (got,) = ag.gradients(torch.var(x, []), [x])
    xt = x.data.clone().requires_grad_()
    (expected,) = torch.autograd.grad(torch.var(xt), xt)
    assert torch.equal(torch.var(x, []).data, torch.var(x.data)) and torch.equal(unwrap(got), expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("dim", [0, -1, (0, 2), [1, 0, 2]], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_is_torchs_kernel_and_backward(dtype, dim, keepdim):
    """torch's kernel, and torch's logsumexp_backward g * exp(x - result): bitwise, NaN and inf included."""
    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).to(dtype)
    x[0, 1, 2], x[1, 0, 0], x[1, 2, 3] = NAN, INF, -INF
    assert_torch_bits(lambda a: torch.logsumexp(a, dim, keepdim=keepdim), x)
    assert_torch_bits(lambda a: a.logsumexp(dim, keepdim), x.nan_to_num(0.5, 3.0, -3.0) * 3)


def test_logsumexp_over_empty_dims_as_torch():
    """torch reduces every dim for dim=() with keepdim, and refuses dim=() without it; so does the engine."""
    x = r(2, 3)
    assert_torch_bits(lambda a: torch.logsumexp(a, (), keepdim=True), x)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        torch.logsumexp(ag.Variable(x, requires_grad=True), ())


# --- products with zeros: torch's formulas, torch's bits ------------------------------------------------
PRODUCTS_WITH_ZEROS = {
    "prod-dim": lambda a: torch.prod(a, 1),
    "prod-dim0-keepdim": lambda a: a.prod(0, keepdim=True) * a,
    "prod": lambda a: torch.prod(a),
    "prod-times": lambda a: torch.prod(a) * a,
    "cumprod": lambda a: torch.cumprod(a, 1),
    "cumprod-dim0": lambda a: a.cumprod(0) * a,
    "cumprod-3d": lambda a: torch.cumprod(a.reshape(2, 5, 2), 1),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("zeros", [[], [3], [1, 4], [0, 7, 8, 13, 19]], ids=str)
@pytest.mark.parametrize("name", list(PRODUCTS_WITH_ZEROS))
def test_products_with_zeros_are_torchs_bits(name, zeros, dtype):
    """prod_backward with zeros: g times exclusive cumulative products from both ends (a full product with
    two zeros or more: zeros in a plain backward); cumprod_backward: an O(n) masked formula in a plain
    backward, the O(n^2) products of the others under create_graph. First order bitwise both ways, second
    order close."""
    x = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(11)).to(dtype)
    x.view(-1)[zeros] = 0
    assert_torch_bits(PRODUCTS_WITH_ZEROS[name], x, second_order=False)
    assert_torch_bits(PRODUCTS_WITH_ZEROS[name], x)
