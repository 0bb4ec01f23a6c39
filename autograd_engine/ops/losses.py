"""Primitives: the losses family, on torch's fused kernels (forward on tensors + VJPs in primitives).

* `nll_loss`: -x[target] times weight[target], reduced, on torch's `nll_loss_forward` (a (C,) or (N, C)
  input) or `nll_loss2d_forward` (more dims, viewed as torch's `nll_loss_nd` views them), so its values are
  torch's bits and its checks and messages torch's. The kernel's summed weight of the counted targets
  (what 'mean' divides by) is a residual, which the backward kernel reads.
* `nll_loss_backward`: its VJP, torch's backward kernel; linear in the gradient and independent of the
  input's values, so its own VJP is `nll_loss` of the incoming gradient, and gradients of any order record.

The composite this replaces (masks, a gather, a where, a multiply and two sums, with a bounds check that
synchronizes) took 0.66 ms for cross_entropy's forward + backward on (2048, 96) float32 logits on one CPU
thread; this takes 0.37 ms, as torch's fused kernels (0.35 ms).
"""

from __future__ import annotations

from typing import Any

import torch

from ..primitive import primitive

__all__ = ["nll_loss", "nll_loss_backward"]

_aten = torch.ops.aten
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}  # torch's Reduction enum


def _flat_shapes(shape: torch.Size, target: torch.Tensor) -> tuple[list[int], list[int], list[int]]:
    """How nll_loss_nd hands an input of 3 or more than 4 dims to the 2-d kernel: the input's view (N, C, 1, L),
    the target's (N, 1, L) and the unreduced loss's shape (N, d1, ...); torch's check of the target first."""
    n, c, rest = shape[0], shape[1], list(shape[2:])
    if list(target.shape[1:]) != rest:
        raise RuntimeError(f"Expected target size {[n, *rest]}, got {list(target.shape)}")
    length = 1
    for d in rest:
        length *= d
    empty = n * c * length == 0
    return [n, c, 0, 0] if empty else [n, c, 1, length], [n, 0, 0] if empty else [n, 1, length], [n, *rest]


@primitive(saves="target weight", residuals="total_weight")
def nll_loss(x, target, weight=None, *, reduction="mean", ignore_index=-100):
    """-x[target] * weight[target] over (C), (N, C) or (N, C, d1, ...) log-probabilities and class indices
    (), (N) or (N, d1, ...); targets equal to ignore_index count for nothing; 'mean' divides by the summed
    weights of the counted targets (torch's nll_loss_forward / nll_loss2d_forward, as F.nll_loss)."""
    if x.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {x.ndim})")
    batch = target.shape[0] if target.ndim else 0  # (0 for a 0-d target, as torch says)
    if x.ndim != 1 and x.shape[0] != batch:
        raise ValueError(f"Expected input batch_size ({x.shape[0]}) to match target batch_size ({batch}).")
    mode = _REDUCTIONS[reduction]
    if x.ndim <= 2:
        return _aten.nll_loss_forward(x, target, weight, mode, ignore_index)
    if x.ndim == 4:
        return _aten.nll_loss2d_forward(x, target, weight, mode, ignore_index)
    x_view, target_view, shape = _flat_shapes(x.shape, target)
    x, target = x.contiguous().view(x_view), target.contiguous().view(target_view)
    out, total_weight = _aten.nll_loss2d_forward(x, target, weight, mode, ignore_index)
    return (out.view(shape) if mode == 0 else out), total_weight


@primitive(saves={"g": "target weight"})
def nll_loss_backward(g, x, target, weight=None, *, reduction="mean", ignore_index=-100, total_weight):
    """The VJP of nll_loss: -g * weight[target] (/ total_weight for 'mean') at each target class, 0
    elsewhere, in x's shape (torch's nll_loss_backward / nll_loss2d_backward kernels). Linear in g; reads
    only x's shape, dtype and device."""
    mode, dims = _REDUCTIONS[reduction], len(x.shape)
    if dims <= 2 or dims == 4:
        kernel = _aten.nll_loss_backward if dims <= 2 else _aten.nll_loss2d_backward
        return kernel(g, _like(x, x.shape), target, weight, mode, ignore_index, total_weight)
    x_view, target_view, _ = _flat_shapes(x.shape, target)
    g = g.reshape(target_view) if mode == 0 else g
    flat = _like(x, x_view)
    grad = _aten.nll_loss2d_backward(g, flat, target.reshape(target_view), weight, mode, ignore_index, total_weight)
    return grad.view(x.shape)


def _like(x: Any, shape: Any) -> torch.Tensor:
    """A tensor of x's dtype and device in `shape` that allocates nothing: the backward kernels read only
    their input's shape and options, and x may be only a `Meta` of it."""
    return torch.empty((), dtype=x.dtype, device=x.device).expand(shape)


nll_loss.defvjp(
    lambda g, ans, x, target, weight=None, *, total_weight, **params: nll_loss_backward(
        g, x, target, weight, total_weight=total_weight, **params
    ),
    None,
    None,
)
nll_loss_backward.defvjp(
    lambda h, ans, g, x, target, weight=None, *, total_weight, **params: nll_loss(h, target, weight, **params),
    None,
    None,
    None,
)
