"""The core primitives: arithmetic, where, sum, max and min, shape and layout, matmul.

Every other family's VJPs are written in these (see the package docstring for how to read a VJP).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as tnf

from ..node import Meta
from ..primitive import Primitive, primitive
from ..variable import Variable, unwrap

Shaped = Any  # a torch.Tensor, a Variable, a Meta or a Layout: anything with .shape


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
def add(x, y, *, alpha=None):
    """x + y, broadcasting; given alpha, x + alpha * y in torch's fused kernel (torch.add(x, y, alpha=alpha)),
    whose bits differ from x + y * alpha (and whose checks refuse a float alpha for integers)."""
    return x + y if alpha is None else torch.add(x, y, alpha=alpha)


def _scaled_grad(g: Any, y: Shaped, alpha: Any) -> Any:
    """y's gradient in x + alpha * y: g * alpha summed to y's shape, in torch's order (scale, then sum)."""
    return unbroadcast(g if alpha is None or alpha == 1 else mul(g, alpha), y)


add.defvjp(
    lambda g, ans, x, y, *, alpha=None: unbroadcast(g, x),
    lambda g, ans, x, y, *, alpha=None: _scaled_grad(g, y, alpha),
)


@primitive(numbers_as_tensors=True)
def sub(x, y, *, alpha=None):
    """x - y, broadcasting; given alpha, x - alpha * y in torch's fused kernel, as add."""
    return x - y if alpha is None else torch.sub(x, y, alpha=alpha)


sub.defvjp(
    lambda g, ans, x, y, *, alpha=None: unbroadcast(g, x),
    lambda g, ans, x, y, *, alpha=None: neg(_scaled_grad(g, y, alpha)),
)


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
    """torch's pow_backward_exponent: g * (ans * log x), with 0 for ans * log x where x == 0 and y >= 0."""
    if not _is_tensor(x):
        slope = ans * (math.log(x) if x > 0 else -math.inf if x == 0 else math.nan)
        return unbroadcast(g * (where(y >= 0, 0.0, slope) if x == 0 else slope), y)
    return unbroadcast(g * where((x == 0) & (y >= 0), 0.0, ans * log(x)), y)


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
@primitive(view=True)
def reshape(x, *, shape):
    """Same values, new shape (a view where torch can)."""
    return x.reshape(shape)


reshape.defvjp(lambda g, ans, x, *, shape: reshape(g, shape=tuple(x.shape)))


@primitive(view=True)
def permute(x, *, dims):
    """Reorder dimensions."""
    return x.permute(dims)


def inverse_permutation(dims: Sequence[int]) -> tuple[int, ...]:
    order = [normalize_dim(d, len(dims)) for d in dims]
    return tuple(order.index(i) for i in range(len(dims)))


permute.defvjp(lambda g, ans, x, *, dims: permute(g, dims=inverse_permutation(dims)))


@primitive(view=True)
def expand(x, *, shape):
    """Broadcast to `shape` without copying (-1 keeps a dim)."""
    return x.expand(shape)


expand.defvjp(lambda g, ans, x, *, shape: unbroadcast(g, x))


@primitive(view=True)
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


