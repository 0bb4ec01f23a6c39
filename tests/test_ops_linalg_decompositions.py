"""Decompositions against torch.autograd: svd, svdvals, qr, matrix_exp, lstsq and what rests on them (nuclear
and spectral norms, cond, pinv, matrix_rank); values bitwise, first and second derivatives (float64) of
gauge-invariant losses and of the factors themselves (their bits, hence their signs, are torch's), return
types and torch's errors."""

from __future__ import annotations

import pytest
import torch

import autograd_engine as ag

from .oracles import compare_with_torch, r
from .test_torch_semantics import assert_raises_like_torch

torch.manual_seed(0)
pytestmark = pytest.mark.filterwarnings("ignore:torch.qr is deprecated")


def same(case_id: str, fn, inputs: list[torch.Tensor]):
    """A case whose torch-style code runs unchanged on tensors and on Variables."""
    return case_id, fn, fn, inputs


def well(*shape: int) -> torch.Tensor:
    """Square matrices of modest norm (matrix_exp) or well-conditioned ones (the identity times 3 plus noise)."""
    return r(*shape) + 3 * torch.eye(shape[-1], dtype=torch.float64)


def weighted_squares(factor, w: torch.Tensor):
    """sum(w * factor^2): blind to the sign of each singular vector (gauge invariant)."""
    return (factor * factor * w).sum()


W = r(6, 6)


def svd_losses(a, full_matrices: bool = False):
    """Gauge-invariant functions of every factor: weighted squares of U and Vh, |U| products, S, and the
    reconstruction from the first k columns."""
    u, s, vh = torch.linalg.svd(a, full_matrices=full_matrices)
    m, n, k = a.shape[-2], a.shape[-1], s.shape[-1]
    uk, vhk = u[..., :, :k], vh[..., :k, :]
    return (
        weighted_squares(u, W[:m, : u.shape[-1]])
        + weighted_squares(vh, W[: vh.shape[-2], :n])
        + (uk.abs() * uk.abs()[..., :1]).sum()
        + (s * W[0, :k]).sum()
        + ((uk * s.unsqueeze(-2)) @ vhk).sin().sum()
    )


def qr_losses(a):
    """Functions of Q and R (qr's factors are unique: R's diagonal is positive where A has full rank)."""
    q, r_ = torch.linalg.qr(a)
    return (q * W[: q.shape[-2], : q.shape[-1]]).sum() + (r_.sin() * W[: r_.shape[-2], : r_.shape[-1]]).sum()


