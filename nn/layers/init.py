"""Torch.nn's default initialisation: draws from torch's generator in the same order as torch.nn (weight,
then bias, each uniform in +-1/sqrt(fan_in)), so the same seed gives the same model as torch."""

from __future__ import annotations

from typing import Any

import torch

from ..module import Parameter


def _uniform(shape: tuple[int, ...], bound: float, device: Any, dtype: Any) -> Parameter:
    return Parameter(torch.empty(shape, device=device, dtype=dtype).uniform_(-bound, bound))
