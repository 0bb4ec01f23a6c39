"""Numerics: large inputs in every float dtype, NaN and infinity through activations, like torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as tnf

import autograd_engine as ag

ROOT = Path(__file__).resolve().parents[1]


EXTREMES = [-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "name,fn,ref",
    [
        ("sigmoid", ag.sigmoid, torch.sigmoid),
        ("tanh", ag.tanh, torch.tanh),
        ("softplus", ag.softplus, torch.nn.functional.softplus),
        ("logsumexp", lambda x: ag.logsumexp(x, 0), lambda x: torch.logsumexp(x, 0)),
        ("log_softmax", lambda x: ag.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0)),
        ("softmax", lambda x: ag.softmax(x, 0), lambda x: torch.softmax(x, 0)),
    ],
)
def test_stable_for_large_inputs_in_every_float_dtype(name, fn, ref, dtype, device):
    x = ag.Variable(torch.tensor(EXTREMES, dtype=dtype, device=device), requires_grad=True)
    y = fn(x)
    assert y.dtype == dtype and bool(torch.isfinite(y.data).all())
    weights = torch.linspace(0.5, 1.5, y.numel(), device=device).to(dtype).reshape(y.shape)
    (y * weights).sum().backward()
    assert x.grad.dtype == dtype and bool(torch.isfinite(x.grad.data).all())
    xt = torch.tensor(EXTREMES, dtype=torch.float64, device=device, requires_grad=True)
    (ref(xt) * weights.double()).sum().backward()
    yt = ref(xt)
    tol = {torch.float64: 1e-9, torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(y.data.double(), yt.detach(), rtol=tol, atol=tol * 3)
    torch.testing.assert_close(x.grad.data.double(), xt.grad, rtol=tol, atol=tol * 3)


@pytest.mark.parametrize(
    "fn,ref", [(ag.relu, torch.relu), (ag.sigmoid, torch.sigmoid), (ag.tanh, torch.tanh), (ag.softplus, tnf.softplus)]
)
def test_nan_and_infinity_pass_through_activations_like_torch(fn, ref, device):
    values = [float("nan"), float("-inf"), float("inf"), -0.0, 0.0, 2.0]
    x = ag.Variable(torch.tensor(values, dtype=torch.float64, device=device), requires_grad=True)
    xt = torch.tensor(values, dtype=torch.float64, device=device, requires_grad=True)
    y, yt = fn(x), ref(xt)
    torch.testing.assert_close(y.data, yt.detach(), equal_nan=True)
    y.sum().backward()
    yt.sum().backward()
    torch.testing.assert_close(x.grad.data, xt.grad, equal_nan=True)


# --- memory -----------------------------------------------------------------------------------------
