"""The denoisers, written once against either `nn` (the engine) or `torch.nn` (the torch twin).

Both libraries share names, layouts and initialisation, so after the same `torch.manual_seed` the
engine model and its torch twin start from identical weights.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

import nn

ARCHS = ("seed", "dncnn")
"""Architectures by name; the first, the course's seed model, is the default."""


def seed_model(lib: ModuleType, factor: int = 8, kernel: int = 3) -> Any:
    """The course model: two stride-2 convs down, two stride-2 transposed convs up, sigmoid output.

    Channels 3 -> 3f -> 3f^2 -> 3f -> 3 (f = `factor`); padding kernel // 2, output_padding 1.
    """
    c, p = 3, kernel // 2
    return lib.Sequential(
        lib.Conv2d(c, c * factor, kernel, 2, p),
        lib.ReLU(),
        lib.Conv2d(c * factor, c * factor**2, kernel, 2, p),
        lib.ReLU(),
        lib.ConvTranspose2d(c * factor**2, c * factor, kernel, 2, p, 1),
        lib.ReLU(),
        lib.ConvTranspose2d(c * factor, c, kernel, 2, p, 1),
        lib.Sigmoid(),
    )


def dncnn(lib: ModuleType, width: int = 32, depth: int = 6, kernel: int = 3) -> Any:
    """A DnCNN-style residual denoiser: full-resolution 3x3 convs predict the noise, out = x - noise."""
    p = kernel // 2
    layers = [lib.Conv2d(3, width, kernel, 1, p), lib.ReLU()]
    for _ in range(depth - 2):
        layers += [lib.Conv2d(width, width, kernel, 1, p), lib.ReLU()]
    layers.append(lib.Conv2d(width, 3, kernel, 1, p))
    return _residual(lib)(lib.Sequential(*layers))


def _residual(lib: ModuleType) -> type:
    class Residual(lib.Module):  # type: ignore[name-defined, misc]
        """x - body(x): the body estimates the noise."""

        def __init__(self, body: Any) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: Any) -> Any:
            return x - self.body(x)

    return Residual


def build(arch: str = "seed", backend: str = "engine", factor: int = 8, kernel: int = 3, seed: int = 0) -> Any:
    """A freshly initialised model (same seed, same weights on both backends)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    lib = nn if backend == "engine" else torch.nn
    torch.manual_seed(seed)
    return seed_model(lib, factor, kernel) if arch == "seed" else dncnn(lib, kernel=kernel)


def size_multiple(arch: str) -> int:
    """Inputs are padded to a multiple of this so the output has the input's size."""
    return 4 if arch == "seed" else 1
