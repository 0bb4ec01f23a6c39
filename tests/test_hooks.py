"""Hooks: variable hooks that see and replace gradients, retain_grad, module forward hooks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import autograd_engine as ag
import nn

from .oracles import r

ROOT = Path(__file__).resolve().parents[1]


def test_variable_hooks_see_and_replace_gradients():
    x = ag.Variable(r(3), requires_grad=True)
    h = x * 2
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.data.clone()))
    h.register_hook(lambda g: g * 10)  # replaces what flows on to x
    (h * h).sum().backward()
    torch.testing.assert_close(seen[0], 2 * h.data)
    torch.testing.assert_close(x.grad.data, 2 * 10 * 2 * h.data)
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert len(seen) == 1


def test_a_variable_hook_handle_removes_it_on_leaving_a_with_block():
    x = ag.Variable(r(3), requires_grad=True)
    seen = []
    with x.register_hook(seen.append) as handle:
        (x * 2).sum().backward()
    assert len(seen) == 1 and isinstance(handle, ag.node.HookHandle)
    (x * 2).sum().backward()  # removed: not called again, as torch's RemovableHandle
    assert len(seen) == 1


def test_leaf_hook_changes_accumulated_grad_and_shape_is_checked():
    x = ag.Variable(r(3), requires_grad=True)
    x.register_hook(lambda g: torch.zeros_like(g.data))
    (x * 3).sum().backward()
    torch.testing.assert_close(x.grad.data, torch.zeros(3, dtype=torch.float64))
    y = ag.Variable(r(3), requires_grad=True)
    y.register_hook(lambda g: torch.zeros(2))
    with pytest.raises(RuntimeError, match=r"returned a gradient of shape \(2,\), expected \(3,\)"):
        (y * 3).sum().backward()


def test_retain_grad_for_non_leaves():
    x = ag.Variable(r(3), requires_grad=True)
    h = x.exp()
    h.retain_grad()
    h.retain_grad()  # idempotent
    (h * 3).sum().backward(retain_graph=True)
    torch.testing.assert_close(h.grad.data, torch.full((3,), 3.0, dtype=torch.float64))
    (h * 3).sum().backward()  # accumulates like a leaf
    torch.testing.assert_close(h.grad.data, torch.full((3,), 6.0, dtype=torch.float64))


def test_module_forward_hook():
    layer = nn.Linear(3, 2)
    calls = []
    handle = layer.register_forward_hook(lambda m, inputs, out: calls.append((m, inputs[0].shape, out.shape)))
    layer(ag.Variable(torch.ones(4, 3)))
    assert calls == [(layer, (4, 3), (4, 2))]
    replaced = layer.register_forward_hook(lambda m, inputs, out: out * 0)
    assert float(layer(ag.Variable(torch.ones(4, 3))).sum()) == 0.0
    handle.remove()
    replaced.remove()
    layer(ag.Variable(torch.ones(1, 3)))
    assert len(calls) == 2


# --- checkpointing --------------------------------------------------------------------------------
