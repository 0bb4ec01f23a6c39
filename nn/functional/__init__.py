"""Layers as plain functions of Variables (torch.nn.functional's names and signatures), one file per
family: models can be written as functions of a params pytree. Every gradient comes from the engine's
reverse pass; inputs are validated, with errors naming the layer and the shapes."""

from .activation import relu, sigmoid, tanh
from .conv import (
    LOWERINGS,
    IntPair,
    check_lowering,
    conv2d,
    conv_lowering,
    conv_output_size,
    conv_pairs,
    conv_transpose2d,
    pair,
    use_conv_lowering,
)
from .linear import linear
from .loss import mse_loss

__all__ = [
    "LOWERINGS",
    "IntPair",
    "check_lowering",
    "conv2d",
    "conv_lowering",
    "conv_output_size",
    "conv_pairs",
    "conv_transpose2d",
    "linear",
    "mse_loss",
    "pair",
    "relu",
    "sigmoid",
    "tanh",
    "use_conv_lowering",
]
