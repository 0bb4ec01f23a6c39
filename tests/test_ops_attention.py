"""scaled_dot_product_attention against torch: values, first and second derivatives (float64) with
boolean, float and causal masks, rows that keep nothing, custom scales, grouped-query heads, and dropout
drawn from torch's generator as torch draws it (same seed, same result); torch's path (fused kernel or
math) and its bits, in float16, bfloat16, float32 and float64; torch's errors, with its messages."""

from __future__ import annotations

import re
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


FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]  # what torch's CPU attention takes
HALF = (torch.float16, torch.bfloat16)


def _inputs(shapes: list[tuple[int, ...]], dtype: torch.dtype = torch.float32, seed: int = 3) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen).to(dtype) for shape in shapes]


def in_query_dtype(mask: torch.Tensor) -> Callable[[torch.dtype], torch.Tensor]:
    """A mask that a test casts to the query's dtype (a plain float32 mask stays float32: torch takes both)."""
    return lambda dtype: mask.to(dtype)


def _materialize(kwargs: dict[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    """The keyword arguments, with each `in_query_dtype` mask cast to `dtype`."""
    return {k: v(dtype) if callable(v) else v for k, v in kwargs.items()}


def _both(xs: list[torch.Tensor], grad_of: int = 3, **kwargs: Any) -> tuple[Any, Any, list[Any], list[Any]]:
    """sdpa on tensors and on Variables, torch's generator seeded the same before each, and a backward of one
    random cotangent: both outputs and the gradients of the first `grad_of` inputs (q, k, v, then a mask)."""
    kwargs = _materialize(kwargs, xs[0].dtype)
    theirs = [x.clone().requires_grad_(i < grad_of) for i, x in enumerate(xs)]
    ours = [ag.Variable(x.clone(), requires_grad=i < grad_of) for i, x in enumerate(xs)]
    torch.manual_seed(7)
    out_t = sdpa(*theirs, **kwargs)
    torch.manual_seed(7)
    out_e = sdpa(*ours, **kwargs)
    g = torch.randn(out_t.shape, generator=torch.Generator().manual_seed(1)).to(out_t.dtype)
    out_t.backward(g)
    out_e.backward(g)
    return out_t, out_e, [x.grad for x in theirs[:grad_of]], [x.grad.data for x in ours[:grad_of]]


def _assert_same_bits(out_t: Any, out_e: Any, grads_t: list[Any], grads_e: list[Any]) -> None:
    assert out_e.dtype == out_t.dtype and torch.equal(out_e.data, out_t)
    for ours, theirs in zip(grads_e, grads_t, strict=True):
        assert ours.dtype == theirs.dtype and torch.equal(ours, theirs)


B4 = [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)]
B3 = [s[1:] for s in B4]
MASK = torch.randn(5, 7)  # float32, which torch takes with any query dtype
KEEP57, DEAD57 = KEEP.repeat(2, 2)[:5, :7], DEAD_ROW.repeat(2, 2)[:5, :7]
GQA = [(2, 6, 5, 8), (2, 2, 7, 8), (2, 2, 7, 8)]
PATHS = [  # (id, shapes, keyword arguments, whether torch runs its fused kernel: the engine then records `attention`)
    ("fused", B4, {}, True),
    ("fused-causal", B4, {"is_causal": True}, True),
    ("fused-scale", B4, {"scale": -0.3}, True),
    ("fused-float32-mask", B4, {"attn_mask": MASK}, True),
    ("fused-query-dtype-mask", B4, {"attn_mask": in_query_dtype(MASK)}, True),
    ("fused-bool-mask", B4, {"attn_mask": KEEP57}, True),
    ("fused-dead-row", B4, {"attn_mask": DEAD57}, True),
    ("fused-mask-and-causal", B4, {"attn_mask": in_query_dtype(MASK), "is_causal": True}, True),
    ("fused-bool-mask-and-causal", B4, {"attn_mask": KEEP57, "is_causal": True}, True),
    ("fused-gqa", GQA, {"enable_gqa": True}, True),
    ("math-3d", B3, {"is_causal": True}, False),
    ("math-3d-float32-mask", B3, {"attn_mask": MASK}, False),
    ("math-3d-query-dtype-mask", B3, {"attn_mask": in_query_dtype(MASK[None])}, False),
    ("math-3d-bool-mask", B3, {"attn_mask": KEEP57}, False),
    ("math-3d-dead-row", B3, {"attn_mask": DEAD57}, False),
    ("math-2d", [(5, 8), (7, 8), (7, 3)], {}, False),
    ("math-5d", [(2, 2, 3, 5, 8), (2, 2, 3, 7, 8), (2, 2, 3, 7, 8)], {"scale": 0.5}, False),
    ("math-value-width", [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)], {"scale": 0.7}, False),
    ("math-broadcast-batch", [(2, 3, 5, 8), (1, 3, 7, 8), (1, 3, 7, 8)], {}, False),
    ("math-dropout", B4, {"dropout_p": 0.3}, False),
    ("math-dropout-causal-gqa", GQA, {"dropout_p": 0.2, "is_causal": True, "enable_gqa": True}, False),
    ("math-3d-gqa", [s[1:] for s in GQA], {"enable_gqa": True}, False),
    ("math-negative-dropout", B3, {"dropout_p": -0.5}, False),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name,shapes,kwargs,fused", PATHS, ids=[p[0] for p in PATHS])
def test_takes_torchs_path_and_gives_its_bits(name, shapes, kwargs, fused, dtype):
    """Where torch runs its fused CPU kernel the engine records `attention` on it, elsewhere torch's math path
    as a composite (half and bfloat16 computed in float32 and cast back, as torch does: a `to` node last);
    either way the output and the three gradients are torch's to the bit, in every floating dtype."""
    out_t, out_e, grads_t, grads_e = _both(_inputs(shapes, dtype), **kwargs)
    assert out_e.op == ("attention" if fused else "to" if dtype in HALF else "matmul")
    _assert_same_bits(out_t, out_e, grads_t, grads_e)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shapes", [B3, B4], ids=["3d", "4d"])
def test_a_mask_that_requires_grad_gets_torchs_gradient(shapes, dtype):
    """A float mask that requires grad sends torch to its math path (the fused kernel gives a mask no
    gradient); its gradient, summed over the dims it broadcasts along, is torch's to the bit too."""
    out_t, out_e, grads_t, grads_e = _both([*_inputs(shapes, dtype), MASK.to(dtype)], grad_of=4)
    assert out_e.op != "attention"
    _assert_same_bits(out_t, out_e, grads_t, grads_e)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_half_precision_math_where_torch_allows_it(dtype):
    """torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True) keeps torch's math path in the inputs'
    own dtype (different bits from the float32 computation); the engine reads the same switch."""
    xs = _inputs(B3, dtype)
    default = sdpa(*xs)
    allowed = torch.backends.cuda.fp16_bf16_reduction_math_sdp_allowed()
    torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True)
    try:
        out_t, out_e, grads_t, grads_e = _both(xs)
    finally:
        torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(allowed)
    assert out_e.op == "matmul" and not torch.equal(out_t, default)
    _assert_same_bits(out_t, out_e, grads_t, grads_e)


