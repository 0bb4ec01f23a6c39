"""MultiheadAttention, as torch.nn.MultiheadAttention."""

from __future__ import annotations

__all__: list[str] = []
