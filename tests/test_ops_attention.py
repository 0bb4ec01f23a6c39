"""scaled_dot_product_attention against torch: values, first and second derivatives (float64) with
boolean, float and causal masks, rows that keep nothing, custom scales, grouped-query heads, and dropout
drawn from torch's generator as torch draws it (same seed, same result); torch's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

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


def math_path(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn on torch's math path, whose backward has derivatives (its fused kernel's has none)."""

    def run(*args: Any) -> Any:
        with sdpa_kernel(SDPBackend.MATH):
            return fn(*args)

    return run


KEEP = torch.rand(3, 5) > 0.4
KEEP[:, 0] = True
DEAD_ROW = KEEP.clone()
DEAD_ROW[1] = False  # a query that keeps no key: torch gives zeros
QKV = (r(2, 3, 4), r(2, 5, 4), r(2, 5, 6))
FOUR = (r(2, 2, 3, 4), r(2, 2, 5, 4), r(2, 2, 5, 4))  # what torch's fused CPU kernel takes
FLOAT_MASK = r(3, 5)
DEAD_FLOAT = torch.zeros(3, 5, dtype=torch.float64).masked_fill_(~DEAD_ROW, -torch.inf)
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
    # the primitive on torch's fused CPU kernel (second order: the math path's, in primitives)
    (
        "attention",
        lambda q, k, v: ag.ops.attention(q, k, v, None, is_causal=False, scale=None),
        math_path(lambda q, k, v: sdpa(q, k, v)),
        list(FOUR),
    ),
    (
        "attention-causal-mask-scale",
        lambda q, k, v: ag.ops.attention(q, k, v, None, is_causal=True, scale=0.4),
        math_path(lambda q, k, v: sdpa(q, k, v, is_causal=True, scale=0.4)),
        list(FOUR),
    ),
    (
        "attention-float-mask",
        lambda q, k, v: ag.ops.attention(q, k, v, on(FLOAT_MASK, q), is_causal=False, scale=None),
        math_path(lambda q, k, v: sdpa(q, k, v, on(FLOAT_MASK, q))),
        list(FOUR),
    ),
    (
        "attention-gqa-dead-row",
        lambda q, k, v: ag.ops.attention(q, k, v, on(DEAD_FLOAT, q), is_causal=False, scale=None),
        math_path(lambda q, k, v: sdpa(q, k, v, on(DEAD_ROW, q), enable_gqa=True)),
        [r(1, 4, 3, 4), r(1, 2, 5, 4), r(1, 2, 5, 4)],
    ),
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


def _inputs(shapes: list[tuple[int, ...]], seed: int = 3) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen) for shape in shapes]


B4 = [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)]
PATHS = [  # (id, shapes, keyword arguments, the op the engine records: attention where torch fuses)
    ("fused", B4, {}, "attention"),
    ("fused-causal", B4, {"is_causal": True}, "attention"),
    ("fused-scale", B4, {"scale": -0.3}, "attention"),
    ("fused-float-mask", B4, {"attn_mask": torch.randn(5, 7)}, "attention"),
    ("fused-bool-mask", B4, {"attn_mask": KEEP.repeat(2, 2)[:5, :7]}, "attention"),
    ("fused-dead-row", B4, {"attn_mask": DEAD_ROW.repeat(2, 2)[:5, :7]}, "attention"),
    ("fused-gqa", [(2, 6, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)], {"enable_gqa": True}, "attention"),
    ("math-3d", [s[1:] for s in B4], {"is_causal": True}, "matmul"),
    ("math-value-width", [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)], {"scale": 0.7}, "matmul"),
    ("math-broadcast-batch", [(2, 3, 5, 8), (1, 3, 7, 8), (1, 3, 7, 8)], {}, "matmul"),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,shapes,kwargs,op", PATHS, ids=[p[0] for p in PATHS])
def test_takes_torchs_path_and_gives_its_bits(name, shapes, kwargs, op, dtype):
    """Where torch runs its fused CPU kernel the engine records `attention` on it, elsewhere torch's math path
    as a composite; either way the output and the three gradients are torch's to the bit."""
    kwargs = {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in kwargs.items()}
    xs = [x.to(dtype) for x in _inputs(shapes)]
    theirs = [x.clone().requires_grad_() for x in xs]
    ours = [ag.Variable(x.clone(), requires_grad=True) for x in xs]
    out_t, out_e = sdpa(*theirs, **kwargs), sdpa(*ours, **kwargs)
    assert out_e.op == op
    g = torch.randn_like(out_t)
    out_t.backward(g)
    out_e.backward(g)
    assert torch.equal(out_e.data, out_t)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.grad.data, b.grad)


def test_fused_attention_keeps_a_log_sum_exp_rather_than_the_weights():
    """The fused node keeps q, k, v, the output and one float per query (the residual): not the (L, S) weights
    that the composite keeps, and the backward kernel runs once for the three gradients."""
    q, k, v = (ag.Variable(x, requires_grad=True) for x in _inputs([(2, 3, 64, 8)] * 3))
    out = sdpa(q, k, v, is_causal=True)
    node = out._node
    assert node.name == "attention" and node.kwargs["logsumexp"].shape == (2, 3, 64)
    inputs_and_output = 4 * 2 * 3 * 64 * 8 * 4  # bytes of float32 q, k, v and out
    assert node.saved_bytes() == inputs_and_output + 2 * 3 * 64 * 4
    math = sdpa(q[0], k[0], v[0], is_causal=True)  # 3-d: torch's math path, which keeps the weights
    assert ag.graph.summary(math).saved_bytes > 3 * 64 * 64 * 4


def test_second_order_through_the_fused_kernel_is_the_math_paths():
    """torch's fused backward has no derivative; the engine's VJP under create_graph is the math path's, so a
    Hessian-vector product through attention matches torch's math path (float64)."""
    xs = [x.double() for x in _inputs(B4)]
    mask = torch.randn(5, 7, dtype=torch.float64)

    def hvp(fn, leaves):
        out = fn(*leaves)
        grads = ag.gradients(out, leaves, create_graph=True) if isinstance(out, ag.Variable) else None
        if grads is None:
            grads = torch.autograd.grad(out, leaves, create_graph=True)
        total = sum((g * g).sum() for g in grads)
        return ag.gradients(total, leaves) if isinstance(total, ag.Variable) else torch.autograd.grad(total, leaves)

    ours = hvp(lambda q, k, v: sdpa(q, k, v, mask).tanh().sum(), [ag.Variable(x, requires_grad=True) for x in xs])
    with sdpa_kernel(SDPBackend.MATH):
        theirs = hvp(lambda q, k, v: sdpa(q, k, v, mask).tanh().sum(), [x.clone().requires_grad_() for x in xs])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
