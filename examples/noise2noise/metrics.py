"""PSNR as the course defines it: the mean over images of -10 log10(per-image MSE), images in 0..1."""

from __future__ import annotations

import torch


def psnr(denoised: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of N x C x H x W images on the 0..1 scale."""
    if denoised.shape != clean.shape:
        raise ValueError(f"psnr: shapes {tuple(denoised.shape)} and {tuple(clean.shape)} differ")
    mse = ((denoised.double() - clean.double()) ** 2).flatten(1).mean(1)
    return float((-10 * torch.log10(mse.clamp_min(1e-12))).mean())
