"""Indexing with torch's names and signatures: gather, where..."""

from __future__ import annotations

from typing import Any

import torch

from .. import ops
from ..dispatch import implements
from ..ops import normalize_dim
from ..variable import unwrap

__all__ = ["gather", "where"]


@implements(torch.gather, torch.Tensor.gather)
def gather(x: Any, dim: int, index: Any) -> Any:
    """torch.gather: x's elements at `index` (an int64 tensor, never differentiated) along `dim`."""
    return ops.gather(x, dim=normalize_dim(dim, x.ndim), index=unwrap(index))


@implements(torch.where)
def where(cond: Any, x: Any, y: Any) -> Any:
    """x where `cond` (a boolean tensor, never differentiated) holds, else y."""
    return ops.where(unwrap(cond), x, y)
