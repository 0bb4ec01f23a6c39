"""Primitives: the pooling family (forward on tensors + VJPs written in primitives).

Max and average pooling, unpooling, upsampling and embedding lookups are linear in the input they
differentiate (max pooling once its argmax indices are known: torch's kernel finds them, and they are
constants of the op), so each comes with its adjoint, and the two are each other's VJPs: every order
of derivative stays in the pair. Forwards and adjoints are torch's kernels (the backward kernels torch's
own autograd calls), so values and gradients are torch's.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..primitive import primitive
from .core import mul

__all__ = [
    "adaptive_avg_pool",
    "adaptive_avg_pool_backward",
    "avg_pool",
    "avg_pool_backward",
    "embedding",
    "embedding_backward",
    "max_pool",
    "max_pool_backward",
    "max_unpool",
    "upsample",
    "upsample_backward",
]


# --- max pooling: the values at the argmax indices torch's kernels return --------------------------
@primitive()
def max_pool(x, *, indices, dims):
    """x at `indices`, the argmax of each pooling window as torch's max-pool kernels return them: flat
    positions within the last `dims` dims of each (N, C) plane."""
    out = x.flatten(-dims).gather(-1, indices.flatten(-dims))
    return out.reshape(indices.shape)


@primitive()
def max_pool_backward(g, *, indices, dims, shape):
    """The adjoint of max_pool: g added at `indices` into zeros of `shape` (repeated indices accumulate),
    as torch's max_pool2d_with_indices_backward."""
    flat = (*shape[:-dims], math.prod(shape[-dims:]))
    out = g.new_zeros(flat).scatter_add(-1, indices.flatten(-dims), g.flatten(-dims))
    return out.reshape(shape)


@primitive()
def max_unpool(x, *, indices, output_size, stride=None, padding=None):
    """torch's max_unpool2d (two spatial dims) or max_unpool3d (three; it checks `stride` and `padding`):
    x's values written at `indices` into zeros of the spatial size `output_size`."""
    if len(output_size) == 2:
        return torch._C._nn.max_unpool2d(x, indices, output_size)
    return torch._C._nn.max_unpool3d(x, indices, output_size, stride, padding)


max_pool.defvjp(
    lambda g, ans, x, *, indices, dims: max_pool_backward(g, indices=indices, dims=dims, shape=tuple(x.shape))
)
max_pool_backward.defvjp(lambda h, ans, g, *, indices, dims, shape: max_pool(h, indices=indices, dims=dims))
max_unpool.defvjp(lambda g, ans, x, *, indices, output_size, **kw: max_pool(g, indices=indices, dims=len(output_size)))


# --- average pooling --------------------------------------------------------------------------------
_AVG_POOL = {
    2: (torch._C._nn.avg_pool2d, torch.ops.aten.avg_pool2d_backward),
    3: (torch._C._nn.avg_pool3d, torch.ops.aten.avg_pool3d_backward),
}


