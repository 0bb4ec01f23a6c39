"""ag.compile: replays equal eager execution bit for bit (and the torch twin to rounding), retrace on a new
signature or a failed guard, and refuse what a replay could not repeat."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import queue
import threading
import types
from collections import namedtuple

import numpy
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import autograd_engine as ag
import nn
from examples.noise2noise.architectures import dncnn, seed_model

from .test_random_programs import ENGINE, programs, run

TraceError, CheckError = ag.compile.TraceError, ag.compile.CheckError


def equal(a, b):
    """Bitwise equality of two tensors or Variables (NaN where the other has NaN)."""
    a, b = (x.data if isinstance(x, ag.Variable) else x for x in (a, b))
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def batch(seed, n=2, size=8):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.rand(n, 3, size, size, generator=g)


# --- the stateful style: closed-over Modules and optimizers, against eager and the torch twin --------
ARCHS = {
    "seed": lambda lib: seed_model(lib, factor=2),
    "dncnn": lambda lib: dncnn(lib, width=8, depth=3),
}


def twins(arch, make_opt):
    """The engine model three times (eager, compiled, and for the torch twin's reference) from one seed."""
    models = []
    for lib in (nn, nn, torch.nn):
        torch.manual_seed(0)
        models.append(ARCHS[arch](lib))
    opts = [make_opt(m.parameters(), lib) for m, lib in zip(models, (nn, nn, torch.optim))]
    return models, opts


def engine_step(model, opt, zero_inside=True):
    loss_fn = nn.MSELoss()

    def step(x, y):
        if zero_inside:
            opt.zero_grad()
        loss = loss_fn(model(ag.Variable(x)), y)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize(
    "make_opt",
    [lambda p, lib: lib.SGD(p, lr=0.5), lambda p, lib: lib.SGD(p, lr=0.2, momentum=0.9, weight_decay=1e-3)],
    ids=["sgd", "momentum"],
)
def test_train_steps_replay_bitwise_equal_to_eager_and_match_torch(arch, make_opt):
    (eager_m, comp_m, torch_m), (eager_o, comp_o, torch_o) = twins(arch, make_opt)
    eager = engine_step(eager_m, eager_o)
    compiled = ag.compile(engine_step(comp_m, comp_o))
    for i in range(5):
        x, y = batch(i)
        a, b = eager(x, y), compiled(x, y)
        torch_o.zero_grad()
        t = torch.nn.functional.mse_loss(torch_m(x), y)
        t.backward()
        torch_o.step()
        equal(a, b)
        torch.testing.assert_close(b.data, t.detach(), rtol=1e-5, atol=1e-6)
        for pe, pc, pt in zip(eager_m.parameters(), comp_m.parameters(), torch_m.parameters()):
            equal(pe, pc)
            equal(pe.grad, pc.grad)
            torch.testing.assert_close(pc.data, pt.detach(), rtol=1e-4, atol=1e-5)
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            for key, value in eager_o.state[pe].items():
                equal(value, comp_o.state[pc][key])
    # the first call starts from no .grad (and makes the momentum buffers): the second records again
    assert (compiled.traces, compiled.replays) == (2, 3)


def test_zero_grad_outside_and_gradient_accumulation_across_calls():
    """.grad as eager leaves it, whether fn starts from None (zeroed outside) or adds to what is there."""
    (eager_m, comp_m, _), (eager_o, comp_o, _) = twins("seed", lambda p, lib: lib.SGD(p, lr=0.1))

    def accumulate(model):
        def step(x, y):
            loss = nn.functional.mse_loss(model(ag.Variable(x)), y)
            loss.backward()
            return loss.detach()

        return step

    eager, compiled = accumulate(eager_m), ag.compile(accumulate(comp_m))
    for i in range(7):
        if i % 3 == 0:  # zeroed outside every third call: two calls accumulate into it
            eager_o.zero_grad()
            comp_o.zero_grad()
        x, y = batch(i)
        equal(eager(x, y), compiled(x, y))
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            equal(pe.grad, pc.grad)
    assert compiled.replays >= 3


def test_rmsprop_with_gradient_clipping_compiles_inside_the_step():
    rmsprop = lambda p, lib: (nn.optim if lib is nn else lib).RMSprop(p, lr=1e-3, momentum=0.5)
    (_, comp_m, _), (_, comp_o, _) = twins("seed", rmsprop)

    def step(x, y):
        comp_o.zero_grad()
        loss = nn.functional.mse_loss(comp_m(ag.Variable(x)), y)
        loss.backward()
        nn.utils.clip_grad_norm_(comp_m.parameters(), 0.1)
        comp_o.step()
        return loss.detach()

    compiled = ag.compile(step, check=5)
    for i in range(5):
        compiled(*batch(i))  # each replay checked against eager execution from the same state
    assert compiled.replays == 3


def test_adam_steps_outside_the_compiled_function():
    """An optimizer that reads its step count into Python steps outside fn; forward and backward replay."""
    (eager_m, comp_m, _), (eager_o, comp_o, _) = twins("seed", lambda p, lib: lib.Adam(p, lr=1e-2))
    eager, compiled = engine_step(eager_m, eager_o, zero_inside=False), None

    def forward_backward(x, y):
        loss = nn.functional.mse_loss(comp_m(ag.Variable(x)), y)
        loss.backward()
        return loss.detach()

    compiled = ag.compile(forward_backward)
    for i in range(4):
        x, y = batch(i)
        eager_o.zero_grad()
        a = eager(x, y)
        comp_o.zero_grad()
        b = compiled(x, y)
        comp_o.step()
        equal(a, b)
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            equal(pe, pc)
    assert compiled.replays == 2  # (a model's first call adds attributes to it: the next call records)


def test_tensors_replaced_between_calls_are_read_anew_not_replayed_stale():
    """Parameters rebound, optimizer state reloaded, a closed-over tensor swapped: the replay notices."""
    (eager_m, comp_m, _), (eager_o, comp_o, _) = twins("seed", lambda p, lib: lib.SGD(p, lr=0.1, momentum=0.9))
    eager, compiled = engine_step(eager_m, eager_o), ag.compile(engine_step(comp_m, comp_o))
    for i in range(8):
        if i in (3, 6):
            for model, opt in ((eager_m, eager_o), (comp_m, comp_o)):
                for p in model.parameters():
                    p.data = p.data * 0.5  # a new tensor: the old one must not be updated any more
                if i == 6:
                    opt.load_state_dict(opt.state_dict())  # new state tensors
        equal(eager(*batch(i)), compiled(*batch(i)))
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            equal(pe, pc)
    assert compiled.traces == 4 and compiled.replays == 4

    table = {"w": torch.ones(3)}
    f = ag.compile(lambda x: x * table["w"])
    x = torch.randn(3)
    f(x)
    table["w"] = torch.full((3,), 2.0)
    equal(f(x), x * 2)
    assert f.traces == 2


def test_an_optimizer_step_alone_reads_each_new_gradient():
    """Backward outside, `opt.step` compiled: every call's new `.grad` is read through its parameter."""
    (eager_m, comp_m, _), (eager_o, comp_o, _) = twins("dncnn", lambda p, lib: lib.SGD(p, lr=0.1, momentum=0.9))
    step = ag.compile(comp_o.step)
    for i in range(5):
        for model, opt, update in ((eager_m, eager_o, eager_o.step), (comp_m, comp_o, step)):
            opt.zero_grad()
            x, y = batch(i)
            nn.functional.mse_loss(model(ag.Variable(x)), y).backward()
            update()
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            equal(pe, pc)
    assert (step.traces, step.replays) == (2, 3)  # the first call makes the momentum buffers


class AttentionBlock(nn.Module):
    """Embedding, layer norm, causal self-attention with dropout, a residual and a head: the kernels of a GPT
    block, including the checks the engine reads into Python (cross-entropy's targets, attention rows)."""

    def __init__(self, vocab=11, d=16, heads=2):
        super().__init__()
        self.emb, self.ln = nn.Embedding(vocab, d), nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, heads, dropout=0.1, batch_first=True)
        self.drop, self.head = nn.Dropout(0.1), nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.emb(tokens)
        h = self.ln(x)
        n = tokens.shape[1]
        a, _ = self.att(h, h, h, attn_mask=torch.ones(n, n, dtype=torch.bool).triu(1), need_weights=False)
        return self.head(self.drop(x + a))


