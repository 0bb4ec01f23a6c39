"""Layers as plain functions of Variables (torch.nn.functional's names and signatures), one file per
family: models can be written as functions of a params pytree. Every gradient comes from the engine's
reverse pass; inputs are validated, with errors naming the layer and the shapes."""

from autograd_engine.composites.shape import fold, pad, unfold

from . import activation, attention, distance, loss, normalization, pooling, sparse, vision
from . import dropout as dropout_functions  # (the name `dropout` is torch's function, star-imported below)
from .activation import *  # noqa: F403
from .attention import *  # noqa: F403
from .conv import (
    LOWERINGS,
    IntPair,
    ShapeError,
    check_lowering,
    conv1d,
    conv2d,
    conv3d,
    conv_geometry,
    conv_lowering,
    conv_output_size,
    conv_pairs,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    ints,
    pair,
    use_conv_lowering,
)
from .distance import *  # noqa: F403
from .dropout import *  # noqa: F403
from .linear import bilinear, linear
from .loss import *  # noqa: F403
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .sparse import *  # noqa: F403
from .vision import *  # noqa: F403

__all__ = [
    "LOWERINGS",
    "IntPair",
    "check_lowering",
    "ShapeError",
    "bilinear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_geometry",
    "conv_lowering",
    "conv_output_size",
    "conv_pairs",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "ints",
    "linear",
    "pad",
    "pair",
    "unfold",
    "use_conv_lowering",
]
__all__ += activation.__all__
__all__ += attention.__all__
__all__ += distance.__all__
__all__ += loss.__all__
__all__ += dropout_functions.__all__
__all__ += normalization.__all__
__all__ += pooling.__all__
__all__ += sparse.__all__
__all__ += vision.__all__
