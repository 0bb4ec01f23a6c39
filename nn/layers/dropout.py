"""Dropout layers, as torch.nn's: active in train mode, the identity in eval mode. The noise comes from
torch's global generator drawn as torch draws it, so after the same torch.manual_seed the masks are
torch.nn's, bit for bit."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..module import Module

__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    """The drop probability p (checked, as torch) and whether to write the result into the input."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability p and scales the others by 1 / (1 - p)."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L)."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) (a 3-d input is read as (N, C, L), with torch's
    warning)."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W)."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: keeps the mean and variance (inplace is ignored, as in torch)."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """AlphaDropout of whole channels (inplace is ignored, as in torch)."""

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.feature_alpha_dropout(input, self.p, self.training)
