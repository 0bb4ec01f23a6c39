"""Primitives: the linalg family, the matrix functions whose derivatives are new (matmul is in core).

Each VJP is written with matmul, transpose and these primitives themselves (inverse's VJP is
-A^-T g A^-T with A^-1 the saved output), so gradients of gradients follow. The decompositions with
several outputs (eigh, svd, qr) pack them into one tensor (column-major, as LAPACK gives them) that the
composites split; their VJPs are torch's formulas, and matrix_exp's is itself a matrix_exp. The composites in
`composites/linalg.py` (einsum, tensordot, solve with vectors or left=False, slogdet's sign, ...)
are built on them.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..primitive import primitive
from ..variable import Variable, unwrap
from .core import (
    Shaped,
    add,
    cat,
    column_major,
    div,
    folding_primitive,
    getitem,
    layout,
    matmul,
    matmul_vjp_x,
    matmul_vjp_y,
    mul,
    neg,
    pad,
    requires_grad_of,
    reshape,
    reshaped,
    sub,
    sum_to,
    torch_folds,
    transpose,
    where,
)
from .elementwise import reciprocal
from .shape import tril, triu

__all__ = [
    "cholesky",
    "det",
    "eigh",
    "inverse",
    "linear",
    "logabsdet",
    "lstsq",
    "lstsq_residuals",
    "matrix_exp",
    "qr",
    "solve",
    "solve_triangular",
    "svd",
]


def _per_matrix(g: Any) -> Any:
    """A batch of scalars (one per matrix) shaped to broadcast against the batch of matrices."""
    return reshape(g, shape=tuple(g.shape) + (1, 1))


def _linear_fuses(x: Shaped, bias: Shaped | None) -> bool:
    """Whether torch's F.linear is one addmm (the bias added in the gemm) of x, or of x's rows as a view:
    at::linear's choice, by x's dims and contiguity and a bias of one dim (after squeezing) and contiguous.
    x and bias: tensors, Variables or Metas."""
    if bias is None:
        return False
    if x.ndim == 2:
        return True
    one_dim = bias.ndim == 1 or sum(n != 1 for n in bias.shape) == 1
    return one_dim and unwrap(bias).is_contiguous() and unwrap(x).is_contiguous()


def _linear_folds(x: Any, weight: Any, bias: Any = None) -> bool:
    """Whether torch's F.linear, as matmul(x, weight.t()), folds x's batch into rows (see `torch_folds`)."""
    if x.ndim < 3 or _linear_fuses(x, bias):
        return False
    return torch_folds(x, layout(weight).transposed(), False, requires_grad_of(weight))


@folding_primitive(_linear_folds, saves={"x": "weight", "weight": "x"})
def linear(x, weight, bias, *, fold=False):
    """torch.nn.functional.linear: x @ weight^T + bias (bias may be None), weight (out, in), in at::linear's
    kernels: one addmm with a bias of one dim (of x's rows, for a contiguous batch), else matmul(x, weight^T)
    and the bias after; fold=True: x's batch folded into rows as that matmul folds it (`torch_folds`)."""
    if not fold:
        return torch.nn.functional.linear(x, weight, bias)
    out = matmul.forward(x, weight.t(), fold=True)
    return out if bias is None else out.add_(bias)


def _rows(t: Any) -> Any:
    """t with its leading dims folded into rows (a vector as one row), as at::linear views its input."""
    return reshaped(t, (math.prod(t.shape[:-1]), t.shape[-1]))


def _linear_vjp_x(g, ans, x, weight, bias, *, fold=False):
    """x's gradient. Where torch computes addmm(bias, x's rows, weight^T), its mm_mat1_backward: g @ weight, or
    (weight^T @ g^T)^T where the rows are column-major; else matmul(x, weight^T)'s."""
    if not _linear_fuses(x, bias):
        return matmul_vjp_x(g, None, x, transpose(weight), fold=fold)
    g = _rows(g)
    rows = layout(x) if x.ndim == 2 else layout(x).rows()
    grad = transpose(matmul(transpose(weight), transpose(g))) if column_major(rows) else matmul(g, weight)
    return reshaped(grad, x.shape)


def _linear_vjp_weight(g, ans, x, weight, bias, *, fold=False):
    """The weight's gradient: mat2 = weight^T's in torch's product, transposed back. In the addmm, its
    mm_mat2_backward: g^T @ x's rows where weight^T is column-major (a contiguous weight), else (rows^T @ g)^T."""
    weight_t = layout(weight).transposed()
    if not _linear_fuses(x, bias):
        return transpose(matmul_vjp_y(g, None, x, weight_t, fold=fold))
    g, rows = _rows(g), _rows(x)
    return matmul(transpose(g), rows) if column_major(weight_t) else transpose(matmul(transpose(rows), g))


def _linear_vjp_bias(g, ans, x, weight, bias, *, fold=False):
    """The bias's gradient: g summed to its shape (over the rows torch gave addmm, where it fused)."""
    return sum_to(_rows(g) if _linear_fuses(x, bias) else g, bias.shape)


linear.defvjp(_linear_vjp_x, _linear_vjp_weight, _linear_vjp_bias)


@primitive(saves="ans")
def inverse(x):
    """torch.linalg.inv: the inverse of each square matrix of a batch."""
    return torch.linalg.inv(x)


inverse.defvjp(lambda g, ans, x: neg(matmul(transpose(ans), matmul(g, transpose(ans)))))


def _diagonal_of(values: Any, like: Any) -> Any:
    """Square matrices shaped like `like` with one scalar of `values` (a batch) repeated on each diagonal."""
    return mul(_per_matrix(values), _eye(like, like.shape[-1]))


@primitive(saves="x ans")
def det(x):
    """torch.linalg.det: the determinant of each square matrix of a batch."""
    return torch.linalg.det(x)


det.defvjp(lambda g, ans, x: solve(transpose(x), _diagonal_of(mul(g, ans), x)))


@primitive(saves="x")
def logabsdet(x):
    """log |det x| of each square matrix of a batch (torch.linalg.slogdet's second output)."""
    return torch.linalg.slogdet(x).logabsdet


logabsdet.defvjp(lambda g, ans, x: solve(transpose(x), _diagonal_of(g, x)))


@primitive(saves={"a": "a ans", "b": "a"})
def solve(a, b, *, left=True):
    """X with a @ X = b (X @ a = b where not `left`) for square matrices `a` (*, n, n) and matrices `b`,
    batches broadcasting."""
    return torch.linalg.solve(a, b, left=left)


def _solve_vjp_b(g, ans, a, b, *, left=True):
    """a^-T g (g a^-T where not `left`), as torch's linalg_solve_backward: in a first-order backward from the
    LU of a (lu_solve with adjoint), under create_graph a differentiable solve with a^T."""
    if isinstance(g, Variable):
        return sum_to(solve(transpose(a), g, left=left), b.shape)
    factors, pivots = torch.linalg.lu_factor(a)
    return sum_to(torch.linalg.lu_solve(factors, pivots, g, left=left, adjoint=True), b.shape)


def _solve_vjp_a(g, ans, a, b, *, left=True):
    """-gB X^T (-X^T gB where not `left`), gB being b's gradient (before its sum over broadcast dims)."""
    grad_b = _solve_vjp_b(g, ans, a, ans, left=left)
    return sum_to(neg(matmul(grad_b, transpose(ans)) if left else matmul(transpose(ans), grad_b)), a.shape)


solve.defvjp(_solve_vjp_a, _solve_vjp_b)


@primitive(saves={"a": "a ans", "b": "a"})
def solve_triangular(a, b, *, upper, left=True, unitriangular=False):
    """torch.linalg.solve_triangular: solve reading only a's upper (or lower) triangle, its diagonal taken as
    ones when `unitriangular`; batches broadcasting."""
    return torch.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular)


