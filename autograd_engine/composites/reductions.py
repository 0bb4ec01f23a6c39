"""Reductions with torch's names, signatures and return types: sums and means, products, variances,
norms, cumulative ops, extremes and their indices, sorting and selection, softmax.

The ones that pick elements (max(dim), sort, topk, kthvalue, median(dim), mode, cummax...) ask torch for
the indices and gather the values there, so the gradient goes to the returned indices, as in torch.
Results that are never differentiated (argmax, argsort, any, all, count_nonzero) are torch's own, on
the values: plain tensors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from .. import ops
from ..dispatch import implements
from ..ops import maximum, minimum, normalize_dim, normalize_dims
from ..variable import Variable, unwrap

__all__ = [
    "MinMax",
    "ValuesIndices",
    "all",
    "amax",
    "amin",
    "aminmax",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "bucketize",
    "corrcoef",
    "count_nonzero",
    "cov",
    "cummax",
    "cummin",
    "cumprod",
    "cumsum",
    "cumulative_trapezoid",
    "diff",
    "histc",
    "dist",
    "kthvalue",
    "log_softmax",
    "logcumsumexp",
    "logsumexp",
    "max",
    "mean",
    "median",
    "min",
    "mode",
    "mse",
    "msort",
    "nanmean",
    "nanmedian",
    "nanquantile",
    "nansum",
    "norm",
    "prod",
    "quantile",
    "renorm",
    "searchsorted",
    "softmax",
    "sort",
    "std",
    "std_mean",
    "sum",
    "topk",
    "trapezoid",
    "trapz",
    "var",
    "var_mean",
    "vector_norm",
]

Dims = int | Sequence[int] | None


def _cast(x: Any, dtype: torch.dtype | None) -> Any:
    """torch's `dtype=`: the input is cast before the op (differentiably), and a sum or product of
    integers, which torch makes int64, after it too (the same bits, wrapped alike)."""
    return x if dtype is None or x.dtype == dtype else ops.to(x, dtype=dtype, device=x.device)


def _meta_of(x: Any) -> torch.Tensor:
    """A meta tensor of x's shape and dtype: torch's checks, on no data."""
    return torch.empty_like(unwrap(x), device="meta")


def _reduced_shape(shape: Sequence[int], dims: Sequence[int]) -> tuple[int, ...]:
    return tuple(n for i, n in enumerate(shape) if i not in dims)


# --- sums and means -------------------------------------------------------------------------------
@implements(torch.sum, torch.Tensor.sum)
def sum(input: Any, dim: Dims = None, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A001, A002
    """Sum over `dim` (an int or a sequence; every dim when None or empty)."""
    if dtype is not None:
        return _cast(ops.sum(_cast(input, dtype), dim=dim, keepdim=keepdim), dtype)
    return ops.sum(input, dim=dim, keepdim=keepdim)


@implements(torch.mean, torch.Tensor.mean)
def mean(input: Any, dim: Dims = None, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """Mean over `dim` (every dim when None or empty); integer inputs need `dtype=`, as in torch."""
    x = _cast(input, dtype)
    if not x.dtype.is_floating_point:
        torch.mean(torch.empty(0, dtype=x.dtype))  # torch's error, in its words
    count = math.prod(x.shape[d] for d in normalize_dims(dim, x.ndim))
    return ops.div(ops.sum(x, dim=dim, keepdim=keepdim), count)


@implements(torch.nansum, torch.Tensor.nansum)
def nansum(input: Any, dim: Dims = None, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """Sum over `dim` with NaNs counted as zero (they get no gradient)."""
    x = _cast(input, dtype)
    if x.dtype.is_floating_point:
        x = ops.where(unwrap(x).isnan(), 0.0, x)
    return _cast(ops.sum(x, dim=dim, keepdim=keepdim), dtype)


@implements(torch.nanmean, torch.Tensor.nanmean)
def nanmean(input: Any, dim: Dims = None, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """Mean over `dim` of the elements that are not NaN."""
    x = _cast(input, dtype)
    count = (~unwrap(x).isnan()).sum(normalize_dims(dim, x.ndim), keepdim=keepdim)
    return ops.div(nansum(x, dim, keepdim), count)


# --- products -------------------------------------------------------------------------------------
@implements(torch.prod, torch.Tensor.prod)
def prod(input: Any, dim: int | None = None, keepdim: bool = False, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """Product of every element, or over the int `dim`; the gradient is exact where there are zeros
    (torch's: at a slice's only zero, the product of the others; elsewhere 0), to every order."""
    x = _cast(input, dtype)
    if dim is None:
        if keepdim:
            raise TypeError("prod(): keepdim needs a dim (prod(input, dim, keepdim=True))")
        return _cast(ops.prod(x), dtype)
    if not isinstance(dim, int):
        raise TypeError(f"prod(): dim must be an int, got {dim!r}")
    return _cast(ops.prod(x, dim=normalize_dim(dim, x.ndim), keepdim=keepdim), dtype)


# --- variance and standard deviation --------------------------------------------------------------
def _spread_options(
    name: str, x: Any, dim: Any, unbiased: bool | None, keepdim: bool, correction: float | None
) -> dict[str, Any]:
    """The primitives' options from torch's overloads: var(input, unbiased), var(input, dim, unbiased,
    keepdim) and var(input, dim, *, correction, keepdim); dim a tuple, or None for every element."""
    if isinstance(dim, bool):  # var(input, unbiased)
        if unbiased is not None:
            raise TypeError(f"{name}(): unbiased given twice")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}(): give correction= or unbiased=, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    if not x.dtype.is_floating_point:
        getattr(torch, name)(torch.empty(2, dtype=x.dtype))  # torch's error, in its words
    dims = normalize_dims(dim, x.ndim)
    return {"dim": dims if dim is not None and dims else None, "correction": correction, "keepdim": keepdim}


def _statistic(name: str, doc: str, *methods: Any) -> Callable[..., Any]:
    """torch.`name` (var, std, var_mean, std_mean) with torch's overloads, on the primitive of that name
    (var_mean and std_mean split its stacked pair)."""
    prim = getattr(ops, name)
    pair = name.endswith("_mean")

    def fn(
        input: Any,  # noqa: A002
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Any:
        out = prim(input, **_spread_options(name, input, dim, unbiased, keepdim, correction))
        return (ops.getitem(out, index=0), ops.getitem(out, index=1)) if pair else out

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return implements(getattr(torch, name), *methods)(fn)


var = _statistic(
    "var",
    "Variance over `dim` (torch's kernel), divided by N - correction (1 by default; unbiased=False is 0).",
    torch.Tensor.var,
)
std = _statistic(
    "std",
    "Standard deviation over `dim` (as `var`); the gradient is 0 where it is 0, as in torch.",
    torch.Tensor.std,
)
var_mean = _statistic("var_mean", "(var, mean) over `dim`, from torch's one pass (its bits).")
std_mean = _statistic("std_mean", "(std, mean) over `dim`, from torch's one pass (its bits).")


# --- norms ----------------------------------------------------------------------------------------
@implements(torch.linalg.vector_norm)
def vector_norm(
    x: Any,
    ord: float = 2,  # noqa: A002
    dim: Dims = None,
    keepdim: bool = False,
    *,
    dtype: torch.dtype | None = None,
) -> Any:
    """torch.linalg.vector_norm; at 0 the gradient is torch's subgradient 0."""
    x = _cast(x, dtype)
    return ops.vector_norm(x, ord=ord, dim=None if dim is None else normalize_dims(dim, x.ndim), keepdim=keepdim)


