"""The vision functions and small layers against torch: grid_sample and affine_grid (values, gradients of
input, grid and theta, second order), fold/unfold, channel_shuffle, the deprecated upsample aliases, the
padding, distance, Bilinear, Fold/Unfold and ChannelShuffle layers (reprs, state dicts, values, gradients);
bad arguments raise torch's error types."""

from __future__ import annotations

import functools
import itertools
import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as tnf

import autograd_engine as ag
import nn
import nn.functional as F

from .oracles import compare_with_torch
from .test_nn_layers_more import assert_same_state, build

TIGHT = dict(rtol=1e-12, atol=1e-12)
F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def uniform(*shape: int, low: float, high: float, seed: int = 1) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def raises_as_torch(ours: Callable[[], Any], theirs: Callable[[], Any], message: str | None = None) -> None:
    """`ours` raises torch's error type, with torch's message (or with `message`, where ours words it better)."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 (any type: the one torch raises is the expectation)
        theirs()
    with pytest.raises(type(caught.value), match=re.escape(message or str(caught.value))):
        ours()


# --- grid_sample -------------------------------------------------------------------------------------
MODES = list(itertools.product(("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection"), (False, True)))


def _sampler(module: Any, mode: str, padding_mode: str, align_corners: bool) -> Callable[..., Any]:
    return lambda x, grid: module.grid_sample(x, grid, mode, padding_mode, align_corners)


@pytest.mark.parametrize("mode,padding_mode,align_corners", MODES)
def test_grid_sample_4d_matches_torch_to_the_second_order(mode, padding_mode, align_corners):
    x, grid = randn(2, 3, 4, 5), uniform(2, 3, 4, 2, low=-1.6, high=1.6)
    compare_with_torch(
        _sampler(F, mode, padding_mode, align_corners),
        _sampler(tnf, mode, padding_mode, align_corners),
        [x, grid],
        second_order=mode != "nearest",
        **TIGHT,
    )


@pytest.mark.parametrize("mode,padding_mode,align_corners", [m for m in MODES if m[0] != "bicubic"])
def test_grid_sample_5d_matches_torch(mode, padding_mode, align_corners):
    x, grid = randn(2, 2, 3, 4, 5), uniform(2, 2, 3, 2, 3, low=-1.6, high=1.6)
    compare_with_torch(
        _sampler(F, mode, padding_mode, align_corners),
        _sampler(tnf, mode, padding_mode, align_corners),
        [x, grid],
        second_order=mode == "bilinear" and padding_mode == "zeros",
        **TIGHT,
    )


@pytest.mark.parametrize("mode,padding_mode,align_corners", MODES)
def test_grid_sample_matches_torch_far_outside_and_at_the_kinks(mode, padding_mode, align_corners):
    """Positions many image sizes out (reflection folds several times), and positions on pixel centres and on
    the borders, where the gradient takes torch's side (the next tap's slope; none at a clipped border)."""
    x = randn(2, 3, 4, 5)
    far = uniform(2, 3, 4, 2, low=-8.0, high=8.0)
    compare_with_torch(_sampler(F, mode, padding_mode, align_corners), _sampler(tnf, mode, padding_mode,
        align_corners), [x, far], second_order=False, **TIGHT)  # fmt: skip
    if align_corners:  # on 4 and 5 pixels: (c + 1) * (size - 1) / 2 is an integer at these c
        exact = [-1.0, -0.5, 0.0, 0.5, 1.0, -1.5, 1.5, 2.0, -2.0, -3.0, 3.5]
    else:  # (c + 1) * size / 2 - 1/2 is an integer, or the border -1/2, size - 1/2, at these c
        exact = [-0.75, -0.25, 0.25, 0.75, -1.0, 1.0, -1.25, 1.25, 1.75, -2.25, 0.0, 3.25, -4.75]
    choice = torch.randint(len(exact), (2, 6, 7, 2), generator=torch.Generator().manual_seed(4))
    kinks = torch.tensor(exact, dtype=F64)[choice]
    compare_with_torch(_sampler(F, mode, padding_mode, align_corners), _sampler(tnf, mode, padding_mode,
        align_corners), [x, kinks], second_order=False, **TIGHT)  # fmt: skip


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_float32_and_empty_batches_channels_and_grids(mode):
    x, grid = torch.randn(2, 3, 6, 5), torch.rand(2, 4, 3, 2) * 2.4 - 1.2
    ours = F.grid_sample(ag.Variable(x), ag.Variable(grid), mode, align_corners=False)
    theirs = tnf.grid_sample(x, grid, mode, align_corners=False)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.data, theirs, rtol=1e-5, atol=1e-5)
    for xs, gs in (((0, 3, 4, 5), (0, 2, 2, 2)), ((2, 0, 4, 5), (2, 2, 2, 2)), ((2, 3, 4, 5), (2, 0, 3, 2))):
        x, grid = torch.randn(xs), torch.rand(gs)
        out = F.grid_sample(ag.Variable(x), ag.Variable(grid), mode, align_corners=True)
        assert out.shape == tnf.grid_sample(x, grid, mode, align_corners=True).shape


def test_grid_sample_and_affine_grid_warn_without_align_corners_as_torch():
    x, grid, theta = ag.Variable(randn(1, 1, 3, 3)), ag.Variable(uniform(1, 2, 2, 2, low=-1, high=1)), randn(1, 2, 3)
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        out = F.grid_sample(x, grid)
    torch.testing.assert_close(out.data, F.grid_sample(x, grid, align_corners=False).data, **TIGHT)
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        F.affine_grid(ag.Variable(theta), [1, 1, 3, 3])
    with pytest.warns(UserWarning, match="unit-size grids when align_corners=True"):
        F.affine_grid(ag.Variable(theta), [1, 1, 1, 3], align_corners=True)


GRID_SAMPLE_ERRORS = [
    pytest.param((2, 3, 4, 5), (2, 3, 3, 2), {"mode": "area"}, None, id="mode"),
    pytest.param((2, 3, 4, 5), (2, 3, 3, 2), {"padding_mode": "wrap"}, None, id="padding_mode"),
    pytest.param((2, 3, 4, 5), (1, 3, 3, 2), {}, None, id="batch"),
    pytest.param((2, 3, 4, 5), (2, 3, 3, 1), {}, None, id="last dim"),
    pytest.param((3, 4, 5), (3, 3, 1), {}, None, id="3-d input"),
    pytest.param((2, 3, 4, 5), (2, 3, 3, 3, 2), {}, None, id="5-d grid for a 4-d input"),
    pytest.param((2, 3, 4, 5, 5), (2, 3, 3, 3), {}, None, id="4-d grid for a 5-d input"),
    pytest.param((2, 3, 4, 5, 5), (2, 3, 3, 3, 3), {"mode": "bicubic"}, None, id="bicubic 5-d"),
    pytest.param((2, 3, 0, 5), (2, 3, 3, 2), {}, None, id="empty spatial dim"),
    pytest.param((2, 3, 4, 5), (2, 3, 3, 2), {"grid_dtype": torch.float32}, "same dtype", id="dtypes"),
]


@pytest.mark.parametrize("x_shape,grid_shape,kwargs,message", GRID_SAMPLE_ERRORS)
def test_grid_sample_rejects_bad_arguments_as_torch(x_shape, grid_shape, kwargs, message):
    kwargs = dict(kwargs)
    x, grid = torch.randn(x_shape, dtype=F64), torch.rand(grid_shape, dtype=kwargs.pop("grid_dtype", F64))
    raises_as_torch(
        lambda: F.grid_sample(ag.Variable(x), ag.Variable(grid), align_corners=False, **kwargs),
        lambda: tnf.grid_sample(x, grid, align_corners=False, **kwargs),
        message,
    )


# --- affine_grid -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [[2, 3, 4, 5], [2, 1, 1, 5], [2, 3, 3, 1, 4], [2, 1, 2, 3, 4], [2, 3, 1, 1, 1]])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_is_torch_s_to_the_bit_with_its_gradients(size, align_corners):
    theta = randn(2, len(size) - 2, len(size) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (unit sizes with align_corners warn, as in torch)
        assert torch.equal(
            F.affine_grid(ag.Variable(theta), size, align_corners).data, tnf.affine_grid(theta, size, align_corners)
        )
        compare_with_torch(
            lambda t: F.affine_grid(t, size, align_corners),
            lambda t: tnf.affine_grid(t, size, align_corners),
            [theta],
            **TIGHT,
        )


@pytest.mark.parametrize("mode,padding_mode", [("bilinear", "zeros"), ("bicubic", "reflection")])
def test_a_spatial_transformer_differentiates_theta_and_the_image_as_torch(mode, padding_mode):
    def transform(module: Any) -> Callable[..., Any]:
        def run(x: Any, theta: Any) -> Any:
            grid = module.affine_grid(theta, [2, 3, 5, 4], align_corners=False)
            return module.grid_sample(x, grid, mode, padding_mode, align_corners=False)

        return run

    theta = torch.tensor([[0.9, 0.2, 0.1], [-0.3, 1.1, 0.05]], dtype=F64).repeat(2, 1, 1) + 0.1 * randn(2, 2, 3)
    compare_with_torch(transform(F), transform(tnf), [randn(2, 3, 6, 7), theta], **TIGHT)


AFFINE_GRID_ERRORS = [
    pytest.param((2, 2, 3), [2, 3, 4, 5, 6], None, id="2-d theta for a 5-d size"),
    pytest.param((2, 3, 4), [2, 3, 4, 5], None, id="3-d theta for a 4-d size"),
    pytest.param((2, 2, 3), [2, 3, 4], None, id="3 sizes"),
    pytest.param((2, 2, 3), [2, 3, 0, 5], None, id="empty size"),
    pytest.param((2, 2, 3), [3, 3, 4, 5], "expected theta with batch size 3", id="batch"),
]


@pytest.mark.parametrize("theta_shape,size,message", AFFINE_GRID_ERRORS)
def test_affine_grid_rejects_bad_arguments_as_torch(theta_shape, size, message):
    theta = torch.randn(theta_shape, dtype=F64)
    raises_as_torch(
        lambda: F.affine_grid(ag.Variable(theta), size, align_corners=False),
        lambda: tnf.affine_grid(theta, size, align_corners=False),
        message,
    )
    integer = theta.long()
    raises_as_torch(
        lambda: F.affine_grid(ag.Variable(integer), size, False), lambda: tnf.affine_grid(integer, size, False)
    )


# --- fold and unfold ---------------------------------------------------------------------------------
FOLDS = [
    pytest.param((2, 3, 6, 7), (2, 3), {}, id="batched"),
    pytest.param((3, 6, 7), 2, {"dilation": (2, 1), "padding": 1, "stride": (2, 1)}, id="unbatched"),
    pytest.param((1, 2, 5, 5), [3, 2], {"dilation": 1, "padding": (0, 1), "stride": 2}, id="lists"),
]


@pytest.mark.parametrize("shape,kernel_size,kwargs", FOLDS)
def test_unfold_and_fold_match_torch_to_the_second_order(shape, kernel_size, kwargs):
    compare_with_torch(
        lambda x: F.unfold(x, kernel_size, **kwargs), lambda x: tnf.unfold(x, kernel_size, **kwargs), [randn(*shape)]
    )
    columns = tnf.unfold(randn(*shape), kernel_size, **kwargs)
    size = shape[-2:]
    compare_with_torch(
        lambda c: F.fold(c, size, kernel_size, **kwargs), lambda c: tnf.fold(c, size, kernel_size, **kwargs), [columns]
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: m.unfold(x[0, 0], 2),
        lambda m, x: m.unfold(x, 7),
        lambda m, x: m.fold(x.reshape(2, 3, 20), (4, 5), 2),
        lambda m, x: m.fold(x.reshape(2, 12, 5), (4, 5), 2),
    ],
    ids=["2-d unfold", "kernel too large", "fold columns not a multiple of the kernel", "fold wrong block count"],
)
def test_fold_and_unfold_reject_bad_arguments_as_torch(call):
    x = randn(2, 3, 4, 5)
    raises_as_torch(lambda: call(F, ag.Variable(x)), lambda: call(tnf, x))


# --- channel_shuffle and upsample ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["channel_shuffle", "native_channel_shuffle"])
@pytest.mark.parametrize("shape,groups", [((2, 6, 3), 3), ((1, 8, 2, 3), 2), ((2, 6, 1), 6), ((0, 4, 2), 2)])
def test_channel_shuffle_matches_torch(name, shape, groups):
    x = randn(*shape)
    assert torch.equal(getattr(F, name)(ag.Variable(x), groups).data, getattr(tnf, name)(x, groups))
    # (torch's native_channel_shuffle has no derivative: its gradients are channel_shuffle's)
    compare_with_torch(lambda v: getattr(F, name)(v, groups), lambda t: tnf.channel_shuffle(t, groups), [x], **TIGHT)


@pytest.mark.parametrize(
    "shape,groups,message",
    [((6,), 2, None), ((2, 6), 2, None), ((2, 6, 3), 0, None), ((2, 6, 3), -1, None), ((2, 6, 3), 4, None),
     ((2, 6, 3), 2.0, "must be int, not float")],
)  # fmt: skip
def test_channel_shuffle_rejects_bad_arguments_as_torch(shape, groups, message):
    x = randn(*shape)
    raises_as_torch(lambda: F.channel_shuffle(ag.Variable(x), groups), lambda: tnf.channel_shuffle(x, groups), message)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("upsample", {"scale_factor": 2}),
        ("upsample", {"size": (5, 7), "mode": "bilinear", "align_corners": True}),
        ("upsample_nearest", {"size": 6}),
        ("upsample_bilinear", {"scale_factor": (2, 3)}),
    ],
)
def test_upsample_aliases_warn_and_interpolate_as_torch(name, kwargs):
    x = randn(2, 3, 3, 4)
    message = re.escape(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.")
    with pytest.warns(UserWarning, match=message) as record:
        ours = getattr(F, name)(ag.Variable(x), **kwargs)
    assert record[0].filename == __file__  # (the warning points at the caller, as torch's)
    with pytest.warns(UserWarning, match=message):
        theirs = getattr(tnf, name)(x, **kwargs)
    assert torch.equal(ours.data, theirs)


def test_every_new_function_records_through_torch_nn_functional():
    x, grid = ag.Variable(randn(1, 4, 4, 5), requires_grad=True), ag.Variable(uniform(1, 2, 3, 2, low=-1, high=1))
    calls = [
        lambda: tnf.grid_sample(x, grid, align_corners=True),
        lambda: tnf.affine_grid(ag.Variable(randn(1, 2, 3), requires_grad=True), [1, 4, 2, 3], align_corners=True),
        lambda: tnf.channel_shuffle(x, 2),
        lambda: tnf.native_channel_shuffle(x, 2),
        lambda: torch.channel_shuffle(x, 2),
        lambda: tnf.unfold(x, 2),
        lambda: tnf.fold(tnf.unfold(x, 2), (4, 5), 2),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        calls += [lambda: tnf.upsample(x, scale_factor=2), lambda: tnf.upsample_nearest(x, scale_factor=2)]
        calls += [lambda: tnf.upsample_bilinear(x, scale_factor=2)]
        for call in calls:
            out = call()
            assert isinstance(out, ag.Variable) and out.requires_grad


# --- layers ----------------------------------------------------------------------------------------
def case(name: str, *args: Any, shapes: tuple[tuple[int, ...], ...], **kwargs: Any) -> Any:
    """The engine's layer `name` and torch.nn's from the same arguments, and the shapes of the inputs."""
    ours, theirs = (
        functools.partial(getattr(nn, name), *args, **kwargs),
        functools.partial(getattr(torch.nn, name), *args, **kwargs),
    )
    words = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return pytest.param(ours, theirs, shapes, id=f"{name}({', '.join(words)})")


LAYERS = [
    case("ZeroPad1d", 2, shapes=((2, 3, 4),)),
    case("ZeroPad2d", (1, 0, 2, -1), shapes=((3, 4, 5),)),
    case("ZeroPad3d", 1, shapes=((1, 2, 2, 3, 2),)),
    case("ConstantPad1d", (0, 3), 1.5, shapes=((3, 4),)),
    case("ConstantPad2d", 1, -2.0, shapes=((2, 3, 4, 2),)),
    case("ConstantPad3d", (1, 0, 0, 1, 2, 0), 0.5, shapes=((2, 2, 3, 2),)),
    case("ReflectionPad1d", (2, 1), shapes=((2, 3, 4),)),
    case("ReflectionPad2d", 2, shapes=((3, 4, 5),)),
    case("ReflectionPad3d", (1, 1, 0, 1, 1, 0), shapes=((1, 2, 2, 3, 3),)),
    case("ReplicationPad1d", 3, shapes=((3, 4),)),
    case("ReplicationPad2d", (1, 2, 0, 3), shapes=((2, 3, 4, 2),)),
    case("ReplicationPad3d", 1, shapes=((2, 2, 3, 2),)),
    case("CircularPad1d", (1, 2), shapes=((2, 3, 4),)),
    case("CircularPad2d", 1, shapes=((3, 4, 5),)),
    case("CircularPad3d", (1, 0, 1, 1, 0, 1), shapes=((1, 2, 2, 3, 3),)),
    case("CosineSimilarity", shapes=((4, 5), (4, 5))),
    case("CosineSimilarity", 0, 1e-3, shapes=((5, 3), (1, 3))),
    case("PairwiseDistance", shapes=((4, 5), (4, 5))),
    case("PairwiseDistance", 1.0, 1e-3, True, shapes=((4, 5), (5,))),
    case("Bilinear", 3, 4, 5, shapes=((6, 3), (6, 4))),
    case("Bilinear", 2, 3, 4, bias=False, shapes=((2, 5, 2), (2, 5, 3))),
    case("ChannelShuffle", 2, shapes=((2, 6, 3, 2),)),
    case("Unfold", (2, 3), padding=1, stride=(1, 2), shapes=((2, 3, 5, 6),)),
    case("Unfold", 2, dilation=2, shapes=((3, 5, 6),)),
    case("Fold", (4, 5), 2, shapes=((2, 12, 12),)),
    case("Fold", 5, (2, 3), padding=1, stride=2, shapes=((6, 9),)),
]


@pytest.mark.parametrize("make_ours,make_theirs,shapes", LAYERS)
def test_layer_matches_its_torch_twin(make_ours, make_theirs, shapes):
    assert repr(make_ours()) == repr(make_theirs())
    assert_same_state(build(make_ours, 0), build(make_theirs, 0))  # (Bilinear: the same draws, float32)
    ours, theirs = build(make_ours, 0, F64), build(make_theirs, 0, F64)
    assert_same_state(ours, theirs)
    if ours.state_dict():  # loads both ways into a differently seeded twin
        other = build(make_ours, 1, F64)
        other.load_state_dict(theirs.state_dict())
        assert_same_state(other, theirs)
        other = build(make_theirs, 1, F64)
        other.load_state_dict(ours.state_dict())
        assert_same_state(ours, other)
    xs = [randn(*shape, seed=i) for i, shape in enumerate(shapes)]
    xt = [x.clone().requires_grad_() for x in xs]
    xe = [ag.Variable(x.clone(), requires_grad=True) for x in xs]
    yt, ye = theirs(*xt), ours(*xe)
    assert ye.shape == yt.shape and ye.dtype == yt.dtype
    torch.testing.assert_close(ye.data, yt.detach(), **TIGHT)
    v = randn(*yt.shape, seed=9)
    yt.backward(v)
    ye.backward(v)
    for a, b in zip(xe, xt):
        torch.testing.assert_close(a.grad.data, b.grad, **TIGHT)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad.data, grads[name].grad, **TIGHT)


@pytest.mark.parametrize("name", ["CircularPad1d", "CircularPad2d", "CircularPad3d"])
def test_circular_padding_layers_check_the_input_dims_as_torch(name):
    x = randn(*(2,) * (int(name[-2]) + 3))  # (one dim more than the layer takes)
    raises_as_torch(lambda: getattr(nn, name)(1)(ag.Variable(x)), lambda: getattr(torch.nn, name)(1)(x))


@pytest.mark.parametrize(
    "name,args,shapes",
    [
        ("ReflectionPad2d", (3,), ((1, 2, 3, 3),)),
        ("ReplicationPad1d", (1,), ((2, 2, 3, 3),)),
        ("Bilinear", (3, 4, 5), ((6, 3), (6, 5))),
        ("PairwiseDistance", (), ((4, 5), (3, 5))),
    ],
)
def test_layers_reject_bad_inputs_with_torch_s_error_types(name, args, shapes):
    xs = [randn(*shape) for shape in shapes]
    with pytest.raises(Exception) as caught:  # noqa: PT011 (the type torch raises is the expectation)
        getattr(torch.nn, name)(*args)(*xs)
    with pytest.raises(type(caught.value)):
        getattr(nn, name)(*args)(*[ag.Variable(x) for x in xs])
