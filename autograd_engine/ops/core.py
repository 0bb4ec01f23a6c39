"""The core primitives: arithmetic, where, sum, max and min, shape and layout, matmul.

Every other family's VJPs are written in these (see the package docstring for how to read a VJP).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as tnf

from ..node import Meta
from ..primitive import primitive
from ..variable import Variable, unwrap

Shaped = Any  # a torch.Tensor, a Variable or a Meta: anything with .shape


# --- helpers the VJPs share -----------------------------------------------------------------------
def unbroadcast(g: Any, x: Shaped) -> Any:
    """Sum `g` over the dimensions that broadcasting added to or stretched in `x`."""
    shape = x.shape
    return g if g.shape == shape else sum_to(g, shape)


def sum_to(g: Any, shape: Sequence[int]) -> Any:
    """Sum `g` down to `shape`, a shape it was broadcast from."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return reshape(sum(g, dim=dims, keepdim=True), shape=tuple(shape))


def normalize_dim(dim: int, ndim: int) -> int:
    """`dim` as an index in [0, ndim), negative ones counting from the end; a 0-d tensor takes -1 and 0,
    as in torch. Anything else is torch's IndexError, in torch's words."""
    bound = builtins.max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-bound}, {bound - 1}], but got {dim})")
    return dim % bound


