"""Linear algebra against torch.autograd: products, einsum, tensordot, inverse, det, slogdet, solve, cholesky,
norms; values, first and second derivatives (float64), return types and torch's errors."""

from __future__ import annotations

import pytest
import torch

import autograd_engine as ag
from autograd_engine.dispatch import HANDLED

from .oracles import compare_with_torch, r
from .test_torch_semantics import assert_raises_like_torch

torch.manual_seed(0)


def well(*shape: int) -> torch.Tensor:
    """Well-conditioned square matrices: the identity times 3 plus noise."""
    return r(*shape) + 3 * torch.eye(shape[-1], dtype=torch.float64)


def spd(a: torch.Tensor) -> torch.Tensor:
    """A symmetric positive-definite matrix from any square one (the same code for tensors and Variables)."""
    return a @ a.mT + 3 * torch.eye(a.shape[-1], dtype=torch.float64)


def same(case_id: str, fn, inputs: list[torch.Tensor]):
    """A case whose torch-style code runs unchanged on tensors and on Variables."""
    return case_id, fn, fn, inputs


def scalar() -> torch.Tensor:
    return torch.randn((), dtype=torch.float64)


# (id, engine function, torch function, inputs); the ids of primitive cases start with the primitive's name
CASES = [
    # primitives
    same("inverse", lambda a: torch.linalg.inv(a), [well(2, 3, 3)]),
    same("inverse-method", lambda a: a.inverse(), [well(4, 4)]),
    same("inverse-torch", lambda a: torch.inverse(a), [well(3, 3)]),
    same("det", lambda a: torch.linalg.det(a), [r(2, 3, 3)]),
    same("det-method", lambda a: a.det() * torch.det(a), [r(3, 3)]),
    same("logabsdet-slogdet", lambda a: torch.linalg.slogdet(a).logabsdet, [r(2, 3, 3)]),
    same("logabsdet-sign-times", lambda a: torch.slogdet(a)[0] * a.slogdet()[1], [r(3, 3)]),
    same("logabsdet-logdet", lambda a: torch.logdet(spd(a)), [r(2, 3, 3)]),
    same("solve", lambda a, b: torch.linalg.solve(a, b), [well(3, 3), r(3, 2)]),
    same("solve-broadcast", lambda a, b: torch.linalg.solve(a, b), [well(2, 1, 3, 3), r(4, 3, 2)]),
    same("solve-vector", lambda a, b: torch.linalg.solve(a, b), [well(2, 3, 3), r(2, 3)]),
    same("solve-vector-1d", lambda a, b: torch.linalg.solve(a, b), [well(2, 3, 3), r(3)]),
    same("solve-right", lambda a, b: torch.linalg.solve(a, b, left=False), [well(3, 3), r(2, 3)]),
    same("solve_triangular", lambda a, b: torch.linalg.solve_triangular(a, b, upper=True), [well(3, 3), r(3, 2)]),
    same(
        "solve_triangular-unit",
        lambda a, b: torch.linalg.solve_triangular(a, b, upper=False, left=False, unitriangular=True),
        [r(3, 3), r(2, 3)],
    ),
    same("cholesky", lambda a: torch.linalg.cholesky(spd(a)), [r(3, 3)]),
    same("cholesky-upper", lambda a: torch.linalg.cholesky(spd(a), upper=True), [r(2, 3, 3)]),
    same("cholesky-solve", lambda b, a: torch.cholesky_solve(b, torch.linalg.cholesky(spd(a))), [r(3, 2), r(3, 3)]),
    same("cholesky-inverse", lambda a: torch.cholesky_inverse(torch.linalg.cholesky(spd(a)), upper=False), [r(3, 3)]),
    same("eigh-eigenvalues", lambda a: torch.linalg.eigvalsh(a + a.mT), [r(2, 4, 4)]),
    same("eigh-eigenvectors", lambda a: torch.linalg.eigh(a + a.mT).eigenvectors, [r(4, 4)]),
    same("eigh-upper", lambda a: (lambda lv: lv[1] * lv[0].unsqueeze(-2))(torch.linalg.eigh(a, UPLO="U")), [r(3, 3)]),
    same("linear", lambda x, w, b: torch.nn.functional.linear(x, w, b), [r(2, 3), r(4, 3), r(4)]),
    same("linear-batch", lambda x, w, b: torch.nn.functional.linear(x, w, b), [r(2, 5, 3), r(4, 3), r(4)]),
    same("linear-vector", lambda x, w, b: torch.nn.functional.linear(x, w, b), [r(3), r(4, 3), r(4)]),
    same("linear-bias-broadcast", lambda x, w, b: torch.nn.functional.linear(x, w, b), [r(2, 3), r(4, 3), r(1)]),
    same("linear-no-bias", lambda x, w: torch.nn.functional.linear(x, w), [r(2, 5, 3), r(4, 3)]),
    same("pinv-tall", lambda a: torch.linalg.pinv(a), [r(4, 3)]),
    same("pinv-wide", lambda a: torch.linalg.pinv(a), [r(2, 3, 5)]),
    same("pinverse", lambda a: a.pinverse(), [r(3, 3)]),
    # products
    same("mm", lambda a, b: torch.mm(a, b), [r(2, 3), r(3, 4)]),
    same("mm-method", lambda a, b: a.mm(b), [r(2, 3), r(3, 4)]),
    same("bmm", lambda a, b: torch.bmm(a, b), [r(2, 2, 3), r(2, 3, 4)]),
    same("mv", lambda a, b: torch.mv(a, b), [r(2, 3), r(3)]),
    same("dot", lambda a, b: torch.dot(a, b), [r(3), r(3)]),
    same("vdot", lambda a, b: a.vdot(b), [r(3), r(3)]),
    same("outer", lambda a, b: torch.outer(a, b), [r(3), r(4)]),
    same("ger", lambda a, b: a.ger(b), [r(3), r(4)]),
    same("inner", lambda a, b: torch.inner(a, b), [r(2, 3), r(4, 3)]),
    same("inner-0d", lambda a, b: torch.inner(a, b), [scalar(), r(4, 3)]),
    same("addmm", lambda i, a, b: torch.addmm(i, a, b, beta=0.5, alpha=2.0), [r(4), r(2, 3), r(3, 4)]),
    same("addmm-beta-0", lambda i, a, b: i.addmm(a, b, beta=0, alpha=2.0), [r(2, 4), r(2, 3), r(3, 4)]),
    same("addmv", lambda i, a, b: i.addmv(a, b, beta=0.5), [r(2), r(2, 3), r(3)]),
    same("addr", lambda i, a, b: torch.addr(i, a, b, alpha=3), [r(2, 3), r(2), r(3)]),
    same("baddbmm", lambda i, a, b: torch.baddbmm(i, a, b, beta=2, alpha=0.5), [r(1, 2, 4), r(3, 2, 3), r(3, 3, 4)]),
    same("addbmm", lambda i, a, b: torch.addbmm(i, a, b, beta=2, alpha=0.5), [r(2, 4), r(3, 2, 3), r(3, 3, 4)]),
    same("linalg-matmul", lambda a, b: torch.linalg.matmul(a, b), [r(2, 2, 3), r(3)]),
    same("tensor-matmul-variable", lambda a: torch.ones(2, 3, dtype=torch.float64) @ a, [r(3, 4)]),
    same("vecdot", lambda a, b: torch.linalg.vecdot(a, b, dim=0), [r(3, 4), r(3, 1)]),
    same("multi-dot", lambda a, b, c: torch.linalg.multi_dot([a, b, c]), [r(3), r(3, 4), r(4)]),
    same("matrix-power", lambda a: torch.linalg.matrix_power(a, 5), [r(3, 3) / 2]),
    same("matrix-power-negative", lambda a: torch.linalg.matrix_power(a, -2), [well(3, 3)]),
    same("matrix-power-0", lambda a: a.matrix_power(0), [r(2, 3, 3)]),
    same("trace", lambda a: torch.trace(a), [r(3, 4)]),
    same("linalg-diagonal", lambda a: torch.linalg.diagonal(a, offset=1), [r(2, 3, 4)]),
    same("kron", lambda a, b: torch.kron(a, b), [r(2, 3), r(4, 2)]),
    same("kron-ndim", lambda a, b: a.kron(b), [r(2, 3), r(2, 4, 2)]),
    same("cross", lambda a, b: torch.linalg.cross(a, b), [r(4, 3), r(1, 3)]),
    same("cross-dim", lambda a, b: torch.cross(a, b, dim=0), [r(3, 4), r(3, 4)]),
    # einsum and tensordot
    same("einsum-mm", lambda a, b: torch.einsum("ij,jk->ik", a, b), [r(2, 3), r(3, 4)]),
    same("einsum-batch", lambda a, b: torch.einsum("bij,bjk->bik", a, b), [r(2, 2, 3), r(2, 3, 4)]),
    same("einsum-trace", lambda a: torch.einsum("ii", a), [r(3, 3)]),
    same("einsum-diagonal", lambda a: torch.einsum("ii->i", a), [r(3, 3)]),
    same("einsum-repeated-apart", lambda a: torch.einsum("iji->j", a), [r(3, 2, 3)]),
    same("einsum-diagonal-then-product", lambda a, b: torch.einsum("iij,jk->ik", a, b), [r(3, 3, 2), r(2, 4)]),
    same("einsum-ellipsis-implicit", lambda a, b: torch.einsum("...ij,...jk", a, b), [r(5, 2, 3), r(3, 4)]),
    same(
        "einsum-ellipsis-broadcast", lambda a, b: torch.einsum("...ij,...jk->...ik", a, b), [r(5, 1, 2, 3), r(4, 3, 4)]
    ),
    same("einsum-ellipsis-summed", lambda a, b: torch.einsum("...ij,jk->ik", a, b), [r(5, 2, 3), r(3, 4)]),
    same("einsum-outer", lambda a, b: torch.einsum("i,j->ij", a, b), [r(3), r(4)]),
    same("einsum-implicit-order", lambda a, b: torch.einsum("bA,Ac", a, b), [r(2, 3), r(3, 4)]),
    same("einsum-implicit-upper-first", lambda a, b: torch.einsum("aB,c", a, b), [r(2, 3), r(4)]),
    same("einsum-three", lambda a, b, c: torch.einsum("bn,anm,bm->ba", a, b, c), [r(2, 5), r(3, 5, 4), r(2, 4)]),
    same("einsum-bilinear", lambda a, b, c: torch.einsum("bi,oij,bj->bo", a, b, c), [r(2, 3), r(4, 3, 5), r(2, 5)]),
    same("einsum-attention", lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k), [r(2, 3, 4, 5), r(2, 3, 6, 5)]),
    same("einsum-chain", lambda a, b, c: torch.einsum("ab,bc,cd->ad", a, b, c), [r(2, 3), r(3, 4), r(4, 2)]),
    same("einsum-list", lambda a, b: torch.einsum("ij,jk", [a, b]), [r(2, 3), r(3, 4)]),
    same("einsum-sublist", lambda a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2]), [r(2, 3), r(3, 4)]),
    same(
        "einsum-sublist-ellipsis", lambda a, b: torch.einsum(a, [..., 0, 1], b, [..., 1, 2]), [r(5, 2, 3), r(5, 3, 4)]
    ),
    same("einsum-size-1-broadcast", lambda a, b: torch.einsum("ij,jk->ik", a, b), [r(2, 3), r(1, 4)]),
    same("einsum-elementwise", lambda a, b: torch.einsum("ij,ij->ij", a, b), [r(2, 3), r(1, 3)]),
    same("einsum-sum-all", lambda a: torch.einsum("ijk->", a), [r(2, 3, 4)]),
    same("einsum-permute", lambda a: torch.einsum("i j k -> k i j", a), [r(2, 3, 4)]),
    same("einsum-scalar", lambda a, b: torch.einsum(",ij->ij", a, b), [scalar(), r(2, 3)]),
    same("einsum-same-operand", lambda a: torch.einsum("ij,ij->", a, a), [r(2, 3)]),
    same("tensordot", lambda a, b: torch.tensordot(a, b, dims=2), [r(2, 3, 4), r(3, 4, 5)]),
    same("tensordot-pairs", lambda a, b: torch.tensordot(a, b, dims=([1, 0], [0, 1])), [r(3, 4, 5), r(4, 3, 2)]),
    same("tensordot-0", lambda a, b: torch.tensordot(a, b, dims=0), [r(2, 3), r(4)]),
    # norms
    same("matrix-norm", lambda a: torch.linalg.matrix_norm(a), [r(2, 3, 4)]),
    same("matrix-norm-inf", lambda a: torch.linalg.matrix_norm(a, ord=float("inf")), [r(2, 3, 4)]),
    same("matrix-norm-1", lambda a: torch.linalg.matrix_norm(a, ord=-1, keepdim=True), [r(2, 3, 4)]),
    same("matrix-norm-dims", lambda a: torch.linalg.matrix_norm(a, ord=1, dim=(2, 0)), [r(2, 3, 4)]),
    same("linalg-norm-fro", lambda a: torch.linalg.norm(a, ord="fro", dim=(0, 1)), [r(3, 4, 2)]),
    same("linalg-norm-matrix", lambda a: torch.linalg.norm(a, ord=1), [r(3, 4)]),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "fn,inputs",
    [
        (ag.ops.inverse, [well(2, 3, 3)]),
        (ag.ops.linear, [r(2, 5, 3), r(4, 3), r(4)]),
        (ag.ops.det, [r(3, 3)]),
        (ag.ops.logabsdet, [r(2, 3, 3)]),
        (ag.ops.solve, [well(3, 3), r(2, 3, 2)]),
        (lambda a: ag.ops.cholesky(spd(a)), [r(3, 3)]),
        (lambda a: ag.ops.eigh(a + a.mT), [r(3, 3)]),
        (lambda a, b: ag.einsum("iij,jk->ik", a, b), [r(3, 3, 2), r(2, 4)]),
    ],
    ids=["inverse", "linear", "det", "logabsdet", "solve", "cholesky", "eigh", "einsum"],
)
def test_finite_differences(fn, inputs, device):
    inputs = [x.to(device) for x in inputs]
    assert ag.gradcheck(fn, inputs)
    assert ag.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("shape", [(7, 3), (2, 5, 3), (3,)], ids=["matrix", "batch", "vector"])
