"""Creation, dtype and device against torch: leaf Variables from ag.zeros & co., the *_like and new_* forms,
meshgrid (differentiable), ag.tensor, and conversions (float casts differentiable, integer casts constant)."""

from __future__ import annotations

import pytest
import torch

import autograd_engine as ag

from .oracles import compare_with_torch, r
from .test_torch_semantics import assert_raises_like_torch


def grid_product(a, b, indexing):
    x, y = torch.meshgrid(a, b, indexing=indexing)
    return x * y + x


# (id, engine function, torch function, inputs): the same torch-style code on tensors and on Variables
CASES = [
    ("meshgrid-ij", lambda a, b: grid_product(a, b, "ij"), lambda a, b: grid_product(a, b, "ij"), [r(3), r(4)]),
    ("meshgrid-xy", lambda a, b: grid_product(a, b, "xy"), lambda a, b: grid_product(a, b, "xy"), [r(3), r(4)]),
    (
        "meshgrid-three-list",
        lambda a, b, c: torch.meshgrid([a, b, c], indexing="xy")[2] * a.reshape(1, 3, 1),
        lambda a, b, c: torch.meshgrid([a, b, c], indexing="xy")[2] * a.reshape(1, 3, 1),
        [r(3), r(2), r(4)],
    ),
    ("to-half-and-back", lambda a: a.half().double() * a, lambda a: a.half().double() * a, [r(5)]),
    ("to-bfloat16", lambda a: a.bfloat16().to(a), lambda a: a.bfloat16().to(a), [r(5)]),
    (
        "to-type-string",
        lambda a: a.type("torch.FloatTensor").double(),
        lambda a: a.type("torch.FloatTensor").double(),
        [r(5)],
    ),
    ("to-copy", lambda a: a.to(torch.float64, copy=True) * a, lambda a: a.to(torch.float64, copy=True) * a, [r(5)]),
    (
        "new-zeros-plus",
        lambda a: a.new_zeros(2, 3) + a.new_ones((3,)) * a + torch.zeros_like(a),
        lambda a: a.new_zeros(2, 3) + a.new_ones((3,)) * a + torch.zeros_like(a),
        [r(3)],
    ),
    (
        "int-cast-ends-gradient",
        lambda a: a * a.long() + a.int().double(),
        lambda a: a * a.long() + a.int().double(),
        [r(4) * 3],
    ),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("zeros", (2, 3), {}),
        ("zeros", ((2, 3),), {"dtype": torch.float64}),
        ("ones", (4,), {"dtype": torch.float16}),
        ("full", ((2, 2), 1.5), {}),
        ("empty", (3,), {}),
        ("arange", (1, 7, 2), {}),
        ("arange", (5,), {"dtype": torch.float64}),
        ("linspace", (0, 1, 5), {}),
        ("logspace", (0, 2, 3), {"base": 2.0}),
        ("eye", (3, 4), {}),
        ("randperm", (6,), {}),
        ("randint", (0, 10, (3,)), {}),
        ("randint", (5, (2, 2)), {"dtype": torch.float32}),
    ],
)
def test_creation_gives_torchs_values_as_a_leaf(name, args, kwargs, device):
    for requires_grad in (False, True):
        gen_e, gen_t = torch.Generator(device).manual_seed(3), torch.Generator(device).manual_seed(3)
        extra = {"generator": gen_e} if name.startswith("rand") else {}
        expected = getattr(torch, name)(*args, **kwargs, device=device, **({"generator": gen_t} if extra else {}))
        if requires_grad and not expected.is_floating_point():
            assert_raises_like_torch(
                lambda: getattr(ag, name)(*args, **kwargs, requires_grad=True),
                lambda: getattr(torch, name)(*args, **kwargs, requires_grad=True),
            )
            continue
        out = getattr(ag, name)(*args, **kwargs, device=device, requires_grad=requires_grad, **extra)
        assert isinstance(out, ag.Variable) and out.is_leaf and out.requires_grad == requires_grad
        assert out.dtype == expected.dtype and out.device == expected.device and out.shape == expected.shape
        if name != "empty":
            assert torch.equal(out.data, expected)
        assert out.data.grad_fn is None and not out.data.requires_grad


