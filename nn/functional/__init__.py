"""Layers as plain functions of Variables (torch.nn.functional's names and signatures), one file per
family: models can be written as functions of a params pytree. Every gradient comes from the engine's
reverse pass; inputs are validated, with errors naming the layer and the shapes."""

from . import attention, distance, dropout, normalization, pooling, sparse
from .activation import relu, sigmoid, tanh
from .attention import *  # noqa: F403
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
from .distance import *  # noqa: F403
from .dropout import *  # noqa: F403
from .linear import linear
from .loss import mse_loss
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .sparse import *  # noqa: F403

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
__all__ += attention.__all__
__all__ += distance.__all__
__all__ += dropout.__all__
__all__ += normalization.__all__
__all__ += pooling.__all__
__all__ += sparse.__all__
