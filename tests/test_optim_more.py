"""The rest of torch.optim against torch: Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop (trajectories bitwise
over their option grids, groups, state dicts both ways), LBFGS (with and without the strong-Wolfe line
search), CyclicLR (lr and momentum in every mode), the optimizer hooks, and these optimizers in ag.compile."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import torch
from torch.optim import optimizer as torch_optimizer

import autograd_engine as ag
import nn
from nn.optim import lr_scheduler
from nn.optim.optimizer import register_optimizer_step_post_hook, required

from . import test_compile_optim, test_optim
from .test_optim import config_id, grid, twin_params

CONFIGS = (
    [("Adadelta", dict(lr=0.5, **kw)) for kw in grid(rho=[0.9, 0.5], weight_decay=[0, 0.1], maximize=[False, True])]
    + [
        ("Adamax", dict(lr=0.01, **kw))
        for kw in grid(betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0, 0.1], maximize=[False, True])
    ]
    + [
        ("NAdam", dict(lr=0.01, **kw))
        for kw in grid(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True], maximize=[False, True])
    ]
    + [("NAdam", dict(lr=0.01, betas=(0.5, 0.9), momentum_decay=0.05))]
    + [
        ("RAdam", dict(lr=0.01, **kw))
        for kw in grid(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True], maximize=[False, True])
    ]
    + [("RAdam", dict(lr=0.01, betas=(0.5, 0.9)))]
    + [
        ("ASGD", dict(lr=0.05, lambd=0.01, **kw))
        for kw in grid(t0=[5, 1e6], weight_decay=[0, 0.1], maximize=[False, True])
    ]
    + [("ASGD", dict(lr=0.05, lambd=0.5, alpha=0.5, t0=0))]
    + [("Rprop", dict(lr=0.01, **kw)) for kw in grid(maximize=[False, True], step_sizes=[(1e-6, 50), (1e-3, 0.02)])]
    + [("Rprop", dict(lr=0.05, etas=(0.3, 1.5)))]
)
NAMES = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[config_id(n, kw) for n, kw in CONFIGS])
def test_trajectory_equals_torch_bitwise(name, kw):
    test_optim.test_trajectory_equals_torch_bitwise(name, kw)


GROUPS = [
    ("Adadelta", dict(lr=0.5), dict(lr=1.0, rho=0.5, eps=1e-4, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01), dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01), dict(lr=0.02, momentum_decay=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01), dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.2)),
    ("ASGD", dict(lr=0.05, t0=3), dict(lr=0.1, lambd=0.1, alpha=0.9, t0=10)),
    ("Rprop", dict(lr=0.01), dict(lr=0.1, etas=(0.2, 1.1), step_sizes=(1e-4, 1.0))),
]


@pytest.mark.parametrize("name,kw,second", GROUPS, ids=[g[0] for g in GROUPS])
def test_param_groups_with_their_own_options(name, kw, second):
    test_optim.test_param_groups_with_their_own_options(name, kw, second)


EXCHANGE = [(name, kw) for name, kw, _ in GROUPS]


@pytest.mark.parametrize("name,kw", EXCHANGE, ids=[e[0] for e in EXCHANGE])
def test_state_dict_exchange_with_torch_both_ways_continues_identically(name, kw):
    test_optim.test_state_dict_exchange_with_torch_both_ways_continues_identically(name, kw)


@pytest.mark.parametrize("name", [*NAMES, "LBFGS"])
def test_defaults_and_repr_are_torchs(name):
    test_optim.test_defaults_and_repr_are_torchs(name)


BAD_OPTIONS = [
    ("Adadelta", dict(lr=-0.1)),
    ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(rho=-0.1)),
    ("Adadelta", dict(eps=-1.0)),
    ("Adadelta", dict(weight_decay=-0.1)),
    ("Adadelta", dict(lr=torch.tensor([0.1, 0.2]))),
    ("Adamax", dict(eps=-1.0)),
    ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, -0.1))),
    ("Adamax", dict(weight_decay=-0.1)),
    ("NAdam", dict(lr=-1.0)),
    ("NAdam", dict(betas=(0.9, 1.0))),
    ("NAdam", dict(momentum_decay=-0.1)),
    ("RAdam", dict(betas=(-0.1, 0.9))),
    ("RAdam", dict(weight_decay=-1.0)),
    ("ASGD", dict(lr=-0.1)),
    ("ASGD", dict(weight_decay=-0.1)),
    ("Rprop", dict(lr=-0.1)),
    ("Rprop", dict(etas=(1.0, 1.2))),
    ("Rprop", dict(etas=(0.5, 0.9))),
    ("LBFGS", dict(lr=-1.0)),
    ("LBFGS", dict(lr=torch.tensor([1.0, 2.0]))),
]


@pytest.mark.parametrize("name,kw", BAD_OPTIONS, ids=[config_id(n, kw) for n, kw in BAD_OPTIONS])
def test_bad_options_raise_torchs_error(name, kw):
    test_optim.test_bad_options_raise_torchs_error(name, kw)


@pytest.mark.parametrize("name", ["Adadelta", "NAdam", "ASGD"])
def test_differentiable_is_refused(name):
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        getattr(nn.optim, name)([nn.Parameter(torch.ones(2))], differentiable=True)


def test_float32_parameters_and_a_tensor_lr():
    """NAdam's 'mu_product' is a float32 scalar that its update multiplies in float32, as torch's."""
    ours, theirs = twin_params(dtype=torch.float32)
    opt = nn.optim.NAdam(ours, lr=torch.tensor(0.01), foreach=False)
    topt = torch.optim.NAdam(theirs, lr=torch.tensor(0.01), foreach=False)
    test_optim.run(ours, theirs, opt, topt, 20)
    test_optim.assert_same(ours, theirs, opt, topt)
    assert opt.state[ours[0]]["mu_product"].dtype == torch.float32


# --- LBFGS -----------------------------------------------------------------------------------------------


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """The n-dimensional Rosenbrock function (minimum 0 at all ones)."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_grad(x: torch.Tensor) -> torch.Tensor:
    g = torch.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] = -400 * x[:-1] * inner - 2 * (1 - x[:-1])
    g[1:] += 200 * inner
    return g


