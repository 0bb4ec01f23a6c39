"""torch.nn.functional's normalization functions on Variables."""

from __future__ import annotations

__all__: list[str] = []
