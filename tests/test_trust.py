"""Trustworthy gradients: anomaly mode, hooks, checkpointing, forward mode, numerics, memory, threads."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest
import torch
import torch.nn.functional as tnf

import autograd_engine as ag
import nn

ROOT = Path(__file__).resolve().parents[1]


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


# --- anomaly mode -----------------------------------------------------------------------------------
def test_anomaly_in_forward_names_op_shapes_and_line():
    x = ag.Variable(torch.tensor([1.0, -1.0]), requires_grad=True)
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as info:
        ag.log(x)  # log(-1) = nan
    message = str(info.value)
    assert "log produced nan in the forward pass" in message and "(2,) float32" in message
    assert f"{__file__}:" in message and "test_anomaly_in_forward_names_op_shapes_and_line" in message
    ag.log(x)  # outside anomaly mode nothing is checked


def test_anomaly_in_backward_names_the_op_that_recorded_it():
    x = ag.Variable(torch.tensor([0.0, 1.0]), requires_grad=True)

    @ag.detect_anomaly()
    def run():
        y = ag.sqrt(x)  # finite forward, infinite derivative at 0
        y.sum().backward()

    with pytest.raises(ag.AnomalyError, match=r"gradient of pow for its input 0 is inf .* recorded at .*test_trust"):
        run()
    assert not ag.is_anomaly_enabled()


def test_anomaly_mode_records_nothing_when_off():
    x = ag.Variable(torch.ones(2), requires_grad=True)
    assert (x * 2).node.trace is None
    with ag.detect_anomaly():
        assert "test_trust.py" in (x * 2).node.trace


# --- hooks ----------------------------------------------------------------------------------------
def test_variable_hooks_see_and_replace_gradients():
    x = ag.Variable(r(3), requires_grad=True)
    h = x * 2
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.data.clone()))
    h.register_hook(lambda g: g * 10)  # replaces what flows on to x
    (h * h).sum().backward()
    torch.testing.assert_close(seen[0], 2 * h.data)
    torch.testing.assert_close(x.grad.data, 2 * 10 * 2 * h.data)
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert len(seen) == 1


def test_leaf_hook_changes_accumulated_grad_and_shape_is_checked():
    x = ag.Variable(r(3), requires_grad=True)
    x.register_hook(lambda g: torch.zeros_like(g.data))
    (x * 3).sum().backward()
    torch.testing.assert_close(x.grad.data, torch.zeros(3, dtype=torch.float64))
    y = ag.Variable(r(3), requires_grad=True)
    y.register_hook(lambda g: torch.zeros(2))
    with pytest.raises(RuntimeError, match=r"returned a gradient of shape \(2,\), expected \(3,\)"):
        (y * 3).sum().backward()


def test_retain_grad_for_non_leaves():
    x = ag.Variable(r(3), requires_grad=True)
    h = x.exp()
    h.retain_grad()
    h.retain_grad()  # idempotent
    (h * 3).sum().backward(retain_graph=True)
    torch.testing.assert_close(h.grad.data, torch.full((3,), 3.0, dtype=torch.float64))
    (h * 3).sum().backward()  # accumulates like a leaf
    torch.testing.assert_close(h.grad.data, torch.full((3,), 6.0, dtype=torch.float64))


def test_module_forward_hook():
    layer = nn.Linear(3, 2)
    calls = []
    handle = layer.register_forward_hook(lambda m, inputs, out: calls.append((m, inputs[0].shape, out.shape)))
    layer(ag.Variable(torch.ones(4, 3)))
    assert calls == [(layer, (4, 3), (4, 2))]
    replaced = layer.register_forward_hook(lambda m, inputs, out: out * 0)
    assert float(layer(ag.Variable(torch.ones(4, 3))).sum()) == 0.0
    handle.remove()
    replaced.remove()
    layer(ag.Variable(torch.ones(1, 3)))
    assert len(calls) == 2


# --- checkpointing --------------------------------------------------------------------------------
def test_checkpoint_gives_the_same_gradients(device):
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 3, 3, 1, 1)).to(torch.float64).to(device)
    x = r(2, 3, 8, 8).to(device)

    def grads(use_checkpoint):
        block.zero_grad()
        xv = ag.Variable(x, requires_grad=True)
        out = ag.checkpoint(block, xv) if use_checkpoint else block(xv)
        ag.sigmoid(out).sum().backward()
        return [xv.grad.data] + [p.grad.data for p in block.parameters()]

    plain, checkpointed = grads(False), grads(True)
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b)
    xv = ag.Variable(x, requires_grad=True)
    out = ag.checkpoint(block, xv)
    assert out.op == "checkpoint_call" and out.node.saved_bytes() == x.numel() * 8  # only the input is kept
    block.zero_grad()
    ag.sigmoid(out).sum().backward(retain_graph=True)
    ag.sigmoid(out).sum().backward()  # a second backward recomputes again, for its own gradient
    torch.testing.assert_close(xv.grad.data, 2 * plain[0])
    torch.testing.assert_close(block[0].weight.grad.data, 2 * plain[1])


def test_checkpoint_lowers_peak_memory_of_a_deep_stack():
    """DnCNN's body in checkpointed segments: the ReLU outputs inside a segment are not kept. (The seed
    model has nothing to drop: each ReLU keeps only the output that the next convolution keeps.)"""
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    peaks = {}
    for variant in ("engine-dncnn", "engine-dncnn-checkpointed"):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", variant, "64"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        peaks[variant] = int(out.stdout.split()[-1])
    assert peaks["engine-dncnn-checkpointed"] < 0.95 * peaks["engine-dncnn"]


# --- forward mode -----------------------------------------------------------------------------------
def test_jvp_and_hvp_match_torch_func(device):
    f = lambda a, b: ag.softmax(a @ b, 1)  # noqa: E731
    tf = lambda a, b: torch.softmax(a @ b, 1)  # noqa: E731
    a, b, ta, tb = (r(*shape).to(device) for shape in [(3, 4), (4, 2), (3, 4), (4, 2)])
    out, tangent = ag.jvp(f, (a, b), (ta, tb))
    t_out, t_tangent = torch.func.jvp(tf, (a, b), (ta, tb))
    torch.testing.assert_close(out, t_out)
    torch.testing.assert_close(tangent, t_tangent)
    g = lambda x: (ag.sigmoid(x) * x).sum()  # noqa: E731
    x, v = r(5).to(device), r(5).to(device)
    value, hv = ag.hvp(g, (x,), (v,))
    expected = torch.func.jvp(torch.func.grad(lambda x: (torch.sigmoid(x) * x).sum()), (x,), (v,))[1]
    torch.testing.assert_close(hv, expected)
    torch.testing.assert_close(value, (torch.sigmoid(x) * x).sum())
    with pytest.raises(ValueError, match="tangent shape"):
        ag.jvp(f, (a, b), (ta, r(3).to(device)))


# --- numerics ---------------------------------------------------------------------------------------
EXTREMES = [-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "name,fn,ref",
    [
        ("sigmoid", ag.sigmoid, torch.sigmoid),
        ("tanh", ag.tanh, torch.tanh),
        ("softplus", ag.softplus, torch.nn.functional.softplus),
        ("logsumexp", lambda x: ag.logsumexp(x, 0), lambda x: torch.logsumexp(x, 0)),
        ("log_softmax", lambda x: ag.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0)),
        ("softmax", lambda x: ag.softmax(x, 0), lambda x: torch.softmax(x, 0)),
    ],
)
def test_stable_for_large_inputs_in_every_float_dtype(name, fn, ref, dtype, device):
    x = ag.Variable(torch.tensor(EXTREMES, dtype=dtype, device=device), requires_grad=True)
    y = fn(x)
    assert y.dtype == dtype and bool(torch.isfinite(y.data).all())
    weights = torch.linspace(0.5, 1.5, y.numel(), device=device).to(dtype).reshape(y.shape)
    (y * weights).sum().backward()
    assert x.grad.dtype == dtype and bool(torch.isfinite(x.grad.data).all())
    xt = torch.tensor(EXTREMES, dtype=torch.float64, device=device, requires_grad=True)
    (ref(xt) * weights.double()).sum().backward()
    yt = ref(xt)
    tol = {torch.float64: 1e-9, torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(y.data.double(), yt.detach(), rtol=tol, atol=tol * 3)
    torch.testing.assert_close(x.grad.data.double(), xt.grad, rtol=tol, atol=tol * 3)


@pytest.mark.parametrize(
    "fn,ref", [(ag.relu, torch.relu), (ag.sigmoid, torch.sigmoid), (ag.tanh, torch.tanh), (ag.softplus, tnf.softplus)]
)
def test_nan_and_infinity_pass_through_activations_like_torch(fn, ref, device):
    values = [float("nan"), float("-inf"), float("inf"), -0.0, 0.0, 2.0]
    x = ag.Variable(torch.tensor(values, dtype=torch.float64, device=device), requires_grad=True)
    xt = torch.tensor(values, dtype=torch.float64, device=device, requires_grad=True)
    y, yt = fn(x), ref(xt)
    torch.testing.assert_close(y.data, yt.detach(), equal_nan=True)
    y.sum().backward()
    yt.sum().backward()
    torch.testing.assert_close(x.grad.data, xt.grad, equal_nan=True)


# --- memory -----------------------------------------------------------------------------------------
def test_no_graph_node_outlives_backward_and_no_cycles(device):
    gc.collect()
    gc.disable()
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.TransposeConv2d(4, 3, 3, 2, 1, 1), nn.Sigmoid())
        model.to(device)
        x = ag.Variable(torch.rand(2, 3, 8, 8, device=device), requires_grad=True)
        h = model[1](model[0](x))
        loss = nn.MSE()(model[3](model[2](h)), torch.rand(2, 3, 8, 8, device=device))
        graph_nodes = []
        stack = [loss.node]
        while stack:
            node = stack.pop()
            graph_nodes.append(weakref.ref(node))
            stack.extend(p for p in node.parents if p is not None)
        del stack, node, h
        loss.backward()
        del loss
        alive = [ref() for ref in graph_nodes if ref() is not None]
        assert all(n.prim is None for n in alive), [n.name for n in alive if n.prim is not None]  # leaves only
    finally:
        gc.enable()


def test_resident_memory_stays_flat_over_training():
    code = """
