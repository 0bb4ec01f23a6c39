"""Linear layers as functions."""

from __future__ import annotations

from typing import Any

import torch

import autograd_engine as ag
from autograd_engine import Variable
from autograd_engine.dispatch import implements

from .conv import ShapeError, _check_placement

__all__ = ["bilinear", "linear"]


@implements(torch.nn.functional.linear)
def linear(x: Any, weight: Any, bias: Any = None) -> Variable:
    """x @ weight.T + bias; weight (out, in) as in torch: the `linear` primitive on torch's own kernel (addmm
    with a bias: no separate pass for it), whose gradients are computed as torch's (the weight's as g^T x)."""
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"linear: expected input with last dim {weight.shape[1]} (weight shape "
            f"{tuple(weight.shape)}), got shape {tuple(x.shape)}"
        )
    _check_placement("linear", x, weight)
    return ag.ops.linear(x, weight, bias)


@implements(torch.nn.functional.bilinear, torch.bilinear)
def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Any:
    """out[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]; weight (out, in1, in2)
    as in torch."""
    if input1.ndim != input2.ndim or weight.ndim != 3:
        raise ShapeError(
            f"bilinear: expected input1 and input2 with the same number of dims and a 3-d weight, got shapes "
            f"{tuple(input1.shape)}, {tuple(input2.shape)} and weight {tuple(weight.shape)}"
        )
    if (
        input1.ndim == 0
        or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1])
        or input1.shape[-1] != weight.shape[1]
        or input2.shape[-1] != weight.shape[2]
        or (bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]))
    ):
        raise ShapeError(
            f"bilinear: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} must share their batch "
            f"dims and match weight {tuple(weight.shape)} in their last dims"
            + ("" if bias is None else f", and bias {tuple(bias.shape)} its first")
        )
    _check_placement("bilinear", input1, weight)
    _check_placement("bilinear", input2, weight)
    out = torch.einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias
