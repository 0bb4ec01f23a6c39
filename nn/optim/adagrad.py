"""Adagrad, as torch.optim.Adagrad."""

from __future__ import annotations

__all__: list[str] = []
