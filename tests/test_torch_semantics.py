"""Torch is the oracle for names, return types, tie rules and errors: each case runs torch beside the engine."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as tnf

import autograd_engine as ag
import nn
from nn import functional as F

from .oracles import compare_with_torch


def f64(*rows: Any) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def torch_error(fn: Callable[[], Any]) -> BaseException:
    """The exception torch raises for `fn` (the test fails if torch raises none)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (any error: the engine must raise the same)
        return e
    raise AssertionError("torch raised no error")


def assert_raises_like_torch(engine_fn: Callable[[], Any], torch_fn: Callable[[], Any]) -> None:
    """The engine raises torch's exception type, with torch's message in its own."""
    expected = torch_error(torch_fn)
    with pytest.raises(type(expected), match=re.escape(str(expected).splitlines()[0])) as got:
        engine_fn()
    assert type(got.value) is type(expected)


def gradient(fn: Callable[[ag.Variable], ag.Variable], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    v = ag.Variable(x.clone(), requires_grad=True)
    out = fn(v)
    out.backward(torch.ones_like(out.data))
    return out.data, v.grad.data


def torch_gradient(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = x.clone().requires_grad_()
    out = fn(t)
    out.backward(torch.ones_like(out))
    return out.detach(), t.grad


# --- 14. max/min: (values, indices) with a dim, torch's tie rules, the binary form -----------------
TIES = f64([1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [-4.0, -4.0, -4.0, -4.0])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, False), (-1, True), (0, True)])
@pytest.mark.parametrize("x", [TIES, torch.randn(3, 4, dtype=torch.float64)], ids=["ties", "random"])
def test_max_min_with_a_dim_return_values_and_indices(name, dim, keepdim, x):
    v = ag.Variable(x, requires_grad=True)
    for result in (getattr(v, name)(dim, keepdim), getattr(ag, name)(v, dim, keepdim=keepdim)):
        expected = getattr(x, name)(dim, keepdim)
        values, indices = result
        assert result.values is values and result.indices is indices and result[0] is values
        assert isinstance(values, ag.Variable) and values.requires_grad
        assert type(indices) is torch.Tensor and indices.dtype == torch.int64
        assert torch.equal(indices, expected.indices) and torch.equal(values.data, expected.values)
    # the gradient goes to the returned index, ties or not; second order too
    compare_with_torch(
        lambda a: getattr(a, name)(dim, keepdim).values, lambda t: getattr(t, name)(dim, keepdim).values, [x]
    )
    compare_with_torch(
        lambda a: getattr(a, name)(dim, keepdim)[0] * 2, lambda t: getattr(t, name)(dim, keepdim)[0] * 2, [x]
    )


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_everything_share_the_gradient_among_ties_as_torch(name):
    compare_with_torch(lambda a: getattr(a, name)(), lambda t: getattr(t, name)(), [TIES])
    compare_with_torch(lambda a: getattr(ag, name)(a * a), lambda t: getattr(torch, name)(t * t), [TIES])
    value, grad = gradient(lambda a: getattr(a, name)(), TIES)
    assert value.shape == () and torch.equal(grad, torch_gradient(lambda t: getattr(t, name)(), TIES)[1])
    assert grad.count_nonzero() == (2 if name == "max" else 4)  # 3 appears twice, -4 four times


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [(), 1, (0, -1), [1, 0]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_amin_share_the_gradient_among_ties_per_slice(name, dim, keepdim):
    compare_with_torch(
        lambda a: getattr(ag, name)(a, dim, keepdim), lambda t: getattr(torch, name)(t, dim, keepdim), [TIES]
    )
    compare_with_torch(lambda a: getattr(a, name)(dim), lambda t: getattr(t, name)(dim), [TIES])


@pytest.mark.parametrize("fn", ["max", "min", "amax", "amax-dim", "max-dim"])
def test_nan_gradients_follow_torch(fn):
    x = torch.tensor([[1.0, float("nan"), 2.0, float("nan")], [0.0, 5.0, 5.0, 1.0]], dtype=torch.float64)
    engine, reference = {
        "max": (lambda a: a.max(), lambda t: t.max()),
        "min": (lambda a: a.min(), lambda t: t.min()),
        "amax": (lambda a: ag.amax(a), lambda t: torch.amax(t)),
        "amax-dim": (lambda a: ag.amax(a, 1), lambda t: torch.amax(t, 1)),
        "max-dim": (lambda a: a.max(1).values, lambda t: t.max(1).values),
    }[fn]
    value, grad = gradient(engine, x)
    expected_value, expected_grad = torch_gradient(reference, x)
    torch.testing.assert_close(value, expected_value, equal_nan=True)
    torch.testing.assert_close(grad, expected_grad, equal_nan=True)


@pytest.mark.parametrize("name,binary", [("max", "maximum"), ("min", "minimum")])
def test_max_min_of_two_tensors_is_the_elementwise_op(name, binary):
    a = f64([1.0, 2.0, 3.0], [0.5, -1.0, 4.0])
    b = f64([1.0, 5.0, 0.0])  # a tie in the first column: half the gradient to each side
    for engine in (getattr(ag, name), lambda x, y: getattr(x, name)(y), getattr(ag, binary)):
        compare_with_torch(engine, getattr(torch, name), [a, b])
    compare_with_torch(lambda x, y: getattr(x, binary)(y), getattr(torch, binary), [a, b])
    compare_with_torch(lambda x: getattr(ag, name)(x, b), lambda x: getattr(torch, name)(x, b), [a])


def test_max_min_edge_cases_match_torch():
    s = torch.tensor(2.5, dtype=torch.float64)
    for dim in (0, -1):
        got, expected = ag.Variable(s).max(dim), s.max(dim)
        assert got.values.shape == () and torch.equal(got.indices, expected.indices)
    ints = torch.tensor([[1, 7, 7], [9, 0, 9]])
    got, expected = ag.max(ag.Variable(ints), 1), torch.max(ints, 1)
    assert torch.equal(got.values.data, expected.values) and torch.equal(got.indices, expected.indices)
    x = torch.randn(2, 3)
    v = ag.Variable(x)
    assert_raises_like_torch(lambda: v.max(2), lambda: x.max(2))
    assert_raises_like_torch(lambda: ag.min(v, -3), lambda: torch.min(x, -3))
    assert_raises_like_torch(lambda: ag.max(ag.Variable(torch.empty(0, 3)), 0), lambda: torch.empty(0, 3).max(0))
    assert_raises_like_torch(lambda: ag.Variable(torch.empty(0, 3)).min(), lambda: torch.empty(0, 3).min())
    with pytest.raises(TypeError, match="max"):
        v.max((0, 1))  # several dims: torch.amax
    with pytest.raises(TypeError, match="keepdim"):
        v.max(keepdim=True)
    assert torch.equal(ag.max(ag.Variable(torch.empty(0, 3)), 1).values.data, torch.empty(0))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_matches_torch(dim):
    x = torch.randn(3, 4, dtype=torch.float64)
    index = torch.tensor([[0, 2, 1, 0], [2, 2, 0, 1]]) if dim == 0 else torch.tensor([[3, 0], [1, 1], [0, 2]])
    compare_with_torch(lambda a: ag.gather(a, dim, index), lambda t: torch.gather(t, dim, index), [x])
    compare_with_torch(lambda a: a.gather(dim, index), lambda t: t.gather(dim, index), [x])
    assert_raises_like_torch(lambda: ag.gather(ag.Variable(x), 2, index), lambda: torch.gather(x, 2, index))


# --- 15. dims out of range are rejected as torch rejects them ------------------------------------
X4 = torch.randn(2, 3, 4, 5)
S = torch.tensor(3.0)

BAD_DIMS = {
    "squeeze": (lambda x: x.squeeze(6), lambda x: x.squeeze(6), X4),
    "squeeze-0d": (lambda x: x.squeeze(1), lambda x: x.squeeze(1), S),
    "squeeze-tuple": (lambda x: x.squeeze((0, 5)), lambda x: x.squeeze((0, 5)), X4),
    "squeeze-repeated": (lambda x: x.squeeze((0, -4)), lambda x: x.squeeze((0, -4)), X4),
    "stack": (lambda x: ag.stack([x, x], dim=77), lambda x: torch.stack([x, x], dim=77), X4),
    "stack-negative": (lambda x: ag.stack([x, x], dim=-6), lambda x: torch.stack([x, x], dim=-6), X4),
    "stack-shapes": (lambda x: ag.stack([x, x[:1]]), lambda x: torch.stack([x, x[:1]]), X4),
    "unsqueeze": (lambda x: x.unsqueeze(9), lambda x: x.unsqueeze(9), X4),
    "unsqueeze-0d": (lambda x: x.unsqueeze(-2), lambda x: x.unsqueeze(-2), S),
    "flatten": (lambda x: x.flatten(5), lambda x: x.flatten(5), X4),
    "flatten-end": (lambda x: ag.flatten(x, 0, 7), lambda x: torch.flatten(x, 0, 7), X4),
    "flatten-order": (lambda x: x.flatten(2, 1), lambda x: x.flatten(2, 1), X4),
    "flatten-0d": (lambda x: x.flatten(1), lambda x: x.flatten(1), S),
    "sum": (lambda x: x.sum(4), lambda x: x.sum(4), X4),
    "sum-repeated": (lambda x: x.sum((1, -3)), lambda x: x.sum((1, -3)), X4),
    "mean": (lambda x: x.mean(4), lambda x: x.mean(4), X4),
    "mean-negative": (lambda x: ag.mean(x, -5), lambda x: torch.mean(x, -5), X4),
    "mean-repeated": (lambda x: x.mean((1, 1)), lambda x: x.mean((1, 1)), X4),
    "mean-0d": (lambda x: x.mean(1), lambda x: x.mean(1), S),
    "max": (lambda x: x.max(4), lambda x: x.max(4), X4),
    "amax": (lambda x: ag.amax(x, (0, 4)), lambda x: torch.amax(x, (0, 4)), X4),
    "transpose": (lambda x: x.transpose(0, 4), lambda x: x.transpose(0, 4), X4),
    "transpose-negative": (lambda x: ag.transpose(x, -5, 0), lambda x: torch.transpose(x, -5, 0), X4),
    "permute": (lambda x: x.permute(0, 1, 2, 4), lambda x: x.permute(0, 1, 2, 4), X4),
    "cat": (lambda x: ag.cat([x, x], 4), lambda x: torch.cat([x, x], 4), X4),
    "softmax": (lambda x: x.softmax(4), lambda x: x.softmax(4), X4),
    "log_softmax": (lambda x: ag.log_softmax(x, -5), lambda x: torch.log_softmax(x, -5), X4),
    "logsumexp": (lambda x: x.logsumexp(4), lambda x: x.logsumexp(4), X4),
}


@pytest.mark.parametrize("case", sorted(BAD_DIMS))
def test_bad_dims_raise_torch_errors(case):
    engine_fn, torch_fn, x = BAD_DIMS[case]
    assert_raises_like_torch(lambda: engine_fn(ag.Variable(x, requires_grad=True)), lambda: torch_fn(x))


GOOD_DIMS = {
    "squeeze-tuple": (lambda x: x.squeeze((0, 2)), f64([[1.0], [2.0], [3.0]]).reshape(1, 3, 1)),
    "squeeze-list-negative": (lambda x: x.squeeze([0, -1]), torch.randn(1, 3, 1, dtype=torch.float64)),
    "squeeze-tuple-not-one": (lambda x: x.squeeze((1,)), torch.randn(1, 3, 1, dtype=torch.float64)),
    "squeeze-empty-tuple": (lambda x: x.squeeze(()), torch.randn(1, 3, 1, dtype=torch.float64)),
    "squeeze-all": (lambda x: x.squeeze(), torch.randn(1, 3, 1, dtype=torch.float64)),
    "squeeze-0d": (lambda x: x.squeeze(0), torch.tensor(2.0, dtype=torch.float64)),
    "squeeze-0d-negative": (lambda x: x.squeeze(-1) * 3, torch.tensor(2.0, dtype=torch.float64)),
    "unsqueeze-0d": (lambda x: x.unsqueeze(-1), torch.tensor(2.0, dtype=torch.float64)),
    "unsqueeze-last": (lambda x: x.unsqueeze(-1), torch.randn(2, 3, dtype=torch.float64)),
    "flatten-0d": (lambda x: x.flatten(0, -1), torch.tensor(2.0, dtype=torch.float64)),
    "flatten-one-dim": (lambda x: x.flatten(-1, 2), torch.randn(2, 3, 4, dtype=torch.float64)),
    "sum-0d": (lambda x: x.sum(0), torch.tensor(2.0, dtype=torch.float64)),
    "mean-0d": (lambda x: x.mean(-1), torch.tensor(2.0, dtype=torch.float64)),
    "max-0d": (lambda x: x.max(0)[0], torch.tensor(2.0, dtype=torch.float64)),
    "transpose-0d": (lambda x: x.transpose(0, -1), torch.tensor(2.0, dtype=torch.float64)),
    "softmax-0d": (lambda x: x.softmax(0), torch.tensor(2.0, dtype=torch.float64)),
    "logsumexp-0d": (lambda x: x.logsumexp(0), torch.tensor(2.0, dtype=torch.float64)),
    "stack-last": (lambda x: ag.stack([x, 2 * x], -1), torch.randn(2, 3, dtype=torch.float64)),
}


@pytest.mark.parametrize("case", sorted(GOOD_DIMS))
def test_dims_torch_accepts_give_torch_results(case):
    fn, x = GOOD_DIMS[case]
    torch_fn = (lambda t: torch.stack([t, 2 * t], -1)) if case == "stack-last" else fn
    compare_with_torch(fn, torch_fn, [x])


# --- 16. convolution arguments are checked as torch checks them ------------------------------------
CONV_X, CONV_W, CONV_WT = torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3), torch.randn(2, 3, 3, 3)

