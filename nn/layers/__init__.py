"""Layers as modules, one file per family (torch.nn's names, constructor arguments, attributes and
state-dict keys); each forward is a call into `nn.functional`."""

from .activation import ReLU, Sigmoid, Tanh
from .conv import Conv2d, ConvTranspose2d, TransposeConv2d
from .linear import Linear
from .loss import MSE, MSELoss

__all__ = ["MSE", "Conv2d", "ConvTranspose2d", "Linear", "MSELoss", "ReLU", "Sigmoid", "Tanh", "TransposeConv2d"]
