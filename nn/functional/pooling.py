"""torch.nn.functional's pooling functions on Variables."""

from __future__ import annotations

__all__: list[str] = []
