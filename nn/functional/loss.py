"""Losses as functions."""

from __future__ import annotations

from typing import Any

import autograd_engine as ag
from autograd_engine import Variable


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Variable:  # noqa: A002
    """Mean squared error; input and target must have the same shape."""
    return ag.mse(input, target, reduction)
