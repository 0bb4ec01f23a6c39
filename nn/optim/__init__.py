"""Optimizers: update parameter tensors in place from their `.grad`, following torch.optim's formulas,
step semantics and state-dict layout; one file per optimizer; schedulers in `lr_scheduler`."""

from . import adagrad, adam, adamw, lr_scheduler, optimizer, rmsprop, sgd
from .adagrad import *  # noqa: F403
from .adam import *  # noqa: F403
from .adamw import *  # noqa: F403
from .optimizer import *  # noqa: F403
from .rmsprop import *  # noqa: F403
from .sgd import *  # noqa: F403

__all__ = ["adagrad", "adam", "adamw", "lr_scheduler", "optimizer", "rmsprop", "sgd"]
__all__ += adagrad.__all__
__all__ += adam.__all__
__all__ += adamw.__all__
__all__ += optimizer.__all__
__all__ += rmsprop.__all__
__all__ += sgd.__all__
