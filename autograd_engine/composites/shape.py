"""Shape and layout with torch's names, signatures, return types and errors: reshape, permute, cat, stack,
split, chunk, flip, roll, repeat, diagonal, tril, pad...

Most are compositions of reshape, permute, expand, getitem and cat; flip, roll, tril/triu, diagonal,
Tensor.unfold, clone and the reflect/replicate pads have primitives of their own (ops/shape.py). Where
the checks are torch's own (sizes that must add up, dims to move), the function runs torch on a `meta`
tensor of the input's shape first: torch's exception, in torch's words, without touching any data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as tnf

from .. import ops
from ..dispatch import implements
from ..ops import normalize_dim, normalize_dims
from ..variable import Variable, _shape_arg, unwrap
from .indexing import refuse_in_place

__all__ = [
    "adjoint",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_tensors",
    "broadcast_to",
    "block_diag",
    "cartesian_prod",
    "cat",
    "chunk",
    "clone",
    "column_stack",
    "concatenate",
    "contiguous",
    "diag",
    "diag_embed",
    "diagflat",
    "diagonal",
    "dsplit",
    "dstack",
    "expand",
    "flatten",
    "flip",
    "fliplr",
    "flipud",
    "fold",
    "hsplit",
    "hstack",
    "movedim",
    "narrow",
    "narrow_copy",
    "pad",
    "permute",
    "ravel",
    "repeat",
    "repeat_interleave",
    "reshape",
    "reshape_as",
    "roll",
    "rot90",
    "select",
    "split",
    "split_with_sizes",
    "squeeze",
    "stack",
    "swapaxes",
    "t",
    "tensor_split",
    "tile",
    "transpose",
    "tril",
    "triu",
    "unbind",
    "unflatten",
    "unfold",
    "unsafe_chunk",
    "unsafe_split",
    "unsqueeze",
    "view_as",
    "vsplit",
    "vstack",
]

Dims = int | Sequence[int] | None

# the methods that take sizes or dims as *args are Variable's own; these make `torch.Tensor.view(v, ...)`
# and `tensor.expand_as(v)` reach them too
implements(torch.Tensor.reshape)(Variable.reshape)
implements(torch.Tensor.view)(Variable.view)
implements(torch.Tensor.permute)(Variable.permute)
implements(torch.Tensor.expand)(Variable.expand)
implements(torch.Tensor.expand_as)(Variable.expand_as)


def _meta(x: Any) -> Any:
    """A tensor of x's shape without storage: torch's own checks, on no data."""
    return torch.empty(tuple(x.shape), device="meta")


def _along(dim: int, item: Any) -> tuple[Any, ...]:
    """The index that applies `item` (a slice or an int) to dim `dim` (non-negative)."""
    return (slice(None),) * dim + (item,)


# --- reshaping ------------------------------------------------------------------------------------
@implements(torch.reshape)
def reshape(input: Any, shape: Sequence[int]) -> Any:  # noqa: A002
    """Same values in `shape` (one entry may be -1)."""
    return ops.reshape(input, shape=tuple(shape))


@implements(torch.Tensor.view_as)
def view_as(input: Any, other: Any) -> Any:  # noqa: A002
    """input.view(other.shape)."""
    return input.view(tuple(other.shape))


@implements(torch.Tensor.reshape_as)
def reshape_as(input: Any, other: Any) -> Any:  # noqa: A002
    """input.reshape(other.shape)."""
    return reshape(input, tuple(other.shape))


@implements(torch.flatten, torch.Tensor.flatten)
def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:  # noqa: A002
    """Merge dims start_dim..end_dim into one (a 0-d tensor becomes 1-d)."""
    shape = tuple(input.shape)
    start, end = normalize_dim(start_dim, len(shape)), normalize_dim(end_dim, len(shape))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if not shape:
        return reshape(input, (1,))
    return reshape(input, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])


@implements(torch.ravel, torch.Tensor.ravel)
def ravel(input: Any) -> Any:  # noqa: A002
    """The elements as one dim."""
    return reshape(input, (-1,))


@implements(torch.unflatten, torch.Tensor.unflatten)
def unflatten(input: Any, dim: int, sizes: Sequence[int]) -> Any:  # noqa: A002
    """Split dim `dim` into `sizes` (one may be -1)."""
    return reshape(input, tuple(_meta(input).unflatten(dim, sizes).shape))


@implements(torch.unsqueeze, torch.Tensor.unsqueeze)
def unsqueeze(input: Any, dim: int) -> Any:  # noqa: A002
    """A new dim of size 1 at `dim`."""
    shape = list(input.shape)
    shape.insert(normalize_dim(dim, len(shape) + 1), 1)
    return reshape(input, shape)


@implements(torch.squeeze, torch.Tensor.squeeze)
def squeeze(input: Any, dim: Dims = None) -> Any:  # noqa: A002
    """Drop the size-1 dims: all of them, or those among `dim` (an int or a tuple); other dims stay."""
    shape = tuple(input.shape)
    if dim is None:
        dims: Sequence[int] = range(len(shape))
    else:
        dims = normalize_dims(dim, len(shape)) if isinstance(dim, int) or len(dim) else ()
    kept = tuple(n for i, n in enumerate(shape) if n != 1 or i not in dims)
    return input if kept == shape else reshape(input, kept)


def _expand_size(x: Any, n: int) -> tuple[int, ...]:
    """x's shape with leading 1s up to n dims (torch.atleast_3d puts a 1-d tensor in the middle)."""
    shape = tuple(x.shape)
    if len(shape) >= n:
        return shape
    if n == 3 and len(shape) == 1:
        return (1, shape[0], 1)
    if n == 3 and len(shape) == 2:
        return shape + (1,)
    return (1,) * (n - len(shape)) + shape


