"""Linear algebra with torch's names and signatures."""

from __future__ import annotations

import torch

from ..dispatch import implements
from ..ops import matmul

__all__ = ["matmul"]

implements(torch.matmul, torch.Tensor.matmul)(matmul)
