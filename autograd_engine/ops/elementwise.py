"""Primitives: the elementwise family (forward on tensors + VJPs written in primitives)."""

from __future__ import annotations

__all__: list[str] = []
