"""Linear layers as functions."""

from __future__ import annotations

from typing import Any

import torch

import autograd_engine as ag
from autograd_engine import Variable
from autograd_engine.dispatch import implements

from .conv import _check_placement

__all__ = ["linear"]


@implements(torch.nn.functional.linear)
def linear(x: Any, weight: Any, bias: Any = None) -> Variable:
    """x @ weight.T + bias; weight (out, in) as in torch."""
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: expected input with last dim {weight.shape[1]} (weight shape "
            f"{tuple(weight.shape)}), got shape {tuple(x.shape)}"
        )
    _check_placement("linear", x, weight)
    out = x @ ag.transpose(weight, 0, 1)
    return out if bias is None else out + bias