@primitive()
def avg_pool(x, *, dims, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """torch's avg_pool2d (dims 2) or avg_pool3d (dims 3), its arguments as torch takes them."""
    return _AVG_POOL[dims][0](x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


@primitive()
def avg_pool_backward(g, *, shape, dims, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """The adjoint of avg_pool onto an input of `shape` (torch's avg_pool2d_backward / avg_pool3d_backward)."""
    like = g.new_empty(shape)  # (the kernel reads only its size)
    return _AVG_POOL[dims][1](g, like, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


avg_pool.defvjp(lambda g, ans, x, **kw: avg_pool_backward(g, shape=tuple(x.shape), **kw))
avg_pool_backward.defvjp(lambda h, ans, g, *, shape, **kw: avg_pool(h, **kw))

_ADAPTIVE_AVG_POOL = {
    2: (torch._C._nn.adaptive_avg_pool2d, torch.ops.aten._adaptive_avg_pool2d_backward),
    3: (torch._C._nn.adaptive_avg_pool3d, torch.ops.aten._adaptive_avg_pool3d_backward),
}


@primitive()
def adaptive_avg_pool(x, *, output_size):
    """torch's adaptive_avg_pool2d or adaptive_avg_pool3d (by the length of `output_size`)."""
    return _ADAPTIVE_AVG_POOL[len(output_size)][0](x, output_size)


@primitive()
def adaptive_avg_pool_backward(g, *, shape, dims):
    """The adjoint of adaptive_avg_pool over `dims` spatial dims, onto an input of `shape`."""
    return _ADAPTIVE_AVG_POOL[dims][1](g, g.new_empty(shape))


adaptive_avg_pool.defvjp(
    lambda g, ans, x, *, output_size: adaptive_avg_pool_backward(g, shape=tuple(x.shape), dims=len(output_size))
)
adaptive_avg_pool_backward.defvjp(
    lambda h, ans, g, *, shape, dims: adaptive_avg_pool(h, output_size=tuple(g.shape[-dims:]))
)


# --- upsampling ---------------------------------------------------------------------------------------
@primitive()
def upsample(x, *, kernel, output_size, align_corners=None, scales=()):
    """torch's upsampling `kernel` (upsample_nearest2d, upsample_bilinear2d, _upsample_nearest_exact1d,
    _upsample_bicubic2d_aa ...) to the spatial size `output_size`; `scales` (one per spatial dim, or None)
    as torch.nn.functional.interpolate passes them; align_corners for the interpolating kernels."""
    corners = () if align_corners is None else (align_corners,)
    return getattr(torch.ops.aten, kernel)(x, output_size, *corners, *scales)


@primitive()
def upsample_backward(g, *, kernel, output_size, input_size, align_corners=None, scales=()):
    """The adjoint of upsample onto an input of size `input_size` (torch's <kernel>_backward)."""
    corners = () if align_corners is None else (align_corners,)
    return getattr(torch.ops.aten, f"{kernel}_backward")(g, output_size, input_size, *corners, *scales)


upsample.defvjp(lambda g, ans, x, **kw: upsample_backward(g, input_size=tuple(x.shape), **kw))
upsample_backward.defvjp(lambda h, ans, g, *, input_size, **kw: upsample(h, **kw))


# --- embedding lookups ------------------------------------------------------------------------------
@primitive()
def embedding(weight, *, indices, padding_idx=-1, scale_grad_by_freq=False):
    """The rows of `weight` at `indices` (torch.embedding). The rows at padding_idx get no gradient, and
    with scale_grad_by_freq each row's gradient is divided by how often `indices` holds it, as in torch."""
    return torch.embedding(weight, indices)


@primitive()
def embedding_backward(g, *, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False):
    """The VJP of embedding: g's rows summed into `num_weights` rows at `indices` (torch's
    embedding_dense_backward)."""
    return torch.ops.aten.embedding_dense_backward(g, indices, num_weights, padding_idx, scale_grad_by_freq)


def _rows_of(h: Any, indices: torch.Tensor, num_weights: int, padding_idx: int, scale_grad_by_freq: bool) -> Any:
    """The adjoint of embedding_backward: h's rows at `indices`, zero at padding_idx, divided by their
    counts with scale_grad_by_freq (a plain lookup times a constant, so that its VJP is the scatter again)."""
    rows = embedding(h, indices=indices)
    if padding_idx < 0 and not scale_grad_by_freq:
        return rows
    weight = (indices != padding_idx).to(h.dtype)
    if scale_grad_by_freq:
        weight = weight / torch.bincount(indices.flatten(), minlength=num_weights)[indices]
    return mul(rows, weight.unsqueeze(-1))


embedding.defvjp(lambda g, ans, weight, **kw: embedding_backward(g, num_weights=weight.shape[0], **kw))
embedding_backward.defvjp(
    lambda h, ans, g, *, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False: _rows_of(
        h, indices, num_weights, padding_idx, scale_grad_by_freq
    )
)
