"""Pooling and resampling against torch: max, average, adaptive and power pools (1-d, 2-d, 3-d),
unpooling, interpolate and pixel (un)shuffle. Values, first and second derivatives (float64), written in
torch's spelling (torch.nn.functional on Variables dispatches to the engine); return types; torch's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (torch's spelling)

import autograd_engine as ag

from .oracles import compare_with_torch
from .test_torch_semantics import torch_error

torch.manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    """The same torch-style code runs on tensors and on Variables."""
    return (name, fn, fn, list(inputs))


X4 = r(2, 3, 6, 7)
TIES = torch.tensor([[[[1.0, 1.0, 2.0, 2.0], [1.0, 0.0, 2.0, 2.0], [3.0, 3.0, 3.0, 3.0]]]], dtype=torch.float64)
SAMPLES = torch.rand(2, 3, 3, dtype=torch.float64)  # fractional max pools' window offsets
IDX = F.max_pool2d(X4, 3, stride=2, padding=1, return_indices=True)[1]  # overlapping windows: repeats


def upsample_case(name: str, kernel: str, size: tuple[int, ...], x: torch.Tensor, *extra: Any) -> tuple[Any, ...]:
    """upsample_backward on its own against torch's backward kernel (differentiable in its gradient)."""

    def engine(g: Any) -> Any:
        corners = {} if not extra else {"align_corners": extra[0]}
        return ag.ops.upsample_backward(
            g, kernel=kernel, output_size=size, input_size=tuple(x.shape), scales=(None,) * len(size), **corners
        )

    def reference(g: torch.Tensor) -> torch.Tensor:
        return getattr(torch.ops.aten, f"{kernel}_backward")(g, size, tuple(x.shape), *extra)

    return (name, engine, reference, [r(*x.shape[:2], *size)])


