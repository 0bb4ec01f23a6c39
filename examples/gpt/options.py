"""The GPT command line's own option types (the shared ones, positive_int, seed, learning_rate, device,
folder and graph_file, are examples.noise2noise.options'): each parses one option's text or says, in
argparse's error format, why it cannot be used."""

from __future__ import annotations

import argparse
import math

from examples.noise2noise.options import integer, number


def non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def dropout(text: str) -> float:
    """A dropout probability: from 0 up to, not including, 1."""
    value = number(text)
    if not 0 <= value < 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a probability from 0 up to (not including) 1, got {text}")
    return value
