"""torch.nn.functional's normalization functions on Variables: batch, layer, group, instance, RMS and
local response normalization, with torch's signatures, checks and running-statistics updates.

Batch, layer and group norm are fused primitives on torch's kernels (`ops.batch_norm`, `ops.layer_norm`,
`ops.group_norm`), so values, running statistics and gradients are torch's bits; instance norm is batch norm
on a (1, N * C, *) view, as torch computes it. Running statistics are plain tensors, updated in place by
torch's kernel (the unbiased variance), never recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as tnf

import autograd_engine as ag
from autograd_engine import Variable, implements, ops
from autograd_engine.variable import unwrap

__all__ = ["batch_norm", "group_norm", "instance_norm", "layer_norm", "local_response_norm", "rms_norm"]


def _affine(y: Any, weight: Any, bias: Any) -> Any:
    """y * weight + bias (None skips either)."""
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _check_channels(name: str, tensor: Any, channels: int) -> None:
    if tensor is not None and tensor.numel() != channels:
        raise RuntimeError(f"{name} should contain {channels} elements not {tensor.numel()}")


@implements(tnf.batch_norm)
def batch_norm(
    input: Any,  # noqa: A002
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Variable:
    """Normalize each channel of (N, C, *) over the batch and the other dims: with the batch's statistics
    in training (updating the running ones in place), else with the running ones; torch's kernels for the
    values, the running statistics and the gradients (the fused `batch_norm` primitive)."""
    if training:
        size = tuple(input.shape)
        if math.prod(size[:1] + size[2:]) == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    channels = input.shape[1] if input.ndim > 1 else 0
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_channels(name, t, channels)
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("running_mean must be defined in evaluation mode")
    stats = (unwrap(running_mean), unwrap(running_var))
    return ops.batch_norm(input, weight, bias, *stats, training=training, momentum=momentum, eps=eps)


def _trailing_dims(name: str, input: Any, normalized_shape: Any, weight: Any, bias: Any = None) -> tuple[int, ...]:  # noqa: A002
    """The dims that `normalized_shape` (an int or a sequence) names at the end of input, checked as torch."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
            "but got normalized_shape = []"
        )
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(
                f"Expected {what} to be of same shape as normalized_shape, but got {what} of shape "
                f"{list(t.shape)} and normalized_shape = {list(shape)}"
            )
    if tuple(input.shape[input.ndim - len(shape) :]) != shape or input.ndim < len(shape):
        star = "*, " if name == "layer_norm" else "*"
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [{star}{', '.join(map(str, shape))}], "
            f"but got input of size{list(input.shape)}"
        )
    return tuple(range(input.ndim - len(shape), input.ndim))


@implements(tnf.layer_norm)
def layer_norm(
    input: Any,  # noqa: A002
    normalized_shape: Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Variable:
    """Normalize over the trailing `normalized_shape` dims, then weight and bias of that shape (either may be
    None): the fused `layer_norm` primitive, torch's one kernel, so values and gradients are torch's bits."""
    dims = _trailing_dims("layer_norm", input, normalized_shape, weight, bias)
    return ops.layer_norm(input, weight, bias, dims=dims, eps=eps)


@implements(tnf.group_norm)
def group_norm(
    input: Any,  # noqa: A002
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Variable:
    """Normalize each of `num_groups` groups of consecutive channels of (N, C, *) over its channels and
    the other dims; then a per-channel weight and bias."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, channels = input.shape[:2]
    if channels % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(input.shape)} and num_groups={num_groups}"
        )
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != channels):
            raise RuntimeError(
                f"Expected {what} to be a vector of size equal to the number of channels in input, but got "
                f"{what} of shape {list(t.shape)} and input of shape {list(input.shape)}"
            )
    return ops.group_norm(input, weight, bias, groups=num_groups, eps=eps)


@implements(tnf.instance_norm)
def instance_norm(
    input: Any,  # noqa: A002
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Variable:
    """Normalize each channel of each sample of (N, C, *) over its other dims (`use_input_stats`, the running
    statistics updated in place with the batch's average), else with the running statistics."""
    if use_input_stats and math.prod(input.shape[2:]) <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
    channels = input.shape[1] if input.ndim > 1 else 0
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_channels(name, t, channels)
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
    # as torch: batch norm of (1, N * C, *), each sample's channels as channels, the parameters and running
    # statistics repeated N times, the running ones averaged back over the samples when updated
    n, c = input.shape[:2]
    weight, bias = (None if t is None else t.repeat(n) for t in (weight, bias))
    stats = [None if t is None else unwrap(t).repeat(n) for t in (running_mean, running_var)]
    flat = ag.reshape(input, (1, n * c, *input.shape[2:]))
    out = ops.batch_norm(flat, weight, bias, *stats, training=use_input_stats, momentum=momentum, eps=eps)
    for running, updated in zip((running_mean, running_var), stats):
        if use_input_stats and running is not None and updated is not None:
            unwrap(running).copy_(updated.reshape(n, c).mean(0))
    return ag.reshape(out, tuple(input.shape))


@implements(tnf.rms_norm, torch.rms_norm)
def rms_norm(
    input: Any,  # noqa: A002
    normalized_shape: Sequence[int],
    weight: Any = None,
    eps: float | None = None,
) -> Variable:
    """x / sqrt(mean(x^2) + eps) over the trailing `normalized_shape` dims, times weight; eps defaults to
    the machine epsilon of x's dtype, as in torch."""
    dims = _trailing_dims("rms_norm", input, normalized_shape, weight)
    if eps is None:
        eps = torch.finfo(input.dtype).eps
    y = input * ops.pow(ag.mean(input * input, dims, keepdim=True) + eps, -0.5)
    return _affine(y, weight, None)


@implements(tnf.local_response_norm)
def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Variable:  # noqa: A002
    """x / (k + alpha * mean of x^2 over a window of `size` neighbouring channels) ** beta, the window
    zero-padded at the edges (size // 2 channels before, (size - 1) // 2 after) as in torch."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    channels = input.shape[1]
    squares = ag.transpose(input * input, 1, -1)  # channels last, for pad
    padded = ag.pad(squares, (size // 2, (size - 1) // 2))
    window = padded[..., 0:channels]
    for i in range(1, size):
        window = window + padded[..., i : i + channels]
    div = ops.pow(ag.transpose(window, 1, -1) * (alpha / size) + k, beta)
    return input / div


# torch's own spellings: torch.batch_norm and torch.instance_norm take the parameters before the
# statistics, and each takes a cudnn flag (which changes nothing here)
@implements(torch.batch_norm)
def _torch_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled=True):  # noqa: A002
    return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


@implements(torch.instance_norm)
def _torch_instance_norm(
    input,  # noqa: A002
    weight,
    bias,
    running_mean,
    running_var,
    use_input_stats,
    momentum,
    eps,
    cudnn_enabled=True,
):
    return instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


@implements(torch.layer_norm)
def _torch_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):  # noqa: A002
    return layer_norm(input, normalized_shape, weight, bias, eps)


@implements(torch.group_norm)
def _torch_group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):  # noqa: A002
    return group_norm(input, num_groups, weight, bias, eps)