# Each id starts with the primitive it covers (or the function, for those made of other primitives).
CASES = [
    case("max_pool-2d", lambda x: F.max_pool2d(x, 2), X4),
    case("max_pool-2d-overlapping", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), X4),
    case("max_pool-2d-dilated", lambda x: F.max_pool2d(x, (2, 3), stride=(1, 2), dilation=(2, 1)), X4),
    case("max_pool-2d-ties", lambda x: F.max_pool2d(x, 2, stride=1), TIES),
    case("max_pool-2d-unbatched", lambda x: torch.max_pool2d(x, 2, 1), r(3, 4, 5)),
    case("max_pool-2d-indices", lambda x: F.max_pool2d(x, 2, return_indices=True)[0] * 2, X4),
    case("max_pool-1d", lambda x: F.max_pool1d(x, 3, stride=2, padding=1), r(2, 3, 9)),
    case("max_pool-1d-unbatched-indices", lambda x: F.max_pool1d(x, 2, return_indices=True)[0], r(3, 8)),
    case("max_pool-3d", lambda x: F.max_pool3d(x, 2, stride=(1, 2, 2), padding=(1, 0, 1)), r(1, 2, 4, 5, 4)),
    case("max_pool-adaptive2d", lambda x: F.adaptive_max_pool2d(x, (4, None)), X4),
    case("max_pool-adaptive1d", lambda x: F.adaptive_max_pool1d(x, 4, return_indices=True)[0], r(2, 3, 7)),
    case("max_pool-adaptive3d", lambda x: F.adaptive_max_pool3d(x, 2), r(1, 2, 3, 5, 4)),
    case("max_pool-fractional2d", lambda x: F.fractional_max_pool2d(x, 2, 4, _random_samples=SAMPLES[:, :, :2]), X4),
    case(
        "max_pool-fractional3d",
        lambda x: F.fractional_max_pool3d(x, 2, output_ratio=0.5, _random_samples=SAMPLES),
        r(2, 3, 4, 5, 6),
    ),
    (
        "max_pool_backward",
        lambda g: ag.ops.max_pool_backward(g, indices=IDX, dims=2, shape=tuple(X4.shape)),
        lambda g: torch.ops.aten.max_pool2d_with_indices_backward(g, X4, 3, 2, 1, 1, False, IDX),
        [r(*IDX.shape)],
    ),
    case("max_unpool-2d", lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), r(2, 3, 6, 4)),
    case(
        "max_unpool-2d-output_size",
        lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=(6, 7)),
        X4,
    ),
    case("max_unpool-1d", lambda x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2), r(2, 3, 8)),
    case("max_unpool-3d", lambda x: F.max_unpool3d(*F.max_pool3d(x, 2, return_indices=True), 2), r(1, 2, 4, 4, 2)),
    case("max_unpool-direct", lambda x: F.max_unpool2d(x, IDX, 3, 2, 1, X4.shape[2:]), r(*IDX.shape)),
    case("avg_pool-2d", lambda x: F.avg_pool2d(x, 2), X4),
    case(
        "avg_pool-2d-options",
        lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        X4,
    ),
    case("avg_pool-2d-divisor", lambda x: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1), False, True, 4), X4),
    case("avg_pool-1d", lambda x: F.avg_pool1d(x, 3, stride=2, padding=1), r(2, 3, 9)),
    case("avg_pool-1d-unbatched", lambda x: torch.avg_pool1d(x, 2, ceil_mode=True), r(3, 7)),
    case("avg_pool-3d", lambda x: F.avg_pool3d(x, 2, stride=1, padding=1, divisor_override=3), r(1, 2, 3, 4, 3)),
    (
        "avg_pool_backward",
        lambda g: ag.ops.avg_pool_backward(
            g,
            shape=tuple(X4.shape),
            dims=2,
            kernel_size=3,
            stride=2,
            padding=1,
            ceil_mode=True,
            count_include_pad=False,
            divisor_override=None,
        ),
        lambda g: torch.ops.aten.avg_pool2d_backward(g, X4, 3, 2, 1, True, False, None),
        [r(2, 3, 4, 4)],
    ),
    case("adaptive_avg_pool-2d", lambda x: F.adaptive_avg_pool2d(x, (4, None)), X4),
    case("adaptive_avg_pool-2d-global", lambda x: F.adaptive_avg_pool2d(x, 1), X4),
    case("adaptive_avg_pool-1d", lambda x: torch.adaptive_avg_pool1d(x, 4), r(2, 3, 7)),
    case("adaptive_avg_pool-3d", lambda x: F.adaptive_avg_pool3d(x, (2, 3, 2)), r(1, 2, 3, 5, 4)),
    (
        "adaptive_avg_pool_backward",
        lambda g: ag.ops.adaptive_avg_pool_backward(g, shape=tuple(X4.shape), dims=2),
        lambda g: torch.ops.aten._adaptive_avg_pool2d_backward(g, X4),
        [r(2, 3, 4, 3)],
    ),
    case("upsample-nearest", lambda x: F.interpolate(x, scale_factor=2), X4),
    case("upsample-nearest-size", lambda x: F.interpolate(x, size=(5, 9)), X4),
    case("upsample-nearest-fractional", lambda x: F.interpolate(x, scale_factor=(1.7, 0.6)), X4),
    case("upsample-nearest-exact", lambda x: F.interpolate(x, scale_factor=1.5, mode="nearest-exact"), X4),
    case("upsample-nearest1d", lambda x: F.interpolate(x, size=11), r(2, 3, 5)),
    case("upsample-nearest3d", lambda x: F.interpolate(x, scale_factor=(2, 1, 1.5)), r(1, 2, 2, 3, 2)),
    case("upsample-bilinear", lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), X4),
    case(
        "upsample-bilinear-corners", lambda x: F.interpolate(x, size=(4, 11), mode="bilinear", align_corners=True), X4
    ),
    case(
        "upsample-bilinear-recompute",
        lambda x: F.interpolate(x, scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
        X4,
    ),
    case("upsample-bilinear-antialias", lambda x: F.interpolate(x, size=(3, 4), mode="bilinear", antialias=True), X4),
    case("upsample-bicubic", lambda x: F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False), X4),
    case(
        "upsample-linear", lambda x: F.interpolate(x, scale_factor=2.5, mode="linear", align_corners=True), r(2, 3, 5)
    ),
    case("upsample-trilinear", lambda x: F.interpolate(x, size=(3, 4, 2), mode="trilinear"), r(1, 2, 2, 3, 3)),
    case("upsample-area", lambda x: F.interpolate(x, scale_factor=0.5, mode="area"), X4),
    upsample_case("upsample_backward-bilinear", "upsample_bilinear2d", (9, 5), X4, False),
    upsample_case("upsample_backward-nearest", "upsample_nearest2d", (12, 14), X4),
    case("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), r(2, 8, 3, 4)),
    case("pixel_shuffle-batches", lambda x: torch.pixel_shuffle(x, 3), r(2, 2, 9, 2, 3)),
    case("pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2), r(2, 3, 4, 6)),
    case("pixel_unshuffle-unbatched", lambda x: F.pixel_unshuffle(x, 3), r(2, 6, 3)),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.lp_pool2d(x, 2, 2),
        lambda x: F.lp_pool2d(x, 3.0, (2, 3), stride=1, ceil_mode=True),
        lambda x: F.lp_pool1d(x.flatten(2), 2, 3),
    ],
)
def test_lp_pools_match_torch(fn):
    compare_with_torch(fn, fn, [X4.abs() + 0.1])