def test_an_attention_block_with_dropout_and_cross_entropy():
    def trainer():
        torch.manual_seed(0)
        model = AttentionBlock()
        opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(tokens, targets):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(tokens).reshape(-1, 11), targets.reshape(-1))
            loss.backward()
            opt.step()
            return loss.detach()

        return model, step

    (eager_m, eager), (comp_m, step) = trainer(), trainer()
    compiled = ag.compile(step)
    for i in range(5):
        g = torch.Generator().manual_seed(i)
        tokens, targets = torch.randint(0, 11, (3, 7), generator=g), torch.randint(0, 11, (3, 7), generator=g)
        torch.manual_seed(100 + i)
        want = eager(tokens, targets)
        torch.manual_seed(100 + i)
        equal(compiled(tokens, targets), want)
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            equal(pe, pc)
    assert compiled.replays == 3


# --- the functional style ------------------------------------------------------------------------
def mlp_loss(params, x, y):
    h = ag.tanh(x @ params["w1"] + params["b1"])
    return ((h @ params["w2"] - y) ** 2).mean()


def sgd_update(params, x, y):
    loss, grads = ag.value_and_grad(mlp_loss)(params, x, y)
    return loss, {k: p - 0.1 * grads[k] for k, p in params.items()}


def test_value_and_grad_step_on_a_parameter_pytree():
    g = torch.Generator().manual_seed(0)
    params = {
        "w1": torch.randn(4, 8, generator=g, dtype=torch.float64),
        "b1": torch.zeros(8, dtype=torch.float64),
        "w2": torch.randn(8, 2, generator=g, dtype=torch.float64),
    }
    theirs = {k: v.clone().requires_grad_() for k, v in params.items()}
    compiled = ag.compile(sgd_update)
    ours = params
    for _ in range(4):
        x, y = (
            torch.randn(16, 4, generator=g, dtype=torch.float64),
            torch.randn(16, 2, generator=g, dtype=torch.float64),
        )
        want_loss, want = sgd_update(ours, x, y)
        loss, ours = compiled(ours, x, y)
        equal(loss, want_loss)
        for k in ours:
            equal(ours[k], want[k])
        t = ((torch.tanh(x @ theirs["w1"] + theirs["b1"]) @ theirs["w2"] - y) ** 2).mean()
        grads = torch.autograd.grad(t, list(theirs.values()))
        theirs = {k: (v - 0.1 * gr).detach().requires_grad_() for (k, v), gr in zip(theirs.items(), grads)}
        torch.testing.assert_close(loss, t.detach(), rtol=1e-12, atol=1e-14)
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k].detach(), rtol=1e-12, atol=1e-14)
    assert (compiled.traces, compiled.replays) == (1, 3)


