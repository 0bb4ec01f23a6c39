"""Optimizers against torch.optim, state dict round trips with torch.nn, and training that learns."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

import autograd_engine as ag
import nn

from .test_nn_layers import seed_model

ROOT = Path(__file__).resolve().parents[1]


def twin_mlp():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).to(torch.float64)
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    return ours, theirs


OPTIMIZERS = [
    (lambda p: nn.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda p: nn.SGD(p, lr=0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    (
        lambda p: nn.SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
    ),
    (
        lambda p: nn.SGD(p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1),
    ),
    (lambda p: nn.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (
        lambda p: nn.Adam(p, lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05),
    ),
]


def train_steps(ours, theirs, opt, topt, steps, data):
    x, y = data
    for _ in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        nn.MSE()(ours(ag.Variable(x)), y).backward()
        torch.nn.functional.mse_loss(theirs(x), y).backward()
        opt.step()
        topt.step()


@pytest.mark.parametrize("make,make_torch", OPTIMIZERS)
def test_optimizer_trajectory_matches_torch(make, make_torch, device):
    ours, theirs = twin_mlp()
    ours.to(device), theirs.to(device)
    opt, topt = make(list(ours.parameters())), make_torch(theirs.parameters())
    data = (
        torch.randn(16, 4, dtype=torch.float64, device=device),
        torch.randn(16, 2, dtype=torch.float64, device=device),
    )
    train_steps(ours, theirs, opt, topt, 6, data)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.data, b.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make,make_torch", [OPTIMIZERS[2], OPTIMIZERS[5]])
def test_optimizer_state_dict_resumes_exactly(make, make_torch, tmp_path):
    data = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    ours, theirs = twin_mlp()
    opt, topt = make(list(ours.parameters())), make_torch(theirs.parameters())
    train_steps(ours, theirs, opt, topt, 3, data)
    nn.save({"model": ours.state_dict(), "optim": opt.state_dict()}, tmp_path / "ckpt.pt")

    resumed, _ = twin_mlp()
    ckpt = nn.load(tmp_path / "ckpt.pt")
    resumed.load_state_dict(ckpt["model"])
    ropt = make(list(resumed.parameters()))
    ropt.load_state_dict(ckpt["optim"])
    train_steps(resumed, theirs, ropt, topt, 3, data)  # torch twin continues uninterrupted
    for a, b in zip(resumed.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.data, b.detach(), rtol=1e-10, atol=1e-12)
    assert set(opt.state_dict()) == set(topt.state_dict()) == {"state", "param_groups"}


def test_state_dict_round_trip_with_torch(tmp_path):
    ours, theirs = seed_model(factor=2)
    for p in theirs.parameters():
        torch.nn.init.normal_(p, std=0.1)  # make the twins differ first
    x = torch.rand(2, 3, 16, 16)
    nn.save(ours.state_dict(), tmp_path / "ours.pt")  # ours -> torch
    theirs.load_state_dict(torch.load(tmp_path / "ours.pt", weights_only=True))
    with torch.no_grad():
        torch.testing.assert_close(ours(ag.Variable(x)).data, theirs(x))
    for p in theirs.parameters():
        torch.nn.init.normal_(p, std=0.1)
    torch.save(theirs.state_dict(), tmp_path / "theirs.pt")  # torch -> ours
    ours.load_state_dict(nn.load(tmp_path / "theirs.pt"))
    with torch.no_grad():
        torch.testing.assert_close(ours(ag.Variable(x)).data, theirs(x))


def test_load_state_dict_errors_load_nothing():
    ours, _ = seed_model(factor=2)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    bad = {k: torch.zeros_like(v) for k, v in before.items()}
    bad["0.weight"] = torch.zeros(1, 2, 3, 3)
    with pytest.raises(
        RuntimeError, match=r"size mismatch for 0.weight: copying a param with shape torch.Size\(\[1, 2, 3, 3\]\)"
    ):
        ours.load_state_dict(bad)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "6.bias"'):
        ours.load_state_dict({k: v for k, v in before.items() if k != "6.bias"})
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())


def test_corrupt_checkpoint_gives_clear_error(tmp_path):
    path = nn.save({"w": torch.ones(100)}, tmp_path / "c.pt")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        nn.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        nn.load(tmp_path / "missing.pt")


def test_seed_model_training_lowers_the_loss(device):
    torch.manual_seed(0)
    model, _ = seed_model()
    model.to(device)
    clean = torch.rand(64, 3, 1, 1, device=device).expand(64, 3, 16, 16).contiguous()  # flat colour patches
    noisy_a = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    noisy_b = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    opt = nn.SGD(model.parameters(), lr=5.0)
    loss_fn = nn.MSE()
    losses = []
    for step in range(120):
        i = slice((step % 4) * 16, (step % 4 + 1) * 16)
        opt.zero_grad()
        loss = loss_fn(model(ag.Variable(noisy_a[i])), noisy_b[i])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-4:]) < 0.5 * sum(losses[:4])


@pytest.mark.parametrize("script", ["mlp.py", "functional_style.py"])
def test_examples_run(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    out = capsys.readouterr().out
    first = float(re.search(r"initial loss ([0-9.e+-]+)", out).group(1))
    last = float(re.search(r"final loss ([0-9.e+-]+)", out).group(1))
    assert last < 0.2 * first
