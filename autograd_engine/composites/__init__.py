"""Composites: functions built from primitives only, so they need no derivative of their own.

They are the public, torch-style API, one file per family (elementwise, reductions, shape, indexing,
linalg, creation): torch's names, signatures and return types, each registered with `@implements` for the torch
functions (and torch.Tensor methods) it stands for, so `torch.X(v)`, `v.X()` and `ag.X(v)` are the
same call. Every function accepts Variables and tensors, the arithmetic ones numbers too. `inplace` adds
torch.Tensor's remaining in-place methods (addmm_, eq_, unsqueeze_, fill_diagonal_...) on those rules.
"""

from . import (
    creation,
    elementwise,
    indexing,
    inplace,  # noqa: F401  (registers the in-place methods on the rules above)
    linalg,
    reductions,
    shape,
)
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .reductions import *  # noqa: F403
from .shape import *  # noqa: F403

__all__: list[str] = []
__all__ += creation.__all__
__all__ += elementwise.__all__
__all__ += indexing.__all__
__all__ += linalg.__all__
__all__ += reductions.__all__
__all__ += shape.__all__
