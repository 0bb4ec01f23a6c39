"""nn.optim.lr_scheduler against torch.optim.lr_scheduler: the lr (and momentum) of every group at every
step, state dicts through a resume (ours and torch's, both ways), warnings and validation."""

from __future__ import annotations

import copy
import re
import warnings

import pytest
import torch
import torch.optim.lr_scheduler as torch_ls

import nn
import nn.optim.lr_scheduler as ours_ls

STEPS = 120


class Decay:
    """A callable object: LambdaLR's state dict keeps its attributes (a plain function is not saved)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate**epoch


def sched(name, *args, **kwargs):
    return lambda opt, m: getattr(m, name)(opt, *args, **kwargs)


def warmup_cosine(opt, m):
    warmup = m.LinearLR(opt, start_factor=0.01, total_iters=10)
    return m.SequentialLR(opt, [warmup, m.CosineAnnealingLR(opt, T_max=STEPS - 10, eta_min=1e-4)], milestones=[10])


def three_stages(opt, m):
    stages = [m.ConstantLR(opt, factor=0.5, total_iters=5), m.ExponentialLR(opt, 0.97), m.StepLR(opt, 10, 0.5)]
    return m.SequentialLR(opt, stages, milestones=[20, 60])


def chained(opt, m):
    return m.ChainedScheduler([m.LinearLR(opt, start_factor=0.2, total_iters=15), m.CosineAnnealingLR(opt, T_max=40)])


# (name, optimizer, its options, scheduler factory)
SCHEDULES = [
    ("LambdaLR", "SGD", {}, sched("LambdaLR", lambda epoch: 0.96**epoch)),
    ("LambdaLR-per-group", "SGD", {}, sched("LambdaLR", [Decay(0.9), lambda e: 1 / (1 + e)])),
    ("MultiplicativeLR", "SGD", {}, sched("MultiplicativeLR", lambda epoch: 0.97)),
    ("StepLR", "SGD", {}, sched("StepLR", step_size=7, gamma=0.5)),
    ("MultiStepLR", "SGD", {}, sched("MultiStepLR", milestones=[10, 30, 30, 80], gamma=0.3)),
    ("ConstantLR", "SGD", {}, sched("ConstantLR", factor=0.25, total_iters=20)),
    ("LinearLR", "SGD", {}, sched("LinearLR", start_factor=0.05, end_factor=0.8, total_iters=33)),
    ("ExponentialLR", "SGD", {}, sched("ExponentialLR", gamma=0.97)),
    ("PolynomialLR", "SGD", {}, sched("PolynomialLR", total_iters=70, power=2.0)),
    ("CosineAnnealingLR", "SGD", {}, sched("CosineAnnealingLR", T_max=25, eta_min=1e-3)),  # past T_max: periodic
    ("CosineAnnealingWarmRestarts", "SGD", {}, sched("CosineAnnealingWarmRestarts", T_0=5, T_mult=2, eta_min=1e-3)),
    ("CosineAnnealingWarmRestarts-1", "SGD", {}, sched("CosineAnnealingWarmRestarts", T_0=9)),
    ("OneCycleLR-SGD", "SGD", dict(momentum=0.9), sched("OneCycleLR", max_lr=1.0, total_steps=STEPS)),
    (
        "OneCycleLR-Adam-three-phase-linear",
        "Adam",
        {},
        sched(
            "OneCycleLR", max_lr=[1.0, 2.0], epochs=6, steps_per_epoch=20, three_phase=True, anneal_strategy="linear"
        ),
    ),
    ("OneCycleLR-no-momentum", "Adagrad", {}, sched("OneCycleLR", max_lr=0.5, total_steps=STEPS, cycle_momentum=False)),
    ("SequentialLR-warmup-cosine", "AdamW", {}, warmup_cosine),
    ("SequentialLR-three", "SGD", {}, three_stages),
    ("ChainedScheduler", "SGD", {}, chained),
]


def twins(opt_name, opt_kw, make_sched):
    """Our optimizer and scheduler, and torch's, over two groups with different learning rates."""
    made = []
    for optim, module, param in ((nn.optim, ours_ls, nn.Parameter), (torch.optim, torch_ls, torch.nn.Parameter)):
        groups = [{"params": [param(torch.ones(2))]}, {"params": [param(torch.ones(3))], "lr": 0.05}]
        opt = getattr(optim, opt_name)(groups, lr=0.1, **opt_kw)
        made.append((opt, make_sched(opt, module)))
    return made


def momenta(opt):
    return [g.get("betas", g.get("momentum")) for g in opt.param_groups]


def trace(opt, scheduler, steps):
    """The learning rates and momenta after each of `steps` steps (the start included)."""
    seen = [(scheduler.get_last_lr(), momenta(opt))]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        seen.append((scheduler.get_last_lr(), momenta(opt)))
    return seen