BAD_CONV = {
    "padding-3": ({"padding": (1, 1, 1)}, True),
    "padding-empty": ({"padding": ()}, True),
    "stride-3": ({"stride": (1, 2, 3)}, True),
    "dilation-3": ({"dilation": (1, 2, 3)}, True),
    "stride-0": ({"stride": 0}, True),
    "stride-negative": ({"stride": (1, -1)}, True),
    "dilation-0": ({"dilation": 0}, False),  # conv_transpose2d's words differ: checked below
    "padding-negative": ({"padding": -1}, True),
    "padding-string": ({"padding": "foo"}, False),
    "padding-same-strided": ({"padding": "same", "stride": 2}, False),
    "output_padding-3": ({"output_padding": (0, 0, 0)}, None),
    "output_padding-negative": ({"output_padding": -1}, None),
}


@pytest.mark.parametrize("lowering", F.LOWERINGS)
@pytest.mark.parametrize("case", sorted(BAD_CONV))
def test_conv_arguments_are_rejected_as_torch_rejects_them(case, lowering):
    kwargs, transposed_too = BAD_CONV[case]
    x = ag.Variable(CONV_X, requires_grad=True)
    if transposed_too is not None:
        assert_raises_like_torch(
            lambda: F.conv2d(x, CONV_W, lowering=lowering, **kwargs), lambda: tnf.conv2d(CONV_X, CONV_W, **kwargs)
        )
    if transposed_too is not False:
        assert_raises_like_torch(
            lambda: F.conv_transpose2d(x, CONV_WT, lowering=lowering, **kwargs),
            lambda: tnf.conv_transpose2d(CONV_X, CONV_WT, **kwargs),
        )


