"""Primitives: the linalg family, the matrix functions whose derivatives are new (matmul is in core).

Each VJP is written with matmul, transpose and these primitives themselves (inverse's VJP is
-A^-T g A^-T with A^-1 the saved output), so gradients of gradients follow. eigh has two outputs,
packed into one tensor that the composite splits. The composites in
`composites/linalg.py` (einsum, tensordot, solve with vectors or left=False, slogdet's sign, ...)
are built on them.
"""

from __future__ import annotations

from typing import Any

import torch

from ..primitive import primitive
from ..variable import unwrap
from .core import add, div, getitem, matmul, mul, neg, reshape, sub, sum_to, transpose

__all__ = ["cholesky", "det", "eigh", "inverse", "linear", "logabsdet", "solve"]


def _per_matrix(g: Any) -> Any:
    """A batch of scalars (one per matrix) shaped to broadcast against the batch of matrices."""
    return reshape(g, shape=tuple(g.shape) + (1, 1))


@primitive(saves={"x": "weight", "weight": "x"})
def linear(x, weight, bias):
    """torch.nn.functional.linear: x @ weight^T + bias (bias may be None), weight (out, in), in torch's kernel
    (addmm with a bias)."""
    return torch.nn.functional.linear(x, weight, bias)


def _linear_vjp_weight(g, ans, x, weight, bias):
    """g^T x with every leading dim of g and x folded into the rows: one product, whatever the batch."""
    rows = reshape(g, shape=(-1, weight.shape[0]))
    return matmul(transpose(rows), reshape(x, shape=(-1, weight.shape[1])))


linear.defvjp(
    lambda g, ans, x, weight, bias: matmul(g, weight),
    _linear_vjp_weight,
    lambda g, ans, x, weight, bias: sum_to(g, bias.shape),
)


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
