"""Errors out of nn layers: torch's type and torch's words, plus the layer's name (its path inside a model)
and the input's shape, against the torch.nn twin fed the same bad input."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
from autograd_engine.primitive import describe
from autograd_engine.scope import current, in_module
from autograd_engine.variable import unwrap

R = torch.randn

# (layer, constructor arguments, bad inputs): one or more per family
CASES = [
    ("BatchNorm1d", (3,), [R(4, 5)]),
    ("BatchNorm2d", (3,), [R(2, 4, 4, 4)]),
    ("BatchNorm3d", (3,), [R(2, 4, 2, 2, 2)]),
    ("InstanceNorm1d", (3, 1e-5, 0.1, True), [R(2, 4, 5)]),
    ("LayerNorm", (6,), [R(3, 5)]),
    ("GroupNorm", (2, 6), [R(3, 4, 5)]),
    ("RMSNorm", (6,), [R(3, 5)]),
    ("MaxPool1d", (2,), [R(2, 3, 1)]),
    ("MaxPool2d", (2,), [R(2, 3, 1, 1)]),
    ("MaxPool2d", (2,), [R(5)]),
    ("AvgPool1d", (2,), [R(2, 3, 1)]),
    ("AvgPool2d", (2,), [R(2, 3, 1, 1)]),
    ("AvgPool3d", (2,), [R(2, 3, 1, 1, 1)]),
    ("AdaptiveAvgPool2d", (2,), [R(5)]),
    ("AdaptiveMaxPool2d", (2,), [R(5)]),
    ("LPPool2d", (2, 2), [R(2, 3, 1, 1)]),
    ("Fold", ((4, 4), 2), [R(1, 5, 9)]),
    ("RNN", (3, 5), [R(6, 2, 4)]),
    ("LSTM", (3, 5), [R(6, 2, 4)]),
    ("GRU", (3, 5), [R(6, 2, 2, 3)]),
    ("GRU", (3, 5), [R(6, 2, 3), R(1, 3, 5)]),
    ("RNNCell", (3, 5), [R(4, 2)]),
    ("LSTMCell", (3, 5), [R(4, 2)]),
    ("GRUCell", (3, 5), [R(4, 3), R(2, 5)]),
    ("PixelShuffle", (2,), [R(2, 6, 3, 3)]),
    ("PixelUnshuffle", (2,), [R(2, 6, 3, 3)]),
    ("ChannelShuffle", (4,), [R(2, 6, 3, 3)]),
    ("Unflatten", (1, (2, 6)), [R(3, 11)]),
    ("Flatten", (2, 3), [R(3, 4)]),
    ("ReflectionPad1d", (3,), [R(1, 1, 2)]),
    ("ReflectionPad2d", (3,), [R(1, 1, 2, 2)]),
    ("ReplicationPad2d", (1,), [R(5)]),
    ("CircularPad2d", (3,), [R(1, 1, 2, 2)]),
    ("Upsample", (None, 2.0), [R(3, 4)]),
    ("Softmax", (3,), [R(2, 3)]),
    ("GLU", (), [R(2, 3)]),
    ("PReLU", (3,), [R(2, 4, 5)]),
    ("Conv2d", (3, 4, 3), [R(2, 5, 8, 8)]),
    ("ConvTranspose2d", (3, 4, 3), [R(2, 5, 8, 8)]),
    ("Embedding", (3, 4), [torch.tensor([5])]),
    ("CosineSimilarity", (), [R(2, 3), R(2, 4)]),
    ("MSELoss", (), [R(2, 3), R(2, 4)]),
    ("BCELoss", (), [torch.rand(2, 3), torch.rand(2, 4)]),
    ("CrossEntropyLoss", (), [R(2, 3), torch.tensor([0, 1, 2])]),
]


def _ids(case: tuple[str, Any, list[torch.Tensor]]) -> str:
    name, _, inputs = case
    return f"{name}-" + "-".join("x".join(map(str, x.shape)) for x in inputs)


def _double(x: torch.Tensor) -> torch.Tensor:
    return x.double() if x.is_floating_point() else x


def _raised(call: Any) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 (the type is compared with torch's below)
        call()
    return info.value


def _errors(name: str, args: tuple[Any, ...], inputs: list[torch.Tensor], in_model: bool) -> tuple[Any, Any]:
    """torch.nn's error and ours, the layer built from the same seed, alone or second in a Sequential."""

    def build(space: Any) -> Any:
        torch.manual_seed(0)
        layer = getattr(space, name)(*args).double()
        return space.Sequential(space.Identity(), layer) if in_model else layer

    inputs = [_double(x) for x in inputs]
    theirs = _raised(lambda: build(torch.nn)(*inputs))
    ours = _raised(lambda: build(nn)(*[ag.Variable(x) for x in inputs]))
    return theirs, ours


