"""torch.nn.functional's vision functions on Variables: grid_sample and affine_grid (spatial transformers),
channel_shuffle, and the deprecated upsample aliases of interpolate.

grid_sample is a composite: the sampling positions' integer parts are constants, the taps are one gather
from the flattened input, and the weights are arithmetic on the grid's fractional parts, so gradients
reach both the input and the grid at every order. The coordinate arithmetic follows torch's CPU kernels
(its unnormalization, reflection and clipping), and so do the gradients at the kinks: where a position is
an integer the slope is the one towards the next tap, and the borders of the clipped range pass none.
"""

from __future__ import annotations

import functools
import itertools
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as tnf

import autograd_engine as ag
from autograd_engine import Variable, implements, ops
from autograd_engine.variable import unwrap

from .pooling import interpolate

__all__ = [
    "affine_grid",
    "channel_shuffle",
    "grid_sample",
    "native_channel_shuffle",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]

_ALIGN_CORNERS_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. Please specify "
    "align_corners=True if the old behavior is desired. See the documentation of grid_sample for details."
)
_CUBIC_A = -0.75  # torch's bicubic convolution constant


# --- channel shuffle ---------------------------------------------------------------------------------
@implements(tnf.channel_shuffle, tnf.native_channel_shuffle)
def channel_shuffle(input: Any, groups: int) -> Any:  # noqa: A002 (torch's names)
    """(N, C, *) with its C channels in `groups` groups of C/groups, interleaved: channel g*(C/groups) + k
    moves to k*groups + g (torch.nn.functional.channel_shuffle and native_channel_shuffle)."""
    try:
        groups = operator.index(groups)
    except TypeError:
        raise TypeError(f"channel_shuffle(): argument 'groups' must be int, not {type(groups).__name__}") from None
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    blocks = ops.reshape(input, shape=(n, groups, c // groups, *rest))
    moved = ops.permute(blocks, dims=(0, 2, 1, *range(3, blocks.ndim)))
    return ops.reshape(moved, shape=tuple(input.shape))


native_channel_shuffle = channel_shuffle


# --- upsample: torch's deprecated names for interpolate ----------------------------------------------
def _deprecated(name: str) -> None:
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=3)


@implements(tnf.upsample)
def upsample(
    input: Any,  # noqa: A002 (torch's names)
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Variable:
    """Deprecated alias of interpolate (warns as torch does)."""
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


@implements(tnf.upsample_nearest)
def upsample_nearest(input: Any, size: Any = None, scale_factor: Any = None) -> Variable:  # noqa: A002
    """Deprecated: interpolate(..., mode='nearest') (warns as torch does)."""
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


@implements(tnf.upsample_bilinear)
def upsample_bilinear(input: Any, size: Any = None, scale_factor: Any = None) -> Variable:  # noqa: A002
    """Deprecated: interpolate(..., mode='bilinear', align_corners=True) (warns as torch does)."""
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --- affine_grid ---------------------------------------------------------------------------------------
def _linspace_from_neg_one(like: torch.Tensor, steps: int, align_corners: bool) -> torch.Tensor:
    """torch's sampling positions along one dim of an affine grid, in [-1, 1] (pixel centres unless
    align_corners), computed with torch's float steps."""
    if steps <= 1:
        return torch.tensor(0, dtype=like.dtype, device=like.device)
    positions = torch.linspace(-1, 1, steps, dtype=like.dtype, device=like.device)
    return positions if align_corners else positions * (steps - 1) / steps


def _base_grid(theta: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    """(N, *spatial, dims + 1): the output positions (x, y[, z]) and a 1, as torch's make_base_grid."""
    n, spatial = size[0], list(size[2:])
    dims = len(spatial)
    grid = torch.empty((n, *spatial, dims + 1), dtype=theta.dtype, device=theta.device)
    for axis, steps in enumerate(reversed(spatial)):  # x runs along the last dim, y the one before, ...
        positions = _linspace_from_neg_one(theta, steps, align_corners)
        grid.select(-1, axis).copy_(positions.reshape((steps,) + (1,) * axis) if positions.ndim else positions)
    grid.select(-1, dims).fill_(1)
    return grid


@implements(tnf.affine_grid)
def affine_grid(theta: Any, size: Sequence[int], align_corners: bool | None = None) -> Any:
    """The sampling grid (N, H, W, 2) or (N, D, H, W, 3) of the affine maps theta (N, 2, 3) or (N, 3, 4) for
    an output of `size` (N, C, H, W) or (N, C, D, H, W): theta applied to each output position (x, y[, z], 1)
    in [-1, 1] coordinates, for grid_sample."""
    if align_corners is None:
        warnings.warn(_ALIGN_CORNERS_WARNING, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) not in (4, 5):
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. "
            f"Got size {size}."
        )
    dims = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[-2:]) != (dims, dims + 1):
        raise ValueError(
            f"Expected a batch of {dims}D affine matrices of shape Nx{dims}x{dims + 1} for size {size}. "
            f"Got {theta.shape}."
        )
    if align_corners and min(size[2:]) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when align_corners=True. "
            "This is not an intended use case of affine_grid. See the documentation of affine_grid for details.",
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(
            f"affine_grid: expected theta with batch size {size[0]} (size {size}), got theta of shape "
            f"{tuple(theta.shape)}"
        )
    base = _base_grid(unwrap(theta), size, align_corners)
    points = torch.Size(size[2:]).numel()
    grid = ops.matmul(base.reshape(size[0], points, dims + 1), ops.transpose(theta, 1, 2))
    return ops.reshape(grid, shape=(size[0], *size[2:], dims))


# --- grid_sample ---------------------------------------------------------------------------------------
_MODES = ("bilinear", "nearest", "bicubic")
_PADDING_MODES = ("zeros", "border", "reflection")


def _check_grid_sample(input: Any, grid: Any, mode: str, padding_mode: str) -> None:  # noqa: A002
    """torch's checks for grid_sample's arguments, in torch's order and words."""
    if mode not in _MODES:
        raise ValueError(
            f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{mode}'"
        )
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', "
            f"but got: '{padding_mode}'"
        )
    shapes = f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
    if input.device != grid.device:
        raise RuntimeError(
            f"grid_sampler(): expected input and grid to be on same device, but input is on {input.device} and "
            f"grid is on {grid.device}"
        )
    if input.ndim == 0 or grid.ndim == 0 or input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got {shapes}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(
            f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but got grid with "
            f"sizes {list(grid.shape)}"
        )
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(
                "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes "
                f"{list(input.shape)} with dimension {d} being empty"
            )
    wanted = 4 if input.ndim == 4 else 5
    if input.ndim != wanted or grid.ndim != wanted:
        raise RuntimeError(
            f"grid_sampler(): expected {wanted}D input and grid with same number of dimensions, but got {shapes}"
        )
    if wanted == 5 and mode == "bicubic":
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if input.dtype != grid.dtype:
        raise RuntimeError(
            f"grid_sampler(): expected input and grid to have the same dtype, but input has {input.dtype} and "
            f"grid has {grid.dtype}"
        )
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"grid_sampler(): not implemented for {input.dtype} (expected floating point)")


