"""Distances against torch: normalize, cosine_similarity, pairwise_distance, pdist and cdist, the same
torch-style code on tensors and on Variables; values, first and second derivatives in float64 (second
order against torch's own formula where torch's fused backward has none); zero vectors; float16 and
bfloat16 inputs whose squares overflow; torch's errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import autograd_engine as ag
import nn  # noqa: F401  (registers torch.nn.functional's rules)

from .oracles import compare_with_torch

torch.manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    """The same torch-style code runs on tensors and on Variables."""
    return (name, fn, fn, list(inputs))


def pdist_reference(a: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    i, j = torch.triu_indices(a.shape[0], a.shape[0], 1)
    return torch.linalg.vector_norm(a[i] - a[j], p, -1)


def cdist_reference(a: torch.Tensor, b: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    return torch.linalg.vector_norm(a.unsqueeze(-2) - b.unsqueeze(-3), p, -1)


ZERO_ROW = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0]], dtype=torch.float64)

CASES = [
    case("normalize", F.normalize, r(4, 5)),
    case("normalize-p1-dim0", lambda a: F.normalize(a, p=1, dim=0), r(4, 5)),
    case("normalize-p3", lambda a: F.normalize(a, 3.0, -1), r(2, 3, 5)),
    case("normalize-pinf", lambda a: F.normalize(a, p=math.inf, dim=-1), r(4, 5)),
    case("normalize-eps", lambda a: F.normalize(a * 1e-3, dim=1, eps=1e-2), r(4, 5)),
    case("cosine_similarity", F.cosine_similarity, r(4, 5), r(4, 5)),
    case("cosine_similarity-broadcast", lambda a, b: F.cosine_similarity(a, b, dim=-1), r(4, 5), r(5)),
    case("cosine_similarity-torch", lambda a, b: torch.cosine_similarity(a, b, 0), r(4, 5), r(4, 5)),
    # below eps the norm is clamped but not differentiated: torch's exact formula
    case("cosine_similarity-eps", lambda a, b: F.cosine_similarity(a * 1e-4, b, -1, 1e-3), r(4, 5), r(4, 5)),
    case("pairwise_distance", F.pairwise_distance, r(4, 5), r(4, 5)),
    case("pairwise_distance-p1-keepdim", lambda a, b: F.pairwise_distance(a, b, 1.0, keepdim=True), r(4, 5), r(4, 5)),
    case("pairwise_distance-p3-broadcast", lambda a, b: F.pairwise_distance(a, b, p=3.0), r(4, 5), r(5)),
    case("pairwise_distance-vectors", torch.pairwise_distance, r(5), r(5)),
    case("pairwise_distance-pinf", lambda a, b: F.pairwise_distance(a, b, math.inf, eps=0.0), r(4, 5), r(4, 5)),
    case("pairwise_distance-p0", lambda a, b: F.pairwise_distance(a, b, 0.0), r(4, 5), r(4, 5)),
    ("pdist", F.pdist, pdist_reference, [r(5, 3)]),
    ("pdist-p1", lambda a: torch.pdist(a, 1), lambda a: pdist_reference(a, 1), [r(5, 3)]),
    ("pdist-p3", lambda a: F.pdist(a, p=3), lambda a: pdist_reference(a, 3), [r(5, 3)]),
    ("cdist", torch.cdist, cdist_reference, [r(4, 3), r(5, 3)]),
    (
        "cdist-p1-batches",
        lambda a, b: torch.cdist(a, b, 1.0),
        lambda a, b: cdist_reference(a, b, 1),
        [r(2, 1, 4, 3), r(3, 5, 3)],
    ),
    (
        "cdist-pinf",
        lambda a, b: torch.cdist(a, b, math.inf),
        lambda a, b: cdist_reference(a, b, math.inf),
        [r(4, 3), r(5, 3)],
    ),
    case("cdist-matmul", torch.cdist, r(30, 3), r(5, 3)),  # more than 25 rows: torch's matrix-product formula
    case(
        "cdist-matmul-forced",
        lambda a, b: torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
        r(2, 3, 3),
        r(2, 5, 3),
    ),
    (
        "cdist-no-matmul",
        lambda a, b: torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist"),
        cdist_reference,
        [r(30, 3), r(5, 3)],
    ),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


# torch's fused backward (pdist, cdist) has no second derivative, and torch's second derivative of a
# norm at a zero vector is NaN (the engine's is 0): these compare values and first derivatives only.
FIRST_ORDER = [
    case("pdist-fused", F.pdist, r(6, 3)),
    case("pdist-repeated-row", F.pdist, torch.cat([ZERO_ROW, ZERO_ROW])),
    case("cdist-fused", torch.cdist, r(4, 3), r(5, 3)),
    case("cdist-fused-p3", lambda a, b: torch.cdist(a, b, 3.0), r(4, 3), r(5, 3)),
    case("cdist-equal-rows", torch.cdist, ZERO_ROW, ZERO_ROW),
    case("cdist-matmul-equal-rows", torch.cdist, r(30, 3)[:2], torch.cat([r(30, 3)[:1]] * 30)),
    case("normalize-zero-row", F.normalize, ZERO_ROW),
    case("cosine_similarity-zero-row", F.cosine_similarity, ZERO_ROW, r(2, 3)),
    case("pairwise_distance-equal", lambda a, b: F.pairwise_distance(a, b, eps=0.0), ZERO_ROW, ZERO_ROW),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", FIRST_ORDER, ids=[c[0] for c in FIRST_ORDER])
def test_first_order_matches_torch_at_fused_and_degenerate_points(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs], second_order=False)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize(
    "name,fn",
    [
        ("normalize", lambda a, b: F.normalize(a, dim=-1)),
        ("cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1)),
        ("pairwise_distance", F.pairwise_distance),
    ],
)
def test_large_values_in_low_precision_like_torch(name, fn, dtype):
    """Squares of 1000 overflow float16: torch sums them in float32, and so does the engine (torch.cdist
    has no float16 or bfloat16 kernel; the engine's cdist takes them)."""
    a = torch.tensor([[1000.0, -900.0, 3.0], [0.5, 200.0, -300.0]], dtype=dtype)
    b = torch.tensor([[-800.0, 1000.0, 10.0], [1.0, -2.0, 3.0]], dtype=dtype)
    at, bt = a.clone().requires_grad_(), b.clone().requires_grad_()
    ae, be = ag.Variable(a.clone(), requires_grad=True), ag.Variable(b.clone(), requires_grad=True)
    yt, ye = fn(at, bt), fn(ae, be)
    assert ye.dtype == dtype and bool(torch.isfinite(ye.data).all())
    yt.sum().backward()
    ye.sum().backward()
    tol = {torch.float16: 2e-3, torch.bfloat16: 1e-2, torch.float32: 1e-5}[dtype]
    torch.testing.assert_close(ye.data, yt.detach(), rtol=tol, atol=tol)
    for e, t in ((ae, at), (be, bt)):
        assert (e.grad is None) == (t.grad is None)
        if t.grad is not None:
            torch.testing.assert_close(e.grad.data, t.grad, rtol=tol, atol=tol)


ERRORS = {
    "normalize-dim": lambda a, b: F.normalize(a, dim=4),
    "cosine_similarity-shapes": lambda a, b: F.cosine_similarity(a, b[:, :2]),
    "cosine_similarity-dim": lambda a, b: F.cosine_similarity(a, b, dim=3),
    "cosine_similarity-integers": lambda a, b: F.cosine_similarity(a.long(), b.long()),
    "pairwise_distance-shapes": lambda a, b: F.pairwise_distance(a, b[:1, :2]),
    "pdist-3d": lambda a, b: F.pdist(a.unsqueeze(0)),
    "pdist-negative-p": lambda a, b: F.pdist(a, -1),
    "cdist-1d": lambda a, b: torch.cdist(a[0], b),
    "cdist-columns": lambda a, b: torch.cdist(a, b[:, :2]),
    "cdist-negative-p": lambda a, b: torch.cdist(a, b, -1.0),
    "cdist-compute-mode": lambda a, b: torch.cdist(a, b, compute_mode="fast"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_like_torch(name):
    fn = ERRORS[name]
    a, b = r(2, 3), r(2, 3)
    with pytest.raises(Exception) as expected:
        fn(a, b)
    with pytest.raises(type(expected.value)):
        fn(ag.Variable(a, requires_grad=True), ag.Variable(b))


def test_normalize_refuses_out():
    with pytest.raises(TypeError, match="out= is not supported"):
        F.normalize(ag.Variable(r(2, 3)), out=torch.empty(2, 3, dtype=torch.float64))