def _triangular_vjp_b(g, ans, a, b, *, upper, left=True, unitriangular=False):
    """As torch: the solve with a^T (whose other triangle it reads)."""
    return sum_to(solve_triangular(transpose(a), g, upper=not upper, left=left, unitriangular=unitriangular), b.shape)


def _triangular_vjp_a(g, ans, a, b, *, upper, left=True, unitriangular=False):
    """As torch: -gB X^T (-X^T gB where not `left`) cut to a's triangle, gB b's gradient before its sum."""
    grad_b = _triangular_vjp_b(g, ans, a, ans, upper=upper, left=left, unitriangular=unitriangular)
    grad = neg(matmul(grad_b, transpose(ans)) if left else matmul(transpose(ans), grad_b))
    grad = triu(grad, diagonal=int(unitriangular)) if upper else tril(grad, diagonal=-int(unitriangular))
    return sum_to(grad, a.shape)


solve_triangular.defvjp(_triangular_vjp_a, _triangular_vjp_b)


@primitive(saves="ans")
def cholesky(x, *, upper=False):
    """torch.linalg.cholesky: the lower-triangular L with L @ L^T = x (or U = L^T with `upper`), for symmetric
    positive-definite x."""
    return torch.linalg.cholesky(x, upper=upper)


def _cholesky_vjp(g, ans, x, *, upper=False):
    """torch's cholesky_backward: L^-T S L^-1 with S = (P + tril(P, -1)^T) / 2, P = tril(L^T g), by two
    triangular solves (L = U^T and g^T where `upper`)."""
    lower, g_lower = (transpose(ans), transpose(g)) if upper else (ans, g)
    grad = tril(matmul(transpose(lower), g_lower))
    grad = mul(add(grad, transpose(tril(grad, diagonal=-1))), 0.5)
    grad = solve_triangular(transpose(lower), grad, upper=True)
    return solve_triangular(lower, grad, upper=False, left=False)


