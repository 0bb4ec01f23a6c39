"""Indexing with torch's names and signatures: gather and scatter, index_select/add/copy/fill, masks,
take, put, where, nonzero, and x[index] = value with the in-place methods.

Index tensors (and masks) are never differentiated: Variables among them stand for their values. Ops
along a dim with a vector index (index_select, index_copy) are gather and scatter with the index spread
over the other dims (a view, no copy); index_add is torch's kernel (its bits, alpha fused). In-place
methods and item assignment follow torch: a Variable that requires grad, or is assigned one, holds the
result and its graph node afterwards (the same Python object); outside recording they write into its
tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .. import ops
from ..dispatch import implements
from ..grad_mode import is_grad_enabled
from ..ops import normalize_dim
from ..variable import Variable, unwrap, unwrap_all

__all__ = [
    "argwhere",
    "diagonal_scatter",
    "gather",
    "index_add",
    "index_copy",
    "index_fill",
    "index_put",
    "index_reduce",
    "index_select",
    "masked_fill",
    "masked_scatter",
    "masked_select",
    "nonzero",
    "put",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "select_scatter",
    "slice_scatter",
    "take",
    "take_along_dim",
    "where",
]

_SCALAR_NAMES = {
    torch.float64: "Double",
    torch.float32: "Float",
    torch.float16: "Half",
    torch.bfloat16: "BFloat16",
    torch.int64: "Long",
    torch.int32: "Int",
    torch.int16: "Short",
    torch.int8: "Char",
    torch.uint8: "Byte",
    torch.bool: "Bool",
}


_INT = (torch.int64, torch.int32)  # the index dtypes most ops take
_LONG = (torch.int64,)


def _name(dtype: torch.dtype) -> str:
    """A dtype as torch's messages name it (Float, Long...)."""
    return _SCALAR_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def _index(index: Any, name: str, dtypes: Sequence[torch.dtype], message: str, error: type = RuntimeError) -> Any:
    """The index tensor (a Variable's values), checked to be of one of `dtypes` as torch checks it."""
    index = unwrap(index)
    if not isinstance(index, torch.Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in dtypes:
        raise error(message.format(dtype=_name(index.dtype)))
    return index


def _spread(index: torch.Tensor, dim: int, shape: Sequence[int]) -> torch.Tensor:
    """A vector `index` along `dim` as the gather/scatter index for a tensor of `shape` (with index's
    length at `dim`): a stride-0 view, no copy."""
    if not shape:
        return index.reshape(())
    view = [1] * len(shape)
    view[dim] = -1
    return index.reshape(view).expand(*shape[:dim], index.numel(), *shape[dim + 1 :])


def _as_index_error(error: RuntimeError, message: str) -> Exception:
    """The kernel's out-of-bounds RuntimeError as the IndexError torch raises for this op (`message` may
    quote the kernel's words as {error})."""
    if "out of bounds" not in str(error):
        return error
    return IndexError(message.format(error=error.__cause__ or error))


# --- reading positions ----------------------------------------------------------------------------
@implements(torch.gather, torch.Tensor.gather)
def gather(input: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Any:  # noqa: A002
    """torch.gather: input's elements at `index` along `dim`; repeats accumulate their gradients."""
    return ops.gather(input, dim=normalize_dim(dim, input.ndim), index=unwrap(index))


@implements(torch.index_select, torch.Tensor.index_select)
def index_select(input: Any, dim: int, index: Any) -> Any:  # noqa: A002
    """torch.index_select: the slices of `input` at the positions `index` (a vector) along `dim`."""
    index = _index(index, "index_select", _INT, "index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = normalize_dim(dim, input.ndim)
    shape = tuple(input.shape[:d]) + (index.numel(),) + tuple(input.shape[d + 1 :])
    try:
        return ops.gather(input, dim=d, index=_spread(index, d, shape if input.ndim else ()))
    except RuntimeError as e:
        raise _as_index_error(e, "index out of range in self") from e


@implements(torch.take, torch.Tensor.take)
def take(input: Any, index: Any) -> Any:  # noqa: A002
    """torch.take: input's elements at `index` of its flattened values (negative ones count from the end),
    in index's shape."""
    index = _index(index, "take", _LONG, "take(): Expected a long tensor for index, but got {dtype}")
    return ops.getitem(ops.reshape(input, shape=(-1,)), index=index)


@implements(torch.take_along_dim, torch.Tensor.take_along_dim)
def take_along_dim(input: Any, indices: Any, dim: int | None = None) -> Any:  # noqa: A002
    """torch.take_along_dim: gather along `dim` with input and indices broadcast over the other dims
    (without `dim`, of the flattened values)."""
    indices = _index(
        indices,
        "take_along_dim",
        _LONG,
        "torch.take_along_dim(): dtype of indices should be Long but got {dtype}",
    )
    if dim is None:
        return ops.gather(ops.reshape(input, shape=(-1,)), dim=0, index=indices.reshape(-1))
    if indices.ndim != input.ndim:
        raise RuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of dimensions, but got "
            f"{input.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
        )
    d = normalize_dim(dim, input.ndim)
    others = torch.broadcast_shapes(
        tuple(input.shape[:d]) + (1,) + tuple(input.shape[d + 1 :]),
        tuple(indices.shape[:d]) + (1,) + tuple(indices.shape[d + 1 :]),
    )
    shape_x = others[:d] + (input.shape[d],) + others[d + 1 :]
    shape_i = others[:d] + (indices.shape[d],) + others[d + 1 :]
    x = input if tuple(input.shape) == shape_x else ops.expand(input, shape=shape_x)
    return ops.gather(x, dim=d, index=indices.expand(shape_i))


@implements(torch.masked_select, torch.Tensor.masked_select)
def masked_select(input: Any, mask: Any) -> Any:  # noqa: A002
    """torch.masked_select: the elements where `mask` (broadcast with input) holds, as a vector."""
    mask = unwrap(mask)
    if mask.dtype != torch.bool:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = torch.broadcast_shapes(input.shape, mask.shape)
    x = input if input.shape == shape else ops.expand(input, shape=tuple(shape))
    return ops.getitem(x, index=mask.expand(shape))


@implements(torch.nonzero, torch.Tensor.nonzero)
def nonzero(input: Any, *, as_tuple: bool = False) -> Any:  # noqa: A002
    """torch.nonzero: the indices of the nonzero elements (plain int64 tensors: never differentiated)."""
    if as_tuple:
        return torch.nonzero(unwrap(input), as_tuple=True)
    return torch.nonzero(unwrap(input))


@implements(torch.argwhere, torch.Tensor.argwhere)
def argwhere(input: Any) -> torch.Tensor:  # noqa: A002
    """torch.argwhere: the indices of the nonzero elements, one row each (a plain int64 tensor)."""
    return torch.argwhere(unwrap(input))


@implements(torch.where)
def where(condition: Any, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """torch.where: input where `condition` (a boolean tensor, never differentiated) holds, else other,
    broadcasting, either side a tensor or a number; torch.where(condition) alone is nonzero(as_tuple=True)."""
    if input is None and other is None:
        return torch.where(unwrap(condition))
    if input is None or other is None:
        raise TypeError("where(): takes a condition alone, or a condition, input and other")
    return ops.where(unwrap(condition), input, other)


@implements(torch.Tensor.where)
def _where_method(self: Any, condition: Any, other: Any) -> Any:
    """Tensor.where(condition, other): self where condition holds, else other."""
    return where(condition, self, other)


# --- writing positions ----------------------------------------------------------------------------
@implements(torch.scatter, torch.Tensor.scatter)
def scatter(
    input: Any,  # noqa: A002
    dim: int,
    index: Any,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
) -> Any:
    """torch.scatter: input with `src`'s elements (or the number `value`) written at `index` along `dim`;
    `reduce` ("add" or "multiply", deprecated by torch) combines them with input's instead. Overwritten
    positions of input get no gradient; every element of src gets that of the position it went to."""
    if (src is None) == (value is None):
        raise TypeError("scatter(): give src (a tensor) or value (a number), not both")
    src = value if src is None else src
    d = normalize_dim(dim, input.ndim)
    index = unwrap(index)
    if reduce is None:
        return ops.scatter(input, src, dim=d, index=index)
    if reduce not in ("add", "multiply"):
        raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
    if not isinstance(src, (torch.Tensor, Variable)):
        src = torch.full(index.shape, src, dtype=input.dtype, device=input.device)
    if reduce == "add":
        return ops.scatter_add(input, src, dim=d, index=index)
    return ops.scatter_reduce(input, src, dim=d, index=index, reduce="prod")


@implements(torch.scatter_add, torch.Tensor.scatter_add)
def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Any:  # noqa: A002
    """torch.scatter_add: input with `src`'s elements added at `index` along `dim` (repeats add up)."""
    return ops.scatter_add(input, src, dim=normalize_dim(dim, input.ndim), index=unwrap(index))


@implements(torch.scatter_reduce, torch.Tensor.scatter_reduce)
def scatter_reduce(
    input: Any,  # noqa: A002
    dim: int,
    index: Any,
    src: Any,
    reduce: str,
    *,
    include_self: bool = True,
) -> Any:
    """torch.scatter_reduce: `src`'s elements reduced ("sum", "prod", "mean", "amax", "amin") into input
    at `index` along `dim`, input's own values included unless `include_self` is False; the gradients
    are torch's (amax/amin share among ties, prod is exact at zeros)."""
    d = normalize_dim(dim, input.ndim)
    return ops.scatter_reduce(input, src, dim=d, index=unwrap(index), reduce=reduce, include_self=include_self)


def _along_dim(name: str, x: Any, dim: int, index: torch.Tensor, source: Any, count_error: type) -> int:
    """Check an index_add/index_copy/index_reduce call on x as torch does; returns dim, non-negative."""
    if index.ndim > 1:
        raise IndexError(f"{name}(): Index should have dimension 1 or 0 (got {index.ndim})")
    d = normalize_dim(dim, x.ndim)
    if source.dtype != x.dtype:
        raise RuntimeError(
            f"{name}(): self ({_name(x.dtype)}) and source ({_name(source.dtype)}) must have the same scalar type"
        )
    if x.ndim and source.ndim:
        if source.ndim != x.ndim or source.shape[d] != index.numel():
            raise count_error(
                f"{name}(): Number of indices ({index.numel()}) should be equal to source.size(dim) "
                f"({source.shape[d] if d < source.ndim else 1})"
            )
        if any(a != b for i, (a, b) in enumerate(zip(x.shape, source.shape)) if i != d):
            raise RuntimeError(
                f"{name}(): source tensor shape must match self tensor shape, excluding the specified dimension. "
                f"Got self.shape = {list(x.shape)} source.shape = {list(source.shape)}"
            )
    return d


@implements(torch.index_add, torch.Tensor.index_add)
def index_add(input: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:  # noqa: A002
    """torch.index_add: input with alpha * source's slices added at the positions `index` along `dim`
    (repeats add up), in torch's kernel (its bits where alpha != 1)."""
    index = _index(index, "index_add", _INT, "index_add_(): Expected dtype int32/int64 for index but got: {dtype}")
    d = _along_dim("index_add_", input, dim, index, source, RuntimeError)
    return ops.index_add(input, source, dim=d, index=index, alpha=alpha)


@implements(torch.index_copy, torch.Tensor.index_copy)
def index_copy(input: Any, dim: int, index: Any, source: Any) -> Any:  # noqa: A002
    """torch.index_copy: input with source's slices written at the positions `index` along `dim`."""
    index = _index(index, "index_copy", _LONG, "index_copy_(): Expected a long tensor for index, but got {dtype}")
    d = _along_dim("index_copy_", input, dim, index, source, IndexError)
    try:
        return ops.scatter(input, source, dim=d, index=_spread(index, d, tuple(source.shape)))
    except RuntimeError as e:
        raise _as_index_error(e, "index_copy_(): {error}") from e


@implements(torch.index_reduce, torch.Tensor.index_reduce)
def index_reduce(
    input: Any,  # noqa: A002
    dim: int,
    index: Any,
    source: Any,
    reduce: str,
    *,
    include_self: bool = True,
) -> Any:
    """torch.index_reduce: source's slices reduced ("prod", "mean", "amax", "amin") into input at the
    positions `index` along `dim` (a scatter_reduce with the index spread over the other dims)."""
    index = _index(
        index, "index_reduce", _INT, "index_reduce_(): Expected dtype int32/int64 for index but got: {dtype}"
    )
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    d = _along_dim("index_reduce_", input, dim, index, source, RuntimeError)
    spread = _spread(index, d, tuple(source.shape))
    return ops.scatter_reduce(input, source, dim=d, index=spread, reduce=reduce, include_self=include_self)


def _fill(name: str, x: Any, mask: torch.Tensor, value: Any) -> Any:
    """x with `value` (a number or a 0-d tensor, which gets the gradient of every filled position)
    where `mask` holds, in x's dtype."""
    if isinstance(value, (torch.Tensor, Variable)):
        if value.ndim:
            raise RuntimeError(
                f"{name} only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
            )
        if value.dtype != x.dtype or value.device != x.device:  # (torch takes a 0-d value on the CPU too)
            value = ops.to(value, dtype=x.dtype, device=x.device)
    elif not x.dtype.is_floating_point:
        value = torch.tensor(value).to(x.dtype)
    return ops.where(mask, value, x)


@implements(torch.masked_fill, torch.Tensor.masked_fill)
def masked_fill(input: Any, mask: Any, value: Any) -> Any:  # noqa: A002
    """torch.masked_fill: input with `value` where `mask` (boolean, broadcast) holds."""
    mask = unwrap(mask)
    if mask.dtype != torch.bool:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {_name(mask.dtype)}")
    return _fill("masked_fill_", input, mask, value)


@implements(torch.index_fill, torch.Tensor.index_fill)
def index_fill(input: Any, dim: int, index: Any, value: Any) -> Any:  # noqa: A002
    """torch.index_fill: input with `value` at the positions `index` along `dim` (repeats fill once)."""
    index = _index(index, "index_fill", _LONG, "index_fill_(): Expected dtype int64 for index.", IndexError)
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    d = normalize_dim(dim, input.ndim)
    mask = torch.zeros(input.shape[d] if input.ndim else 1, dtype=torch.bool, device=input.device)
    mask[index.to(input.device)] = True
    mask = mask.reshape((-1,) + (1,) * (input.ndim - d - 1) if input.ndim else ())
    return _fill("index_fill_", input, mask, value)


@implements(torch.masked_scatter, torch.Tensor.masked_scatter)
def masked_scatter(input: Any, mask: Any, source: Any) -> Any:  # noqa: A002
    """torch.masked_scatter: input with source's leading elements written, in order, where `mask`
    (boolean, broadcast with input) holds."""
    mask = unwrap(mask)
    if mask.dtype != torch.bool:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {_name(mask.dtype)}")
    if source.dtype != input.dtype:
        raise RuntimeError(
            f"masked_scatter: expected self and source to have same dtypes but got {input.dtype} and {source.dtype}"
        )
    shape = tuple(torch.broadcast_shapes(input.shape, mask.shape))
    x = input if tuple(input.shape) == shape else ops.expand(input, shape=shape)
    mask = mask.expand(shape)
    count = int(mask.sum())
    if source.numel() < count:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    values = ops.getitem(ops.reshape(source, shape=(-1,)), index=slice(0, count))
    return ops.index_put(x, values, index=mask)


@implements(torch.put, torch.Tensor.put)
def put(input: Any, index: Any, source: Any, accumulate: bool = False) -> Any:  # noqa: A002
    """torch.put: input with source's elements written (or added, with `accumulate`) at `index` of its
    flattened values (negative ones count from the end)."""
    index = _index(index, "put", _LONG, "put_(): Expected a long tensor for index, but got {dtype}")
    if source.numel() != index.numel():
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {index.numel()}"
        )
    if source.dtype != input.dtype:
        raise RuntimeError(
            "put_(): self and source expected to have the same dtype, but got "
            f"self.dtype = {_name(input.dtype)} and source.dtype = {_name(source.dtype)}"
        )
    flat = ops.index_put(
        ops.reshape(input, shape=(-1,)),
        ops.reshape(source, shape=(-1,)),
        index=(index.reshape(-1),),
        accumulate=accumulate,
    )
    return ops.reshape(flat, shape=tuple(input.shape))


@implements(torch.index_put, torch.Tensor.index_put)
def index_put(input: Any, indices: Sequence[Any], values: Any, accumulate: bool = False) -> Any:  # noqa: A002
    """torch.index_put: input with `values` written (or added, with `accumulate`) at input[indices],
    `indices` a tuple of integer or boolean tensors."""
    if not isinstance(values, (torch.Tensor, Variable)):
        raise TypeError(f"index_put(): argument 'values' (position 3) must be Tensor, not {type(values).__name__}")
    if values.dtype != input.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{_name(input.dtype)} for the destination and {_name(values.dtype)} for the source."
        )
    index = tuple(unwrap(i) for i in indices)
    return ops.index_put(input, values, index=index, accumulate=accumulate)


def _scatter_into(name: str, x: Any, src: Any, index: tuple[Any, ...]) -> Any:
    """x with src written at x[index], src of exactly that shape (select/slice/diagonal_scatter)."""
    expected = tuple(unwrap(x)[index].shape)
    if tuple(src.shape) != expected:
        raise RuntimeError(
            f"{name}: expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
            f"slice size = {list(expected)}"
        )
    return ops.index_put(x, src, index=index)


@implements(torch.select_scatter, torch.Tensor.select_scatter)
def select_scatter(input: Any, src: Any, dim: int, index: int) -> Any:  # noqa: A002
    """torch.select_scatter: input with `src` written at input.select(dim, index)."""
    d = normalize_dim(dim, input.ndim)
    return _scatter_into("select_scatter", input, src, (slice(None),) * d + (index,))


@implements(torch.slice_scatter, torch.Tensor.slice_scatter)
def slice_scatter(
    input: Any,  # noqa: A002
    src: Any,
    dim: int = 0,
    start: int | None = None,
    end: int | None = None,
    step: int = 1,
) -> Any:
    """torch.slice_scatter: input with `src` written at input's slice start:end:step along `dim`."""
    d = normalize_dim(dim, input.ndim)
    return _scatter_into("slice_scatter", input, src, (slice(None),) * d + (slice(start, end, step),))


@implements(torch.diagonal_scatter, torch.Tensor.diagonal_scatter)
def diagonal_scatter(input: Any, src: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:  # noqa: A002
    """torch.diagonal_scatter: input with `src` written on the diagonal that torch.diagonal(input, offset,
    dim1, dim2) reads."""
    d1, d2 = normalize_dim(dim1, input.ndim), normalize_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    length = max(0, min(input.shape[d1] + min(offset, 0), input.shape[d2] - max(offset, 0)))
    steps = torch.arange(length, device=input.device)
    rows, cols = steps - min(offset, 0), steps + max(offset, 0)
    order = [i for i in range(input.ndim) if i not in (d1, d2)] + [d1, d2]
    moved = ops.permute(input, dims=tuple(order))  # the diagonal's dims last: x[..., rows, cols] is it
    out = _scatter_into("diagonal_scatter", moved, src, (Ellipsis, rows, cols))
    return ops.permute(out, dims=ops.inverse_permutation(order))


# --- x[index] = value and the in-place methods ----------------------------------------------------
def _requires_grad(args: Sequence[Any]) -> bool:
    return any(isinstance(a, Variable) and a._requires_grad for a in args)


def in_place(name: str, out_of_place: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
    """torch.Tensor.<name> (an in-place method) on `self`, as torch does it.

    While recording, a Variable that requires grad or is given one gets the result of `out_of_place`,
    and its node: the same Python object now holds the new values and differentiates to both the old
    ones and the arguments (the old tensor is left as it was, so what backward saved stays valid). A leaf
    that requires grad is refused, as in torch, and so is a view of one. A view (`y[1:3]`, `y.view(-1)`,
    `y.t()`, ...) passes the new values on to its base, which it shares storage with in torch (see
    `rebind`). Otherwise (and under ag.no_grad or torch.no_grad, as for initialising parameters) the
    method runs on the tensors themselves, whose storage views share."""
    recording = is_grad_enabled() and torch.is_grad_enabled() and _requires_grad((self, *args, *kwargs.values()))
    if not recording:
        getattr(unwrap(self), name)(*unwrap_all(args), **{k: unwrap_all(v) for k, v in kwargs.items()})
        return self
    if not isinstance(self, Variable):
        raise TypeError(
            f"torch.Tensor.{name}: a torch.Tensor cannot hold a Variable that requires grad (its gradient would "
            "be lost); make the destination a Variable (ag.Variable(tensor)), or build the result out of place "
            "(torch.where, torch.cat, torch.stack, index_put)"
        )
    if self.is_leaf and self._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    check_views(self)
    result = out_of_place(self, *args, **kwargs)
    if result.shape != self.shape:
        raise RuntimeError(
            f"torch.Tensor.{name}: the result's shape {tuple(result.shape)} differs from the shape "
            f"{tuple(self.shape)} of the Variable it would be written into"
        )
    rebind(self, result)
    return self


def check_views(target: Variable) -> None:
    """Refuse, as torch does, an in-place write while recording to a view of a leaf that requires grad (at
    any depth) or to a piece of split, chunk or unbind."""
    base = _base_of(target)
    while base is not None:
        if base.is_leaf and base._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
        base = _base_of(base)


def _base_of(v: Variable) -> Variable | None:
    view = getattr(v, "_view", None)  # a slot set on view results only
    if view is None:
        return None
    if view[3] is not None:  # a piece of split, chunk or unbind: torch's refusal, see `refuse_in_place`
        raise RuntimeError(view[3])
    return view[0]


def refuse_in_place(pieces: tuple[Any, ...], function: str) -> tuple[Any, ...]:
    """Mark the views a multi-view function (split, chunk, unbind) returns: writing one in place while
    recording is torch's RuntimeError (torch's autograd cannot rebase several views of one base), worded
    by whether the split was recorded."""
    why = (
        "This view is the output of a function that returns multiple views. Such functions do not allow the "
        "output views to be modified inplace. You should replace the inplace operation by an out-of-place one."
    )
    for i, piece in enumerate(pieces):
        if isinstance(piece, Variable):
            refusal = (
                f"Output {i} of {function} is a view and is being modified inplace. {why}"
                if piece._requires_grad
                else f"A view was created in no_grad mode and is being modified inplace with grad mode enabled. {why}"
            )
            base, prim, kwargs, _ = getattr(piece, "_view", (None, None, None, None))
            piece._view = (base, prim, kwargs, refusal)
    return pieces


def rebind(target: Variable, value: Variable, source: Variable | None = None) -> None:
    """`target` (the same Python object) now holds `value`'s data and node, and everything that shares its
    storage in torch sees the new values, as torch's shared storage would:
    - where `target` is a view of a base Variable, the base (and its own base, and so on) takes the new
      values at the positions the view reads: base = index_put(base, positions, value), so the base's
      gradient flows to its old values elsewhere and to `value` there (torch's CopySlices);
    - the views taken of `target` before (and of its base, but `source`, the view being written) are
      views of the new values: each is its view primitive again, on them; a `.detach()`ed alias holds them.
    """
    view = getattr(target, "_view", None)
    if view is not None and view[0] is not None:
        base, prim, kwargs, _ = view
        rebind(base, _write_through(base, prim, kwargs, value), source=target)
    _hold(target, value, source)


def _hold(target: Variable, value: Variable, skip: Variable | None = None) -> None:
    """`target` holds `value`'s data and node, and its views and aliases (but `skip`) follow."""
    target.data, target._node, target._requires_grad = value.data, value._node, value._requires_grad
    for ref in list(getattr(target, "_views", ())):
        alias = ref()
        if alias is None or alias is skip:
            continue
        seen = getattr(alias, "_view", None)
        if seen is None or seen[0] is not target:  # a detached alias: the values, outside any graph
            alias.data = target.data
        else:
            _hold(alias, seen[1](target, **seen[2]))


def _write_through(base: Variable, prim: Any, kwargs: dict[str, Any], value: Variable) -> Variable:
    """`base` with `value` written where the view `prim(base, **kwargs)` reads it."""
    positions = torch.arange(base.numel(), device=base.device).reshape(base.shape)
    where = prim.forward(positions, **kwargs).reshape(-1)  # the view, replayed on base's flat positions
    if where.numel() != torch.unique(where).numel():  # an expanded or overlapping view (expand, unfold)
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single memory "
            "location. Please clone() the tensor before performing the operation."
        )
    flat = ops.index_put(ops.reshape(base, shape=(-1,)), ops.reshape(value, shape=(-1,)), index=(where,))
    return ops.reshape(flat, shape=tuple(base.shape))


def _assign(x: Any, index: Any, value: Any) -> Any:
    return ops.index_put(x, value, index=unwrap_all(index))


def setitem(x: Any, index: Any, value: Any) -> None:
    """x[index] = value, as torch does it (Variable.__setitem__): any index, value a number or a tensor
    (broadcast, cast to x's dtype). While recording, overwritten positions of x's old value get no
    gradient and every element of value gets that of each position it was written to."""
    in_place("__setitem__", _assign, x, index, value)


implements(torch.Tensor.__setitem__)(setitem)


@implements(torch.Tensor.__getitem__)
def _getitem(self: Any, index: Any) -> Any:
    """tensor[index] with Variables in the index: indexed by their values (a constant, as a tensor)."""
    if isinstance(self, Variable):
        return self[index]
    return self[unwrap_all(index)]


def in_place_method(name: str, out_of_place: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return in_place(name, out_of_place, self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"torch.Tensor.{name}: in place, as torch does it (see `in_place`)."
    return method


_IN_PLACE: dict[str, Callable[..., Any]] = {
    "scatter_": scatter,
    "scatter_add_": scatter_add,
    "scatter_reduce_": scatter_reduce,
    "index_add_": index_add,
    "index_copy_": index_copy,
    "index_fill_": index_fill,
    "index_reduce_": index_reduce,
    "masked_fill_": masked_fill,
    "masked_scatter_": masked_scatter,
    "index_put_": index_put,
    "put_": put,
}
for _method, _fn in _IN_PLACE.items():
    implements(getattr(torch.Tensor, _method))(in_place_method(_method, _fn))