@pytest.mark.parametrize("label,opt_name,opt_kw,make_sched", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_learning_rates_equal_torchs_at_every_step(label, opt_name, opt_kw, make_sched):
    (opt, ours), (topt, theirs) = twins(opt_name, opt_kw, make_sched)
    seen = trace(opt, ours, STEPS)
    assert seen == trace(topt, theirs, STEPS)  # exact: the same float arithmetic in the same order
    assert len({str(lrs) for lrs, _ in seen}) > 1  # (the schedule did change the lr)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups] == ours.get_last_lr()
    assert ours.state_dict().keys() == theirs.state_dict().keys()


@pytest.mark.parametrize("source", ["ours", "torch"])
@pytest.mark.parametrize("label,opt_name,opt_kw,make_sched", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_resuming_from_a_state_dict_mid_schedule_continues_as_torch(label, opt_name, opt_kw, make_sched, source):
    """Half way, a new optimizer and scheduler of ours load the state dicts (ours, or the torch twin's);
    the rest of the schedule equals the uninterrupted torch twin's."""
    (opt, ours), (topt, theirs) = twins(opt_name, opt_kw, make_sched)
    trace(opt, ours, STEPS // 2)
    trace(topt, theirs, STEPS // 2)
    saved_opt, saved_sched = (opt, ours) if source == "ours" else (topt, theirs)
    sched_state = copy.deepcopy(saved_sched.state_dict())
    opt_state = copy.deepcopy(saved_opt.state_dict())
    (opt2, resumed), _ = twins(opt_name, opt_kw, make_sched)
    resumed.load_state_dict(sched_state)
    opt2.load_state_dict(opt_state)  # after the scheduler: it brings back the groups' lr, as in torch
    assert trace(opt2, resumed, STEPS - STEPS // 2) == trace(topt, theirs, STEPS - STEPS // 2)


def test_lambda_objects_state_travels_in_the_state_dict():
    (opt, ours), _ = twins("SGD", {}, sched("LambdaLR", [Decay(0.9), lambda e: 1.0]))
    state = ours.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.9}, None]
    state["lr_lambdas"] = [{"rate": 0.5}, None]
    ours.load_state_dict(state)
    assert ours.lr_lambdas[0].rate == 0.5 and "lr_lambdas" in state


def test_plateau_reduces_like_torch():
    def metric(i):
        return 1.0 / (1 + i) if i < 30 else 0.04 + 0.001 * (i % 3)

    results = []
    for optim, module, param in ((nn.optim, ours_ls, nn.Parameter), (torch.optim, torch_ls, torch.nn.Parameter)):
        opt = optim.SGD([{"params": [param(torch.ones(2))]}, {"params": [param(torch.ones(1))], "lr": 1.0}], lr=0.1)
        plateau = module.ReduceLROnPlateau(opt, patience=3, cooldown=2, factor=0.5, min_lr=[1e-3, 0.1], threshold=0.01)
        lrs = []
        for i in range(80):
            opt.step()
            plateau.step(metric(i))
            lrs.append(plateau.get_last_lr())
            if i == 40:
                state = copy.deepcopy(plateau.state_dict())
                plateau = module.ReduceLROnPlateau(opt, mode="max")
                plateau.load_state_dict(state)
        results.append((lrs, plateau.best, plateau.num_bad_epochs))
    assert results[0] == results[1]
    assert len({str(lrs) for lrs in results[0][0]}) > 4


@pytest.mark.parametrize("mode,threshold_mode", [("max", "rel"), ("max", "abs"), ("min", "abs")])
def test_plateau_modes_like_torch(mode, threshold_mode):
    values = [0.5, 0.6, 0.6, 0.61, 0.55, 0.5, 0.45, 0.45, 0.44, 0.7, 0.7, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1]
    results = []
    for optim, module, param in ((nn.optim, ours_ls, nn.Parameter), (torch.optim, torch_ls, torch.nn.Parameter)):
        opt = optim.SGD([param(torch.ones(1))], lr=1.0)
        plateau = module.ReduceLROnPlateau(opt, mode=mode, threshold_mode=threshold_mode, threshold=0.05, patience=1)
        results.append([(plateau.step(v), plateau.get_last_lr())[1] for v in values * 3])
    assert results[0] == results[1] and len({str(r) for r in results[0]}) > 3


def test_a_scheduler_of_ours_drives_a_torch_optimizer():
    """Duck-typed on param_groups: a torch.optim optimizer works too."""
    p = torch.nn.Parameter(torch.ones(2))
    opt, topt = torch.optim.SGD([p], lr=0.1), torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    ours, theirs = ours_ls.CosineAnnealingLR(opt, T_max=10), torch_ls.CosineAnnealingLR(topt, T_max=10)
    assert trace(opt, ours, 30) == trace(topt, theirs, 30)


def test_epoch_argument_uses_the_closed_form_with_torchs_warning():
    (opt, ours), (topt, theirs) = twins("SGD", {}, sched("StepLR", step_size=3, gamma=0.5))
    for sch, o in ((ours, opt), (theirs, topt)):
        o.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            sch.step(10)
    assert ours.get_last_lr() == theirs.get_last_lr() == [0.1 * 0.5**3, 0.05 * 0.5**3]


def test_stepping_the_scheduler_before_the_optimizer_warns_as_torch():
    p = nn.Parameter(torch.ones(2))
    opt = nn.optim.SGD([p], lr=0.1)
    scheduler = ours_ls.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=re.escape("Detected call of `lr_scheduler.step()` before `optimizer.step()`")):
        scheduler.step()
    opt2 = nn.optim.SGD([p], lr=0.1)
    scheduler2 = ours_ls.StepLR(opt2, 2)
    p.grad = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert opt2.step(lambda: 3.0) == 3.0  # (the wrapped step still returns the closure's loss)
        scheduler2.step()
    with pytest.warns(UserWarning, match=re.escape("please use `get_last_lr()`")):
        scheduler2.get_lr()


def test_the_initial_step_records_initial_lr_and_resuming_needs_it():
    opt = nn.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.3)
    ours_ls.ExponentialLR(opt, 0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.3
    fresh = nn.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.3)
    with pytest.raises(KeyError, match=re.escape("param 'initial_lr' is not specified in param_groups[0]")):
        ours_ls.ExponentialLR(fresh, 0.5, last_epoch=3)


BAD = [
    (sched("ConstantLR", factor=1.5), ValueError),
    (sched("LinearLR", start_factor=0), ValueError),
    (sched("LinearLR", end_factor=2), ValueError),
    (sched("CosineAnnealingWarmRestarts", T_0=0), ValueError),
    (sched("CosineAnnealingWarmRestarts", T_0=3, T_mult=0), ValueError),
    (sched("CosineAnnealingWarmRestarts", T_0=3, eta_min="0"), ValueError),
    (sched("OneCycleLR", max_lr=1.0), ValueError),
    (sched("OneCycleLR", max_lr=1.0, total_steps=0), ValueError),
    (sched("OneCycleLR", max_lr=1.0, epochs=0, steps_per_epoch=3), ValueError),
    (sched("OneCycleLR", max_lr=1.0, total_steps=10, pct_start=1), ValueError),
    (sched("OneCycleLR", max_lr=1.0, total_steps=10, anneal_strategy="exp"), ValueError),
    (sched("OneCycleLR", max_lr=[1.0, 2.0, 3.0], total_steps=10), ValueError),
    (sched("LambdaLR", [lambda e: 1.0]), ValueError),
    (sched("MultiplicativeLR", [0.5, 0.5]), TypeError),
    (sched("ReduceLROnPlateau", factor=1.0), ValueError),
    (sched("ReduceLROnPlateau", mode="middle"), ValueError),
    (sched("ReduceLROnPlateau", threshold_mode="log"), ValueError),
    (sched("ReduceLROnPlateau", min_lr=[0.1]), ValueError),
    (lambda opt, m: m.SequentialLR(opt, [m.StepLR(opt, 2)], milestones=[3]), ValueError),
    (lambda opt, m: m.SequentialLR(opt, [], milestones=[]), ValueError),
    (lambda opt, m: m.SequentialLR(opt, [m.ReduceLROnPlateau(opt)], milestones=[]), ValueError),
    (lambda opt, m: m.ChainedScheduler([]), ValueError),
    (lambda opt, m: m.ChainedScheduler([m.StepLR(opt, 2), object()]), TypeError),
]


@pytest.mark.parametrize("make_sched,error", BAD)
def test_bad_arguments_raise_torchs_error(make_sched, error):
    (opt, _), (topt, _) = twins("SGD", {}, sched("StepLR", 1000))
    with pytest.raises(error) as expected:
        make_sched(topt, torch_ls)
    with pytest.raises(error, match="^" + re.escape(str(expected.value)) + "$"):
        make_sched(opt, ours_ls)


def test_one_cycle_errors_past_its_steps_and_needs_momentum_to_cycle():
    opt = nn.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)
    one_cycle = ours_ls.OneCycleLR(opt, max_lr=1.0, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        opt.step()
        one_cycle.step()
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        one_cycle.step()
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        ours_ls.OneCycleLR(nn.optim.Adagrad([nn.Parameter(torch.ones(1))]), max_lr=1.0, total_steps=3)


def test_what_is_not_an_optimizer_is_refused():
    with pytest.raises(TypeError, match="^list is not an Optimizer$"):
        ours_ls.StepLR([], 3)
    opt, other = (nn.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1) for _ in range(2))
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        ours_ls.SequentialLR(opt, [ours_ls.StepLR(opt, 2), ours_ls.StepLR(other, 2)], milestones=[3])
