"""Forward mode and Hessian-vector products against torch.func."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import autograd_engine as ag

from .oracles import r

ROOT = Path(__file__).resolve().parents[1]


def test_jvp_and_hvp_match_torch_func(device):
    f = lambda a, b: ag.softmax(a @ b, 1)  # noqa: E731
    tf = lambda a, b: torch.softmax(a @ b, 1)  # noqa: E731
    a, b, ta, tb = (r(*shape).to(device) for shape in [(3, 4), (4, 2), (3, 4), (4, 2)])
    out, tangent = ag.jvp(f, (a, b), (ta, tb))
    t_out, t_tangent = torch.func.jvp(tf, (a, b), (ta, tb))
    torch.testing.assert_close(out, t_out)
    torch.testing.assert_close(tangent, t_tangent)
    g = lambda x: (ag.sigmoid(x) * x).sum()  # noqa: E731
    x, v = r(5).to(device), r(5).to(device)
    value, hv = ag.hvp(g, (x,), (v,))
    expected = torch.func.jvp(torch.func.grad(lambda x: (torch.sigmoid(x) * x).sum()), (x,), (v,))[1]
    torch.testing.assert_close(hv, expected)
    torch.testing.assert_close(value, (torch.sigmoid(x) * x).sum())
    with pytest.raises(ValueError, match="tangent shape"):
        ag.jvp(f, (a, b), (ta, r(3).to(device)))


# --- numerics ---------------------------------------------------------------------------------------
