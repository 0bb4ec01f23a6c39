"""Dropout layers: active in train mode, the identity in eval mode."""

from __future__ import annotations

__all__: list[str] = []
