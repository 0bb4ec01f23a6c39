"""Classical denoisers to compare against: a 3x3 Gaussian blur and total variation, each with its one
parameter tuned on training crops, and BM3D with the noise's sigma known (the optional `bm3d` package,
pip install -e '.[bm3d]'), which has nothing to tune."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import torch.nn.functional as tnf
from skimage.restoration import denoise_tv_chambolle
from tqdm import tqdm

from .metrics import Scores, psnr
from .noise import Noise

try:
    import bm3d as bm3d_package
except ImportError:  # the optional extra
    bm3d_package = None

BLUR_SIGMAS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0]
TV_WEIGHTS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]
BM3D_MISSING = "BM3D skipped: the bm3d package is not installed (pip install -e '.[bm3d]')"
BM3D_PER_WORKER = 8
"""BM3D runs in one process per CPU core, but on at least this many images each (starting one costs seconds)."""


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


def _bm3d_image(job: tuple[np.ndarray, float]) -> np.ndarray:
    image, sigma = job
    profile = bm3d_package.BM3DProfile()  # the default ('np') profile
    profile.num_threads = 1  # the package's own threads add in no fixed order; one each is deterministic
    return bm3d_package.bm3d_rgb(image, sigma, profile)


def bm3d(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """BM3D (bm3d.bm3d_rgb, its default profile) of N x 3 x H x W images (0..1) with Gaussian noise of standard
    deviation `sigma` (0..1 scale), image by image: about a second per 32 x 32 crop on one core, whatever the
    size up to about 128 x 128, so the images are shared among one process per CPU core."""
    if bm3d_package is None:
        raise ModuleNotFoundError(BM3D_MISSING)
    jobs = [(image, sigma) for image in x.double().permute(0, 2, 3, 1).numpy()]
    workers = max(1, min(os.cpu_count() or 1, len(jobs) // BM3D_PER_WORKER))
    bar = dict(total=len(jobs), desc="BM3D", unit="image", mininterval=0.5, leave=False, disable=None)
    if workers == 1:
        out = [_bm3d_image(job) for job in tqdm(jobs, **bar)]
    else:  # spawn: the parent's torch threads make fork unsafe
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            out = list(tqdm(pool.map(_bm3d_image, jobs, chunksize=max(1, BM3D_PER_WORKER // 2)), **bar))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.dtype)


def tune(method: str, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    """The parameter of `method` ('blur' or 'tv') maximising PSNR on (noisy, clean), and that PSNR."""
    fn, grid = (gaussian_blur, BLUR_SIGMAS) if method == "blur" else (tv, TV_WEIGHTS)
    scores = [(psnr(fn(noisy, p).clamp(0, 1), clean), p) for p in grid]
    best, param = max(scores)
    return param, best


def evaluate(
    noisy_val: torch.Tensor,
    clean_val: torch.Tensor,
    noisy_train: torch.Tensor,
    clean_train: torch.Tensor,
    noise: Noise,
    log: Callable[[str], object] = print,
) -> list[Scores]:
    """PSNR and SSIM on validation of the noisy input and each classical denoiser, blur and TV tuned on
    the training pairs; BM3D for Gaussian noise where the bm3d package is installed (`log` says why not)."""
    rows = [Scores.of("noisy input", noisy_val, clean_val)]
    for method, fn, label in (("blur", gaussian_blur, "3x3 Gaussian blur"), ("tv", tv, "total variation")):
        param, _ = tune(method, noisy_train, clean_train)
        name = "sigma" if method == "blur" else "weight"
        rows.append(Scores.of(label, fn(noisy_val, param).clamp(0, 1), clean_val, f"{name} {param:g}"))
    if noise.kind != "gaussian":
        log(f"BM3D skipped: it is for Gaussian noise, not {noise.kind}")
    elif bm3d_package is None:
        log(BM3D_MISSING)
    else:
        level = noise.level or 0.0
        rows.append(Scores.of("BM3D", bm3d(noisy_val, level / 255).clamp(0, 1), clean_val, f"sigma {level:g}, known"))
    return rows
