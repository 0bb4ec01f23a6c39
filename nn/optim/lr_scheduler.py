"""Learning-rate schedulers with torch.optim.lr_scheduler's names and step semantics."""

from __future__ import annotations

__all__: list[str] = []
