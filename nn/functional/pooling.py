"""torch.nn.functional's pooling and resampling functions on Variables: max, average, adaptive and power
pools (1-d, 2-d, 3-d), unpooling, interpolate (and the deprecated upsample*), pixel (un)shuffle.

torch's signatures and return types (return_indices=True gives (output, indices)). Arguments go to torch's
own kernels as given, so bad ones raise torch's errors; the 1-d pools are the 2-d ones on a height-1 input,
as torch computes them. Max pools take torch's argmax indices (a constant) and differentiate through them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as tnf
from torch.nn.modules.utils import _list_with_default, _pair, _single, _triple

from autograd_engine import Variable, implements, ops
from autograd_engine.variable import unwrap

from .conv import named_for_dims

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
    "interpolate",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "pixel_shuffle",
    "pixel_unshuffle",
]

Ints = int | Sequence[int]


def _height_one(x: Any) -> Any:
    """(..., L) as (..., 1, L): torch's 1-d pools are its 2-d pools on this."""
    return ops.reshape(x, shape=(*x.shape[:-1], 1, x.shape[-1]))


def _drop_height(x: Any) -> Any:
    return ops.reshape(x, shape=(*x.shape[:-2], x.shape[-1]))


def _one(value: Any, function: str, name: str) -> int:
    """A 1-d pool's argument: an int or a sequence of one, as torch's check1d."""
    if isinstance(value, Sequence):
        if len(value) != 1:
            raise RuntimeError(f"{function}() argument '{name}' should contain one int (got {len(value)})")
        return int(value[0])
    return int(value)