def normalize_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Reduction dims as sorted non-negative ints; None or () means every dim, as in torch (a 0-d tensor
    has none). Dims out of range raise IndexError and repeated ones RuntimeError, as in torch."""
    if dim is None or (not isinstance(dim, int) and len(dim) == 0):
        return tuple(range(ndim))
    dims = [normalize_dim(d, ndim) for d in ((dim,) if isinstance(dim, int) else dim)]
    for d in dims:
        if dims.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return tuple(sorted(dims)) if ndim else ()


def keep_dims(g: Any, shape: torch.Size, dim: int | Sequence[int] | None) -> Any:
    """Reshape a reduction's gradient so it broadcasts against the reduced input's `shape`."""
    dims = normalize_dims(dim, len(shape))
    return reshape(g, shape=tuple(1 if i in dims else n for i, n in enumerate(shape)))


def _is_tensor(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, Variable, Meta))


def _zeros_like(g: Any) -> Any:
    zeros = torch.zeros_like(unwrap(g))
    return Variable(zeros) if isinstance(g, Variable) else zeros


def _as_tensor_like(x: Any, like: torch.Tensor) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=like.dtype, device=like.device)


# --- arithmetic -----------------------------------------------------------------------------------
@primitive(numbers_as_tensors=True)
def add(x, y):
    """x + y, broadcasting."""
    return x + y


add.defvjp(lambda g, ans, x, y: unbroadcast(g, x), lambda g, ans, x, y: unbroadcast(g, y))


@primitive(numbers_as_tensors=True)
def sub(x, y):
    """x - y, broadcasting."""
    return x - y


sub.defvjp(lambda g, ans, x, y: unbroadcast(g, x), lambda g, ans, x, y: neg(unbroadcast(g, y)))


@primitive(saves={"x": "y", "y": "x"}, numbers_as_tensors=True)
def mul(x, y):
    """x * y, broadcasting."""
    return x * y


mul.defvjp(lambda g, ans, x, y: unbroadcast(g * y, x), lambda g, ans, x, y: unbroadcast(g * x, y))


@primitive(saves={"x": "y", "y": "y ans"})
def div(x, y):
    """x / y, broadcasting."""
    return x / y


div.defvjp(lambda g, ans, x, y: unbroadcast(g / y, x), lambda g, ans, x, y: neg(unbroadcast(g * (ans / y), y)))


@primitive()
def neg(x):
    """-x."""
    return -x


neg.defvjp(lambda g, ans, x: neg(g))


@primitive(saves={"x": "x y", "y": "x y ans"})
def pow(x, y):  # noqa: A001 (the op's name)
    """x ** y, broadcasting; either side may be a constant."""
    return x**y


def _pow_vjp_base(g, ans, x, y):
    if not _is_tensor(y):
        return _zeros_like(g) if y == 0 else g * (y * x ** (y - 1))
    return unbroadcast(where(y == 0, 0.0, g * (y * x ** (y - 1))), x)


def _pow_vjp_exponent(g, ans, x, y):
    if not _is_tensor(x):
        grad = g * (ans * (math.log(x) if x > 0 else -math.inf if x == 0 else math.nan))
        return unbroadcast(where(y >= 0, 0.0, grad) if x == 0 else grad, y)
    return unbroadcast(where((x == 0) & (y >= 0), 0.0, g * (ans * log(x))), y)


pow.defvjp(_pow_vjp_base, _pow_vjp_exponent)


@primitive(saves="ans")
def exp(x):
    """e ** x."""
    return torch.exp(x)


exp.defvjp(lambda g, ans, x: g * ans)


@primitive(saves="x")
def log(x):
    """Natural logarithm."""
    return torch.log(x)


log.defvjp(lambda g, ans, x: g / x)


@primitive(saves="x y")
def maximum(x, y):
    """Elementwise max, broadcasting; a tie sends half the gradient to each side (as torch does)."""
    return torch.maximum(_as_tensor_like(x, y), _as_tensor_like(y, x))


maximum.defvjp(
    lambda g, ans, x, y: unbroadcast(where(x < y, 0.0, where(x == y, g / 2, g)), x),
    lambda g, ans, x, y: unbroadcast(where(x > y, 0.0, where(x == y, g / 2, g)), y),
)


@primitive(saves="x y")
def minimum(x, y):
    """Elementwise min, broadcasting; a tie sends half the gradient to each side (as torch does)."""
    return torch.minimum(_as_tensor_like(x, y), _as_tensor_like(y, x))


minimum.defvjp(
    lambda g, ans, x, y: unbroadcast(where(x > y, 0.0, where(x == y, g / 2, g)), x),
    lambda g, ans, x, y: unbroadcast(where(x < y, 0.0, where(x == y, g / 2, g)), y),
)


@primitive(saves="cond")
def where(cond, x, y):
    """x where cond holds, else y, broadcasting; `cond` is a constant boolean tensor."""
    return torch.where(cond, x, y)


where.defvjp(
    None,
    lambda g, ans, cond, x, y: unbroadcast(where(cond, g, 0.0), x),
    lambda g, ans, cond, x, y: unbroadcast(where(cond, 0.0, g), y),
)


@primitive(saves="ans")
def threshold(x, *, threshold, value):
    """x where x > threshold, else `value` <= threshold; NaN passes through. The output tells where
    x > threshold, so backward keeps it (which the next op usually keeps anyway) instead of x."""
    if value > threshold:
        raise ValueError(f"threshold: value {value} must not exceed threshold {threshold} (compose `where` for that)")
    return tnf.threshold(x, threshold, value)


@primitive(saves="x")
def pass_above(g, x, *, threshold):
    """g where x > threshold, else 0: the VJP of threshold, itself linear in g and flat in x."""
    return torch.ops.aten.threshold_backward(g, x, threshold)


threshold.defvjp(lambda g, ans, x, *, threshold, value: pass_above(g, ans, threshold=threshold))
pass_above.defvjp(lambda h, ans, g, x, *, threshold: pass_above(h, x, threshold=threshold), None)


# --- reductions -----------------------------------------------------------------------------------
@primitive()
def sum(x, *, dim=None, keepdim=False):  # noqa: A001 (the op's name)
    """Sum over `dim` (an int, a tuple, or None for all)."""
    if dim is None or (not isinstance(dim, int) and len(dim) == 0):
        total = x.sum()
        return total.reshape((1,) * x.ndim) if keepdim else total
    return x.sum(dim, keepdim=keepdim)


sum.defvjp(lambda g, ans, x, *, dim=None, keepdim=False: expand(keep_dims(g, x.shape, dim), shape=tuple(x.shape)))


@primitive(saves="x ans")
def max(x, *, dim=None, keepdim=False):  # noqa: A001 (the op's name)
    """torch.max(x) without `dim`, else torch.amax over `dim` (an int or a tuple); the gradient is shared
    evenly among the elements that attain the max, as torch shares it (max(dim) with indices: gather)."""
    if dim is None:
        top = x.max()
        return top.reshape((1,) * x.ndim) if keepdim else top
    return torch.amax(x, dim, keepdim=keepdim)


@primitive(saves="x ans")
def min(x, *, dim=None, keepdim=False):  # noqa: A001 (the op's name)
    """torch.min(x) without `dim`, else torch.amin over `dim`; the gradient as for max."""
    if dim is None:
        low = x.min()
        return low.reshape((1,) * x.ndim) if keepdim else low
    return torch.amin(x, dim, keepdim=keepdim)


def share_among_ties(g: Any, ans: Any, x: Any, dim: int | Sequence[int] | None) -> Any:
    """The VJP of max and min: `g` split evenly among the elements of each slice equal to its result.

    As torch: without `dim` (torch.max(x)) a NaN result counts the NaNs as its ties; over dims
    (torch.amax) it has none, and the slice's gradient is NaN."""
    raw = unwrap(x)
    top = keep_dims(unwrap(ans), raw.shape, dim)
    ties = raw == top
    if dim is None:
        ties |= raw.isnan() & top.isnan()
    count = ties.sum(normalize_dims(dim, raw.ndim), keepdim=True).to(raw.dtype)
    share = keep_dims(g, raw.shape, dim) / count
    return where(ties, share, 0.0) if dim is None else share * ties.to(raw.dtype)


