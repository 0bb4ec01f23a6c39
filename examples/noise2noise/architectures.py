"""The denoisers, written once against either `nn` (the engine) or `torch.nn` (the torch twin).

Both libraries share names, layouts and initialisation, so after the same `torch.manual_seed` the
engine model and its torch twin start from identical weights.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

import torch

import nn

ARCHS = ("seed", "dncnn", "unet")
"""Architectures by name; the first, the course's seed model, is the default."""
WIDTHS = {"dncnn": 32, "unet": 48}
"""The default width (channels) of the architectures that take one; the seed model has a factor instead."""
MIN_WIDTHS = {"dncnn": 1, "unet": 2}
"""The narrowest each can be built (the U-Net's dec_conv1b has 2 * width // 3 channels)."""
UNET_LEVELS = 5
"""The U-Net's max-poolings: its inputs' height and width are multiples of 2**5 = 32."""


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


def unet(lib: ModuleType, width: int = 48, kernel: int = 3) -> Any:
    """The Noise2Noise paper's U-Net (Lehtinen et al. 2018, appendix), `width` channels where the paper
    has 48.

    enc_conv0, enc_conv1, then enc_conv2..5 each followed by a 2x2 max-pooling (pool1..5), enc_conv6;
    the decoder upsamples (nearest, 2x), concatenates the encoder's pooled map of that size (the input, at
    the top) and applies dec_conv{i}a, dec_conv{i}b (2 * width channels, inputs 2w, 3w, 3w, 3w, then
    2w + 3); dec_conv1a/1b have 4w/3 and 2w/3 channels (64 and 32 in the paper), dec_conv1c maps to RGB
    with no activation. Every other conv is followed by leaky ReLU (slope 0.1).
    """
    return _unet(lib)(width, kernel)


@cache
def _unet(lib: ModuleType) -> type:
    class UNet(lib.Module):  # type: ignore[name-defined, misc]
        """The Noise2Noise U-Net (see `unet`); its inputs' height and width are multiples of 32."""

        def __init__(self, width: int, kernel: int) -> None:
            super().__init__()
            w, p = width, kernel // 2

            def conv(cin: int, cout: int) -> Any:
                return lib.Conv2d(cin, cout, kernel, 1, p)

            self.enc_conv0 = conv(3, w)
            for i in range(1, UNET_LEVELS + 2):
                setattr(self, f"enc_conv{i}", conv(w, w))
            for i in range(UNET_LEVELS, 1, -1):
                setattr(self, f"dec_conv{i}a", conv(2 * w if i == UNET_LEVELS else 3 * w, 2 * w))
                setattr(self, f"dec_conv{i}b", conv(2 * w, 2 * w))
            self.dec_conv1a = conv(2 * w + 3, 4 * w // 3)
            self.dec_conv1b = conv(4 * w // 3, 2 * w // 3)
            self.dec_conv1c = conv(2 * w // 3, 3)

        def forward(self, x: Any) -> Any:
            if x.ndim != 4 or x.shape[-1] % 2**UNET_LEVELS or x.shape[-2] % 2**UNET_LEVELS:
                raise ValueError(
                    f"UNet: expected N x 3 x H x W input with H and W multiples of {2**UNET_LEVELS} (it pools "
                    f"{UNET_LEVELS} times), got shape {tuple(x.shape)}; pad it (backends.denoise does)"
                )
            f = lib.functional

            def act(y: Any) -> Any:
                return f.leaky_relu(y, 0.1)

            skips = [x]  # the input, then pool1..pool4
            h = act(self.enc_conv0(x))
            for i in range(1, UNET_LEVELS + 1):
                h = f.max_pool2d(act(getattr(self, f"enc_conv{i}")(h)), 2)
                skips.append(h)
            h = act(self.enc_conv6(h))
            skips.pop()  # pool5 feeds enc_conv6, not a concatenation
            for i in range(UNET_LEVELS, 1, -1):
                h = torch.cat([f.interpolate(h, scale_factor=2, mode="nearest"), skips.pop()], 1)
                h = act(getattr(self, f"dec_conv{i}b")(act(getattr(self, f"dec_conv{i}a")(h))))
            h = torch.cat([f.interpolate(h, scale_factor=2, mode="nearest"), skips.pop()], 1)
            return self.dec_conv1c(act(self.dec_conv1b(act(self.dec_conv1a(h)))))

    return UNet


@cache
def _residual(lib: ModuleType) -> type:
    class Residual(lib.Module):  # type: ignore[name-defined, misc]
        """x - body(x): the body estimates the noise."""

        def __init__(self, body: Any) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: Any) -> Any:
            return x - self.body(x)

    return Residual


def build(
    arch: str = "seed",
    backend: str = "engine",
    factor: int = 8,
    kernel: int = 3,
    seed: int = 0,
    width: int | None = None,
) -> Any:
    """A freshly initialised model (same seed, same weights on both backends). `factor` sizes the seed
    model, `width` the others (None: their default, WIDTHS)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    check_width(arch, width)
    lib = nn if backend == "engine" else torch.nn
    torch.manual_seed(seed)
    if arch == "seed":
        return seed_model(lib, factor, kernel)
    return (dncnn if arch == "dncnn" else unet)(lib, width or WIDTHS[arch], kernel=kernel)


def check_width(arch: str, width: int | None) -> None:
    """A ValueError unless `width` (None: the default) is one `arch` can be built with."""
    if width is None:
        return
    if arch not in WIDTHS:
        raise ValueError(f"the {arch} model takes no width (its channel factor sizes it)")
    if width < MIN_WIDTHS[arch]:
        raise ValueError(f"the {arch} model needs a width of at least {MIN_WIDTHS[arch]}, got {width}")


def size_multiple(arch: str) -> int:
    """Inputs are padded to a multiple of this so the output has the input's size."""
    return {"seed": 4, "unet": 2**UNET_LEVELS}.get(arch, 1)
