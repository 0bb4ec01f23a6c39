"""The course harness interface: `from examples.noise2noise.model import Model` (repo root or `pip install .`).

model = Model()                       # the seed architecture, channel factor 8
model.load_pretrained_model()         # the shipped checkpoint (pretrained/seed.pt)
model.train(train_input, train_target, num_epochs)   # uint8-range float tensors N x 3 x H x W
denoised = model.predict(test_input)  # same shape, values in 0..255
"""

from __future__ import annotations

from pathlib import Path

import torch

import autograd_engine as ag
import nn

from . import architectures
from .train import EngineBackend, TrainConfig, denoise

ARCHS = architectures.ARCHS
PRETRAINED = Path(__file__).resolve().parent / "pretrained"
_DEFAULTS = {"seed": dict(optimizer="sgd", lr=5.0), "dncnn": dict(optimizer="adam", lr=1e-3)}


class Model:
    """A Noise2Noise denoiser on autograd-engine with the course's train/predict interface."""

    def __init__(self, arch: str = "seed", device: str | None = None) -> None:
        if arch not in ARCHS:
            raise ValueError(f"Model: unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        self.arch = arch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.config = TrainConfig(arch=arch, batch_size=64, device=str(self.device), **_DEFAULTS[arch])
        self.backend = EngineBackend(self.config, self.device)

    @property
    def model(self) -> nn.Module:
        return self.backend.core

    def load_pretrained_model(self) -> None:
        """Load the shipped checkpoint for this architecture (pretrained/<arch>.pt)."""
        path = PRETRAINED / f"{self.arch}.pt"
        state = nn.load(path, map_location=self.device)
        self.model.load_state_dict(state["model"] if "model" in state else state)

    def train(self, train_input: torch.Tensor, train_target: torch.Tensor, num_epochs: int) -> None:
        """Train on pairs of images with values in 0..255 (float or uint8), N x 3 x H x W."""
        if train_input.shape != train_target.shape or train_input.ndim != 4 or train_input.shape[1] != 3:
            raise ValueError(
                f"Model.train: expected two N x 3 x H x W tensors of equal shape, got "
                f"{tuple(train_input.shape)} and {tuple(train_target.shape)}"
            )
        gen = torch.Generator().manual_seed(self.config.seed)
        bs = self.config.batch_size
        for _ in range(num_epochs):
            for idx in torch.randperm(len(train_input), generator=gen).split(bs):
                x = train_input[idx].to(self.device, torch.float32) / 255
                y = train_target[idx].to(self.device, torch.float32) / 255
                self.backend.train_step(x, y)

    def predict(self, test_input: torch.Tensor) -> torch.Tensor:
        """Denoise images with values in 0..255 (any H, W); returns floats in 0..255 of the same shape."""
        if test_input.ndim != 4 or test_input.shape[1] != 3:
            raise ValueError(f"Model.predict: expected N x 3 x H x W images, got shape {tuple(test_input.shape)}")
        with ag.no_grad():
            out = denoise(self.backend, test_input.float() / 255, architectures.size_multiple(self.arch))
        return (out * 255).to(test_input.device)
