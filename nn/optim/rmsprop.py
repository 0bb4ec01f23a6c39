"""RMSprop, as torch.optim.RMSprop."""

from __future__ import annotations

__all__: list[str] = []