def test_gradients_assigned_by_hand_then_an_optimizer_step():
    """As examples/gpt's engine backend: value_and_grad on the parameters' tensors, `.grad` set by hand."""
    g = torch.Generator().manual_seed(0)
    start = {"w1": torch.randn(4, 8, generator=g), "b1": torch.zeros(8), "w2": torch.randn(8, 2, generator=g)}

    def trainer():
        params = {k: nn.Parameter(v.clone()) for k, v in start.items()}
        opt = nn.SGD(params.values(), lr=0.1, momentum=0.9)

        def step(x, y):
            loss, grads = ag.value_and_grad(mlp_loss)({k: p.data for k, p in params.items()}, x, y)
            for k, p in params.items():
                p.grad = ag.Variable(grads[k])
            opt.step()
            return loss

        return params, step

    (eager_p, eager), (comp_p, step) = trainer(), trainer()
    compiled = ag.compile(step)
    for _ in range(5):
        x, y = torch.randn(16, 4, generator=g), torch.randn(16, 2, generator=g)
        equal(eager(x, y), compiled(x, y))
        for k in start:
            equal(eager_p[k], comp_p[k])
            equal(eager_p[k].grad, comp_p[k].grad)
    assert compiled.replays == 3


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs())
def test_random_programs_replay_values_and_gradients_bitwise(program):
    shapes, steps, outputs = program

    def value_and_grads(*xs):
        return ag.value_and_grad(lambda *vs: run(ENGINE, steps, outputs, *vs).sum(), argnums=tuple(range(len(xs))))(*xs)

    compiled = ag.compile(value_and_grads)
    g = torch.Generator().manual_seed(len(steps))
    for _ in range(3):
        inputs = [torch.randn(s, dtype=torch.float64, generator=g) for s in shapes]
        (value, grads), (want_value, want_grads) = compiled(*inputs), value_and_grads(*inputs)
        equal(value, want_value)
        for a, b in zip(grads, want_grads):
            equal(a, b)
    assert compiled.replays >= 1


