"""Optimizers inside ag.compile: a compiled training step (forward, backward and the optimizer's step on
closed-over Modules and optimizers) is the eager run to the bit (parameters, optimizer state, losses),
with or without a learning-rate scheduler stepped between calls, which neither replays a stale value nor
retraces at every step; and `ag.compile.scalar`, the input that makes this possible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
from nn.optim import lr_scheduler, scalars
from nn.optim.adagrad import Adagrad
from nn.optim.adam import Adam
from nn.optim.scalars import count, read_scheduled

from .test_optim import assert_same, make, make_torch, run, twin_params

STEPS = 24

MODELS = {
    "linear": (lambda: nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)), (5, 6), (5, 3)),
    "conv": (
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1)),
        (2, 2, 6, 6),
        (2, 3, 6, 6),
    ),
}

OPTIMIZERS = {
    "sgd": lambda p: nn.optim.SGD(p, lr=0.05),
    "sgd-momentum": lambda p: nn.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd-nesterov": lambda p: nn.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, maximize=True),
    "adam": lambda p: nn.optim.Adam(p, lr=0.01, weight_decay=0.1),
    "adam-amsgrad": lambda p: nn.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), amsgrad=True, maximize=True),
    "adamw": lambda p: nn.optim.AdamW(p, lr=0.01),
    "adamw-amsgrad": lambda p: nn.optim.AdamW(p, lr=0.01, weight_decay=0.3, amsgrad=True),
    "adagrad": lambda p: nn.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.2),
    "rmsprop": lambda p: nn.optim.RMSprop(p, lr=0.01, weight_decay=0.1),
    "rmsprop-centered": lambda p: nn.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True),
}


def one_cycle(opt: Any, steps: int = STEPS) -> Any:
    """OneCycleLR, cycling the momentum (or Adam's beta1) too where the optimizer has one."""
    cycle = "momentum" in opt.defaults or "betas" in opt.defaults
    return lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps + 1, cycle_momentum=cycle)


SCHEDULERS = {
    "constant": None,
    "step": lambda opt: lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
    "cosine": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS),
    "onecycle": one_cycle,
}


@dataclass
class Run:
    model: Any
    opt: Any
    losses: list[Any]
    fn: Any


def train(model="linear", make_opt=OPTIMIZERS["adam"], make_sched=None, compiled=False, steps=STEPS, between=None):
    """A model trained from seed 0 by a stateful step (compiled with check=True, or eager), the scheduler
    (if any) stepped after each call, `between(i, opt)` called after that."""
    make_model, x_shape, y_shape = MODELS[model]
    torch.manual_seed(0)
    net = make_model()
    opt = make_opt(net.parameters())
    sched = make_sched(opt) if make_sched else None

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(ag.Variable(x)), y)
        loss.backward()
        opt.step()
        return loss.detach()

    fn = ag.compile(step, check=True) if compiled else step
    gen = torch.Generator().manual_seed(1)
    losses = []
    for i in range(steps):
        losses.append(fn(torch.randn(x_shape, generator=gen), torch.randn(y_shape, generator=gen)))
        if sched is not None:
            sched.step()
        if between is not None:
            between(i, opt)
    return Run(net, opt, losses, fn)


def assert_bitwise(eager: Run, compiled: Run) -> None:
    """Losses, parameters and the optimizer's state dict (state tensors and groups) equal bit for bit."""
    assert torch.equal(torch.stack(eager.losses), torch.stack(compiled.losses))
    for p, q in zip(eager.model.parameters(), compiled.model.parameters(), strict=True):
        assert torch.equal(p.data, q.data)
    want, got = eager.opt.state_dict(), compiled.opt.state_dict()
    assert got["param_groups"] == want["param_groups"]
    assert got["state"].keys() == want["state"].keys()
    for i, state in want["state"].items():
        assert got["state"][i].keys() == state.keys()
        for key, value in state.items():
            assert got["state"][i][key].dtype == value.dtype and torch.equal(got["state"][i][key], value), key


def assert_trained_like_eager(**kw: Any) -> Run:
    eager, compiled = train(**kw), train(compiled=True, **kw)
    assert_bitwise(eager, compiled)
    torch.manual_seed(0)
    start = MODELS[kw.get("model", "linear")][0]()
    assert not torch.equal(next(start.parameters()).data, next(compiled.model.parameters()).data)  # (it trained)
    return compiled


