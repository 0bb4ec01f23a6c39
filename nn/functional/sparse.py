"""torch.nn.functional's sparse functions on Variables: embedding lookups and one_hot."""

from __future__ import annotations

from typing import Any

import torch

from autograd_engine import Variable, implements, ops
from autograd_engine.variable import unwrap

__all__ = ["embedding", "embedding_bag", "one_hot"]


@implements(torch.nn.functional.embedding)
def embedding(
    input: Any,  # noqa: A002 (torch's names)
    weight: Any,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Variable:
    """The rows of `weight` (num_embeddings, dim) at the integer `input`, as torch.nn.functional.embedding:
    the row at padding_idx gets no gradient, scale_grad_by_freq divides each row's gradient by how often
    `input` holds it, and max_norm renormalises the rows looked up in place (in weight's tensor, as torch
    does, outside the graph). Gradients are dense: sparse=True is refused."""
    num_embeddings = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = num_embeddings + padding_idx
    else:
        padding_idx = -1
    indices = unwrap(input)
    if max_norm is not None:
        indices = indices.contiguous()
        with torch.no_grad():
            torch.embedding_renorm_(unwrap(weight), indices, max_norm, norm_type)
    return _lookup(weight, indices, padding_idx, scale_grad_by_freq, sparse)


@implements(torch.embedding)
def _torch_embedding(
    weight: Any, indices: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False
) -> Variable:
    """torch.embedding (the kernel behind F.embedding: weight first, padding_idx -1 for none)."""
    return _lookup(weight, unwrap(indices), padding_idx, scale_grad_by_freq, sparse)


@implements(torch.nn.functional.embedding_bag)
def embedding_bag(
    input: Any,  # noqa: A002 (torch's names)
    weight: Any,
    offsets: Any = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Any = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Variable:
    """Sums, means or maxima of bags of embedding rows, as torch.nn.functional.embedding_bag: bags are the
    rows of a 2-d `input`, or the runs of a 1-d one that `offsets` start; per_sample_weights (mode 'sum')
    weigh the rows and get gradients; padding_idx's entries are left out; empty bags are zeros.
    scale_grad_by_freq=True and sparse=True are refused."""
    indices, table, weights = unwrap(input), unwrap(weight), unwrap(per_sample_weights)
    # torch's checks in torch's words, and max_norm's renormalisation of the weight's rows, as torch does it
    torch.nn.functional.embedding_bag(
        indices,
        table,
        unwrap(offsets),
        max_norm,
        norm_type,
        scale_grad_by_freq,
        mode,
        sparse,
        weights,
        include_last_offset,
        padding_idx,
    )
    if sparse:
        raise _sparse_refused("embedding_bag")
    if scale_grad_by_freq:
        raise NotImplementedError(
            "embedding_bag: scale_grad_by_freq=True is not supported (torch's own scaling for bags does not "
            "divide by the frequencies of the indices); scale the gradient in a hook, or use embedding"
        )
    if indices.dim() == 2:
        starts = torch.arange(0, indices.numel(), indices.size(1), device=indices.device)
        include_last_offset = False
    else:
        starts = unwrap(offsets)
    flat, dim = indices.reshape(-1), table.size(1)
    bags = starts.numel() - (1 if include_last_offset else 0)
    bag = torch.bucketize(torch.arange(flat.numel(), device=flat.device), starts[:bags], right=True) - 1
    keep = flat != (-1 if padding_idx is None else padding_idx % table.size(0))  # padding entries are left out
    sizes = torch.bincount(bag[keep], minlength=bags).unsqueeze(1)
    if mode == "max":  # torch's kernel finds each bag's argmax rows
        argmax = torch.embedding_bag(table, flat, starts, False, 2, False, None, include_last_offset, padding_idx)[3]
        return ops.where(sizes > 0, ops.gather(weight, dim=0, index=argmax), 0.0)
    rows = ops.embedding(weight, indices=flat[keep])
    if per_sample_weights is not None:
        rows = rows * ops.reshape(ops.reshape(per_sample_weights, shape=(-1,))[keep], shape=(-1, 1))
    out = ops.ungather(rows, dim=0, index=bag[keep].unsqueeze(1).expand(-1, dim), shape=(bags, dim))
    if mode == "mean":
        out = out / sizes.clamp(min=1).to(table.dtype)
    return out


def _sparse_refused(function: str) -> NotImplementedError:
    return NotImplementedError(
        f"{function}: sparse=True (a sparse gradient for the weight) is not supported: the engine's gradients "
        "are dense tensors; pass sparse=False (the values and the gradient's values are the same)"
    )


def _lookup(weight: Any, indices: torch.Tensor, padding_idx: int, scale_grad_by_freq: bool, sparse: bool) -> Variable:
    if sparse:
        raise _sparse_refused("embedding")
    if padding_idx < 0 and not scale_grad_by_freq:
        return ops.embedding(weight, indices=indices)
    return ops.embedding(weight, indices=indices, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)


@implements(torch.nn.functional.one_hot)
def one_hot(tensor: Any, num_classes: int = -1) -> torch.Tensor:
    """torch.nn.functional.one_hot of integer class indices: a plain int64 tensor (never differentiated)."""
    return torch.nn.functional.one_hot(unwrap(tensor), num_classes)
