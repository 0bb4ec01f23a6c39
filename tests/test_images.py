"""examples/noise2noise/images.py: every Pillow mode and bit depth read as uint8 RGB with known values,
writing in the format the extension names, the decompression-bomb limit, and the CLI and folder loader
that use them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from examples.noise2noise import cli, data, images

RAMP16 = np.arange(0, 65536, 257 * 3 + 1, dtype=np.uint16)  # 0, 772, ..., 64848: 85 values
TOP8 = torch.from_numpy((RAMP16 >> 8).astype(np.uint8))  # the documented rule: a 16-bit v reads as v >> 8


def png16(path, samples: np.ndarray, color_type: int) -> None:
    """A 16-bit-per-sample PNG written by hand (Pillow cannot write 48/64-bit ones): samples H x W x C."""
    h, w = samples.shape[:2]
    rows = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(h))
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def tiff12(path, values: list[int]) -> None:
    """A one-row, 12-bit grayscale TIFF written by hand (two samples packed in three bytes, big end first)."""
    packed = b"".join(bytes([a >> 4, (a & 15) << 4 | b >> 8, b & 255]) for a, b in zip(values[::2], values[1::2]))
    entries = [(256, 4, len(values)), (257, 4, 1), (258, 3, 12), (259, 3, 1), (262, 3, 1)]
    entries += [(273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, 1), (279, 4, len(packed))]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in entries)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + packed)


def gray(row) -> torch.Tensor:
    """The expected (3, 1, W) image of a gray row."""
    return torch.as_tensor(row, dtype=torch.uint8).reshape(1, 1, -1).expand(3, 1, -1)


def test_16_bit_grayscale_png_reads_as_its_top_8_bits_not_white(tmp_path):
    Image.fromarray(RAMP16.reshape(1, -1)).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "I;16"
    assert torch.equal(images.read_image(tmp_path / "g.png"), gray(TOP8))
    Image.fromarray((np.arange(256, dtype=np.uint16) * 257).reshape(1, -1)).save(tmp_path / "x257.png")
    assert torch.equal(images.read_image(tmp_path / "x257.png"), gray(range(256)))  # 8-bit data stored as 16-bit


def test_48_and_64_bit_png_and_16_bit_gray_alpha(tmp_path):
    rgb = np.stack([RAMP16, RAMP16[::-1], np.full_like(RAMP16, 40000)], axis=-1)[None]
    png16(tmp_path / "rgb48.png", rgb, color_type=2)
    expected = torch.from_numpy((rgb[0] >> 8).astype(np.uint8)).T.unsqueeze(1)
    assert torch.equal(images.read_image(tmp_path / "rgb48.png"), expected)
    alpha = np.linspace(0, 65535, len(RAMP16)).astype(np.uint16)[None, :, None]
    png16(tmp_path / "rgba64.png", np.concatenate([rgb, alpha], axis=-1), color_type=6)
    assert torch.equal(images.read_image(tmp_path / "rgba64.png"), expected)  # alpha dropped, not composited
    png16(tmp_path / "la16.png", np.stack([RAMP16, RAMP16[::-1]], axis=-1)[None], color_type=4)
    assert torch.equal(images.read_image(tmp_path / "la16.png"), gray(TOP8))


def test_wide_integer_modes_scale_by_the_declared_bit_depth(tmp_path):
    Image.fromarray(RAMP16.reshape(1, -1)).save(tmp_path / "g.tif")
    Image.frombytes("I;16B", (len(RAMP16), 1), RAMP16.astype(">u2").tobytes()).save(tmp_path / "gb.tif")
    assert Image.open(tmp_path / "gb.tif").mode == "I;16B"
    for name in ("g.tif", "gb.tif"):
        assert torch.equal(images.read_image(tmp_path / name), gray(TOP8)), name
    tiff12(tmp_path / "t12.tif", [0, 1000, 2048, 4095])  # Pillow: mode I;16 with values 0..4095
    assert Image.open(tmp_path / "t12.tif").mode == "I;16"
    assert torch.equal(images.read_image(tmp_path / "t12.tif"), gray([0, 1000 >> 4, 128, 255]))
    signed = np.array([[-5, 0, 2**23, 2**31 - 1]], dtype=np.int32)  # 32-bit signed: 31 bits of magnitude
    Image.fromarray(signed).save(tmp_path / "i32.tif")
    assert torch.equal(images.read_image(tmp_path / "i32.tif"), gray([0, 0, 1, 255]))
    Image.fromarray(np.array([[0, 300, 40000, 65535]], dtype=np.int32)).save(tmp_path / "g16.pgm")
    assert Image.open(tmp_path / "g16.pgm").mode == "I"  # PGM with maxval 65535
    assert torch.equal(images.read_image(tmp_path / "g16.pgm"), gray([0, 1, 40000 >> 8, 255]))


def test_float_images_are_0_to_1_when_their_max_is_at_most_1_else_0_to_255(tmp_path):
    Image.fromarray(np.array([[0.0, 0.25, 1.0, np.nan, -1.0]], dtype=np.float32)).save(tmp_path / "unit.tif")
    assert torch.equal(images.read_image(tmp_path / "unit.tif"), gray([0, 64, 255, 0, 0]))
    Image.fromarray(np.array([[0.0, 1.0, 100.4, 300.0]], dtype=np.float32)).save(tmp_path / "bytes.tif")
    assert torch.equal(images.read_image(tmp_path / "bytes.tif"), gray([0, 1, 100, 255]))


def test_eight_bit_modes_and_alpha_dropped(tmp_path):
    cases = {
        "1": (Image.frombytes("1", (2, 1), bytes([0b0100_0000])), [[0, 0, 0], [255, 255, 255]]),
        "L": (Image.frombytes("L", (2, 1), bytes([7, 200])), [[7, 7, 7], [200, 200, 200]]),
        "LA": (Image.frombytes("LA", (2, 1), bytes([7, 0, 200, 128])), [[7, 7, 7], [200, 200, 200]]),
        "RGB": (Image.frombytes("RGB", (2, 1), bytes([1, 2, 3, 250, 251, 252])), [[1, 2, 3], [250, 251, 252]]),
        "RGBA": (Image.frombytes("RGBA", (2, 1), bytes([1, 2, 3, 0, 250, 251, 252, 9])), [[1, 2, 3], [250, 251, 252]]),
        "CMYK": (Image.frombytes("CMYK", (2, 1), bytes([0, 0, 0, 0, 255, 0, 0, 0])), [[255, 255, 255], [0, 255, 255]]),
        "YCbCr": (Image.frombytes("YCbCr", (2, 1), bytes([90, 128, 128, 200, 128, 128])), [[90] * 3, [200] * 3]),
    }
    palette = Image.frombytes("P", (2, 1), bytes([0, 1]))
    palette.putpalette([10, 20, 30, 200, 100, 50])
    palette.info["transparency"] = 1  # the transparent entry keeps its colour: alpha is dropped
    cases["P"] = palette, [[10, 20, 30], [200, 100, 50]]
    for mode, (im, rgb) in cases.items():
        name = tmp_path / f"{mode}.{'jpg' if mode in ('CMYK', 'YCbCr') else 'png'}"
        im.save(name, quality=100) if name.suffix == ".jpg" else im.save(name)
        got = images.read_image(name)
        expected = torch.tensor(rgb, dtype=torch.uint8).T.unsqueeze(1)
        assert got.shape == (3, 1, 2) and got.dtype == torch.uint8, mode
        assert (got.int() - expected.int()).abs().max() <= (3 if name.suffix == ".jpg" else 0), (mode, got)
    lab = Image.frombytes("LAB", (3, 1), bytes([0, 0, 0, 255, 0, 0, 136, 80, 70]))  # black, white, red (a, b signed)
    lab.save(tmp_path / "lab.tif")
    expected = torch.tensor([[0, 0, 0], [255, 255, 255], [250, 0, 0]], dtype=torch.uint8).T.unsqueeze(1)
    assert (images.read_image(tmp_path / "lab.tif").int() - expected.int()).abs().max() <= 3


def test_exif_orientation_is_applied(tmp_path):
    im = Image.frombytes("L", (3, 1), bytes([10, 20, 30]))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "o.png", exif=exif)
    assert torch.equal(images.read_image(tmp_path / "o.png"), gray([10, 20, 30]).reshape(3, 3, 1))


def test_unreadable_and_oversized_images_give_one_clear_line(tmp_path, monkeypatch):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(images.ImageError, match=r"junk.png: not a readable image \(UnidentifiedImageError"):
        images.read_image(tmp_path / "junk.png")
    with pytest.raises(images.ImageError, match=r"missing.png: no such file"):
        images.read_image(tmp_path / "missing.png")
    Image.new("RGB", (30, 10)).save(tmp_path / "big.png")  # 300 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # Pillow warns above 200 and raises above 400
    message = (
        r"big.png: 300 pixels is over Pillow's decompression-bomb limit of 200 pixels \(PIL.Image.MAX_IMAGE_PIXELS\)"
    )
    with pytest.raises(images.ImageError, match=message):
        images.read_image(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(images.ImageError, match=r"big.png: 300 pixels is over .* limit of 100 pixels"):
        images.read_image(tmp_path / "big.png")


MAGIC = {".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".bmp": b"BM", ".tif": b"II*\x00"}
MAGIC |= {".TIFF": b"II*\x00", ".webp": b"RIFF"}


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_write_image_uses_the_format_its_extension_names(tmp_path, suffix):
    image = torch.randint(256, (3, 20, 30), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    path = tmp_path / "sub" / f"out{suffix}"
    images.write_image(path, image)
    assert path.read_bytes().startswith(MAGIC[suffix])
    back = images.read_image(path)
    lossy = suffix in (".jpg", ".jpeg", ".webp")
    assert back.shape == image.shape and (lossy or torch.equal(back, image))


def test_write_image_takes_floats_in_0_1_and_refuses_bad_names_and_tensors(tmp_path):
    images.write_image(tmp_path / "f.png", torch.tensor([0.0, 0.5, 2.0]).reshape(1, 1, 3).expand(3, 1, 3))
    assert torch.equal(images.read_image(tmp_path / "f.png"), gray([0, 128, 255]))
    for name in ("out.gif", "out"):
        with pytest.raises(images.ImageError, match=rf"{name}: cannot write images with the extension .*\.png, \.jpg"):
            images.check_writable_format(tmp_path / name)
        with pytest.raises(images.ImageError, match=rf"{name}: cannot write"):
            images.write_image(tmp_path / name, torch.zeros(3, 2, 2, dtype=torch.uint8))
        assert not (tmp_path / name).exists()
    with pytest.raises(images.ImageError, match=r"expects a 3 x H x W uint8 tensor .* got shape \(1, 3, 2, 2\)"):
        images.write_image(tmp_path / "x.png", torch.zeros(1, 3, 2, 2, dtype=torch.uint8))


def test_images_folder_reads_16_bit_photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, level in enumerate((0x4000, 0x8000, 0xC0FF)):
        Image.fromarray(np.full((40, 50), level, dtype=np.uint16)).save(folder / f"p{i}.png")
    Image.fromarray(np.full((40, 50, 3), 9, dtype=np.uint8)).save(folder / "p3.tif")
    train, val = data.folder_clean(folder, 30, 5, 0)
    assert set(train.unique().tolist()) <= {0x40, 0x80, 0xC0} and len(train.unique()) == 3
    assert torch.equal(val, torch.full((5, 3, 32, 32), 9, dtype=torch.uint8))  # the last by name validates


def test_cli_denoise_reads_16_bit_and_writes_the_format_of_output(tmp_path, capsys, monkeypatch):
    Image.fromarray((RAMP16[:80].reshape(8, 10) // 2 + 16384).astype(np.uint16)).save(tmp_path / "in16.png")
    checkpoint = str(Path(__file__).parents[1] / "examples/noise2noise/pretrained/seed.pt")
    argv = ["denoise", "--checkpoint", checkpoint, "--input", str(tmp_path / "in16.png"), "--device", "cpu"]
    assert cli.main([*argv, "--output", str(tmp_path / "out.jpg")]) == 0
    assert (tmp_path / "out.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    out = images.read_image(tmp_path / "out.jpg").float()
    assert out.shape == (3, 8, 10) and 40 < out.mean() < 150  # mid-gray in, not white (255) out
    monkeypatch.setattr(cli, "denoise", lambda *a, **k: pytest.fail("denoised before checking --output"))
    with pytest.raises(SystemExit) as stopped:  # an option error, before any work
        cli.main([*argv, "--output", str(tmp_path / "out.gif")])
    assert (
        stopped.value.code == 2 and "out.gif: cannot write images with the extension '.gif'" in capsys.readouterr().err
    )
    assert not (tmp_path / "out.gif").exists()