cholesky.defvjp(_cholesky_vjp)


@primitive(saves="ans")
def eigh(x, *, UPLO="L"):  # noqa: N803 (torch's name)
    """torch.linalg.eigh of symmetric matrices, packed in one tensor (*, n + 1, n): the eigenvalues
    (ascending) in row 0 above the eigenvectors (the columns of rows 1..n)."""
    values, vectors = torch.linalg.eigh(x, UPLO=UPLO)
    return _pack(values.unsqueeze(-2), vectors)


def _eigh_vjp(g, ans, x, *, UPLO="L"):  # noqa: N803
    """V (skew(V^T gV) / E + diag(gL)) V^T with E_ij = L_j - L_i (1 on the diagonal), as torch."""
    values, vectors = (
        getitem(ans, index=(..., slice(0, 1), slice(None))),
        getitem(ans, index=(..., slice(1, None), slice(None))),
    )
    g_values, g_vectors = (
        getitem(g, index=(..., slice(0, 1), slice(None))),
        getitem(g, index=(..., slice(1, None), slice(None))),
    )
    raw = unwrap(ans)
    eye = torch.eye(raw.shape[-1], dtype=raw.dtype, device=raw.device)
    vg = matmul(transpose(vectors), g_vectors)
    gaps = add(sub(values, transpose(values)), eye)  # (values is a row: E_ij = L_j - L_i)
    inner = add(div(mul(sub(vg, transpose(vg)), 0.5), gaps), mul(transpose(g_values), eye))
    return matmul(matmul(vectors, inner), transpose(vectors))


eigh.defvjp(_eigh_vjp)


# --- decompositions: several factors packed in one output, split by the composites --------------------
def _eye(like: Any, n: int) -> torch.Tensor:
    """The n x n identity as a constant of `like`'s dtype and device (`like`: a tensor, Variable or Meta)."""
    return torch.eye(n, dtype=like.dtype, device=like.device)


def _pack(*blocks: torch.Tensor) -> torch.Tensor:
    """Matrices stacked along the rows (dim -2), each padded with zero columns to the widest, column-major as
    LAPACK returns its factors: products with the factors (U^T, Q^T ...) then run the BLAS calls torch's do."""
    width = max(b.shape[-1] for b in blocks)
    packed = torch.cat([torch.nn.functional.pad(b, (0, width - b.shape[-1])) for b in blocks], dim=-2)
    return packed.mT.contiguous().mT