@implements(torch.norm)
def norm(
    input: Any,  # noqa: A002
    p: Any = "fro",
    dim: Dims = None,
    keepdim: bool = False,
    out: None = None,
    dtype: torch.dtype | None = None,
) -> Any:
    """torch.norm: a vector norm over `dim` (every dim when None; 'fro' is 2), or for 'nuc' (and 'fro'
    over more than two dims) torch.linalg.matrix_norm, as torch does it."""
    dims = [dim] if isinstance(dim, int) else dim
    if isinstance(p, str):
        if p == "fro" and (dims is None or len(dims) <= 2):
            return vector_norm(input, 2, dims, keepdim, dtype=dtype)
        if p not in ("fro", "nuc"):
            raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
        dims = list(range(input.ndim)) if dims is None else dims
        return torch.linalg.matrix_norm(input, p, dims, keepdim, dtype=dtype)  # the linalg family's rule
    return vector_norm(input, 2.0 if p is None else p, dims, keepdim, dtype=dtype)


@implements(torch.Tensor.norm)
def _tensor_norm(
    self: Any, p: Any = "fro", dim: Dims = None, keepdim: bool = False, dtype: torch.dtype | None = None
) -> Any:
    return norm(self, p, dim, keepdim, dtype=dtype)


@implements(torch.renorm, torch.Tensor.renorm)
def renorm(input: Any, p: float, dim: int, maxnorm: float) -> Any:  # noqa: A002
    """Each slice along `dim` whose p-norm exceeds `maxnorm` scaled to norm maxnorm, as torch's kernel
    computes it (input * maxnorm / (norm + 1e-7), the norm in float32 for half types); differentiated
    through the norm, as torch's renorm_backward."""
    torch.renorm(_meta_of(input), p, dim, maxnorm)  # torch's checks: p > 0, maxnorm >= 0, the dim
    d = normalize_dim(dim, input.ndim)
    low = input.dtype in (torch.float16, torch.bfloat16)
    norm = vector_norm(input, p, [i for i in range(input.ndim) if i != d], True, dtype=torch.float32 if low else None)
    scale = ops.where(unwrap(norm) > maxnorm, ops.div(maxnorm, ops.add(norm, 1e-7)), 1.0)
    return ops.mul(input, _cast(scale, input.dtype) if low else scale)