# --- matrix products --------------------------------------------------------------------------------
# torch sums a product's gradient in an order that depends on its factors' layout (a column-major factor's
# gradient is the transpose of the transposed product), and its matmul folds a batch into one mm or runs a
# batched product depending on which inputs require grad. Both change the last bits of values and gradients,
# so the primitives below follow torch's choices, read from strides (`Layout`, `Meta`) and requires_grad.
class Layout(Meta):
    """A tensor's shape and strides without its values, and the views torch's matmul takes of it. A VJP reads
    an input's layout from the tensor, the Variable or the `Meta` it gets (`layout`), and may pass a Layout
    where only the layout of a factor matters (`mm_mat1_grad`'s mat1)."""

    __slots__ = ()

    def __init__(self, shape: Sequence[int], strides: Sequence[int]) -> None:
        self.shape, self.strides = tuple(shape), tuple(strides)

    def transposed(self) -> Layout:
        """x.mT: the last two dims swapped."""
        swap = lambda t: t[:-2] + t[-1:] + t[-2:-1]  # noqa: E731
        return Layout(swap(self.shape), swap(self.strides))

    def unsqueezed(self) -> Layout:
        """x.unsqueeze(0) of a vector (torch's stride for the new dim: the vector's length times its stride)."""
        return Layout((1, *self.shape), (self.shape[0] * self.strides[0], *self.strides))

    def squeezed(self) -> Layout:
        """x.squeeze(0) of a batch of one."""
        return Layout(self.shape[1:], self.strides[1:])

    def rows(self) -> Layout:
        """x.reshape(-1, x.shape[-1]): the batch as rows, a view where torch makes one, else a contiguous copy."""
        shape = (math.prod(self.shape[:-1]), self.shape[-1])
        strides = _view_strides(self.shape, self.strides, shape)
        return Layout(shape, strides if strides is not None else (builtins.max(shape[1], 1), 1))

    def batch_folds(self) -> bool:
        """Whether the batch dims fold into one without a copy, as torch's should_fold tests it."""
        return builtins.all(self.strides[i] == self.strides[i + 1] * self.shape[i + 1] for i in range(self.ndim - 2))

    def __repr__(self) -> str:
        return f"Layout({self.shape}, strides={self.strides})"


def _view_strides(shape: tuple[int, ...], strides: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...] | None:
    """The strides of a view of `new` shape (at::detail::computeStride), or None where it needs a copy."""
    if math.prod(shape) == 0:  # (any strides do: torch keeps them for the same shape, else counts sizes as 1 or more)
        if shape == new:
            return strides
        return tuple(math.prod(builtins.max(n, 1) for n in new[i + 1 :]) for i in range(len(new)))
    out = [0] * len(new)
    view_d, base, tensor_numel, view_numel = len(new) - 1, strides[-1], 1, 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):  # the end of a contiguous chunk
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return tuple(out) if view_d == -1 else None


def layout(x: Shaped) -> Layout:
    """The layout of a tensor, a Variable, a `Meta` (or a Layout)."""
    if isinstance(x, Layout):
        return x
    return Layout(x.shape, unwrap(x).stride())


def column_major(x: Shaped) -> bool:
    """Whether matrix x (a tensor, Variable, Meta or Layout) is laid out column by column, as a transposed
    contiguous matrix: torch's test (mm_mat1_backward, mm_mat2_backward) for computing x's gradient in a
    product as the transpose of the transposed product, which sums in another order."""
    rows_stride, cols_stride = unwrap(x).stride()
    return rows_stride == 1 and cols_stride == x.shape[0]


def mm_mat1_grad(g: Any, mat1: Shaped, mat2: Any) -> Any:
    """g @ mat2^T, mat1's gradient in mat1 @ mat2 in torch's order (mm_mat1_backward): (mat2 @ g^T)^T where mat1
    is column-major. mat1 is read for its layout only."""
    return transpose(matmul(mat2, transpose(g))) if column_major(mat1) else matmul(g, transpose(mat2))


def mm_mat2_grad(g: Any, mat1: Any, mat2: Shaped) -> Any:
    """mat1^T @ g, mat2's gradient in mat1 @ mat2 in torch's order (mm_mat2_backward): (g^T @ mat1)^T where mat2
    is column-major. mat2 is read for its layout only."""
    return transpose(matmul(transpose(g), mat1)) if column_major(mat2) else matmul(transpose(mat1), g)


def reshaped(t: Any, shape: Sequence[int]) -> Any:
    """t in `shape`: t itself where it has that shape already (no op recorded, none run)."""
    shape = tuple(shape)
    return t if tuple(t.shape) == shape else reshape(t, shape=shape)


def _as_row(v: Any) -> Any:
    """Vector v as a matrix of one row."""
    return reshape(v, shape=(1, *v.shape))


def outer(a: Any, b: Any) -> Any:
    """a[i] * b[j] (torch's ger: one product per element, so any order gives its bits)."""
    return mul(reshape(a, shape=(a.shape[0], 1)), b)


