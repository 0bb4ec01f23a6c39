"""Parameters as one flat vector and back, as torch.nn.utils.convert_parameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

import autograd_engine as ag
from autograd_engine import Variable

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Variable]) -> Variable:
    """The parameters flattened and concatenated into one vector, recorded (gradients flow back to them)."""
    device: torch.device | None = None
    pieces = []
    for p in parameters:
        device = _same_device(p, device)
        pieces.append(p.view(-1))
    return ag.cat(pieces)


def vector_to_parameters(vec: Variable | torch.Tensor, parameters: Iterable[Variable]) -> None:
    """Make the parameters' data consecutive slices of `vec` (views of it, as in torch)."""
    if isinstance(vec, Variable):
        vec = vec.data
    if not isinstance(vec, torch.Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {torch.typename(vec)}")
    device: torch.device | None = None
    start = 0
    for p in parameters:
        device = _same_device(p, device)
        n = p.numel()
        p.data = vec[start : start + n].view_as(p.data).data
        start += n


def _same_device(param: Any, device: torch.device | None) -> torch.device:
    if device is not None and param.device != device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return param.device