max.defvjp(lambda g, ans, x, *, dim=None, keepdim=False: share_among_ties(g, ans, x, dim))
min.defvjp(lambda g, ans, x, *, dim=None, keepdim=False: share_among_ties(g, ans, x, dim))


# --- shape and layout -----------------------------------------------------------------------------
@primitive()
def reshape(x, *, shape):
    """Same values, new shape (a view where torch can)."""
    return x.reshape(shape)


reshape.defvjp(lambda g, ans, x, *, shape: reshape(g, shape=tuple(x.shape)))


@primitive()
def permute(x, *, dims):
    """Reorder dimensions."""
    return x.permute(dims)


def inverse_permutation(dims: Sequence[int]) -> tuple[int, ...]:
    order = [normalize_dim(d, len(dims)) for d in dims]
    return tuple(order.index(i) for i in range(len(dims)))


permute.defvjp(lambda g, ans, x, *, dims: permute(g, dims=inverse_permutation(dims)))


@primitive()
def expand(x, *, shape):
    """Broadcast to `shape` without copying (-1 keeps a dim)."""
    return x.expand(shape)


expand.defvjp(lambda g, ans, x, *, shape: unbroadcast(g, x))


@primitive()
def getitem(x, *, index):
    """x[index]: ints, slices, None, Ellipsis, integer and boolean tensors."""
    return x[index]


@primitive()
def untake(g, *, index, shape):
    """The adjoint of getitem: a zero tensor of `shape` with `g` added at `index` (repeats accumulate)."""
    out = g.new_zeros(shape)  # new_zeros, not torch.zeros: batched like g under torch.vmap (jacobian)
    if _is_basic_index(index):
        out[index] = g
        return out
    positions = torch.arange(out.numel(), device=g.device).reshape(shape)[index]
    return out.reshape(-1).index_add(0, positions.reshape(-1), g.reshape(-1)).reshape(shape)


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        p is None or p is Ellipsis or isinstance(p, slice) or (isinstance(p, int) and not isinstance(p, bool))
        for p in parts
    )


getitem.defvjp(lambda g, ans, x, *, index: untake(g, index=index, shape=tuple(x.shape)))
untake.defvjp(lambda g, ans, x, *, index, shape: getitem(g, index=index))


@primitive()
def gather(x, *, dim, index):
    """torch.gather: the elements of x at `index` (an int64 tensor) along `dim`."""
    return torch.gather(x, dim, index)


