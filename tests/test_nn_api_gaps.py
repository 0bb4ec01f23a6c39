"""torch.nn API points against torch.nn twins: extra state in state dicts, load_state_dict(assign=True),
reset_parameters, torch.nn.init on Parameters (and nn.init), Module.type, forward argument names,
modules(remove_duplicate=) and the normalization layers' state-dict version."""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
import nn.init

LIBS = (nn, torch.nn)
D = torch.float64


def values(t: Any) -> torch.Tensor:
    return t.data if isinstance(t, ag.Variable) else t.detach()


def assert_same_state(ours: Any, theirs: Any) -> None:
    """Same keys in the same order, bitwise equal tensors (dtypes too)."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


# --- 1. get_extra_state / set_extra_state -------------------------------------------------------------------
def counter_net(lib: Any) -> Any:
    """A module with extra state beside a parameter and a buffer, and a child with extra state of its own."""

    class Counter(lib.Module):
        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count
            self.loaded: list[Any] = []
            self.scale = lib.Parameter(torch.linspace(0.5, 1.5, 3, dtype=D))
            self.register_buffer("steps", torch.tensor(7))

        def get_extra_state(self) -> Any:
            return {"count": self.count}

        def set_extra_state(self, state: Any) -> None:
            self.loaded.append(state)
            self.count = state["count"]

    class Net(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = lib.Parameter(torch.ones(2, dtype=D))
            self.inner = Counter(3)
            self.last = lib.Linear(2, 2, dtype=D)

    return Net()


def test_extra_state_is_saved_under_torch_keys_and_order() -> None:
    ours, theirs = counter_net(nn), counter_net(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "inner._extra_state" in ours.state_dict()
    assert ours.state_dict()["inner._extra_state"] == theirs.state_dict()["inner._extra_state"] == {"count": 3}


@pytest.mark.parametrize("source_lib", LIBS)
def test_extra_state_loads_through_set_extra_state(source_lib: Any) -> None:
    """Both ways between the libraries: set_extra_state gets the saved state."""
    source = counter_net(source_lib)
    source.inner.count = 11
    for lib in LIBS:
        target = counter_net(lib)
        assert repr(target.load_state_dict(source.state_dict())) == "<All keys matched successfully>"
        assert target.inner.count == 11
        assert target.inner.loaded == [{"count": 11}]


@pytest.mark.parametrize("strict", [True, False])
def test_missing_extra_state_is_reported_as_torch(strict: bool) -> None:
    results = []
    for lib in LIBS:
        state = counter_net(lib).state_dict()
        del state["inner._extra_state"]
        target = counter_net(lib)
        if strict:
            with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "inner._extra_state"'):
                target.load_state_dict(state)
            results.append(None)
        else:
            results.append(tuple(target.load_state_dict(state, strict=False)))
        assert target.inner.loaded == []
    assert results[0] == results[1]


def test_extra_state_without_set_extra_state_is_unexpected() -> None:
    for lib in LIBS:
        state = {**lib.Linear(2, 2).state_dict(), "_extra_state": 1}
        with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "_extra_state"'):
            lib.Linear(2, 2).load_state_dict(state)


def test_failed_load_leaves_extra_state_alone() -> None:
    """nn's loads are all or nothing: a size mismatch elsewhere means set_extra_state is not called."""
    target = counter_net(nn)
    state = counter_net(nn).state_dict()
    state["inner._extra_state"] = {"count": 99}
    state["last.weight"] = torch.zeros(3, 3, dtype=D)
    with pytest.raises(RuntimeError, match="size mismatch for last.weight"):
        target.load_state_dict(state)
    assert target.inner.count == 3 and target.inner.loaded == []


def test_extra_state_restored_when_a_post_hook_fails() -> None:
    """A post-hook sees the loaded module; when the load then fails, get_extra_state's value is set back."""
    target = counter_net(nn)
    seen = []

    def hook(module: Any, keys: Any) -> None:
        seen.append(module.inner.count)
        keys.missing_keys.append("made.up")

    target.register_load_state_dict_post_hook(hook)
    state = target.state_dict()
    state["inner._extra_state"] = {"count": 42}
    with pytest.raises(RuntimeError, match='Missing key.*"made.up"'):
        target.load_state_dict(state)
    assert seen == [42] and target.inner.count == 3


