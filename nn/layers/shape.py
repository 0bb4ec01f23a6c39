"""Layers that reshape or resample: Flatten, Unflatten, Identity, Upsample, PixelShuffle."""

from __future__ import annotations

__all__: list[str] = []
