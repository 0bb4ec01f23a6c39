"""Convolution, pooling, reshaping and activation layers against their torch.nn twins: the same seed gives
bitwise the same state dict (float32 and float64), state dicts load both ways, reprs agree, and forward
values and the gradients of input and parameters agree to float64 rounding; bad arguments raise torch's
error types."""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn.layers as L

from .oracles import assert_no_torch_graph

TOL = dict(rtol=1e-10, atol=1e-12)


def case(name: str, *args: Any, shape: tuple[int, ...], engine: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A row of the table: the engine's layer `name` and torch.nn's, built from the same arguments (the
    engine's with `engine`'s extra ones, such as lowering=), and the shape of the input."""
    ours = functools.partial(getattr(L, name), *args, **kwargs, **(engine or {}))
    theirs = functools.partial(getattr(torch.nn, name), *args, **kwargs)
    words = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in {**kwargs, **(engine or {})}.items()]
    return pytest.param(ours, theirs, shape, id=f"{name}({', '.join(words)})")


CONV = [
    case("Conv1d", 4, 6, 3, shape=(2, 4, 9)),
    case("Conv1d", 4, 6, 3, 2, 1, 2, 2, False, shape=(2, 4, 11)),
    case("Conv1d", 4, 4, 3, padding="same", groups=4, padding_mode="reflect", shape=(2, 4, 9)),
    case("Conv1d", 2, 3, 4, padding="same", padding_mode="circular", shape=(2, 9)),
    case("Conv1d", 2, 4, 3, padding=2, padding_mode="replicate", shape=(2, 2, 6), engine={"lowering": "unfold"}),
    case("Conv2d", 4, 6, (3, 2), groups=2, shape=(2, 4, 7, 6)),
    case("Conv2d", 4, 6, 3, 2, 1, groups=2, padding_mode="reflect", shape=(2, 4, 7, 6), engine={"lowering": "unfold"}),
    case("Conv2d", 2, 4, 3, padding=(1, 2), padding_mode="circular", shape=(2, 2, 5, 6)),
    case("Conv2d", 3, 3, (4, 3), padding="same", dilation=(1, 2), padding_mode="replicate", shape=(1, 3, 7, 8)),
    case("Conv2d", 6, 9, 3, groups=3, bias=False, shape=(3, 6, 5, 5), engine={"lowering": "unfold"}),
    case("Conv3d", 4, 4, 2, groups=2, shape=(1, 4, 4, 5, 3)),
    case("Conv3d", 2, 3, 3, padding=1, padding_mode="reflect", shape=(1, 2, 4, 4, 4)),
    case("ConvTranspose1d", 4, 6, 3, 2, 1, 1, groups=2, shape=(2, 4, 5)),
    case("ConvTranspose1d", 2, 3, 3, dilation=2, bias=False, shape=(2, 4), engine={"lowering": "unfold"}),
    case("ConvTranspose2d", 4, 6, 3, 2, 1, 1, groups=2, shape=(2, 4, 4, 5)),
    case(
        "ConvTranspose2d", 4, 6, (3, 2), 2, groups=2, dilation=(2, 1), shape=(2, 4, 3, 4), engine={"lowering": "unfold"}
    ),
    case("ConvTranspose3d", 2, 4, 2, 2, groups=2, shape=(1, 2, 3, 3, 3)),
]

POOLING = [
    case("MaxPool1d", 3, shape=(2, 3, 10)),
    case("MaxPool1d", 3, 2, 1, 2, ceil_mode=True, shape=(2, 3, 10)),
    case("MaxPool1d", 2, return_indices=True, shape=(3, 9)),
    case("MaxPool2d", 2, shape=(2, 3, 6, 7)),
    case("MaxPool2d", (3, 2), (2, 1), 1, 1, True, True, shape=(2, 3, 7, 6)),
    case("MaxPool2d", 3, 2, 1, ceil_mode=True, shape=(3, 7, 7)),
    case("MaxPool3d", 2, return_indices=True, shape=(1, 2, 4, 4, 5)),
    case("AvgPool1d", 4, shape=(2, 3, 9)),
    case("AvgPool1d", 3, 2, 1, ceil_mode=True, count_include_pad=False, shape=(2, 3, 10)),
    case("AvgPool2d", 3, 2, 1, count_include_pad=False, shape=(2, 3, 7, 6)),
    case("AvgPool2d", (2, 3), divisor_override=4, shape=(2, 3, 6, 7)),
    case("AvgPool2d", 3, 2, 1, ceil_mode=True, shape=(3, 8, 8)),
    case("AvgPool3d", 2, 1, 1, shape=(1, 2, 3, 4, 3)),
    case("AdaptiveAvgPool1d", 4, shape=(2, 3, 10)),
    case("AdaptiveAvgPool2d", (3, None), shape=(2, 3, 7, 5)),
    case("AdaptiveAvgPool2d", 4, shape=(3, 9, 6)),
    case("AdaptiveAvgPool3d", (2, 3, None), shape=(1, 2, 5, 7, 3)),
    case("AdaptiveMaxPool1d", 4, shape=(2, 3, 10)),
    case("AdaptiveMaxPool2d", (3, 2), shape=(2, 3, 7, 5)),
    case("AdaptiveMaxPool2d", 4, return_indices=True, shape=(3, 9, 6)),
    case("AdaptiveMaxPool3d", 2, shape=(1, 2, 5, 4, 3)),
    case("LPPool1d", 2, 3, shape=(2, 3, 10)),
    case("LPPool2d", 2, (2, 3), 1, shape=(2, 3, 5, 6)),
    case("LPPool2d", math.inf, 2, shape=(2, 3, 6, 6)),
    case("LPPool3d", 2, 2, shape=(1, 2, 4, 4, 4)),
]

SHAPE = [
    case("Flatten", shape=(2, 3, 4, 5)),
    case("Flatten", 0, 2, shape=(2, 3, 4, 5)),
    case("Flatten", -3, -2, shape=(2, 3, 4, 5)),
    case("Unflatten", 1, (3, 4), shape=(2, 12, 5)),
    case("Unflatten", -1, [2, -1], shape=(2, 3, 8)),
    case("Identity", 54, unused="ignored", shape=(2, 3)),
    case("Upsample", scale_factor=2, shape=(2, 3, 4, 5)),
    case("Upsample", size=(5, 7), mode="bilinear", align_corners=True, shape=(2, 3, 4, 5)),
    case("Upsample", scale_factor=(1.5, 2), mode="bicubic", shape=(1, 2, 4, 5)),
    case("Upsample", size=7, mode="linear", shape=(2, 3, 4)),
    case("Upsample", scale_factor=2, mode="trilinear", shape=(1, 2, 3, 3, 3)),
    case("Upsample", size=(3, 2), mode="area", shape=(2, 3, 7, 5)),
    case("Upsample", scale_factor=1.7, mode="nearest-exact", recompute_scale_factor=True, shape=(2, 3, 4, 5)),
    case("UpsamplingNearest2d", scale_factor=2, shape=(2, 3, 4, 5)),
    case("UpsamplingBilinear2d", size=(5, 6), shape=(2, 3, 4, 5)),
    case("PixelShuffle", 2, shape=(2, 8, 3, 4)),
    case("PixelUnshuffle", 2, shape=(2, 2, 4, 6)),
]

X = (2, 3, 4)
ACTIVATION = [
    case("ReLU", shape=X),
    case("ReLU", True, shape=X),
    case("ReLU6", shape=X),
    case("ReLU6", inplace=True, shape=X),
    case("LeakyReLU", 0.2, shape=X),
    case("LeakyReLU", 0.1, True, shape=X),
    case("ELU", shape=X),
    case("ELU", 0.5, True, shape=X),
    case("SELU", shape=X),
    case("SELU", True, shape=X),
    case("CELU", 1.5, shape=X),
    case("CELU", 0.5, True, shape=X),
    case("GELU", shape=X),
    case("GELU", "tanh", shape=X),
    case("SiLU", shape=X),
    case("SiLU", True, shape=X),
    case("Mish", shape=X),
    case("Mish", inplace=True, shape=X),
    case("Softplus", shape=X),
    case("Softplus", 2.0, 1.0, shape=X),
    case("Softsign", shape=X),
    case("Softshrink", shape=X),
    case("Softshrink", 1.5, shape=X),
    case("Hardshrink", shape=X),
    case("Hardshrink", 1.0, shape=X),
    case("Tanhshrink", shape=X),
    case("Hardtanh", shape=X),
    case("Hardtanh", -2.0, 0.5, True, shape=X),
    case("Hardsigmoid", shape=X),
    case("Hardsigmoid", True, shape=X),
    case("Hardswish", shape=X),
    case("Hardswish", True, shape=X),
    case("Sigmoid", shape=X),
    case("Tanh", shape=X),
    case("LogSigmoid", shape=X),
    case("Threshold", 0.1, 20.0, shape=X),
    case("Threshold", -1.0, 0.5, True, shape=X),
    case("PReLU", shape=X),
    case("PReLU", 3, 0.1, shape=X),
    case("GLU", shape=(2, 3, 4)),
    case("GLU", 1, shape=(2, 4, 3)),
    case("Softmax", 1, shape=X),
    case("Softmax", dim=-1, shape=X),
    case("LogSoftmax", 2, shape=X),
    case("Softmin", 0, shape=X),
    case("Softmax2d", shape=(2, 3, 4, 5)),
]


def build(factory: Callable[..., Any], seed: int, dtype: torch.dtype | None = None) -> Any:
    """The layer built right after torch.manual_seed(seed), in `dtype` where its constructor takes one."""
    torch.manual_seed(seed)
    return factory(dtype=dtype) if dtype is not None and "dtype" in inspect.signature(factory).parameters else factory()


def assert_same_state(ours: Any, theirs: Any) -> None:
    """The same keys in the same order, and bitwise the same tensors (dtype included)."""
    mine, twin = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(twin)
    for key in mine:
        assert mine[key].dtype == twin[key].dtype and torch.equal(mine[key], twin[key]), key


@pytest.mark.parametrize("make_ours,make_theirs,shape", CONV + POOLING + SHAPE + ACTIVATION)
def test_layer_matches_its_torch_twin(make_ours, make_theirs, shape):
    if "lowering" not in make_ours.keywords:
        assert repr(make_ours()) == repr(make_theirs())
    assert_same_state(build(make_ours, 0), build(make_theirs, 0))  # the default dtype
    ours, theirs = build(make_ours, 0, torch.float64), build(make_theirs, 0, torch.float64)
    assert_same_state(ours, theirs)
    if ours.state_dict():  # loads both ways into a differently seeded twin
        other = build(make_ours, 1, torch.float64)
        other.load_state_dict(theirs.state_dict())
        assert_same_state(other, theirs)
        other = build(make_theirs, 1, torch.float64)
        other.load_state_dict(ours.state_dict())
        assert_same_state(ours, other)

    x = 3 * torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    xt, xe = x.clone().requires_grad_(), ag.Variable(x.clone(), requires_grad=True)
    yt, ye = theirs(xt * 1), ours(xe * 1)  # (not the leaves: the in-place layers overwrite their input)
    if isinstance(yt, tuple):  # (output, indices)
        (yt, it), (ye, ie) = yt, ye
        assert torch.equal(ie, it)
    assert ye.shape == yt.shape and ye.dtype == yt.dtype
    torch.testing.assert_close(ye.data, yt.detach(), **TOL)
    v = torch.randn(yt.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    yt.backward(v)
    ye.backward(v)
    torch.testing.assert_close(xe.grad.data, xt.grad, **TOL)
    grads = {name: p.grad for name, p in theirs.named_parameters()}
    assert list(grads) == [name for name, _ in ours.named_parameters()]
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad.data, grads[name], **TOL, msg=lambda m, name=name: f"{name}: {m}")
    assert_no_torch_graph(ye, xe.grad)


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "SELU", "SiLU", "Mish", "Hardsigmoid", "Hardswish", "ELU", "CELU"])
def test_inplace_layers_overwrite_and_return_their_input(name):
    x = torch.randn(3, 4, dtype=torch.float64)
    ours, theirs = getattr(L, name)(inplace=True), getattr(torch.nn, name)(inplace=True)
    xe, xt = ag.Variable(x.clone()), x.clone()
    assert ours(xe) is xe and theirs(xt) is xt
    torch.testing.assert_close(xe.data, xt, **TOL)
    assert not torch.equal(xt, x)


@pytest.mark.parametrize(
    "name,args,output_size,shape",
    [
        ("ConvTranspose1d", (2, 3, 3, 3, 1), [11], (2, 2, 4)),
        ("ConvTranspose2d", (2, 3, 3, 2, 1), (2, 3, 8, 7), (2, 2, 4, 4)),
        ("ConvTranspose2d", (2, 3, 3, 2, 1), [7, 8], (2, 4, 4)),
        ("ConvTranspose3d", (2, 2, 2, 2), [5, 4, 4], (1, 2, 2, 2, 2)),
    ],
)
def test_conv_transpose_output_size_picks_the_output_padding_as_torch(name, args, output_size, shape):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, dtype=torch.float64)
    ours = getattr(L, name)(*args, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(shape, dtype=torch.float64)
    expected = theirs(x, output_size=output_size).detach()
    got = ours(ag.Variable(x), output_size=output_size).data
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, **TOL)


@pytest.mark.parametrize(
    "output_size,message",
    [([12], "requested an output size of [12], but valid sizes range from [9] to [10]"), ([1, 9, 9], "must have 1")],
)
def test_conv_transpose_rejects_an_output_size_out_of_reach_as_torch(output_size, message):
    x = torch.randn(2, 4)
    for layer, wrap in (
        (L.ConvTranspose1d(2, 2, 3, 2), ag.Variable),
        (torch.nn.ConvTranspose1d(2, 2, 3, 2), torch.as_tensor),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            layer(wrap(x), output_size=output_size)


def test_rrelu_is_torch_s_in_eval_mode_and_draws_its_slopes_from_the_range_in_training():
    x = torch.randn(4, 50, dtype=torch.float64)
    ours, theirs = L.RReLU(0.1, 0.3), torch.nn.RReLU(0.1, 0.3)
    assert repr(ours) == repr(theirs) and ours.training
    xe = ag.Variable(x.clone(), requires_grad=True)
    ours(xe).backward(torch.ones_like(x))
    slopes = xe.grad.data[x < 0]
    assert ((slopes >= 0.1) & (slopes <= 0.3)).all() and slopes.unique().numel() > 1
    assert torch.equal(xe.grad.data[x > 0], torch.ones_like(x[x > 0]))
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(ag.Variable(x)).data, theirs(x), **TOL)


def test_softmax_without_dim_warns_as_torch_and_picks_its_dim():
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        got = L.Softmax()(ag.Variable(x)).data
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        expected = torch.nn.Softmax()(x)
    torch.testing.assert_close(got, expected, **TOL)


def test_conv_layers_take_torch_s_positional_arguments_and_keep_lowering_keyword_only():
    theirs = inspect.signature(torch.nn.Conv1d).parameters
    ours = inspect.signature(L.Conv1d).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    assert [p.default for p in ours.values()][: len(theirs)] == [p.default for p in theirs.values()]
    assert ours["lowering"].kind is inspect.Parameter.KEYWORD_ONLY
    theirs = inspect.signature(torch.nn.ConvTranspose2d).parameters
    assert list(inspect.signature(L.ConvTranspose2d).parameters)[: len(theirs)] == list(theirs)
    assert L.TransposeConv2d is L.ConvTranspose2d


X4 = torch.randn(2, 3, 5, 6)
ERRORS = [
    # conv layers: torch's construction checks, and the geometry torch checks only at the first forward
    ("Conv2d", (4, 6, 3), {"groups": 4}, None, ValueError, "out_channels must be divisible by groups"),
    ("Conv1d", (3, 6, 3), {"groups": 2}, None, ValueError, "in_channels must be divisible by groups"),
    ("ConvTranspose2d", (4, 6, 3), {"groups": 0}, None, ValueError, "groups must be a positive integer"),
    ("Conv3d", (2, 2, 3), {"padding_mode": "zero"}, None, ValueError, "padding_mode must be one of {"),
    ("ConvTranspose1d", (2, 2, 3), {"padding_mode": "reflect"}, None, ValueError, 'Only "zeros" padding mode is'),
    ("Conv1d", (2, 2, 3, 2, "same"), {}, None, ValueError, "padding='same' is not supported for strided"),
    ("Conv3d", (2, 2, 3), {"padding": "full"}, None, ValueError, "Invalid padding string 'full'"),
    ("Conv1d", (2, 2, 0), {}, torch.randn(1, 2, 5), RuntimeError, "kernel size should be greater than zero"),
    ("Conv1d", (2, 2, 3), {"dilation": 0}, torch.randn(1, 2, 5), RuntimeError, "dilation should be greater than"),
    ("Conv1d", (2, 2, 3), {"stride": (1, 1)}, torch.randn(1, 2, 5), RuntimeError, "expected stride to be a single"),
    ("Conv1d", (4, 6, 3), {"groups": 2}, torch.randn(2, 3, 9), RuntimeError, "expected input[2, 3, 9] to have 4 ch"),
    ("ConvTranspose2d", (2, 2, 3, 2, 0, 2), {}, torch.randn(1, 2, 4, 4), RuntimeError, "output padding must be"),
    # pools: torch's checks at the first forward
    ("MaxPool2d", (3,), {"padding": 2}, X4, RuntimeError, "pad should be at most half of effective kernel size"),
    ("MaxPool1d", (0,), {}, torch.randn(2, 3, 7), RuntimeError, "kernel_size must be greater than zero"),
    ("MaxPool2d", (7,), {}, X4, RuntimeError, "Output size is too small"),
    ("AvgPool2d", (2,), {"stride": 0}, X4, RuntimeError, "stride should not be zero"),
    ("AvgPool1d", ((2, 2),), {}, torch.randn(2, 3, 7), RuntimeError, "argument 'kernel_size' should contain one int"),
    ("AvgPool2d", (2,), {"divisor_override": 0}, X4, RuntimeError, "divisor must be not zero"),
    ("AdaptiveMaxPool2d", ((2, -1),), {}, X4, RuntimeError, "negative dimension -1"),
    # activations and reshaping
    ("Hardtanh", (1.0, -1.0), {}, None, AssertionError, "max_val (-1.0) must be greater than min_val (1.0)"),
    ("GELU", ("erf",), {}, X4, RuntimeError, "approximate argument must be either none or tanh"),
    ("PReLU", (4,), {}, X4, RuntimeError, "Mismatch of parameter numbers and input channel size"),
    ("GLU", (), {}, torch.randn(2, 3), RuntimeError, "Halving dimension must be even"),
    ("Softmax2d", (), {}, torch.randn(2, 3), ValueError, "Softmax2d: expected input to be 3D or 4D, got 2D instead"),
    ("Unflatten", (1, 4), {}, None, TypeError, "unflattened_size must be a tuple of ints, but found type int"),
    ("Unflatten", (1, (2, 2.0)), {}, None, TypeError, "found element of type float at pos 1"),
    ("Flatten", (2, 1), {}, X4, RuntimeError, "start_dim cannot come after end_dim"),
    ("PixelShuffle", (2,), {}, X4, RuntimeError, "to be divisible by the square of upscale_factor"),
    ("Upsample", (), {}, X4, ValueError, "either size or scale_factor should be defined"),
    ("Upsample", (4,), {"align_corners": True}, X4, ValueError, "align_corners option can only be set with the"),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear"}, X4[0], NotImplementedError, "bilinear mode needs 4D"),
]


@pytest.mark.parametrize("name,args,kwargs,x,error,message", ERRORS)
@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op")  # (torch's, for kernel size 0)
def test_bad_arguments_raise_torch_s_errors(name, args, kwargs, x, error, message):
    """The same error type as torch.nn, with torch's words: at construction, or (x given) at the first
    forward (the engine checks a conv layer's geometry at construction already)."""
    for lib, wrap in ((L, ag.Variable), (torch.nn, torch.as_tensor)):
        with pytest.raises(error, match=re.escape(message)):
            layer = getattr(lib, name)(*args, **kwargs)
            if x is not None:
                layer(wrap(x))


def test_conv_errors_name_the_layer():
    with pytest.raises(ValueError, match=re.escape("Conv2d: out_channels must be divisible by groups (out_channels=6")):
        L.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(RuntimeError, match=re.escape("Conv1d: kernel size should be greater than zero")):
        L.Conv1d(2, 2, 0)
    with pytest.raises(ValueError, match=re.escape("Conv3d: the 'unfold' lowering covers 1-d and 2-d")):
        L.Conv3d(2, 2, 3, lowering="unfold")


@pytest.mark.parametrize("lowering", ["native", "unfold"])
def test_padding_modes_record_on_the_tape_with_either_lowering(lowering):
    """A non-zero padding mode pads (an engine op) before the convolution, as torch.nn does."""
    layer = L.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", lowering=lowering, dtype=torch.float64)
    x = ag.Variable(X4[:, :2].double(), requires_grad=True)
    ops = {d["op"] for _, d in ag.graph.to_networkx(layer(x)).nodes(data=True)}
    assert "pad_edges" in ops and ("conv2d" in ops) == (lowering == "native")
