"""Primitives: the linalg family, the matrix functions whose derivatives are new (matmul is in core).

Each VJP is written with matmul, transpose and these primitives themselves (inverse's VJP is
-A^-T g A^-T with A^-1 the saved output), so gradients of gradients follow. eigh has two outputs,
packed into one tensor that the composite splits. The composites in
`composites/linalg.py` (einsum, tensordot, solve with vectors or left=False, slogdet's sign, ...)
are built on them.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..primitive import primitive
from ..variable import unwrap
from .core import (
    Shaped,
    add,
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
    requires_grad_of,
    reshape,
    reshaped,
    sub,
    sum_to,
    torch_folds,
    transpose,
)

__all__ = ["cholesky", "det", "eigh", "inverse", "linear", "logabsdet", "solve"]


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


inverse.defvjp(lambda g, ans, x: neg(matmul(matmul(transpose(ans), g), transpose(ans))))


@primitive(saves="x ans")
def det(x):
    """torch.linalg.det: the determinant of each square matrix of a batch."""
    return torch.linalg.det(x)


det.defvjp(lambda g, ans, x: mul(_per_matrix(mul(g, ans)), transpose(inverse(x))))


@primitive(saves="x")
def logabsdet(x):
    """log |det x| of each square matrix of a batch (torch.linalg.slogdet's second output)."""
    return torch.linalg.slogdet(x).logabsdet


logabsdet.defvjp(lambda g, ans, x: mul(_per_matrix(g), transpose(inverse(x))))


@primitive(saves={"a": "a ans", "b": "a"})
def solve(a, b):
    """X with a @ X = b for square matrices `a` (*, n, n) and matrices `b` (*, n, k), batches broadcasting."""
    return torch.linalg.solve(a, b)


solve.defvjp(
    lambda g, ans, a, b: sum_to(neg(matmul(solve(transpose(a), g), transpose(ans))), a.shape),
    lambda g, ans, a, b: sum_to(solve(transpose(a), g), b.shape),
)


@primitive(saves="ans")
def cholesky(x):
    """torch.linalg.cholesky: the lower-triangular L with L @ L^T = x, for symmetric positive-definite x."""
    return torch.linalg.cholesky(x)


def _cholesky_vjp(g, ans, x):
    """L^-T S L^-1 with S the symmetric part of tril(L^T g) (its diagonal halved), as torch (Murray 2016)."""
    upper = transpose(ans)
    phi = mul(matmul(upper, g), _tril_halved(ans))
    s = mul(add(phi, transpose(phi)), 0.5)
    return transpose(solve(upper, transpose(solve(upper, s))))


def _tril_halved(like: Any) -> torch.Tensor:
    """Ones below the diagonal, 1/2 on it, zeros above: a constant mask of `like`'s matrix shape."""
    raw = unwrap(like)
    n = raw.shape[-1]
    return torch.ones(n, n, dtype=raw.dtype, device=raw.device).tril(-1) + 0.5 * torch.eye(
        n, dtype=raw.dtype, device=raw.device
    )


cholesky.defvjp(_cholesky_vjp)


@primitive(saves="ans")
def eigh(x, *, UPLO="L"):  # noqa: N803 (torch's name)
    """torch.linalg.eigh of symmetric matrices, packed in one tensor (*, n + 1, n): the eigenvalues
    (ascending) in row 0 above the eigenvectors (the columns of rows 1..n)."""
    values, vectors = torch.linalg.eigh(x, UPLO=UPLO)
    return torch.cat([values.unsqueeze(-2), vectors], dim=-2)


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
