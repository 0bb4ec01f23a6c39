"""nn.utils.parametrize, nn.utils.parametrizations, nn.utils.fusion and skip_init against torch.nn.utils's:
every test builds the same module in both libraries from the same seed (`lib` is `nn` or `torch.nn`),
treats both alike and compares state dicts (keys and bits), forward values, gradients, power-iteration
buffers and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
from nn.utils import parametrizations, parametrize
from nn.utils.stateless import functional_call

TOL = dict(rtol=1e-10, atol=1e-12)
UTILS = {nn: (parametrize, parametrizations), torch.nn: (torch.nn.utils.parametrize, torch.nn.utils.parametrizations)}


def twins(build: Callable[[Any], Any], seed: int = 0) -> tuple[Any, Any]:
    """`build(lib)` for both libraries after the same seed, in float64."""
    out = []
    for lib in (nn, torch.nn):
        torch.manual_seed(seed)
        out.append(build(lib).double())
    return out[0], out[1]


def assert_same_state(engine: Any, reference: Any, exact: bool = True) -> None:
    ours, theirs = engine.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    for k in theirs:
        if exact:
            assert torch.equal(ours[k], theirs[k]), k
        else:
            torch.testing.assert_close(ours[k], theirs[k], **TOL)


def run_and_compare(engine: Any, reference: Any, x: torch.Tensor, steps: int = 2) -> None:
    """Forward `steps` times (power iterations advance in training), then compare outputs and the
    gradients of every parameter of the last call."""
    for _ in range(steps):
        out_e, out_t = engine(ag.Variable(x)), reference(x)
    torch.testing.assert_close(out_e.data, out_t.detach(), **TOL)
    cotangent = torch.randn_like(out_t)
    params_e, params_t = dict(engine.named_parameters()), dict(reference.named_parameters())
    assert list(params_e) == list(params_t)
    grads_e = ag.gradients(out_e, list(params_e.values()), cotangent)
    grads_t = torch.autograd.grad(out_t, list(params_t.values()), cotangent)
    for name, a, b in zip(params_t, grads_e, grads_t):
        torch.testing.assert_close(a.data, b, **TOL, msg=name)


SPECTRAL_CASES = [
    (lambda lib: lib.Linear(5, 4), (3, 5), {}),
    (lambda lib: lib.Linear(5, 4), (3, 5), {"n_power_iterations": 3, "eps": 1e-6}),
    (lambda lib: lib.Conv2d(2, 3, 3), (2, 2, 5, 5), {}),
    (lambda lib: lib.Conv2d(2, 3, 3), (2, 2, 5, 5), {"dim": -1}),
    (lambda lib: lib.ConvTranspose2d(2, 3, 3), (2, 2, 4, 4), {}),  # dim 1 by default
]


@pytest.mark.parametrize(("build", "shape", "kwargs"), SPECTRAL_CASES)
@pytest.mark.parametrize("training", [True, False])
def test_spectral_norm_as_torch(build: Any, shape: tuple[int, ...], kwargs: dict[str, Any], training: bool) -> None:
    engine, reference = twins(build)
    for lib, module in ((nn, engine), (torch.nn, reference)):
        torch.manual_seed(1)  # u and v are drawn now, as torch draws them
        UTILS[lib][1].spectral_norm(module, **kwargs)
        module.train(training)
    assert type(engine).__name__ == type(reference).__name__ and repr(engine) == repr(reference)
    assert_same_state(engine, reference)
    run_and_compare(engine, reference, torch.randn(shape, dtype=torch.float64))
    assert_same_state(engine, reference, exact=False)  # the power iterations advanced alike


def test_spectral_norm_of_a_one_dim_tensor_normalizes_it() -> None:
    engine, reference = twins(lambda lib: lib.LayerNorm(4))
    with torch.no_grad():
        reference.weight.copy_(torch.arange(1.0, 5.0))
    engine.load_state_dict(reference.state_dict())
    parametrizations.spectral_norm(engine)
    torch.nn.utils.parametrizations.spectral_norm(reference)
    run_and_compare(engine, reference, torch.randn(3, 4, dtype=torch.float64))


def test_spectral_norm_errors_as_torch() -> None:
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\] but got 2\)"):
        parametrizations.spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive, but got n_power_iterations=0"):
        parametrizations.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'nope'"):
        parametrizations.spectral_norm(nn.Linear(2, 2), name="nope")


@pytest.mark.parametrize("dim", [0, 1, None, -2])
@pytest.mark.parametrize(("build", "shape"), [(lambda lib: lib.Conv1d(2, 3, 3), (2, 2, 6))])
def test_weight_norm_as_torch(build: Any, shape: tuple[int, ...], dim: int | None) -> None:
    engine, reference = twins(build)
    parametrizations.weight_norm(engine, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(reference, dim=dim)
    assert repr(engine) == repr(reference)
    assert_same_state(engine, reference, exact=False)
    run_and_compare(engine, reference, torch.randn(shape, dtype=torch.float64), steps=1)


def test_state_dicts_move_both_ways_between_the_twins() -> None:
    engine, reference = twins(lambda lib: lib.Linear(3, 4), seed=0)
    other, _ = twins(lambda lib: lib.Linear(3, 4), seed=5)
    for module in (engine, other):
        parametrizations.weight_norm(module)
    torch.nn.utils.parametrizations.weight_norm(reference)
    assert other.load_state_dict(reference.state_dict()).missing_keys == []
    assert_same_state(other, reference)
    reference.load_state_dict(engine.state_dict())
    assert_same_state(engine, reference)


class Symmetric:
    """A parametrization in both libraries: the upper triangle mirrored, and its right inverse."""

    @staticmethod
    def make(lib: Any, inverse: bool = True) -> Any:
        class Symmetric(lib.Module):
            def forward(self, x: Any) -> Any:
                return x.triu() + x.triu(1).transpose(0, 1)

        if inverse:
            Symmetric.right_inverse = lambda self, a: a.triu()  # type: ignore[attr-defined]
        return Symmetric()


class Scale:
    @staticmethod
    def make(lib: Any, factor: float = 2.0) -> Any:
        class Scale(lib.Module):
            def forward(self, x: Any) -> Any:
                return x * factor

            def right_inverse(self, x: Any) -> Any:
                return x / factor

        return Scale()


@pytest.mark.parametrize("unsafe", [False, True])
def test_chained_parametrizations_assignment_and_removal_as_torch(unsafe: bool) -> None:
    engine, reference = twins(lambda lib: lib.Linear(3, 3))
    own = engine.weight
    for lib, module in ((nn, engine), (torch.nn, reference)):
        utils = UTILS[lib][0]
        utils.register_parametrization(module, "weight", Symmetric.make(lib), unsafe=unsafe)
        utils.register_parametrization(module, "weight", Scale.make(lib), unsafe=unsafe)
        assert utils.is_parametrized(module) and utils.is_parametrized(module, "weight")
        assert not utils.is_parametrized(module, "bias")
        assert utils.type_before_parametrizations(module) is lib.Linear
    assert engine.parametrizations.weight.original is own  # the optimizer's Parameter stays
    assert_same_state(engine, reference)
    run_and_compare(engine, reference, torch.randn(2, 3, dtype=torch.float64), steps=1)
    value = torch.randn(3, 3, dtype=torch.float64)
    engine.weight = value  # right_inverse of the chain, last first
    reference.weight = value
    assert_same_state(engine, reference)
    torch.testing.assert_close(engine.weight.data, reference.weight.detach(), **TOL)
    parametrize.remove_parametrizations(engine, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(reference, "weight")
    assert type(engine) is nn.Linear and engine.weight is own and "parametrizations" not in engine._modules
    assert_same_state(engine, reference)


@pytest.mark.parametrize("leave_parametrized", [True, False])
def test_remove_leaves_the_parametrized_or_the_original_value(leave_parametrized: bool) -> None:
    engine, reference = twins(lambda lib: lib.Linear(3, 3))
    for lib, module in ((nn, engine), (torch.nn, reference)):
        UTILS[lib][0].register_parametrization(module, "weight", Symmetric.make(lib, inverse=False))
        UTILS[lib][0].remove_parametrizations(module, "weight", leave_parametrized=leave_parametrized)
    assert isinstance(engine.weight, nn.Parameter)
    assert_same_state(engine, reference)


def test_remove_weight_norm_as_torch_and_its_error_without_leaving_parametrized() -> None:
    engine, reference = twins(lambda lib: lib.Linear(3, 2))
    parametrizations.weight_norm(engine)
    torch.nn.utils.parametrizations.weight_norm(reference)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(engine, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(engine, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(reference, "weight")
    assert isinstance(engine.weight, nn.Parameter) and engine.weight.requires_grad
    assert_same_state(engine, reference, exact=False)


def test_buffers_can_be_parametrized_and_stay_buffers() -> None:
    engine, reference = twins(lambda lib: lib.BatchNorm1d(3))
    for lib, module in ((nn, engine), (torch.nn, reference)):
        UTILS[lib][0].register_parametrization(module, "running_var", Scale.make(lib, 3.0))
    assert_same_state(engine, reference)
    assert "parametrizations.running_var.original" in dict(engine.named_buffers())
    engine.eval(), reference.eval()
    run_and_compare(engine, reference, torch.randn(4, 3, dtype=torch.float64), steps=1)


def test_cached_computes_each_parametrized_tensor_once() -> None:
    calls = []

    class Counted(nn.Module):
        def forward(self, x: Any) -> Any:
            calls.append(1)
            return x * 1.0

    module = parametrize.register_parametrization(nn.Linear(2, 2), "weight", Counted())
    calls.clear()
    with parametrize.cached():
        first, second = module.weight, module.weight
    assert first is second and len(calls) == 1
    assert module.weight is not first and len(calls) == 2


ERRORS = [
    (
        lambda lib: Scale.make(lib),
        {"name": "nope"},
        ValueError,
        "does not have a parameter, a buffer, or a parametrized",
    ),
    (lambda lib: torch_slice(lib), {}, ValueError, "may not change the shape of the tensor"),
    (lambda lib: to_float32(lib), {}, ValueError, "may not change the dtype of the tensor"),
]


def torch_slice(lib: Any) -> Any:
    class Slice(lib.Module):
        def forward(self, x: Any) -> Any:
            return x[:1]

    return Slice()


def to_float32(lib: Any) -> Any:
    class Cast(lib.Module):
        def forward(self, x: Any) -> Any:
            return x.float()

    return Cast()


@pytest.mark.parametrize("chained", [False, True])
@pytest.mark.parametrize(("make", "kwargs", "error", "match"), ERRORS)
def test_registration_errors_as_torch(
    make: Any, kwargs: dict[str, Any], error: type, match: str, chained: bool
) -> None:
    """On a plain weight, and after a first parametrization (torch words the two checks differently)."""
    engine, reference = twins(lambda lib: lib.Linear(2, 2))
    if chained:
        parametrize.register_parametrization(engine, "weight", Scale.make(nn))
        torch.nn.utils.parametrize.register_parametrization(reference, "weight", Scale.make(torch.nn))
    name = kwargs.get("name", "weight")
    with pytest.raises(error) as expected:
        torch.nn.utils.parametrize.register_parametrization(reference, name, make(torch.nn))
    with pytest.raises(error, match=match) as got:
        parametrize.register_parametrization(engine, name, make(nn))
    if name == "weight":  # (the other message prints the module, whose repr differs in dtype)
        assert str(got.value) == str(expected.value)
    assert parametrize.is_parametrized(engine) == chained
    assert len(engine.parametrizations.weight) == 1 if chained else isinstance(engine.weight, nn.Parameter)


def test_assigning_without_right_inverse_is_a_runtime_error() -> None:
    module = parametrize.register_parametrization(nn.Linear(2, 2), "weight", Symmetric.make(nn, inverse=False))
    with pytest.raises(RuntimeError, match="parametrization Symmetric does not implement right_inverse"):
        module.weight = torch.zeros(2, 2)


def test_functional_call_on_the_original_of_a_parametrized_weight() -> None:
    engine, reference = twins(lambda lib: lib.Linear(3, 2))
    parametrizations.weight_norm(engine)
    torch.nn.utils.parametrizations.weight_norm(reference)
    x = torch.randn(4, 3, dtype=torch.float64)
    given = {"parametrizations.weight.original1": torch.randn(2, 3, dtype=torch.float64)}
    grads = ag.grad(lambda p: functional_call(engine, p, (x,)).pow(2).sum())(given)
    leaf = given["parametrizations.weight.original1"].clone().requires_grad_()
    out = torch.func.functional_call(reference, {"parametrizations.weight.original1": leaf}, (x,))
    (expected,) = torch.autograd.grad(out.pow(2).sum(), [leaf])
    torch.testing.assert_close(grads["parametrizations.weight.original1"], expected, **TOL)


def test_pickling_a_parametrized_module_is_refused_but_deepcopy_works() -> None:
    import copy
    import pickle

    module = parametrizations.weight_norm(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(module)
    replica = copy.deepcopy(module)
    assert torch.equal(replica.weight.data, module.weight.data)
    assert replica.parametrizations.weight.original0 is not module.parametrizations.weight.original0


FUSIONS = [
    (lambda lib: lib.Conv2d(2, 3, 3), lambda lib: lib.BatchNorm2d(3), (2, 2, 5, 5), {}),
    (lambda lib: lib.Conv1d(2, 3, 3, bias=False), lambda lib: lib.BatchNorm1d(3, affine=False), (2, 2, 5), {}),
    (lambda lib: lib.ConvTranspose2d(2, 3, 3), lambda lib: lib.BatchNorm2d(3), (2, 2, 4, 4), {"transpose": True}),
    (lambda lib: lib.Linear(4, 3), lambda lib: lib.BatchNorm1d(3), (5, 4), None),
    (lambda lib: lib.Linear(4, 3, bias=False), lambda lib: lib.BatchNorm1d(1), (5, 4), None),
]


@pytest.mark.parametrize(("layer", "norm", "shape", "conv_kwargs"), FUSIONS)
def test_fusion_as_torch(layer: Any, norm: Any, shape: tuple[int, ...], conv_kwargs: dict[str, Any] | None) -> None:
    from nn.utils import fusion

    (layer_e, layer_t), (bn_e, bn_t) = twins(layer), twins(norm)
    gen = torch.Generator().manual_seed(3)
    for value in bn_t.state_dict().values():  # statistics and affine parameters away from 0 and 1
        if value.is_floating_point():
            value.copy_(torch.rand(value.shape, dtype=value.dtype, generator=gen) + 0.5)
    bn_e.load_state_dict(bn_t.state_dict())
    for module in (layer_e, layer_t, bn_e, bn_t):
        module.eval()
    if conv_kwargs is None:
        fused_e = fusion.fuse_linear_bn_eval(layer_e, bn_e)
        fused_t = torch.nn.utils.fusion.fuse_linear_bn_eval(layer_t, bn_t)
    else:
        fused_e = fusion.fuse_conv_bn_eval(layer_e, bn_e, **conv_kwargs)
        fused_t = torch.nn.utils.fusion.fuse_conv_bn_eval(layer_t, bn_t, **conv_kwargs)
    assert type(fused_e) is type(layer_e) and fused_e is not layer_e
    assert_same_state(fused_e, fused_t)
    assert [p.requires_grad for p in fused_e.parameters()] == [p.requires_grad for p in fused_t.parameters()]
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(fused_e(x).data, fused_t(x).detach(), **TOL)
    if bn_e.num_features > 1:  # (a one-feature batch norm cannot follow the layer unfused)
        torch.testing.assert_close(fused_e(x).data, bn_e(layer_e(x)).data, rtol=1e-9, atol=1e-10)


def test_fusion_in_training_mode_is_an_assertion_error_as_torch() -> None:
    from nn.utils import fusion

    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        fusion.fuse_conv_bn_eval(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
        fusion.fuse_linear_bn_eval(nn.Linear(1, 2).eval(), nn.BatchNorm1d(3).eval())


def test_skip_init_draws_nothing_and_allocates_as_asked() -> None:
    from nn.utils.init import skip_init

    state = torch.get_rng_state()
    module = skip_init(nn.Conv2d, 2, 3, 3, dtype=torch.float64)
    assert torch.equal(torch.get_rng_state(), state)
    reference = torch.nn.utils.skip_init(torch.nn.Conv2d, 2, 3, 3, dtype=torch.float64)
    assert {k: (v.shape, v.dtype, v.device) for k, v in module.state_dict().items()} == {
        k: (v.shape, v.dtype, v.device) for k, v in reference.state_dict().items()
    }
    assert isinstance(module.weight, nn.Parameter) and module.weight.requires_grad
    with pytest.raises(RuntimeError, match="Module must support a 'device' arg"):
        skip_init(nn.ReLU)
    with pytest.raises(RuntimeError, match="Expected a Module"):
        skip_init(int)