def torch_folds(x: Shaped, y: Shaped, x_grad: bool, y_grad: bool) -> bool:
    """Whether torch's matmul(x, y) folds a batch into the rows of one mm (or mv) rather than running a batched
    product, given which of x, y require grad (in grad mode or not, as torch reads it): at::native's
    should_fold, after the batch of one that requires grad is dropped where two 3-d batches differ."""
    if x.ndim == y.ndim == 3 and x.shape[0] != y.shape[0]:
        return (x.shape[0] == 1 and x_grad) or (y.shape[0] == 1 and y_grad)
    big, small, small_grad = (x, y, y_grad) if x.ndim >= y.ndim else (y, x, x_grad)
    if big.ndim < 3 or small.ndim > 2:
        return False
    if small_grad:  # (so that the matrix's gradient is one mm, not a batch of them summed)
        return True
    if x.ndim == 2:
        return False
    rows = layout(x) if big is x else layout(y).transposed()
    return math.prod(rows.shape) == 0 or rows.batch_folds()


class FoldingPrimitive(Primitive):
    """A primitive on torch's matmul, whose kernels depend on which inputs require grad (`torch_folds`): the call,
    which sees Variables, passes fold=True to the forward (which sees tensors) and the VJPs where torch folds."""

    __slots__ = ("folds",)

    def __init__(self, forward: Callable[..., Any], folds: Callable[..., bool], saves: dict[str, str]) -> None:
        super().__init__(forward, saves)
        self.folds = folds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "fold" not in kwargs and self.folds(*args):
            kwargs["fold"] = True
        return super().__call__(*args, **kwargs)


def folding_primitive(folds: Callable[..., bool], saves: dict[str, str]) -> Callable[[Callable[..., Any]], Primitive]:
    """Decorator: a `FoldingPrimitive` whose call asks `folds(*args)` whether torch folds."""
    return lambda forward: FoldingPrimitive(forward, folds, saves)


def requires_grad_of(x: Any) -> bool:
    """x.requires_grad for a Variable or tensor, False for anything else."""
    return bool(getattr(x, "requires_grad", False))


def _matmul_folds(x: Any, y: Any) -> bool:
    if not (_is_tensor(x) and _is_tensor(y) and (x.ndim > 2 or y.ndim > 2)):  # (anything else: the forward's error)
        return False
    return torch_folds(x, y, requires_grad_of(x), requires_grad_of(y))


@folding_primitive(_matmul_folds, saves={"x": "y", "y": "x"})
def matmul(x, y, *, fold=False):
    """torch.matmul: vectors, matrices and broadcast batches of matrices. fold=True: the batch folded into the
    rows of one mm or mv, as torch's matmul does where `torch_folds` (the call decides: it reads requires_grad)."""
    if not fold:
        return torch.matmul(x, y)
    if x.ndim == y.ndim == 3:  # a batch of one against a batch: torch drops the one
        x, y = (x[0], y) if x.shape[0] == 1 else (x, y[0])
    if x.ndim >= y.ndim:  # the rows of x times y
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        return (rows @ y).view(*x.shape[:-1], *y.shape[1:])
    rows = y.mT.reshape(math.prod(y.shape[:-2]) * y.shape[-1], y.shape[-2])  # y^T's rows times x^T
    if x.ndim == 1:
        return (rows @ x).view(*y.shape[:-2], y.shape[-1])
    return (rows @ x.t()).view(*y.shape[:-2], y.shape[-1], x.shape[0]).mT.contiguous()


def matmul_vjp_x(g, ans, x, y, *, fold=False):
    """x's gradient in matmul(x, y) as torch computes it (x is read for its layout only: a Layout will do)."""
    if fold:
        return _folded_grad(g, x, y, 0)
    if x.ndim > 2 or y.ndim > 2:
        return _batched_grad(g, x, y, 0)
    if y.ndim == 1:  # dot or mv: products
        return mul(g, y) if x.ndim == 1 else outer(g, y)
    if x.ndim == 1:  # torch's mm of x.unsqueeze(0)
        return reshaped(mm_mat1_grad(_as_row(g), layout(x).unsqueezed(), y), x.shape)
    return mm_mat1_grad(g, x, y)