def block(packed: Any, rows: tuple[int, int], cols: int | tuple[int, int]) -> Any:
    """Rows `rows` (start, stop) and columns `cols` ((start, stop), or an int: the first `cols`) of a packed
    output, as a getitem (differentiable)."""
    start, stop = (0, cols) if isinstance(cols, int) else cols
    return getitem(packed, index=(..., slice(*rows), slice(start, stop)))


@primitive(saves="ans")
def svd(x, *, full_matrices=True, driver=None):
    """torch.linalg.svd packed in one tensor (*, m + 1 + n, w): U above S (one row) above V = Vh^T, each padded
    with zero columns to the widest (w = k = min(m, n), or max(m, n) with `full_matrices`)."""
    u, s, vh = torch.linalg.svd(x, full_matrices=full_matrices, driver=driver)
    return _pack(u, s.unsqueeze(-2), vh.mT)


def svd_factors(packed: Any, m: int, n: int, columns: int | None = None) -> tuple[Any, Any, Any]:
    """U (m, c), S as a row (1, k) and V (n, c) of a packed svd of an (m, n) matrix: c = `columns`, by default
    all that U and V have (k, or m and n with full_matrices: U's and V's columns then differ)."""
    k = min(m, n)
    width = packed.shape[-1]
    u_cols, v_cols = (columns, columns) if columns is not None else ((k, k) if width == k else (m, n))
    return block(packed, (0, m), u_cols), block(packed, (m, m + 1), k), block(packed, (m + 1, m + 1 + n), v_cols)


def _skew(a: Any) -> Any:
    return sub(a, transpose(a))


def _svd_vjp(g, ans, x, *, full_matrices=True, driver=None):
    """torch's svd_backward (real, the gauge-invariant formula; with full_matrices only the first k columns
    of U and V count, as in torch): gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] V^T, E_ij =
    s_j^2 - s_i^2 (1 on the diagonal), plus (I - U U^T) gU S^-1 V^T where m > n, U S^-1 gV^T (I - V V^T)
    where n > m."""
    m, n = x.shape[-2:]
    k = min(m, n)
    u, s, v = svd_factors(ans, m, n, k)
    g_u, g_s, g_v = svd_factors(g, m, n, k)
    s_col = transpose(s)
    squares = mul(s, s)
    gaps = add(sub(squares, transpose(squares)), _eye(x, k))
    mixed = add(mul(_skew(matmul(transpose(u), g_u)), s), mul(s_col, _skew(matmul(transpose(v), g_v))))
    inner = add(div(mixed, gaps), mul(g_s, _eye(x, k)))
    vh = transpose(v)
    if m > n:
        g_u_scaled = div(g_u, s)
        left = add(matmul(u, inner), sub(g_u_scaled, matmul(u, matmul(transpose(u), g_u_scaled))))
        return matmul(left, vh)
    if n > m:
        g_vh_scaled = div(transpose(g_v), s_col)
        right = add(matmul(inner, vh), sub(g_vh_scaled, matmul(matmul(g_vh_scaled, v), vh)))
        return matmul(u, right)
    return matmul(u, matmul(inner, vh))


svd.defvjp(_svd_vjp)


@primitive(saves="ans")
def qr(x, *, mode="reduced"):
    """torch.linalg.qr packed in one tensor: Q above R, padded with zero columns to the wider (R alone for
    mode='r', where torch computes no Q)."""
    q, r = torch.linalg.qr(x, mode=mode)
    return r if mode == "r" else _pack(q, r)


def qr_factors(packed: Any, m: int, n: int, mode: str) -> tuple[Any, Any]:
    """Q (m, c) and R (c, n) of a packed qr of an (m, n) matrix: c = m for mode='complete', else min(m, n)."""
    c = m if mode == "complete" else min(m, n)
    return block(packed, (0, m), c), block(packed, (m, m + c), n)


def _triangle(x: Any, upper: bool, diagonal: float = 1.0) -> Any:
    """x's upper (or lower) triangle, its diagonal times `diagonal`: x times a constant mask."""
    size = x.shape[-1]
    ones = torch.ones(size, size, dtype=x.dtype, device=x.device)
    mask = ones.triu(1) if upper else ones.tril(-1)
    return mul(x, mask + diagonal * _eye(x, size))


