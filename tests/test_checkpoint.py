"""Checkpointing: the same gradients, lower peak memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

import autograd_engine as ag
import nn

from .oracles import r

ROOT = Path(__file__).resolve().parents[1]


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
