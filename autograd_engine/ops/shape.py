"""Primitives: the shape family (forward on tensors + VJPs written in primitives).

Each is linear, so its VJP is its adjoint and backward keeps nothing but shapes: flip, roll, tril and
triu are their own adjoints (up to the sign of the shift); diagonal and undiagonal, unfold_dim and
fold_dim, pad_edges and unpad_edges are adjoint pairs, so gradients of gradients come for free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tnf

from ..primitive import primitive

__all__ = [
    "clone",
    "diagonal",
    "flip",
    "fold_dim",
    "pad_edges",
    "roll",
    "tril",
    "triu",
    "undiagonal",
    "unfold_dim",
    "unpad_edges",
]


@primitive()
def clone(x, *, memory_format=torch.preserve_format):
    """A copy of x (in `memory_format`): later in-place edits of either leave the other as it was."""
    return x.clone(memory_format=memory_format)


clone.defvjp(lambda g, ans, x, *, memory_format=torch.preserve_format: g)


@primitive()
def flip(x, *, dims):
    """Reverse the order of the elements along `dims`."""
    return torch.flip(x, dims)


flip.defvjp(lambda g, ans, x, *, dims: flip(g, dims=dims))


@primitive()
def roll(x, *, shifts, dims):
    """Shift the elements along `dims` by `shifts`, wrapping around (no dims: the flattened tensor)."""
    return torch.roll(x, shifts, dims)


roll.defvjp(lambda g, ans, x, *, shifts, dims: roll(g, shifts=tuple(-s for s in shifts), dims=dims))


@primitive()
def tril(x, *, diagonal=0):
    """The lower triangle of the last two dims (on and below `diagonal`), zeros elsewhere."""
    return torch.tril(x, diagonal)


@primitive()
def triu(x, *, diagonal=0):
    """The upper triangle of the last two dims (on and above `diagonal`), zeros elsewhere."""
    return torch.triu(x, diagonal)


tril.defvjp(lambda g, ans, x, *, diagonal=0: tril(g, diagonal=diagonal))
triu.defvjp(lambda g, ans, x, *, diagonal=0: triu(g, diagonal=diagonal))


@primitive(view=True)
def diagonal(x, *, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes, `offset` above the main one, as a new last dim."""
    return torch.diagonal(x, offset, dim1, dim2)


@primitive()
def undiagonal(g, *, offset, dim1, dim2, shape):
    """The adjoint of diagonal: zeros of `shape` with `g` on that diagonal (torch.diag_embed is one)."""
    return g.new_zeros(shape).diagonal_scatter(g, offset, dim1, dim2)


diagonal.defvjp(
    lambda g, ans, x, *, offset=0, dim1=0, dim2=1: undiagonal(
        g, offset=offset, dim1=dim1, dim2=dim2, shape=tuple(x.shape)
    )
)
undiagonal.defvjp(lambda h, ans, g, *, offset, dim1, dim2, shape: diagonal(h, offset=offset, dim1=dim1, dim2=dim2))


@primitive(view=True)
def unfold_dim(x, *, dim, size, step):
    """torch.Tensor.unfold: the windows of `size` along `dim`, every `step`, as a new last dim."""
    return x.unfold(dim, size, step)


@primitive()
def fold_dim(g, *, dim, size, step, shape):
    """The adjoint of unfold_dim: each window's values added back where the window was taken from."""
    if not shape:  # (a 0-d tensor has one window of one element)
        return g.reshape(shape)
    windows = g.shape[dim]
    starts = torch.arange(windows, device=g.device).unsqueeze(1) * step
    index = (starts + torch.arange(size, device=g.device)).reshape(-1)
    return g.new_zeros(shape).index_add(dim, index, g.movedim(-1, dim + 1).flatten(dim, dim + 1))


unfold_dim.defvjp(
    lambda g, ans, x, *, dim, size, step: fold_dim(g, dim=dim, size=size, step=step, shape=tuple(x.shape))
)
fold_dim.defvjp(lambda h, ans, g, *, dim, size, step, shape: unfold_dim(h, dim=dim, size=size, step=step))


@primitive()
def pad_edges(x, *, widths, mode):
    """torch.nn.functional.pad in mode 'reflect' or 'replicate' (`widths` last dim first)."""
    return tnf.pad(x, widths, mode=mode)


@primitive()
def unpad_edges(g, *, widths, mode, shape):
    """The adjoint of pad_edges: each padded element's gradient added to the element it copies."""
    kind = "reflection" if mode == "reflect" else "replication"
    backward = getattr(torch.ops.aten, f"{kind}_pad{len(widths) // 2}d_backward")
    return backward(g, g.new_empty(shape), widths)


pad_edges.defvjp(lambda g, ans, x, *, widths, mode: unpad_edges(g, widths=widths, mode=mode, shape=tuple(x.shape)))
unpad_edges.defvjp(lambda h, ans, g, *, widths, mode, shape: pad_edges(h, widths=widths, mode=mode))
