"""torch.nn.functional's distance functions on Variables."""

from __future__ import annotations

__all__: list[str] = []