def test_rand_and_randn_follow_the_generator():
    out = ag.randn(2, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64, requires_grad=True)
    assert torch.equal(out.data, torch.randn(2, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    assert out.requires_grad and out.is_leaf
    assert ag.rand(4).data.min() >= 0 and ag.rand(4).shape == (4,)


@pytest.mark.parametrize(
    "name,args",
    [
        ("zeros_like", ()),
        ("ones_like", ()),
        ("full_like", (2.5,)),
        ("empty_like", ()),
        ("rand_like", ()),
        ("randn_like", ()),
        ("randint_like", (1, 4)),
    ],
)
def test_like_functions_dispatch_on_variables(name, args, device):
    v = ag.Variable(r(2, 3).to(device), requires_grad=True)
    fn = getattr(torch, name)
    out = fn(v, *args)
    expected = fn(v.data, *args)
    assert isinstance(out, ag.Variable) and not out.requires_grad and out.is_leaf
    assert out.shape == expected.shape and out.dtype == expected.dtype and out.device == expected.device
    if name in ("zeros_like", "ones_like", "full_like"):
        assert torch.equal(out.data, expected)
    grad = fn(v, *args, dtype=torch.float32, requires_grad=True)
    assert grad.requires_grad and grad.is_leaf and grad.dtype == torch.float32
    assert getattr(ag, name)(v.data, *args).shape == (2, 3)  # ag's spelling takes tensors too


def test_variables_among_creation_arguments_give_their_values():
    stop = ag.Variable(torch.tensor(4.0), requires_grad=True)
    for out, expected in [
        (torch.arange(stop), torch.arange(4.0)),
        (torch.linspace(0, stop, 3), torch.linspace(0, 4.0, 3)),
        (torch.full((2,), ag.Variable(torch.tensor(1.5))), torch.full((2,), 1.5)),
    ]:
        assert isinstance(out, ag.Variable) and not out.requires_grad and torch.equal(out.data, expected)


def test_like_requires_grad_of_integers_is_torchs_error():
    v = ag.Variable(r(3))
    assert_raises_like_torch(
        lambda: torch.zeros_like(v, dtype=torch.int64, requires_grad=True),
        lambda: torch.zeros_like(v.data, dtype=torch.int64, requires_grad=True),
    )


def test_new_methods_take_selfs_dtype_and_device(device):
    v = ag.Variable(r(2).to(device), requires_grad=True)
    for out, expected in [
        (v.new_zeros(2, 3), v.data.new_zeros(2, 3)),
        (v.new_ones((3,)), v.data.new_ones((3,))),
        (v.new_full((2,), 7.0), v.data.new_full((2,), 7.0)),
        (v.new_tensor([1, 2]), v.data.new_tensor([1, 2])),
        (v.new_zeros(2, dtype=torch.int64), v.data.new_zeros(2, dtype=torch.int64)),
    ]:
        assert isinstance(out, ag.Variable) and not out.requires_grad
        assert out.dtype == expected.dtype and out.device == expected.device and torch.equal(out.data, expected)
    assert v.new_empty(4).shape == (4,) and v.new_ones(2, requires_grad=True).requires_grad


def test_tensor_copies_data_into_a_leaf(device):
    out = ag.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, device=device, requires_grad=True)
    assert (
        out.is_leaf
        and out.requires_grad
        and out.dtype == torch.float64
        and out.device.type == torch.device(device).type
    )
    v = ag.Variable(r(3), requires_grad=True)
    copied = ag.tensor(v)
    assert not copied.requires_grad and torch.equal(copied.data, v.data) and copied.data.data_ptr() != v.data.data_ptr()
    stacked = ag.tensor([v[0], v[2]])  # Variables inside lists: their values
    assert torch.equal(stacked.data, v.data[[0, 2]]) and not stacked.requires_grad
    assert_raises_like_torch(
        lambda: ag.tensor([1, 2], requires_grad=True), lambda: torch.tensor([1, 2], requires_grad=True)
    )


def test_meshgrid_errors_and_default_are_torchs():
    a, b = ag.Variable(r(2)), ag.Variable(r(3))
    with pytest.warns(UserWarning, match="indexing argument"):
        default = torch.meshgrid(a, b)
    assert default[0].shape == (2, 3)
    assert_raises_like_torch(
        lambda: torch.meshgrid(a, b, indexing="yx"), lambda: torch.meshgrid(a.data, b.data, indexing="yx")
    )
    with pytest.raises(RuntimeError, match="torch.meshgrid: Expected 0D or 1D tensor"):
        torch.meshgrid(ag.Variable(r(2, 2)), b, indexing="ij")


def test_integer_and_bool_casts_end_the_gradient():
    v = ag.Variable(r(4) * 3, requires_grad=True)
    for cast, dtype in [
        (v.int, torch.int32),
        (v.long, torch.int64),
        (v.short, torch.int16),
        (v.char, torch.int8),
        (v.byte, torch.uint8),
        (v.bool, torch.bool),
    ]:
        out = cast()
        assert out.dtype == dtype and not out.requires_grad and out.is_leaf
        assert torch.equal(out.data, v.data.to(dtype))
    assert not v.to(torch.int64).requires_grad and not v.type(torch.int32).requires_grad


def test_float_casts_record_and_keep_the_gradients_dtype():
    v = ag.Variable(r(3), requires_grad=True)
    for cast, dtype in [(v.half, torch.float16), (v.bfloat16, torch.bfloat16), (v.float, torch.float32)]:
        out = cast()
        assert out.dtype == dtype and out.op == "to"
    v.float().sum().backward()
    assert v.grad.dtype == torch.float64


def test_type_and_to_follow_torch():
    t = r(3)
    v = ag.Variable(t, requires_grad=True)
    assert v.type() == t.type() == "torch.DoubleTensor"
    assert v.type(torch.float64) is v and v.to(v) is v and v.to(torch.float64) is v
    copy = v.to(torch.float64, copy=True)
    assert copy is not v and copy.data.data_ptr() != v.data.data_ptr() and copy.requires_grad
    assert v.type_as(torch.zeros(1, dtype=torch.float32)).dtype == torch.float32
    assert v.to(torch.zeros(1, dtype=torch.float16)).dtype == torch.float16
    assert v.to("cpu", torch.float32, non_blocking=True).dtype == torch.float32
    other = ag.Variable(torch.zeros(1, dtype=torch.float32))
    assert v.to(other).dtype == torch.float32 and v.type_as(other).dtype == torch.float32
    moved = torch.zeros(2).to(v)  # a tensor converted to a Variable's dtype: a tensor, as torch's
    assert isinstance(moved, torch.Tensor) and moved.dtype == torch.float64
    assert torch.zeros(2).type_as(v).dtype == torch.float64


def test_conversions_move_between_devices(device):
    v = ag.Variable(r(3), requires_grad=True)
    moved = v.to(device)
    assert moved.device.type == torch.device(device).type
    (moved.cpu() * 2).sum().backward()
    assert v.grad.device == v.device and torch.equal(v.grad.data, torch.full((3,), 2.0, dtype=torch.float64))