# --- training runs: compiled against eager ----------------------------------------------------------------


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_a_compiled_step_trains_bitwise_as_eager_with_and_without_a_scheduler(opt, sched):
    compiled = assert_trained_like_eager(make_opt=OPTIMIZERS[opt], make_sched=SCHEDULERS[sched])
    # the first call makes the optimizer state and the next one records: every later call replays
    assert compiled.fn.traces <= 2 and compiled.fn.replays == STEPS - compiled.fn.traces


@pytest.mark.parametrize("opt", ["sgd-momentum", "adam", "adamw-amsgrad", "adagrad", "rmsprop-centered"])
def test_a_convolutional_model_over_many_steps_of_a_one_cycle_schedule(opt):
    steps = 100
    compiled = assert_trained_like_eager(
        model="conv", make_opt=OPTIMIZERS[opt], make_sched=lambda o: one_cycle(o, steps), steps=steps
    )
    assert compiled.fn.traces <= 2


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: nn.optim.SGD(p, lr=torch.tensor(0.05), momentum=0.9),
        lambda p: nn.optim.Adam(p, lr=torch.tensor(0.01), amsgrad=True),
        lambda p: nn.optim.AdamW(p, lr=torch.tensor(0.01, dtype=torch.float64)),
        lambda p: nn.optim.Adagrad(p, lr=torch.tensor(0.1), lr_decay=0.01),
        lambda p: nn.optim.RMSprop(p, lr=torch.tensor(0.01), momentum=0.5),
    ],
    ids=["sgd", "adam", "adamw-float64-lr", "adagrad", "rmsprop"],
)
def test_tensor_learning_rates_filled_by_a_scheduler(make_opt):
    compiled = assert_trained_like_eager(make_opt=make_opt, make_sched=SCHEDULERS["cosine"])
    assert compiled.fn.traces <= 2


def test_param_groups_with_schedules_of_their_own_and_a_parameter_without_gradient():
    def make_opt(params):
        first, *rest = params
        frozen = nn.Parameter(torch.ones(3))  # (never gets a gradient: skipped, as eagerly)
        return nn.optim.AdamW([{"params": [first, frozen], "lr": 0.02}, {"params": rest, "amsgrad": True}], lr=0.01)

    make_sched = lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=[0.05, 0.01], total_steps=STEPS + 1)
    compiled = assert_trained_like_eager(make_opt=make_opt, make_sched=make_sched)
    assert compiled.fn.traces <= 2


@pytest.mark.parametrize("opt", ["adam-amsgrad", "adagrad", "rmsprop-centered", "sgd-momentum"])
def test_float64_parameters(opt):
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        compiled = assert_trained_like_eager(make_opt=OPTIMIZERS[opt], make_sched=SCHEDULERS["step"])
    finally:
        torch.set_default_dtype(default)
    assert next(compiled.model.parameters()).dtype == torch.float64 and compiled.fn.traces <= 2


# --- values changed between calls: read anew, or a retrace; never stale -----------------------------------


def change_at(i: int, change: Any) -> Any:
    return lambda step, opt: change(opt) if step == i else None


@pytest.mark.parametrize("opt", ["sgd-momentum", "rmsprop-centered"])
def test_a_momentum_switched_off_between_calls_retraces(opt):
    switch_off = change_at(8, lambda o: o.param_groups[0].update(momentum=0.0))
    compiled = assert_trained_like_eager(make_opt=OPTIMIZERS[opt], between=switch_off)
    assert compiled.fn.traces == 3


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_a_state_dict_loaded_between_calls_retraces(opt):
    def reload(o):
        state = o.state_dict()
        state["param_groups"][0]["lr"] = 0.003
        o.load_state_dict(state)

    compiled = assert_trained_like_eager(make_opt=OPTIMIZERS[opt], between=change_at(8, reload))
    assert compiled.fn.traces == 3


def test_betas_replaced_between_calls_are_read_anew():
    new_betas = change_at(8, lambda o: o.param_groups[0].update(betas=(0.5, 0.9)))
    compiled = assert_trained_like_eager(make_opt=OPTIMIZERS["adam"], between=new_betas)
    assert compiled.fn.traces == 2


