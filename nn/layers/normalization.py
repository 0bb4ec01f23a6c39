"""Normalization layers with torch.nn's parameters, buffers and state-dict keys."""

from __future__ import annotations

__all__: list[str] = []
