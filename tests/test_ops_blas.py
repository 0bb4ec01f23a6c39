"""The add* BLAS family (addmm, addmv, addr, baddbmm, addbmm) against torch: values and every input's
gradient bit for bit (float32 and float64, at sizes where a product then an addition rounds otherwise),
beta and alpha, broadcast inputs, column-major factors, NaN ignored with beta=0, integers, second order,
and torch's errors."""

from __future__ import annotations

import pytest
import torch

import autograd_engine as ag

from .oracles import compare_with_torch, r
from .test_torch_semantics import assert_raises_like_torch

torch.manual_seed(0)


def same(case_id: str, fn, inputs: list[torch.Tensor]):
    """A case whose torch-style code runs unchanged on tensors and on Variables."""
    return case_id, fn, fn, inputs


# (id, engine function, torch function, inputs): values, first and second order (float64, within 1e-10)
CASES = [
    same("addmm", lambda i, a, b: torch.addmm(i, a, b), [r(2, 4), r(2, 3), r(3, 4)]),
    same("addmm-keywords", lambda i, a, b: torch.addmm(input=i, mat1=a, mat2=b, beta=0.5), [r(4), r(2, 3), r(3, 4)]),
    same("addmm-scaled", lambda i, a, b: torch.addmm(i, a, b, beta=0.5, alpha=2.0), [r(4), r(2, 3), r(3, 4)]),
    same("addmm-beta-0", lambda i, a, b: i.addmm(a, b, beta=0, alpha=-1.5), [r(2, 1), r(2, 3), r(3, 4)]),
    same("addmm-column-major", lambda i, a, b: torch.addmm(i, a.mT, b.mT, alpha=3), [r(()), r(3, 2), r(4, 3)]),
    same("addmv", lambda i, a, b: torch.addmv(i, a, b, beta=0.5), [r(2), r(2, 3), r(3)]),
    same("addmv-method", lambda i, a, b: i.addmv(a.mT, b, beta=0, alpha=2.0), [r(1), r(3, 2), r(3)]),
    same("addr", lambda i, a, b: torch.addr(i, a, b, alpha=3), [r(2, 3), r(2), r(3)]),
    same("addr-broadcast", lambda i, a, b: i.addr(a, b, beta=-2.0), [r(3), r(2), r(3)]),
    same("baddbmm", lambda i, a, b: torch.baddbmm(i, a, b, beta=2, alpha=0.5), [r(1, 2, 4), r(3, 2, 3), r(3, 3, 4)]),
    same("baddbmm-method", lambda i, a, b: i.baddbmm(a, b), [r(3, 2, 4), r(3, 2, 3), r(3, 3, 4)]),
    same("addbmm", lambda i, a, b: torch.addbmm(i, a, b, beta=2, alpha=0.5), [r(2, 4), r(3, 2, 3), r(3, 3, 4)]),
    same("addbmm-method", lambda i, a, b: i.addbmm(a, b, beta=0), [r(4), r(3, 2, 3), r(3, 3, 4)]),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


# --- bit for bit ---------------------------------------------------------------------------------------
def product_then_add(name: str, x, a, b, beta, alpha):
    """What the engine computed before these were primitives: the product (addbmm's as one (n, b*m) @ (b*m, p)),
    times alpha, plus beta * x (x ignored when beta is 0)."""
    if name == "addr":
        product = a.reshape(-1, 1) * b
    elif name == "addbmm":
        batches, n, m = a.shape
        product = a.permute(1, 0, 2).reshape(n, batches * m) @ b.reshape(batches * m, -1)
    else:
        product = a @ b
    if alpha != 1:
        product = product * alpha
    return product if beta == 0 else (x if beta == 1 else x * beta) + product


def bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bits as integers: equal bits means equal values, the sign of zeros and NaNs included."""
    return t.view({4: torch.int32, 8: torch.int64}[t.element_size()])


def assert_bits(ours: ag.Variable, theirs: torch.Tensor, what: str) -> None:
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    assert torch.equal(bits(ours.data.contiguous()), bits(theirs.contiguous())), f"{what}: not torch's bits"


def make(shapes: list[tuple[int, ...]], columns: tuple[bool, ...], dtype: torch.dtype, seed: int) -> list[torch.Tensor]:
    """Standard normal tensors of `shapes`, those flagged in `columns` laid out column by column (a transpose)."""
    gen = torch.Generator().manual_seed(seed)
    made = []
    for shape, column in zip(shapes, columns):
        t = torch.randn((*shape[:-2], shape[-1], shape[-2]) if column else shape, dtype=dtype, generator=gen)
        made.append(t.mT if column else t)
    return made


def run_both(name: str, inputs: list[torch.Tensor], **scales):
    """torch.<name> on Variables and on tensors (same layouts), a random output gradient, and both sides'
    outputs and gradients of every input."""
    leaves_t = [t.clone().requires_grad_() for t in inputs]  # (clone keeps a transposed layout)
    leaves_e = [ag.Variable(t.clone(), requires_grad=True) for t in inputs]
    out_t, out_e = getattr(torch, name)(*leaves_t, **scales), getattr(torch, name)(*leaves_e, **scales)
    g = cotangent(out_t)
    return out_e, out_t, ag.gradients(out_e, leaves_e, g), torch.autograd.grad(out_t, leaves_t, g)


def cotangent(like: torch.Tensor) -> torch.Tensor:
    """The output gradient the tests send back: standard normal, always the same for a shape."""
    return torch.randn(like.shape, dtype=like.dtype, generator=torch.Generator().manual_seed(7))


# (id, shapes of x and of the two factors, which are column-major): sizes where torch's kernels block their sums
BITWISE = [
    ("addmm", [(64, 64), (64, 200), (200, 64)], (False, False, False)),
    ("addmm-row", [(64,), (64, 200), (200, 64)], (False, False, False)),
    ("addmm-column", [(64, 1), (64, 200), (200, 64)], (False, False, False)),
    ("addmm-0d", [(), (64, 200), (200, 64)], (False, False, False)),
    ("addmm-mat1-column-major", [(64, 64), (64, 200), (200, 64)], (False, True, False)),
    ("addmm-mat2-column-major", [(64, 64), (64, 200), (200, 64)], (False, False, True)),
    ("addmm-both-column-major", [(1, 64), (64, 200), (200, 64)], (False, True, True)),
    ("addmv", [(64,), (64, 200), (200,)], (False, True, False)),
    ("addmv-row-major", [(1,), (64, 200), (200,)], (False, False, False)),
    ("addr", [(64, 50), (64,), (50,)], (False, False, False)),
    ("addr-broadcast", [(50,), (64,), (50,)], (False, False, False)),
    ("baddbmm", [(3, 64, 64), (3, 64, 200), (3, 200, 64)], (False, False, False)),
    ("baddbmm-broadcast", [(1, 64, 64), (3, 64, 200), (3, 200, 64)], (False, False, False)),
    ("baddbmm-column-major", [(64,), (3, 64, 200), (3, 200, 64)], (False, True, True)),
    ("addbmm", [(64, 64), (3, 64, 200), (3, 200, 64)], (False, False, False)),
    ("addbmm-broadcast", [(1, 64), (3, 64, 200), (3, 200, 64)], (False, False, False)),
]
SCALES = [(1, 1), (0, 1), (0.7, 1), (1, 0.3), (0.5, 2.0), (0, -3)]  # (beta, alpha): 1 multiplies nothing


@pytest.mark.parametrize("beta,alpha", SCALES, ids=[f"beta={b},alpha={a}" for b, a in SCALES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case_id,shapes,columns", BITWISE, ids=[c[0] for c in BITWISE])
def test_values_and_gradients_are_torchs_bits(case_id, shapes, columns, dtype, beta, alpha):
    name = case_id.split("-")[0]
    out_e, out_t, grads_e, grads_t = run_both(name, make(shapes, columns, dtype, seed=1), beta=beta, alpha=alpha)
    assert out_e.op == name  # one node: torch's kernel
    assert_bits(out_e, out_t, "value")
    for what, ours, theirs in zip(("input", "first factor", "second factor"), grads_e, grads_t):
        assert_bits(ours, theirs, f"gradient of the {what}")


OPS = ["addmm", "addmv", "addr", "baddbmm", "addbmm"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", OPS)
def test_a_product_then_an_addition_would_not_be_torchs_bits(name, dtype):
    """The sizes above are real cases: the composite these replaced (product, then addition) rounds otherwise."""
    shapes, columns = next((s, c) for case_id, s, c in BITWISE if case_id == name)
    if name == "baddbmm":  # (float32's batched kernel needs a longer sum for it to show)
        shapes, columns = [(1, 64, 64), (3, 64, 200), (3, 200, 64)], (False, False, False)
    inputs = make(shapes, columns, dtype, seed=1)
    for beta, alpha in [(1, 1), (0.5, 2.0)]:
        fused = getattr(torch, name)(*inputs, beta=beta, alpha=alpha)
        assert not torch.equal(product_then_add(name, *inputs, beta, alpha), fused), (beta, alpha)
        out = getattr(torch, name)(*[ag.Variable(t) for t in inputs], beta=beta, alpha=alpha)
        assert torch.equal(out.data, fused)


def test_column_major_factors_take_torchs_order():
    """torch computes a column-major factor's gradient as the transpose of the transposed product; the plain
    formula would give other bits (float64, here), so the engine follows torch's choice of order."""
    x, a, b = make([(64, 64), (64, 200), (200, 64)], (False, True, True), torch.float64, seed=2)
    out, _, grads_e, grads_t = run_both("addmm", [x, a, b])
    g = cotangent(out.data)
    assert not torch.equal(g @ b.mT, grads_t[1]) and not torch.equal(a.mT @ g, grads_t[2])
    assert torch.equal(grads_e[1].data, grads_t[1]) and torch.equal(grads_e[2].data, grads_t[2])


# --- beta = 0, integers, what a node keeps ----------------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
def test_beta_zero_ignores_nan_and_inf_in_the_input(name):
    """As torch: the value ignores x (NaN, inf); x's gradient is g * 0 (NaN where g is infinite, -0 where g < 0)."""
    shapes, columns = next((s, c) for case_id, s, c in BITWISE if case_id == name)
    x, a, b = make(shapes, columns, torch.float64, seed=3)
    x = x.clone().fill_(float("nan"))
    x.view(-1)[:2] = torch.tensor([float("inf"), -float("inf")], dtype=torch.float64)
    leaves_t = [t.clone().requires_grad_() for t in (x, a, b)]
    leaves_e = [ag.Variable(t.clone(), requires_grad=True) for t in (x, a, b)]
    out_t = getattr(torch, name)(*leaves_t, beta=0)
    out_e = getattr(torch, name)(*leaves_e, beta=0)
    assert not out_e.data.isnan().any()
    assert_bits(out_e, out_t.detach(), "value")
    g = cotangent(out_t)
    g.view(-1)[0] = float("inf")
    (gx_e,), (gx_t,) = ag.gradients(out_e, leaves_e[:1], g), torch.autograd.grad(out_t, leaves_t[:1], g)
    assert gx_t.isnan().any() and torch.signbit(gx_t).any()  # (what the bits below have to match)
    assert_bits(gx_e, gx_t, "input gradient")


INTEGER = [
    ("addmm", [(2, 4), (2, 3), (3, 4)]),
    ("addmv", [(2,), (2, 3), (3,)]),
    ("addr", [(2, 3), (2,), (3,)]),
    ("baddbmm", [(1, 2, 4), (3, 2, 3), (3, 3, 4)]),
    ("addbmm", [(4,), (3, 2, 3), (3, 3, 4)]),
]


@pytest.mark.parametrize("name,shapes", INTEGER, ids=[c[0] for c in INTEGER])
def test_integers_work_as_in_torch(name, shapes):
    """Integer tensors take torch's kernel (no gradient), integer scales too."""
    gen = torch.Generator().manual_seed(4)
    inputs = [torch.randint(-5, 5, shape, generator=gen) for shape in shapes]
    out = getattr(torch, name)(*[ag.Variable(t) for t in inputs], beta=2, alpha=-3)
    expected = getattr(torch, name)(*inputs, beta=2, alpha=-3)
    assert out.dtype == torch.int64 and torch.equal(out.data, expected) and not out.requires_grad


def test_a_node_keeps_only_what_the_gradients_asked_for_need():
    """x's gradient reads no tensor; a factor's reads the other factor only (as torch saves them)."""
    x, a, b = (ag.Variable(t) for t in make([(4, 5), (4, 3), (3, 5)], (False,) * 3, torch.float64, seed=5))
    x.requires_grad = True
    assert torch.addmm(x, a, b).node.saved_tensors() == []
    a.requires_grad = True
    assert [t is b.data for t in torch.addmm(x, a, b, alpha=2).node.saved_tensors()] == [True]
    batch1, batch2 = ag.Variable(r(2, 4, 3)), ag.Variable(r(2, 3, 5), requires_grad=True)
    assert [t is batch1.data for t in torch.baddbmm(r(4, 5), batch1, batch2).node.saved_tensors()] == [True]


# --- second order, finite differences ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "prim,inputs,scales",
    [
        (ag.ops.addmm, [r(3), r(2, 4), r(4, 3)], {"beta": 0.5, "alpha": 2.0}),
        (ag.ops.addmv, [r(1), r(2, 3), r(3)], {"beta": 0, "alpha": -1.0}),
        (ag.ops.addr, [r(2, 1), r(2), r(3)], {"alpha": 3.0}),
        (ag.ops.baddbmm, [r(2, 1, 4), r(2, 2, 3), r(2, 3, 4)], {"beta": 2.0}),
        (ag.ops.addbmm, [r(()), r(3, 2, 3), r(3, 3, 4)], {"beta": 0.5, "alpha": 0.25}),
    ],
    ids=["addmm", "addmv", "addr", "baddbmm", "addbmm"],
)
def test_first_and_second_order_against_finite_differences(prim, inputs, scales):
    """gradcheck and gradgradcheck, with the VJPs run on shape-only placeholders for what a node does not keep."""
    assert ag.check_primitive(prim, *inputs, **scales)


