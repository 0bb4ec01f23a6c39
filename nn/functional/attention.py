"""torch.nn.functional's attention functions on Variables."""

from __future__ import annotations

__all__: list[str] = []