@primitive()
def ungather(g, *, dim, index, shape):
    """The adjoint of gather: a zero tensor of `shape` with `g` added at `index` along `dim`."""
    return g.new_zeros(shape).scatter_add(dim, index, g)


gather.defvjp(lambda g, ans, x, *, dim, index: ungather(g, dim=dim, index=index, shape=tuple(x.shape)))
ungather.defvjp(lambda g, ans, x, *, dim, index, shape: gather(g, dim=dim, index=index))


@primitive()
def cat(*xs, dim=0):
    """Concatenate along an existing dim."""
    return torch.cat(xs, dim)


def _cat_vjp(i, g, ans, *xs, dim=0):
    d = normalize_dim(dim, g.ndim)
    start = builtins.sum(x.shape[d] for x in xs[:i])
    return getitem(g, index=(slice(None),) * d + (slice(start, start + xs[i].shape[d]),))


cat.defvjp_argnum(_cat_vjp)


@primitive()
def pad(x, *, widths, value=0.0):
    """Constant padding; `widths` in torch.nn.functional.pad order (last dim first), negative ones crop."""
    return tnf.pad(x, widths, mode="constant", value=value)


pad.defvjp(lambda g, ans, x, *, widths, value=0.0: pad(g, widths=tuple(-w for w in widths)))


@primitive()
def to(x, *, dtype, device):
    """Differentiable dtype/device conversion."""
    return x.to(dtype=dtype, device=device)


to.defvjp(lambda g, ans, x, *, dtype, device: to(g, dtype=x.dtype, device=x.device))


@primitive()
def alias(x):
    """The same values under a new node: functional transforms use it to separate nesting levels."""
    return x


alias.defvjp(lambda g, ans, x: g)


# --- linear algebra and patches -------------------------------------------------------------------
@primitive(saves={"x": "y", "y": "x"})
def matmul(x, y):
    """torch.matmul: vectors, matrices and broadcast batches of matrices."""
    return torch.matmul(x, y)


def _as_matrices(g, x_shape, y_shape):
    """x's and y's shapes with vectors promoted to matrices, and g reshaped to match, so that one rule
    covers every case of matmul."""
    x2 = (1, x_shape[0]) if len(x_shape) == 1 else tuple(x_shape)
    y2 = (y_shape[0], 1) if len(y_shape) == 1 else tuple(y_shape)
    g_shape = tuple(g.shape)
    if len(x_shape) == 1:
        g_shape = g_shape[:-1] + (1,) + g_shape[-1:] if len(y_shape) > 1 else g_shape + (1,)
    if len(y_shape) == 1:
        g_shape = g_shape + (1,)
    return reshape(g, shape=g_shape), x2, y2


def _matmul_vjp_x(g, ans, x, y):
    if x.ndim == 2 and y.ndim >= 3:  # a matrix shared by a batch: fold the batch into one product
        rows, cols = x.shape
        return matmul(transpose(reshape(transpose(g), shape=(-1, rows))), reshape(transpose(y), shape=(-1, cols)))
    g2, x2, y2 = _as_matrices(g, x.shape, y.shape)
    return reshape(sum_to(matmul(g2, transpose(reshape(y, shape=y2))), x2), shape=tuple(x.shape))


def _matmul_vjp_y(g, ans, x, y):
    if y.ndim == 2 and x.ndim >= 3:  # likewise for a batch times a shared matrix
        return matmul(transpose(reshape(x, shape=(-1, y.shape[0]))), reshape(g, shape=(-1, y.shape[1])))
    g2, x2, y2 = _as_matrices(g, x.shape, y.shape)
    return reshape(sum_to(matmul(transpose(reshape(x, shape=x2)), g2), y2), shape=tuple(y.shape))


def transpose(x: Any, dim0: int = -2, dim1: int = -1) -> Any:
    """Swap two dims (a permute)."""
    a, b = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    dims = list(range(x.ndim))
    if dims:  # (a 0-d tensor takes dims 0 and -1 and stays as it is)
        dims[a], dims[b] = dims[b], dims[a]
    return permute(x, dims=tuple(dims))


matmul.defvjp(_matmul_vjp_x, _matmul_vjp_y)
