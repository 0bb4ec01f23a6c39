"""scaled_dot_product_attention against torch: values, first and second derivatives (float64) with
boolean, float and causal masks, rows that keep nothing, custom scales, grouped-query heads, and dropout
drawn from torch's generator as torch draws it (same seed, same result); torch's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import autograd_engine as ag
import nn  # noqa: F401  (registers torch.nn.functional's rules)

from .oracles import compare_with_torch

torch.manual_seed(0)
sdpa = F.scaled_dot_product_attention


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def on(t: torch.Tensor, like: Any) -> torch.Tensor:
    """A constant on the device of `like`."""
    return t.to(like.device)


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    """The same torch-style code runs on tensors and on Variables."""
    return (name, fn, fn, list(inputs))


def seeded(fn: Callable[..., Any], seed: int = 7) -> Callable[..., Any]:
    """fn run right after seeding torch's generator: torch and the engine draw the same dropout mask."""

    def run(*args: Any) -> Any:
        torch.manual_seed(seed)
        return fn(*args)

    return run


KEEP = torch.rand(3, 5) > 0.4
KEEP[:, 0] = True
DEAD_ROW = KEEP.clone()
DEAD_ROW[1] = False  # a query that keeps no key: torch gives zeros
QKV = (r(2, 3, 4), r(2, 5, 4), r(2, 5, 6))
HEADS = (r(2, 2, 3, 4), r(2, 2, 5, 4), r(2, 2, 5, 6))

CASES = [
    case("scaled_dot_product_attention", lambda q, k, v: sdpa(q, k, v), *QKV),
    case("scaled_dot_product_attention-heads", lambda q, k, v: sdpa(q, k, v), *HEADS),
    case("scaled_dot_product_attention-2d", lambda q, k, v: sdpa(q, k, v), r(3, 4), r(5, 4), r(5, 2)),
    case("scaled_dot_product_attention-causal", lambda q, k, v: sdpa(q, k, v, is_causal=True), *QKV),
    case(
        "scaled_dot_product_attention-causal-long",
        lambda q, k, v: sdpa(q, k, v, is_causal=True),
        r(2, 6, 4),
        r(2, 4, 4),
        r(2, 4, 3),
    ),
    case("scaled_dot_product_attention-bool-mask", lambda q, k, v: sdpa(q, k, v, on(KEEP, q)), *QKV),
    case("scaled_dot_product_attention-dead-row", lambda q, k, v: sdpa(q, k, v, attn_mask=on(DEAD_ROW, q)), *QKV),
    case("scaled_dot_product_attention-float-mask", lambda q, k, v, m: sdpa(q, k, v, m), *QKV, r(3, 5)),
    case(
        "scaled_dot_product_attention-float-mask-heads",
        lambda q, k, v, m: sdpa(q, k, v, attn_mask=m, scale=0.3),
        *HEADS,
        r(2, 1, 3, 5),
    ),
    case("scaled_dot_product_attention-scale", lambda q, k, v: sdpa(q, k, v, scale=1.7), *QKV),
    case(
        "scaled_dot_product_attention-gqa",
        lambda q, k, v: sdpa(q, k, v, enable_gqa=True),
        r(1, 4, 3, 4),
        r(1, 2, 5, 4),
        r(1, 2, 5, 6),
    ),
    case("scaled_dot_product_attention-dropout", seeded(lambda q, k, v: sdpa(q, k, v, dropout_p=0.3)), *HEADS),
    case(
        "scaled_dot_product_attention-dropout-causal",
        seeded(lambda q, k, v: sdpa(q, k, v, dropout_p=0.5, is_causal=True)),
        *QKV,
    ),
    case(
        "scaled_dot_product_attention-dropout-mask",
        seeded(lambda q, k, v: sdpa(q, k, v, on(DEAD_ROW, q), 0.2)),
        *QKV,
    ),
    case("scaled_dot_product_attention-dropout-all", lambda q, k, v: sdpa(q, k, v, dropout_p=1.0), *QKV),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    if "dropout" in name and device != "cpu":
        pytest.skip("torch takes its math path (whose dropout mask the engine draws) on the CPU only")
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


def test_dropout_draws_from_torch_generator_as_torch_does():
    """The same seed gives the same output and leaves the generator in the same state."""
    q, k, v = HEADS
    torch.manual_seed(11)
    theirs = sdpa(q, k, v, dropout_p=0.4)
    after_torch = torch.rand(3)
    torch.manual_seed(11)
    ours = sdpa(ag.Variable(q), k, v, dropout_p=0.4)
    torch.testing.assert_close(ours.data, theirs)
    torch.testing.assert_close(torch.rand(3), after_torch)
    assert not torch.equal(ours.data, sdpa(q, k, v))  # dropout did something


def test_a_tensor_query_with_variable_keys_dispatches():
    q, k, v = QKV
    key = ag.Variable(k.clone(), requires_grad=True)
    out = sdpa(q, key, v)
    out.sum().backward()
    torch.testing.assert_close(out.data, sdpa(q, k, v))
    assert key.grad is not None


ERRORS = [
    ("dims", lambda q, k, v: sdpa(q[0, 0], k[0, 0], v[0, 0]), "at least 2 dimensional"),
    ("dtype", lambda q, k, v: sdpa(q.float(), k, v), "to have the same dtype"),
    ("mask-dtype", lambda q, k, v: sdpa(q, k, v, attn_mask=torch.ones(3, 5, dtype=torch.int64)), "attn_mask dtype"),
    ("dropout", lambda q, k, v: sdpa(q, k, v, dropout_p=1.5), "dropout probability has to be between 0 and 1"),
    ("causal-and-mask", lambda q, k, v: sdpa(q, k, v, KEEP, 0.1, True), "attn_mask should not be set when is_causal"),
    ("shapes", lambda q, k, v: sdpa(q, k[..., :3], v), None),
]


@pytest.mark.parametrize("name,fn,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn, message):
    q, k, v = QKV
    with pytest.raises(RuntimeError, match=message):
        fn(q, k, v)
    with pytest.raises(RuntimeError, match=message):
        fn(ag.Variable(q, requires_grad=True), k, v)
