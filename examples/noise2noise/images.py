"""Reading and writing images: any file Pillow opens, in any mode and bit depth, as uint8 RGB (3, H, W);
written in the format that the file name's extension names.

How values become 0..255:
- 8-bit modes (1, L, P, RGB, CMYK, YCbCr, LAB, HSV, ...) through Pillow's own conversion to RGB.
- Integer modes wider than 8 bits (I;16, I;16B, ..., I) keep their top 8 bits: v >> (bits - 8), where
  `bits` is what the file declares (a TIFF's BitsPerSample, so 12-bit data spans 0..4095; 16 for PNG
  and PGM/PPM; otherwise the mode's width, with I signed). A 16-bit 65535 reads as 255 and 257 * v as v.
  48-bit RGB and 64-bit RGBA PNGs come out of Pillow the same way (it keeps each sample's high byte).
  Negative values of signed data read as 0.
- F (floating point): values in 0..1 when the image's largest finite value is at most 1, else 0..255;
  rounded, clipped to 0..255, NaN as 0.
- Alpha (LA, PA, RGBA, P with transparency) is dropped, not composited, as torchvision does when asked for RGB.
- The EXIF orientation tag is applied, so the pixels are upright as a viewer shows them.
An image over Pillow's decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS) is refused, not read.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

# extension -> (Pillow format, save options); the same formats are read by the --images folder loader
WRITE_FORMATS: dict[str, tuple[str, dict[str, int]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".webp": ("WEBP", {"quality": 95}),
}
READ_SUFFIXES = (*WRITE_FORMATS, ".gif", ".pgm", ".ppm", ".pnm")

_INTEGER_MODES = {
    "I": (32, True),
    "I;16": (16, False),
    "I;16L": (16, False),
    "I;16B": (16, False),
    "I;16N": (16, False),
}
_TIFF_BITS_PER_SAMPLE, _TIFF_SAMPLE_FORMAT, _TIFF_SIGNED = 258, 339, 2

PathLike = str | os.PathLike[str]


class ImageError(ValueError):
    """An image file that cannot be read, or a name or tensor that cannot be written."""


def read_image(path: PathLike) -> torch.Tensor:
    """The image at `path` as a uint8 tensor (3, H, W), RGB, scaled as the module's docstring says."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # over the limit is an error, not a warning
            with Image.open(path) as im:
                ImageOps.exif_transpose(im, in_place=True)
                rgb = _to_rgb(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else str(e)
        raise ImageError(
            f"{path}: {size} is over Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            f"(PIL.Image.MAX_IMAGE_PIXELS); use a smaller image, or raise that limit if you trust the file"
        ) from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Exception as e:  # Pillow raises many types for damaged files
        raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from e
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _to_rgb(im: Image.Image) -> np.ndarray:
    """H x W x 3 uint8."""
    if im.mode in _INTEGER_MODES:
        bits, signed = _declared_bits(im)
        values = np.asarray(im).astype(np.int64)
        if not signed:
            values %= 2**bits  # unsigned 32-bit data arrives in Pillow's signed int32
        magnitude = bits - 1 if signed else bits
        gray = values.clip(0, 2**magnitude - 1) >> max(magnitude - 8, 0)
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    if im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        finite = values[np.isfinite(values)]
        scale = 255.0 if finite.size == 0 or finite.max() <= 1 else 1.0
        gray = np.round(np.clip(np.nan_to_num(values * scale, nan=0.0), 0, 255))
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    return np.array(im.convert("RGB"), dtype=np.uint8)  # a writable copy; ValueError for a mode Pillow cannot convert


def _declared_bits(im: Image.Image) -> tuple[int, bool]:
    """(bits per sample, signed) that the file declares for an integer mode."""
    if im.format == "TIFF":
        tags = im.tag_v2  # type: ignore[attr-defined]
        if _TIFF_BITS_PER_SAMPLE in tags:
            signed = _first(tags.get(_TIFF_SAMPLE_FORMAT, 1)) == _TIFF_SIGNED
            return _first(tags[_TIFF_BITS_PER_SAMPLE]), signed
    if im.format in ("PNG", "PPM"):
        return 16, False  # 16-bit PNG; PGM/PPM with maxval > 255, which Pillow stretches to 0..65535
    return _INTEGER_MODES[im.mode]


def _first(tag: int | tuple[int, ...]) -> int:
    return int(tag[0] if isinstance(tag, tuple) else tag)


def check_writable_format(path: PathLike) -> tuple[str, dict[str, int]]:
    """(Pillow format, save options) for the extension of `path`, or an ImageError naming the choices."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ImageError(
            f"{path}: cannot write images with the extension {suffix!r}; use one of {', '.join(WRITE_FORMATS)}"
        )
    return WRITE_FORMATS[suffix]


def write_image(path: PathLike, image: torch.Tensor) -> None:
    """Write a (3, H, W) image, uint8 (or floating point in 0..1, clipped and rounded), in the format of
    the extension of `path` (JPEG and WebP at quality 95); creates missing parent folders."""
    fmt, options = check_writable_format(path)
    if image.ndim != 3 or image.shape[0] != 3 or not (image.dtype == torch.uint8 or image.is_floating_point()):
        raise ImageError(
            f"{path}: write_image expects a 3 x H x W uint8 tensor (or floating point in 0..1), got shape "
            f"{tuple(image.shape)} and dtype {image.dtype}"
        )
    if image.is_floating_point():
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.detach().cpu().permute(1, 2, 0).numpy()).save(path, fmt, **options)
