"""What a run writes beside its checkpoint (metrics.csv, the loss curves, samples.txt), and pictures of one
transformer block's graph."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

import autograd_engine as ag
from examples.noise2noise.reports import write_metrics

from .config import TrainConfig
from .model import block, init_params

__all__ = ["append_sample", "plot_metrics", "render_block_graph", "write_metrics"]


def plot_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Training and validation loss in bits per character against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [r["train_loss"] / math.log(2) for r in history], marker="o", label="training")
    ax.plot(steps, [r["val_bpc"] for r in history], marker="o", label="validation")
    ax.set(xlabel="step", ylabel="bits per character", title="loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def append_sample(path: Path, step: int, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"--- step {step} ---\n{text}\n\n")


def render_block_graph(cfg: TrainConfig, path: Path) -> list[Path]:
    """The graph of one transformer block (training mode, at the config's batch, context and width): its
    layers collapsed into one node each to `path`, and every op, grouped by layer, to PATH-expanded."""
    model = cfg.model(vocab_size=1)  # (a block does not see the vocabulary)
    params = init_params(model, cfg.seed)["h"][0]
    x = ag.Variable(torch.zeros(cfg.batch_size, cfg.context, cfg.n_embd), requires_grad=True, name="x")
    out = block(params, x, model, training=True)
    path = Path(path)
    expanded = path.with_name(f"{path.stem}-expanded{path.suffix}")
    return [
        ag.graph.render(out, path=path, params=params, collapse=0),
        ag.graph.render(out, path=expanded, params=params, scopes=True),
    ]
