"""nn.optim against torch.optim: trajectories over each optimizer's option grid (bitwise, since both run
torch's single-tensor kernels), parameter groups, state dicts exchanged both ways mid-run, validation."""

from __future__ import annotations

import copy
import itertools
import re

import pytest
import torch

import autograd_engine as ag
import nn

STEPS = 60


def grid(**options):
    """Every combination of the options' values, as keyword dicts."""
    return [dict(zip(options, values)) for values in itertools.product(*options.values())]


def config_id(name, kw):
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


SGD_GRID = [
    kw
    for kw in grid(
        momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True], weight_decay=[0, 0.05], maximize=[False, True]
    )
    if not kw["nesterov"] or (kw["momentum"] and not kw["dampening"])
]
ADAM_GRID = grid(amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True])
CONFIGS = (
    [("SGD", dict(lr=0.05, **kw)) for kw in SGD_GRID]
    + [("Adam", dict(lr=0.01, betas=(0.8, 0.99), **kw)) for kw in ADAM_GRID]
    + [("Adam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1))]
    + [
        ("AdamW", dict(lr=0.01, **kw))
        for kw in grid(amsgrad=[False, True], weight_decay=[0.0, 0.01, 0.3], maximize=[False, True])
    ]
    + [
        ("RMSprop", dict(lr=0.01, alpha=0.9, **kw))
        for kw in grid(centered=[False, True], momentum=[0, 0.5], weight_decay=[0, 0.1], maximize=[False, True])
    ]
    + [
        ("Adagrad", dict(lr=0.1, **kw))
        for kw in grid(
            lr_decay=[0, 0.01], weight_decay=[0, 0.1], initial_accumulator_value=[0, 0.2], maximize=[False, True]
        )
    ]
)


def twin_params(seed=0, dtype=torch.float64):
    """The same float64 tensors as our Parameters and as torch's."""
    gen = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(4, 3, generator=gen, dtype=dtype), torch.randn(5, generator=gen, dtype=dtype)]
    return [nn.Parameter(t.clone()) for t in tensors], [torch.nn.Parameter(t.clone()) for t in tensors]


def set_grads(ours, theirs, step):
    """A gradient that depends on where each parameter is (so any divergence grows) plus a fixed noise."""
    gen = torch.Generator().manual_seed(1000 + step)
    for a, b in zip(ours, theirs):
        noise = torch.randn(a.shape, generator=gen, dtype=a.dtype)
        a.grad = ag.Variable(torch.sin(3 * a.data) + 0.5 * a.data + noise)
        b.grad = torch.sin(3 * b.data) + 0.5 * b.data + noise


def run(ours, theirs, opt, topt, steps, start=0):
    for i in range(start, start + steps):
        set_grads(ours, theirs, i)
        opt.step()
        topt.step()


def assert_same(ours, theirs, opt, topt):
    """Parameters and every state tensor bitwise equal; the state dicts hold the same keys and options."""
    for a, b in zip(ours, theirs):
        assert torch.equal(a.data, b.data), (a.data - b.data).abs().max()
    ours_sd, theirs_sd = opt.state_dict(), topt.state_dict()
    assert ours_sd["param_groups"] == theirs_sd["param_groups"]
    assert ours_sd["state"].keys() == theirs_sd["state"].keys()
    for i, state in theirs_sd["state"].items():
        assert ours_sd["state"][i].keys() == state.keys()
        for key, value in state.items():
            assert ours_sd["state"][i][key].dtype == value.dtype and torch.equal(ours_sd["state"][i][key], value), key


def make(name, params, kw, module=nn.optim):
    """An optimizer of `module` with torch's single-tensor kernels (foreach=False, which ours accepts)."""
    return getattr(module, name)(params, **copy.deepcopy(kw), foreach=False)


def make_torch(name, params, kw):
    return make(name, params, kw, torch.optim)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[config_id(n, kw) for n, kw in CONFIGS])