def test_default_extra_state_methods_raise_as_torch() -> None:
    for lib in LIBS:
        with pytest.raises(RuntimeError, match="should never be called"):
            lib.Linear(2, 2).get_extra_state()
        with pytest.raises(RuntimeError, match="should never be called"):
            lib.Linear(2, 2).set_extra_state(None)


# --- 2. load_state_dict(assign=True) ------------------------------------------------------------------------
def test_assign_makes_the_given_tensors_the_parameters() -> None:
    torch.manual_seed(0)
    source = torch.nn.Linear(3, 2).double()
    state = source.state_dict()
    twins = [lib.Linear(3, 2) for lib in LIBS]  # float32: assign takes the given dtype, as torch
    for m in twins:
        m.bias.requires_grad_(False)
        assert repr(m.load_state_dict(state, assign=True)) == "<All keys matched successfully>"
    ours, theirs = twins
    assert isinstance(ours.weight, nn.Parameter)
    for name in ("weight", "bias"):
        mine, torchs = getattr(ours, name), getattr(theirs, name)
        assert mine.dtype == torchs.dtype == D
        assert mine.requires_grad == torchs.requires_grad == (name == "weight")
        assert mine.data.data_ptr() == torchs.data_ptr() == state[name].data_ptr()  # the given storage
    x = torch.randn(4, 3, dtype=D)
    out, expected = ours(ag.Variable(x)), theirs(x)
    torch.testing.assert_close(out.data, expected.detach(), rtol=0, atol=0)
    out.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(ours.weight.grad.data, theirs.weight.grad, rtol=1e-12, atol=1e-12)


def test_assign_buffers_and_given_parameters() -> None:
    """Buffers become the given tensors; a given Parameter (keep_vars) is used itself, with the
    requires_grad of the one it replaces."""
    for lib in LIBS:
        source = lib.BatchNorm1d(3)
        source.weight.requires_grad_(False)
        state = source.state_dict(keep_vars=True)
        target = lib.BatchNorm1d(3)
        target.load_state_dict(state, assign=True)
        assert target.running_mean is state["running_mean"]
        assert target.num_batches_tracked is state["num_batches_tracked"]
        assert target.weight is source.weight and target.weight.requires_grad


def test_skip_init_then_assign_matches_torch() -> None:
    torch.manual_seed(1)
    reference = torch.nn.Conv2d(2, 3, 3, dtype=D)
    ours = nn.utils.skip_init(nn.Conv2d, 2, 3, 3, dtype=D)
    theirs = torch.nn.utils.skip_init(torch.nn.Conv2d, 2, 3, 3, dtype=D)
    for m in (ours, theirs):
        m.load_state_dict(reference.state_dict(), assign=True)
    assert_same_state(ours, theirs)
    x = torch.randn(1, 2, 5, 5, dtype=D)
    torch.testing.assert_close(ours(ag.Variable(x)).data, theirs(x).detach(), rtol=0, atol=0)


def test_assign_errors_as_torch_and_changes_nothing() -> None:
    int_state = {"weight": torch.ones(2, 3, dtype=torch.long), "bias": torch.zeros(2)}
    for lib in LIBS:
        m = lib.Linear(3, 2)
        with pytest.raises(RuntimeError, match=r'While copying the parameter named "weight".*floating point'):
            m.load_state_dict(int_state, assign=True)
        with pytest.raises(RuntimeError, match="size mismatch for weight"):
            m.load_state_dict({"weight": torch.ones(3, 3), "bias": torch.zeros(2)}, assign=True)
    m = nn.Linear(3, 2)
    weight, bias = m.weight, m.bias
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        m.load_state_dict({"weight": torch.ones(3, 3), "bias": torch.zeros(2)}, assign=True)
    assert m.weight is weight and m.bias is bias  # (the bias's assignment waited for the whole load)


def test_assign_sees_metadata_and_leaves_the_state_dicts_alone() -> None:
    seen = []

    class Probe(nn.Linear):
        def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any, *args: Any) -> None:
            seen.append(dict(local_metadata))
            super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    state = nn.Linear(2, 2).state_dict()
    Probe(2, 2).load_state_dict(state, assign=True)
    Probe(2, 2).load_state_dict(state)
    assert seen == [{"version": 1, "assign_to_params_buffers": True}, {"version": 1}]
    assert state._metadata == {"": {"version": 1}}  # type: ignore[attr-defined]


