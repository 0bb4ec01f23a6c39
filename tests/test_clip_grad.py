"""nn.utils against torch.nn.utils: gradient clipping (total norm and clipped gradients bitwise equal) and
the flat-vector view of parameters."""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch

import autograd_engine as ag
import nn

SHAPES = [(4, 3), (7,), (2, 2, 2), (5,)]


def twins(dtypes=(torch.float32,) * 4, scale=3.0, without_grad=(3,), device="cpu"):
    """Our parameters and torch's with the same gradients (none for the indices in `without_grad`)."""
    gen = torch.Generator().manual_seed(0)
    ours, theirs = [], []
    for i, (shape, dtype) in enumerate(zip(SHAPES, dtypes)):
        grad = (scale * torch.randn(shape, generator=gen, dtype=dtype)).to(device)
        a, b = nn.Parameter(torch.zeros(shape, dtype=dtype, device=device)), torch.nn.Parameter(torch.zeros_like(grad))
        if i not in without_grad:
            a.grad, b.grad = ag.Variable(grad.clone()), grad.clone()
        ours.append(a)
        theirs.append(b)
    return ours, theirs


def assert_same_grads(ours, theirs):
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if b.grad is not None:
            torch.testing.assert_close(a.grad.data, b.grad, rtol=0, atol=0, equal_nan=True)  # (bitwise)


NORMS = [2.0, 1.0, 3.5, 0.5, math.inf, -math.inf, 0.0]
DTYPES = [(torch.float32,) * 4, (torch.float64, torch.float32, torch.float64, torch.float32)]


@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "mixed"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("foreach", [None, False])
def test_clip_grad_norm_equals_torchs(norm_type, max_norm, dtypes, foreach, device):
    ours, theirs = twins(dtypes, device=device)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type, foreach=foreach)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type, foreach=foreach)
    assert isinstance(total, torch.Tensor) and total.dtype == expected.dtype and torch.equal(total, expected)
    assert_same_grads(ours, theirs)


def test_the_clipped_gradients_have_max_norm():
    ours, _ = twins()
    before = [p.grad.data.clone() for p in ours if p.grad is not None]
    total = nn.utils.clip_grad_norm_(iter(ours), 1.0)
    after = torch.cat([p.grad.data.flatten() for p in ours if p.grad is not None])
    torch.testing.assert_close(total, torch.cat([g.flatten() for g in before]).norm())
    torch.testing.assert_close(after.norm(), torch.tensor(1.0), rtol=1e-5, atol=0)


def test_a_single_parameter_and_a_generator_work_and_an_empty_generator_warns():
    ours, theirs = twins()
    assert torch.equal(nn.utils.clip_grad_norm_(ours[0], 0.1), torch.nn.utils.clip_grad_norm_(theirs[0], 0.1))
    assert torch.equal(
        nn.utils.clip_grad_norm_((p for p in ours), 0.1), torch.nn.utils.clip_grad_norm_((p for p in theirs), 0.1)
    )
    assert_same_grads(ours, theirs)
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient clipping will occur"):
        assert torch.equal(nn.utils.clip_grad_norm_((p for p in []), 1.0), torch.tensor(0.0))
    assert torch.equal(nn.utils.clip_grad_norm_([nn.Parameter(torch.ones(2))], 1.0), torch.tensor(0.0))


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_a_non_finite_norm_is_an_error_when_asked_and_scales_as_torch_otherwise(bad):
    ours, theirs = twins()
    ours[0].grad.data[0, 0] = theirs[0].grad[0, 0] = bad
    with pytest.raises(RuntimeError) as expected:
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="^" + re.escape(str(expected.value)) + "$"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert_same_grads(ours, theirs)  # (nothing was scaled)
    total = nn.utils.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    torch.testing.assert_close(total, expected, rtol=0, atol=0, equal_nan=True)
    assert_same_grads(ours, theirs)


@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_get_total_norm_and_clip_grads_with_norm_equal_torchs(norm_type):
    ours, theirs = twins()
    grads = [p.grad for p in ours if p.grad is not None]
    total = nn.utils.get_total_norm(grads, norm_type)
    expected = torch.nn.utils.get_total_norm([p.grad for p in theirs if p.grad is not None], norm_type)
    assert torch.equal(total, expected)
    nn.utils.clip_grads_with_norm_(ours, 0.3, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.3, expected)
    assert_same_grads(ours, theirs)
    assert torch.equal(nn.utils.get_total_norm([]), torch.nn.utils.get_total_norm([]))


@pytest.mark.parametrize("foreach", [None, False])
def test_clip_grad_value_equals_torchs(foreach, device):
    ours, theirs = twins(DTYPES[1], device=device)
    assert nn.utils.clip_grad_value_(ours, 0.7, foreach=foreach) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7, foreach=foreach)
    assert_same_grads(ours, theirs)
    assert max(p.grad.data.abs().max().item() for p in ours if p.grad is not None) == pytest.approx(0.7)


def test_foreach_on_a_device_without_it_is_torchs_error():
    meta = [torch.ones(2, device="meta")]
    with pytest.raises(RuntimeError) as expected:
        torch.nn.utils.get_total_norm(meta, foreach=True)
    with pytest.raises(RuntimeError, match="^" + re.escape(str(expected.value)) + "$"):
        nn.utils.get_total_norm([ag.Variable(t) for t in meta], foreach=True)


def test_clip_grad_norm_without_the_underscore_is_deprecated():
    ours, theirs = twins()
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        total = nn.utils.clip_grad_norm(ours, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.equal(total, torch.nn.utils.clip_grad_norm(theirs, 0.5))


def test_parameters_to_vector_is_recorded_and_vector_to_parameters_makes_views():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).to(torch.float64)
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double()
    vec, expected = (
        nn.utils.parameters_to_vector(ours.parameters()),
        torch.nn.utils.parameters_to_vector(theirs.parameters()),
    )
    assert isinstance(vec, ag.Variable) and torch.equal(vec.data, expected.detach())
    weights = torch.linspace(-1, 1, expected.numel(), dtype=torch.float64)
    (vec * weights).sum().backward()
    (expected * weights).sum().backward()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a.grad.data, b.grad)

    new = torch.arange(expected.numel(), dtype=torch.float64)
    nn.utils.vector_to_parameters(ag.Variable(new), ours.parameters())
    torch.nn.utils.vector_to_parameters(new, theirs.parameters())
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a.data, b.detach())
    new[0] = -5.0  # the parameters are views of the vector, as torch's
    assert ours[0].weight.data[0, 0] == theirs[0].weight[0, 0] == -5.0


def test_vector_to_parameters_errors_are_torchs():
    with pytest.raises(TypeError, match="^expected torch.Tensor, but got: list$"):
        nn.utils.vector_to_parameters([1.0, 2.0], [nn.Parameter(torch.ones(2))])
    mixed = [nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2, device="meta"))]
    with pytest.raises(
        TypeError, match="^Found two parameters on different devices, this is currently not supported.$"
    ):
        nn.utils.parameters_to_vector(mixed)
