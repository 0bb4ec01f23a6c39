"""Resident memory over a long training run: python -m benchmarks.soak [STEPS]

Trains the seed model (batch 16) for STEPS steps and prints resident memory every 10% of the run,
so a leak shows up as growth after the first steps warm the allocators up.
"""

from __future__ import annotations

import sys

import torch

import autograd_engine as ag
import nn
from examples.noise2noise.architectures import build


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def soak(steps: int = 1000) -> list[tuple[int, float]]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build("seed")
    opt = nn.SGD(model.parameters(), lr=1.0)
    x, y = torch.rand(16, 3, 32, 32), torch.rand(16, 3, 32, 32)
    samples = []
    for step in range(1, steps + 1):
        opt.zero_grad()
        nn.MSE()(model(ag.Variable(x)), y).backward()
        opt.step()
        if step % max(steps // 10, 1) == 0:
            samples.append((step, resident_mib()))
    return samples


if __name__ == "__main__":
    for step, mib in soak(int(sys.argv[1]) if len(sys.argv) > 1 else 1000):
        print(step, f"{mib:.1f}")