def _unnormalize(coordinate: Any, size: int, align_corners: bool) -> Any:
    """[-1, 1] to pixel units: the corner pixels' centres (align_corners) or their outer edges at +-1, as
    torch's CPU kernel computes it ((c + 1) * scale - 0.5)."""
    if align_corners:
        return (coordinate + 1) * ((size - 1) / 2)
    return (coordinate + 1) * (size / 2) - 0.5


def _clip(x: Any, size: int) -> Any:
    """x clipped to [0, size - 1]; the borders themselves pass no gradient, as in torch."""
    top = float(size - 1)
    raw = unwrap(x)
    return ops.where(raw <= 0, 0.0, ops.where(raw >= top, top, x))


def _reflect(x: Any, size: int, align_corners: bool) -> Any:
    """x reflected about the image's borders (the corner pixels' centres, or their outer edges) until it lies
    between them, as torch's CPU kernel: the distance from the low border, folded modulo twice the span."""
    low, twice_span = (0.0, 2.0 * (size - 1)) if align_corners else (-0.5, 2.0 * size)
    if twice_span == 0:
        return torch.zeros_like(unwrap(x))
    shifted = x - low
    raw = unwrap(shifted)
    distance = ops.where(raw < 0, -shifted, shifted)
    extra = distance - torch.trunc(unwrap(distance) / twice_span) * twice_span
    reflected = twice_span - extra
    return ops.where(unwrap(extra) > unwrap(reflected), reflected, extra) + low


def _source(coordinate: Any, size: int, padding_mode: str, align_corners: bool) -> Any:
    """A grid coordinate as a pixel position, with the padding mode's mapping into the image."""
    x = _unnormalize(coordinate, size, align_corners)
    if padding_mode == "border":
        return _clip(x, size)
    if padding_mode == "reflection":
        return _clip(_reflect(x, size, align_corners), size)
    return x


