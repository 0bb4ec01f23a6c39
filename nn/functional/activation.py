"""Activations as functions."""

from __future__ import annotations

from typing import Any

import autograd_engine as ag
from autograd_engine import Variable


def relu(x: Any) -> Variable:
    return ag.relu(x)


def sigmoid(x: Any) -> Variable:
    return ag.sigmoid(x)


def tanh(x: Any) -> Variable:
    return ag.tanh(x)
