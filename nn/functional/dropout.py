"""torch.nn.functional's dropout functions on Variables."""

from __future__ import annotations

__all__: list[str] = []
