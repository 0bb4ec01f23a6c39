"""torch.nn.functional's losses on Variables, with torch's signatures (the deprecated size_average and
reduce too), reductions, argument checks and error messages.

Where torch has a fused kernel pair, the loss is a primitive on them (autograd_engine/ops/losses.py):
nll_loss (so cross_entropy with class-index targets), mse_loss, smooth_l1_loss, huber_loss,
binary_cross_entropy and binary_cross_entropy_with_logits, so their values, gradients, result dtypes and
dtype errors are torch's bits; the others are composites of engine functions. Targets of class indices
(int64 tensors) and masks are constants; a floating target is differentiated where torch differentiates it,
and a weight torch has no derivative for is refused when it requires grad, as torch refuses it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as tnf
from torch.nn import _reduction

import autograd_engine as ag
from autograd_engine import Variable, implements, ops
from autograd_engine.variable import unwrap

from .distance import pairwise_distance

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]

_SCALAR_NAMES = {
    torch.float64: "Double",
    torch.float32: "Float",
    torch.float16: "Half",
    torch.bfloat16: "BFloat16",
    torch.int32: "Int",
    torch.int16: "Short",
    torch.int8: "Char",
    torch.bool: "Bool",
    torch.int64: "Long",
    torch.uint8: "Byte",
}


def _scalar_name(dtype: torch.dtype) -> str:
    """A dtype as torch's error messages name it (Float, Long, ...)."""
    return _SCALAR_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def _reduction_of(size_average: Any, reduce: Any, reduction: str) -> str:
    """'none', 'mean' or 'sum': from the deprecated size_average and reduce when either is given (torch's
    truth values, with torch's warning: a string in size_average's place, as in MSELoss('sum'), is true,
    so the mean, as in torch), else `reduction`, which torch's ValueError rejects when it is none of those."""
    if size_average is not None or reduce is not None:
        return _reduction.legacy_get_string(size_average, reduce)
    return ("none", "mean", "sum")[_reduction.get_enum(reduction)]


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "none":
        return loss
    return ag.mean(loss) if reduction == "mean" else ag.sum(loss)


def _broadcast(input: Any, target: Any) -> tuple[Any, Any]:  # noqa: A002
    """input and target expanded to their common shape, with torch's warning when they differ and its
    error when they do not broadcast."""
    if tuple(input.shape) == tuple(target.shape):
        return input, target
    warnings.warn(
        f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
        "This will likely lead to incorrect results due to broadcasting. "
        "Please ensure they have the same size.",
        stacklevel=4,
    )
    meta = torch.broadcast_tensors(torch.empty(input.shape, device="meta"), torch.empty(target.shape, device="meta"))
    shape = tuple(meta[0].shape)
    return tuple(x if tuple(x.shape) == shape else ag.expand(x, shape) for x in (input, target))  # type: ignore[return-value]


