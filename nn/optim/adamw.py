"""AdamW, as torch.optim.AdamW."""

from __future__ import annotations

__all__: list[str] = []