def test_copying_into_meta_parameters_warns_as_torch() -> None:
    state = torch.nn.Linear(3, 2).state_dict()
    for lib in LIBS:
        with pytest.warns(UserWarning, match=r"copying from a non-meta parameter.*assign=True") as record:
            lib.Linear(3, 2, device="meta").load_state_dict(state)
        assert [str(w.message).partition(":")[0] for w in record] == ["for weight", "for bias"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            m = lib.Linear(3, 2, device="meta")
            m.load_state_dict(state, assign=True)
        assert torch.equal(values(m.weight), state["weight"])


# --- 3. reset_parameters ------------------------------------------------------------------------------------
LAYERS: dict[str, Callable[[Any], Any]] = {
    "Linear": lambda lib: lib.Linear(5, 3, dtype=D),
    "Linear-no-bias": lambda lib: lib.Linear(5, 3, bias=False, dtype=D),
    "Bilinear": lambda lib: lib.Bilinear(3, 4, 2, dtype=D),
    "Conv1d": lambda lib: lib.Conv1d(4, 6, 3, groups=2, dtype=D),
    "Conv2d": lambda lib: lib.Conv2d(2, 3, (2, 3), dtype=D),
    "Conv3d": lambda lib: lib.Conv3d(2, 2, 2, bias=False, dtype=D),
    "ConvTranspose1d": lambda lib: lib.ConvTranspose1d(4, 6, 3, groups=2, dtype=D),
    "ConvTranspose2d": lambda lib: lib.ConvTranspose2d(2, 3, 3, dtype=D),
    "ConvTranspose3d": lambda lib: lib.ConvTranspose3d(2, 3, 2, dtype=D),
    "Embedding": lambda lib: lib.Embedding(6, 3, padding_idx=-2, dtype=D),
    "EmbeddingBag": lambda lib: lib.EmbeddingBag(6, 3, padding_idx=1, dtype=D),
    "PReLU": lambda lib: lib.PReLU(3, init=0.1, dtype=D),
    "BatchNorm1d": lambda lib: lib.BatchNorm1d(3, dtype=D),
    "LSTM": lambda lib: lib.LSTM(3, 4, dtype=D),
}


@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_reset_parameters_draws_as_torch(make: Callable[[Any], Any]) -> None:
    torch.manual_seed(3)
    ours = make(nn)
    torch.manual_seed(3)
    theirs = make(torch.nn)
    assert_same_state(ours, theirs)
    for m in (ours, theirs):
        with torch.no_grad():
            for p in m.parameters():
                values(p).fill_(0.5)
    torch.manual_seed(4)
    assert ours.reset_parameters() is None
    after_ours = torch.rand(2)
    torch.manual_seed(4)
    theirs.reset_parameters()
    assert torch.equal(after_ours, torch.rand(2))  # the same number of draws
    assert_same_state(ours, theirs)


ZERO_FAN_IN = {"Linear": lambda lib: lib.Linear(0, 3), "Conv1d": lambda lib: lib.Conv1d(0, 3, 2)}


@pytest.mark.parametrize("make", ZERO_FAN_IN.values(), ids=ZERO_FAN_IN.keys())
def test_zero_fan_in_draws_as_torch(make: Callable[[Any], Any]) -> None:
    """The weight draws nothing (torch's warning), the bias draws in +-0."""
    after = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "Initializing zero-element tensors is a no-op"
        for lib in LIBS:
            torch.manual_seed(0)
            m = make(lib)
            after.append(torch.rand(3))
            assert torch.equal(values(m.bias), torch.zeros(3))
    assert torch.equal(after[0], after[1])


def test_channels_last_conv_weight_draws_as_torch() -> None:
    twins = [lib.Conv2d(3, 4, 3, dtype=D).to(memory_format=torch.channels_last) for lib in LIBS]
    assert not twins[0].weight.data.is_contiguous()
    for m in twins:
        torch.manual_seed(6)
        m.reset_parameters()
    assert_same_state(*twins)


def test_every_layer_has_torchs_reset_methods_and_forward_arguments() -> None:
    """Each nn class with a torch.nn twin: reset_parameters / reset_running_stats / _reset_parameters
    where torch has them, and forward's argument names as torch's."""
    checked = 0
    for name in dir(nn):
        ours, theirs = getattr(nn, name), getattr(torch.nn, name, None)
        if not (isinstance(ours, type) and issubclass(ours, nn.Module) and isinstance(theirs, type)):
            continue
        for method in ("reset_parameters", "reset_running_stats", "_reset_parameters"):
            assert hasattr(ours, method) == hasattr(theirs, method), (name, method)
        if ours.forward is not nn.Module.forward and theirs.forward is not torch.nn.Module.forward:
            mine = list(inspect.signature(ours.forward).parameters)
            assert mine == list(inspect.signature(theirs.forward).parameters), name
        checked += 1
    assert checked > 100


def test_linear_takes_input_by_torchs_name() -> None:
    torch.manual_seed(0)
    ours = nn.Linear(3, 2, dtype=D)
    theirs = torch.nn.Linear(3, 2, dtype=D)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(4, 3, dtype=D)
    torch.testing.assert_close(ours(input=ag.Variable(x)).data, theirs(input=x).detach(), rtol=0, atol=0)


# --- 4. torch.nn.init on Parameters, and nn.init ------------------------------------------------------------
INITS: dict[str, tuple[tuple[int, ...], tuple[Any, ...], dict[str, Any]]] = {
    "uniform_": ((4, 5), (-0.1, 0.1), {}),
    "normal_": ((4, 5), (), {"mean": 1.0, "std": 0.5}),
    "trunc_normal_": ((4, 5), (), {"a": -1.0, "b": 0.5}),
    "constant_": ((4, 5), (0.3,), {}),
    "ones_": ((4, 5), (), {}),
    "zeros_": ((4, 5), (), {}),
    "eye_": ((4, 5), (), {}),
    "dirac_": ((4, 2, 3, 3), (), {"groups": 2}),
    "xavier_uniform_": ((4, 5, 2), (), {"gain": 2.0}),
    "xavier_normal_": ((4, 5), (), {}),
    "kaiming_uniform_": ((4, 5), (), {"a": 5**0.5}),
    "kaiming_normal_": ((4, 5, 3), (), {"mode": "fan_out", "nonlinearity": "leaky_relu"}),
    "orthogonal_": ((4, 6), (), {"gain": 1.5}),
    "sparse_": ((6, 5), (0.4,), {}),
}


@pytest.mark.parametrize("via", ["torch.nn.init", "nn.init"])
@pytest.mark.parametrize("name", INITS)
def test_init_functions_on_parameters_draw_as_on_tensors(name: str, via: str) -> None:
    shape, args, kwargs = INITS[name]
    init = torch.nn.init if via == "torch.nn.init" else nn.init
    torch.manual_seed(5)
    expected = getattr(torch.nn.init, name)(torch.empty(shape, dtype=D), *args, **kwargs)
    param = nn.Parameter(torch.full(shape, 7.0, dtype=D))
    storage = param.data.data_ptr()
    torch.manual_seed(5)
    if via == "torch.nn.init" and name == "eye_":  # torch.eye(out=Variable), which the engine refuses
        with pytest.raises(TypeError, match=r"torch.eye: out= is not supported with Variables"):
            init.eye_(param)
        return
    assert getattr(init, name)(param, *args, **kwargs) is param
    assert torch.equal(param.data, expected) and param.data.data_ptr() == storage
    assert param.is_leaf and param.requires_grad
    (param * 2).sum().backward()  # nothing was recorded: the gradient is the one of the product only
    assert torch.equal(param.grad.data, torch.full(shape, 2.0, dtype=D))


def test_init_on_plain_tensors_generators_and_deprecated_names() -> None:
    assert sorted(nn.init.__all__) == sorted(torch.nn.init.__all__)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    tensor = torch.empty(3, 4)
    assert nn.init.zeros_(tensor) is tensor and torch.equal(tensor, torch.zeros(3, 4))
    draws = []
    for init in (torch.nn.init, nn.init):
        generator = torch.Generator().manual_seed(9)
        target = nn.Parameter(torch.empty(3, 4)) if init is nn.init else torch.empty(3, 4)
        init.kaiming_uniform_(target, generator=generator)
        draws.append(values(target))
    assert torch.equal(draws[0], draws[1])
    for init in (torch.nn.init, nn.init):
        with pytest.warns(FutureWarning, match=r"nn.init.uniform` is now deprecated"):
            init.uniform(nn.Parameter(torch.empty(2)))


def test_init_rules_load_with_the_engine_alone() -> None:
    """`import autograd_engine` is enough for torch.nn.init.uniform_ on a Variable (nn.init loads lazily)."""
    code = (
        "import sys, torch, autograd_engine as ag\n"
        "v = ag.Variable(torch.zeros(3, 4))\n"
        "torch.nn.init.uniform_(v, 2.0, 3.0)\n"
        "assert 'nn.init' in sys.modules and bool(((v.data >= 2) & (v.data < 3)).all())\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(nn.__file__).parents[1])


def test_variable_ndimension_and_is_meta() -> None:
    v = ag.Variable(torch.zeros(2, 3, 4))
    assert v.ndimension() == torch.zeros(2, 3, 4).ndimension() == 3
    assert v.is_meta is False and ag.Variable(torch.empty(2, device="meta")).is_meta is True


# --- 5. Module.type, modules(remove_duplicate=), named_modules(memo, prefix, remove_duplicate) ---------------
@pytest.mark.parametrize("dst_type", [torch.float64, torch.float16, "torch.DoubleTensor"])
def test_module_type_casts_everything_as_torch(dst_type: Any) -> None:
    twins = []
    for lib in LIBS:
        torch.manual_seed(0)
        m = lib.Sequential(lib.Linear(3, 4), lib.BatchNorm1d(4))
        m[0].weight.grad = m[0].weight * 0 + 1 if lib is nn else torch.ones(4, 3)
        assert m.type(dst_type) is m
        twins.append(m)
    ours, theirs = twins
    assert_same_state(ours, theirs)  # num_batches_tracked cast too
    assert ours[0].weight.grad.dtype == theirs[0].weight.grad.dtype
    assert isinstance(ours[0].weight, nn.Parameter)


def test_module_type_to_integers_refused_as_torch() -> None:
    for lib in LIBS:
        with pytest.raises(RuntimeError, match="requires gradients must be floating point"):
            lib.Linear(2, 2).type(torch.int64)
    m = nn.Linear(2, 2).requires_grad_(False).type(torch.int64)
    assert m.weight.dtype == torch.int64


def shared_model(lib: Any) -> Any:
    shared = lib.Linear(2, 2)
    return lib.Sequential(shared, lib.Sequential(shared, lib.ReLU()), shared)


@pytest.mark.parametrize("remove_duplicate", [True, False])
def test_modules_and_named_modules_as_torch(remove_duplicate: bool) -> None:
    ours, theirs = shared_model(nn), shared_model(torch.nn)

    def kinds(modules: Any) -> list[str]:
        return [type(m).__name__ for m in modules]

    assert kinds(ours.modules(remove_duplicate=remove_duplicate)) == kinds(
        theirs.modules(remove_duplicate=remove_duplicate)
    )
    for memo in (None, "first"):
        names = []
        for model in (ours, theirs):
            seen = {model[0]} if memo else None
            names.append(
                [n for n, _ in model.named_modules(memo=seen, prefix="net", remove_duplicate=remove_duplicate)]
            )
        assert names[0] == names[1]


# --- 6. the normalization layers' state-dict version --------------------------------------------------------
def test_state_dict_versions_as_torch() -> None:
    def model(lib: Any) -> Any:
        return lib.Sequential(
            lib.BatchNorm1d(2), lib.InstanceNorm1d(2), lib.BatchNorm2d(2), lib.LayerNorm(2), lib.GroupNorm(1, 2)
        )

    ours, theirs = model(nn).state_dict(), model(torch.nn).state_dict()
    assert ours._metadata == theirs._metadata  # type: ignore[attr-defined]
    assert ours._metadata["0"] == {"version": 2}  # type: ignore[attr-defined]


def test_a_batch_norm_state_dict_from_before_version_2_loads_as_in_torch():
    """Version 1 had no num_batches_tracked: torch keeps the module's count; version 2 without it is missing."""
    saved = torch.nn.BatchNorm1d(3).state_dict()
    del saved["num_batches_tracked"]
    saved._metadata[""]["version"] = 1
    ours, theirs = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    assert not ours.load_state_dict(saved).missing_keys and not theirs.load_state_dict(saved).missing_keys
    saved._metadata[""]["version"] = 2
    for module in (ours, theirs):
        with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "num_batches_tracked"'):
            module.load_state_dict(saved)
