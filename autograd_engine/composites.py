"""Composites: functions built from primitives only, so they need no derivative of their own.

Also the public, torch-style spelling of the primitives whose options are keywords in `ops`.
Every function accepts Variables and tensors (the arithmetic ones numbers too, as torch's do); the
stable formulations below keep values and gradients finite for large inputs (no inf * 0 in any
branch that is discarded).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import torch

from . import ops
from .ops import add, div, exp, log, matmul, maximum, mul, neg, sub, transpose
from .variable import unwrap

__all__ = [
    "abs",
    "add",
    "cat",
    "clamp",
    "div",
    "exp",
    "expand",
    "flatten",
    "fold",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mse",
    "mul",
    "neg",
    "pad",
    "permute",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "softplus",
    "sqrt",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "tanh",
    "threshold",
    "transpose",
    "unfold",
    "unsqueeze",
    "where",
]

Dims = int | Sequence[int] | None


# --- torch-style spellings of primitives --------------------------------------------------------
def sum(x: Any, dim: Dims = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Sum over `dim` (all dims when None)."""
    return ops.sum(x, dim=dim, keepdim=keepdim)


def max(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Max over `dim` (all when None); the gradient goes to the first maximal element."""
    return ops.max(x, dim=dim, keepdim=keepdim)


def pow(x: Any, exponent: Any) -> Any:  # noqa: A001
    """x ** exponent."""
    return ops.pow(x, exponent)


def reshape(x: Any, shape: Sequence[int]) -> Any:
    return ops.reshape(x, shape=tuple(shape))


def permute(x: Any, dims: Sequence[int]) -> Any:
    return ops.permute(x, dims=tuple(dims))


def expand(x: Any, shape: Sequence[int]) -> Any:
    return ops.expand(x, shape=tuple(shape))


def cat(xs: Sequence[Any], dim: int = 0) -> Any:
    """Concatenate along an existing dim."""
    if len(xs) == 0:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return ops.cat(*xs, dim=dim)


def pad(x: Any, pad: Sequence[int], value: float = 0.0) -> Any:  # noqa: A002
    """Constant padding in torch.nn.functional.pad order (last dim first); negative amounts crop."""
    return ops.pad(x, widths=tuple(pad), value=value)


def unfold(x: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:
    """torch.nn.functional.unfold (im2col) on (N, C, H, W)."""
    return ops.unfold(x, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)


def fold(x: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:
    """torch.nn.functional.fold (col2im), the adjoint of unfold."""
    return ops.fold(
        x, output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride
    )


def threshold(x: Any, threshold: float, value: float) -> Any:
    """x where x > threshold, else `value` (torch.nn.functional.threshold); NaN passes through."""
    if value > threshold:  # the primitive's output would no longer tell where x > threshold
        return ops.where(unwrap(x) <= threshold, value, x)
    return ops.threshold(x, threshold=threshold, value=value)


def where(cond: Any, x: Any, y: Any) -> Any:
    """x where `cond` (a boolean tensor, never differentiated) holds, else y."""
    return ops.where(unwrap(cond), x, y)


# --- shape helpers -------------------------------------------------------------------------------
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    shape = tuple(x.shape)
    if not shape:
        return reshape(x, (1,))
    start, end = start_dim % len(shape), end_dim % len(shape)
    return reshape(x, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])


def unsqueeze(x: Any, dim: int) -> Any:
    shape = list(x.shape)
    shape.insert(dim % (len(shape) + 1), 1)
    return reshape(x, shape)


def squeeze(x: Any, dim: int | None = None) -> Any:
    shape = tuple(x.shape)
    if dim is None:
        return reshape(x, tuple(n for n in shape if n != 1))
    d = dim % builtins.max(len(shape), 1)
    return reshape(x, shape[:d] + shape[d + 1 :]) if shape and shape[d] == 1 else x


def stack(xs: Sequence[Any], dim: int = 0) -> Any:
    """Join along a new dim."""
    if len(xs) == 0:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return cat([unsqueeze(x, dim % (xs[0].ndim + 1)) for x in xs], dim % (xs[0].ndim + 1))


# --- elementwise composites ----------------------------------------------------------------------
def abs(x: Any) -> Any:  # noqa: A001
    """|x|; the derivative at 0 is 0, as in torch."""
    return mul(x, torch.sign(unwrap(x)))


def sqrt(x: Any) -> Any:
    return ops.pow(x, 0.5)


def clamp(x: Any, min: float | None = None, max: float | None = None) -> Any:  # noqa: A002
    """Limit to [min, max]; the gradient passes where min <= x <= max, as in torch."""
    raw = unwrap(x)
    if min is not None:
        x = ops.where(raw < min, min, x)
    if max is not None:
        x = ops.where(raw > max, max, x)
    return x


def relu(x: Any) -> Any:
    """max(x, 0); the derivative at 0 is 0 and NaN stays NaN (with gradient 1), as in torch."""
    return threshold(x, 0.0, 0.0)


def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x), evaluated as (1 or e) / (1 + e) with e = e^-|x| in [0, 1], so nothing overflows.

    The branch is picked per element by multiplying with constants (`flip` = -1 where x's sign bit is
    clear, else 1; `positive` = 1 there, else 0): exact, since e is finite, and several times faster
    than `where` on the CPU. The graph keeps e, 1 + e, the result and two constants for backward."""
    raw = unwrap(x)
    flip = torch.copysign(raw.new_ones(()), raw).neg_()
    positive = torch.rsub(flip, 0.5, alpha=0.5)
    e = exp(mul(x, flip))
    return div(add(mul(e, torch.rsub(positive, 1.0)), positive), add(1.0, e))


def tanh(x: Any) -> Any:
    """2 sigmoid(2x) - 1."""
    return sub(mul(2.0, sigmoid(mul(2.0, x))), 1.0)


def softplus(x: Any) -> Any:
    """log(1 + e^x) = relu(x) + log(1 + e^-|x|), both pieces taking the branch of x > 0 (slope 1/2 at 0)."""
    raw = unwrap(x)
    flip = torch.rsub((raw > 0).to(raw.dtype), 1.0, alpha=2.0)  # -1 where x > 0, else 1
    return add(relu(x), log(add(1.0, exp(mul(x, flip)))))


# --- reductions ----------------------------------------------------------------------------------
def mean(x: Any, dim: Dims = None, keepdim: bool = False) -> Any:
    count = math.prod(x.shape[d] for d in ops.normalize_dims(dim, x.ndim))
    return div(sum(x, dim, keepdim), count)


def _stable_shift(x: Any, dim: Dims) -> torch.Tensor:
    """Per-slice max as a constant (finite), for shift-invariant functions: exact gradients, no overflow."""
    m = torch.amax(unwrap(x), dim=ops.normalize_dims(dim, x.ndim), keepdim=True)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def logsumexp(x: Any, dim: Dims = None, keepdim: bool = False) -> Any:
    """log(sum(e^x)) over `dim`, computed from x - max."""
    m = _stable_shift(x, dim)
    out = add(log(sum(exp(sub(x, m)), dim, keepdim=True)), m)
    if keepdim:
        return out
    dims = ops.normalize_dims(dim, x.ndim)
    return reshape(out, tuple(n for i, n in enumerate(x.shape) if i not in dims))


def softmax(x: Any, dim: int) -> Any:
    e = exp(sub(x, _stable_shift(x, dim)))
    return div(e, sum(e, dim, keepdim=True))


def log_softmax(x: Any, dim: int) -> Any:
    shifted = sub(x, _stable_shift(x, dim))
    return sub(shifted, log(sum(exp(shifted), dim, keepdim=True)))


def mse(input: Any, target: Any, reduction: str = "mean") -> Any:  # noqa: A002
    """Mean (or summed, or elementwise with 'none') squared error; shapes must match."""
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} differ")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    d = sub(input, target)
    sq = mul(d, d)
    return sq if reduction == "none" else mean(sq) if reduction == "mean" else sum(sq)