def test_dropout_replays_fresh_draws_from_torchs_generator():
    """The mask a replay draws is the one eager execution draws at that point of the generator's stream."""

    def f(x):
        v = ag.Variable(x, requires_grad=True)
        out = nn.functional.dropout(v * 2.0, p=0.5, training=True)
        out.sum().backward()
        return out.detach(), v.grad

    compiled = ag.compile(f)
    x = torch.randn(64, dtype=torch.float64)
    masks = []
    for seed in range(4):
        torch.manual_seed(seed)
        want = f(x)
        torch.manual_seed(seed)
        got = compiled(x)
        for a, b in zip(got, want):
            equal(a, b)
        masks.append(got[1].data)
    assert compiled.replays == 3 and not torch.equal(masks[1], masks[2])


# --- signatures and the cache --------------------------------------------------------------------
def test_a_new_signature_retraces_and_the_cache_is_bounded():
    compiled = ag.compile(lambda x, scale: x * scale, cache_size=2)
    a, b, c = torch.ones(2), torch.ones(3), torch.ones(2, dtype=torch.float64)
    for x in (a, a, b, b, a):
        equal(compiled(x, 2.0), x * 2.0)
    assert (compiled.traces, compiled.replays) == (2, 3)
    equal(compiled(a, 3.0), a * 3.0)  # a Python value is part of the signature
    equal(compiled(c, 2.0), c * 2.0)  # dtype: a third signature evicts the least recently used (b, 2.0)
    assert compiled.traces == 4
    compiled(b, 2.0)
    assert compiled.traces == 5
    compiled.clear()
    compiled(a, 3.0)
    assert compiled.traces == 6


def test_arguments_that_are_the_same_tensor_are_a_signature_of_their_own():
    compiled = ag.compile(lambda x, y: x.add_(y))
    x = torch.ones(3)
    compiled(x, x)
    equal(x, torch.full((3,), 2.0))
    x, y = torch.ones(3), torch.ones(3)
    compiled(x, y)
    equal(x, torch.full((3,), 2.0))
    equal(y, torch.ones(3))
    assert compiled.traces == 2


def test_unhashable_arguments_are_refused():
    compiled = ag.compile(lambda x, extra: x)
    with pytest.raises(TypeError, match="must be hashable"):
        compiled(torch.ones(1), {1, 2})


def test_results_keep_their_structure():
    Pair = namedtuple("Pair", "first second")

    def f(x, v):
        return {"pair": Pair(x + 1, [v * 2, "label"]), "same": x, "n": 3}

    compiled = ag.compile(f)
    for _ in range(2):
        x, v = torch.randn(2), ag.Variable(torch.randn(2))
        out = compiled(x, v)
        assert isinstance(out["pair"], Pair) and out["same"] is x and out["n"] == 3
        assert isinstance(out["pair"].second[0], ag.Variable) and out["pair"].second[1] == "label"
        equal(out["pair"].first, x + 1)
        equal(out["pair"].second[0], v.data * 2)
    assert compiled.replays == 1


def test_in_place_updates_of_arguments_replay_into_the_new_arguments():
    compiled = ag.compile(lambda x, y: x.mul_(2).add_(y))
    for i in range(3):
        x, y = torch.full((2,), float(i)), torch.ones(2)
        compiled(x, y)
        equal(x, torch.full((2,), 2.0 * i + 1))
    assert compiled.replays == 2


def test_gradients_of_argument_variables_are_bound_on_the_new_arguments():
    def f(w, x):
        loss = (w * x).sum()
        loss.backward()
        return loss.detach()

    compiled = ag.compile(f)
    for _ in range(3):
        w, x = ag.Variable(torch.randn(3), requires_grad=True), torch.randn(3)
        compiled(w, x)
        equal(w.grad, x)
        compiled(w, x)  # now w.grad exists on entry: another signature, which adds into it
        equal(w.grad, 2 * x)
    assert compiled.replays == 4