def _atleast(n: int, tensors: tuple[Any, ...]) -> Any:
    if len(tensors) == 1:
        tensors = tensors[0]
        if not isinstance(tensors, (list, tuple)):
            x = tensors
            size = _expand_size(x, n)
            return x if size == tuple(x.shape) else reshape(x, size)
    return tuple(_atleast(n, (x,)) for x in tensors)


_VF: Any = torch._C._VariableFunctions  # type: ignore[attr-defined]  # where a list of Variables goes


@implements(torch.atleast_1d, _VF.atleast_1d)
def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least one dim (one tensor in, one out; several or a sequence: a tuple)."""
    return _atleast(1, tensors)


@implements(torch.atleast_2d, _VF.atleast_2d)
def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least two dims (leading 1s)."""
    return _atleast(2, tensors)


@implements(torch.atleast_3d, _VF.atleast_3d)
def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least three dims ((n,) -> (1, n, 1), (m, n) -> (m, n, 1))."""
    return _atleast(3, tensors)


# --- dims -----------------------------------------------------------------------------------------
@implements(torch.permute)
def permute(input: Any, dims: Sequence[int]) -> Any:  # noqa: A002
    """Reorder the dims."""
    return ops.permute(input, dims=tuple(dims))


@implements(torch.transpose, torch.Tensor.transpose, torch.swapdims, torch.Tensor.swapdims)
def transpose(input: Any, dim0: int, dim1: int) -> Any:  # noqa: A002
    """Swap two dims."""
    return ops.transpose(input, dim0, dim1)


@implements(torch.swapaxes, torch.Tensor.swapaxes)
def swapaxes(input: Any, axis0: int, axis1: int) -> Any:  # noqa: A002
    """Swap two dims (numpy's name)."""
    return ops.transpose(input, axis0, axis1)


@implements(torch.t, torch.Tensor.t)
def t(input: Any) -> Any:  # noqa: A002
    """Transpose a matrix; a 0-d or 1-d tensor as it is."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return input if input.ndim < 2 else ops.transpose(input, 0, 1)


def matrix_transpose(x: Any, what: str = "tensor.mT") -> Any:
    """Swap the last two dims (Tensor.mT, mH and adjoint on real tensors), as torch refuses them below 2-d."""
    if x.ndim < 2:
        raise RuntimeError(f"{what} is only supported on matrices or batches of matrices. Got {x.ndim}-D tensor.")
    return ops.transpose(x, -2, -1)


@implements(torch.adjoint, torch.Tensor.adjoint)
def adjoint(input: Any) -> Any:  # noqa: A002
    """The conjugate transpose of the last two dims (real tensors: the transpose)."""
    return matrix_transpose(input, "tensor.adjoint()")


@implements(torch.movedim, torch.moveaxis, torch.Tensor.movedim, torch.Tensor.moveaxis)
def movedim(input: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:  # noqa: A002
    """Move the dims at `source` to the positions `destination`; the others keep their order."""
    _meta(input).movedim(source, destination)  # torch's checks: lengths, repeats, ranges
    n = input.ndim
    src = [normalize_dim(d, n) for d in ((source,) if isinstance(source, int) else source)]
    dst = [normalize_dim(d, n) for d in ((destination,) if isinstance(destination, int) else destination)]
    order = [-1] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(n) if i not in src)
    return permute(input, [d if d >= 0 else next(rest) for d in order])


# --- broadcasting ---------------------------------------------------------------------------------
def expand(input: Any, size: Sequence[int]) -> Any:  # noqa: A002
    """Broadcast to `size` without copying (-1 keeps a dim); torch.Tensor.expand takes sizes as *args."""
    return ops.expand(input, shape=tuple(size))


@implements(torch.broadcast_to, torch.Tensor.broadcast_to)
def broadcast_to(input: Any, size: Sequence[int]) -> Any:  # noqa: A002
    """input.expand(size)."""
    return expand(input, size)


@implements(torch.broadcast_tensors)
def broadcast_tensors(*tensors: Any) -> tuple[Any, ...]:
    """The tensors expanded to their common broadcast shape."""
    shape = torch.broadcast_tensors(*(_meta(x) for x in tensors))[0].shape  # (torch's error where they do not)
    return tuple(x if x.shape == shape else expand(x, shape) for x in tensors)


# --- joining --------------------------------------------------------------------------------------
@implements(torch.cat, torch.concat)
def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Concatenate along an existing dim; 1-d empty tensors are skipped, as torch skips them."""
    if len(tensors) == 0:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    kept = [x for x in tensors if x.ndim != 1 or x.shape[0] != 0]
    return ops.cat(*(kept if kept and len(kept) < len(tensors) else tensors), dim=dim)


@implements(torch.concatenate)
def concatenate(tensors: Sequence[Any], dim: int = 0) -> Any:
    """torch.cat (numpy's name; numpy's axis= is torch's dim=, as for every op)."""
    return cat(tensors, dim)


@implements(torch.stack)
def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    """Join tensors of one shape along a new dim."""
    if len(tensors) == 0:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tuple(tensors[0].shape)
    for i, x in enumerate(tensors):
        if tuple(x.shape) != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(x.shape)} at entry {i}"
            )
    d = normalize_dim(dim, len(shape) + 1)
    return cat([unsqueeze(x, d) for x in tensors], d)