def test_linear_primitive_equals_torch_bitwise_and_the_composite(shape):
    """F.linear with a bias is one `linear` node whose value has torch's bits (float32, addmm) and whose
    gradients equal those of the composite it replaced (matmul with the transposed weight, then add)."""
    x, w, b = torch.randn(shape), torch.randn(4, 3), torch.randn(4)
    g = torch.randn(torch.nn.functional.linear(x, w, b).shape)
    fused = [ag.Variable(t, requires_grad=True) for t in (x, w, b)]
    composite = [ag.Variable(t, requires_grad=True) for t in (x, w, b)]
    out = torch.nn.functional.linear(*fused)
    assert out.op == "linear" and torch.equal(out.data, torch.nn.functional.linear(x, w, b))
    reference = composite[0] @ composite[1].mT + composite[2]
    for a, e in zip(ag.gradients(out, fused, g), ag.gradients(reference, composite, g)):
        torch.testing.assert_close(a.data, e.data, rtol=1e-5, atol=1e-5)


def test_slogdet_returns_sign_and_logabsdet_by_name():
    a = torch.tensor([[0.0, 2.0], [3.0, 1.0]], dtype=torch.float64)  # det -6
    v = ag.Variable(a, requires_grad=True)
    out, expected = torch.linalg.slogdet(v), torch.linalg.slogdet(a)
    assert isinstance(out, tuple) and len(out) == len(expected) == 2
    sign, logabsdet = out
    assert sign is out.sign and logabsdet is out.logabsdet
    # as torch's: sign requires grad, with a zero gradient
    assert isinstance(sign, ag.Variable) and sign.requires_grad and logabsdet.requires_grad
    assert torch.equal(ag.gradients(sign, v)[0].data, torch.zeros_like(a))
    torch.testing.assert_close(sign.data, expected.sign)
    torch.testing.assert_close(logabsdet.data, expected.logabsdet)
    assert torch.isnan(torch.logdet(v).data)  # a negative determinant, as torch