def _pair_named(
    pool: Callable[..., Any], with_indices: Callable[..., Any], name: str, doc: str
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """A max pool and its _with_indices twin (which always returns (output, indices)), named."""
    return named_for_dims(pool, name, doc), named_for_dims(
        with_indices, f"{name}_with_indices", f"{name}'s (output, indices)."
    )


# --- max pools ---------------------------------------------------------------------------------------
_MAX_POOL = {
    1: (torch.max_pool1d_with_indices, torch.max_pool1d),
    2: (torch._C._nn.max_pool2d_with_indices, torch.max_pool2d),
    3: (torch._C._nn.max_pool3d_with_indices, torch.max_pool3d),
}


def _max_pool(
    dims: int, x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, indices: bool
) -> tuple[Variable, torch.Tensor]:
    """torch's max pool over `dims` spatial dims: its kernel finds the argmaxes (and checks the arguments),
    the output is x at them. Without `indices` asked for, bad arguments get torch.max_poolNd's words."""
    raw, args = unwrap(x), (kernel_size, [] if stride is None else stride, padding, dilation, ceil_mode)
    with_indices, values_only = _MAX_POOL[dims]
    try:
        _, argmax = with_indices(raw, *args)
    except RuntimeError:
        if not indices:
            values_only(raw, *args)
        raise
    return ops.max_pool(x, indices=argmax, dims=dims), argmax


def _max_pools(dims: int, shapes: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """max_poolNd and max_poolNd_with_indices, with torch's signatures."""

    def pool(
        input: Any,  # noqa: A002 (torch's names)
        kernel_size: Ints,
        stride: Ints | None = None,
        padding: Ints = 0,
        dilation: Ints = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        out, indices = _max_pool(dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
        return (out, indices) if return_indices else out

    def with_indices(
        input: Any,  # noqa: A002 (torch's names)
        kernel_size: Ints,
        stride: Ints | None = None,
        padding: Ints = 0,
        dilation: Ints = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> tuple[Variable, torch.Tensor]:
        return _max_pool(dims, input, kernel_size, stride, padding, dilation, ceil_mode, True)

    doc = (
        f"Max over sliding windows of {shapes}; with return_indices, (output, indices), the indices flat over the "
        "spatial dims; the gradient goes to each window's argmax (repeats accumulate), as in torch."
    )
    return _pair_named(pool, with_indices, f"max_pool{dims}d", doc)


max_pool1d, max_pool1d_with_indices = _max_pools(1, "(N, C, L) or (C, L)")
max_pool2d, max_pool2d_with_indices = _max_pools(2, "(N, C, H, W) or (C, H, W)")
max_pool3d, max_pool3d_with_indices = _max_pools(3, "(N, C, D, H, W) or (C, D, H, W)")
implements(tnf.max_pool1d, torch.max_pool1d)(max_pool1d)
implements(tnf.max_pool1d_with_indices, torch.max_pool1d_with_indices)(max_pool1d_with_indices)
implements(tnf.max_pool2d, torch.max_pool2d)(max_pool2d)
implements(tnf.max_pool2d_with_indices)(max_pool2d_with_indices)
implements(tnf.max_pool3d, torch.max_pool3d)(max_pool3d)
implements(tnf.max_pool3d_with_indices)(max_pool3d_with_indices)


def _adaptive_max_pool(dims: int, x: Any, output_size: Any) -> tuple[Variable, torch.Tensor]:
    raw = unwrap(x)
    if dims == 1:
        _, indices = torch.adaptive_max_pool1d(raw, output_size)
    else:
        kernel = torch._C._nn.adaptive_max_pool2d if dims == 2 else torch._C._nn.adaptive_max_pool3d
        _, indices = kernel(raw, _list_with_default(output_size, raw.size()))
    return ops.max_pool(x, indices=indices, dims=dims), indices


def _adaptive_max_pools(dims: int, shapes: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """adaptive_max_poolNd and adaptive_max_poolNd_with_indices, with torch's signatures."""

    def pool(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002 (torch's names)
        out, indices = _adaptive_max_pool(dims, input, output_size)
        return (out, indices) if return_indices else out

    def with_indices(
        input: Any,  # noqa: A002 (torch's names)
        output_size: Any,
        return_indices: bool = False,
    ) -> tuple[Variable, torch.Tensor]:
        return _adaptive_max_pool(dims, input, output_size)

    doc = (
        f"Max over `output_size` adaptive windows of {shapes} (None in output_size keeps that size); "
        "return_indices as max_pool."
    )
    return _pair_named(pool, with_indices, f"adaptive_max_pool{dims}d", doc)


adaptive_max_pool1d, adaptive_max_pool1d_with_indices = _adaptive_max_pools(1, "(N, C, L) or (C, L)")
adaptive_max_pool2d, adaptive_max_pool2d_with_indices = _adaptive_max_pools(2, "(N, C, H, W) or (C, H, W)")
adaptive_max_pool3d, adaptive_max_pool3d_with_indices = _adaptive_max_pools(3, "(N, C, D, H, W) or (C, D, H, W)")
implements(tnf.adaptive_max_pool1d)(adaptive_max_pool1d)
implements(tnf.adaptive_max_pool1d_with_indices, torch.adaptive_max_pool1d)(adaptive_max_pool1d_with_indices)
implements(tnf.adaptive_max_pool2d)(adaptive_max_pool2d)
implements(tnf.adaptive_max_pool2d_with_indices)(adaptive_max_pool2d_with_indices)
implements(tnf.adaptive_max_pool3d)(adaptive_max_pool3d)
implements(tnf.adaptive_max_pool3d_with_indices)(adaptive_max_pool3d_with_indices)


def _fractional_max_pools(dims: int, expand: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """fractional_max_poolNd and its _with_indices (torch's signatures): torch's kernel picks the windows
    from `_random_samples`, drawn from torch's generator as torch draws them when not given."""
    name = f"fractional_max_pool{dims}d"

    def with_indices(
        input: Any,  # noqa: A002 (torch's names)
        kernel_size: Ints,
        output_size: Ints | None = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Any = None,
    ) -> tuple[Variable, torch.Tensor]:
        raw = unwrap(input)
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
        if output_size is None:
            if dims == 2 and len(output_ratio) > 2:
                raise ValueError(f"{name} requires output_ratio to either be a single Int or tuple of Ints.")
            output_size = [int(n * r) for n, r in zip(raw.shape[-dims:], expand(output_ratio))]
        if _random_samples is None:
            batch = 1 if raw.dim() == dims + 1 else raw.size(0)
            _random_samples = torch.rand(batch, raw.size(-dims - 1), dims, dtype=raw.dtype, device=raw.device)
        kernel: Any = torch._C._nn.fractional_max_pool2d if dims == 2 else torch._C._nn.fractional_max_pool3d
        _, indices = kernel(raw, kernel_size, output_size, unwrap(_random_samples))
        return ops.max_pool(input, indices=indices, dims=dims), indices

    def pool(
        input: Any,  # noqa: A002 (torch's names)
        kernel_size: Ints,
        output_size: Ints | None = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Any = None,
    ) -> Any:
        out, indices = with_indices(input, kernel_size, output_size, output_ratio, True, _random_samples)
        return (out, indices) if return_indices else out

    doc = f"Max over {dims}-d windows at pseudo-random fractional strides (torch's); return_indices as max_pool."
    return _pair_named(pool, with_indices, name, doc)


fractional_max_pool2d, fractional_max_pool2d_with_indices = _fractional_max_pools(2, _pair)
fractional_max_pool3d, fractional_max_pool3d_with_indices = _fractional_max_pools(3, _triple)
implements(tnf.fractional_max_pool2d)(fractional_max_pool2d)
implements(tnf.fractional_max_pool2d_with_indices)(fractional_max_pool2d_with_indices)
implements(tnf.fractional_max_pool3d)(fractional_max_pool3d)
implements(tnf.fractional_max_pool3d_with_indices)(fractional_max_pool3d_with_indices)


# --- average pools -----------------------------------------------------------------------------------
def _avg_pool(
    dims: int,
    x: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
) -> Variable:
    return ops.avg_pool(
        x,
        dims=dims,
        kernel_size=kernel_size,
        stride=[] if stride is None else stride,
        padding=padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
    )


@implements(tnf.avg_pool1d)
def avg_pool1d(
    input: Any,  # noqa: A002 (torch's names)
    kernel_size: Ints,
    stride: Ints | None = None,
    padding: Ints = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Variable:
    """Mean over sliding windows of (N, C, L) or (C, L)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 'self' (while "
            "checking arguments for avg_pool1d)"
        )
    k = _one(kernel_size, "avg_pool1d", "kernel_size")
    s = k if stride is None or (isinstance(stride, Sequence) and not stride) else _one(stride, "avg_pool1d", "stride")
    p = _one(padding, "avg_pool1d", "padding")
    out = _avg_pool(2, _height_one(input), (1, k), (1, s), (0, p), ceil_mode, count_include_pad, None)
    return _drop_height(out)


def _avg_pools(dims: int, shapes: str) -> Callable[..., Any]:
    """avg_pool2d or avg_pool3d, with torch's signature."""

    def pool(
        input: Any,  # noqa: A002 (torch's names)
        kernel_size: Ints,
        stride: Ints | None = None,
        padding: Ints = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> Variable:
        return _avg_pool(dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    doc = f"Mean over sliding windows of {shapes} (divisor_override replaces the window's size)."
    return named_for_dims(pool, f"avg_pool{dims}d", doc)


avg_pool2d = implements(tnf.avg_pool2d)(_avg_pools(2, "(N, C, H, W) or (C, H, W)"))
avg_pool3d = implements(tnf.avg_pool3d)(_avg_pools(3, "(N, C, D, H, W) or (C, D, H, W)"))


@implements(tnf.adaptive_avg_pool1d)
def adaptive_avg_pool1d(input: Any, output_size: Ints) -> Variable:  # noqa: A002 (torch's names)
    """Mean over `output_size` adaptive windows of (N, C, L) or (C, L)."""
    size = _one(output_size, "adaptive_avg_pool1d", "output_size")
    return _drop_height(ops.adaptive_avg_pool(_height_one(input), output_size=(1, size)))


def _adaptive_avg_pools(dims: int, shapes: str) -> Callable[..., Any]:
    """adaptive_avg_pool2d or adaptive_avg_pool3d, with torch's signature."""

    def pool(input: Any, output_size: Any) -> Variable:  # noqa: A002 (torch's names)
        size = _list_with_default(output_size, input.shape)  # (None keeps the input's size)
        if not isinstance(size, int) and len(size) != dims:
            raise RuntimeError(f"adaptive_avg_pool{dims}d: output_size must be {dims}")
        return ops.adaptive_avg_pool(input, output_size=(size,) * dims if isinstance(size, int) else tuple(size))

    doc = f"Mean over adaptive windows of {shapes} (None in output_size keeps that size)."
    return named_for_dims(pool, f"adaptive_avg_pool{dims}d", doc)


adaptive_avg_pool2d = implements(tnf.adaptive_avg_pool2d)(_adaptive_avg_pools(2, "(N, C, H, W) or (C, H, W)"))
adaptive_avg_pool3d = implements(tnf.adaptive_avg_pool3d)(_adaptive_avg_pools(3, "(N, C, D, H, W) or (C, D, H, W)"))


# --- power-average pools: torch's formula on the pools above ----------------------------------------
def _lp_pools(dims: int, max_pool: Any, avg_pool: Any, expand: Any) -> Callable[..., Any]:
    """lp_poolNd, with torch's signature and torch's formula."""

    def pool(
        input: Any,  # noqa: A002 (torch's names)
        norm_type: float,
        kernel_size: Ints,
        stride: Ints | None = None,
        ceil_mode: bool = False,
    ) -> Any:
        if norm_type == math.inf:
            return max_pool(torch.abs(input), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -math.inf:
            return -max_pool(-torch.abs(input), kernel_size, stride, 0, 1, ceil_mode)
        out = avg_pool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
        window = math.prod(expand(kernel_size))
        return (torch.sign(out) * torch.relu(torch.abs(out))).mul(window).pow(1.0 / norm_type)

    doc = f"(sum of x ** p over sliding windows) ** (1/p) over {dims} spatial dims, as torch computes it."
    return named_for_dims(pool, f"lp_pool{dims}d", doc)


lp_pool1d = implements(tnf.lp_pool1d)(_lp_pools(1, max_pool1d, avg_pool1d, _single))
lp_pool2d = implements(tnf.lp_pool2d)(_lp_pools(2, max_pool2d, avg_pool2d, _pair))
lp_pool3d = implements(tnf.lp_pool3d)(_lp_pools(3, max_pool3d, avg_pool3d, _triple))


# --- unpooling ---------------------------------------------------------------------------------------
_unpool_output_size = tnf._unpool_output_size  # type: ignore[attr-defined]  # torch's own, with its errors


def _max_unpools(dims: int, expand: Any) -> Callable[..., Any]:
    """max_unpoolNd, with torch's signature (1-d as 2-d on a width-1 input, as torch does it)."""

    def unpool(
        input: Any,  # noqa: A002 (torch's names)
        indices: Any,
        kernel_size: Ints,
        stride: Ints | None = None,
        padding: Ints = 0,
        output_size: Sequence[int] | None = None,
    ) -> Variable:
        k, p = expand(kernel_size), expand(padding)
        s = k if stride is None else expand(stride)
        size = tuple(_unpool_output_size(unwrap(input), k, s, p, output_size))
        if dims == 3:
            return ops.max_unpool(input, indices=unwrap(indices), output_size=size, stride=s, padding=p)
        if dims == 2:
            return ops.max_unpool(input, indices=unwrap(indices), output_size=size)
        column = ops.reshape(input, shape=(*input.shape, 1))
        out = ops.max_unpool(column, indices=unwrap(indices).unsqueeze(-1), output_size=(*size, 1))
        return ops.reshape(out, shape=tuple(out.shape[:-1]))

    doc = (
        f"The inverse of max_pool{dims}d: input's values at `indices` (max_pool{dims}d's), zeros elsewhere; the "
        "gradient is the output gradient at `indices`, as in torch."
    )
    return named_for_dims(unpool, f"max_unpool{dims}d", doc)


max_unpool1d = implements(tnf.max_unpool1d)(_max_unpools(1, _single))
max_unpool2d = implements(tnf.max_unpool2d)(_max_unpools(2, _pair))
max_unpool3d = implements(tnf.max_unpool3d)(_max_unpools(3, _triple))


# --- interpolate ---------------------------------------------------------------------------------------
_INTERPOLATING = {
    "linear": (1, "upsample_linear1d"),
    "bilinear": (2, "upsample_bilinear2d"),
    "bicubic": (2, "upsample_bicubic2d"),
    "trilinear": (3, "upsample_trilinear3d"),
}


def _unsupported(dims: int, mode: str) -> NotImplementedError:
    return NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {dims + 2}D) for the modes: nearest | linear "
        f"| bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})"
    )


def _kernel(mode: str, dims: int, antialias: bool) -> str:
    """The aten upsampling kernel for `mode` on `dims` (1, 2 or 3) spatial dims, or torch's error."""
    if mode == "nearest":
        return f"upsample_nearest{dims}d"
    if mode == "nearest-exact":
        return f"_upsample_nearest_exact{dims}d"
    if mode == "lanczos" and dims == 2:
        return "_upsample_lanczos2d_aa"
    needed, kernel = _INTERPOLATING.get(mode, (None, ""))
    if needed is None:
        raise _unsupported(dims, mode)
    if needed != dims:
        raise NotImplementedError(f"Got {dims + 2}D input, but {mode} mode needs {needed + 2}D input")
    return f"_{kernel}_aa" if antialias else kernel


@implements(tnf.interpolate)
def interpolate(
    input: Any,  # noqa: A002 (torch's names)
    size: Ints | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Variable:
    """Resample (N, C, ...) to `size` or by `scale_factor`, as torch.nn.functional.interpolate: modes
    nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area (adaptive average pooling), lanczos;
    align_corners and antialias as in torch. Each mode is torch's kernel, and its gradient torch's backward
    kernel (the two are each other's adjoints)."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | "
                "trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dims = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    spatial = list(input.shape[2:])
    scales: list[float] | None = None
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dims:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {spatial} and output size of {size}. Please provide input tensor in (N, C, d1, "
                    "d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            if not all(isinstance(n, int) for n in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], but "
                    f"got size with types {[type(n) for n in size]}"
                )
            output = list(size)
        else:
            output = [size] * dims
    elif scale_factor is not None:
        if isinstance(scale_factor, Sequence):
            if len(scale_factor) != dims:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {spatial} and scale_factor of shape {scale_factor}. Please provide "
                    "input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            scales = list(scale_factor)
        else:
            scales = [scale_factor] * dims
        output = [int(n * s) for n, s in zip(spatial, scales)]  # (the kernels floor the same product)
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if recompute_scale_factor or mode == "area":
        scales = None  # the kernels recompute them from the (integer) sizes
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
        )
    if dims not in (1, 2, 3):
        raise _unsupported(dims, mode)
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[dims - 1](input, output)
    if mode == "lanczos":
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    kernel = _kernel(mode, dims, antialias)
    return ops.upsample(
        input,
        kernel=kernel,
        output_size=tuple(output),
        align_corners=None if mode.startswith("nearest") else align_corners,
        scales=(None,) * dims if scales is None else tuple(scales),
    )


# --- pixel shuffle -------------------------------------------------------------------------------------
def _check_factor(name: str, x: Any, factor: int, what: str) -> None:
    if x.ndim < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with {x.ndim} dimension(s)"
        )
    if factor <= 0:
        raise RuntimeError(f"{name} expects a positive {what}, but got {factor}")


@implements(tnf.pixel_shuffle)
def pixel_shuffle(input: Any, upscale_factor: int) -> Variable:  # noqa: A002 (torch's names)
    """(*, C r^2, H, W) to (*, C, H r, W r), as torch.pixel_shuffle."""
    r = upscale_factor
    _check_factor("pixel_shuffle", input, r, "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, "
            f"but input.size(-3)={c} is not divisible by {r * r}"
        )
    n = len(lead)
    blocks = ops.reshape(input, shape=(*lead, c // (r * r), r, r, h, w))
    moved = ops.permute(blocks, dims=(*range(n), n, n + 3, n + 1, n + 4, n + 2))
    return ops.reshape(moved, shape=(*lead, c // (r * r), h * r, w * r))


@implements(tnf.pixel_unshuffle)
def pixel_unshuffle(input: Any, downscale_factor: int) -> Variable:  # noqa: A002 (torch's names)
    """(*, C, H r, W r) to (*, C r^2, H, W), as torch.pixel_unshuffle (the inverse of pixel_shuffle)."""
    r = downscale_factor
    _check_factor("pixel_unshuffle", input, r, "downscale_factor")
    *lead, c, h, w = input.shape
    for name, size, dim in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but input.size({dim})={size} "
                f"is not divisible by {r}"
            )
    n = len(lead)
    blocks = ops.reshape(input, shape=(*lead, c, h // r, r, w // r, r))
    moved = ops.permute(blocks, dims=(*range(n), n, n + 2, n + 4, n + 1, n + 3))
    return ops.reshape(moved, shape=(*lead, c * r * r, h // r, w // r))