def _solve_right_upper(b: Any, r: Any) -> Any:
    """X with X R^T = b for upper-triangular R (its triangle only, as torch.linalg.solve_triangular reads it)."""
    return transpose(solve(_triangle(r, upper=True), transpose(b)))


def _qr_vjp(g, ans, x, *, mode="reduced"):
    """torch's linalg_qr_backward (real): with M = gR R^T - Q^T gQ, for m >= n gA = (Q syminvadj(triu M) + gQ)
    R^-T; for m < n gA = [Q tril(M^T - M) R1^-T, 0] + Q gR, R1 = R's first m columns. torch's errors where
    it refuses (mode='r'; mode='complete' with m > n)."""
    m, n = x.shape[-2:]
    if mode == "r":
        raise RuntimeError(
            "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
            "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr."
        )
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    q, r = qr_factors(ans, m, n, mode)
    g_q, g_r = qr_factors(g, m, n, mode)
    inner = sub(matmul(g_r, transpose(r)), matmul(transpose(q), g_q))
    if m >= n:
        half = _triangle(inner, upper=True, diagonal=0.5)
        return _solve_right_upper(add(matmul(q, add(half, transpose(half))), g_q), r)
    lower = _triangle(_skew(transpose(inner)), upper=False)
    first = _solve_right_upper(matmul(q, lower), block(r, (0, m), m))
    return add(pad(first, widths=(0, n - m)), matmul(q, g_r))


qr.defvjp(_qr_vjp)


@primitive(saves="x")
def matrix_exp(x):
    """torch.linalg.matrix_exp: e^x of each square matrix of a batch."""
    return torch.linalg.matrix_exp(x)


def _matrix_exp_vjp(g, ans, x):
    """As torch: the top-right block of e^[[x^T, g], [0, x^T]] (itself a matrix_exp, so it differentiates)."""
    xt = transpose(x)
    zeros = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    n = x.shape[-1]
    return block(matrix_exp(cat(cat(xt, g, dim=-1), cat(zeros, xt, dim=-1), dim=-2)), (0, n), (n, 2 * n))


matrix_exp.defvjp(_matrix_exp_vjp)


def _as_tolerance(value: Any, like: torch.Tensor) -> torch.Tensor:
    """A tolerance as torch.linalg.pinv takes it: a tensor as given, a number as a float64 0-dim tensor."""
    return (
        unwrap(value)
        if isinstance(value, (torch.Tensor, Variable))
        else torch.tensor(value, dtype=torch.float64, device=like.device)
    )


def _kept(magnitudes: torch.Tensor, largest: torch.Tensor, size: int, atol: Any, rtol: Any) -> torch.Tensor:
    """Where singular values (or |eigenvalues|) exceed torch.linalg.pinv's cut max(atol, rtol * largest): rtol
    by default eps * max(m, n), or 0 where a positive atol is given. A constant boolean mask."""
    zero = torch.zeros((), dtype=torch.float64, device=largest.device)
    absolute = zero if atol is None else _as_tolerance(atol, largest)
    if rtol is None:
        default = torch.tensor(torch.finfo(largest.dtype).eps * size, dtype=torch.float64, device=largest.device)
        relative = default if atol is None else torch.where(absolute > 0, zero, default)
    else:
        relative = _as_tolerance(rtol, largest)
    return magnitudes > torch.max(absolute.unsqueeze(-1), relative.unsqueeze(-1) * largest)


@primitive(saves="a ans")
def pinv(a, *, atol=None, rtol=None, hermitian=False):
    """torch.linalg.pinv: its values composed as torch composes them (`pseudo_inverse`), its gradient
    torch's pinv_backward, which is finite where differentiating through svd is not (a rank-deficient
    matrix: equal singular values)."""
    return pseudo_inverse(a, atol, rtol, hermitian)


pinv.defvjp(lambda g, ans, a, *, atol=None, rtol=None, hermitian=False: _pinv_vjp(g, ans, a))