def lbfgs_twins(kw: dict[str, Any], start: torch.Tensor | None = None) -> tuple[Any, ...]:
    """An LBFGS of ours and torch's on the same point; closures that set the same gradient on both (computed
    by one torch function, so the optimizers alone decide whether the runs stay the same)."""
    start = torch.tensor([-1.2, 1.0, -0.5, 0.8], dtype=torch.float64) if start is None else start
    ours, theirs = nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt, topt = nn.optim.LBFGS([ours], **kw), torch.optim.LBFGS([theirs], **kw)

    def closure():
        ours.grad = ag.Variable(rosenbrock_grad(ours.data))
        return ag.Variable(rosenbrock(ours.data))

    def torch_closure():
        theirs.grad = rosenbrock_grad(theirs.detach())
        return rosenbrock(theirs.detach())

    return ours, theirs, opt, topt, closure, torch_closure


def assert_lbfgs_same(ours, theirs, opt, topt):
    assert torch.equal(ours.data, theirs.detach())
    mine, want = opt.state_dict(), topt.state_dict()
    assert mine["param_groups"] == want["param_groups"]
    assert mine["state"][0].keys() == want["state"][0].keys()
    for key, value in want["state"][0].items():
        got = mine["state"][0][key]
        if isinstance(value, list):
            assert len(got) == len(value) and all(
                (a is None and b is None) or torch.equal(a, b) for a, b in zip(got, value)
            ), key
        elif isinstance(value, torch.Tensor):
            assert torch.equal(got, value), key
        else:
            assert got == value, key


LBFGS_CONFIGS = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=7, history_size=3),
    dict(max_iter=5, history_size=2, line_search_fn="strong_wolfe", tolerance_change=1e-12),
]


@pytest.mark.parametrize("kw", LBFGS_CONFIGS, ids=[config_id("LBFGS", kw) for kw in LBFGS_CONFIGS])
def test_lbfgs_trajectory_on_rosenbrock_equals_torch_bitwise(kw):
    ours, theirs, opt, topt, closure, torch_closure = lbfgs_twins(kw)
    for _ in range(6):
        loss, tloss = opt.step(closure), topt.step(torch_closure)
        assert isinstance(loss, ag.Variable) and torch.equal(loss.data, tloss)
        assert_lbfgs_same(ours, theirs, opt, topt)
    if kw.get("line_search_fn") and "max_iter" not in kw:  # (it converges: the minimum at all ones)
        torch.testing.assert_close(ours.data, torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-6)


