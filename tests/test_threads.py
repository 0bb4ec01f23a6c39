"""Threads: training in two threads is like training one after the other."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

import autograd_engine as ag
import nn

ROOT = Path(__file__).resolve().parents[1]


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