import resource, torch, autograd_engine as ag, nn
from examples.noise2noise.architectures import build
torch.set_num_threads(1)
torch.manual_seed(0)
model = build("seed", factor=4)
opt = nn.SGD(model.parameters(), lr=1.0)
x, y = torch.rand(16, 3, 32, 32), torch.rand(16, 3, 32, 32)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
for step in range(300):
    opt.zero_grad()
    nn.MSE()(model(ag.Variable(x)), y).backward()
    opt.step()
    if step == 50:
        start = rss()
print(rss() - start)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert int(out.stdout.split()[-1]) < 8 * 2**20  # 250 steps grow resident memory by less than 8 MiB


# --- threads ----------------------------------------------------------------------------------------
def small_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)  # torch's global generator is shared by threads: build models before starting them
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).to(torch.float64)


def train_small(model: nn.Module, seed: int, results: dict[int, list[float]]) -> None:
    opt = nn.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 4, generator=g, dtype=torch.float64), torch.randn(32, 1, generator=g, dtype=torch.float64)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = nn.MSE()(model(ag.Variable(x)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        with ag.no_grad():  # per-thread: must not switch recording off in the other thread
            model(ag.Variable(x))
    results[seed] = losses


def test_two_threads_train_like_one_after_the_other():
    sequential: dict[int, list[float]] = {}
    for seed in (1, 2):
        train_small(small_model(seed), seed, sequential)
    threaded: dict[int, list[float]] = {}
    models = {seed: small_model(seed) for seed in (1, 2)}
    threads = [threading.Thread(target=train_small, args=(models[s], s, threaded)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (1, 2):  # parallel kernels may round differently: equal up to float64 noise
        torch.testing.assert_close(threaded[seed], sequential[seed], rtol=1e-10, atol=1e-12)
