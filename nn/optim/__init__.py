"""Optimizers: update parameter tensors in place from their `.grad`, following torch.optim's formulas,
step semantics and state-dict layout; one file per optimizer; schedulers in `lr_scheduler`."""

from . import (
    adadelta,
    adagrad,
    adam,
    adamax,
    adamw,
    asgd,
    lbfgs,
    lr_scheduler,
    nadam,
    optimizer,
    radam,
    rmsprop,
    rprop,
    sgd,
)
from .adadelta import *  # noqa: F403
from .adagrad import *  # noqa: F403
from .adam import *  # noqa: F403
from .adamax import *  # noqa: F403
from .adamw import *  # noqa: F403
from .asgd import *  # noqa: F403
from .lbfgs import *  # noqa: F403
from .nadam import *  # noqa: F403
from .optimizer import *  # noqa: F403
from .radam import *  # noqa: F403
from .rmsprop import *  # noqa: F403
from .rprop import *  # noqa: F403
from .sgd import *  # noqa: F403

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "asgd",
    "lbfgs",
    "lr_scheduler",
    "nadam",
    "optimizer",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
]
__all__ += adadelta.__all__
__all__ += adagrad.__all__
__all__ += adam.__all__
__all__ += adamax.__all__
__all__ += adamw.__all__
__all__ += asgd.__all__
__all__ += lbfgs.__all__
__all__ += nadam.__all__
__all__ += optimizer.__all__
__all__ += radam.__all__
__all__ += rmsprop.__all__
__all__ += rprop.__all__
__all__ += sgd.__all__