@implements(torch.hstack)
def hstack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 1 (dim 0 for 1-d tensors)."""
    xs = [_atleast(1, (x,)) for x in tensors]
    return cat(xs, 0 if xs and xs[0].ndim == 1 else 1)


@implements(torch.vstack, torch.row_stack)
def vstack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 0, 1-d tensors as rows."""
    return cat([_atleast(2, (x,)) for x in tensors], 0)


@implements(torch.dstack)
def dstack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 2 (after atleast_3d)."""
    return cat([_atleast(3, (x,)) for x in tensors], 2)


@implements(torch.column_stack)
def column_stack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 1, 0-d and 1-d tensors as columns."""
    return cat([reshape(x, (x.numel(), 1)) if x.ndim < 2 else x for x in tensors], 1)


@implements(torch.block_diag)
def block_diag(*tensors: Any) -> Any:
    """The tensors (at most 2-d; 0-d and 1-d ones as one row) as the blocks of a block-diagonal matrix."""
    if not tensors:
        return torch.block_diag()
    for i, x in enumerate(tensors):
        if x.ndim > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {x.ndim} dimensions"
            )
    blocks = [x if x.ndim == 2 else reshape(x, (1, -1)) for x in tensors]
    total, rows, left = sum(b.shape[1] for b in blocks), [], 0
    for b in blocks:
        rows.append(ops.pad(b, widths=(left, total - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


@implements(torch.cartesian_prod)
def cartesian_prod(*tensors: Any) -> Any:
    """The rows of every combination of one element from each 1-d tensor (one tensor: itself)."""
    for x in tensors:
        if x.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    size = tuple(x.shape[0] for x in tensors)
    k = len(tensors)
    grids = [expand(reshape(x, (1,) * i + (-1,) + (1,) * (k - 1 - i)), size) for i, x in enumerate(tensors)]
    return stack([reshape(g, (-1,)) for g in grids], 1)


# --- splitting ------------------------------------------------------------------------------------
def _slices(x: Any, dim: int, pieces: Sequence[torch.Tensor]) -> tuple[Any, ...]:
    """x cut along `dim` into consecutive slices of the sizes of torch's `pieces`."""
    d = normalize_dim(dim, x.ndim)
    out, start = [], 0
    for p in pieces:
        out.append(ops.getitem(x, index=_along(d, slice(start, start + p.shape[d]))))
        start += p.shape[d]
    return tuple(out)


def _split(fn: Any, x: Any, sizes: Any, dim: int) -> tuple[Any, ...]:
    """x cut along `dim` as torch's split function `fn` cuts it (its checks and errors, on a meta tensor);
    the pieces of torch.split and split_with_sizes are not to be written in place, as in torch."""
    pieces = _slices(x, dim, fn(_meta(x), sizes, dim))
    if fn is torch.unsafe_split:
        return pieces
    return refuse_in_place(pieces, "Split" if isinstance(sizes, int) else "SplitWithSizes")


@implements(torch.split)
def split(tensor: Any, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Any, ...]:
    """Pieces of `split_size_or_sections` along `dim` (an int: equal pieces, the last one smaller)."""
    return _split(torch.split, tensor, split_size_or_sections, dim)


@implements(torch.Tensor.split)
def _split_method(self: Any, split_size: int | Sequence[int], dim: int = 0) -> tuple[Any, ...]:
    """Tensor.split: torch.split with torch.Tensor.split's keyword name, `split_size`."""
    return _split(torch.split, self, split_size, dim)


@implements(torch.unsafe_split, torch.Tensor.unsafe_split)
def unsafe_split(input: Any, split_size: int, dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """Equal pieces of `split_size` along `dim` (the last one smaller); the same as split here."""
    return _split(torch.unsafe_split, input, split_size, dim)


@implements(torch.split_with_sizes, torch.Tensor.split_with_sizes)
def split_with_sizes(input: Any, split_sizes: Sequence[int], dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """Pieces of the given `split_sizes` (which must add up to the dim's size) along `dim`."""
    return _split(torch.split_with_sizes, input, split_sizes, dim)


@implements(torch.chunk, torch.Tensor.chunk)
def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """At most `chunks` pieces of equal size along `dim` (the last one smaller); not to be written in place."""
    return refuse_in_place(unsafe_chunk(input, chunks, dim), "Split")


@implements(torch.unsafe_chunk, torch.Tensor.unsafe_chunk)
def unsafe_chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """torch.chunk's pieces, which may be written in place (each a view of `input`)."""
    return _slices(input, dim, torch.chunk(_meta(input), chunks, dim))


def _overload_args(positional: Any, **named: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The argument that picks one of torch's overloads, as given: positionally, or by that overload's
    name (tensor_split(x, sections=2), tensor_split(x, indices=[1, 3])); as values."""
    return (() if positional is None else (unwrap(positional),)), {
        k: unwrap(v) for k, v in named.items() if v is not None
    }


@implements(torch.tensor_split, torch.Tensor.tensor_split)
def tensor_split(
    input: Any,  # noqa: A002
    indices_or_sections: Any = None,
    /,
    dim: int = 0,
    *,
    sections: int | None = None,
    indices: Sequence[int] | None = None,
    tensor_indices_or_sections: Any = None,
) -> tuple[Any, ...]:
    """`sections` pieces of sizes differing by at most one, or the pieces between `indices` (a tensor:
    either, by its number of dims); given positionally or by the name of torch's overload."""
    args, kwargs = _overload_args(
        indices_or_sections, sections=sections, indices=indices, tensor_indices_or_sections=tensor_indices_or_sections
    )
    split: Any = torch.tensor_split  # (an overload chosen at run time)
    pieces = split(_meta(input), *args, dim=dim, **kwargs)  # torch's checks: exactly one given
    given = (*args, *kwargs.values())[0]
    if isinstance(given, torch.Tensor):
        given = given.tolist()
    if isinstance(given, int):
        return _slices(input, dim, pieces)
    d = normalize_dim(dim, input.ndim)
    bounds = [None, *given, None]
    return tuple(ops.getitem(input, index=_along(d, slice(a, b))) for a, b in zip(bounds, bounds[1:]))


def _split_along(name: str, x: Any, dim: int, positional: Any, **named: Any) -> tuple[Any, ...]:
    args, kwargs = _overload_args(positional, **named)
    getattr(torch, name)(_meta(x), *args, **kwargs)  # torch's checks: dims, divisibility
    return tensor_split(x, (*args, *kwargs.values())[0], dim)


@implements(torch.hsplit, torch.Tensor.hsplit)
def hsplit(
    input: Any,  # noqa: A002
    indices_or_sections: Any = None,
    /,
    *,
    sections: int | None = None,
    indices: Sequence[int] | None = None,
) -> tuple[Any, ...]:
    """tensor_split along dim 1 (dim 0 of a 1-d tensor), equal sections only."""
    dim = 0 if input.ndim == 1 else 1
    return _split_along("hsplit", input, dim, indices_or_sections, sections=sections, indices=indices)


@implements(torch.vsplit, torch.Tensor.vsplit)
def vsplit(
    input: Any,  # noqa: A002
    indices_or_sections: Any = None,
    /,
    *,
    sections: int | None = None,
    indices: Sequence[int] | None = None,
) -> tuple[Any, ...]:
    """tensor_split along dim 0, equal sections only."""
    return _split_along("vsplit", input, 0, indices_or_sections, sections=sections, indices=indices)


@implements(torch.dsplit, torch.Tensor.dsplit)
def dsplit(
    input: Any,  # noqa: A002
    indices_or_sections: Any = None,
    /,
    *,
    sections: int | None = None,
    indices: Sequence[int] | None = None,
) -> tuple[Any, ...]:
    """tensor_split along dim 2, equal sections only."""
    return _split_along("dsplit", input, 2, indices_or_sections, sections=sections, indices=indices)


@implements(torch.unbind, torch.Tensor.unbind)
def unbind(input: Any, dim: int = 0) -> tuple[Any, ...]:  # noqa: A002
    """The slices along `dim`, that dim removed."""
    if input.ndim == 0:
        _meta(input).unbind(dim)  # torch's error
    d = normalize_dim(dim, input.ndim)
    return refuse_in_place(tuple(ops.getitem(input, index=_along(d, i)) for i in range(input.shape[d])), "Unbind")


@implements(torch.narrow_copy, torch.Tensor.narrow_copy)
def narrow_copy(input: Any, dim: int, start: Any, length: int) -> Any:  # noqa: A002
    """narrow's elements in a new tensor (in-place writes to it do not reach `input`)."""
    return ops.clone(narrow(input, dim, start, length))


@implements(torch.narrow, torch.Tensor.narrow)
def narrow(input: Any, dim: int, start: Any, length: int) -> Any:  # noqa: A002
    """`length` elements along `dim` from `start` (negative: from the end)."""
    start = unwrap(start)
    _meta(input).narrow(dim, start, length)  # torch's checks
    d = normalize_dim(dim, input.ndim)
    begin = int(start) + (input.shape[d] if int(start) < 0 else 0)
    return ops.getitem(input, index=_along(d, slice(begin, begin + length)))


@implements(torch.select, torch.Tensor.select)
def select(input: Any, dim: int, index: int) -> Any:  # noqa: A002
    """The slice at `index` along `dim`, that dim removed."""
    index = int(unwrap(index))
    _meta(input).select(dim, index)  # torch's checks
    return ops.getitem(input, index=_along(normalize_dim(dim, input.ndim), index))


# --- reordering and repeating ---------------------------------------------------------------------
@implements(torch.flip)
def flip(input: Any, dims: Sequence[int]) -> Any:  # noqa: A002
    """Reverse the order of the elements along `dims`."""
    return ops.flip(input, dims=(dims,) if isinstance(dims, int) else tuple(dims))


def _sizes(name: str, args: tuple[Any, ...], keyword: str, value: Any) -> tuple[int, ...]:
    """A method's sizes or dims as torch takes them: as arguments, as one sequence, or by its keyword."""
    if value is None:
        return _shape_arg(args)
    if args:
        raise TypeError(f"{name}() got multiple values for argument '{keyword}'")
    return (value,) if isinstance(value, int) else tuple(value)


@implements(torch.Tensor.flip)
def tensor_flip(input: Any, *args: Any, dims: Dims = None) -> Any:  # noqa: A002
    """Tensor.flip(*dims): the dims as arguments, as one sequence or as dims=."""
    return flip(input, _sizes("flip", args, "dims", dims))


def _flip_one(x: Any, dim: int) -> Any:
    if x.ndim <= dim:
        raise RuntimeError(f"Input must be >= {dim + 1}-d.")
    return ops.flip(x, dims=(dim,))


@implements(torch.fliplr, torch.Tensor.fliplr)
def fliplr(input: Any) -> Any:  # noqa: A002
    """Reverse dim 1 (left to right)."""
    return _flip_one(input, 1)


@implements(torch.flipud, torch.Tensor.flipud)
def flipud(input: Any) -> Any:  # noqa: A002
    """Reverse dim 0 (up to down)."""
    return _flip_one(input, 0)


@implements(torch.roll, torch.Tensor.roll)
def roll(input: Any, shifts: int | Sequence[int], dims: Dims = None) -> Any:  # noqa: A002
    """Shift the elements along `dims`, wrapping around; without dims, of the flattened tensor."""
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = () if dims is None else (dims,) if isinstance(dims, int) else tuple(dims)
    return ops.roll(input, shifts=shifts, dims=dims)


@implements(torch.rot90, torch.Tensor.rot90)
def rot90(input: Any, k: int = 1, dims: Sequence[int] = (0, 1)) -> Any:  # noqa: A002
    """Rotate by 90 degrees k times, from the first towards the second of `dims`."""
    _meta(input).rot90(k, dims)  # torch's checks
    a, b = dims
    k %= 4
    if k == 0:
        return input
    if k == 2:
        return ops.flip(input, dims=(a, b))
    return ops.transpose(ops.flip(input, dims=(b,) if k == 1 else (a,)), a, b)


@implements(torch.Tensor.repeat)
def repeat(input: Any, *args: Any, repeats: Sequence[int] | None = None) -> Any:  # noqa: A002
    """Tile the tensor `repeats` times along each dim (more than dims: new leading dims); as arguments,
    as one sequence or as repeats=. A new tensor, as torch's (a copy where the tiling is only a view).
    Built so that the gradient sums as torch's repeat_backward does: over each new leading dim in turn,
    outermost first, then over the tiled copies of every own dim at once."""
    sizes = _sizes("repeat", args, "repeats", repeats)
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    lead, own = sizes[: len(sizes) - input.ndim], sizes[len(sizes) - input.ndim :]
    shape = tuple(input.shape)
    out = (*lead, *(r * n for r, n in zip(own, shape)))
    negative = [n for n in out if n < 0]
    if negative:
        raise RuntimeError(f"Trying to create tensor with negative dimension {negative[0]}: {list(out)}")
    interleaved = tuple(n for pair in zip(own, shape) for n in pair)
    tiled = reshape(expand(reshape(input, tuple(n for m in shape for n in (1, m))), interleaved), out[len(lead) :])
    for r in reversed(lead):
        tiled = expand(tiled, (r, *tiled.shape))
    return tiled if unwrap(tiled)._base is None else ops.clone(tiled, memory_format=torch.contiguous_format)


@implements(torch.tile)
def tile(input: Any, dims: Sequence[int]) -> Any:  # noqa: A002
    """repeat, with fewer dims than the tensor's taken as leading 1s."""
    dims = tuple(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


@implements(torch.Tensor.tile)
def tensor_tile(input: Any, *args: Any, dims: Sequence[int] | None = None) -> Any:  # noqa: A002
    """Tensor.tile(*dims): the dims as arguments, as one sequence or as dims=."""
    return tile(input, _sizes("tile", args, "dims", dims))


@implements(torch.repeat_interleave, torch.Tensor.repeat_interleave)
def repeat_interleave(
    input: Any,  # noqa: A002
    repeats: Any = None,
    dim: int | None = None,
    *,
    output_size: int | None = None,
) -> Any:
    """Repeat each element `repeats` times (an int, or a tensor of one count per element) along `dim`
    (without dim, of the flattened tensor). One argument: the indices repeated by its counts."""
    if repeats is None:  # torch.repeat_interleave(counts): plain indices, never differentiated
        return torch.repeat_interleave(unwrap(input), output_size=output_size)
    x, d = (flatten(input), 0) if dim is None else (input, normalize_dim(dim, input.ndim))
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
        shape = tuple(x.shape)
        wide = expand(unsqueeze(x, d + 1), shape[: d + 1] + (repeats,) + shape[d + 1 :])
        return reshape(wide, shape[:d] + (shape[d] * repeats,) + shape[d + 1 :])
    counts = unwrap(repeats).to(x.device)
    if counts.ndim == 1 and counts.numel() not in (1, x.shape[d]):
        raise RuntimeError(
            "repeats must have the same size as input along dim, but got "
            f"repeats.size(0) = {counts.numel()} and input.size({d}) = {x.shape[d]}"
        )
    positions = torch.arange(x.shape[d], device=x.device)
    index = torch.repeat_interleave(positions, counts, output_size=output_size)
    return ops.getitem(x, index=_along(d, index))


# --- diagonals and triangles ----------------------------------------------------------------------
@implements(torch.diagonal, torch.Tensor.diagonal)
def diagonal(input: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:  # noqa: A002
    """The diagonal of the (dim1, dim2) planes, `offset` above the main one, as the last dim."""
    return ops.diagonal(input, offset=offset, dim1=dim1, dim2=dim2)


@implements(torch.diag_embed, torch.Tensor.diag_embed)
def diag_embed(input: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Any:  # noqa: A002
    """Matrices in the (dim1, dim2) planes with the last dim of input on their `offset` diagonal."""
    n = input.ndim + 1
    a, b = normalize_dim(dim1, n), normalize_dim(dim2, n)
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    shape = list(input.shape[:-1])
    size = input.shape[-1] + abs(offset)
    for d in sorted((a, b)):
        shape.insert(d, size)
    return ops.undiagonal(input, offset=offset, dim1=a, dim2=b, shape=tuple(shape))


@implements(torch.diag, torch.Tensor.diag)
def diag(input: Any, diagonal: int = 0) -> Any:  # noqa: A002
    """A 1-d tensor as the `diagonal` of a square matrix; the `diagonal` of a matrix as a 1-d tensor."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return ops.diagonal(input, offset=diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


@implements(torch.diagflat, torch.Tensor.diagflat)
def diagflat(input: Any, offset: int = 0) -> Any:  # noqa: A002
    """The flattened input as the `offset` diagonal of a square matrix."""
    return diag_embed(flatten(input), offset)


@implements(torch.tril, torch.Tensor.tril)
def tril(input: Any, diagonal: int = 0) -> Any:  # noqa: A002
    """The lower triangle (on and below `diagonal`) of the last two dims, zeros above."""
    return ops.tril(input, diagonal=diagonal)


@implements(torch.triu, torch.Tensor.triu)
def triu(input: Any, diagonal: int = 0) -> Any:  # noqa: A002
    """The upper triangle (on and above `diagonal`) of the last two dims, zeros below."""
    return ops.triu(input, diagonal=diagonal)


# --- copies ---------------------------------------------------------------------------------------
@implements(torch.clone, torch.Tensor.clone)
def clone(input: Any, *, memory_format: torch.memory_format = torch.preserve_format) -> Any:  # noqa: A002
    """A copy, differentiable (the gradient passes through unchanged)."""
    return ops.clone(input, memory_format=memory_format)


@implements(torch.Tensor.contiguous)
def contiguous(input: Any, memory_format: torch.memory_format = torch.contiguous_format) -> Any:  # noqa: A002
    """input itself where its data is contiguous (in `memory_format`), else a contiguous copy."""
    if unwrap(input).is_contiguous(memory_format=memory_format):
        return input
    return ops.clone(input, memory_format=memory_format)


@implements(torch.detach, torch.Tensor.detach)
def detach(input: Any) -> Any:  # noqa: A002
    """A new leaf sharing the values, outside any graph."""
    return input.detach()


# --- windows and padding --------------------------------------------------------------------------
@implements(torch.Tensor.unfold)
def tensor_unfold(input: Any, dimension: int, size: int, step: int) -> Any:  # noqa: A002
    """Tensor.unfold: the windows of `size` along `dimension`, every `step`, as a new last dim."""
    return ops.unfold_dim(input, dim=normalize_dim(dimension, input.ndim), size=size, step=step)


@implements(tnf.pad)
def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Any:  # noqa: A002
    """torch.nn.functional.pad: `pad` in (left, right) pairs from the last dim on; 'constant' fills with
    `value` (negative amounts crop), 'reflect' mirrors, 'replicate' repeats the edge, 'circular' wraps."""
    widths = tuple(pad)
    if mode == "constant":
        return ops.pad(input, widths=widths, value=0.0 if value is None else value)
    if value is not None or mode not in ("reflect", "replicate"):
        tnf.pad(_meta(input), widths, mode=mode, value=value)  # torch's checks for the mode
    if mode != "circular":
        return ops.pad_edges(input, widths=widths, mode=mode)
    x = input
    for i in range(len(widths) // 2):  # one dim at a time, from the last: cat(end, middle, start)
        d, left, right = x.ndim - 1 - i, widths[2 * i], widths[2 * i + 1]
        n = x.shape[d]
        crop = slice(max(-left, 0), n - max(-right, 0))
        middle = x if crop == slice(0, n) else ops.getitem(x, index=_along(d, crop))
        m = middle.shape[d]
        parts = [ops.getitem(middle, index=_along(d, slice(m - left, m)))] if left > 0 else []
        parts.append(middle)
        if right > 0:
            parts.append(ops.getitem(middle, index=_along(d, slice(0, right))))
        x = ops.cat(*parts, dim=d) if len(parts) > 1 else middle
    return x


@implements(tnf.unfold)
def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Any:  # noqa: A002
    """torch.nn.functional.unfold (im2col) on (N, C, H, W)."""
    return ops.unfold(input, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)


@implements(tnf.fold)
def fold(
    input: Any,  # noqa: A002
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Any:
    """torch.nn.functional.fold (col2im), the adjoint of unfold."""
    return ops.fold(
        input, output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride
    )
