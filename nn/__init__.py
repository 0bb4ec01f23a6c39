"""nn: layers, losses and optimizers built only from autograd_engine ops (no backward methods)."""

from . import functional, optim, parallel
from .containers import Sequential
from .layers import (
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

__all__ = [
    "MSE",
    "SGD",
    "Adam",
    "Conv2d",
    "ConvTranspose2d",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "TransposeConv2d",
    "functional",
    "parallel",
    "load",
    "optim",
    "save",
]