def test_unused_work_is_not_replayed():
    def f(x):
        (x * 3).sum()  # computed and dropped
        return x + 1

    compiled = ag.compile(f)
    compiled(torch.ones(2))
    assert compiled.kernels == ("aten.add.Tensor",)
    assert "def body" in compiled.source


# --- the tracing rules ---------------------------------------------------------------------------
def test_python_control_flow_on_values_is_guarded_and_retraces():
    compiled = ag.compile(lambda x: x * 2 if bool((x > 0).all()) else x * 3)
    pos, neg = torch.ones(3), -torch.ones(3)
    equal(compiled(pos), pos * 2)
    equal(compiled(pos), pos * 2)
    equal(compiled(neg), neg * 3)  # the replay's check fails: traced again on this call
    equal(compiled(neg), neg * 3)
    assert (compiled.traces, compiled.replays) == (2, 2)


def test_python_values_fn_reaches_are_checked_and_changes_by_fn_refused():
    """A learning rate in a param group, `training`, a closed-over number: a new value traces again."""
    scale, model = {"value": 2.0}, nn.Dropout(0.5).eval()
    f = ag.compile(lambda x: model(ag.Variable(x * scale["value"])).detach())
    x = torch.ones(4)
    for _ in range(3):  # (a fresh Dropout's first call adds an attribute to it: the second call records)
        equal(f(x), x * 2)
    scale["value"] = 3.0
    for _ in range(2):
        equal(f(x), x * 3)
    model.train()
    for seed in range(2):
        torch.manual_seed(seed)
        want = model(ag.Variable(x * 3.0)).detach()
        torch.manual_seed(seed)
        equal(f(x), want)
    assert (f.traces, f.replays) == (4, 3)

    steps = {"n": 0}

    def count(x):
        steps["n"] += 1  # a replay would not count
        return x + 1

    counted = ag.compile(count)
    counted(x)
    with pytest.raises(
        TraceError, match=r"changes Python state that a replay would leave as it is \(steps\['n'\]: 1 -> 2\)"
    ):
        counted(x)


def test_a_replaced_tuple_of_values_traces_again():
    """Adam's betas, a kernel size: a value inside a tuple is checked through the tuple, so replacing the
    tuple (as OneCycleLR replaces betas) is a new value, never a stale replay."""
    config = {"betas": (2.0, 1.0), "nested": [((4.0,), "a")]}
    f = ag.compile(lambda x: x * config["betas"][0] + config["nested"][0][0][0])
    x = torch.ones(2)
    equal(f(x), x * 2 + 4)
    equal(f(x), x * 2 + 4)
    config["betas"] = (3.0, 1.0)
    equal(f(x), x * 3 + 4)
    config["nested"][0] = ((5.0,), "a")
    equal(f(x), x * 3 + 5)
    assert (f.traces, f.replays) == (3, 1)


@dataclasses.dataclass(slots=True)
class SlotConfig:
    scale: float


CONFIGS = {  # name: (a config holding 2.0, how fn reads it, how the value is set between calls)
    "argparse.Namespace": (lambda: argparse.Namespace(scale=2.0), lambda c: c.scale, setattr),
    "types.SimpleNamespace": (lambda: types.SimpleNamespace(scale=2.0), lambda c: c.scale, setattr),
    "nested": (
        lambda: types.SimpleNamespace(inner=argparse.Namespace(scale=2.0)),
        lambda c: c.inner.scale,
        lambda c, _, v: setattr(c.inner, "scale", v),
    ),
    "dataclass(slots=True)": (lambda: SlotConfig(2.0), lambda c: c.scale, setattr),
    "collections.deque": (lambda: collections.deque([2.0]), lambda c: c[0], lambda c, _, v: c.__setitem__(0, v)),
    "set": (lambda: {2.0}, lambda c: max(c), lambda c, _, v: (c.clear(), c.add(v))),
}


