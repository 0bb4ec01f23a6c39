"""Memory: no node outlives backward, resident memory stays flat over training."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import torch

import autograd_engine as ag
import nn

ROOT = Path(__file__).resolve().parents[1]


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
