"""torch.nn.modules' spelling, for code written against torch: the layers and containers (`nn.modules.Linear`)
and `nn.modules.module`, home of the global module hooks (`nn.modules.module.register_module_forward_hook`)."""

from ..containers import *  # noqa: F403
from ..layers import *  # noqa: F403
from . import module  # noqa: F401
from .module import Module  # noqa: F401