def test_trajectory_equals_torch_bitwise(name, kw):
    ours, theirs = twin_params()
    opt, topt = make(name, ours, kw), make_torch(name, theirs, kw)
    run(ours, theirs, opt, topt, STEPS)
    assert_same(ours, theirs, opt, topt)
    assert not torch.equal(ours[0].data, twin_params()[0][0].data)  # (it moved)


GROUPS = [
    ("SGD", dict(lr=0.05, momentum=0.9), dict(lr=0.2, momentum=0.5, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05), dict(momentum=0.8, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01), dict(lr=0.05, betas=(0.5, 0.9), amsgrad=True, weight_decay=0.1, eps=1e-6)),
    ("AdamW", dict(lr=0.01), dict(weight_decay=0.5, amsgrad=True)),
    ("RMSprop", dict(lr=0.01), dict(lr=0.02, centered=True, momentum=0.3, alpha=0.5)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1), dict(lr=0.3, lr_decay=0.1, weight_decay=0.2)),
]


@pytest.mark.parametrize("name,kw,second", GROUPS, ids=[g[0] for g in GROUPS])
def test_param_groups_with_their_own_options(name, kw, second):
    ours, theirs = twin_params()
    opt = make(name, [{"params": [ours[0]]}, {"params": [ours[1]], **second}], kw)
    topt = make_torch(name, [{"params": [theirs[0]]}, {"params": [theirs[1]], **second}], kw)
    run(ours, theirs, opt, topt, STEPS)
    assert_same(ours, theirs, opt, topt)


EXCHANGE = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("name,kw", EXCHANGE, ids=[e[0] for e in EXCHANGE])
def test_state_dict_exchange_with_torch_both_ways_continues_identically(name, kw):
    ours, theirs = twin_params()
    opt = make(name, [{"params": [ours[0]]}, {"params": [ours[1]], "lr": 0.02}], kw)
    topt = make_torch(name, [{"params": [theirs[0]]}, {"params": [theirs[1]], "lr": 0.02}], kw)
    run(ours, theirs, opt, topt, 25)
    # torch's state into a new optimizer of ours, ours into a new torch one (copies: loading shares tensors)
    opt2 = make(name, [{"params": [ours[0]]}, {"params": [ours[1]], "lr": 0.5}], dict(kw, lr=1.0))
    topt2 = make_torch(name, [{"params": [theirs[0]]}, {"params": [theirs[1]]}], dict(kw, lr=1.0))
    opt2.load_state_dict(copy.deepcopy(topt.state_dict()))
    topt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert_same(ours, theirs, opt2, topt2)
    run(ours, theirs, opt2, topt2, 25, start=25)
    assert_same(ours, theirs, opt2, topt2)


def test_state_dict_through_a_file_and_float32_parameters(tmp_path):
    """Saved with nn.save and torch.save; loading casts floating state to the parameters' dtype and
    device but keeps `step` as saved, as torch does."""
    ours, theirs = twin_params()
    opt, topt = make("Adam", ours, dict(lr=0.01)), make_torch("Adam", theirs, dict(lr=0.01))
    run(ours, theirs, opt, topt, 5)
    nn.save(opt.state_dict(), tmp_path / "ours.pt")
    torch.save(topt.state_dict(), tmp_path / "theirs.pt")
    small, tsmall = twin_params(dtype=torch.float32)
    opt32, topt32 = make("Adam", small, dict(lr=0.01)), make_torch("Adam", tsmall, dict(lr=0.01))
    opt32.load_state_dict(torch.load(tmp_path / "theirs.pt", weights_only=True))
    topt32.load_state_dict(nn.load(tmp_path / "ours.pt"))
    assert_same(small, tsmall, opt32, topt32)
    assert opt32.state[small[0]]["exp_avg"].dtype == torch.float32
    assert opt32.state[small[0]]["step"].dtype == torch.float32 and opt32.state[small[0]]["step"].item() == 5


