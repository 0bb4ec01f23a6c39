"""Reliability of nn (issue #15): load_state_dict validates before it loads, optimizers reject what
torch rejects, forward hooks that return a non-tensor are named, errors name the layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import autograd_engine as ag
import nn


def model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


def twin() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def ones_like_state(m) -> dict:
    return {k: torch.ones_like(v) for k, v in m.state_dict().items()}


def load_error(m, state, strict=True) -> str:
    """The RuntimeError's message, after checking that nothing was loaded."""
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(state, strict=strict)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items()), "a failed load changed the model"
    return str(info.value)


@pytest.mark.parametrize("value", [np.ones((1, 3), dtype=np.float32), 3.0, [[1.0, 1.0, 1.0]]])
def test_load_state_dict_with_a_non_tensor_loads_nothing_and_names_the_key(value):
    ours, theirs = model(), twin()
    state = ones_like_state(ours)
    state["2.weight"] = value  # after 0.weight and 0.bias, which must stay as they were
    message = load_error(ours, state)
    with pytest.raises(RuntimeError) as torch_error:
        theirs.load_state_dict(state)
    assert message == str(torch_error.value)  # torch's wording (torch itself loads the keys before it)
    assert message.startswith("Error(s) in loading state_dict for Sequential:\n\t")
    assert 'While copying the parameter named "2.weight"' in message


def test_load_state_dict_errors_read_like_torchs_and_load_nothing():
    ours, theirs = model(), twin()
    cases = []
    state = ones_like_state(ours)
    state["2.weight"] = torch.ones(3, 1)
    state["0.weight"] = torch.ones(5)
    cases.append(state)  # two shape mismatches: both named, with both shapes
    state = ones_like_state(ours)
    del state["2.bias"]
    state["extra"] = torch.ones(1)
    cases.append(state)  # missing and unexpected
    state = dict(state, **{"0.weight": torch.ones(5)})
    cases.append(state)  # all three
    for state in cases:
        message = load_error(ours, state)
        with pytest.raises(RuntimeError) as torch_error:
            theirs.load_state_dict(state)
        assert message == str(torch_error.value)
    assert "size mismatch for 0.weight: copying a param with shape torch.Size([5]) from checkpoint, the shape in " in (
        load_error(ours, cases[0])
    )
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        ours.load_state_dict([("0.weight", torch.ones(3, 2))])


def test_load_state_dict_returns_the_incompatible_keys_like_torch():
    ours, theirs = model(), twin()
    state = ones_like_state(ours)
    del state["2.bias"]
    state["extra"] = torch.ones(1)
    got, expected = ours.load_state_dict(state, strict=False), theirs.load_state_dict(state, strict=False)
    assert got == expected == (["2.bias"], ["extra"])
    assert (got.missing_keys, got.unexpected_keys) == (["2.bias"], ["extra"])
    assert repr(got) == "_IncompatibleKeys(missing_keys=['2.bias'], unexpected_keys=['extra'])" == repr(expected)
    torch.testing.assert_close(ours[0].weight.data, torch.ones(3, 2))  # the rest loaded
    everything = ours.load_state_dict(ones_like_state(ours))
    assert (
        everything == ([], [])
        and everything.missing_keys == []
        and repr(everything) == repr(theirs.load_state_dict(ones_like_state(ours)))
    )
    state["0.weight"] = torch.ones(5)  # a shape mismatch fails even when not strict, as in torch
    assert load_error(ours, state, strict=False).endswith("the shape in current model is torch.Size([3, 2]).")


def test_load_state_dict_takes_other_dtypes_and_parameters_like_torch():
    ours = model()
    state = ones_like_state(ours)
    state["0.weight"] = torch.full((3, 2), 2, dtype=torch.int64)
    state["0.bias"] = nn.Parameter(torch.full((3,), 4.0))
    ours.load_state_dict(state)
    torch.testing.assert_close(ours[0].weight.data, torch.full((3, 2), 2.0))
    torch.testing.assert_close(ours[0].bias.data, torch.full((3,), 4.0))


