"""Embedding lookups, bags and one_hot against torch: values, first and second derivatives (float64) in torch's
spelling, padding_idx, scale_grad_by_freq and max_norm, and torch's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (torch's spelling)

import autograd_engine as ag

from .oracles import compare_with_torch
from .test_torch_semantics import torch_error

torch.manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    """The same torch-style code runs on tensors and on Variables."""
    return (name, fn, fn, list(inputs))


IDS = torch.tensor([[1, 3, 1, 0], [4, 1, 2, 3]])  # repeats: their gradients add up
W = r(5, 3)
BAG, OFFSETS = torch.tensor([1, 2, 4, 1, 3, 0, 2]), torch.tensor([0, 2, 2, 5])  # bags of 2, 0, 3 and 2

# Each id starts with the primitive it covers.
CASES = [
    case("embedding", lambda w: F.embedding(IDS, w), W),
    case("embedding-1d-indices", lambda w: F.embedding(torch.tensor([2, 2, 0]), w) * w[:3], W),
    case("embedding-padding_idx", lambda w: F.embedding(IDS, w, padding_idx=1), W),
    case("embedding-padding_idx-negative", lambda w: F.embedding(IDS, w, padding_idx=-2), W),
    case("embedding-scale_grad_by_freq", lambda w: F.embedding(IDS, w, scale_grad_by_freq=True), W),
    case("embedding-torch", lambda w: torch.embedding(w, IDS, 3), W),
    case("embedding-bag-mean", lambda w: F.embedding_bag(BAG, w, OFFSETS), W),
    case("embedding-bag-sum-2d", lambda w: F.embedding_bag(IDS, w, mode="sum"), W),
    case("embedding-bag-padding", lambda w: F.embedding_bag(BAG, w, OFFSETS, mode="mean", padding_idx=2), W),
    case(
        "embedding-bag-last-offset",
        lambda w: F.embedding_bag(BAG, w, torch.tensor([0, 2, 2, 5, 7]), mode="sum", include_last_offset=True),
        W,
    ),
    case("gather-embedding-bag-max", lambda w: F.embedding_bag(BAG, w, OFFSETS, mode="max"), W),
    case("gather-embedding-bag-max-padding", lambda w: F.embedding_bag(IDS, w, mode="max", padding_idx=-1), W),
    (
        "embedding_backward",
        lambda g: ag.ops.embedding_backward(g, indices=IDS, num_weights=5, padding_idx=3),
        lambda g: torch.ops.aten.embedding_dense_backward(g, IDS, 5, 3, False),
        [r(2, 4, 3)],
    ),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


def test_finite_differences():
    fn = lambda w: F.embedding(IDS, w) ** 2  # noqa: E731
    assert ag.gradcheck(fn, [W])
    assert ag.gradgradcheck(fn, [W])


@pytest.mark.parametrize(
    "options", [{}, {"padding_idx": 1}, {"scale_grad_by_freq": True}, {"padding_idx": 4, "scale_grad_by_freq": True}]
)
def test_embedding_backward_and_its_vjp_are_adjoints(options):
    """padding_idx's zero and the frequency scaling are torch's conventions, not derivatives, so finite
    differences check the scatter (linear in its gradient) and its VJP, which must be its adjoint."""
    assert ag.check_primitive(ag.ops.embedding_backward, r(2, 4, 3), indices=IDS, num_weights=5, **options)


def test_embedding_bag_weights_get_gradients():
    """per_sample_weights are differentiable, to second order here (torch has no second order for them)."""
    fn = lambda w, p: F.embedding_bag(BAG, w, OFFSETS, mode="sum", per_sample_weights=p)  # noqa: E731
    compare_with_torch(fn, fn, [W, r(7)], second_order=False)
    assert ag.gradgradcheck(lambda w, p: fn(w, p) ** 2, [W, r(7)])


def test_max_norm_renormalises_the_weight_in_place_as_torch():
    ours, theirs = W.clone(), W.clone().requires_grad_()
    out = F.embedding(IDS, ag.Variable(ours, requires_grad=True), max_norm=1.0)
    expected = F.embedding(IDS, theirs, max_norm=1.0)
    torch.testing.assert_close(out.data, expected.detach())
    torch.testing.assert_close(ours, theirs.detach())  # the rows looked up now have norm <= 1


def test_sparse_gradients_are_refused_by_name():
    with pytest.raises(NotImplementedError, match="embedding: sparse=True"):
        F.embedding(IDS, ag.Variable(W, requires_grad=True), sparse=True)
    with pytest.raises(NotImplementedError, match="embedding_bag: sparse=True"):
        F.embedding_bag(IDS, ag.Variable(W, requires_grad=True), mode="sum", sparse=True)
    with pytest.raises(NotImplementedError, match="embedding_bag: scale_grad_by_freq=True is not supported"):
        F.embedding_bag(IDS, ag.Variable(W, requires_grad=True), scale_grad_by_freq=True)


def test_one_hot_is_a_plain_int64_tensor():
    labels = ag.Variable(torch.tensor([0, 2, 1]))
    out = F.one_hot(labels)
    assert type(out) is torch.Tensor and out.dtype == torch.int64
    assert torch.equal(out, F.one_hot(torch.tensor([0, 2, 1]))) and F.one_hot(labels, 5).shape == (3, 5)


ERRORS = {
    "index-out-of-range": lambda w: F.embedding(torch.tensor([5]), w),
    "float-indices": lambda w: F.embedding(torch.tensor([1.0]), w),
    "padding_idx-too-big": lambda w: F.embedding(IDS, w, padding_idx=5),
    "padding_idx-too-small": lambda w: F.embedding(IDS, w, padding_idx=-6),
    "weight-1d": lambda w: F.embedding(IDS, w[0]),
    "one_hot-float": lambda w: F.one_hot(w),
    "bag-mode": lambda w: F.embedding_bag(IDS, w, mode="median"),
    "bag-offsets-2d": lambda w: F.embedding_bag(IDS, w, OFFSETS),
    "bag-no-offsets": lambda w: F.embedding_bag(BAG, w),
    "bag-weights-mean": lambda w: F.embedding_bag(IDS, w, per_sample_weights=torch.ones(2, 4, dtype=w.dtype)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_arguments_raise_what_torch_raises(name):
    expected = torch_error(lambda: ERRORS[name](W.clone().requires_grad_()))
    with pytest.raises(type(expected)) as got:
        ERRORS[name](ag.Variable(W, requires_grad=True))
    assert type(got.value) is type(expected)
    assert str(expected).splitlines()[0] in str(got.value)