def test_einsum_is_composed_of_matmul_not_one_opaque_node():
    """Pairwise contractions become matmuls; repeated indices become diagonals (torch's diagonal view)."""
    a, b = ag.Variable(r(2, 3), requires_grad=True), ag.Variable(r(3, 4), requires_grad=True)
    assert torch.einsum("ij,jk->ik", a, b).op in ("matmul", "reshape")
    assert torch.einsum("ii->i", ag.Variable(r(3, 3), requires_grad=True)).op == "diagonal"


def v64(*shape: int) -> ag.Variable:
    return ag.Variable(r(*shape), requires_grad=True)


ERRORS = [
    ("mm-shapes", lambda m: torch.mm(m(2, 3), m(4, 5))),
    ("mm-ndim", lambda m: torch.mm(m(2, 3, 1), m(1, 5))),
    ("bmm-ndim", lambda m: torch.bmm(m(2, 3), m(3, 5))),
    ("mv-shapes", lambda m: torch.mv(m(3, 4), m(3))),
    ("dot-ndim", lambda m: torch.dot(m(2, 3), m(2, 3))),
    ("dot-sizes", lambda m: torch.dot(m(3), m(4))),
    ("outer-ndim", lambda m: torch.outer(m(2, 3), m(4))),
    ("inner-sizes", lambda m: torch.inner(m(2, 3), m(4))),
    ("addmm-broadcast", lambda m: torch.addmm(m(4), m(2, 3), m(3, 3))),
    ("linear-bias", lambda m: torch.nn.functional.linear(m(2, 3), m(4, 3), m(5))),
    ("einsum-output", lambda m: torch.einsum("ij,jk->il", m(2, 3), m(3, 4))),
    ("einsum-sizes", lambda m: torch.einsum("ij,jk->ik", m(2, 3), m(4, 5))),
    ("einsum-operands", lambda m: torch.einsum("ij,jk", m(2, 3))),
    ("einsum-subscript", lambda m: torch.einsum("i$", m(2))),
    ("einsum-repeated-sizes", lambda m: torch.einsum("ii->i", m(2, 3))),
    ("tensordot-sizes", lambda m: torch.tensordot(m(2, 3), m(4, 5), dims=1)),
    ("trace-ndim", lambda m: torch.trace(m(2))),
    ("inverse-square", lambda m: torch.linalg.inv(m(2, 3))),
    ("det-square", lambda m: torch.linalg.det(m(2, 3))),
    ("slogdet-square", lambda m: torch.linalg.slogdet(m(3, 2))),
    ("solve-shapes", lambda m: torch.linalg.solve(m(3, 3), m(4))),
    ("cholesky-not-positive-definite", lambda m: torch.linalg.cholesky(-m(3, 3) @ m(3, 3).mT)),
    ("cross-size", lambda m: torch.linalg.cross(m(4, 2), m(4, 2))),
    ("matrix-power-square", lambda m: torch.linalg.matrix_power(m(2, 3), 2)),
    ("multi-dot-one", lambda m: torch.linalg.multi_dot([m(2, 3)])),
]