def _weighted(loss: Any, weight: Any, input: Any, reduction: str, mean_by_weight: bool = True) -> Any:  # noqa: A002
    """An elementwise loss times `weight` (input's shape), reduced; 'mean' divides by the weights' sum
    (mse_loss, l1_loss) or by the count (huber_loss), as torch."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return ag.sum(loss) / ag.sum(weight)
    return _reduce(loss, reduction)


# --- regression ----------------------------------------------------------------------------------
@implements(tnf.mse_loss)
def mse_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Variable:
    """Squared error (input - target)^2, reduced; shapes broadcast (with torch's warning)."""
    reduction = _reduction_of(size_average, reduce, reduction)
    x, y = _broadcast(input, target)
    if weight is None:
        return ops.mse_loss(x, y, reduction=reduction)
    return _weighted(ag.mse(x, y, "none"), weight, x, reduction)


@implements(tnf.l1_loss)
def l1_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Variable:
    """Absolute error |input - target|, reduced (the derivative at 0 is 0, as in torch)."""
    reduction = _reduction_of(size_average, reduce, reduction)
    x, y = _broadcast(input, target)
    loss = ag.abs(x - y)
    return _reduce(loss, reduction) if weight is None else _weighted(loss, weight, x, reduction)


@implements(tnf.smooth_l1_loss)
def smooth_l1_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Variable:
    """Quadratic below |input - target| = beta, linear above (l1_loss for beta = 0)."""
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    reduction = _reduction_of(size_average, reduce, reduction)
    x, y = _broadcast(input, target)
    return ops.smooth_l1_loss(x, y, reduction=reduction, beta=beta)


@implements(tnf.huber_loss)
def huber_loss(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Any = None,
) -> Variable:
    """delta * smooth_l1_loss with beta = delta: quadratic below |input - target| = delta, then linear."""
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    reduction = _reduction_of(None, None, reduction)
    x, y = _broadcast(input, target)
    if weight is None:
        return ops.huber_loss(x, y, reduction=reduction, delta=delta)
    return _weighted(ops.huber_loss(x, y, reduction="none", delta=delta), weight, x, reduction, False)


@implements(tnf.gaussian_nll_loss)
def gaussian_nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Variable:
    """(log var + (input - target)^2 / var) / 2, var clamped below at eps (the gradient passing through
    the clamp, as torch's no_grad clamp lets it); var may be one dim short or broadcast in one dim."""
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = torch.full(input.shape, float(var), dtype=input.dtype, device=input.device)
    elif bool((unwrap(var) < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = ag.unsqueeze(var, -1)
        elif not (input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    raw = unwrap(var)
    var = var + (raw.clamp(min=eps) - raw)
    d = input - target
    loss = (ag.log(var) + d * d / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@implements(tnf.poisson_nll_loss)
def poisson_nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """exp(input) - target * input (log_input), else input - target * log(input + eps); `full` adds
    Stirling's approximation of log(target!) where target > 1."""
    reduction = _reduction_of(size_average, reduce, reduction)
    loss = ag.exp(input) - target * input if log_input else input - target * ag.log(input + eps)
    if full:
        above = unwrap(target) > 1
        t = ops.where(above, target, 1.0)
        stirling = t * ag.log(t) - t + 0.5 * ag.log(2 * math.pi * t)
        loss = loss + ops.where(above, stirling, 0.0)
    return _reduce(loss, reduction)


# --- classification ------------------------------------------------------------------------------
def _check_weight(weight: Any, classes: int, prefix: str = "") -> None:
    if weight is not None and (weight.ndim != 1 or weight.numel() != classes):
        raise RuntimeError(
            f"{prefix}weight tensor should be defined either for all {classes} classes or no classes but got "
            f"weight tensor of shape: {list(weight.shape)}"
        )


def _constant(kernel: str, name: str, value: Any) -> Any:
    """`value` as a plain tensor (or None): an argument torch's `kernel` has no derivative for, refused as
    torch refuses it when it requires grad."""
    if isinstance(value, Variable) and value.requires_grad and ag.is_grad_enabled() and torch.is_grad_enabled():
        raise RuntimeError(
            f"The function '{kernel}' is not differentiable with respect to argument '{name}'. "
            "This input cannot have requires_grad True."
        )
    return None if value is None else unwrap(value)


def _nll_loss(logp: Any, target: Any, weight: Any, ignore_index: int, reduction: str) -> Any:
    """The nll_loss primitive (torch's kernels, checks and messages); a weight that requires grad is refused
    as torch refuses it, since those kernels have no derivative for it."""
    _constant("nll_loss_forward", "weight", weight)
    return ops.nll_loss(logp, unwrap(target), weight, reduction=reduction, ignore_index=ignore_index)


@implements(tnf.nll_loss)
def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """-input[target] (log-probabilities (C), (N, C) or (N, C, d1, ...), class indices (), (N) or (N, d1,
    ...)) times weight[target]; targets equal to ignore_index count for nothing; 'mean' divides by the
    summed weights of the counted targets."""
    reduction = _reduction_of(size_average, reduce, reduction)
    return _nll_loss(input, target, weight, ignore_index, reduction)


@implements(tnf.cross_entropy)
def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Variable:
    """nll_loss of log_softmax over the class dim (1, or 0 for a (C,) input), for class-index targets; a
    floating target of input's shape holds class probabilities. label_smoothing mixes the target with
    the uniform distribution, as torch."""
    reduction = _reduction_of(size_average, reduce, reduction)
    class_dim = 0 if input.ndim == 1 else 1
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if tuple(input.shape) == tuple(target.shape):
        return _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing)
    logp = ag.log_softmax(input, class_dim)
    loss = _nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing <= 0:
        return loss
    return loss * (1 - label_smoothing) + _smoothing(logp, unwrap(target), weight, ignore_index, reduction) * (
        label_smoothing / input.shape[class_dim]
    )


def _smoothing(logp: Any, target: torch.Tensor, weight: Any, ignore_index: int, reduction: str) -> Any:
    """label smoothing's part of cross_entropy before its factor: -sum over classes of logp (times weight),
    0 at ignored targets, reduced; 'mean' divides by the summed weights of the counted targets (torch's
    steps, in torch's order, for its bits)."""
    class_dim = 0 if logp.ndim == 1 else 1
    if weight is not None:
        shape = [1] * logp.ndim
        shape[class_dim] = weight.shape[0]
        logp = logp * ag.reshape(weight, shape)
    ignored = target == ignore_index
    smooth = ops.where(ignored, 0.0, -ag.sum(logp, class_dim))
    if reduction != "mean":
        return _reduce(smooth, reduction)
    counted = ~ignored
    total = counted.sum() if weight is None else unwrap(weight).gather(0, target[counted].flatten()).sum()
    return ag.sum(smooth) / total


def _cross_entropy_probabilities(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Any:
    """-sum over classes of target * log_softmax(input) (times weight); 'mean' divides by the number of
    samples (every element but the class dim)."""
    if not target.dtype.is_floating_point:
        raise RuntimeError(
            f"Expected floating point type for target with class probabilities, got {_scalar_name(target.dtype)}"
        )
    if ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim] if input.ndim else 1
    _check_weight(weight, classes, "cross_entropy: ")
    logp = ag.log_softmax(input, class_dim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = logp * target
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = classes
        terms = terms * ag.reshape(weight, shape)
    if reduction == "none":
        return -ag.sum(terms, class_dim)
    total = -ag.sum(terms)
    return total if reduction == "sum" else total / (input.numel() // classes if input.numel() else math.nan)


@implements(tnf.binary_cross_entropy)
def binary_cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """-(target log(input) + (1 - target) log(1 - input)) times weight, each log clamped at -100;
    input and target the same shape with values in [0, 1]."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) is "
            "deprecated. Please ensure they have the same size."
        )
    weight = _constant("binary_cross_entropy", "weight", weight)
    if weight is not None:
        weight = weight.expand(torch.broadcast_shapes(tuple(target.shape), tuple(weight.shape)))
    return ops.binary_cross_entropy(input, target, weight, reduction=reduction)


@implements(tnf.binary_cross_entropy_with_logits)
def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Variable:
    """binary_cross_entropy of sigmoid(input), computed stably from the logits: (1 - target) input -
    (1 + (pos_weight - 1) target) log sigmoid(input), times weight."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    kernel = "binary_cross_entropy_with_logits"
    weight, pos_weight = _constant(kernel, "weight", weight), _constant(kernel, "pos_weight", pos_weight)
    return ops.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction=reduction)


@implements(tnf.kl_div)
def kl_div(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Variable:
    """target (log target - input) with input log-probabilities (and target too with `log_target`);
    'batchmean' divides the sum by the batch size, 'mean' by the number of elements (torch's warning)."""
    if size_average is not None or reduce is not None:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            stacklevel=3,
        )
    elif reduction != "batchmean":
        reduction = _reduction_of(None, None, reduction)
    if log_target:
        loss = ag.exp(target) * (target - input)
    else:
        positive = unwrap(target) != 0  # xlogy: 0 log 0 = 0
        loss = target * ag.log(ops.where(positive, target, 1.0)) - target * input
    if reduction == "batchmean":
        total = ag.sum(loss)
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)


@implements(tnf.soft_margin_loss)
def soft_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """log(1 + exp(-target * input)) for targets of 1 or -1; the target is a constant in input's dtype (as
    torch's kernel, which refuses a target that requires grad)."""
    reduction = _reduction_of(size_average, reduce, reduction)
    target = _constant("soft_margin_loss", "target", target)
    return _reduce(ag.softplus(-target.to(input.dtype) * input), reduction)


# --- ranking and embeddings ----------------------------------------------------------------------
def _hinge(x: Any) -> Any:
    """max(0, x) with torch's clamp_min derivative (1 at 0)."""
    return ag.clamp(x, min=0.0)


@implements(tnf.margin_ranking_loss)
def margin_ranking_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """max(0, -target (input1 - input2) + margin)."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: "
            f"{input1.shape}, input2: {input2.shape}, target: {target.shape} "
        )
    return _reduce(_hinge(-target * (input1 - input2) + margin), reduction)


@implements(tnf.hinge_embedding_loss)
def hinge_embedding_loss(
    input: Any,  # noqa: A002
    target: Any,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """input where target is not -1, plus max(0, margin - input) where target is not 1 (targets are 1 or -1)."""
    reduction = _reduction_of(size_average, reduce, reduction)
    raw = unwrap(target)
    return _reduce(ops.where(raw != 1, _hinge(margin - input), 0.0) + ops.where(raw != -1, input, 0.0), reduction)


def _cosine(x1: Any, x2: Any, dim: int, eps: float) -> Any:
    """x1 . x2 / sqrt((|x1|^2 + eps) (|x2|^2 + eps)) over `dim`, as cosine_embedding_loss computes it."""
    prod = ag.sum(x1 * x2, dim)
    mag = (ag.sum(x1 * x1, dim) + eps) * (ag.sum(x2 * x2, dim) + eps)
    return prod / ag.sqrt(mag)


@implements(tnf.cosine_embedding_loss)
def cosine_embedding_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """1 - cos(input1, input2) where target is 1, max(0, cos - margin) where target is -1."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.ndim != target.ndim + 1 or input2.ndim != target.ndim + 1:
        raise RuntimeError(
            f"{target.ndim}D target tensor expects {target.ndim + 1}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    cos = _cosine(input1, input2, target.ndim, 1e-12)
    raw = unwrap(target)
    return _reduce(ops.where(raw == 1, 1 - cos, 0.0) + ops.where(raw == -1, _hinge(cos - margin), 0.0), reduction)


@implements(tnf.triplet_margin_loss)
def triplet_margin_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """max(0, d(anchor, positive) - d(anchor, negative) + margin) with the p-norm distance; `swap` takes
    the smaller of d(anchor, negative) and d(positive, negative)."""
    reduction = _reduction_of(size_average, reduce, reduction)
    distance = lambda x1, x2: pairwise_distance(x1, x2, p, eps)  # noqa: E731
    return _triplet(anchor, positive, negative, distance, margin, swap, reduction)


@implements(tnf.triplet_margin_with_distance_loss)
def triplet_margin_with_distance_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    distance_function: Callable[[Any, Any], Any] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Variable:
    """triplet_margin_loss with any distance (pairwise_distance by default)."""
    reduction = _reduction_of(None, None, reduction)
    return _triplet(anchor, positive, negative, distance_function or pairwise_distance, margin, swap, reduction)


def _triplet(
    anchor: Any,
    positive: Any,
    negative: Any,
    distance: Callable[[Any, Any], Any],
    margin: float,
    swap: bool,
    reduction: str,
) -> Any:
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(dims)) != 1:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D inputs"
        )
    d_pos, d_neg = distance(anchor, positive), distance(anchor, negative)
    if swap:
        d_neg = ag.minimum(d_neg, distance(positive, negative))
    return _reduce(_hinge(d_pos - d_neg + margin), reduction)


# --- multi-class and multi-label margins ---------------------------------------------------------
@implements(tnf.multilabel_soft_margin_loss)
def multilabel_soft_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """-(target log sigmoid(input) + (1 - target) log sigmoid(-input)) times weight, averaged over the
    classes (the last dim)."""
    if size_average is not None or reduce is not None:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    loss = target * ag.softplus(-input) + (1 - target) * ag.softplus(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(ag.sum(loss, input.ndim - 1) / input.shape[-1], reduction)


def _class_targets(name: str, input: Any, target: Any) -> tuple[Any, torch.Tensor]:  # noqa: A002
    """input as (N, C) and the int64 target, for the margin losses on a (C,) or (N, C) input."""
    if input.ndim not in (1, 2) or input.numel() == 0:
        raise RuntimeError(
            f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {list(input.shape)}"
        )
    target = unwrap(target)
    if target.dtype != torch.int64:
        raise RuntimeError(f"{name}: expected target dtype to be Long, but got {_scalar_name(target.dtype)}")
    return (ag.unsqueeze(input, 0) if input.ndim == 1 else input), target


@implements(tnf.multi_margin_loss)
def multi_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """For each sample, the sum over classes j other than its target y of max(0, margin - x[y] + x[j])^p
    (times weight[y]), divided by the number of classes."""
    reduction = _reduction_of(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, t = _class_targets("multi_margin_loss", input, target)
    n, classes = x.shape
    if t.numel() != n or t.ndim > 1:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch "
            f"size). Expected target size [{n}], but got {list(t.shape)}. Input has shape {list(input.shape)}."
        )
    if weight is not None and (weight.ndim != 1 or weight.numel() != classes):
        raise RuntimeError(f"inconsistent weight size, expected {classes} but got {list(weight.shape)}")
    t = t.reshape(n, 1)
    if bool(((t < 0) | (t >= classes)).any()):
        raise RuntimeError("target out of range")
    terms = _hinge(margin - ag.gather(x, 1, t) + x)
    if p == 2:
        terms = terms * terms
    if weight is not None:
        terms = terms * ag.gather(weight, 0, t.reshape(-1)).reshape(n, 1)
    others = torch.ones(x.shape, dtype=torch.bool, device=x.device).scatter(1, t, False)
    loss = ag.sum(ops.where(others, terms, 0.0), 1) / classes
    return _reduce(loss if input.ndim == 2 else ag.squeeze(loss, 0), reduction)


@implements(tnf.multilabel_margin_loss)
def multilabel_margin_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Variable:
    """For each sample, with targets y (its target row up to the first -1), the sum over targets j in y
    and classes k not in y of max(0, 1 - (x[j] - x[k])), divided by the number of classes."""
    reduction = _reduction_of(size_average, reduce, reduction)
    x, t = _class_targets("multilabel_margin_loss", input, target)
    classes = x.shape[1]
    if tuple(t.shape) != tuple(input.shape):
        raise RuntimeError(f"inconsistent target size: {list(t.shape)} for input of size: {list(input.shape)}")
    t = t.reshape(x.shape)
    listed = (t == -1).long().cumsum(1) == 0  # the targets before the first -1
    if bool((listed & ((t < 0) | (t >= classes))).any()):
        raise RuntimeError("argument #2 'target' is out of range")
    safe = torch.where(listed, t, 0)
    is_target = torch.zeros_like(t).scatter_add(1, safe, listed.long()) > 0
    margins = _hinge(1 - ag.unsqueeze(ag.gather(x, 1, safe), 2) + ag.unsqueeze(x, 1))  # (N, targets, classes)
    counted = listed.unsqueeze(2) & ~is_target.unsqueeze(1)
    loss = ag.sum(ops.where(counted, margins, 0.0), (1, 2)) / classes
    return _reduce(loss if input.ndim == 2 else ag.squeeze(loss, 0), reduction)