@pytest.mark.parametrize("lowering", F.LOWERINGS)
def test_conv_transpose2d_rejects_what_torch_rejects_in_its_own_words(lowering):
    x = ag.Variable(CONV_X, requires_grad=True)
    with pytest.raises(RuntimeError, match="dilation should be greater than zero"):
        F.conv_transpose2d(x, CONV_WT, dilation=0, lowering=lowering)
    with pytest.raises(TypeError, match="padding"):
        F.conv_transpose2d(x, CONV_WT, padding="same", lowering=lowering)  # torch: a TypeError too


@pytest.mark.parametrize("lowering", F.LOWERINGS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "same"},
        {"padding": "same", "dilation": (1, 2)},
        {"padding": "valid", "stride": 2},
        {"padding": (1,), "stride": (2,)},
        {"padding": [1, 2]},
    ],
)
@pytest.mark.parametrize("kernel", [(3, 3), (4, 3), (2, 2)])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's, about its copy
def test_conv2d_takes_torch_paddings(kwargs, kernel, lowering):
    x, w, b = (
        torch.randn(2, 2, 7, 6, dtype=torch.float64),
        torch.randn(3, 2, *kernel, dtype=torch.float64),
        f64(1, 2, 3),
    )
    compare_with_torch(
        lambda *a: F.conv2d(*a, lowering=lowering, **kwargs), lambda *a: tnf.conv2d(*a, **kwargs), [x, w, b]
    )


