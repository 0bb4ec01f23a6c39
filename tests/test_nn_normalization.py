"""The normalization layers against their torch.nn twins: initial state, state dicts both ways, outputs,
input and parameter gradients and running statistics over several training steps and in eval mode,
casts, and torch's errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn

from .test_nn_module import perturb, run_both

LAYERS = {  # name: (class, args, kwargs, input shape)
    "BatchNorm1d 2D": ("BatchNorm1d", (4,), {}, (8, 4)),
    "BatchNorm1d 3D": ("BatchNorm1d", (4,), {}, (5, 4, 6)),
    "BatchNorm1d cumulative": ("BatchNorm1d", (4,), {"momentum": None}, (5, 4, 6)),
    "BatchNorm2d": ("BatchNorm2d", (3,), {}, (4, 3, 5, 6)),
    "BatchNorm2d momentum": ("BatchNorm2d", (3,), {"momentum": 0.3, "eps": 1e-3}, (4, 3, 5, 6)),
    "BatchNorm2d cumulative": ("BatchNorm2d", (3,), {"momentum": None}, (4, 3, 5, 6)),
    "BatchNorm2d no affine": ("BatchNorm2d", (3,), {"affine": False}, (4, 3, 5, 6)),
    "BatchNorm2d no bias": ("BatchNorm2d", (3,), {"bias": False}, (4, 3, 5, 6)),
    "BatchNorm2d untracked": ("BatchNorm2d", (3,), {"track_running_stats": False}, (4, 3, 5, 6)),
    "BatchNorm3d": ("BatchNorm3d", (2,), {}, (3, 2, 3, 4, 5)),
    "InstanceNorm1d": ("InstanceNorm1d", (4,), {}, (3, 4, 7)),
    "InstanceNorm1d tracked": ("InstanceNorm1d", (4,), {"affine": True, "track_running_stats": True}, (3, 4, 7)),
    "InstanceNorm1d unbatched": ("InstanceNorm1d", (4,), {"affine": True}, (4, 7)),
    "InstanceNorm2d": ("InstanceNorm2d", (3,), {"affine": True}, (2, 3, 5, 6)),
    "InstanceNorm2d unbatched tracked": ("InstanceNorm2d", (3,), {"track_running_stats": True}, (3, 5, 6)),
    "InstanceNorm3d": (
        "InstanceNorm3d",
        (2,),
        {"affine": True, "track_running_stats": True, "momentum": 0.2},
        (2, 2, 3, 4, 5),
    ),
    "LayerNorm": ("LayerNorm", (6,), {}, (4, 6)),
    "LayerNorm 2 dims": ("LayerNorm", ((3, 4),), {"eps": 1e-3}, (2, 5, 3, 4)),
    "LayerNorm no bias": ("LayerNorm", (6,), {"bias": False}, (4, 6)),
    "LayerNorm no affine": ("LayerNorm", (6,), {"elementwise_affine": False}, (4, 6)),
    "GroupNorm": ("GroupNorm", (2, 4), {}, (3, 4, 5)),
    "GroupNorm no affine": ("GroupNorm", (3, 6), {"affine": False}, (2, 6, 4, 4)),
    "GroupNorm no bias": ("GroupNorm", (1, 4), {"bias": False, "eps": 1e-3}, (2, 4, 3)),
    "RMSNorm": ("RMSNorm", (6,), {}, (4, 6)),
    "RMSNorm eps": ("RMSNorm", ((3, 4),), {"eps": 1e-6}, (2, 3, 4)),
    "RMSNorm no affine": ("RMSNorm", (6,), {"elementwise_affine": False}, (4, 6)),
    "LocalResponseNorm": ("LocalResponseNorm", (3,), {}, (2, 5, 4, 4)),
    "LocalResponseNorm args": ("LocalResponseNorm", (2,), {"alpha": 1e-2, "beta": 0.5, "k": 2.0}, (2, 5, 4)),
}


def build(lib: Any, spec: tuple[Any, ...]) -> Any:
    name, args, kwargs, _ = spec
    torch.manual_seed(0)
    return getattr(lib, name)(*args, **kwargs)


def twins(spec: tuple[Any, ...]) -> tuple[Any, Any]:
    return build(nn, spec).double(), build(torch.nn, spec).double()


def inputs(spec: tuple[Any, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(spec[3], generator=g, dtype=torch.float64) * 2 + seed


@pytest.mark.parametrize("spec", LAYERS.values(), ids=LAYERS.keys())
def test_initial_state_and_repr_match_torch(spec):
    ours, theirs = build(nn, spec), build(torch.nn, spec)
    a, b = ours.state_dict(), theirs.state_dict()
    assert dtypes(ours) == dtypes(theirs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    assert all(type(t) is torch.Tensor for t in ours.buffers())


@pytest.mark.parametrize("spec", LAYERS.values(), ids=LAYERS.keys())
def test_training_steps_then_eval_match_torch(spec):
    ours, theirs = twins(spec)
    perturb(theirs, 1)  # weights, biases and running statistics away from their defaults
    ours.load_state_dict(theirs.state_dict())
    for step in range(3):
        run_both(ours, theirs, inputs(spec, step))
    ours.eval(), theirs.eval()
    run_both(ours, theirs, inputs(spec, 3))


@pytest.mark.parametrize("spec", LAYERS.values(), ids=LAYERS.keys())
def test_state_dict_loads_into_torch(spec):
    ours, theirs = twins(spec)
    perturb(ours, 2)
    theirs.load_state_dict(ours.state_dict())
    ours.eval(), theirs.eval()
    run_both(ours, theirs, inputs(spec, 0))


def dtypes(m: Any) -> list[tuple[str, torch.dtype]]:
    return [(k, v.dtype) for k, v in m.state_dict().items()]


@pytest.mark.parametrize("cast", ["double", "float", "half", "bfloat16"])
def test_casts_keep_num_batches_tracked_int64_as_torch(cast):
    spec = LAYERS["BatchNorm2d"]
    ours, theirs = build(nn, spec), build(torch.nn, spec)
    getattr(ours, cast)(), getattr(theirs, cast)()
    assert [(k, v.dtype) for k, v in ours.state_dict().items()] == [
        (k, v.dtype) for k, v in theirs.state_dict().items()
    ]
    assert ours.num_batches_tracked.dtype == torch.int64


def test_device_and_dtype_arguments_as_torch():
    for name, args in [("BatchNorm1d", (3,)), ("InstanceNorm2d", (3,)), ("LayerNorm", (3,)), ("GroupNorm", (1, 3))]:
        kwargs = dict(device="cpu", dtype=torch.float64)
        if name == "InstanceNorm2d":
            kwargs.update(affine=True, track_running_stats=True)
        ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert {k: v.dtype for k, v in ours.state_dict().items()} == {
            k: v.dtype for k, v in theirs.state_dict().items()
        }
    assert nn.RMSNorm(3, dtype=torch.float64).weight.dtype == torch.float64


def test_reset_running_stats_and_parameters_as_torch():
    spec = LAYERS["BatchNorm2d"]
    ours, theirs = twins(spec)
    perturb(theirs, 1)
    ours.load_state_dict(theirs.state_dict())
    run_both(ours, theirs, inputs(spec, 0))
    ours.reset_running_stats(), theirs.reset_running_stats()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    for m in (ours, theirs):
        m.reset_parameters()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))


def test_running_statistics_update_without_recording():
    bn = nn.BatchNorm1d(3, dtype=torch.float64)
    x = ag.Variable(inputs(LAYERS["BatchNorm1d 2D"], 0)[:, :3], requires_grad=True)
    with ag.no_grad():
        bn(x)
    assert int(bn.num_batches_tracked) == 1 and not torch.equal(bn.running_mean, torch.zeros(3))
    y = bn(x)
    assert y.requires_grad and all(type(t) is torch.Tensor and not t.requires_grad for t in bn.buffers())


ERRORS = [
    ("BatchNorm1d", (4,), {}, (2, 4, 3, 3), ValueError, r"BatchNorm1d: expected 2D or 3D input \(got 4D input\)"),
    ("BatchNorm2d", (3,), {}, (2, 3, 4), ValueError, r"expected 4D input \(got 3D input\), input of shape \(2, 3, 4\)"),
    ("BatchNorm3d", (3,), {}, (2, 3, 4, 4), ValueError, r"expected 5D input \(got 4D input\)"),
    ("BatchNorm1d", (4,), {}, (1, 4), ValueError, "Expected more than 1 value per channel when training"),
    ("BatchNorm2d", (3,), {}, (2, 4, 5, 5), RuntimeError, "running_mean should contain 4 elements not 3"),
    ("InstanceNorm1d", (4,), {}, (4,), ValueError, r"expected 2D or 3D input \(got 1D input\)"),
    ("InstanceNorm1d", (4,), {}, (2, 4, 1), ValueError, "Expected more than 1 spatial element when training"),
    (
        "InstanceNorm2d",
        (3,),
        {"affine": True},
        (2, 4, 5, 5),
        ValueError,
        r"expected input's size at dim=1 to match num_features \(3\), but got: 4.",
    ),
    ("LayerNorm", (5,), {}, (2, 4), RuntimeError, r"normalized_shape=\[5\], expected input with shape \[\*, 5\]"),
    ("GroupNorm", (2, 4), {}, (2, 6, 3), RuntimeError, r"Expected weight to be a vector of size equal to the number"),
    ("RMSNorm", (5,), {}, (2, 4), RuntimeError, r"normalized_shape=\[5\], expected input with shape \[\*5\]"),
    ("LocalResponseNorm", (2,), {}, (3, 4), ValueError, r"Expected 3D or higher dimensionality input \(got 2"),
]


@pytest.mark.parametrize("name,args,kwargs,shape,error,match", ERRORS)
def test_bad_input_raises_torchs_errors(name, args, kwargs, shape, error, match):
    x = torch.randn(shape, dtype=torch.float64)
    for lib, wrap in ((nn, ag.Variable), (torch.nn, lambda t: t)):
        layer = getattr(lib, name)(*args, **kwargs).double()
        with pytest.raises(error, match=match if lib is nn else None):
            layer(wrap(x))


def test_errors_inside_a_model_name_the_layer():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    with pytest.raises(
        ValueError, match=r"BatchNorm1d in Sequential/1:BatchNorm1d: expected 2D or 3D input \(got 4D input\)"
    ):
        model(ag.Variable(torch.ones(2, 3, 2, 4)))


def test_group_norm_checks_groups_at_construction_as_torch():
    for lib in (nn, torch.nn):
        with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
            lib.GroupNorm(3, 4)


def test_instance_norm_warns_on_unused_num_features_as_torch():
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    for lib, wrap in ((nn, ag.Variable), (torch.nn, lambda t: t)):
        with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
            y = lib.InstanceNorm1d(3)(wrap(x))
        assert tuple(y.shape) == (2, 4, 5)
