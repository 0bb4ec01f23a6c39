"""diff, cov, corrcoef, trapezoid and cumulative_trapezoid; the modified Bessel functions i0, i0e, i1, i1e;
mvlgamma and heaviside; torch.nn.functional.bilinear: torch's spellings on Variables against torch.autograd
(values, first and second derivatives, float64), and torch's results where it has no derivative."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import autograd_engine as ag
import nn  # noqa: F401  (registers torch.nn.functional's rules)

from .oracles import compare_with_torch, r

torch.manual_seed(0)


def same(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[str, Any, Any, list[torch.Tensor]]:
    """A case whose torch spelling runs on tensors and on Variables alike."""
    return (name, fn, fn, list(inputs))


def f64(*values: Any) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def pos(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=torch.float64) + 0.5


BESSEL = f64(-3.5, -1.2, -0.3, 0.4, 1.1, 2.7, 6.0)
WITH_ZERO = f64(-1.5, 0.0, 0.7)
FW = torch.tensor([1, 3, 2, 1, 2])
X_SORTED = torch.sort(torch.rand(5, dtype=torch.float64) * 4).values

CASES = [
    # differences
    same("diff", lambda a: torch.diff(a), r(3, 5)),
    same("diff-dim", lambda a: torch.diff(a, dim=0), r(4, 3)),
    same("diff-n", lambda a: torch.diff(a, n=3, dim=1), r(2, 6)),
    same("diff-n-past-length", lambda a: torch.diff(a, n=5), r(2, 3)),
    same("diff-prepend-append", lambda a, p, q: torch.diff(a, 2, 1, p, q), r(3, 4), r(3, 2), r(3, 1)),
    same("diff-method", lambda a: a.diff(dim=-2), r(3, 4)),
    same("diff-constant-prepend", lambda a: torch.diff(a, prepend=a.new_zeros(2, 1)), r(2, 3)),
    # covariance and correlation
    same("cov", lambda a: torch.cov(a), r(3, 6)),
    same("cov-1d", lambda a: torch.cov(a), r(7)),
    same("cov-correction", lambda a: torch.cov(a, correction=0), r(2, 5)),
    same("cov-fweights", lambda a: torch.cov(a, fweights=FW.to(a.device)), r(3, 5)),
    same("cov-aweights", lambda a, w: torch.cov(a, aweights=w), r(3, 5), pos(5)),
    same(
        "cov-both-weights",
        lambda a, w: torch.cov(a, correction=2, fweights=FW.to(a.device), aweights=w),
        r(2, 5),
        pos(5),
    ),
    same("cov-method", lambda a: a.cov(), r(2, 4)),
    same("corrcoef", lambda a: torch.corrcoef(a), r(3, 6)),
    same("corrcoef-1d", lambda a: torch.corrcoef(a), r(5)),
    same("corrcoef-method", lambda a: a.corrcoef(), r(4, 7)),
    # integration
    same("trapezoid", lambda a: torch.trapezoid(a), r(3, 5)),
    same("trapezoid-dx", lambda a: torch.trapezoid(a, dx=0.3, dim=0), r(4, 3)),
    same("trapezoid-x", lambda a, x: torch.trapezoid(a, x), r(3, 5), X_SORTED),
    same("trapezoid-x-dim", lambda a, x: torch.trapezoid(a, x, dim=0), r(5, 2), X_SORTED),
    same("trapezoid-x-full", lambda a, x: torch.trapezoid(a, x, dim=1), r(2, 4, 3), r(4, 3)),
    same("trapezoid-trapz", lambda a, x: torch.trapz(a, x), r(2, 5), X_SORTED),
    same("trapezoid-trapz-dx", lambda a: torch.trapz(a, dx=2.0, dim=0), r(3, 2)),
    same("cumulative_trapezoid", lambda a: torch.cumulative_trapezoid(a), r(3, 5)),
    same("cumulative_trapezoid-dx", lambda a: torch.cumulative_trapezoid(a, dx=0.5, dim=0), r(4, 3)),
    same("cumulative_trapezoid-x", lambda a, x: torch.cumulative_trapezoid(a, x), r(2, 5), X_SORTED),
    same("cumulative_trapezoid-x-full", lambda a, x: torch.cumulative_trapezoid(a, x, dim=0), r(4, 3), r(4, 3)),
    # modified Bessel functions
    ("i0", ag.ops.i0, torch.special.i0, [BESSEL]),
    same("i0-torch", torch.i0, BESSEL),
    same("i0-method", lambda a: a.i0(), r(2, 3)),
    ("i0e", ag.ops.i0e, torch.special.i0e, [BESSEL]),
    same("i0e-special", torch.special.i0e, BESSEL),
    ("i1", ag.ops.i1, torch.special.i1, [BESSEL]),
    same("i1-special", torch.special.i1, r(3, 2)),
    ("i1e", ag.ops.i1e, torch.special.i1e, [BESSEL]),
    same("i1e-special", torch.special.i1e, r(3, 2)),
    # multivariate log-gamma
    same("mvlgamma", lambda a: torch.mvlgamma(a, 3), pos(3, 2) + 1.5),
    same("mvlgamma-special", lambda a: torch.special.multigammaln(a, 1), pos(4)),
    same("mvlgamma-method", lambda a: a.mvlgamma(p=2), pos(2, 3) + 1),
    # bilinear
    same("bilinear", F.bilinear, r(4, 3), r(4, 5), r(2, 3, 5), r(2)),
    same("bilinear-no-bias", F.bilinear, r(2, 3, 3), r(2, 3, 4), r(5, 3, 4)),
    same("bilinear-torch", torch.bilinear, r(4, 2), r(4, 3), r(3, 2, 3), r(3)),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "fn", [torch.special.i1, torch.special.i1e, torch.special.i0e, torch.i0], ids=["i1", "i1e", "i0e", "i0"]
)
def test_bessel_first_order_at_zero_as_torch(fn):
    """torch's value at 0 (the limit 1/2 for i1 and i1e) to first order."""
    compare_with_torch(fn, fn, [WITH_ZERO], second_order=False)