def test_a_learning_rate_that_fn_also_returns_is_not_stale():
    opt = nn.optim.SGD([nn.Parameter(torch.ones(2))], lr=0.5)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    @ag.compile
    def step(x):
        opt.zero_grad()
        (opt.param_groups[0]["params"][0] * x).sum().backward()
        opt.step()
        return opt.param_groups[0]["lr"]  # (a Python number: a change retraces)

    for _ in range(4):
        assert step(torch.ones(2)) == opt.param_groups[0]["lr"]
        sched.step()
    assert step.traces == 4


@pytest.mark.parametrize("read", ["opt.param_groups", "its own reference to the group", "no read"])
def test_a_learning_rate_that_fn_reads_in_python_stays_checked(read):
    """The optimizer reads lr as an input that each replay reads anew; fn reading it into Python too (r4:
    through `opt.param_groups`, or through the dict it gave the optimizer) keeps it checked, so a scheduler's
    change traces again rather than replaying the old number. Without such a read: no retrace."""
    w = nn.Parameter(torch.ones(2, dtype=torch.float64))
    group = {"params": [w], "lr": 0.5}
    opt = nn.optim.SGD([group], lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    assert opt.param_groups[0] is group  # (torch keeps the dict it was given)
    lr_of = {
        "opt.param_groups": lambda: opt.param_groups[0]["lr"],
        "its own reference to the group": lambda: group["lr"],
        "no read": lambda: 0.0,
    }[read]

    @ag.compile
    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss.detach() * 0 + lr_of()  # (lr-scaled logging, say)

    for _ in range(4):
        lr, before = sched.get_last_lr()[0], w.data.clone()
        assert step(torch.ones(2, dtype=torch.float64)).item() == (0.0 if read == "no read" else lr)
        assert torch.equal(w.data, before - lr)  # (the update used this call's lr, either way)
        sched.step()
    assert step.traces == (2 if read == "no read" else 4)  # (the first call finds no .grad, the next ones do)


def test_tensor_betas_are_refused_inside_a_compiled_step():
    betas = (torch.tensor(0.9), torch.tensor(0.999))
    with pytest.raises(NotImplementedError, match=r"Adam with Tensor betas cannot step inside ag.compile"):
        train(make_opt=lambda p: nn.optim.Adam(p, betas=betas), compiled=True, steps=2)


# --- the numbers: a replay computes the eager step's Python floats ---------------------------------------


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.8, 0.99), (0.5, 0.9999)])
def test_replayed_step_scalars_equal_the_eager_python_floats(betas):
    """Adam's step size and bias correction and Adagrad's decayed learning rate, recomputed by each replay
    from the step counter and a learning rate changed at every call, are the floats of the eager step."""
    group = {"lr": 1e-3, "betas": betas}

    @ag.compile
    def numbers(step):
        values = read_scheduled(group, ("lr", "betas"))
        t = count(step)
        return (*Adam._step_scalars(values["lr"], *values["betas"], t), Adagrad._step_lr(values["lr"], 0.01, t))

    for t in range(1, 2001):
        group["lr"] = 1e-3 * (1 + t % 7) / 3
        got = [x.item() for x in numbers(torch.tensor(float(t)))]
        assert got == [*Adam._step_scalars(group["lr"], *betas, t), Adagrad._step_lr(group["lr"], 0.01, t)], t
    assert numbers.traces == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [1, 7, 33, 1000])
def test_kernels_given_a_tensor_scalar_give_the_bits_of_the_scalar_kernels(size, dtype):
    """What the traced step relies on: each kernel helper, given a 0-dim float64 tensor where eager
    execution passes a Python float, computes the same bits (vectorized loops and their tails)."""
    gen = torch.Generator().manual_seed(size)
    a, b = torch.randn(size, generator=gen, dtype=dtype), torch.randn(size, generator=gen, dtype=dtype) * 1e-2
    c = torch.rand(size, generator=gen, dtype=dtype) + 0.1
    for s in (-0.1234567891234, 0.9, -3.3e-4, 1e-3 / (1 - 0.9**7)):
        t = torch.tensor(s, dtype=torch.float64)
        assert torch.equal(scalars.add(a, b, s), scalars.add(a, b, t))
        for op in (scalars.addcdiv_, scalars.addcmul_):
            x, y = a.clone(), a.clone()
            op(x, b, c, s)
            op(y, b, c, t)
            assert torch.equal(x, y), op
        x, y = a.clone(), a.clone()
        scalars.lerp_(x, b, 1 - s)
        scalars.lerp_(y, b, 1 - t)
        assert torch.equal(x, y)
        assert torch.equal(a.mul(s), a.mul(t)) and torch.equal(a / s, a / t)