LAYER_ERRORS = [
    (lambda: nn.Conv2d(1, 1, 3, stride=0), RuntimeError, "Conv2d: non-positive stride is not supported"),
    (lambda: nn.Conv2d(1, 1, 3, stride=(1, 1, 1)), RuntimeError, "Conv2d: expected stride to be a single integer"),
    (lambda: nn.Conv2d(1, 1, 0), RuntimeError, "Conv2d: kernel size should be greater than zero"),
    (lambda: nn.Conv2d(1, 1, (3, -1)), RuntimeError, "Conv2d: kernel size should be greater than zero"),
    (lambda: nn.Conv2d(1, 1, 3, dilation=0), RuntimeError, "Conv2d: dilation should be greater than zero"),
    (lambda: nn.Conv2d(1, 1, 3, padding=-1), RuntimeError, "Conv2d: negative padding is not supported"),
    (lambda: nn.Conv2d(1, 1, 3, padding=1.5), TypeError, "Conv2d: padding must be an int or a tuple of ints"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, stride=0), RuntimeError, "ConvTranspose2d: non-positive stride"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, output_padding=-1), RuntimeError, "ConvTranspose2d: negative output_padding"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, padding="same"), TypeError, "ConvTranspose2d: padding must be an int"),
]


@pytest.mark.parametrize("make,error,message", LAYER_ERRORS)
def test_conv_layers_reject_bad_geometry_at_construction(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"padding": "same", "stride": 2}, "padding='same' is not supported for strided convolutions"),
        ({"padding": "bad"}, "Invalid padding string 'bad', should be one of {"),  # (torch formats a set)
    ],
)
def test_conv2d_layer_rejects_bad_padding_strings_as_torch(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        torch.nn.Conv2d(1, 1, 3, **kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        nn.Conv2d(1, 1, 3, **kwargs)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_layer_with_a_padding_string_matches_torch(padding):
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(2, 3, (4, 3), padding=padding, dilation=(1, 2), dtype=torch.float64)
    layer = nn.Conv2d(2, 3, (4, 3), padding=padding, dilation=(1, 2), dtype=torch.float64)
    layer.load_state_dict(reference.state_dict())
    assert layer.padding == reference.padding and repr(layer) == repr(reference)
    x = torch.randn(1, 2, 8, 9, dtype=torch.float64)
    torch.testing.assert_close(layer(ag.Variable(x)).data, reference(x).detach())


# --- 17. view: torch's semantics for shapes and dtypes ---------------------------------------------
@pytest.mark.parametrize(
    "dtype", [torch.int32, torch.float16, torch.bfloat16, torch.int16, torch.uint8, torch.float32, torch.float64]
)
@pytest.mark.parametrize("shape", [(3,), (2, 4), ()])
def test_view_as_a_dtype_reinterprets_bits_without_gradient(dtype, shape):
    x = torch.randn(shape)
    v = ag.Variable(x.clone(), requires_grad=True)
    try:
        expected = x.clone().requires_grad_().view(dtype)
    except RuntimeError:
        assert_raises_like_torch(lambda: v.view(dtype), lambda: x.clone().requires_grad_().view(dtype))
        return
    for got in (v.view(dtype), (v * 1).view(dtype=dtype)):
        assert isinstance(got, ag.Variable) and not got.requires_grad and not expected.requires_grad
        assert got.dtype == expected.dtype and torch.equal(got.data, expected)


def test_view_as_a_dtype_errors_as_torch():
    x = torch.randn(3)
    assert_raises_like_torch(lambda: ag.Variable(x).view(torch.int64), lambda: x.view(torch.int64))
    t = torch.randn(3, 4).T
    assert_raises_like_torch(lambda: ag.Variable(t).view(torch.float16), lambda: t.view(torch.float16))
    assert torch.equal(ag.Variable(t).view(torch.int32).data, t.view(torch.int32))
    assert isinstance(torch_error(lambda: x.view(3, dtype=torch.int32)), TypeError)
    with pytest.raises(TypeError, match="a shape or a dtype"):
        ag.Variable(x).view(3, dtype=torch.int32)


@pytest.mark.parametrize("shape", [(12,), (-1,), (2, 6)])
def test_view_fails_where_torch_cannot_view_and_reshape_copies(shape):
    t = torch.randn(3, 4, dtype=torch.float64).T
    assert_raises_like_torch(lambda: ag.Variable(t, requires_grad=True).view(*shape), lambda: t.view(*shape))
    compare_with_torch(lambda a: a.reshape(*shape), lambda a: a.reshape(*shape), [t])


def test_view_of_viewable_shapes_matches_torch():
    t = torch.randn(3, 4, dtype=torch.float64).T
    assert_raises_like_torch(lambda: ag.Variable(torch.randn(3)).view(2, 2), lambda: torch.randn(3).view(2, 2))
    compare_with_torch(lambda a: a.view(4, 3) * 2, lambda a: a.view(4, 3) * 2, [t])  # this one is a view
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    compare_with_torch(lambda a: a.view(-1, 4), lambda a: a.view(-1, 4), [x])
    compare_with_torch(lambda a: a.view((4, 6)), lambda a: a.view((4, 6)), [x])
    viewed = ag.Variable(x).view(6, 4)
    assert viewed.data.data_ptr() == x.data_ptr()  # shares storage, as torch's view