def test_heaviside_values_and_no_gradient():
    """torch's values; torch has no derivative for heaviside (its backward raises), so the result is a
    constant: nothing flows back through it."""
    x = f64(-1.0, 0.0, 2.0, 0.0)
    values = f64(0.5, 0.25, 0.5, 0.75)
    v = ag.Variable(x, requires_grad=True)
    for out in (torch.heaviside(v, values), v.heaviside(values), torch.heaviside(v, f64(0.5))):
        assert isinstance(out, ag.Variable) and not out.requires_grad
    torch.testing.assert_close(torch.heaviside(v, values).data, torch.heaviside(x, values))
    t = x.clone().requires_grad_()
    with pytest.raises(RuntimeError, match="derivative for .*heaviside.* is not implemented"):
        torch.heaviside(t, values).sum().backward()


def test_empty_and_degenerate_as_torch():
    y = torch.empty(3, 0, dtype=torch.float64)
    v = ag.Variable(y, requires_grad=True)
    torch.testing.assert_close(torch.trapezoid(v).data, torch.trapezoid(y))
    torch.testing.assert_close(torch.diff(ag.Variable(r(3)), n=0).data.shape, torch.Size([3]))
    x = r(2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.cov(x)
        got = torch.cov(ag.Variable(x, requires_grad=True))
    torch.testing.assert_close(got.data, expected, equal_nan=True)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: torch.diff(a, n=-1),
        lambda a: torch.cov(a.reshape(1, 2, 3)),
        lambda a: torch.trapezoid(a, a[0, :2]),
        lambda a: torch.cumulative_trapezoid(a, a[0, :2]),
        lambda a: F.bilinear(a, a, a.new_zeros(2, 4, 4)),
    ],
    ids=["diff-n", "cov-3d", "trapezoid-x", "cumulative_trapezoid-x", "bilinear-shape"],
)
def test_errors_as_torch(fn):
    x = r(2, 3)
    with pytest.raises(Exception) as expected:
        fn(x)
    with pytest.raises(type(expected.value)):
        fn(ag.Variable(x, requires_grad=True))
