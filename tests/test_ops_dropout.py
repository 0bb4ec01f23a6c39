"""Dropout against torch: after torch.manual_seed the masks, values and gradients equal torch's (the noise
is drawn from torch's global generator as torch draws it); training=False and p=0 give the input back;
inplace=True writes into the input as torch does; torch's errors and warnings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (torch's spelling)

import autograd_engine as ag

CASES: list[Any] = []  # (no primitives of their own: dropout records mul, and add for alpha dropout)

X = torch.randn(4, 3, 5, 6, dtype=torch.float64)

SEEDED: dict[str, Callable[[Any], Any]] = {
    "dropout": lambda x: F.dropout(x, 0.3),
    "dropout-flat": lambda x: F.dropout(x.flatten(), 0.7),
    "dropout-torch": lambda x: torch.dropout(x, 0.4, True),
    "dropout1d": lambda x: F.dropout1d(x[0], 0.5),
    "dropout1d-unbatched": lambda x: F.dropout1d(x[0, 0], 0.5),
    "dropout2d": lambda x: F.dropout2d(x, 0.5),
    "dropout3d": lambda x: F.dropout3d(x[None], 0.5),
    "dropout3d-unbatched": lambda x: F.dropout3d(x, 0.5),
    "alpha_dropout": lambda x: F.alpha_dropout(x, 0.2, training=True),
    "feature_alpha_dropout": lambda x: F.feature_alpha_dropout(x, 0.2, training=True),
    "feature_dropout-torch": lambda x: torch.feature_dropout(x, 0.3, True),
    "dropout-p1": lambda x: F.dropout(x, 1.0),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SEEDED))
def test_seeded_runs_equal_torch(name, dtype, device):
    fn, x = SEEDED[name], X.to(dtype=dtype, device=device)
    torch.manual_seed(7)
    theirs = x.clone().requires_grad_()
    expected, next_theirs = fn(theirs), torch.rand(3, device=device)
    torch.manual_seed(7)
    ours = ag.Variable(x.clone(), requires_grad=True)
    out, next_ours = fn(ours), torch.rand(3, device=device)
    assert torch.equal(out.data, expected.detach())  # bit for bit
    assert torch.equal(next_ours, next_theirs)  # the generator was used as torch uses it
    cotangent = torch.randn(out.shape, dtype=dtype, device=device)
    out.backward(cotangent)
    expected.backward(cotangent)
    assert torch.equal(ours.grad.data, theirs.grad)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout])
def test_no_training_or_no_probability_returns_the_input(fn):
    x = ag.Variable(X, requires_grad=True)
    assert fn(x, 0.5, training=False) is x and fn(x, 0.0, training=True) is x


def test_inplace_writes_into_the_input_as_torch():
    torch.manual_seed(1)
    theirs = X.clone().requires_grad_()
    expected = theirs * 2
    F.dropout(expected, 0.5, inplace=True)
    torch.manual_seed(1)
    ours = ag.Variable(X.clone(), requires_grad=True)
    out = ours * 2
    result = F.dropout(out, 0.5, inplace=True)
    assert result is out and torch.equal(out.data, expected.detach())
    out.sum().backward()
    expected.sum().backward()
    assert torch.equal(ours.grad.data, theirs.grad)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        F.dropout(ours, 0.5, inplace=True)
    plain = ag.Variable(X.clone())  # needs no grad: the tensor itself is written, as torch writes it
    torch.manual_seed(2)
    F.dropout(plain, 0.5, inplace=True)
    torch.manual_seed(2)
    assert torch.equal(plain.data, F.dropout(X.clone(), 0.5))


ERRORS = {
    "p-negative": (lambda x: F.dropout(x, -0.1), ValueError, "dropout probability has to be between 0 and 1"),
    "p-above-one": (lambda x: F.dropout2d(x, 1.5), ValueError, "dropout probability has to be between 0 and 1"),
    "torch-p": (lambda x: torch.dropout(x, 2.0, True), RuntimeError, "dropout probability has to be between 0"),
    "dropout1d-dims": (lambda x: F.dropout1d(x, 0.5), RuntimeError, "dropout1d: Expected 2D or 3D input"),
    "feature-dims": (lambda x: F.feature_alpha_dropout(x[0, 0, 0], 0.5, True), RuntimeError, "Feature dropout"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_arguments_raise_what_torch_raises(name):
    fn, error, message = ERRORS[name]
    with pytest.raises(error, match=message):
        fn(X.clone().requires_grad_())
    with pytest.raises(error, match=message):
        fn(ag.Variable(X, requires_grad=True))


def test_dropout2d_warns_as_torch_about_3d_inputs():
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input to dropout2d"):
        F.dropout2d(ag.Variable(X[0], requires_grad=True), 0.5)