def _cubic_weights(t: Any) -> list[Any]:
    """torch's bicubic convolution weights of the four taps around a position with fractional part t."""
    a = _CUBIC_A

    def near(s: Any) -> Any:  # |s| <= 1
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s: Any) -> Any:  # 1 < |s| < 2
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(
    coordinate: Any, size: int, mode: str, padding_mode: str, align_corners: bool
) -> list[tuple[torch.Tensor, Any]]:
    """Along one dim: the (pixel index, weight) pairs whose weighted sum samples `coordinate` (weight None for
    nearest). Indices may fall outside [0, size) only with zeros padding, where such taps read zero."""
    if mode == "nearest":
        return [(torch.round(unwrap(_source(unwrap(coordinate), size, padding_mode, align_corners))), None)]
    if mode == "bilinear":
        x = _source(coordinate, size, padding_mode, align_corners)
        low = torch.floor(unwrap(x))
        return [(low, (low + 1) - x), (low + 1, x - low)]
    x = _unnormalize(coordinate, size, align_corners)  # bicubic: the padding maps each tap, not the position
    low = torch.floor(unwrap(x))
    taps = []
    for i, weight in enumerate(_cubic_weights(x - low)):
        index = low + (i - 1)
        if padding_mode == "border":
            index = _clip(index, size)
        elif padding_mode == "reflection":
            index = _clip(_reflect(index, size, align_corners), size)
        taps.append((index, weight))
    return taps


def _tap(combination: Sequence[tuple[torch.Tensor, Any]], sizes: Sequence[int]) -> tuple[torch.Tensor, Any, Any]:
    """One tap of the product of the per-dim taps: its index into the flattened spatial dims (clamped into
    range), its weight (the product of the per-dim weights; None for nearest), and where it is inside."""
    inside = functools.reduce(
        operator.and_, [(index >= 0) & (index < size) for (index, _), size in zip(combination, sizes)]
    )
    clamped = [index.clamp(0, size - 1).long() for (index, _), size in zip(combination, sizes)]
    flat = functools.reduce(lambda total, pair: total * pair[1] + pair[0], zip(clamped[1:], sizes[1:]), clamped[0])
    weights = [weight for _, weight in combination]
    return flat, None if weights[0] is None else functools.reduce(operator.mul, weights), inside


@implements(tnf.grid_sample)
def grid_sample(
    input: Any,  # noqa: A002 (torch's names)
    grid: Any,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Any:
    """Samples input (N, C, H, W) at the positions grid (N, H_out, W_out, 2) gives as (x, y) in [-1, 1]
    (or (N, C, D, H, W) at (N, D_out, H_out, W_out, 3) as (x, y, z)): output (N, C, H_out, W_out) or
    (N, C, D_out, H_out, W_out). Modes bilinear (trilinear on 5-d), nearest (ties to even, as torch) and
    bicubic (4-d); padding_mode zeros, border or reflection for positions outside the input."""
    _check_grid_sample(input, grid, mode, padding_mode)
    if align_corners is None:
        warnings.warn(_ALIGN_CORNERS_WARNING, stacklevel=2)
        align_corners = False
    n, c, *sizes = input.shape
    out_shape = tuple(grid.shape[1:-1])
    points = torch.Size(out_shape).numel()
    dims = len(sizes)
    flat_grid = ops.reshape(grid, shape=(n, points, dims))
    per_dim = []  # (index, weight) options along each input dim, in the input's order (D,) H, W
    for d, size in enumerate(sizes):
        coordinate = ops.getitem(flat_grid, index=(slice(None), slice(None), dims - 1 - d))  # x is W's, y H's
        per_dim.append(_taps(coordinate, size, mode, padding_mode, align_corners))
    indices, weights, inside = zip(*(_tap(combination, sizes) for combination in itertools.product(*per_dim)))
    taps = len(indices)
    index = torch.stack(list(indices), 1).reshape(n, 1, taps * points).expand(n, c, taps * points)
    values = ops.gather(ops.reshape(input, shape=(n, c, torch.Size(sizes).numel())), dim=2, index=index)
    values = ops.reshape(values, shape=(n, c, taps, points))
    if padding_mode == "zeros":
        values = ops.where(torch.stack(list(inside), 1).unsqueeze(1), values, 0.0)
    if mode != "nearest":
        values = ops.sum(ops.mul(values, ops.reshape(ag.stack(list(weights), 1), shape=(n, 1, taps, points))), dim=2)
    return ops.reshape(values, shape=(n, c, *out_shape))
