"""Torch.nn's default initialisation: draws from torch's generator in the same order and with the same
bounds, to the last bit, as torch.nn (weight, then bias), so the same seed gives the same model as torch."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..module import Parameter


def _uniform(shape: tuple[int, ...], bound: float, device: Any, dtype: Any) -> Parameter:
    return Parameter(torch.empty(shape, device=device, dtype=dtype).uniform_(-bound, bound))


def _fan_in(shape: tuple[int, ...]) -> int:
    """torch.nn.init's fan-in of a weight: its dim 1 times the product of the dims after it."""
    return shape[1] * math.prod(shape[2:])


def _kaiming_uniform(shape: tuple[int, ...], device: Any, dtype: Any) -> Parameter:
    """A weight as torch.nn.init.kaiming_uniform_(w, a=sqrt(5)) draws it (torch.nn's Linear and conv
    default). The bound is computed with torch's exact float steps: 1/sqrt(fan_in) in exact arithmetic,
    but not always the same double, which float64 draws show. Zero-element weights draw nothing, as torch."""
    weight = torch.empty(shape, device=device, dtype=dtype)
    if 0 in shape:
        return Parameter(weight)
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    bound = math.sqrt(3.0) * (gain / math.sqrt(_fan_in(shape)))
    return Parameter(weight.uniform_(-bound, bound))


def _bias_uniform(weight_shape: tuple[int, ...], size: int, device: Any, dtype: Any) -> Parameter:
    """The bias of a Linear or conv layer with this weight shape, as torch.nn draws it: uniform in
    +-1/sqrt(fan_in) (0 for a zero fan-in)."""
    fan_in = _fan_in(weight_shape)
    return _uniform((size,), 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0, device, dtype)


def _constant(shape: tuple[int, ...], value: float, device: Any, dtype: Any) -> Parameter:
    """A parameter filled with `value` (torch.nn.init.constant_): no draws from the generator."""
    return Parameter(torch.empty(shape, device=device, dtype=dtype).fill_(value))