def matmul_vjp_y(g, ans, x, y, *, fold=False):
    """y's gradient in matmul(x, y) as torch computes it (y is read for its layout only: a Layout will do)."""
    if fold:
        return _folded_grad(g, x, y, 1)
    if x.ndim > 2 or y.ndim > 2:
        return _batched_grad(g, x, y, 1)
    if x.ndim == 1:  # dot, or torch's mm of x.unsqueeze(0)
        return mul(g, x) if y.ndim == 1 else mm_mat2_grad(_as_row(g), _as_row(x), y)
    if y.ndim == 1:  # mv
        return matmul(transpose(x), g)
    return mm_mat2_grad(g, x, y)


def _batched_grad(g: Any, x: Shaped, y: Shaped, wrt: int) -> Any:
    """x's (wrt 0) or y's gradient where torch runs one batched product: each factor (a vector as a matrix of one
    row or column) expanded to the broadcast batch and reshaped to one batch dim, one bmm, the expansion's
    gradient summed back; step by step as torch's, since a reshape that copies sets the bmm's layouts."""
    xs = (1, *x.shape) if x.ndim == 1 else tuple(x.shape)
    ys = (*y.shape, 1) if y.ndim == 1 else tuple(y.shape)
    batch = tuple(torch.broadcast_shapes(xs[:-2], ys[:-2]))
    g = reshaped(g, (math.prod(batch), xs[-2], ys[-1]))
    factor, own, shape = (y, xs, ys) if wrt == 0 else (x, ys, xs)
    other = expand(reshaped(factor, shape), shape=(*batch, *shape[-2:]))
    other = reshaped(other, (math.prod(batch), *shape[-2:]))
    grad = matmul(g, transpose(other)) if wrt == 0 else matmul(transpose(other), g)
    return reshaped(sum_to(reshaped(grad, (*batch, *own[-2:])), own), (x if wrt == 0 else y).shape)


def _folded_grad(g: Any, x: Shaped, y: Shaped, wrt: int) -> Any:
    """x's (wrt 0) or y's gradient where torch folded the batch into one product (matmul's forward with fold):
    the rows of x times y, or of y^T times x^T (transposed back) where y holds the batch."""
    xl, yl = layout(x), layout(y)
    if xl.ndim == yl.ndim == 3:  # the batch of one that torch dropped
        xl, yl = (xl.squeezed(), yl) if xl.shape[0] == 1 else (xl, yl.squeezed())
    other, shape = (y, yl.shape) if wrt == 0 else (x, xl.shape)  # (the gradient reads the other factor's values)
    other = reshaped(other, shape)
    if xl.ndim >= yl.ndim:
        grad = _rows_grad(g, xl, yl, other, wrt)
    elif xl.ndim == 1:
        grad = _rows_grad(g, yl.transposed(), xl, transpose(other) if wrt == 0 else other, 1 - wrt)
        grad = grad if wrt == 0 else transpose(grad)
    else:
        grad = transpose(_rows_grad(transpose(g), yl.transposed(), xl.transposed(), transpose(other), 1 - wrt))
    return reshaped(grad, (x if wrt == 0 else y).shape)


def _rows_grad(g: Any, a: Layout, b: Layout, other: Any, wrt: int) -> Any:
    """a's (wrt 0) or b's gradient in torch's folded product, the rows of batch `a` times matrix or vector `b`
    (one mm or mv), given the values of the other factor: gradients in torch's order for the layout of a's
    rows (a view, or a copy) and of b."""
    rows = a.rows()
    if b.ndim == 1:
        g = reshaped(g, rows.shape[:1])
        grad = outer(g, other) if wrt == 0 else matmul(transpose(reshaped(other, rows.shape)), g)
    else:
        g = reshaped(g, (rows.shape[0], b.shape[1]))
        grad = mm_mat1_grad(g, rows, other) if wrt == 0 else mm_mat2_grad(g, reshaped(other, rows.shape), b)
    return reshaped(grad, a.shape) if wrt == 0 else grad


def transpose(x: Any, dim0: int = -2, dim1: int = -1) -> Any:
    """Swap two dims (a permute)."""
    a, b = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    dims = list(range(x.ndim))
    if dims:  # (a 0-d tensor takes dims 0 and -1 and stays as it is)
        dims[a], dims[b] = dims[b], dims[a]
    return permute(x, dims=tuple(dims))


matmul.defvjp(matmul_vjp_x, matmul_vjp_y)