@pytest.mark.parametrize("kind", CONFIGS)
def test_python_values_in_attribute_bags_and_stdlib_containers_are_checked(kind):
    """A config in an argparse.Namespace, a SimpleNamespace, a slots dataclass, a deque or a set: a value
    set between calls traces again (r3), never replays stale."""
    make, read, write = CONFIGS[kind]
    config = make()
    f = ag.compile(lambda x: x * read(config))
    x = torch.ones(2)
    equal(f(x), x * 2)
    equal(f(x), x * 2)
    write(config, "scale", 3.0)
    equal(f(x), x * 3)
    assert (f.traces, f.replays) == (2, 1)


def test_a_partial_and_the_functions_fn_reaches_are_checked():
    """fn given as functools.partial: its arguments are walked; a function swapped in a container (which
    the walk does not look into) is checked by identity."""

    def scaled(scale, x, *, shift):
        return x * scale[0] + shift

    scale, x = [2.0], torch.ones(2)
    partial = functools.partial(scaled, scale, shift=1.0)
    f = ag.compile(partial)
    equal(f(x), x * 2 + 1)
    scale[0] = 3.0
    equal(f(x), x * 3 + 1)
    partial.keywords["shift"] = 5.0
    equal(f(x), x * 3 + 5)
    assert (f.traces, f.replays) == (3, 0)

    ops = {"act": torch.tanh}
    g = ag.compile(lambda x: ops["act"](x))
    equal(g(x), torch.tanh(x))
    equal(g(x), torch.tanh(x))
    ops["act"] = torch.sigmoid
    equal(g(x), torch.sigmoid(x))
    assert (g.traces, g.replays) == (2, 1)


def first_weight(model):
    return next(iter(model.parameters()))


def steps_like_eager(change, calls):
    """The seed model trained by an SGD step with momentum, eagerly and compiled, `change(i, model)`
    applied to both before call i: results and parameters equal bit for bit after every call. Returns the
    compiled step."""
    (eager_m, comp_m, _), (eager_o, comp_o, _) = twins("seed", lambda p, lib: lib.SGD(p, lr=0.1, momentum=0.9))
    eager, compiled = engine_step(eager_m, eager_o), ag.compile(engine_step(comp_m, comp_o))
    for i in range(calls):
        for model in (eager_m, comp_m):
            change(i, model)
        equal(eager(*batch(i)), compiled(*batch(i)))
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            equal(pe, pc)
    return compiled


def test_a_parameter_frozen_and_unfrozen_between_calls_traces_again():
    """requires_grad_(False) between calls (r1): the frozen weight stays as it is, as eagerly; unfrozen, it
    trains again (the program of that state replays)."""
    kept = {}

    def freeze(i, model):
        if i in (2, 4):
            first_weight(model).requires_grad_(i == 4)
        if i == 3:
            assert torch.equal(kept.pop(id(model)), first_weight(model).data)  # (call 2 left it as it was)
        if i == 2:
            kept[id(model)] = first_weight(model).data.clone()

    compiled = steps_like_eager(freeze, calls=7)
    assert (compiled.traces, compiled.replays) == (3, 4)  # (the first call makes the momentum buffers)


def test_gradient_hooks_added_changed_and_removed_between_calls_trace_again():
    """register_hook between calls (r2), a value its closure reads, its handle's remove(): each a retrace."""
    scale, handles = {"value": 0.0}, {}

    def hook(i, model):
        if i == 2:
            handles[id(model)] = first_weight(model).register_hook(lambda g: g * scale["value"])
        if i == 4:
            scale["value"] = 0.5
        if i == 6:
            handles.pop(id(model)).remove()

    compiled = steps_like_eager(hook, calls=8)
    assert (compiled.traces, compiled.replays) == (4, 4)  # (removed: the program without the hook again)

    def grad_of(w):
        (w * w).sum().backward()
        return w.grad.detach()

    f, triple = ag.compile(grad_of), lambda g: g * 3  # (a hook on an argument: part of the signature)
    for hooked in (False, True, False, True):
        w = ag.Variable(torch.ones(2), requires_grad=True)
        if hooked:
            w.register_hook(triple)
        equal(f(w), torch.full((2,), 6.0 if hooked else 2.0))
    assert (f.traces, f.replays) == (2, 2)


def hook_each_call(w, x):
    w.register_hook(lambda g: g)  # (a replay would not add one)
    (w * x).sum().backward()
    return w.grad.detach()


def toggle_requires_grad(w, x):
    w.requires_grad_(not w.requires_grad)
    return x * 2