def test_lbfgs_state_dict_exchange_with_torch_continues_identically():
    kw = dict(max_iter=4, history_size=3, line_search_fn="strong_wolfe")
    ours, theirs, opt, topt, closure, torch_closure = lbfgs_twins(kw)
    opt.step(closure)
    topt.step(torch_closure)
    opt2 = nn.optim.LBFGS([ours], lr=0.1)
    topt2 = torch.optim.LBFGS([theirs], lr=0.1)
    opt2.load_state_dict(copy.deepcopy(topt.state_dict()))
    topt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(3):
        opt2.step(closure)
        topt2.step(torch_closure)
        assert_lbfgs_same(ours, theirs, opt2, topt2)


def test_lbfgs_with_the_engines_backward_converges_as_torch():
    """The real use: the closure runs the engine's forward and backward on a model (recording on inside
    step, as torch's enable_grad)."""
    start = torch.tensor([-1.2, 1.0, 0.3], dtype=torch.float64)
    ours, theirs = nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt = nn.optim.LBFGS([ours], line_search_fn="strong_wolfe")
    topt = torch.optim.LBFGS([theirs], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (100 * (ours[1:] - ours[:-1] ** 2) ** 2 + (1 - ours[:-1]) ** 2).sum()
        loss.backward()
        return loss

    def torch_closure():
        topt.zero_grad()
        loss = rosenbrock(theirs)
        loss.backward()
        return loss

    for _ in range(8):
        with ag.no_grad():
            loss = opt.step(closure)
        torch.testing.assert_close(loss.data, topt.step(torch_closure).detach(), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours.data, theirs.detach(), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours.data, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-4)


def test_lbfgs_errors_are_torchs():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match=re.escape("LBFGS doesn't support per-parameter options (parameter groups)")):
        nn.optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = nn.optim.LBFGS([a], line_search_fn="backtracking")
    a.grad = ag.Variable(torch.ones(2))
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(lambda: ag.Variable(torch.tensor(1.0)))
    with pytest.raises(TypeError):
        opt.step()  # (the closure is required, as torch's)


# --- CyclicLR --------------------------------------------------------------------------------------------


def scheduled_twins(name: str, kw: dict[str, Any], groups: int = 2) -> tuple[Any, Any]:
    """Our optimizer and torch's over the same groups (the second group's lr doubled)."""
    ours, theirs = twin_params()
    opt = getattr(nn.optim, name)([{"params": [ours[0]]}, {"params": [ours[1]], "lr": 0.2}][:groups], **kw)
    topt = getattr(torch.optim, name)([{"params": [theirs[0]]}, {"params": [theirs[1]], "lr": 0.2}][:groups], **kw)
    return opt, topt


def momenta(opt: Any) -> list[Any]:
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


