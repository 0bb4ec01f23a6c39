"""Oracles: compare the engine with torch.autograd on values, first and second derivatives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

import autograd_engine as ag
from autograd_engine.variable import unwrap


def r(*shape: int) -> torch.Tensor:
    """Standard normal float64 values of `shape`."""
    return torch.randn(*shape, dtype=torch.float64)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def assert_no_torch_graph(*values: object) -> None:
    """The engine never lets torch autograd record: no result tensor carries a grad_fn."""
    for v in values:
        t = v.data if isinstance(v, ag.Variable) else v
        if isinstance(t, torch.Tensor):
            assert t.grad_fn is None and not t.requires_grad


def compare_with_torch(
    engine_fn: Callable[..., ag.Variable],
    torch_fn: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    second_order: bool = True,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    seed: int = 0,
) -> None:
    """Values, VJPs and second-order VJPs (the gradient of <vjp, w>) of engine_fn against torch_fn."""
    gen = torch.Generator().manual_seed(seed)
    xs_t = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    xs_e = [ag.Variable(x.detach().clone(), requires_grad=x.is_floating_point()) for x in inputs]
    diff_t = [x for x in xs_t if x.requires_grad]
    diff_e = [x for x in xs_e if x.requires_grad]

    out_t = torch_fn(*xs_t)
    out_e = engine_fn(*xs_e)
    assert isinstance(out_e, ag.Variable)
    assert out_e.shape == out_t.shape and out_e.dtype == out_t.dtype
    torch.testing.assert_close(out_e.data, out_t.detach(), rtol=rtol, atol=atol)

    v = torch.randn(out_t.shape, dtype=out_t.dtype, generator=gen).to(out_t.device)
    g_t = torch.autograd.grad(out_t, diff_t, v, create_graph=True, allow_unused=True)
    g_e = ag.gradients(out_e, diff_e, v, create_graph=second_order, retain_graph=True)
    for a, b, x in zip(g_e, g_t, diff_t):
        b = torch.zeros_like(x) if b is None else b
        assert a.shape == x.shape and a.dtype == x.dtype
        torch.testing.assert_close(a.data, b.detach(), rtol=rtol, atol=atol)
    assert_no_torch_graph(out_e, *g_e)
    if not second_order:
        return

    ws = [torch.randn(x.shape, dtype=x.dtype, generator=gen).to(x.device) for x in diff_t]
    s_t = sum((g * w).sum() for g, w in zip(g_t, ws) if g is not None and g.requires_grad)
    s_e = sum(
        ((g * w).sum() for g, w in zip(g_e, ws) if g.requires_grad),
        ag.Variable(torch.zeros((), dtype=v.dtype, device=v.device)),
    )
    h_t = torch.autograd.grad(s_t, diff_t, allow_unused=True) if isinstance(s_t, torch.Tensor) else [None] * len(ws)
    h_e = ag.gradients(s_e, diff_e) if s_e.requires_grad else [torch.zeros_like(x.data) for x in diff_e]
    for a, b, x in zip(h_e, h_t, diff_t):
        b = torch.zeros_like(x) if b is None else b
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def _flat(out: Any) -> list[Any]:
    return [t for o in out for t in _flat(o)] if isinstance(out, (tuple, list)) else [out]


def assert_torch_bits(fn: Callable[..., Any], *inputs: torch.Tensor, second_order: bool = True) -> None:
    """fn on Variables against fn on tensors under torch.autograd: values and first-order gradients
    bitwise (NaNs in the same places), second order close."""
    gen = torch.Generator().manual_seed(0)
    xs_t = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    xs_e = [ag.Variable(x.clone(), requires_grad=x.is_floating_point()) for x in inputs]
    outs_t, outs_e = _flat(fn(*xs_t)), _flat(fn(*xs_e))
    for e, t in zip(outs_e, outs_t, strict=True):
        torch.testing.assert_close(unwrap(e), t.detach(), rtol=0, atol=0, equal_nan=True)
    vs = [torch.randn(t.shape, dtype=t.dtype, generator=gen) for t in outs_t]
    diff_t, diff_e = [x for x in xs_t if x.requires_grad], [x for x in xs_e if x.requires_grad]
    g_t = torch.autograd.grad(outs_t, diff_t, vs, create_graph=second_order, allow_unused=True)
    g_e = ag.gradients(outs_e, diff_e, vs, create_graph=second_order)
    for e, t, x in zip(g_e, g_t, diff_t, strict=True):
        t = torch.zeros_like(x) if t is None else t
        torch.testing.assert_close(unwrap(e), t.detach(), rtol=0, atol=0, equal_nan=True)
    if not second_order:
        return
    ws = [torch.randn(x.shape, dtype=x.dtype, generator=gen) for x in diff_t]
    pairs = [(e, t, w) for e, t, w in zip(g_e, g_t, ws) if t is not None and t.requires_grad]
    h_t = torch.autograd.grad(sum((t * w).sum() for _, t, w in pairs), diff_t, allow_unused=True)
    h_e = ag.gradients(sum((e * w).sum() for e, _, w in pairs), diff_e)
    for e, t, x in zip(h_e, h_t, diff_t, strict=True):
        tol = {"rtol": 1e-10, "atol": 1e-12} if x.dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
        torch.testing.assert_close(unwrap(e), torch.zeros_like(x) if t is None else t, equal_nan=True, **tol)
