"""Layers as modules, one file per family (torch.nn's names, constructor arguments, attributes and
state-dict keys); each forward is a call into `nn.functional`."""

from . import (
    activation,
    attention,
    conv,
    distance,
    dropout,
    linear,
    loss,
    normalization,
    padding,
    pooling,
    recurrent,
    shape,
    sparse,
    transformer,
)
from .activation import *  # noqa: F403
from .attention import *  # noqa: F403
from .conv import *  # noqa: F403
from .distance import *  # noqa: F403
from .dropout import *  # noqa: F403
from .linear import *  # noqa: F403
from .loss import *  # noqa: F403
from .normalization import *  # noqa: F403
from .padding import *  # noqa: F403
from .pooling import *  # noqa: F403
from .recurrent import *  # noqa: F403
from .shape import *  # noqa: F403
from .sparse import *  # noqa: F403
from .transformer import *  # noqa: F403

__all__ = [
    "activation",
    "attention",
    "conv",
    "distance",
    "dropout",
    "linear",
    "loss",
    "normalization",
    "padding",
    "pooling",
    "recurrent",
    "shape",
    "sparse",
    "transformer",
]
__all__ += activation.__all__
__all__ += attention.__all__
__all__ += conv.__all__
__all__ += distance.__all__
__all__ += dropout.__all__
__all__ += linear.__all__
__all__ += loss.__all__
__all__ += normalization.__all__
__all__ += padding.__all__
__all__ += pooling.__all__
__all__ += recurrent.__all__
__all__ += shape.__all__
__all__ += sparse.__all__
__all__ += transformer.__all__