class Halving:
    """A scale function that is a callable object: its attributes travel in the state dict."""

    def __init__(self) -> None:
        self.base = 0.5

    def __call__(self, x: float) -> float:
        return self.base ** (x // 3)


CYCLIC = [
    ("SGD", dict(momentum=0.9), dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    (
        "SGD",
        dict(momentum=0.9),
        dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2"),
    ),
    ("SGD", dict(momentum=0.5), dict(base_lr=0.01, max_lr=[0.1, 0.3], step_size_up=5, mode="exp_range", gamma=0.9)),
    ("SGD", dict(momentum=0.9), dict(base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=lambda x: 0.7**x)),
    (
        "SGD",
        dict(),
        dict(
            base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=Halving(), scale_mode="iterations", cycle_momentum=False
        ),
    ),
    ("Adam", dict(), dict(base_lr=0.001, max_lr=0.01, step_size_up=3, base_momentum=[0.8, 0.7], max_momentum=0.95)),
    ("NAdam", dict(), dict(base_lr=0.001, max_lr=0.01, step_size_up=2, step_size_down=1, mode="triangular2")),
]


@pytest.mark.parametrize("name,opt_kw,kw", CYCLIC, ids=[config_id(n, kw) for n, _, kw in CYCLIC])
def test_cyclic_lr_and_momentum_equal_torchs_over_several_cycles(name, opt_kw, kw):
    opt, topt = scheduled_twins(name, opt_kw)
    sched, tsched = lr_scheduler.CyclicLR(opt, **kw), torch.optim.lr_scheduler.CyclicLR(topt, **kw)
    seen = []
    for _ in range(25):
        seen.append(sched.get_last_lr()[0])
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert momenta(opt) == momenta(topt)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    assert len(set(seen)) >= 4  # (it cycled)


def test_cyclic_lr_state_dict_moves_between_torch_and_ours():
    kw = dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=Halving(), scale_mode="iterations")
    opt, topt = scheduled_twins("SGD", dict(momentum=0.9))
    sched, tsched = lr_scheduler.CyclicLR(opt, **kw), torch.optim.lr_scheduler.CyclicLR(topt, **kw)
    for _ in range(7):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    mine, theirs = sched.state_dict(), tsched.state_dict()
    assert mine.keys() == theirs.keys() and mine["_scale_fn_custom"] == {"base": 0.5}
    fresh_kw = dict(kw, scale_fn=Halving())
    fresh_kw["scale_fn"].base = 0.9
    opt2, topt2 = scheduled_twins("SGD", dict(momentum=0.9))
    sched2 = lr_scheduler.CyclicLR(opt2, **fresh_kw)
    tsched2 = torch.optim.lr_scheduler.CyclicLR(topt2, **dict(fresh_kw, scale_fn=Halving()))
    sched2.load_state_dict(copy.deepcopy(theirs))
    tsched2.load_state_dict(copy.deepcopy(mine))
    assert sched2._scale_fn_custom.base == 0.5
    for _ in range(8):
        sched2.step()
        tsched2.step()
        assert sched2.get_last_lr() == tsched2.get_last_lr() and momenta(opt2) == momenta(topt2)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("SGD", dict(base_lr=0.1, max_lr=1.0, mode="sawtooth")),
        ("Adagrad", dict(base_lr=0.1, max_lr=1.0)),
        ("SGD", dict(base_lr=[0.1, 0.2, 0.3], max_lr=1.0)),
    ],
)
def test_cyclic_lr_errors_are_torchs(name, kw):
    opt, topt = scheduled_twins(name, {})
    with pytest.raises(ValueError) as expected:
        torch.optim.lr_scheduler.CyclicLR(topt, **kw)
    with pytest.raises(ValueError, match="^" + re.escape(str(expected.value)) + "$"):
        lr_scheduler.CyclicLR(opt, **kw)


# --- hooks -----------------------------------------------------------------------------------------------


def recorded_hooks(opt: Any, log: list[Any], hooks_of: Any) -> list[Any]:
    """Register every kind of hook on `opt` (and global step hooks), each logging its name and what it got
    (the optimizer by its type; args' first element is the optimizer itself); returns the handles."""

    def step_hook(tag):
        return lambda o, args, kwargs: log.append((tag, type(o).__name__, len(args), args[0] is o, sorted(kwargs)))

    return [
        opt.register_step_post_hook(step_hook("post")),
        hooks_of.register_optimizer_step_post_hook(step_hook("global post")),
        opt.register_step_pre_hook(step_hook("pre")),
        hooks_of.register_optimizer_step_pre_hook(step_hook("global pre")),
        opt.register_state_dict_pre_hook(lambda o: log.append(("sd pre", type(o).__name__))),
        opt.register_state_dict_pre_hook(lambda o: log.append(("sd pre first", type(o).__name__)), prepend=True),
        opt.register_state_dict_post_hook(lambda o, sd: log.append(("sd post", sorted(sd)))),
        opt.register_load_state_dict_pre_hook(lambda o, sd: log.append(("load pre", sorted(sd)))),
        opt.register_load_state_dict_post_hook(lambda o: log.append(("load post", type(o).__name__))),
    ]


def run_hooked(module: Any, name: str) -> list[Any]:
    log: list[Any] = []
    p = torch.nn.Parameter(torch.ones(2)) if module is torch.optim else nn.Parameter(torch.ones(2))
    opt = getattr(module, name)([p], lr=0.1)
    handles = recorded_hooks(opt, log, torch_optimizer if module is torch.optim else nn.optim.optimizer)
    try:
        p.grad = torch.ones(2) if module is torch.optim else ag.Variable(torch.ones(2))
        opt.step()
        opt.step(closure=lambda: 1.0)
        opt.load_state_dict(opt.state_dict())
        handles[0].remove()
        handles[1].remove()
        opt.step()
    finally:
        for handle in handles:
            handle.remove()
    opt.step()  # (no hook left: nothing logged)
    return log


