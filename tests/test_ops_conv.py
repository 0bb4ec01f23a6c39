"""Convolutions against torch: conv1d/2d/3d and the transposed ones with groups, unbatched inputs, padding
strings and both lowerings; values, first and second derivatives (float64), written in torch's spelling
(torch.nn.functional on Variables dispatches to the engine), and torch's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (torch's spelling)

import autograd_engine as ag
import nn

from .oracles import compare_with_torch
from .test_ops_linalg import assert_same_bits
from .test_torch_semantics import torch_error

torch.manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    """The same torch-style code runs on tensors and on Variables."""
    return (name, fn, fn, list(inputs))


def unfold(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with the engine's convolutions lowered to unfold/fold (torch runs it as it is)."""

    def run(*args: Any) -> Any:
        if isinstance(args[0], ag.Variable):
            with nn.functional.use_conv_lowering("unfold"):
                return fn(*args)
        return fn(*args)

    return run


# Each id starts with the primitive it covers (or the function, for those made of other primitives).
CASES = [
    case("conv2d-groups", lambda x, w, b: F.conv2d(x, w, b, 1, 1, 1, 2), r(2, 4, 5, 5), r(6, 2, 3, 3), r(6)),
    case(
        "conv2d-groups-strided-dilated",
        lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=3),
        r(2, 3, 7, 6),
        r(6, 1, 3, 2),
    ),
    case("conv2d-depthwise-same", lambda x, w: F.conv2d(x, w, padding="same", groups=3), r(1, 3, 5, 6), r(3, 1, 4, 3)),
    case("conv2d-unbatched", lambda x, w, b: torch.conv2d(x, w, b, padding=1), r(3, 5, 5), r(2, 3, 3, 3), r(2)),
    case(
        "conv2d-unfold-groups",
        unfold(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2)),
        r(2, 4, 6, 5),
        r(6, 2, 3, 3),
        r(6),
    ),
    case(
        "conv_transpose2d-groups",
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
        r(2, 4, 3, 4),
        r(4, 3, 3, 3),
        r(6),
    ),
    case(
        "conv_transpose2d-groups-dilated",
        lambda x, w: F.conv_transpose2d(x, w, None, (2, 1), (1, 0), (1, 0), 2, (1, 2)),
        r(1, 4, 3, 4),
        r(4, 1, 3, 2),
    ),
    case("conv_transpose2d-unbatched", lambda x, w: torch.conv_transpose2d(x, w, stride=2), r(3, 3, 2), r(3, 2, 2, 2)),
    case(
        "conv_transpose2d-unfold-groups",
        unfold(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)),
        r(2, 4, 3, 4),
        r(4, 3, 3, 3),
        r(6),
    ),
    (
        "conv2d_weight-groups",
        lambda x, g: ag.ops.conv2d_weight(x, g, weight_shape=(6, 2, 3, 3), stride=(2, 1), padding=(1, 1), groups=2),
        lambda x, g: torch.nn.grad.conv2d_weight(x, (6, 2, 3, 3), g, (2, 1), 1, 1, 2),
        [r(2, 4, 5, 5), r(2, 6, 3, 5)],
    ),
    case("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), r(2, 3, 9), r(4, 3, 3), r(4)),
    case("conv1d-groups-dilated", lambda x, w: F.conv1d(x, w, dilation=2, groups=2), r(2, 4, 9), r(6, 2, 3)),
    case("conv1d-same-unbatched", lambda x, w: torch.conv1d(x, w, padding="same"), r(3, 8), r(2, 3, 4)),
    case("conv1d-unfold", unfold(lambda x, w: F.conv1d(x, w, padding=2, groups=3)), r(2, 3, 7), r(3, 1, 3)),
    case(
        "conv_transpose1d",
        lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, padding=1, output_padding=2, groups=2),
        r(2, 4, 5),
        r(4, 1, 3),
        r(2),
    ),
    case("conv_transpose1d-unbatched", lambda x, w: torch.conv_transpose1d(x, w, dilation=2), r(2, 5), r(2, 3, 3)),
    case(
        "conv3d",
        lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1),
        r(2, 2, 4, 5, 4),
        r(3, 2, 3, 3, 2),
        r(3),
    ),
    case(
        "conv3d-groups-dilated",
        lambda x, w: F.conv3d(x, w, dilation=(2, 1, 1), groups=2),
        r(1, 4, 5, 3, 3),
        r(2, 2, 2, 2, 2),
    ),
    case("conv3d-same-unbatched", lambda x, w: torch.conv3d(x, w, padding="same"), r(2, 3, 4, 3), r(2, 2, 2, 3, 2)),
    case(
        "conv_transpose3d",
        lambda x, w, b: F.conv_transpose3d(x, w, b, stride=2, padding=(1, 0, 1), output_padding=(1, 0, 0)),
        r(1, 2, 2, 3, 2),
        r(2, 3, 3, 2, 3),
        r(3),
    ),
    case(
        "conv_transpose3d-groups", lambda x, w: F.conv_transpose3d(x, w, groups=2), r(2, 4, 2, 2, 3), r(4, 1, 2, 2, 2)
    ),
    (
        "conv3d_weight",
        lambda x, g: ag.ops.conv.conv3d_weight(x, g, weight_shape=(4, 1, 2, 3, 2), stride=(1, 2, 1), groups=2),
        lambda x, g: torch.nn.grad.conv3d_weight(x, (4, 1, 2, 3, 2), g, (1, 2, 1), 0, 1, 2),
        [r(2, 2, 4, 5, 3), r(2, 4, 3, 2, 2)],
    ),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's, about its copy
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "fn,inputs",
    [
        (lambda x, w: F.conv2d(x, w, padding=1, groups=2), [r(1, 2, 3, 3), r(2, 1, 2, 2)]),
        (lambda x, w: F.conv_transpose3d(x, w, stride=(1, 2, 1)), [r(1, 2, 2, 1, 2), r(2, 1, 1, 2, 2)]),
    ],
)
def test_finite_differences(fn, inputs):
    assert ag.gradcheck(fn, inputs)
    assert ag.gradgradcheck(fn, inputs)


