"""nn.func.functional_call against torch.func.functional_call: the same model in both libraries (`lib` is
`nn` or `torch.nn`, same draws), called with the same swapped-in values; outputs, gradients (through
ag.grad / vjp / jacobian / hessian against torch.autograd / torch.func), buffers and errors compared."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
from nn.utils.stateless import functional_call

TOL = dict(rtol=1e-10, atol=1e-12)


def make_net(lib: Any, seed: int = 0) -> Any:
    """Linear -> BatchNorm1d -> tanh -> Linear, plus the first Linear shared under a second name (tied)."""

    class Net(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = lib.Linear(3, 4)
            self.norm = lib.BatchNorm1d(4)
            self.out = lib.Linear(4, 2)
            self.alias = self.inp

        def forward(self, x: Any, scale: float = 1.0) -> Any:
            return self.out(torch.tanh(self.norm(self.inp(x)))) * scale

    torch.manual_seed(seed)
    return Net().double()


def values(net: Any, seed: int = 1) -> dict[str, torch.Tensor]:
    """Fresh float64 values for every parameter (under its first name)."""
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(p.shape, dtype=torch.float64, generator=gen) for k, p in net.named_parameters()}


def torch_grads(x: torch.Tensor, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]) -> Any:
    net = make_net(torch.nn)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss = torch.func.functional_call(net, (leaves, buffers), (x,), {"scale": 2.0}).pow(2).sum()
    return loss, dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))


@pytest.mark.parametrize("call", [functional_call, nn.func.functional_call])
def test_grad_through_functional_call_and_running_stats_as_torch(call: Any) -> None:
    torch.manual_seed(2)
    x = torch.randn(6, 3, dtype=torch.float64)
    net = make_net(nn)
    params = values(net)
    bufs_e = {k: b.clone() for k, b in net.named_buffers()}
    bufs_t = {k: b.clone() for k, b in net.named_buffers()}
    own = {k: p.data.clone() for k, p in net.named_parameters()}

    def loss(p: dict[str, Any]) -> Any:
        return call(net, (p, bufs_e), (x,), {"scale": 2.0}).pow(2).sum()

    value, grads = ag.value_and_grad(loss)(params)
    expected, expected_grads = torch_grads(x, params, bufs_t)
    torch.testing.assert_close(value, expected.detach(), **TOL)
    assert grads.keys() == expected_grads.keys()
    for k in grads:
        torch.testing.assert_close(grads[k], expected_grads[k], **TOL)
    for k in bufs_t:  # batch norm updated the given running statistics in place, as torch
        assert torch.equal(bufs_e[k], bufs_t[k]) and not torch.equal(bufs_t[k], net.get_buffer(k))
    for k, p in net.named_parameters():  # the module's own parameters are back, untouched
        assert isinstance(p, nn.Parameter) and torch.equal(p.data, own[k])
    assert net.norm.running_mean.abs().max() == 0 and int(net.norm.num_batches_tracked) == 0


def test_hessian_of_a_tiny_mlp_wrt_its_parameters_equals_torch_func() -> None:
    def tiny(lib: Any) -> Any:
        torch.manual_seed(3)
        return lib.Sequential(lib.Linear(2, 3), lib.Tanh(), lib.Linear(3, 1)).double()

    x = torch.randn(4, 2, dtype=torch.float64)
    net_e, net_t = tiny(nn), tiny(torch.nn)
    params_e = dict(net_e.named_parameters())
    params_t = {k: p.detach() for k, p in net_t.named_parameters()}
    h_e = ag.hessian(lambda p: functional_call(net_e, p, x).sum())(params_e)
    h_t = torch.func.hessian(lambda p: torch.func.functional_call(net_t, p, x).sum())(params_t)
    assert h_e.keys() == h_t.keys()
    for a in h_t:
        assert h_e[a].keys() == h_t[a].keys()
        for b in h_t[a]:
            assert isinstance(h_e[a][b], ag.Variable)  # Parameters in, Variables out
            torch.testing.assert_close(h_e[a][b].data, h_t[a][b], **TOL)


def test_vjp_and_jacobian_with_plain_tensor_values() -> None:
    net_e, net_t = make_net(nn).eval(), make_net(torch.nn).eval()
    x = torch.randn(5, 3, dtype=torch.float64)
    params = values(net_e)
    out, pullback = ag.vjp(lambda p: functional_call(net_e, p, (x,)), params)
    expected = torch.func.functional_call(net_t, params, (x,))
    assert isinstance(out, torch.Tensor)  # tensors in, tensors out
    torch.testing.assert_close(out, expected, **TOL)
    cotangent = torch.randn_like(expected)
    (grads,) = pullback(cotangent)
    _, vjp_t = torch.func.vjp(lambda p: torch.func.functional_call(net_t, p, (x,)), params)
    (expected_grads,) = vjp_t(cotangent)
    jac = ag.jacobian(lambda p: functional_call(net_e, p, (x,)))(params)
    jac_t = torch.func.jacrev(lambda p: torch.func.functional_call(net_t, p, (x,)))(params)
    for k in params:
        torch.testing.assert_close(grads[k], expected_grads[k], **TOL)
        torch.testing.assert_close(jac[k], jac_t[k], **TOL)


@pytest.mark.parametrize("given", [["inp.weight"], ["alias.weight"], ["inp.weight", "alias.weight"]])
@pytest.mark.parametrize("tie_weights", [True, False])
def test_tied_weights_as_torch(given: list[str], tie_weights: bool) -> None:
    nets = make_net(nn).eval(), make_net(torch.nn).eval()
    x = torch.randn(2, 3, dtype=torch.float64)
    value = torch.ones(4, 3, dtype=torch.float64)
    out_e = functional_call(nets[0], dict.fromkeys(given, value), (x,), tie_weights=tie_weights)
    out_t = torch.func.functional_call(nets[1], dict.fromkeys(given, value), (x,), tie_weights=tie_weights)
    torch.testing.assert_close(out_e.data, out_t.detach(), **TOL)


def test_different_values_for_tied_names_raise_as_torch() -> None:
    different = {"inp.weight": torch.zeros(4, 3), "alias.weight": torch.ones(4, 3)}
    with pytest.raises(ValueError) as expected:
        torch.func.functional_call(make_net(torch.nn), different, (torch.zeros(2, 3),))
    with pytest.raises(ValueError, match="which are tied. Consider using tie_weights=False") as got:
        functional_call(make_net(nn), different, (torch.zeros(2, 3),))
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "given",
    [
        {"inp.weight": torch.zeros(4, 3)},
        {"nope": torch.zeros(1), "inp.weight": torch.zeros(4, 3)},
    ],
)
def test_strict_names_missing_and_unexpected_keys_as_torch(given: dict[str, torch.Tensor]) -> None:
    with pytest.raises(RuntimeError) as expected:
        torch.func.functional_call(make_net(torch.nn), given, (torch.zeros(2, 3),), strict=True)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in reparametrizing for Net") as got:
        functional_call(make_net(nn), given, (torch.zeros(2, 3),), strict=True)
    assert str(got.value) == str(expected.value)


def test_strict_with_every_tensor_given_runs() -> None:
    net_e, net_t = make_net(nn).eval(), make_net(torch.nn).eval()
    everything = {**values(net_e), **{k: b.clone() for k, b in net_e.named_buffers()}}
    x = torch.randn(2, 3, dtype=torch.float64)
    out_e = functional_call(net_e, everything, (x,), strict=True)
    out_t = torch.func.functional_call(net_t, everything, (x,), strict=True)
    torch.testing.assert_close(out_e.data, out_t.detach(), **TOL)


@pytest.mark.parametrize(
    "dicts",
    [
        ({"out.bias": torch.zeros(2)}, {"out.bias": torch.ones(2)}),
        [{"out.bias": torch.zeros(2)}, "out.bias"],
        "out.bias",
    ],
)
def test_bad_dict_arguments_raise_as_torch(dicts: Any) -> None:
    with pytest.raises(ValueError) as expected:
        torch.func.functional_call(make_net(torch.nn), dicts, (torch.zeros(2, 3),))
    with pytest.raises(ValueError) as got:
        functional_call(make_net(nn), dicts, (torch.zeros(2, 3),))
    assert str(got.value) == str(expected.value)


def test_a_value_that_is_not_a_tensor_is_a_type_error() -> None:
    net = make_net(nn)
    own = net.out.bias
    with pytest.raises(TypeError, match="is not an instance of torch.Tensor"):
        functional_call(net, {"inp.bias": torch.zeros(4), "out.bias": [0.0, 0.0]}, (torch.zeros(2, 3),))
    assert net.out.bias is own and isinstance(net.inp.bias, nn.Parameter)


def test_own_parameters_come_back_when_forward_raises() -> None:
    net = make_net(nn)
    own = dict(net.named_parameters())
    with pytest.raises(RuntimeError, match="shape"):
        functional_call(net, {"out.weight": torch.zeros(2, 4)}, (torch.zeros(2, 5),))
    assert dict(net.named_parameters()) == own and all(net.get_parameter(k) is p for k, p in own.items())


def test_assignments_during_the_call_are_written_back_into_the_dict_as_torch() -> None:
    def counter(lib: Any) -> Any:
        class Counter(lib.Module):
            def __init__(self) -> None:
                super().__init__()
                self.register_buffer("count", torch.zeros(()))

            def forward(self, x: Any) -> Any:
                self.count = self.count + 1
                return x * self.count

        return Counter()

    given_e, given_t = {"count": torch.tensor(5.0)}, {"count": torch.tensor(5.0)}
    net_e, net_t = counter(nn), counter(torch.nn)
    out_e = functional_call(net_e, given_e, (torch.ones(2),))
    out_t = torch.func.functional_call(net_t, given_t, (torch.ones(2),))
    assert torch.equal(out_e, out_t) and torch.equal(given_e["count"], given_t["count"])
    assert float(given_e["count"]) == 6.0 and float(net_e.count) == 0.0 == float(net_t.count)


def test_missing_submodule_is_an_attribute_error_as_torch() -> None:
    with pytest.raises(AttributeError) as expected:
        torch.func.functional_call(make_net(torch.nn), {"nope.weight": torch.zeros(1)}, (torch.zeros(2, 3),))
    with pytest.raises(AttributeError) as got:
        functional_call(make_net(nn), {"nope.weight": torch.zeros(1)}, (torch.zeros(2, 3),))
    assert str(got.value) == str(expected.value)