@pytest.mark.parametrize(
    "body,match",
    [
        (hook_each_call, r"the length of w._node.hooks: 1 -> 2"),
        (toggle_requires_grad, r"w: requires_grad and hooks \(False, 0 hooks\) -> \(True, 0 hooks\)"),
    ],
)
def test_a_requires_grad_or_hook_changed_by_fn_itself_is_refused(body, match):
    w = nn.Parameter(torch.ones(2))
    f = ag.compile(lambda x: body(w, x))
    f(torch.ones(2))
    with pytest.raises(TraceError, match="changes Python state that a replay would leave as it is .*" + match):
        f(torch.ones(2))


def test_a_python_value_beyond_the_walk_is_stale_and_check_mode_catches_it():
    scale = numpy.array([2.0])  # (a library object: the walk checks that it is the same array, not inside it)
    f = ag.compile(lambda x: x * float(scale[0]), check=2)
    x = torch.ones(2)
    f(x)
    f(x)  # checked: equal
    scale[0] = 3.0
    with pytest.raises(CheckError, match="replay differs from eager execution in the return value leaf 0"):
        f(x)


def test_guard_makes_a_python_value_part_of_the_trace():
    scale = {"value": 2.0}
    f = ag.compile(lambda x: x * ag.compile.guard(lambda: scale["value"]))
    x = torch.ones(2)
    equal(f(x), x * 2)
    equal(f(x), x * 2)
    scale["value"] = 3.0
    equal(f(x), x * 3)
    assert (f.traces, f.replays) == (2, 1)
    with pytest.raises(TypeError, match="not a tensor"):
        ag.compile(lambda x: x * ag.compile.guard(lambda: torch.ones(1)))(x)


def test_is_tracing_is_true_only_while_a_call_is_recorded():
    seen = queue.SimpleQueue()  # (a library object: putting into it is no Python state the trace checks)
    f = ag.compile(lambda x: seen.put(ag.compile.is_tracing()) or x + 1)
    f(torch.ones(1))
    f(torch.ones(1))
    assert seen.get() is True and seen.empty() and not ag.compile.is_tracing()


@pytest.mark.parametrize(
    "body, match",
    [
        (lambda x: x.sum().item(), r"value into Python as a float \(aten._local_scalar_dense"),
        (lambda x: float(x.sum()), r"as a float"),
        (lambda x: print(x), r"Tensor.__repr__.*print outside fn"),
        (lambda x: x.tolist(), r"Tensor.tolist"),
        (lambda x: x.numpy().sum(), r"Tensor.numpy"),
        (lambda x: ag.Variable(x, requires_grad=True) * 2, r"still part of a recorded graph \(made by mul\)"),
    ],
    ids=["item", "float", "print", "tolist", "numpy", "graph"],
)
def test_what_a_replay_could_not_repeat_is_refused_after_the_call_ran(body, match, capsys):
    with pytest.raises(TraceError, match=match):
        ag.compile(body)(torch.ones(2))


def test_integer_reads_are_checked_on_replay():
    compiled = ag.compile(lambda x: x[: int((x > 0).sum())] * 2)
    equal(compiled(torch.tensor([1.0, 2.0, -1.0])), torch.tensor([2.0, 4.0]))
    equal(compiled(torch.tensor([3.0, 1.0, -1.0])), torch.tensor([6.0, 2.0]))
    equal(compiled(torch.tensor([3.0, 1.0, 1.0])), torch.tensor([6.0, 2.0, 2.0]))
    assert (compiled.traces, compiled.replays) == (2, 1)


def test_a_read_after_updating_state_in_place_is_refused():
    counter = torch.zeros(())

    def step(x):
        counter.add_(1)
        return x * 2 if bool(counter > 0) else x

    with pytest.raises(TraceError, match=r"after it updated a tensor it did not make \(aten.add_.Tensor"):
        ag.compile(step)(torch.ones(1))
    assert counter.item() == 1  # the call ran, once, to its end


def test_an_optimizer_reading_its_step_count_is_refused_with_where():
    state = torch.zeros(())
    w = torch.ones(3)

    def step(x):
        state.add_(1)
        w.sub_(x / (1 - 0.9 ** state.item()))  # as a bias correction in Python floats would
        return w.sum()

    with pytest.raises(TraceError, match=r"as a float .*test_compile.py:\d+ in step.*steps outside fn"):
        ag.compile(step)(torch.ones(3))