def test_an_older_state_dict_gets_the_missing_options_and_a_tensor_step():
    """A checkpoint written by the earlier nn.Adam (no amsgrad, maximize, ... and an int step) still loads,
    as torch's __setstate__ upgrades its own older state dicts."""
    p = nn.Parameter(torch.ones(2, dtype=torch.float64))
    old = {
        "state": {0: {"step": 3, "exp_avg": torch.full((2,), 0.1), "exp_avg_sq": torch.full((2,), 0.01)}},
        "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "params": [0]}],
    }
    opt = nn.optim.Adam([p], lr=0.5, maximize=True)
    opt.load_state_dict(old)
    group = opt.param_groups[0]
    assert group["lr"] == 0.01 and group["maximize"] is False and group["amsgrad"] is False
    assert group["decoupled_weight_decay"] is False and group["params"][0] is p
    step = opt.state[p]["step"]
    assert isinstance(step, torch.Tensor) and step.dtype == torch.float32 and step.item() == 3
    assert opt.state[p]["exp_avg"].dtype == torch.float64


def test_adamw_keeps_its_weight_decay_decoupled_after_loading_an_adam_state_dict():
    ours, _ = twin_params()
    adam = nn.optim.Adam(ours, weight_decay=0.1)
    adamw = nn.optim.AdamW(ours)
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True and adamw.param_groups[0]["weight_decay"] == 0.1


def test_load_state_dict_errors_are_torchs():
    ours, theirs = twin_params()
    opt, topt = nn.optim.SGD(ours, lr=0.1), torch.optim.SGD(theirs, lr=0.1)
    for bad in (
        {"state": {}, "param_groups": []},
        {"state": {}, "param_groups": [{**opt.state_dict()["param_groups"][0], "params": [0]}]},
    ):
        with pytest.raises(ValueError) as expected:
            topt.load_state_dict(bad)
        with pytest.raises(ValueError, match=re.escape(str(expected.value))):
            opt.load_state_dict(bad)


def test_trajectory_on_a_model_with_the_engines_gradients(device):
    """The real loop: the engine's backward on our model, torch autograd on the twin, step(closure)."""
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).to(torch.float64).to(device)
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double().to(device)
    x = torch.randn(16, 4, dtype=torch.float64, device=device)
    y = torch.randn(16, 2, dtype=torch.float64, device=device)
    opt = nn.optim.AdamW(ours.parameters(), lr=0.01)
    topt = torch.optim.AdamW(theirs.parameters(), lr=0.01, foreach=False)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(ours(ag.Variable(x)), y)
        loss.backward()
        return loss

    def torch_closure():
        topt.zero_grad()
        loss = torch.nn.functional.mse_loss(theirs(x), y)
        loss.backward()
        return loss

    for _ in range(20):
        with ag.no_grad():  # step records the closure even so, as torch's does
            loss = opt.step(closure)
        assert isinstance(loss, ag.Variable)
        torch.testing.assert_close(loss.data, topt.step(torch_closure).detach(), rtol=1e-12, atol=1e-14)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad.data, b.grad, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(a.data, b.detach(), rtol=1e-10, atol=1e-12)


def test_zero_grad_sets_to_none_or_zeroes_in_place():
    p = nn.Parameter(torch.ones(3))
    opt = nn.optim.SGD([p], lr=0.1)
    p.grad = ag.Variable(torch.full((3,), 2.0))
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and torch.equal(grad.data, torch.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_parameters_without_gradients_are_skipped_and_get_no_state_but_adagrads():
    ours, theirs = twin_params()
    for name in ("SGD", "Adam", "Adagrad"):
        kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
        opt, topt = make(name, ours, kw), make_torch(name, theirs, kw)
        ours[0].grad, theirs[0].grad = (
            ag.Variable(torch.ones(4, 3, dtype=torch.float64)),
            torch.ones(4, 3, dtype=torch.float64),
        )
        ours[1].grad = theirs[1].grad = None
        opt.step()
        topt.step()
        assert_same(ours, theirs, opt, topt)
        assert len(opt.state_dict()["state"]) == (2 if name == "Adagrad" else 1)


def test_named_parameters_record_param_names_as_torch():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    opt, topt = nn.optim.SGD(ours.named_parameters(), lr=0.1), torch.optim.SGD(theirs.named_parameters(), lr=0.1)
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(1))]})
    with pytest.raises(ValueError, match="Some param names are missing"):
        nn.optim.SGD([("a", nn.Parameter(torch.ones(1))), nn.Parameter(torch.ones(1))])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_defaults_and_repr_are_torchs(name):
    ours, theirs = twin_params()
    opt, topt = getattr(nn.optim, name)(ours), getattr(torch.optim, name)(theirs)
    assert opt.defaults == topt.defaults
    assert repr(opt) == repr(topt)


