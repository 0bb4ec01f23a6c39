"""The two backends a model trains on, one `Backend` protocol: autograd_engine + nn, and its torch.nn twin
(same architecture, initialisation, data order and update rule); and denoising images with either."""

from __future__ import annotations

from typing import Any, Protocol

import torch

import autograd_engine as ag
import nn

from . import architectures
from .config import TrainConfig
from .noise import Noise


class Backend(Protocol):
    """A model and its optimizer, as the trainer, denoising and the course harness use them."""

    core: Any
    """The model (an nn.Module or a torch.nn.Module): its parameters and state dict."""
    model: Any
    """What trains: `core`, or its DistributedDataParallel wrapper after `distribute()`."""
    opt: Any
    """The optimizer (nn's or torch.optim's): param_groups, state_dict, load_state_dict."""

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One update on a batch of inputs and targets in 0..1; returns the batch's loss."""
        ...

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output for a batch in 0..1, without recording gradients."""
        ...

    def distribute(self) -> None:
        """Average gradients over the processes of the running torch.distributed group."""
        ...


def _trains_with_l1(cfg: TrainConfig) -> bool:
    """The paper's L1 loss for text overlays against noisy targets; L2 otherwise."""
    return Noise(cfg.noise, cfg.noise_level).loss == "l1" and cfg.target == "noisy"


class EngineBackend:
    """The model on autograd_engine + nn."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.model = self.core = architectures.build(
            cfg.arch, "engine", cfg.factor, cfg.kernel, cfg.seed, cfg.width
        ).to(device)
        params = list(self.model.parameters())
        self.opt = nn.SGD(params, lr=cfg.lr) if cfg.optimizer == "sgd" else nn.Adam(params, lr=cfg.lr)
        self.l1 = _trains_with_l1(cfg)
        self._gradients = ag.compile(self._eager_gradients) if cfg.compile else self._eager_gradients

    def _eager_gradients(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward and backward: the parameters' .grad set, the loss returned (what `--compile` replays)."""
        out = self.model(ag.Variable(x))
        loss = ag.abs(out - y).mean() if self.l1 else nn.functional.mse_loss(out, y)
        loss.backward()
        return loss.data

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.opt.zero_grad()
        loss = self._gradients(x, y)
        self.opt.step()  # (outside the compiled part: Adam's bias correction reads its step count on the host)
        return loss.item()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with ag.no_grad():
            return self.core(ag.Variable(x)).data

    def distribute(self) -> None:
        """Wrap the model for data-parallel training, eagerly: its gradient all-reduce is not replayable."""
        self.model = nn.parallel.DistributedDataParallel(self.core)
        self._gradients = self._eager_gradients


class TorchBackend:
    """The torch.nn twin: same architecture, initialisation, data order and update rule."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.model = self.core = architectures.build(cfg.arch, "torch", cfg.factor, cfg.kernel, cfg.seed, cfg.width).to(
            device
        )
        make = torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.Adam
        self.opt = make(self.model.parameters(), lr=cfg.lr)
        self.l1 = _trains_with_l1(cfg)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.opt.zero_grad()
        out = self.model(x)
        loss = (out - y).abs().mean() if self.l1 else torch.nn.functional.mse_loss(out, y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.core(x)

    def distribute(self) -> None:
        self.model = torch.nn.parallel.DistributedDataParallel(self.core)


def make_backend(cfg: TrainConfig, device: torch.device) -> Backend:
    if cfg.optimizer not in ("sgd", "adam"):
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose sgd or adam")
    return (EngineBackend if cfg.backend == "engine" else TorchBackend)(cfg, device)


def pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """`x` padded to a multiple of `multiple` in height and width, half on each side, by reflection (or by
    repeating the edge where the image is too small to reflect); and where the image starts in it.

    Reflection looks like more of the photo: on the U-Net's validation crops it scores 0.2-0.35 dB above
    repeating the edge on the bottom and right only (the seed model: 0.02-0.03 dB)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if not any(pads):
        return x, (0, 0)
    mode = "reflect" if pads[1] < w and pads[3] < h else "replicate"
    return torch.nn.functional.pad(x, pads, mode=mode), (pads[2], pads[0])


def denoise(backend: Backend, images: torch.Tensor, multiple: int, batch: int = 256) -> torch.Tensor:
    """Denoise uint8-range or 0..1 float images of any size (padded to `multiple`), result in 0..1."""
    device = next(iter(backend.core.parameters())).device
    h, w = images.shape[-2:]
    outs = []
    for chunk in images.split(batch):
        x, (top, left) = pad_to(chunk.to(device, torch.float32), multiple)
        outs.append(backend.predict(x)[..., top : top + h, left : left + w].clamp(0, 1).cpu())
    return torch.cat(outs)