def test_pools_return_what_torch_returns():
    x = ag.Variable(X4, requires_grad=True)
    for fn in (
        lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
        lambda t: F.max_pool2d_with_indices(t, 2),
        lambda t: F.max_pool1d(t.flatten(2), 2, return_indices=True),
        lambda t: F.adaptive_max_pool2d(t, 3, return_indices=True),
        lambda t: torch.adaptive_max_pool1d(t.flatten(2), 5),
        lambda t: F.max_pool3d(t[None], 2, return_indices=True),
    ):
        (out, indices), (expected, expected_indices) = fn(x), fn(X4)
        assert isinstance(out, ag.Variable) and type(indices) is torch.Tensor
        torch.testing.assert_close(out.data, expected)
        assert torch.equal(indices, expected_indices)
    assert isinstance(F.max_pool2d(x, 2), ag.Variable) and F.max_pool2d(x, 2).op == "max_pool"


def test_fractional_max_pools_draw_their_windows_as_torch():
    for fn in (
        lambda t: F.fractional_max_pool2d(t, 3, output_ratio=(0.5, 0.7)),
        lambda t: F.fractional_max_pool2d(t[0], 2, output_size=3, return_indices=True)[0],
        lambda t: F.fractional_max_pool3d(t[None], (1, 2, 2), output_size=(2, 3, 3)),
    ):
        torch.manual_seed(5)
        expected = fn(X4)
        torch.manual_seed(5)
        assert torch.equal(fn(ag.Variable(X4, requires_grad=True)).data, expected)


ERRORS = {
    "max_pool-padding": lambda x: F.max_pool2d(x, 3, padding=2),
    "max_pool-too-small": lambda x: F.max_pool2d(x, 8),
    "max_pool1d-dims": lambda x: F.max_pool1d(x, 2, stride=(1, 2)),
    "avg_pool-padding": lambda x: F.avg_pool2d(x, 2, padding=2),
    "avg_pool1d-kernel": lambda x: F.avg_pool1d(x[0], (2, 2)),
    "avg_pool1d-dims": lambda x: F.avg_pool1d(x, 2),
    "adaptive_avg_pool1d-size": lambda x: F.adaptive_avg_pool1d(x[0], (2, 2)),
    "adaptive_avg_pool2d-dims": lambda x: F.adaptive_avg_pool2d(x[0, 0, 0], (2, 2)),
    "adaptive_max_pool2d-size": lambda x: F.adaptive_max_pool2d(x, (2, 2, 2)),
    "adaptive_avg_pool2d-size": lambda x: F.adaptive_avg_pool2d(x, (2, 3, 4)),
    "adaptive_avg_pool3d-size": lambda x: F.adaptive_avg_pool3d(x[None], (2, 3)),
    "max_unpool-output_size": lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=(9, 9)),
    "max_unpool-index": lambda x: F.max_unpool2d(x, torch.full(x.shape, 99), 1),
    "interpolate-both": lambda x: F.interpolate(x, size=3, scale_factor=2),
    "interpolate-neither": lambda x: F.interpolate(x),
    "interpolate-corners": lambda x: F.interpolate(x, scale_factor=2, align_corners=True),
    "interpolate-mode-dims": lambda x: F.interpolate(x, scale_factor=2, mode="linear"),
    "interpolate-mode": lambda x: F.interpolate(x, scale_factor=2, mode="bogus"),
    "interpolate-size-length": lambda x: F.interpolate(x, size=(2, 3, 4)),
    "interpolate-empty": lambda x: F.interpolate(x, scale_factor=0.1),
    "interpolate-antialias": lambda x: F.interpolate(x, scale_factor=2, antialias=True),
    "interpolate-recompute-size": lambda x: F.interpolate(x, size=4, recompute_scale_factor=True),
    "pixel_shuffle-channels": lambda x: F.pixel_shuffle(x, 2),
    "pixel_shuffle-dims": lambda x: F.pixel_shuffle(x[0, 0], 2),
    "pixel_shuffle-factor": lambda x: F.pixel_shuffle(x, 0),
    "pixel_unshuffle-height": lambda x: F.pixel_unshuffle(x, 4),
    "fractional-no-size": lambda x: F.fractional_max_pool2d(x, 2),
    "fractional-too-big": lambda x: F.fractional_max_pool2d(x, 4, output_size=5),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_arguments_raise_what_torch_raises(name):
    """torch's error type, with torch's words in the message."""
    x = r(2, 3, 6, 7)
    expected = torch_error(lambda: ERRORS[name](x.clone().requires_grad_()))
    with pytest.raises(type(expected)) as got:
        ERRORS[name](ag.Variable(x, requires_grad=True))
    assert type(got.value) is type(expected)
    assert str(expected).splitlines()[0] in str(got.value)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.max_pool2d(x, 2, stride=1),
        lambda x: F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False),
        lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
        lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
        lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2) * x,
    ],
)
def test_finite_differences(fn):
    x = r(1, 2, 4, 4)
    assert ag.gradcheck(fn, [x])
    assert ag.gradgradcheck(fn, [x])
