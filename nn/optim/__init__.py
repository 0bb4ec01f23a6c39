"""Optimizers: update parameter tensors in place from their `.grad`, following torch.optim's formulas,
step semantics and state-dict layout; one file per optimizer."""

from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer"]