def pseudo_inverse(a: Any, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Any:
    """torch.linalg.pinv as torch composes it: V diag(1/s) U^T from svd, or U diag(1/l) U^T from eigh when
    `hermitian`, with the values under the cut (`_kept`, a constant) replaced by 0."""
    m, n = a.shape[-2:]
    if hermitian:
        packed = eigh(a)
        values, u = block(packed, (0, 1), n), block(packed, (1, n + 1), n)
        magnitudes = unwrap(values)[..., 0, :].abs()
        kept = _kept(magnitudes, magnitudes.amax(-1, keepdim=True), max(m, n), atol, rtol)
        left, right = u, transpose(u)
    else:
        u, values, v = svd_factors(svd(a, full_matrices=False), m, n)
        raw = unwrap(values)[..., 0, :]
        kept = _kept(raw, raw[..., :1], max(m, n), atol, rtol)
        left, right = v, transpose(u)
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    return matmul(mul(left, where(kept.unsqueeze(-2), reciprocal(values), zero)), right)


def _pinv_vjp(g: Any, p: Any, a: Any) -> Any:
    """torch's pinv_backward: A's gradient from g, the gradient of p = pinv(A) (products of the smallest sizes)."""
    m, n = a.shape[-2:]
    ph, gh = transpose(p), transpose(g)
    if m <= n:
        k = matmul(gh, p)
        k_ph = matmul(k, ph)
        first = sub(k_ph, transpose(matmul(p, k)))
        return add(sub(first, matmul(matmul(a, p), k_ph)), matmul(matmul(ph, p), sub(gh, matmul(k, a))))
    k = matmul(p, gh)
    ph_k = matmul(ph, k)
    first = add(neg(transpose(matmul(k, p))), matmul(matmul(sub(gh, matmul(a, k)), p), ph))
    return sub(add(first, ph_k), matmul(matmul(ph_k, p), a))


@primitive(saves="a b")
def lstsq(a, b, *, rcond=None, driver=None):
    """torch.linalg.lstsq's solution X minimising |a X - b| for matrices a (*, m, n), b (*, m, k), batches
    broadcasting (torch's CPU driver, gelsy by default)."""
    return torch.linalg.lstsq(a, b, rcond=rcond, driver=driver).solution


def _lstsq_vjp_a(g, ans, a, b, *, rcond=None, driver=None):
    """As torch (for full-rank a): pinv_backward(g b^T) with pinv(a) from svd."""
    return sum_to(_pinv_vjp(matmul(g, transpose(b)), pinv(a), a), a.shape)


def _lstsq_vjp_b(g, ans, a, b, *, rcond=None, driver=None):
    """As torch: pinv(a)^T g."""
    return sum_to(matmul(transpose(pinv(a)), g), b.shape)


lstsq.defvjp(_lstsq_vjp_a, _lstsq_vjp_b)


@primitive(saves="a b")
def lstsq_residuals(a, b, *, rcond=None, driver=None):
    """torch.linalg.lstsq's residuals: the squared residual norm of each column of b (for drivers that
    compute them, m > n and a of full rank)."""
    return torch.linalg.lstsq(a, b, rcond=rcond, driver=driver).residuals


def _weighted_residual(g, a, b, rcond, driver):
    """2 (a X - b) g, g spread over b's columns (X the least-squares solution): the residuals' VJP for -b,
    and for a once multiplied by X^T (the solution is optimal, so X's own change adds nothing)."""
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))
    columns = reshape(b, shape=(*b.shape, 1)) if vector else b
    x = lstsq(a, columns, rcond=rcond, driver=driver)
    residual = sub(matmul(a, x), columns)
    weights = reshape(g, shape=(*residual.shape[:-2], 1, residual.shape[-1]))
    return mul(residual, mul(weights, 2.0)), x, vector


def _residuals_vjp_a(g, ans, a, b, *, rcond=None, driver=None):
    weighted, x, _ = _weighted_residual(g, a, b, rcond, driver)
    return sum_to(matmul(weighted, transpose(x)), a.shape)


def _residuals_vjp_b(g, ans, a, b, *, rcond=None, driver=None):
    weighted, _, vector = _weighted_residual(g, a, b, rcond, driver)
    grad = neg(weighted)
    return sum_to(reshape(grad, shape=tuple(grad.shape[:-1])) if vector else grad, b.shape)


lstsq_residuals.defvjp(_residuals_vjp_a, _residuals_vjp_b)
