"""The primitives: a forward on torch tensors and, under it, one vector-Jacobian product per input.

Read each family as a table of derivatives. A VJP receives the output gradient `g`, the output `ans`
(when saved) and the inputs, and is written with primitives, so it runs on plain tensors in an
ordinary backward and on Variables (recording a graph) when `create_graph=True`: gradients of
gradients come for free. Inputs that a VJP reads only the shape of arrive as `Meta`.

Families: `core` (arithmetic, where, sum/max/min, shape and layout, matmul: what the others are written
in), `conv` (unfold/fold and the native convolutions), `elementwise`, `reductions`, `indexing`,
`shape`, `linalg`, `blas` (the add* family on torch's one BLAS kernel), `pooling`, and fused kernels
for composites torch has one kernel for (`activations`, `normalization`, `sdpa`), each tested equal to
its composite. Defining a primitive registers it in `PRIMITIVES`; docs/engine.md says how to add one.
"""

from ..primitive import REGISTRY as PRIMITIVES
from . import (
    activations,
    blas,
    conv,
    elementwise,
    indexing,
    linalg,
    losses,
    normalization,
    pooling,
    reductions,
    sdpa,
    shape,
)
from .activations import *  # noqa: F403
from .blas import *  # noqa: F403
from .conv import *  # noqa: F403
from .core import (
    add,
    alias,
    cat,
    div,
    exp,
    expand,
    gather,
    getitem,
    inverse_permutation,
    keep_dims,
    log,
    matmul,
    max,
    maximum,
    min,
    minimum,
    mul,
    neg,
    normalize_dim,
    normalize_dims,
    pad,
    pass_above,
    permute,
    pow,
    reshape,
    share_among_ties,
    sub,
    sum,
    sum_to,
    threshold,
    to,
    transpose,
    unbroadcast,
    ungather,
    untake,
    where,
)
from .elementwise import *  # noqa: F403
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .losses import *  # noqa: F403
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .reductions import *  # noqa: F403
from .sdpa import *  # noqa: F403
from .shape import *  # noqa: F403

__all__ = [
    "share_among_ties",
    "normalize_dim",
    "ungather",
    "gather",
    "minimum",
    "min",
    "PRIMITIVES",
    "add",
    "alias",
    "cat",
    "div",
    "exp",
    "expand",
    "getitem",
    "inverse_permutation",
    "keep_dims",
    "log",
    "matmul",
    "max",
    "maximum",
    "mul",
    "neg",
    "normalize_dims",
    "pad",
    "pass_above",
    "permute",
    "pow",
    "reshape",
    "sub",
    "sum",
    "sum_to",
    "threshold",
    "to",
    "transpose",
    "unbroadcast",
    "untake",
    "where",
]
__all__ += activations.__all__
__all__ += blas.__all__
__all__ += sdpa.__all__
__all__ += conv.__all__
__all__ += elementwise.__all__
__all__ += indexing.__all__
__all__ += linalg.__all__
__all__ += losses.__all__
__all__ += normalization.__all__
__all__ += pooling.__all__
__all__ += reductions.__all__
__all__ += shape.__all__