def test_torch_conv_functions_dispatch_to_the_native_primitives():
    x = ag.Variable(r(1, 4, 5, 5), requires_grad=True)
    assert torch.conv2d(x, r(2, 2, 3, 3), groups=2).op == "conv2d"
    assert F.conv_transpose2d(x, r(4, 1, 3, 3), groups=4).op == "conv_transpose2d"
    assert F.conv3d(ag.Variable(r(1, 2, 3, 3, 3), requires_grad=True), r(1, 2, 2, 2, 2)).op == "conv3d"
    assert F.conv1d(ag.Variable(r(1, 2, 5), requires_grad=True), r(3, 2, 2)).op == "reshape"  # (2-d, height 1)


W4 = torch.randn(4, 2, 3, 3)
BAD = {
    "groups-channels": lambda x: F.conv2d(x, W4, groups=2),
    "groups-weight": lambda x: F.conv2d(x, torch.randn(3, 2, 3, 3), groups=2),
    "groups-zero": lambda x: F.conv2d(x, W4, groups=0),
    "input-2d": lambda x: F.conv2d(x[0, 0], W4),
    "channels": lambda x: F.conv2d(x, torch.randn(4, 3, 3, 3)),
    "bias-size": lambda x: F.conv2d(x, W4, torch.randn(3)),
    "too-small": lambda x: F.conv2d(x, torch.randn(4, 2, 7, 3)),
    "padding-same-strided": lambda x: F.conv2d(x, W4, stride=2, padding="same"),
    "stride-length": lambda x: F.conv2d(x, W4, stride=(1, 2, 1)),
    "transposed-channels": lambda x: F.conv_transpose2d(x, torch.randn(3, 2, 3, 3)),
    "transposed-groups": lambda x: F.conv_transpose2d(x, torch.randn(2, 2, 3, 3), groups=4),
    "transposed-output_padding": lambda x: F.conv_transpose2d(x, torch.randn(2, 2, 3, 3), stride=2, output_padding=2),
    "conv1d-input": lambda x: F.conv1d(x, torch.randn(2, 2, 3)),
    "conv1d-stride": lambda x: F.conv1d(x[0], torch.randn(2, 2, 3), stride=(1, 2)),
    "conv3d-input": lambda x: F.conv3d(x[0, 0], torch.randn(2, 2, 3, 3, 3)),
    "conv3d-too-small": lambda x: F.conv3d(x[None], torch.randn(2, 2, 3, 3, 3)),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_arguments_raise_what_torch_raises(name):
    """torch's error type, with torch's words in the message (which also names the layer)."""
    x = torch.randn(1, 2, 6, 6)
    expected = torch_error(lambda: BAD[name](x.clone().requires_grad_()))
    with pytest.raises(type(expected)) as got:
        BAD[name](ag.Variable(x, requires_grad=True))
    assert isinstance(got.value, type(expected))
    assert str(expected).splitlines()[0] in str(got.value)


def test_conv_shape_errors_are_runtime_errors_and_value_errors():
    """torch raises RuntimeError for an input a convolution cannot take; the layers here raised ValueError,
    so the error is both."""
    with pytest.raises(RuntimeError, match="expected 3 input channels") as got:
        F.conv2d(ag.Variable(torch.randn(1, 2, 5, 5)), torch.randn(4, 3, 3, 3))
    assert isinstance(got.value, ValueError) and isinstance(got.value, nn.functional.ShapeError)


# --- second order in torch's bits (_convolution_double_backward) ----------------------------------------
SECOND_ORDER = [
    ("conv1d", lambda x, w: F.conv1d(x, w), (2, 3, 9), (6, 3, 3)),
    ("conv1d-groups-stride", lambda x, w: F.conv1d(x, w, stride=2, padding=1, groups=3), (2, 3, 9), (6, 1, 3)),
    ("conv1d-same-dilated", lambda x, w: F.conv1d(x, w, padding="same", dilation=2), (2, 3, 9), (6, 3, 3)),
    ("conv2d", lambda x, w: F.conv2d(x, w), (2, 4, 7, 6), (4, 4, 3, 2)),
    ("conv2d-groups-stride", lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), (2, 4, 7, 6), (4, 2, 3, 2)),
    (
        "conv2d-groups-dilation",
        lambda x, w: F.conv2d(x, w, dilation=(1, 2), padding=(0, 2), groups=4),
        (2, 4, 7, 6),
        (8, 1, 3, 2),
    ),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w), (2, 4, 5, 6), (4, 3, 3, 2)),
    (
        "conv_transpose2d-groups-stride",
        lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2),
        (2, 4, 5, 6),
        (4, 3, 3, 2),
    ),
    (
        "conv_transpose2d-dilation",
        lambda x, w: F.conv_transpose2d(x, w, dilation=2, groups=2),
        (2, 4, 5, 6),
        (4, 3, 3, 2),
    ),
    (
        "conv_transpose2d-uneven",
        lambda x, w: F.conv_transpose2d(x, w, stride=(2, 1), output_padding=(1, 0)),
        (2, 4, 5, 6),
        (4, 3, 3, 2),
    ),
    ("conv3d-groups", lambda x, w: F.conv3d(x, w, stride=2, padding=1, groups=2), (1, 4, 5, 4, 5), (2, 2, 3, 2, 3)),
]


@pytest.mark.parametrize("name,fn,x_shape,w_shape", SECOND_ORDER, ids=[c[0] for c in SECOND_ORDER])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_second_order_is_torchs_bits(name, fn, x_shape, w_shape):
    """The weight's second-order gradient follows torch's double backward (per group, the conv of the
    transposed input gradient with the transposed output gradient, stride and dilation swapped): torch.equal,
    as the input's; the first order stays bitwise with and without create_graph."""
    inputs = [r(*x_shape), r(*w_shape)]
    assert_same_bits(fn, inputs, second=True)
    assert_same_bits(fn, inputs, create_graph=True)
    assert_same_bits(fn, inputs)