@implements(torch.dist, torch.Tensor.dist)
def dist(input: Any, other: Any, p: float = 2) -> Any:  # noqa: A002
    """The p-norm of input - other (broadcast)."""
    return vector_norm(ops.sub(input, other), p)


# --- cumulative ops -------------------------------------------------------------------------------
@implements(torch.cumsum, torch.Tensor.cumsum)
def cumsum(input: Any, dim: int, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """Cumulative sum along `dim`."""
    return _cast(ops.cumsum(_cast(input, dtype), dim=normalize_dim(dim, input.ndim)), dtype)


@implements(torch.cumprod, torch.Tensor.cumprod)
def cumprod(input: Any, dim: int, *, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """Cumulative product along `dim`; exact gradients where there are zeros, as torch's."""
    return _cast(ops.cumprod(_cast(input, dtype), dim=normalize_dim(dim, input.ndim)), dtype)


@implements(torch.logcumsumexp, torch.Tensor.logcumsumexp)
def logcumsumexp(input: Any, dim: int) -> Any:  # noqa: A002
    """log(cumsum(e^input)) along `dim`, without overflow."""
    return ops.logcumsumexp(input, dim=normalize_dim(dim, input.ndim))


# --- differences, covariance, integration -------------------------------------------------------
def _slice(x: Any, dim: int, start: int | None, stop: int | None) -> Any:
    """x[start:stop] along the (non-negative) `dim`."""
    return x[(slice(None),) * dim + (slice(start, stop),)]


@implements(torch.diff, torch.Tensor.diff)
def diff(input: Any, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Any:  # noqa: A002
    """The n-th forward difference along `dim`, after `prepend` and `append` are joined to input along it
    (booleans: logical xor, on the values)."""
    if input.ndim == 0:
        torch.diff(unwrap(input))  # torch's error, in its words
    d = normalize_dim(dim, input.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    x = torch.cat(parts, d) if len(parts) > 1 else input
    if x.dtype == torch.bool:
        return torch.diff(unwrap(x), n, d)
    if n < 0:
        torch.diff(unwrap(x), n, d)  # torch's error
    for _ in range(n):
        if x.shape[d] == 0:
            break
        x = ops.sub(_slice(x, d, 1, None), _slice(x, d, None, -1))
    return x


@implements(torch.cov, torch.Tensor.cov)
def cov(input: Any, *, correction: int = 1, fweights: Any = None, aweights: Any = None) -> Any:  # noqa: A002
    """The covariance matrix of the variables in input's rows (observations in its columns), with
    frequency and observation weights, computed as torch does (a 1-d input is one variable)."""
    raw = unwrap(input)
    if raw.ndim > 2 or (fweights is not None and unwrap(fweights).is_floating_point()) or raw.is_complex():
        torch.cov(raw, correction=correction, fweights=unwrap(fweights), aweights=unwrap(aweights))  # torch's error
    x = ops.reshape(input, shape=(1, -1)) if raw.ndim < 2 else input
    observations = x.shape[1]
    w: Any = None
    for weights in (fweights, aweights):
        if weights is None:
            continue
        values = unwrap(weights)
        if values.ndim > 1 or values.numel() != observations or bool((values < 0).any()):
            torch.cov(raw, correction=correction, fweights=unwrap(fweights), aweights=unwrap(aweights))
        w = weights if w is None else ops.mul(w, weights)
    if w is None:
        w_sum: Any = observations
        avg = ops.div(ops.sum(x, dim=1), observations)
    else:
        w_sum = ops.sum(w)
        if bool(unwrap(w_sum) == 0):
            raise RuntimeError("cov(): weights sum to zero, can't be normalized")
        avg = ops.div(ops.sum(ops.mul(x, w), dim=1), w_sum)
    if w is not None and aweights is not None and correction != 0:
        norm_factor = ops.sub(w_sum, ops.div(ops.mul(ops.sum(ops.mul(w, aweights)), correction), w_sum))
    else:
        norm_factor = w_sum - correction
    if bool(unwrap(norm_factor) <= 0):
        warnings.warn(
            "cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of observations.",
            UserWarning,
            stacklevel=2,
        )
        norm_factor = 0 if isinstance(norm_factor, (int, float)) else ops.mul(norm_factor, 0)
    centred = ops.sub(x, ops.reshape(avg, shape=(-1, 1)))
    other = centred if w is None else ops.mul(centred, w)
    c = ops.div(ops.matmul(centred, ops.transpose(other, dim0=0, dim1=1)), norm_factor)
    return torch.squeeze(c)


@implements(torch.corrcoef, torch.Tensor.corrcoef)
def corrcoef(input: Any) -> Any:  # noqa: A002
    """Pearson's correlation coefficients of the variables in input's rows: cov over the outer product of
    the standard deviations, clipped to [-1, 1], as torch computes it."""
    c = cov(input)
    if c.ndim == 0:
        return ops.div(c, c)
    stddev = ops.pow(torch.diagonal(c), 0.5)
    c = ops.div(c, ops.reshape(stddev, shape=(-1, 1)))
    c = ops.div(c, ops.reshape(stddev, shape=(1, -1)))
    return ops.clamp(c, -1, 1)


def _spacing(name: str, y: Any, x: Any, d: int) -> Any:
    """x's differences along `d`, x viewed against y as torch does (a 1-d x lies along d, a shorter x is
    padded with leading 1s)."""
    if y.dtype == torch.bool or x.dtype == torch.bool:
        raise RuntimeError(f"{name}: received a bool input for `x` or `y`, but bool is not supported")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        x = ops.reshape(x, shape=tuple(x.shape[0] if i == d else 1 for i in range(y.ndim)))
    elif x.ndim < y.ndim:
        x = ops.reshape(x, shape=(1,) * (y.ndim - x.ndim) + tuple(x.shape))
    return ops.sub(_slice(x, d, 1, None), _slice(x, d, None, -1))


def _check_dx(name: str, y: Any, dx: Any) -> float:
    if y.dtype == torch.bool:
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported")
    if isinstance(dx, (bool, complex)):
        raise RuntimeError(f"{name}: Currently, we only support dx as a real number.")
    return float(dx)


def _trapezoid(name: str, y: Any, x: Any, dx: Any, dim: int) -> Any:
    if x is not None and dx is not None:
        raise TypeError(f"{name}(): give x or dx, not both")
    d = normalize_dim(dim, y.ndim)
    if y.shape[d] == 0:
        return Variable(unwrap(y).new_zeros(_reduced_shape(y.shape, (d,))))  # torch's zeros: constants
    if x is not None:
        spacing = _spacing(name, y, x, d)
        pairs = ops.add(_slice(y, d, 1, None), _slice(y, d, None, -1))
        return ops.div(ops.sum(ops.mul(spacing, pairs), dim=d), 2.0)
    step = _check_dx(name, y, 1 if dx is None else dx)
    ends = ops.add(_slice(y, d, 0, 1), _slice(y, d, -1, None))
    inner = ops.sub(ops.sum(y, dim=d), ops.mul(ops.reshape(ends, shape=_reduced_shape(y.shape, (d,))), 0.5))
    return ops.mul(inner, step)


@implements(torch.trapezoid)
def trapezoid(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Any:
    """The trapezoidal rule along `dim`: with sample points `x` (1-d along dim, or broadcasting like y),
    else a constant spacing `dx` (1 by default), as torch computes it."""
    return _trapezoid("trapezoid", y, x, dx, dim)


@implements(torch.trapz)
def trapz(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Any:
    """torch.trapz: the same as trapezoid."""
    return _trapezoid("trapezoid", y, x, dx, dim)


@implements(torch.cumulative_trapezoid)
def cumulative_trapezoid(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Any:
    """The running trapezoidal rule along `dim` (one fewer element along it), with sample points `x` or a
    constant spacing `dx` (1 by default), as torch computes it."""
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid(): give x or dx, not both")
    d = normalize_dim(dim, y.ndim)
    half = ops.div(_spacing("cumulative_trapezoid", y, x, d), 2.0) if x is not None else None
    if half is None:
        half = _check_dx("cumulative_trapezoid", y, 1 if dx is None else dx) / 2.0
    pairs = ops.add(_slice(y, d, None, -1), _slice(y, d, 1, None))
    return ops.cumsum(ops.mul(half, pairs), dim=d)


# --- elements picked by index ---------------------------------------------------------------------
class ValuesIndices(NamedTuple):
    """What torch.return_types.max, min, sort, topk, kthvalue, median, mode, cummax... hold: the values
    (differentiable, the gradient going to the returned indices) and their indices (a plain int64
    tensor)."""

    values: Any
    indices: torch.Tensor


class MinMax(NamedTuple):
    """What torch.aminmax returns (as torch.return_types.aminmax)."""

    min: Any
    max: Any


def _at(x: Any, dim: int, indices: torch.Tensor, keepdim: bool = True) -> ValuesIndices:
    """x's values at `indices` along `dim` (indices that keep `dim`), with the indices; without
    `keepdim`, both lose `dim`."""
    values = ops.gather(x, dim=dim, index=indices)
    if keepdim or x.ndim == 0:
        return ValuesIndices(values, indices)
    indices = indices.squeeze(dim)
    return ValuesIndices(ops.reshape(values, shape=tuple(indices.shape)), indices)


def _picked(name: str, x: Any, dim: int, keepdim: bool, *args: Any) -> ValuesIndices:
    """torch.`name`(x, *args, dim, keepdim=True)'s indices, and the values gathered there."""
    d = normalize_dim(dim, x.ndim)
    indices = getattr(torch, name)(unwrap(x), *args, d, keepdim=True).indices
    return _at(x, d, indices, keepdim)


@implements(torch.max, torch.Tensor.max)
def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """torch.max: the largest element (the gradient shared evenly among ties); with an int `dim`, the
    (values, indices) along it (the gradient goes to the returned index); with a tensor, `maximum`."""
    return _extreme("max", input, dim, keepdim)


@implements(torch.min, torch.Tensor.min)
def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """torch.min: as `max`, for the smallest elements; with a tensor, `minimum`."""
    return _extreme("min", input, dim, keepdim)


def _extreme(name: str, x: Any, dim: Any, keepdim: bool) -> Any:
    if isinstance(dim, (torch.Tensor, Variable)):  # torch.max(input, other)
        if keepdim:
            raise TypeError(f"{name}(input, other): keepdim is an argument of {name}(input, dim) only")
        return (maximum if name == "max" else minimum)(x, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): keepdim needs a dim")
        return (ops.max if name == "max" else ops.min)(x)
    if not isinstance(dim, int):
        raise TypeError(f"{name}(): dim must be an int, got {dim!r} (a{name} reduces over several dims)")
    return _picked(name, x, dim, keepdim)


@implements(torch.amax, torch.Tensor.amax)
def amax(input: Any, dim: Dims = (), keepdim: bool = False) -> Any:  # noqa: A002
    """torch.amax: the max over `dim` (every dim when empty); each slice's gradient is shared evenly
    among its ties."""
    return ops.max(input, dim=normalize_dims(dim, input.ndim), keepdim=keepdim)


@implements(torch.amin, torch.Tensor.amin)
def amin(input: Any, dim: Dims = (), keepdim: bool = False) -> Any:  # noqa: A002
    """torch.amin: as `amax`, for the min."""
    return ops.min(input, dim=normalize_dims(dim, input.ndim), keepdim=keepdim)


@implements(torch.aminmax, torch.Tensor.aminmax)
def aminmax(input: Any, *, dim: int | None = None, keepdim: bool = False) -> MinMax:  # noqa: A002
    """(amin, amax) over the int `dim`, or every dim; ties share the gradient, as in torch."""
    if dim is not None and not isinstance(dim, int):
        raise TypeError(f"aminmax(): argument 'dim' must be int, not {type(dim).__name__}")
    dims = () if dim is None else dim
    return MinMax(amin(input, dims, keepdim), amax(input, dims, keepdim))


@implements(torch.sort, torch.Tensor.sort)
def sort(input: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> ValuesIndices:  # noqa: A002
    """(values, indices) sorted along `dim` (NaN counts as the largest, as in torch)."""
    indices = torch.sort(unwrap(input), dim=dim, descending=descending, stable=stable).indices
    return _at(input, normalize_dim(dim, input.ndim), indices)


@implements(torch.msort, torch.Tensor.msort)
def msort(input: Any) -> Any:  # noqa: A002
    """The values sorted along dim 0."""
    return sort(input, 0).values


@implements(torch.topk, torch.Tensor.topk)
def topk(input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:  # noqa: A002
    """(values, indices) of the k largest (smallest with largest=False) along `dim`."""
    indices = torch.topk(unwrap(input), k, dim, largest, sorted).indices
    return _at(input, normalize_dim(dim, input.ndim), indices)


@implements(torch.kthvalue, torch.Tensor.kthvalue)
def kthvalue(input: Any, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:  # noqa: A002
    """(values, indices) of the k-th smallest along `dim`."""
    return _picked("kthvalue", input, dim, keepdim, k)


@implements(torch.median, torch.Tensor.median)
def median(input: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    """torch.median: the lower median of every element (NaN if there is one; the gradient shared evenly
    among the elements equal to it), or (values, indices) along `dim`."""
    return _median("median", input, dim, keepdim)


@implements(torch.nanmedian, torch.Tensor.nanmedian)
def nanmedian(input: Any, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    """torch.nanmedian: as `median`, ignoring NaNs."""
    return _median("nanmedian", input, dim, keepdim)


def _median(name: str, x: Any, dim: int | None, keepdim: bool) -> Any:
    if dim is None:
        if keepdim:
            raise TypeError(f'{name}() missing 1 required positional arguments: "dim"')
        return ops.median(x, ignore_nan=name == "nanmedian")
    return _picked(name, x, dim, keepdim)


@implements(torch.mode, torch.Tensor.mode)
def mode(input: Any, dim: int = -1, keepdim: bool = False) -> ValuesIndices:  # noqa: A002
    """(values, indices) of the most frequent value along `dim` (the smallest among equally frequent)."""
    return _picked("mode", input, dim, keepdim)


def _cumulative_extreme(name: str, x: Any, dim: int) -> ValuesIndices:
    d = normalize_dim(dim, x.ndim)
    return _at(x, d, getattr(torch, name)(unwrap(x), d).indices)


@implements(torch.cummax, torch.Tensor.cummax)
def cummax(input: Any, dim: int) -> ValuesIndices:  # noqa: A002
    """(values, indices) of the running max along `dim` (the last of equal maxima, NaN propagating)."""
    return _cumulative_extreme("cummax", input, dim)


@implements(torch.cummin, torch.Tensor.cummin)
def cummin(input: Any, dim: int) -> ValuesIndices:  # noqa: A002
    """(values, indices) of the running min along `dim`."""
    return _cumulative_extreme("cummin", input, dim)


def _quantile_rule(fn: Callable[..., Any], doc: str) -> Callable[..., Any]:
    def rule(
        input: Any,  # noqa: A002
        q: Any,
        dim: int | None = None,
        keepdim: bool = False,
        *,
        interpolation: str = "linear",
    ) -> Any:
        return _quantile(fn, input, q, dim, keepdim, interpolation)

    rule.__name__ = rule.__qualname__ = fn.__name__
    rule.__doc__ = doc
    return implements(fn, getattr(torch.Tensor, fn.__name__))(rule)


quantile = _quantile_rule(
    torch.quantile,
    """The q-th quantiles along `dim` (of every element when None), interpolated between the sorted values
    as torch does (linear, lower, higher, midpoint, nearest); a slice with a NaN gives NaN. A 1-d `q`
    puts its dim first. The gradient goes to the (one or two) sorted elements each quantile reads.""",
)
nanquantile = _quantile_rule(torch.nanquantile, "As `quantile`, ignoring NaNs.")


def _quantile(fn: Callable[..., Any], x: Any, q: Any, dim: int | None, keepdim: bool, interpolation: str) -> Any:
    """torch's algorithm (aten quantile): sort, ranks q * (n - 1), gather below and above, lerp."""
    raw, q = unwrap(x), unwrap(q)
    scalar = not isinstance(q, torch.Tensor)
    fn(raw.to("meta"), q if scalar else q.to("meta"), dim, keepdim, interpolation=interpolation)  # torch's errors
    qs = torch.tensor([q], dtype=raw.dtype, device=raw.device) if scalar else q.reshape(-1)
    if not scalar and ((qs < 0) | (qs > 1)).any():
        raise RuntimeError(f"{fn.__name__}() q values must be in the range [0, 1]")
    if dim is None or not raw.ndim:
        rows, batch = ops.reshape(x, shape=(-1,)), (1,) * raw.ndim if keepdim else ()
    else:
        d = normalize_dim(dim, raw.ndim)
        rows = ops.permute(x, dims=tuple(i for i in range(raw.ndim) if i != d) + (d,))
        batch = tuple(1 if i == d else n for i, n in enumerate(raw.shape) if keepdim or i != d)
    ordered = sort(rows).values
    values = unwrap(ordered)
    if fn is torch.nanquantile:
        ranks = qs * ((~values.isnan()).sum(-1, keepdim=True) - 1)
        ranks = ranks.masked_fill(ranks < 0, 0)
    else:
        last = values.shape[-1] - 1
        ranks, nan = torch.broadcast_tensors(qs * last, values.isnan().any(-1, keepdim=True))
        ranks = ranks.masked_fill(nan, last)
    ranks = {"lower": ranks.floor, "higher": ranks.ceil, "nearest": ranks.round}.get(interpolation, ranks.clone)()
    below = ranks.long()
    out = ops.gather(ordered, dim=-1, index=below)
    if interpolation in ("linear", "midpoint"):
        weights = torch.full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - below
        out = _lerp(out, ops.gather(ordered, dim=-1, index=ranks.ceil().long()), weights)
    out = ops.reshape(out, shape=batch + (len(qs),))
    if scalar:
        return ops.reshape(out, shape=batch)
    return ops.permute(out, dims=(len(batch),) + tuple(range(len(batch))))


def _lerp(start: Any, end: Any, weight: torch.Tensor) -> Any:
    """start + weight * (end - start) as torch's lerp kernel computes it (from the nearer end)."""
    step = ops.sub(end, start)
    near_start = weight < 0.5
    return ops.where(near_start, ops.add(start, ops.mul(weight, step)), ops.sub(end, ops.mul(step, 1 - weight)))


# --- results that are never differentiated --------------------------------------------------------
def _on_values(fn: Callable[..., Any], *methods: Callable[..., Any]) -> Callable[..., Any]:
    """torch's `fn` run on the values (indices, booleans, counts): a plain tensor, never differentiated."""

    def rule(*args: Any, **kwargs: Any) -> Any:
        return fn(*(unwrap(a) for a in args), **{k: unwrap(v) for k, v in kwargs.items()})

    rule.__name__ = rule.__qualname__ = fn.__name__
    rule.__doc__ = f"torch.{fn.__name__} on the values: a plain tensor, never differentiated."
    return implements(fn, *methods)(rule)


argmax = _on_values(torch.argmax, torch.Tensor.argmax)
argmin = _on_values(torch.argmin, torch.Tensor.argmin)
argsort = _on_values(torch.argsort, torch.Tensor.argsort)
any = _on_values(torch.any, torch.Tensor.any)  # noqa: A001
all = _on_values(torch.all, torch.Tensor.all)  # noqa: A001
count_nonzero = _on_values(torch.count_nonzero, torch.Tensor.count_nonzero)
searchsorted = _on_values(torch.searchsorted)
bucketize = _on_values(torch.bucketize)
histc = _on_values(torch.histc, torch.Tensor.histc)  # torch's result never requires grad either


# --- log-sum-exp and softmax ----------------------------------------------------------------------
@implements(torch.logsumexp, torch.Tensor.logsumexp, torch.special.logsumexp)
def logsumexp(input: Any, dim: Dims = None, keepdim: bool = False) -> Any:  # noqa: A002
    """log(sum(e^input)) over `dim` (every dim when None): torch's kernel and torch's gradient. An
    empty `dim` goes to torch as it is (which reduces every dim with keepdim, else refuses it)."""
    dims = () if isinstance(dim, Sequence) and not dim else normalize_dims(dim, input.ndim)
    return ops.logsumexp(input, dim=dims, keepdim=keepdim)


@implements(torch.softmax, torch.Tensor.softmax)
def softmax(input: Any, dim: int, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """e^input / sum(e^input) along `dim` (the fused primitive; the input cast to `dtype` first)."""
    return ops.softmax(_cast(input, dtype), dim=normalize_dim(dim, input.ndim))


@implements(torch.log_softmax, torch.Tensor.log_softmax)
def log_softmax(input: Any, dim: int, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """input - logsumexp(input) along `dim` (the fused primitive; the input cast to `dtype` first)."""
    return ops.log_softmax(_cast(input, dtype), dim=normalize_dim(dim, input.ndim))


def mse(input: Any, target: Any, reduction: str = "mean") -> Any:  # noqa: A002
    """Mean (or summed, or elementwise with 'none') squared error; shapes must match."""
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} differ")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    d = ops.sub(input, target)
    sq = ops.mul(d, d)
    return sq if reduction == "none" else mean(sq) if reduction == "mean" else sum(sq)
