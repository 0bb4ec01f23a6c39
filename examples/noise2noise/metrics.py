"""Image quality: PSNR as the course defines it (the mean over images of -10 log10(per-image MSE), images
in 0..1) and SSIM (scikit-image's, per image, over the colour channels), per image and as a report: each
method overall and per validation photo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from skimage.metrics import structural_similarity


def _check_shapes(name: str, denoised: torch.Tensor, clean: torch.Tensor) -> None:
    if denoised.shape != clean.shape or denoised.ndim != 4:
        raise ValueError(
            f"{name}: expected two N x C x H x W batches of one shape, got {tuple(denoised.shape)} and "
            f"{tuple(clean.shape)}"
        )


def psnr_per_image(denoised: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each image of N x C x H x W batches on the 0..1 scale (float64, N values)."""
    _check_shapes("psnr", denoised, clean)
    mse = ((denoised.double() - clean.double()) ** 2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-12))


def psnr(denoised: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of N x C x H x W images on the 0..1 scale."""
    return float(psnr_per_image(denoised, clean).mean())


def ssim_per_image(denoised: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """SSIM of each image (skimage.metrics.structural_similarity: 7 x 7 uniform window, data_range 1, the
    channels averaged); images need at least 7 pixels a side."""
    _check_shapes("ssim", denoised, clean)
    if min(clean.shape[2:]) < 7:
        raise ValueError(f"ssim: images need at least 7 x 7 pixels, got {tuple(clean.shape[2:])}")
    a, b = denoised.detach().cpu().double().numpy(), clean.detach().cpu().double().numpy()
    return torch.tensor([structural_similarity(x, y, channel_axis=0, data_range=1.0) for x, y in zip(a, b)])


@dataclass
class Scores:
    """A method's PSNR and SSIM on each validation image; `parameter` is its tuned setting, if any."""

    method: str
    psnr: torch.Tensor
    ssim: torch.Tensor
    parameter: str = ""
    denoised: torch.Tensor | None = field(default=None, repr=False)  # the images scored, for sample grids

    @classmethod
    def of(cls, method: str, denoised: torch.Tensor, clean: torch.Tensor, parameter: str = "") -> Scores:
        return cls(method, psnr_per_image(denoised, clean), ssim_per_image(denoised, clean), parameter, denoised)

    @property
    def label(self) -> str:
        return f"{self.method} ({self.parameter})" if self.parameter else self.method


def report(scores: Sequence[Scores], groups: Sequence[tuple[str, torch.Tensor]] = ()) -> str:
    """A table of each method's mean PSNR and SSIM and, when `groups` names which images show each photo,
    one of PSNR / SSIM per photo and method (the methods numbered as in the first table)."""
    width = max(len(s.label) for s in scores) + 6
    lines = [f"{'method':<{width}} {'PSNR dB':>8} {'SSIM':>7}"]
    lines += [
        f"{f'({i}) {s.label}':<{width}} {float(s.psnr.mean()):8.2f} {float(s.ssim.mean()):7.4f}"
        for i, s in enumerate(scores, 1)
    ]
    if groups:
        name_width = max(len(name) for name, _ in groups) + 2
        heads = "".join(f"{f'({i})':>17}" for i in range(1, len(scores) + 1))
        lines += ["", "per photo (dB / SSIM):", f"{'photo':<{name_width}} {'crops':>5}{heads}"]
        for name, index in groups:
            cells = "".join(f"{float(s.psnr[index].mean()):>10.2f} {float(s.ssim[index].mean()):.3f}" for s in scores)
            lines.append(f"{name:<{name_width}} {len(index):>5}{cells}")
    return "\n".join(lines)
