"""torch.nn.functional's sparse functions on Variables."""

from __future__ import annotations

__all__: list[str] = []