def test_kept_intermediates_are_refused_but_state_made_on_the_first_call_is_not():
    kept = []
    f = ag.compile(lambda x: kept.append(x * 2) or x + 1)
    f(torch.ones(1))  # a first call may create state: traced again next time
    with pytest.raises(TraceError, match=r"keeps a tensor it computed \(shape \(1,\) float32, from aten.mul.Tensor"):
        f(torch.ones(1))
    assert len(kept) == 2


def test_check_mode_compares_state_gradients_and_results():
    (_, comp_m, _), (_, comp_o, _) = twins("seed", lambda p, lib: lib.SGD(p, lr=0.1, momentum=0.5))
    compiled = ag.compile(engine_step(comp_m, comp_o), check=True)
    for i in range(6):
        compiled(*batch(i))  # every replay of the first three is checked: no CheckError
    assert compiled.replays == 4


def test_nested_compiled_functions_record_into_the_outer_trace():
    inner = ag.compile(lambda x: x * 2)
    outer = ag.compile(lambda x: inner(x) + 1)
    for _ in range(3):
        x = torch.randn(3)
        equal(outer(x), x * 2 + 1)
    assert outer.replays == 2 and inner.traces == 0


def test_threads_replay_one_program_concurrently():
    compiled = ag.compile(sgd_update)
    params = {"w1": torch.randn(4, 8), "b1": torch.zeros(8), "w2": torch.randn(8, 2)}
    x, y = torch.randn(16, 4), torch.randn(16, 2)
    want = sgd_update(params, x, y)
    compiled(params, x, y)
    errors = []

    def worker():
        try:
            for _ in range(20):
                loss, new = compiled(params, x, y)
                equal(loss, want[0])
                equal(new["w1"], want[1]["w1"])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and compiled.replays == 80


def test_decorator_forms_methods_and_the_cuda_graph_reason_on_the_cpu():
    @ag.compile(cache_size=1)
    def f(x):
        return x + 1

    class Model:
        @ag.compile
        def __call__(self, x):
            return x * 2

    f(torch.ones(1))
    equal(Model()(torch.ones(2)), torch.full((2,), 2.0))
    assert f.__name__ == "f" and "no CUDA kernels" in f.fallback_reason
    with pytest.raises(ValueError, match="cache_size must be at least 1"):
        ag.compile(lambda x: x, cache_size=0)


def test_anomaly_mode_runs_eagerly():
    compiled = ag.compile(lambda x: x * 2)
    with ag.detect_anomaly():
        compiled(torch.ones(1))
        compiled(torch.ones(1))
    assert compiled.traces == 0


# --- CUDA graphs ---------------------------------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_cuda_graph_replay_matches_eager():
    torch.manual_seed(0)
    eager_m = seed_model(nn, factor=2).to("cuda")
    torch.manual_seed(0)
    comp_m = seed_model(nn, factor=2).to("cuda")
    eager = engine_step(eager_m, nn.SGD(eager_m.parameters(), lr=0.2, momentum=0.9))
    compiled = ag.compile(engine_step(comp_m, nn.SGD(comp_m.parameters(), lr=0.2, momentum=0.9)))
    for i in range(6):
        x, y = (t.cuda() for t in batch(i, n=4, size=16))
        torch.testing.assert_close(compiled(x, y).data, eager(x, y).data, rtol=1e-6, atol=1e-6)
        for pe, pc in zip(eager_m.parameters(), comp_m.parameters()):
            torch.testing.assert_close(pc.data, pe.data, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(pc.grad.data, pe.grad.data, rtol=1e-6, atol=1e-6)
    assert compiled.fallback_reason is None


@cuda
def test_cuda_steps_that_read_values_replay_without_a_graph_and_say_why():
    compiled = ag.compile(lambda x: x * 2 if bool((x > 0).all()) else x)
    x = torch.ones(3, device="cuda")
    for _ in range(3):
        equal(compiled(x), x * 2)
    assert "reads tensor values into Python" in compiled.fallback_reason
    off = ag.compile(lambda x: x + 1, cuda_graph=False)
    off(x)
    assert off.fallback_reason == "disabled by cuda_graph=False"