def _torch_words(error: BaseException) -> str:
    """torch's message without the op name it may start with ('unflatten: '): ours puts the path there."""
    return re.sub(r"^[a-z_0-9]+: ", "", str(error))


def _shows_shape(message: str, inputs: list[torch.Tensor]) -> bool:
    shapes = [", ".join(map(str, x.shape)) for x in inputs]
    return any(f"({s})" in message or f"({s},)" in message or f"[{s}]" in message for s in shapes)


@pytest.mark.filterwarnings("ignore:Using a target size:UserWarning")
@pytest.mark.parametrize(
    ("case", "in_model"),
    [(case, False) for case in CASES] + [(case, True) for case in CASES if len(case[2]) == 1],  # one input
    ids=lambda value: _ids(value) if isinstance(value, tuple) else ("in_model" if value else "alone"),
)
def test_error_is_torchs_and_names_layer_and_shape(case: tuple[str, Any, list[torch.Tensor]], in_model: bool) -> None:
    name, args, inputs = case
    theirs, ours = _errors(name, args, inputs, in_model)
    message = str(ours)
    assert isinstance(ours, type(theirs)), (ours, theirs)
    assert _torch_words(theirs) in message, (message, str(theirs))
    head = message.split(":")[0].split(" ")[0]  # or the torch function it ran: 'conv2d', 'unflatten'
    assert name in message or any(hasattr(space, head) for space in (torch, torch.nn.functional)), message
    assert _shows_shape(message, inputs), message
    if in_model:
        assert message.count(f"Sequential/1:{name}") == 1, message


@pytest.mark.parametrize(
    ("name", "args", "inputs", "expected"),
    [
        ("BatchNorm1d", (3,), [R(4, 5)], "BatchNorm1d: running_mean should contain 5 elements not 3 [inputs: (4, 5)"),
        ("LSTM", (3, 5), [R(6, 2, 4)], "LSTM: input.size(-1) must be equal to input_size. Expected 3, got 4 [inputs: "),
        ("GRU", (3, 5), [R(6, 2, 2, 3)], "GRU: Expected input to be 2D or 3D, got 4D instead [inputs: (6, 2, 2, 3)"),
        ("RNNCell", (3, 5), [R(4, 2)], "RNNCell: input has inconsistent input_size: got 2 expected 3 [inputs: (4, 2)"),
        ("PixelShuffle", (2,), [R(2, 6, 3, 3)], "PixelShuffle: pixel_shuffle expects its input's 'channel' dimension"),
        ("LayerNorm", (6,), [R(3, 5)], "LayerNorm: Given normalized_shape=[6], expected input with shape [*, 6], but"),
        ("Unflatten", (1, (2, 6)), [R(3, 11)], "unflatten: Provided sizes [2, 6] don't multiply up to the size of dim"),
    ],
)
def test_layer_called_alone_starts_with_its_name(
    name: str, args: tuple[Any, ...], inputs: list[torch.Tensor], expected: str
) -> None:
    _, ours = _errors(name, args, inputs, in_model=False)
    assert str(ours).startswith(expected), str(ours)


@pytest.mark.parametrize(
    ("layer", "x", "internal"),
    [
        (nn.ReflectionPad2d(3), R(1, 1, 2, 2), "pad_edges"),  # the primitive behind reflect padding
        (nn.AvgPool1d(2), R(2, 3, 1), "avg_pool"),  # ... behind the average pools, on a height-1 view
    ],
)
@pytest.mark.parametrize("in_model", [False, True], ids=["alone", "in_model"])
def test_internal_primitive_is_named_as_the_layer(layer: Any, x: torch.Tensor, internal: str, in_model: bool) -> None:
    model = nn.Sequential(nn.Identity(), layer) if in_model else layer
    ours = _raised(lambda: model(ag.Variable(x)))
    name = type(layer).__name__
    assert str(ours).startswith(f"{name} in Sequential/1:{name}: " if in_model else f"{name}: "), str(ours)
    assert internal not in str(ours) and "dims=" not in str(ours) and "widths=" not in str(ours), str(ours)
    assert _shows_shape(str(ours), [x]), str(ours)