# (id, engine function, torch function, inputs); the ids of primitive cases start with the primitive's name
CASES = [
    same("svd-square", lambda a: svd_losses(a), [r(4, 4)]),
    same("svd-tall", lambda a: svd_losses(a), [r(5, 3)]),
    same("svd-wide-batch", lambda a: svd_losses(a), [r(2, 3, 5)]),
    same("svd-tall-batch", lambda a: svd_losses(a), [r(2, 5, 3)]),
    same("svd-full-matrices-tall", lambda a: svd_losses(a, full_matrices=True), [r(5, 3)]),
    same("svd-full-matrices-wide", lambda a: svd_losses(a, full_matrices=True), [r(2, 3, 5)]),
    same("svd-U", lambda a: torch.linalg.svd(a, full_matrices=False).U, [r(2, 5, 3)]),
    same("svd-Vh", lambda a: torch.linalg.svd(a, full_matrices=False).Vh, [r(3, 5)]),
    same(
        "svd-reconstruction",
        lambda a: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh)(*torch.linalg.svd(a, False)),
        [r(4, 3)],
    ),
    same("svd-torch-svd-V", lambda a: torch.svd(a).V ** 2 * torch.svd(a).S.unsqueeze(-2), [r(2, 4, 3)]),
    same("svd-torch-svd-some-false", lambda a: torch.svd(a, some=False)[0] ** 2, [r(4, 3)]),
    same("svd-method", lambda a: a.svd()[1], [r(3, 4)]),
    same("svd-svdvals", lambda a: torch.linalg.svdvals(a), [r(2, 3, 5)]),
    same("svd-svdvals-no-uv", lambda a: torch.svd(a, compute_uv=False).S, [r(4, 3)]),
    same("svd-nuclear-norm", lambda a: torch.linalg.matrix_norm(a, ord="nuc"), [r(2, 4, 3)]),
    same("svd-nuclear-norm-dims", lambda a: torch.linalg.matrix_norm(a, "nuc", dim=(2, 0), keepdim=True), [r(3, 2, 4)]),
    same("svd-spectral-norm", lambda a: torch.linalg.matrix_norm(a, ord=2), [r(2, 3, 4)]),
    same("svd-spectral-norm-min", lambda a: torch.linalg.matrix_norm(a, ord=-2, keepdim=True), [r(3, 4)]),
    same("svd-linalg-norm-2", lambda a: torch.linalg.norm(a, ord=2), [r(4, 3)]),
    same("svd-linalg-norm-nuc-dims", lambda a: torch.linalg.norm(a, "nuc", dim=(0, 2)), [r(3, 2, 4)]),
    same("svd-torch-norm-nuc", lambda a: torch.norm(a, "nuc"), [r(3, 4)]),
    same("svd-cond", lambda a: torch.linalg.cond(a), [r(2, 4, 3)]),
    same("svd-cond-minus-2", lambda a: torch.linalg.cond(a, -2), [r(3, 4)]),
    same("svd-pinv-tall", lambda a: torch.linalg.pinv(a), [r(4, 3)]),
    same("svd-pinv-wide-batch", lambda a: torch.linalg.pinv(a), [r(2, 3, 5)]),
    same("svd-pinv-rtol", lambda a: torch.linalg.pinv(a, rtol=0.1), [r(3, 3)]),
    same("svd-pinverse", lambda a: a.pinverse(), [r(3, 4)]),
    same("eigh-pinv-hermitian", lambda a: torch.linalg.pinv(a + a.mT, hermitian=True), [r(2, 3, 3)]),
    same("qr-tall", lambda a: qr_losses(a), [r(5, 3)]),
    same("qr-square-batch", lambda a: qr_losses(a), [r(2, 4, 4)]),
    same("qr-wide", lambda a: qr_losses(a), [r(3, 5)]),
    same("qr-wide-batch", lambda a: qr_losses(a), [r(2, 3, 5)]),
    same("qr-Q", lambda a: torch.linalg.qr(a).Q, [r(2, 5, 3)]),
    same("qr-R", lambda a: torch.linalg.qr(a).R, [r(3, 4)]),
    same("qr-complete-wide", lambda a: torch.linalg.qr(a, mode="complete")[0].exp().sum(), [r(3, 5)]),
    same("qr-torch-qr", lambda a: torch.qr(a)[1], [r(4, 3)]),
    same("qr-method-complete", lambda a: a.qr(some=False).Q, [r(3, 4)]),
    same("matrix_exp", lambda a: torch.linalg.matrix_exp(a), [r(3, 3)]),
    same("matrix_exp-batch", lambda a: torch.matrix_exp(a), [r(2, 4, 4)]),
    same("matrix_exp-method", lambda a: a.matrix_exp() @ a, [r(3, 3)]),
    same("lstsq-tall", lambda a, b: torch.linalg.lstsq(a, b).solution, [r(5, 3), r(5, 2)]),
    same("lstsq-square", lambda a, b: torch.linalg.lstsq(a, b)[0], [well(3, 3), r(3, 2)]),
    same("lstsq-wide", lambda a, b: torch.linalg.lstsq(a, b).solution, [r(3, 5), r(3, 2)]),
    same("lstsq-vector", lambda a, b: torch.linalg.lstsq(a, b).solution, [r(5, 3), r(5)]),
    same("lstsq-batch-vector", lambda a, b: torch.linalg.lstsq(a, b).solution, [r(2, 5, 3), r(2, 5)]),
    same("lstsq-broadcast", lambda a, b: torch.linalg.lstsq(a, b).solution, [r(2, 5, 3), r(1, 5, 2)]),
    same("lstsq-gelsd", lambda a, b: torch.linalg.lstsq(a, b, driver="gelsd").solution, [r(4, 3), r(4, 2)]),
    # torch differentiates the residuals too, where its driver computes them
    same("lstsq_residuals", lambda a, b: torch.linalg.lstsq(a, b, driver="gelsd").residuals, [r(2, 5, 3), r(2, 5, 2)]),
    same("lstsq_residuals-vector", lambda a, b: torch.linalg.lstsq(a, b, driver="gels")[1], [r(5, 3), r(5)]),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize("p", ["fro", "nuc", 1, -1, float("inf")])
def test_cond_by_norms_matches_torch(p):
    """cond(A, p) = norm(A, p) norm(A^-1, p) for p other than +-2: values torch's bits; torch's own backward
    fails there for all but 'nuc' (its masked_fill_ edits an inverse it saved), so the gradients are compared
    with that product written out in torch."""
    a = well(2, 3, 3)
    expected = torch.linalg.cond(a.clone().requires_grad_(), p).detach()  # ('nuc': svd's bits, as with a gradient)
    assert torch.equal(torch.linalg.cond(ag.Variable(a, requires_grad=True), p).data, expected)
    compare_with_torch(
        lambda x: torch.linalg.cond(x, p),
        lambda x: torch.linalg.matrix_norm(x, p) * torch.linalg.matrix_norm(torch.linalg.inv(x), p),
        [a],
    )


