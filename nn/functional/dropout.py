"""torch.nn.functional's dropout functions on Variables: dropout, dropout1d/2d/3d, alpha_dropout and
feature_alpha_dropout.

The noise is drawn from torch's global generator exactly as torch draws it (on the CPU: a tensor of the
noise's shape filled by bernoulli_(1 - p), then scaled in place), so after torch.manual_seed(s) a run
equals torch's, mask for mask and bit for bit. The result is input * noise (+ b for alpha dropout): its
gradient is the output gradient times the noise, and inplace=True writes the result into the input, as
torch's in-place methods do (see autograd_engine.composites.indexing.in_place).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from autograd_engine import implements, ops
from autograd_engine.composites.indexing import in_place
from autograd_engine.variable import unwrap

__all__ = ["alpha_dropout", "dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"]

_FUSED = ("cuda", "xpu", "lazy")  # where torch's dropout runs its fused native_dropout kernel
_ALPHA = 1.7580993408473766  # SELU's alpha times its scale: alpha dropout keeps SELU's mean and variance


def _check_probability(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply(x: Any, inplace: bool, name: str, constant: torch.Tensor) -> Any:
    out_of_place = ops.mul if name == "mul_" else ops.add
    return in_place(name, out_of_place, x, constant) if inplace else out_of_place(x, constant)


def _dropout(x: Any, p: float, train: bool, inplace: bool, features: bool | None, alpha: bool) -> Any:
    """torch's _dropout_impl: noise per element (`features` None) or per channel of a batched (True) or an
    unbatched (False) input."""
    raw = unwrap(x)
    if p == 0 or not train or raw.numel() == 0:
        return x
    if p == 1:
        return _apply(x, inplace, "mul_", raw.new_zeros(()))
    noise_shape = None if features is None else _feature_noise(raw, features)
    if noise_shape is None and not alpha and raw.device.type in _FUSED:
        # torch's fused kernel draws the mask there: the same mask, scaled as that kernel scales
        noise = torch.native_dropout(raw, p, True)[1].to(raw.dtype).div_(1 - p)
        return _apply(x, inplace, "mul_", noise)
    noise = torch.empty_like(raw) if noise_shape is None else raw.new_empty(noise_shape)
    noise.bernoulli_(1 - p)
    if not alpha:
        return _apply(x, inplace, "mul_", noise.div_(1 - p))
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    b = noise.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p)
    return _apply(_apply(x, inplace, "mul_", noise.mul_(a)), inplace, "add_", b)


def _warn_unless_dims(x: Any, spatial: int) -> None:
    """torch's deprecation warning for a dropout{spatial}d input of another number of dims."""
    if x.ndim not in (spatial + 1, spatial + 2):
        name = f"dropout{spatial}d"
        warnings.warn(
            f"{name}: Received a {x.ndim}-D input to {name}, which is deprecated and will result in an error in a "
            "future release. To retain the behavior and silence this warning, please use dropout instead. Note "
            f"that {name} exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, a "
            f"channel dimension, and an optional batch dimension (i.e. {spatial + 1}D or {spatial + 2}D inputs).",
            stacklevel=3,
        )


def _feature_noise(x: torch.Tensor, batched: bool) -> tuple[int, ...]:
    """One noise value per channel: (N, C, 1, ...), or (C, 1, ...) for an unbatched input."""
    if x.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    lead = tuple(x.shape[:2]) if batched else tuple(x.shape[:1])
    return lead + (1,) * (x.ndim - len(lead))


@implements(torch.nn.functional.dropout)
def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero each element with probability p and scale the rest by 1 / (1 - p) while training; the input
    itself otherwise."""
    _check_probability(p)
    return _dropout(input, p, training, inplace, None, alpha=False)


@implements(torch.nn.functional.alpha_dropout)
def alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Any:  # noqa: A002
    """Dropout for SELU networks: dropped elements become SELU's negative saturation, and an affine map
    keeps the mean and variance (as torch)."""
    _check_probability(p)
    return _dropout(input, p, training, inplace, None, alpha=True)


@implements(torch.nn.functional.feature_alpha_dropout)
def feature_alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Any:  # noqa: A002
    """alpha_dropout of whole channels."""
    _check_probability(p)
    return _dropout(input, p, training, inplace, True, alpha=True)


@implements(torch.nn.functional.dropout1d)
def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Dropout of whole channels of (N, C, L) or (C, L)."""
    _check_probability(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that dropout1d exists to "
            "provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional "
            "batch dimension (i.e. 2D or 3D inputs)."
        )
    return _dropout(input, p, training, inplace, input.ndim == 3, alpha=False)


@implements(torch.nn.functional.dropout2d)
def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Dropout of whole channels of (N, C, H, W); a 3-d input is read as (N, C, L), with torch's warnings."""
    _check_probability(p)
    _warn_unless_dims(input, 2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
            "instead.",
            stacklevel=2,
        )
    return _dropout(input, p, training, inplace, True, alpha=False)


@implements(torch.nn.functional.dropout3d)
def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Dropout of whole channels of (N, C, D, H, W) or (C, D, H, W)."""
    _check_probability(p)
    _warn_unless_dims(input, 3)
    return _dropout(input, p, training, inplace, input.ndim == 5, alpha=False)


def _torch_dropout(feature: bool, alpha: bool) -> Any:
    """torch.dropout and its kin: (input, p, train), p checked by the kernel (a RuntimeError)."""

    def rule(input: Any, p: float, train: bool) -> Any:  # noqa: A002 (torch's names)
        if not 0 <= p <= 1:
            raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")
        return _dropout(input, p, train, False, True if feature else None, alpha)

    return rule


implements(torch.dropout)(_torch_dropout(feature=False, alpha=False))
implements(torch.feature_dropout)(_torch_dropout(feature=True, alpha=False))
implements(torch.alpha_dropout)(_torch_dropout(feature=False, alpha=True))
implements(torch.feature_alpha_dropout)(_torch_dropout(feature=True, alpha=True))
