"""What a run writes beside its checkpoint: metrics.csv, the loss and PSNR curves, a grid of sample
denoisings, and pictures of the training graph; and evaluate's grid of every method on the same crops."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import autograd_engine as ag
import nn

from . import architectures, data
from .config import TrainConfig
from .metrics import Scores


def write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def plot_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(epochs, [r["train_loss"] for r in history], marker="o")
    a.set(xlabel="epoch", ylabel="training loss", title="loss")
    b.plot(epochs, [r["val_psnr"] for r in history], marker="o", color="tab:green")
    b.set(xlabel="epoch", ylabel="dB", title="validation PSNR")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_samples(path: Path, val: data.Pairs, denoised: torch.Tensor, scale: int = 4) -> None:
    """A PNG grid: noisy inputs, denoised outputs and clean images in three rows."""
    from PIL import Image

    n = len(denoised)
    rows = [val.input[:n].float() / 255, denoised, val.target[:n].float() / 255]
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # 3 x (3h) x (n w)
    img = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.Resampling.NEAREST).save(path)


def save_comparison(
    path: Path, scores: Sequence[Scores], noisy: torch.Tensor, clean: torch.Tensor, picks: Sequence[tuple[str, int]]
) -> None:
    """A figure of the crops `picks` ((photo name, crop index)), one per row: the noisy input, each scored
    method's output with its PSNR on that crop, and the clean crop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns: list[tuple[str, torch.Tensor, torch.Tensor | None]] = [("noisy input", noisy, None)]
    columns += [(s.method, s.denoised, s.psnr) for s in scores if s.denoised is not None and s.method != "noisy input"]
    columns.append(("clean", clean, None))
    fig, axes = plt.subplots(len(picks), len(columns), figsize=(1.6 * len(columns), 1.75 * len(picks)), squeeze=False)
    for row, (photo, i) in enumerate(picks):
        for col, (name, images, psnr) in enumerate(columns):
            ax = axes[row][col]
            ax.imshow(images[i].clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(textwrap.fill(name, 22), fontsize=7)
            if psnr is not None:
                ax.set_xlabel(f"{float(psnr[i]):.2f} dB", fontsize=7)
            if col == 0:
                ax.set_ylabel(photo, fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_graph(cfg: TrainConfig, path: Path) -> list[Path]:
    """The engine model's training graph (forward + loss at the configured batch size): expanded and collapsed."""
    model = architectures.build(cfg.arch, "engine", cfg.factor, cfg.kernel, cfg.seed, cfg.width)
    noisy = ag.Variable(torch.zeros(cfg.batch_size, 3, 32, 32), requires_grad=True, name="noisy input")
    loss = nn.MSE()(model(noisy), torch.zeros(cfg.batch_size, 3, 32, 32))
    path = Path(path)
    collapsed = path.with_name(f"{path.stem}-collapsed{path.suffix}")
    return [
        ag.graph.render(loss, path=path, params=model, scopes=True, max_nodes=2000),
        ag.graph.render(loss, path=collapsed, params=model, collapse=1),
    ]