BAD_OPTIONS = [
    ("SGD", dict(lr=-0.1)),
    ("SGD", dict(lr=torch.tensor([0.1, 0.2]))),
    ("SGD", dict(momentum=-0.5)),
    ("SGD", dict(weight_decay=-1e-4)),
    ("SGD", dict(nesterov=True)),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adam", dict(lr=-1.0)),
    ("Adam", dict(eps=-1e-8)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(weight_decay=-0.1)),
    ("Adam", dict(betas=(0, 0.999))),
    ("Adam", dict(betas=(torch.tensor([0.9, 0.8]), torch.tensor(0.99)))),
    ("AdamW", dict(betas=(0.9, 1.5))),
    ("RMSprop", dict(lr=-0.01)),
    ("RMSprop", dict(eps=-1.0)),
    ("RMSprop", dict(momentum=-0.1)),
    ("RMSprop", dict(weight_decay=-0.1)),
    ("RMSprop", dict(alpha=-0.5)),
    ("Adagrad", dict(lr=-0.01)),
    ("Adagrad", dict(lr_decay=-0.1)),
    ("Adagrad", dict(weight_decay=-0.1)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)),
    ("Adagrad", dict(eps=-1.0)),
    ("Adam", dict(fused=True, foreach=True)),
]


@pytest.mark.parametrize("name,kw", BAD_OPTIONS, ids=[config_id(n, kw) for n, kw in BAD_OPTIONS])
def test_bad_options_raise_torchs_error(name, kw):
    with pytest.raises((ValueError, RuntimeError)) as expected:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **kw)
    with pytest.raises(type(expected.value), match="^" + re.escape(str(expected.value)) + "$"):
        getattr(nn.optim, name)([nn.Parameter(torch.ones(2))], **kw)


def test_differentiable_is_refused_with_the_reason():
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        nn.optim.Adam([nn.Parameter(torch.ones(2))], differentiable=True)
    opt = nn.optim.SGD([nn.Parameter(torch.ones(2))])
    state = opt.state_dict()
    state["param_groups"][0]["differentiable"] = True
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["differentiable"] is False


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_is_accepted_and_runs_the_for_loop_update(name):
    """torch's fused CPU kernels round differently in the last bit at most; the `step` counter lives where
    torch's fused keeps it."""
    ours, theirs = twin_params()
    kw = dict(lr=0.01, fused=True)
    opt, topt = make(name, ours, kw), getattr(torch.optim, name)(theirs, **kw)
    run(ours, theirs, opt, topt, 30)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.data, b.data, rtol=1e-12, atol=1e-15)
    if name != "SGD":
        assert opt.state[ours[0]]["step"].dtype == topt.state[theirs[0]]["step"].dtype == torch.float32


@pytest.mark.parametrize(
    "lr,betas", [(torch.tensor(0.01), (0.9, 0.999)), (0.01, (torch.tensor(0.8), torch.tensor(0.99)))]
)
def test_tensor_hyperparameters_as_torch(lr, betas):
    ours, theirs = twin_params()
    opt = nn.optim.Adam(ours, lr=lr.clone() if isinstance(lr, torch.Tensor) else lr, betas=betas)
    topt = torch.optim.Adam(theirs, lr=lr, betas=betas, foreach=False)
    run(ours, theirs, opt, topt, 20)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.data, b.data)