# --- eager steps with tensor options: still torch.optim's, bit for bit ----------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "name,kw",
    [
        ("SGD", dict(lr=torch.tensor(0.05), momentum=0.9, nesterov=True, weight_decay=torch.tensor(0.01))),
        ("Adam", dict(lr=torch.tensor(0.01), amsgrad=True, weight_decay=0.1)),
        ("Adam", dict(lr=0.01, betas=(torch.tensor(0.8), torch.tensor(0.99)))),
        ("AdamW", dict(lr=torch.tensor(0.01, dtype=torch.float64))),
        ("Adagrad", dict(lr=torch.tensor(0.1), lr_decay=0.01)),
        ("RMSprop", dict(lr=torch.tensor(0.01), momentum=0.5, centered=True)),
    ],
    ids=["sgd", "adam", "adam-tensor-betas", "adamw-float64-lr", "adagrad", "rmsprop"],
)
def test_eager_steps_with_tensor_options_stay_torchs(name, kw, dtype):
    ours, theirs = twin_params(dtype=dtype)
    opt, topt = make(name, ours, kw), make_torch(name, theirs, kw)
    run(ours, theirs, opt, topt, 30)
    assert_same(ours, theirs, opt, topt)


# --- ag.compile.scalar -------------------------------------------------------------------------------------


def test_scalar_is_an_input_every_replay_reads_anew():
    group = {"lr": 0.5}
    f = ag.compile(lambda x: x * ag.compile.scalar(group, "lr"), check=True)
    x = torch.ones(2)
    for lr in (0.5, 0.25, 0.125, 3.0):
        group["lr"] = lr
        assert torch.equal(f(x), torch.full((2,), lr))
    assert (f.traces, f.replays) == (1, 3)


def test_scalar_reads_through_the_container_and_retraces_when_it_is_replaced():
    class Box:
        pass

    box = Box()
    box.group = {"betas": (0.9, 0.99)}
    f = ag.compile(lambda x: x * ag.compile.scalar(box.group, "betas", 0))
    x = torch.ones(2)
    f(x)
    box.group["betas"] = (0.5, 0.99)  # (a new tuple in the same dict: read anew)
    assert torch.equal(f(x), torch.full((2,), 0.5)) and f.traces == 1
    box.group = {"betas": (0.25, 0.99)}  # (another dict: the trace read the old one, so a retrace)
    assert torch.equal(f(x), torch.full((2,), 0.25)) and f.traces == 2


def test_a_scalar_that_fn_also_returns_stays_checked():
    group = {"lr": 0.5}
    f = ag.compile(lambda x: (x * ag.compile.scalar(group, "lr"), group["lr"]))
    x = torch.ones(2)
    f(x)
    group["lr"] = 0.25
    assert f(x)[1] == 0.25 and f.traces == 2


def test_a_scalar_that_becomes_a_tensor_retraces_and_a_tensor_is_returned_as_it_is():
    lr = torch.tensor(0.25)
    assert ag.compile.scalar({"lr": lr}, "lr") is lr
    outside = ag.compile.scalar({"lr": 2}, "lr")
    assert outside.dtype == torch.float64 and outside.dim() == 0 and outside.item() == 2.0
    group: dict[str, Any] = {"lr": 0.5}
    f = ag.compile(lambda x: x * ag.compile.scalar(group, "lr"))
    x = torch.ones(2)
    f(x)
    group["lr"] = lr
    assert torch.equal(f(x), torch.full((2,), 0.25)) and f.traces == 2
    lr.fill_(0.75)  # (read by reference, as any tensor a trace reads)
    assert torch.equal(f(x), torch.full((2,), 0.75)) and f.traces == 2


def test_scalar_refuses_what_is_not_a_number():
    with pytest.raises(TypeError, match=r"ag.compile.scalar: expected a number at \('mode',\), got str"):
        ag.compile.scalar({"mode": "fast"}, "mode")
    with pytest.raises(TypeError, match="got bool"):
        ag.compile.scalar({"flag": True}, "flag")
