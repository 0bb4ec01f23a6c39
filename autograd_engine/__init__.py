"""autograd-engine: reverse-mode automatic differentiation on torch tensors.

import autograd_engine as ag
x = ag.Variable(torch.randn(3), requires_grad=True)
(x * x).sum().backward()        # x.grad == 2 * x
ag.grad(lambda x: (x ** 3).sum())(torch.ones(3))   # tensor([3., 3., 3.])
"""

from .variable import Variable  # noqa: I001  (first: Variable's methods import ops and composites)
from . import ops
from .backward import backward, gradients
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .checkpoint import checkpoint
from .compile import compile  # (autograd_engine.compile is the package; ag.compile the callable it defines)
from .transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from . import composites
from .composites.creation import *  # noqa: F403  (the torch-style API, family by family)
from .composites.elementwise import *  # noqa: F403
from .composites.indexing import *  # noqa: F403
from .composites.linalg import *  # noqa: F403
from .composites.reductions import *  # noqa: F403
from .composites.shape import *  # noqa: F403
from .dispatch import NoRuleError, implements
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, check_primitive, gradcheck, gradgradcheck
from .node import GraphFreedError, InplaceModificationError, Node
from .ops import PRIMITIVES
from .primitive import Primitive, primitive
from .pytree import tree_flatten, tree_map, tree_unflatten

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`ag.graph` is imported on first use: it pulls in networkx and graphviz."""
    if name == "graph":
        import importlib

        return importlib.import_module(".graph", __name__)
    raise AttributeError(f"module 'autograd_engine' has no attribute {name!r}")


__all__ = [
    "AnomalyError",
    "GradcheckError",
    "GraphFreedError",
    "InplaceModificationError",
    "NoRuleError",
    "Node",
    "PRIMITIVES",
    "Primitive",
    "Variable",
    "backward",
    "check_primitive",
    "checkpoint",
    "compile",
    "composites",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "gradients",
    "hessian",
    "hvp",
    "implements",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "no_grad",
    "ops",
    "primitive",
    "set_grad_enabled",
    "tree_flatten",
    "tree_map",
    "tree_unflatten",
    "value_and_grad",
    "vjp",
]
__all__ += composites.__all__
