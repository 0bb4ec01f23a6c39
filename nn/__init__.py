"""nn: layers, losses and optimizers built only from autograd_engine ops (no backward methods)."""

from . import containers, functional, layers, optim, parallel, utils
from .containers import *  # noqa: F403
from .layers import *  # noqa: F403
from .layers import (  # noqa: F401  (named again for mypy, which does not follow two star imports)
    MSE,
    Conv2d,
    ConvTranspose2d,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Tanh,
    TransposeConv2d,
)
from .module import Module, Parameter
from .optim import SGD, Adam
from .serialization import load, save

__all__ = ["SGD", "Adam", "Module", "Parameter", "functional", "layers", "load", "optim", "parallel", "save", "utils"]
__all__ += containers.__all__
__all__ += layers.__all__