def test_lstsq_default_driver_matches_torch():
    """gelsy (CPU's default) is not bitwise deterministic in torch itself (the same call can differ in its
    last bits): its solution is compared closely, rank and the empty results exactly."""
    a, b = r(2, 5, 3), r(2, 5, 2)
    got, expected = torch.linalg.lstsq(ag.Variable(a, requires_grad=True), b), torch.linalg.lstsq(a, b)
    torch.testing.assert_close(got.solution.data, expected.solution, rtol=1e-12, atol=1e-13)
    assert got.residuals.shape == expected.residuals.shape and got.residuals.requires_grad
    assert torch.equal(got.rank.data, expected.rank) and got.singular_values.shape == expected.singular_values.shape


BITWISE = [
    ("linalg-svd", lambda a: torch.linalg.svd(a), (2, 5, 3)),
    ("linalg-svd-reduced", lambda a: torch.linalg.svd(a, full_matrices=False), (3, 5)),
    ("torch-svd", lambda a: torch.svd(a), (4, 3)),
    ("torch-svd-full", lambda a: torch.svd(a, some=False), (2, 3, 4)),
    ("torch-svd-no-uv", lambda a: torch.svd(a, compute_uv=False), (4, 3)),
    ("svdvals", lambda a: (torch.linalg.svdvals(a),), (2, 6, 4)),
    ("qr", lambda a: torch.linalg.qr(a), (2, 5, 3)),
    ("qr-complete", lambda a: torch.linalg.qr(a, mode="complete"), (5, 3)),
    ("qr-r", lambda a: torch.linalg.qr(a, mode="r"), (3, 5)),
    ("matrix-exp", lambda a: (torch.linalg.matrix_exp(a[..., :3, :3]),), (2, 3, 3)),
    ("lstsq-gels", lambda a: torch.linalg.lstsq(a, a[..., :2] + 1, driver="gels"), (2, 5, 3)),
    ("lstsq-gelss-vector", lambda a: torch.linalg.lstsq(a, a[..., 0] + 1, driver="gelss"), (2, 5, 3)),
    ("lstsq-gelsd", lambda a: torch.linalg.lstsq(a, a[..., :2] + 1, driver="gelsd"), (5, 3)),
    ("pinv", lambda a: (torch.linalg.pinv(a),), (2, 5, 3)),
    ("pinv-hermitian", lambda a: (torch.linalg.pinv(a @ a.mT, hermitian=True),), (4, 4)),
    ("nuclear-norm", lambda a: (torch.linalg.matrix_norm(a, "nuc"),), (2, 4, 3)),
    ("spectral-norm", lambda a: (torch.linalg.matrix_norm(a, 2),), (2, 4, 3)),
    ("cond", lambda a: (torch.linalg.cond(a),), (2, 4, 3)),
    ("matrix-rank", lambda a: (torch.linalg.matrix_rank(a), torch.linalg.matrix_rank(a, atol=1.0)), (2, 4, 3)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("requires_grad", [True, False], ids=["grad", "no-grad"])
@pytest.mark.parametrize("fn,shape", [b[1:] for b in BITWISE], ids=[b[0] for b in BITWISE])
def test_values_and_return_types_are_torchs(fn, shape, requires_grad, dtype):
    """Every result has torch's bits, its type (torch.return_types' field names) and its requires_grad; torch
    computes svdvals from the full svd where a gradient will be needed, and so does the engine."""
    a = torch.randn(shape, dtype=dtype)
    got = fn(ag.Variable(a.clone(), requires_grad=requires_grad))
    expected = fn(a.clone().requires_grad_(requires_grad))
    assert len(got) == len(expected)
    if hasattr(expected, "n_fields"):
        assert got._fields == tuple(type(expected).__match_args__)
    for e, x in zip(expected, got):
        assert isinstance(x, ag.Variable) and x.requires_grad == e.requires_grad
        assert x.dtype == e.dtype and torch.equal(x.data, e.detach())


def test_plain_tensors_give_plain_tensors():
    a = r(4, 3)
    for got, expected in [(ag.svd(a), torch.linalg.svd(a)), (ag.qr(a), torch.linalg.qr(a))]:
        assert all(type(x) is torch.Tensor and torch.equal(x, e) for x, e in zip(got, expected))
    assert torch.equal(ag.svdvals(a), torch.linalg.svdvals(a))


def test_svdvals_without_grad_is_svdvals_kernel():
    """Under no_grad (or without requires_grad) svdvals is torch's own kernel, whose bits differ from svd's S."""
    a = torch.randn(6, 4, dtype=torch.float64)
    v = ag.Variable(a, requires_grad=True)
    with ag.no_grad():
        got = torch.linalg.svdvals(v)
    assert not got.requires_grad and torch.equal(got.data, torch.linalg.svdvals(a))


def test_matrix_exp_gradient_is_torchs_bitwise():
    """The VJP is the same block matrix exponential torch computes: the same bits."""
    a, g = r(2, 3, 3), r(2, 3, 3)
    v, t = ag.Variable(a, requires_grad=True), a.clone().requires_grad_()
    (expected,) = torch.autograd.grad(torch.linalg.matrix_exp(t), t, g)
    assert torch.equal(ag.gradients(torch.linalg.matrix_exp(v), v, g)[0].data, expected)


@pytest.mark.parametrize(
    "fn,inputs",
    [
        (lambda a: ag.ops.svd(a, full_matrices=False), [r(4, 3)]),
        (lambda a: ag.ops.qr(a), [r(3, 4)]),
        (ag.ops.matrix_exp, [r(3, 3)]),
        (lambda a, b: ag.ops.lstsq(a, b), [r(4, 3), r(4, 2)]),
    ],
    ids=["svd", "qr", "matrix_exp", "lstsq"],
)
def test_finite_differences(fn, inputs):
    assert ag.gradcheck(fn, inputs)
    assert ag.gradgradcheck(fn, inputs)


def v64(*shape: int) -> ag.Variable:
    return ag.Variable(r(*shape), requires_grad=True)


def backward_error(fn, shape):
    """torch's error from differentiating fn(A).sum() (a tuple's parts summed), and the engine's."""

    def run(x, grad):
        out = [y for y in fn(x) if y.numel()]
        total = sum(y.sum() for y in out)
        return grad(total, x)

    a = r(*shape)
    engine = lambda: run(ag.Variable(a.clone(), requires_grad=True), ag.gradients)  # noqa: E731
    torch_ = lambda: run(a.clone().requires_grad_(), torch.autograd.grad)  # noqa: E731
    return engine, torch_


@pytest.mark.parametrize(
    "fn,shape",
    [
        (lambda a: torch.linalg.qr(a, mode="r"), (4, 3)),
        (lambda a: torch.linalg.qr(a, mode="complete"), (5, 3)),
    ],
    ids=["qr-mode-r", "qr-complete-tall"],
)
def test_backward_refusals_are_torchs(fn, shape):
    engine, torch_ = backward_error(fn, shape)
    assert_raises_like_torch(engine, torch_)


ERRORS = [
    ("svd-ndim", lambda m: torch.linalg.svd(m(3))),
    ("svd-driver-on-cpu", lambda m: torch.linalg.svd(m(3, 3), driver="gesvd")),
    ("svdvals-ndim", lambda m: torch.linalg.svdvals(m(3))),
    ("torch-svd-ndim", lambda m: torch.svd(m(3))),
    ("qr-mode", lambda m: torch.linalg.qr(m(3, 3), mode="thin")),
    ("qr-ndim", lambda m: torch.linalg.qr(m(3))),
    ("matrix-exp-square", lambda m: torch.linalg.matrix_exp(m(2, 3))),
    ("lstsq-rows", lambda m: torch.linalg.lstsq(m(4, 3), m(5, 2))),
    ("lstsq-driver", lambda m: torch.linalg.lstsq(m(4, 3), m(4, 2), driver="lapack")),
    ("matrix-norm-ord", lambda m: torch.linalg.matrix_norm(m(3, 3), ord=3)),
    ("cond-square", lambda m: torch.linalg.cond(m(3, 4), 1)),
    ("pinv-ndim", lambda m: torch.linalg.pinv(m(3))),
]


@pytest.mark.parametrize("fn", [e[1] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_torchs(fn):
    assert_raises_like_torch(
        lambda: fn(lambda *s: ag.Variable(torch.randn(*s, dtype=torch.float64), requires_grad=True)),
        lambda: fn(lambda *s: torch.randn(*s, dtype=torch.float64)),
    )


def test_cond_of_a_singular_matrix_is_inf_as_torchs():
    a = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    batch = torch.stack([a, torch.eye(2, dtype=torch.float64)])
    for p in (1, "fro", float("inf")):
        got = torch.linalg.cond(ag.Variable(batch, requires_grad=True), p)
        assert torch.equal(got.data, torch.linalg.cond(batch, p))


def test_pinv_of_a_rank_deficient_matrix_is_torchs():
    """Rank 1: singular values below rtol are dropped, as torch's svd-based pinv does (values bitwise)."""
    a = torch.ones(3, 3, dtype=torch.float64) + torch.outer(torch.arange(3.0), torch.zeros(3)).double()
    t = a.clone().requires_grad_()
    v = ag.Variable(a.clone(), requires_grad=True)
    expected, got = torch.linalg.pinv(t), torch.linalg.pinv(v)
    assert torch.equal(got.data, expected.detach())
    w = torch.randn(3, 3, dtype=torch.float64)
    (expected * w).sum().backward()
    (got * w).sum().backward()
    torch.testing.assert_close(v.grad.data, t.grad, rtol=1e-10, atol=1e-12)