def _same_outcome(fn: Callable[..., Any], xs: list[torch.Tensor]) -> Exception | None:
    """fn on tensors and on Variables: torch's error (its type and message) from both, else the same bits.
    Returns torch's error, or None."""
    try:
        theirs = fn(*xs)
    except Exception as error:  # noqa: BLE001  (whatever torch raises, the engine must raise too)
        with pytest.raises(type(error), match=re.escape(str(error)) + r"($| \[inputs: )"):  # (a primitive adds them)
            fn(*[ag.Variable(x, requires_grad=True) for x in xs])
        return error
    assert torch.equal(fn(*[ag.Variable(x, requires_grad=True) for x in xs]).data, theirs)
    return None


@pytest.mark.parametrize("mask_dtype", [*FLOATS, torch.bool, torch.int64], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_mask_dtypes_as_torch(dtype, mask_dtype):
    """torch takes a boolean mask, a float32 one or one of the query's dtype and refuses any other (before it
    picks a path, so on 3-d and 4-d inputs alike), naming both dtypes: the engine does the same, pair by pair."""
    taken = mask_dtype in (torch.bool, torch.float32, dtype)
    mask = MASK > 0 if mask_dtype == torch.bool else MASK.to(mask_dtype)
    for shapes in (B3, B4):
        error = _same_outcome(lambda q, k, v: sdpa(q, k, v, mask), _inputs(shapes, dtype))
        assert (error is None) == taken


ERRORS = [  # (id, a call that torch refuses, the shapes of q, k and v)
    ("dims", lambda q, k, v: sdpa(q[0, 0], k[0, 0], v[0, 0]), B3),
    ("dtype-before-dims", lambda q, k, v: sdpa(q[0, 0], k[0, 0].double(), v[0, 0]), B3),
    ("dtype", lambda q, k, v: sdpa(q.double(), k, v), B3),
    ("mask-dtype", lambda q, k, v: sdpa(q, k, v, attn_mask=torch.ones(5, 7, dtype=torch.int64)), B3),
    ("mask-dtype-before-dropout", lambda q, k, v: sdpa(q, k, v, MASK.double(), 2.0), B3),
    ("dropout", lambda q, k, v: sdpa(q, k, v, dropout_p=1.5), B3),
    ("dropout-whole", lambda q, k, v: sdpa(q, k, v, dropout_p=2.0), B4),
    ("dropout-negative-fused", lambda q, k, v: sdpa(q, k, v, dropout_p=-0.5), B4),
    ("causal-and-mask-3d", lambda q, k, v: sdpa(q, k, v, MASK, is_causal=True), B3),
    ("causal-and-mask-dropout", lambda q, k, v: sdpa(q, k, v, MASK, 0.1, True), B4),
    ("causal-and-3d-mask", lambda q, k, v: sdpa(q, k, v, MASK.expand(3, 5, 7), is_causal=True), B4),
    ("mask-enlarges-scores", lambda q, k, v: sdpa(q, k, v, MASK.expand(2, 1, 5, 7)), B3),
    ("mask-shape", lambda q, k, v: sdpa(q, k, v, MASK[:4]), B3),
    ("shapes", lambda q, k, v: sdpa(q, k[..., :3], v), B3),
    ("gqa-heads", lambda q, k, v: sdpa(q, k, v, enable_gqa=True), [(2, 3, 5, 8), (2, 2, 7, 8), (2, 2, 7, 8)]),
    ("gqa-2d", lambda q, k, v: sdpa(q, k, v, enable_gqa=True), [(5, 8), (7, 8), (7, 8)]),
]


@pytest.mark.parametrize("name,fn,shapes", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn, shapes):
    """Where torch refuses the arguments (in its order of checks, on the path it takes) the engine raises the
    same error type with the same message."""
    assert _same_outcome(fn, _inputs(shapes)) is not None


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


CAUSAL = torch.ones(5, 7, dtype=torch.bool).tril()
SECOND_ORDER = [  # (id, the engine's keyword arguments, the same attention on torch's math path: it has a derivative)
    ("mask", {"attn_mask": in_query_dtype(MASK)}, {"attn_mask": in_query_dtype(MASK)}),
    (
        "mask-and-causal",
        {"attn_mask": in_query_dtype(MASK), "is_causal": True},
        {"attn_mask": in_query_dtype(MASK.masked_fill(~CAUSAL, -torch.inf))},
    ),
    ("bool-mask-and-causal", {"attn_mask": KEEP57, "is_causal": True}, {"attn_mask": KEEP57 & CAUSAL}),
]


def _hvp(leaves: list[Any], **kwargs: Any) -> list[Any]:
    """The gradient of the squared norm of the gradient of sum(tanh(sdpa)): second order through attention."""
    out = sdpa(*leaves, **kwargs).tanh().sum()
    if isinstance(out, ag.Variable):
        total = sum((g * g).sum() for g in ag.gradients(out, leaves, create_graph=True))
        return ag.gradients(total, leaves)
    total = sum((g * g).sum() for g in torch.autograd.grad(out, leaves, create_graph=True))
    return list(torch.autograd.grad(total, leaves))


def _math_hvp(xs: list[torch.Tensor], kwargs: dict[str, Any]) -> list[Any]:
    with sdpa_kernel(SDPBackend.MATH):
        return _hvp([x.clone().requires_grad_() for x in xs], **_materialize(kwargs, xs[0].dtype))


@pytest.mark.parametrize("name,ours,theirs", SECOND_ORDER, ids=[c[0] for c in SECOND_ORDER])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64], ids=str)
def test_second_order_through_the_fused_kernel_is_the_math_paths(name, ours, theirs, dtype):
    """torch's fused backward has no derivative; the engine's VJP under create_graph is the math path's (in
    float32 for bfloat16, as that path computes), so a Hessian-vector product through attention matches
    torch's math path: to float64 rounding in float64; in bfloat16, within a few bfloat16 roundings of the
    float64 result, as torch's own bfloat16 math path is."""
    xs = _inputs(B4, dtype)
    leaves = [ag.Variable(x, requires_grad=True) for x in xs]
    assert sdpa(*leaves, **_materialize(ours, dtype)).op == "attention"
    engine = _hvp(leaves, **_materialize(ours, dtype))
    exact = _math_hvp([x.double() for x in xs], theirs)
    if dtype == torch.float64:
        for a, b in zip(engine, exact, strict=True):
            torch.testing.assert_close(a.data, b, rtol=1e-10, atol=1e-12)
        return
    bound = 4 * torch.finfo(dtype).eps  # relative, in norm: torch's own bfloat16 math path keeps within it too
    for a, t, b in zip(engine, _math_hvp(xs, theirs), exact, strict=True):
        assert a.dtype == t.dtype == dtype
        assert (a.data.double() - b).norm() <= bound * b.norm() and (t.double() - b).norm() <= bound * b.norm()
