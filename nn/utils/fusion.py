"""Folding an eval-mode batch norm into the convolution or linear layer before it, as
torch.nn.utils.fusion: one layer computing what the pair computed (for inference)."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import torch

from autograd_engine.variable import unwrap

from ..module import Module, Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]

M = TypeVar("M", bound=Module)


def _check_eval(layer: Module, bn: Module) -> None:
    if layer.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")


def _data(t: Any) -> Any:
    """The tensor of a Parameter, Variable or tensor, detached (None stays None)."""
    return None if t is None else unwrap(t).detach()


def _parameters(weight: torch.Tensor, bias: torch.Tensor, like_w: Any, like_b: Any) -> tuple[Parameter, Parameter]:
    """New Parameters requiring grad as the layer's weight and bias did (a missing bias did not)."""
    return (
        Parameter(weight, bool(getattr(like_w, "requires_grad", False))),
        Parameter(bias, bool(getattr(like_b, "requires_grad", False))),
    )


def fuse_conv_bn_weights(
    conv_w: Any,
    conv_b: Any,
    bn_rm: Any,
    bn_rv: Any,
    bn_eps: float,
    bn_w: Any,
    bn_b: Any,
    transpose: bool = False,
) -> tuple[Parameter, Parameter]:
    """The weight and bias of a convolution (`transpose`: a transposed one, channels on dim 1) followed by
    a batch norm with these running statistics and affine parameters (None: 1 and 0)."""
    w, b, rm, rv = _data(conv_w), _data(conv_b), _data(bn_rm), _data(bn_rv)
    bias_dtype = w.dtype if b is None else b.dtype
    b = torch.zeros_like(rm) if b is None else b
    scale = torch.ones_like(rm) if bn_w is None else _data(bn_w)
    shift = torch.zeros_like(rm) if bn_b is None else _data(bn_b)
    var_rsqrt = torch.rsqrt(rv + bn_eps)
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (w.ndim - 2)
    fused_w = (w * (scale * var_rsqrt).reshape(shape)).to(dtype=w.dtype)
    fused_b = ((b - rm) * var_rsqrt * scale + shift).to(dtype=bias_dtype)
    return _parameters(fused_w, fused_b, conv_w, conv_b)


def fuse_conv_bn_eval(conv: M, bn: Module, transpose: bool = False) -> M:
    """A copy of `conv` computing `bn(conv(x))` (both in eval mode; AssertionError otherwise, as torch)."""
    _check_eval(conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias, transpose
    )
    return fused


def fuse_linear_bn_weights(
    linear_w: Any, linear_b: Any, bn_rm: Any, bn_rv: Any, bn_eps: float, bn_w: Any, bn_b: Any
) -> tuple[Parameter, Parameter]:
    """The weight and bias of a linear layer followed by a batch norm with these statistics and parameters."""
    w, b, rm, rv = _data(linear_w), _data(linear_b), _data(bn_rm), _data(bn_rv)
    scale, shift = _data(bn_w), _data(bn_b)
    bias_dtype = w.dtype if b is None else b.dtype
    b = torch.zeros_like(rm) if b is None else b
    bn_scale = scale * torch.rsqrt(rv + bn_eps)
    fused_w = w * bn_scale.unsqueeze(-1).to(dtype=w.dtype)
    fused_b = ((b - rm) * bn_scale + shift).to(dtype=bias_dtype)
    return _parameters(fused_w, fused_b, linear_w, linear_b)


def fuse_linear_bn_eval(linear: M, bn: Module) -> M:
    """A copy of `linear` computing `bn(linear(x))` (both in eval mode; bn over linear's out_features,
    or over one feature)."""
    _check_eval(linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError(
            "To fuse, linear.out_features == bn.num_features or bn.num_features == 1, "
            f"got linear.out_features={linear.out_features} and bn.num_features={bn.num_features}"
        )
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return fused
