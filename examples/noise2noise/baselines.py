"""Classical denoisers to compare against, each with its one parameter tuned on training crops."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as tnf
from skimage.restoration import denoise_tv_chambolle

from .metrics import psnr

BLUR_SIGMAS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0]
TV_WEIGHTS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """3x3 Gaussian blur of N x 3 x H x W images (0..1), reflecting at the borders."""
    r = torch.tensor([-1.0, 0.0, 1.0])
    k1 = torch.exp(-(r**2) / (2 * sigma**2))
    k = torch.outer(k1, k1)
    k = (k / k.sum()).to(x.dtype).expand(3, 1, 3, 3)
    return tnf.conv2d(tnf.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=3)


def tv(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Total-variation denoising (Chambolle), image by image."""
    out = [denoise_tv_chambolle(img.permute(1, 2, 0).numpy(), weight=weight, channel_axis=-1) for img in x.double()]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.dtype)


def tune(method: str, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    """The parameter of `method` ('blur' or 'tv') maximising PSNR on (noisy, clean), and that PSNR."""
    fn, grid = (gaussian_blur, BLUR_SIGMAS) if method == "blur" else (tv, TV_WEIGHTS)
    scores = [(psnr(fn(noisy, p).clamp(0, 1), clean), p) for p in grid]
    best, param = max(scores)
    return param, best


def evaluate(
    noisy_val: torch.Tensor, clean_val: torch.Tensor, noisy_train: torch.Tensor, clean_train: torch.Tensor
) -> list[dict[str, object]]:
    """Rows (method, parameter, PSNR on validation) for the input and the tuned classical baselines."""
    rows: list[dict[str, object]] = [dict(method="noisy input", parameter="", psnr=psnr(noisy_val, clean_val))]
    for method, fn, label in (("blur", gaussian_blur, "3x3 Gaussian blur"), ("tv", tv, "total variation")):
        param, _ = tune(method, noisy_train, clean_train)
        rows.append(dict(method=label, parameter=param, psnr=psnr(fn(noisy_val, param).clamp(0, 1), clean_val)))
    return rows