@pytest.mark.parametrize("name", ["SGD", "Adamax", "Rprop"])
def test_hooks_run_in_torchs_order_with_torchs_arguments(name):
    log = run_hooked(nn.optim, name)
    assert log == run_hooked(torch.optim, name)
    assert log[:4] == [
        ("global pre", name, 1, True, []),
        ("pre", name, 1, True, []),
        ("post", name, 1, True, []),
        ("global post", name, 1, True, []),
    ]


def test_a_pre_hook_may_replace_the_arguments_and_must_return_a_pair():
    p = nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = nn.optim.LBFGS([p], max_iter=1)
    calls = []

    def closure():
        calls.append(1)
        p.grad = ag.Variable(2 * p.data)
        return ag.Variable((p.data**2).sum())

    handle = opt.register_step_pre_hook(lambda o, args, kwargs: ((o, closure), {}))
    opt.step(None)  # (the hook gives the closure LBFGS needs)
    assert calls and not torch.equal(p.data, torch.ones(2, dtype=torch.float64))
    handle.remove()
    opt.register_step_pre_hook(lambda o, args, kwargs: 5)
    with pytest.raises(
        RuntimeError, match=r"LBFGS.step .*must return None or a tuple of \(new_args, new_kwargs\), but got 5"
    ):
        opt.step(closure)


def test_state_dict_hooks_may_return_a_replacement():
    p = nn.Parameter(torch.ones(2))
    opt = nn.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    assert opt.state_dict()["extra"] == 1
    given = []
    opt.register_load_state_dict_pre_hook(
        lambda o, sd: given.append(sd) or {**sd, "param_groups": [dict(sd["param_groups"][0], lr=0.5)]}
    )
    saved = opt.state_dict()
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == 0.5 and given[0] is not saved and given[0] == saved


def test_a_subclass_step_calling_super_runs_the_hooks_once():
    class Counting(nn.optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    p = nn.Parameter(torch.ones(2))
    opt = Counting([p], lr=0.1)
    log = []
    opt.register_step_pre_hook(lambda *a: log.append("pre"))
    register = register_optimizer_step_post_hook(lambda *a: log.append("global post"))
    with register:
        p.grad = ag.Variable(torch.ones(2))
        opt.step()
    opt.step()
    assert log == ["pre", "global post", "pre"]


def test_add_param_group_checks_are_torchs():
    opt = nn.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)
    opt.defaults["lr"] = required
    with pytest.raises(
        ValueError, match="parameter group didn't specify a value of required optimization parameter lr"
    ):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(1))]})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([nn.Parameter(torch.ones(1))])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": opt.param_groups[0]["params"], "lr": 0.1})
    assert repr(required) == repr(torch_optimizer.required)


# --- inside ag.compile -----------------------------------------------------------------------------------

COMPILED = {
    "adadelta": lambda p: nn.optim.Adadelta(p, lr=0.5, weight_decay=0.01),
    "adamax": lambda p: nn.optim.Adamax(p, lr=0.01, maximize=False, weight_decay=0.1),
    "rprop": lambda p: nn.optim.Rprop(p, lr=0.01),
}


@pytest.mark.parametrize("sched", ["constant", "onecycle"])
@pytest.mark.parametrize("opt", sorted(COMPILED))
def test_a_compiled_step_trains_bitwise_as_eager(opt, sched):
    compiled = test_compile_optim.assert_trained_like_eager(
        make_opt=COMPILED[opt], make_sched=test_compile_optim.SCHEDULERS[sched]
    )
    assert compiled.fn.traces <= 2 and compiled.fn.replays == test_compile_optim.STEPS - compiled.fn.traces


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "ASGD"])
def test_optimizers_that_read_state_into_python_refuse_to_step_inside_compile(name):
    with pytest.raises(NotImplementedError, match=f"{name} cannot step inside ag.compile"):
        test_compile_optim.train(make_opt=getattr(nn.optim, name), compiled=True, steps=3)
