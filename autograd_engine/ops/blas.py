"""Primitives: the add* BLAS family, beta * input + alpha * product in torch's one kernel.

torch.addmm, addmv, addr, baddbmm and addbmm are one BLAS call each (gemm, gemv, ger), which scales and
adds while it accumulates and so rounds otherwise than a product followed by an addition: each forward
here is torch's own function, so values carry torch's bits. The VJPs are torch's formulas
(derivatives.yaml) written in primitives, so gradients carry torch's bits too and gradients of gradients
follow: `x` (torch's `input`), which broadcasts to the product's shape, gets g * beta summed back to
its shape, each factor the product torch computes, times alpha. A scale of 1 multiplies nothing (torch's
`maybe_multiply`); beta 0 still multiplies, so a NaN or inf in g reaches x's gradient as in torch, while
the forward ignores x's values (NaN included).
"""

from __future__ import annotations

from typing import Any

import torch

from ..primitive import primitive
from .core import expand, matmul, mm_mat1_grad, mm_mat2_grad, mul, outer, reshape, sum_to, transpose

__all__ = ["addbmm", "addmm", "addmv", "addr", "baddbmm"]


def scaled(g: Any, s: Any) -> Any:
    """g * s, or g itself where s is 1 (torch's maybe_multiply: the default scale costs no product, no rounding)."""
    return g if s == 1 else mul(g, s)


# --- addmm: a column-major factor's gradient in torch's order ------------------------------------------------
@primitive(saves={"mat1": "mat2", "mat2": "mat1"})
def addmm(x, mat1, mat2, *, beta=1, alpha=1):
    """torch.addmm: beta * x + alpha * (mat1 @ mat2) in one gemm; x broadcasts to (n, p). Each factor's gradient
    follows torch's order for that factor's layout (`mm_mat1_grad`), read from its strides."""
    return torch.addmm(x, mat1, mat2, beta=beta, alpha=alpha)


addmm.defvjp(
    lambda g, ans, x, mat1, mat2, *, beta=1, alpha=1: sum_to(scaled(g, beta), x.shape),
    lambda g, ans, x, mat1, mat2, *, beta=1, alpha=1: scaled(mm_mat1_grad(g, mat1, mat2), alpha),
    lambda g, ans, x, mat1, mat2, *, beta=1, alpha=1: scaled(mm_mat2_grad(g, mat1, mat2), alpha),
)


# --- the others: one formula per factor, whatever the layout ------------------------------------------------
@primitive(saves={"mat": "vec", "vec": "mat"})
def addmv(x, mat, vec, *, beta=1, alpha=1):
    """torch.addmv: beta * x + alpha * (mat @ vec) in one gemv; x broadcasts to (n,)."""
    return torch.addmv(x, mat, vec, beta=beta, alpha=alpha)


addmv.defvjp(
    lambda g, ans, x, mat, vec, *, beta=1, alpha=1: sum_to(scaled(g, beta), x.shape),
    lambda g, ans, x, mat, vec, *, beta=1, alpha=1: scaled(outer(g, vec), alpha),
    lambda g, ans, x, mat, vec, *, beta=1, alpha=1: scaled(matmul(transpose(mat), g), alpha),
)


@primitive(saves={"vec1": "vec2", "vec2": "vec1"})
def addr(x, vec1, vec2, *, beta=1, alpha=1):
    """torch.addr: beta * x + alpha * outer(vec1, vec2) in one kernel; x broadcasts to (n, m)."""
    return torch.addr(x, vec1, vec2, beta=beta, alpha=alpha)


addr.defvjp(
    lambda g, ans, x, vec1, vec2, *, beta=1, alpha=1: sum_to(scaled(g, beta), x.shape),
    lambda g, ans, x, vec1, vec2, *, beta=1, alpha=1: scaled(matmul(g, vec2), alpha),
    lambda g, ans, x, vec1, vec2, *, beta=1, alpha=1: scaled(matmul(transpose(g), vec1), alpha),
)


@primitive(saves={"batch1": "batch2", "batch2": "batch1"})
def baddbmm(x, batch1, batch2, *, beta=1, alpha=1):
    """torch.baddbmm: beta * x + alpha * bmm(batch1, batch2) in one batched gemm; x broadcasts to (b, n, p)."""
    return torch.baddbmm(x, batch1, batch2, beta=beta, alpha=alpha)


baddbmm.defvjp(
    lambda g, ans, x, batch1, batch2, *, beta=1, alpha=1: sum_to(scaled(g, beta), x.shape),
    lambda g, ans, x, batch1, batch2, *, beta=1, alpha=1: scaled(matmul(g, transpose(batch2)), alpha),
    lambda g, ans, x, batch1, batch2, *, beta=1, alpha=1: scaled(matmul(transpose(batch1), g), alpha),
)


@primitive(saves={"batch1": "batch2", "batch2": "batch1"})
def addbmm(x, batch1, batch2, *, beta=1, alpha=1):
    """torch.addbmm: beta * x + alpha * sum_b batch1[b] @ batch2[b] in one kernel; x broadcasts to (n, p)."""
    return torch.addbmm(x, batch1, batch2, beta=beta, alpha=alpha)


def tiled(g: Any, batch1: Any) -> Any:
    """addbmm's output gradient (n, p) repeated over batch1's batch, (b, n, p): a view, as torch's formula has it."""
    return expand(reshape(g, shape=(1, *g.shape)), shape=(batch1.shape[0], *g.shape))


addbmm.defvjp(
    lambda g, ans, x, batch1, batch2, *, beta=1, alpha=1: sum_to(scaled(g, beta), x.shape),
    lambda g, ans, x, batch1, batch2, *, beta=1, alpha=1: scaled(matmul(tiled(g, batch1), transpose(batch2)), alpha),
    lambda g, ans, x, batch1, batch2, *, beta=1, alpha=1: scaled(matmul(transpose(batch1), tiled(g, batch1)), alpha),
)