@pytest.mark.parametrize(
    ("build", "x", "expected"),
    [
        (
            lambda: nn.Linear(3, 4),
            R(2, 5),
            "linear: expected input with last dim 3 (weight shape (4, 3)), got shape (2, 5)",
        ),
        (
            lambda: nn.Conv2d(3, 4, 3),
            R(2, 5, 8, 8),
            "conv2d: expected 3 input channels in an input of shape (2, 5, 8, 8) (Given groups=1, weight of size "
            "[4, 3, 3, 3], expected input[2, 5, 8, 8] to have 3 channels, but got 5 channels instead)",
        ),
        (
            lambda: nn.BatchNorm1d(3),
            R(4, 5, 6, 7),
            "BatchNorm1d: expected 2D or 3D input (got 4D input), input of shape (4, 5, 6, 7)",
        ),
        (
            lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)),
            R(2, 3),
            "linear in Sequential/1:Linear: expected input with last dim 5 (weight shape (2, 5)), got shape (2, 4) "
            "[inputs: (2, 4) float32 on cpu]",
        ),
    ],
)
def test_messages_that_were_good_stay_as_they_were(build: Any, x: torch.Tensor, expected: str) -> None:
    assert str(_raised(lambda: build()(ag.Variable(x)))) == expected


class _Checks(nn.Module):
    """A user's module raising its own error, which stays the user's own words."""

    def forward(self, x: Any) -> Any:
        raise ValueError("my own check failed")


@pytest.mark.parametrize("build", [_Checks, lambda: nn.Sequential(nn.Identity(), _Checks())], ids=["alone", "in_model"])
def test_users_own_errors_are_left_alone(build: Any) -> None:
    with pytest.raises(ValueError, match=r"^my own check failed$"):
        build()(ag.Variable(R(2, 3)))


@pytest.mark.parametrize("in_model", [False, True], ids=["alone", "in_model"])
def test_hook_errors_that_name_the_module_are_left_alone(in_model: bool) -> None:
    layer = nn.Linear(2, 2)
    layer.register_forward_hook(lambda module, args, out: 3)
    model = nn.Sequential(layer) if in_model else layer
    where = "Sequential/0:Linear" if in_model else "Linear"
    with pytest.raises(TypeError, match=rf"^forward hook '<lambda>' of {where} returned 'int' \(3\)"):
        model(ag.Variable(R(1, 2)))


def test_signature_error_is_torchs() -> None:
    theirs = _raised(lambda: torch.nn.Sequential(torch.nn.Identity())(R(2), R(2)))
    ours = _raised(lambda: nn.Sequential(nn.Identity())(ag.Variable(R(2)), ag.Variable(R(2))))
    assert type(ours) is type(theirs) and str(ours) == str(theirs)


@pytest.fixture
def assertion_errors_renamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The change proposed for nn/module.py: Module.__call__ renames AssertionError (torch's type for
    MultiheadAttention's and the transformers' checks) as it renames RuntimeError, ValueError, ..."""
    call = nn.Module.__call__

    def renaming(self: Any, *args: Any, **kwargs: Any) -> Any:
        outer, name = current(), self._label or type(self).__name__
        try:
            return call(self, *args, **kwargs)
        except AssertionError as e:
            named = in_module(e, name if outer is None else f"{outer}/{name}", describe([unwrap(a) for a in args]))
            if named is None:
                raise
            raise named from e

    monkeypatch.setattr(nn.Module, "__call__", renaming)


@pytest.mark.usefixtures("assertion_errors_renamed")
@pytest.mark.parametrize(
    ("name", "args", "inputs", "where"),
    [
        ("MultiheadAttention", (8, 2), [R(5, 3, 7)] * 3, "MultiheadAttention: "),
        (
            "TransformerEncoderLayer",
            (8, 2, 16, 0.0),
            [R(5, 3, 7)],
            "MultiheadAttention in TransformerEncoderLayer/self_attn:MultiheadAttention: ",
        ),
    ],
)
def test_assertion_errors_name_layer_and_shape(
    name: str, args: tuple[Any, ...], inputs: list[torch.Tensor], where: str
) -> None:
    theirs, ours = _errors(name, args, inputs, in_model=False)
    assert type(ours) is AssertionError is type(theirs)
    assert str(ours) == f"{where}{theirs} [inputs: " + ", ".join(["(5, 3, 7) float64 on cpu"] * 3) + "]"
