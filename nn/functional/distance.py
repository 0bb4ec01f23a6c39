"""torch.nn.functional's distance functions on Variables: normalize, cosine_similarity, pairwise_distance,
pdist and torch.cdist, with torch's formulas (so values agree to rounding) and torch's gradients at the
degenerate points (a zero vector's norm has gradient 0, as torch's norm backward masks it). The norms
are torch.linalg.vector_norm's rule (`ag.vector_norm`: torch's kernel, which sums float16 and bfloat16
in float32).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as tnf

import autograd_engine as ag
from autograd_engine import ops
from autograd_engine.dispatch import implements
from autograd_engine.ops import normalize_dim
from autograd_engine.variable import unwrap

__all__ = ["cdist", "cosine_similarity", "normalize", "pairwise_distance", "pdist"]

_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def _root(total: Any) -> Any:
    """sqrt(total), with gradient 0 where total is 0 (the root's slope is infinite there; torch's distances
    pass 0)."""
    zero = unwrap(total) == 0
    return ops.where(zero, 0.0, ops.pow(ops.where(zero, 1.0, total), 0.5))


@implements(tnf.normalize)
def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Any:  # noqa: A002
    """input / max(||input||_p over `dim`, eps); the gradient passes the clamp where the norm >= eps, as
    torch's clamp_min. `out=` is refused: the result is a new Variable."""
    if out is not None:
        raise TypeError("normalize: out= is not supported with Variables (the result is a new Variable)")
    denominator = ag.clamp(ag.vector_norm(input, p, normalize_dim(dim, input.ndim), keepdim=True), min=eps)
    return ops.div(input, denominator)


def _broadcast(x1: Any, x2: Any) -> tuple[Any, Any]:
    """x1 and x2 expanded to their common shape (torch's RuntimeError where there is none)."""
    meta = torch.broadcast_tensors(torch.empty(x1.shape, device="meta"), torch.empty(x2.shape, device="meta"))
    shape = tuple(meta[0].shape)

    def expand(x: Any) -> Any:
        return x if tuple(x.shape) == shape else ops.expand(x, shape=shape)

    return expand(x1), expand(x2)


@implements(tnf.cosine_similarity, torch.cosine_similarity)
def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Any:
    """sum((x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps))) over `dim` of the broadcast inputs: torch's
    formula, including that the clamp is not differentiated (the gradient is that of the unclamped norm)."""
    common = torch.result_type(unwrap(x1), unwrap(x2))
    if not common.is_floating_point:
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is {common}")
    x1, x2 = (x if x.dtype.is_floating_point else x.to(common) for x in (x1, x2))
    x1, x2 = _broadcast(x1, x2)
    d = normalize_dim(dim, x1.ndim)
    return ag.sum(ops.mul(_unit(x1, d, eps), _unit(x2, d, eps)), d)


def _unit(x: Any, dim: int, eps: float) -> Any:
    """x / max(||x||, eps) with the clamp a constant offset, so the gradient is the unclamped norm's."""
    norm = ag.vector_norm(x, 2, dim, keepdim=True)
    raw = unwrap(norm)
    return ops.div(x, ops.add(norm, raw.clamp_min(eps) - raw))


@implements(tnf.pairwise_distance, torch.pairwise_distance)
def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Any:
    """||x1 - x2 + eps||_p over the last dim of the broadcast inputs."""
    difference = ops.add(ops.sub(x1, x2), eps)
    return ag.vector_norm(difference, p, max(x1.ndim, x2.ndim) - 1, keepdim)


@implements(tnf.pdist, torch.pdist)
def pdist(input: Any, p: float = 2) -> Any:  # noqa: A002
    """||x_i - x_j||_p for the rows i < j of a 2-d input, in row-major order of the pairs."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    rows = input.shape[0]
    first, second = torch.triu_indices(rows, rows, 1, device=input.device)
    difference = ops.sub(ops.getitem(input, index=first), ops.getitem(input, index=second))
    return ag.vector_norm(difference, p, 1)


@implements(torch.cdist)
def cdist(x1: Any, x2: Any, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Any:
    """||x1_i - x2_j||_p for the rows of x1 (..., P, M) and x2 (..., R, M): (..., P, R), batch dims broadcast.
    For p = 2 with more than 25 rows on either side (or compute_mode='use_mm_for_euclid_dist') it is
    computed as torch does then, through one matrix product: sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))."""
    for name, x in (("X1", x1), ("X2", x2)):
        if x.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    rows, others = x1.shape[-2], x2.shape[-2]
    if p == 2 and (
        compute_mode == "use_mm_for_euclid_dist" or (compute_mode == _CDIST_MODES[0] and (rows > 25 or others > 25))
    ):
        return _euclidean_by_matmul(x1, x2)
    a = ops.reshape(x1, shape=(*x1.shape[:-1], 1, x1.shape[-1]))
    b = ops.reshape(x2, shape=(*x2.shape[:-2], 1, *x2.shape[-2:]))
    return ag.vector_norm(ops.sub(a, b), p, -1)


def _euclidean_by_matmul(x1: Any, x2: Any) -> Any:
    """torch's _euclidean_dist: [-2a, |a|^2, 1] @ [b, 1, |b|^2]^T, clamped at 0, square-rooted (gradient
    0 where the distance is 0)."""
    sq1 = ag.sum(ops.mul(x1, x1), -1, keepdim=True)
    sq2 = ag.sum(ops.mul(x2, x2), -1, keepdim=True)
    left = ag.cat([ops.mul(x1, -2.0), sq1, torch.ones_like(unwrap(sq1))], -1)
    right = ag.cat([x2, torch.ones_like(unwrap(sq2)), sq2], -1)
    return _root(ag.clamp(ops.matmul(left, ops.transpose(right)), min=0.0))
