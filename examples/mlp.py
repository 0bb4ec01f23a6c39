"""A small MLP fitted to y = sin(3x) with nn.Sequential, nn.MSE and nn.Adam.

python examples/mlp.py
"""

from __future__ import annotations

import torch

import autograd_engine as ag
import nn


def main(steps: int = 300) -> None:
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 128).unsqueeze(1)
    y = torch.sin(3 * x)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = nn.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.MSE()
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(ag.Variable(x)), y)
        loss.backward()
        opt.step()
        if step == 0:
            print(f"initial loss {loss.item():.6f}")
    print(f"final loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
