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
from .transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .composites import (
    abs,
    add,
    cat,
    clamp,
    div,
    exp,
    expand,
    flatten,
    fold,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    mse,
    mul,
    neg,
    pad,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    tanh,
    threshold,
    transpose,
    unfold,
    unsqueeze,
    where,
)
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
    "check_primitive",
    "checkpoint",
    "detect_anomaly",
    "hvp",
    "is_anomaly_enabled",
    "jvp",
    "PRIMITIVES",
    "GradcheckError",
    "GraphFreedError",
    "InplaceModificationError",
    "Node",
    "Primitive",
    "Variable",
    "abs",
    "add",
    "backward",
    "cat",
    "clamp",
    "div",
    "enable_grad",
    "exp",
    "expand",
    "flatten",
    "fold",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "gradients",
    "hessian",
    "is_grad_enabled",
    "jacobian",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mse",
    "mul",
    "neg",
    "no_grad",
    "ops",
    "pad",
    "permute",
    "pow",
    "primitive",
    "relu",
    "reshape",
    "set_grad_enabled",
    "sigmoid",
    "softmax",
    "softplus",
    "sqrt",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "tanh",
    "threshold",
    "transpose",
    "tree_flatten",
    "tree_map",
    "tree_unflatten",
    "unfold",
    "unsqueeze",
    "value_and_grad",
    "vjp",
    "where",
]
