"""The course harness interface: `from examples.noise2noise.model import Model` (from a checkout).

model = Model()                       # the seed architecture, channel factor 8; Model(arch="unet") or "dncnn"
model.load_pretrained_model()         # the shipped checkpoint (pretrained/<arch>.pt in the repository)
model = Model(weights="seed.pt")      # or weights from any file: a copy of a shipped one, a run's best.pt
model.train(train_input, train_target, num_epochs)   # uint8-range float tensors N x 3 x H x W
denoised = model.predict(test_input)  # same shape, values in 0..255
"""

from __future__ import annotations

from pathlib import Path

import torch

import autograd_engine as ag
import nn

from . import architectures, checkpoints
from .backends import EngineBackend, denoise
from .config import TrainConfig, recipe

ARCHS = architectures.ARCHS
PRETRAINED = Path(__file__).resolve().parent / "pretrained"


def shipped_weights(arch: str) -> Path:
    """The shipped checkpoint of `arch` (pretrained/<arch>.pt), or a FileNotFoundError saying where they are."""
    path = PRETRAINED / f"{arch}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped weights at {path}: they are in the repository's examples/noise2noise/pretrained/ "
            "(the wheel does not install them); pass a copy with Model(weights=path)"
        )
    return path


class Model:
    """A Noise2Noise denoiser on autograd-engine with the course's train/predict interface.

    `weights` loads a checkpoint (a shipped pretrained/*.pt, a train run's best.pt or checkpoint.pt); its
    config then sets the architecture, its size (channel factor or width) and kernel size, and `arch`, if
    given, must agree. Training uses the architecture's recipe (optimizer and lr) without a schedule.
    """

    def __init__(self, arch: str | None = None, device: str | None = None, weights: str | Path | None = None) -> None:
        if arch is not None and arch not in ARCHS:
            raise ValueError(f"Model: unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._build(arch, weights)

    def _build(self, arch: str | None, weights: str | Path | None) -> None:
        """A fresh model and optimizer, sized as the config in `weights` says (if any), holding its weights."""
        saved = checkpoints.read(weights, weights_only=True) if weights is not None else None
        built = TrainConfig.from_dict(saved.get("config", {})) if saved is not None else TrainConfig()
        if saved is not None and "config" in saved and arch not in (None, built.arch):
            raise checkpoints.CheckpointError(
                f"{weights}: holds a {built.arch} model, not {arch}; use Model(arch={built.arch!r}, weights=...)"
            )
        self.arch = arch or built.arch
        self.config = TrainConfig(
            arch=self.arch,
            factor=built.factor,
            kernel=built.kernel,
            width=built.width,
            batch_size=64,
            device=str(self.device),
            **(recipe(self.arch) | {"schedule": "constant"}),
        )
        self.backend = EngineBackend(self.config, self.device)
        if saved is not None and weights is not None:
            checkpoints.load_weights(self.model, saved["model"], weights)

    @property
    def model(self) -> nn.Module:
        return self.backend.core

    def load_pretrained_model(self) -> None:
        """Load the shipped checkpoint for this architecture (pretrained/<arch>.pt beside this file, in a
        checkout; the wheel does not install it: elsewhere pass a copy with Model(weights=path)). The model
        is rebuilt at the size the checkpoint records, with a fresh optimizer."""
        self._build(self.arch, shipped_weights(self.arch))

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
