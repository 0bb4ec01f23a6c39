"""Render the seed model's training graph for docs/graphs.md (expanded, by scope, collapsed).

python docs/make_graphs.py [OUT_DIR]      # default: docs/images
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import autograd_engine as ag
import nn


def seed_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 24, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(24, 192, 3, 2, 1),
        nn.ReLU(),
        nn.TransposeConv2d(192, 24, 3, 2, 1, 1),
        nn.ReLU(),
        nn.TransposeConv2d(24, 3, 3, 2, 1, 1),
        nn.Sigmoid(),
    )


def main(out_dir: Path) -> None:
    torch.manual_seed(0)
    model = seed_model()
    noisy = ag.Variable(torch.rand(64, 3, 32, 32), requires_grad=True, name="noisy input")  # drawn as a leaf
    loss = nn.MSE()(model(noisy), torch.rand(64, 3, 32, 32))
    ag.graph.render(loss, path=out_dir / "seed_expanded.svg", params=model)
    ag.graph.render(loss, path=out_dir / "seed_scopes.svg", params=model, scopes=True)
    ag.graph.render(loss, path=out_dir / "seed_collapsed.svg", params=model, collapse=1)
    print(ag.graph.summary(loss, params=model))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "images")
