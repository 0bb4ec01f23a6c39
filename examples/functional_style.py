"""A model written as a function of a params pytree, trained with ag.value_and_grad (no Module at all).

python examples/functional_style.py
"""

from __future__ import annotations

import torch

import autograd_engine as ag
import nn.functional as F


def init_params(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "conv": 0.3 * torch.randn(4, 1, 3, 3, generator=g),
        "conv_b": torch.zeros(4),
        "out": 0.3 * torch.randn(1, 4, 3, 3, generator=g),
        "out_b": torch.zeros(1),
    }


def model(params: dict, x: torch.Tensor) -> ag.Variable:
    h = F.relu(F.conv2d(x, params["conv"], params["conv_b"], padding=1))
    return F.conv2d(h, params["out"], params["out_b"], padding=1)


def loss_fn(params: dict, x: torch.Tensor, target: torch.Tensor) -> ag.Variable:
    return F.mse_loss(model(params, x), target)


def main(steps: int = 400, lr: float = 0.1) -> None:
    torch.manual_seed(0)
    x = torch.rand(16, 1, 12, 12)
    target = (x + torch.roll(x, 1, dims=3) + torch.roll(x, -1, dims=3)) / 3  # learn a horizontal box blur
    params = init_params()
    step_fn = ag.value_and_grad(loss_fn)
    for step in range(steps):
        loss, grads = step_fn(params, x, target)
        params = {k: params[k] - lr * grads[k] for k in params}
        if step == 0:
            print(f"initial loss {loss.item():.6f}")
    print(f"final loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