# --- optimizers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opt", [nn.SGD, nn.Adam])
def test_optimizer_rejects_a_single_parameter_like_torch(opt):
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(TypeError) as ours:
        opt(p, lr=0.1)
    with pytest.raises(TypeError) as theirs:
        torch.optim.SGD(torch.nn.Parameter(torch.ones(2)), lr=0.1)
    expected = "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
    assert str(ours.value) == str(theirs.value) == expected + "torch.FloatTensor"


def test_optimizer_rejects_what_torch_rejects():
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        nn.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        nn.SGD((q for q in []), lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        nn.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the params is int"):
        nn.SGD([3], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Variables .* a plain torch.FloatTensor"):
        nn.SGD([torch.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="ordering of tensors in sets will change between runs"):
        nn.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        nn.SGD([{"params": [p]}, {"params": [p], "lr": 1.0}], lr=0.1)
    opt = nn.Adam([p])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": p})
    assert len(opt.param_groups) == 1


def test_duplicate_parameters_in_a_group_warn_and_step_like_torch():
    ours, theirs = nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    ours.grad, theirs.grad = ag.Variable(torch.ones(2)), torch.ones(2)
    with pytest.warns(UserWarning, match="optimizer contains a parameter group with duplicate parameters"):
        opt = nn.SGD([ours, ours], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_opt = torch.optim.SGD([theirs, theirs], lr=0.1)
    opt.step()
    torch_opt.step()
    torch.testing.assert_close(ours.data, theirs.data)  # 0.8: torch updates it twice, and so do we


def test_optimizer_takes_frozen_parameters_and_a_single_parameter_in_a_group():
    frozen, p = nn.Parameter(torch.ones(2), requires_grad=False), nn.Parameter(torch.ones(2))
    opt = nn.SGD([{"params": p}, {"params": [frozen], "lr": 1.0}], lr=0.5)
    assert [len(g["params"]) for g in opt.param_groups] == [1, 1]
    p.grad = ag.Variable(torch.ones(2))
    opt.step()
    torch.testing.assert_close(p.data, torch.full((2,), 0.5))
    torch.testing.assert_close(frozen.data, torch.ones(2))
    opt.add_param_group({"params": [nn.Parameter(torch.zeros(1))]})
    assert opt.param_groups[-1]["lr"] == 0.5 and opt.param_groups[-1]["momentum"] == 0.0


# --- hooks and errors inside modules ------------------------------------------------------------------


def test_a_forward_hook_returning_a_non_tensor_is_named():
    layers = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))

    def count_hook(module, inputs, out):
        return 5

    layers[0].register_forward_hook(count_hook)
    with pytest.raises(TypeError, match=r"forward hook 'count_hook' of Sequential/0:Linear returned 'int'"):
        layers(ag.Variable(torch.ones(4, 2)))


def test_an_error_in_the_third_layer_names_the_layer():
    layers = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(4, 8, 3))
    with pytest.raises(ValueError) as info:
        layers(ag.Variable(torch.ones(1, 3, 8, 8)))
    message = str(info.value)
    assert message.startswith("conv2d in Sequential/2:Conv2d: expected 4 input channels"), message
    assert message.endswith("[inputs: (1, 8, 6, 6) float32 on cpu]"), message
    assert message.count("Sequential") == 1


def test_a_primitive_error_inside_nested_modules_names_the_innermost_once():
    class Adder(nn.Module):
        def forward(self, x):
            return x + torch.ones(5)

    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), Adder()))
    with pytest.raises(RuntimeError) as info:
        net(ag.Variable(torch.ones(4, 2)))
    message = str(info.value)
    assert message.startswith("add in Sequential/1:Sequential/1:Adder: The size of tensor a (3)"), message
    assert message.count(" in Sequential") == 1 and message.endswith("(5,) float32 on cpu]"), message


def test_errors_not_named_after_an_op_pass_through_modules_unchanged():
    class Picky(nn.Module):
        def forward(self, x):
            raise ValueError("picky wants a different input")

    with pytest.raises(ValueError, match="^picky wants a different input$"):
        nn.Sequential(Picky())(ag.Variable(torch.ones(1)))
