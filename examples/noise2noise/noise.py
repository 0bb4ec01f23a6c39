"""Noise models from the Noise2Noise paper, on uint8 images (N, 3, H, W), each with its training loss.

Every model maps clean uint8 to noisy uint8 (noisy = clip(round(clean + noise))) deterministically
from a torch.Generator, so data sets rebuild bit for bit. Noise2Noise's training targets are drawn
without the clip (int16): clipping to 0..255 moves the mean of a noisy pixel near black or white off its
clean value, and a network trained on such targets learns that moved mean, not the clean image.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class Noise:
    """A noise model: `kind` is gaussian, poisson, bernoulli or text; `level` its strength.

    gaussian: standard deviation on the 0..255 scale (default 25); poisson: photon count lambda for a
    white pixel (default 30); bernoulli: probability that a pixel is dropped to 0 (default 0.5); text:
    fraction of pixels covered by random text (default 0.25).
    """

    kind: str = "gaussian"
    level: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_LEVELS:
            raise ValueError(f"unknown noise {self.kind!r}; choose one of {', '.join(DEFAULT_LEVELS)}")
        level = DEFAULT_LEVELS[self.kind] if self.level is None else self.level
        in_range, rule = LEVEL_RANGES[self.kind]
        if not in_range(level):
            raise ValueError(f"{self.kind} noise: {rule}, got {level}")
        object.__setattr__(self, "level", level)

    @property
    def loss(self) -> str:
        """The paper's loss for this noise: L1 for text overlays (the median is the clean pixel), else L2."""
        return "l1" if self.kind == "text" else "l2"

    def apply(self, clean: torch.Tensor, gen: torch.Generator, clip: bool = True) -> torch.Tensor:
        """Noisy copy of `clean` (uint8, N x 3 x H x W): uint8, or int16 rounded but not clipped."""
        x, level = clean.to(torch.float32), cast(float, self.level)  # set by __post_init__
        if self.kind == "gaussian":
            noisy = x + level * torch.randn(x.shape, generator=gen)
        elif self.kind == "poisson":
            noisy = torch.poisson(x / 255 * level, generator=gen) / level * 255
        elif self.kind == "bernoulli":
            keep = torch.rand(x.shape[0], 1, *x.shape[2:], generator=gen) >= level
            noisy = x * keep
        else:
            noisy = _overlay_text(clean, level, int(torch.randint(2**31, (1,), generator=gen)))
        noisy = noisy.round()
        return noisy.clamp(0, 255).to(torch.uint8) if clip else noisy.to(torch.int16)


DEFAULT_LEVELS = {"gaussian": 25.0, "poisson": 30.0, "bernoulli": 0.5, "text": 0.25}
LEVEL_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "gaussian": (lambda v: 0 <= v < math.inf, "sigma must be a finite number >= 0"),
    "poisson": (lambda v: 0 < v < math.inf, "lambda must be a finite number > 0"),
    "bernoulli": (lambda v: 0 <= v < 1, "the drop probability must be at least 0 and below 1"),
    "text": (lambda v: 0 <= v <= 1, "the coverage must be from 0 to 1"),
}
"""Per noise model, the levels it takes (NaN is in no range) and what it says otherwise."""


def _overlay_text(clean: torch.Tensor, coverage: float, seed: int) -> torch.Tensor:
    """Random strings in random colours, sizes and places until `coverage` of each image is covered."""
    rng = random.Random(seed)
    fonts = [ImageFont.load_default(size) for size in (8, 10, 12, 16)]
    out = clean.permute(0, 2, 3, 1).numpy().copy()
    h, w = out.shape[1:3]
    for img in out:
        covered = np.zeros((h, w), dtype=bool)
        for _ in range(50):
            if covered.mean() >= coverage:
                break
            mask = Image.new("L", (w, h), 0)
            text = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(2, 8)))
            ImageDraw.Draw(mask).text(
                (rng.randint(-w // 2, w - 2), rng.randint(-4, h - 4)), text, fill=255, font=rng.choice(fonts)
            )
            hit = np.asarray(mask) > 127
            img[hit] = [rng.randint(0, 255) for _ in range(3)]
            covered |= hit
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(torch.float32)