@pytest.mark.parametrize("fn", [e[1] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_torchs(fn):
    assert_raises_like_torch(
        lambda: fn(lambda *s: ag.Variable(torch.ones(*s, dtype=torch.float64), requires_grad=True)),
        lambda: fn(lambda *s: torch.ones(*s, dtype=torch.float64)),
    )


def test_linalg_norm_of_vectors_goes_to_vector_norm():
    if torch.linalg.vector_norm not in HANDLED:
        pytest.skip("torch.linalg.vector_norm has no rule yet (another family)")
    compare_with_torch(lambda a: torch.linalg.norm(a), lambda a: torch.linalg.norm(a), [r(3, 4)])
    compare_with_torch(lambda a: torch.linalg.norm(a, dim=1), lambda a: torch.linalg.norm(a, dim=1), [r(3, 4)])


def test_cholesky_gradient_is_symmetric_as_torchs():
    a = spd(r(4, 4))
    v = ag.Variable(a, requires_grad=True)
    t = a.clone().requires_grad_()
    w = r(4, 4)
    (torch.linalg.cholesky(v) * w).sum().backward()
    (torch.linalg.cholesky(t) * w).sum().backward()
    torch.testing.assert_close(v.grad.data, t.grad)
    torch.testing.assert_close(v.grad.data, v.grad.data.mT)


def test_plain_tensors_stay_tensors():
    """ag's linear algebra on plain tensors computes without recording (and returns tensors)."""
    a, b = r(2, 3), r(3, 4)
    assert isinstance(ag.einsum("ij,jk->ik", a, b), torch.Tensor)
    torch.testing.assert_close(ag.einsum("ij,jk->ik", a, b), a @ b)
    m = well(3, 3)
    torch.testing.assert_close(ag.det(m), torch.linalg.det(m))


# --- torch's bits: gradients computed in torch's order (FunctionsManual's formulas) -------------------------
def _weighted(out: torch.Tensor | ag.Variable, seed: int) -> torch.Tensor | ag.Variable:
    """sum(out * w) with fixed random weights w: a scalar whose gradient is w pulled back."""
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (out * weights.to(out.dtype)).sum()


def torch_and_engine_grads(fn, inputs: list[torch.Tensor], create_graph: bool = False, second: bool = False):
    """The gradients of fn's weighted sum by torch.autograd and by the engine (each a list of tensors); with
    `second`, the gradients of the first gradients' weighted sum (create_graph implied)."""
    results = []
    for wrap, grad in (
        (lambda x: x.clone().requires_grad_(), torch.autograd.grad),
        (lambda x: ag.Variable(x.clone(), requires_grad=True), ag.gradients),
    ):
        xs = [wrap(x) for x in inputs]
        grads = grad(_weighted(fn(*xs), 0), xs, create_graph=create_graph or second)
        if second:
            grads = grad(sum(_weighted(g, 100 + k) for k, g in enumerate(grads)), xs)
        results.append([g.detach() if isinstance(g, torch.Tensor) else g.data for g in grads])
    return results


def assert_same_bits(fn, inputs: list[torch.Tensor], **kw) -> None:
    """torch.equal for every gradient (see torch_and_engine_grads)."""
    expected, got = torch_and_engine_grads(fn, inputs, **kw)
    for e, g in zip(expected, got):
        assert torch.equal(g, e), (g - e).abs().max()


def _spd(n: int, *batch: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    a = r(*batch, n, n)
    return (a @ a.mT + n * torch.eye(n, dtype=torch.float64)).to(dtype)


BITWISE = [  # (id, fn, inputs in float64); the second order is bitwise too where `second` says so
    ("inverse", lambda a: torch.linalg.inv(a), [well(3, 3)], True),
    ("inverse-batch", lambda a: torch.inverse(a), [well(2, 3, 3)], True),
    ("det", lambda a: torch.linalg.det(a), [well(3, 3)], True),
    ("det-batch", lambda a: torch.det(a), [well(2, 3, 3)], True),
    ("logdet", lambda a: torch.logdet(a), [_spd(3, 2)], True),
    ("slogdet", lambda a: torch.linalg.slogdet(a).logabsdet, [well(2, 3, 3)], True),
    ("solve", lambda a, b: torch.linalg.solve(a, b), [well(3, 3), r(3, 2)], False),
    ("solve-vector", lambda a, b: torch.linalg.solve(a, b), [well(3, 3), r(3)], False),
    ("solve-batch", lambda a, b: torch.linalg.solve(a, b), [well(2, 3, 3), r(2, 3, 2)], False),
    ("solve-right", lambda a, b: torch.linalg.solve(a, b, left=False), [well(3, 3), r(2, 3)], False),
    ("solve_triangular", lambda a, b: torch.linalg.solve_triangular(a, b, upper=True), [well(3, 3), r(3, 2)], False),
    ("cholesky", lambda a: torch.linalg.cholesky(a), [_spd(3)], False),
    ("cholesky-upper", lambda a: torch.linalg.cholesky(a, upper=True), [_spd(3, 2)], False),
    ("cholesky-method-upper", lambda a: a.cholesky(upper=True), [_spd(3)], False),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("create_graph", [False, True], ids=["backward", "create_graph"])
@pytest.mark.parametrize("name,fn,inputs,second", BITWISE, ids=[c[0] for c in BITWISE])
@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
def test_first_order_gradients_are_torchs_bits(name, fn, inputs, second, create_graph, dtype):
    """torch computes these gradients one way in a plain backward (solve: lu_solve on the forward's LU) and
    another under create_graph (a differentiable solve): the engine follows both."""
    assert_same_bits(fn, [x.to(dtype) for x in inputs], create_graph=create_graph)


@pytest.mark.parametrize("name,fn,inputs,second", BITWISE, ids=[c[0] for c in BITWISE])
def test_second_order_gradients(name, fn, inputs, second):
    """Bitwise for inverse, det and slogdet; within rounding for solve's matrix and cholesky."""
    if second:
        assert_same_bits(fn, inputs, second=True)
        return
    expected, got = torch_and_engine_grads(fn, inputs, second=True)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [False, True])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular_reads_one_triangle_as_torch(upper, left, unitriangular):
    """Values and gradients bitwise (the gradient of a lies in its triangle), second order within rounding."""
    a, b = well(2, 3, 3), r(3, 2) if left else r(2, 3)

    def fn(a, b):
        return torch.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular)

    assert torch.equal(fn(ag.Variable(a), ag.Variable(b)).data, fn(a, b))
    assert_same_bits(fn, [a, b])
    expected, got = torch_and_engine_grads(fn, [a, b], second=True)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)


# --- einsum and tensordot: torch's bmm / mm in torch's layout, torch's bits ------------------------------
EINSUMS_BITWISE = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("b...,b->...", [(3, 4, 5), (3,)]),
    ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,kj->ik", [(1, 4), (3, 4)]),
    ("iij,jk->ik", [(3, 3, 4), (4, 1)]),
    ("abc,cda->bd", [(2, 3, 4), (4, 5, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("i,i->", [(5,), (5,)]),
]
TENSORDOTS = [  # (dims, b's shape) for a of shape (2, 3, 4)
    (0, (2, 2)),
    (1, (4, 4, 2)),
    (2, (3, 4, 5)),
    (([1, 2], [0, 1]), (3, 4, 5)),
    (([2, 1], [0, 1]), (4, 3, 5)),
    (((2,), (1,)), (3, 4, 5)),
    ([[0], [2]], (3, 4, 2)),
]
PRODUCTS_BITWISE = [
    *((f"einsum-{eq}", lambda *xs, eq=eq: torch.einsum(eq, *xs), shapes) for eq, shapes in EINSUMS_BITWISE),
    ("einsum-sublist", lambda x, y: torch.einsum(x, [0, 1], y, [1, 2], [0, 2]), [(3, 4), (4, 5)]),
    *((f"tensordot-{d}", lambda x, y, d=d: torch.tensordot(x, y, d), [(2, 3, 4), s]) for d, s in TENSORDOTS),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("create_graph", [False, True], ids=["backward", "create_graph"])
@pytest.mark.parametrize("name,fn,shapes", PRODUCTS_BITWISE, ids=[c[0] for c in PRODUCTS_BITWISE])
def test_einsum_and_tensordot_are_torchs_bits(name, fn, shapes, create_graph, dtype):
    """einsum contracts each pair by one bmm of torch's layout, tensordot by one mm: values and first-order
    gradients bitwise, second order close."""
    gen = torch.Generator().manual_seed(3)
    inputs = [torch.randn(s, dtype=torch.float64, generator=gen).to(dtype) for s in shapes]
    assert torch.equal(fn(*map(ag.Variable, inputs)).data, fn(*inputs))
    assert_same_bits(fn, inputs, create_graph=create_graph)
    if create_graph:
        expected, got = torch_and_engine_grads(fn, inputs, second=True)
        tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, **tol)