# --- errors -----------------------------------------------------------------------------------------------
def f64(*shape: int) -> torch.Tensor:
    return torch.ones(*shape, dtype=torch.float64)


ERRORS = [
    ("addmm-shapes", lambda m: torch.addmm(m(2, 4), m(2, 3), m(4, 4)), "mat1 and mat2 shapes cannot be multiplied"),
    ("addmm-input", lambda m: torch.addmm(m(3), m(2, 3), m(3, 4)), r"expanded size of the tensor \(4\) must match"),
    ("addmm-ndim", lambda m: torch.addmm(m(2, 4), m(1, 2, 3), m(3, 4)), "mat1 must be a matrix, got 3-D tensor"),
    ("addmm-dtype", lambda m: torch.addmm(m(2, 4).float(), m(2, 3), m(3, 4)), "same dtype, but got Float and Double"),
    ("addmv-shapes", lambda m: torch.addmv(m(2), m(2, 3), m(4)), r"size mismatch, got input \(2\), mat \(2x3\)"),
    ("addr-ndim", lambda m: m(2, 3).addr(m(2, 1), m(3)), "addr: Expected 1-D argument vec1, but got 2-D"),
    ("addr-input", lambda m: torch.addr(m(4, 3), m(2), m(3)), r"expanded size of the tensor \(2\) must match"),
    ("baddbmm-batch", lambda m: torch.baddbmm(m(2, 2, 4), m(2, 2, 3), m(3, 3, 4)), "Expected size for first two"),
    ("baddbmm-input", lambda m: torch.baddbmm(m(2, 3, 4), m(2, 2, 3), m(2, 3, 4)), "expanded size of the tensor"),
    ("addbmm-batch", lambda m: torch.addbmm(m(2, 4), m(2, 2, 3), m(3, 3, 4)), "must have same number of batches"),
]


@pytest.mark.parametrize("fn,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_torchs(fn, match):
    """RuntimeError with torch's message (and the same as torch's own, checked by running torch)."""
    with pytest.raises(RuntimeError, match=match):
        fn(lambda *s: ag.Variable(f64(*s), requires_grad=True))
    assert_raises_like_torch(lambda: fn(lambda *s: ag.Variable(f64(*s), requires_grad=True)), lambda: fn(f64))


def test_a_batch_of_matrices_where_addbmm_wants_one_is_torchs_index_error():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        torch.addbmm(ag.Variable(f64(2, 4)), ag.Variable(f64(2, 3)), ag.Variable(f64(3, 4)))
