"""Creation, dtype and device: zeros, ones, arange, rand..., the *_like forms, conversions."""

from __future__ import annotations

__all__: list[str] = []
