"""The Noise2Noise example's built-in photo set (data.py), its quality measures (metrics.py) and classical
baselines (baselines.py): the photos are colour, distinct and split by package; crops and pyramids follow
their definitions; PSNR and SSIM agree with scikit-image; BM3D is the bm3d package's, run alike."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as tnf
from PIL import Image
from skimage.metrics import structural_similarity

from examples.noise2noise import baselines, cli, data, metrics
from examples.noise2noise.noise import Noise

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = {"plasma-workspace-wallpapers", "mate-backgrounds", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"}
HELD_OUT |= {"palapeli-data"}
needs_bm3d = pytest.mark.skipif(baselines.bm3d_package is None, reason="the optional bm3d extra is not installed")


# --- the photo listing -----------------------------------------------------------------------------
def test_the_listing_splits_distinct_photos_by_package_and_names_every_licence():
    assert len(data.PHOTOS) >= 50 and len(data.VAL_PHOTOS) >= 10
    assert len({p.name for p in data.PHOTOS}) == len({(p.package, p.path) for p in data.PHOTOS}) == len(data.PHOTOS)
    train_packages = {p.package for p in data.TRAIN_PHOTOS}
    assert train_packages.isdisjoint({p.package for p in data.VAL_PHOTOS})
    assert not {p.package for p in data.PHOTOS} & HELD_OUT
    assert all(p.licence and p.split in ("train", "val") for p in data.PHOTOS)


def test_dev_unpacks_the_debian_packages_and_the_docs_name_each_source_and_licence():
    dev = (ROOT / "dev").read_text()
    assert tuple(sorted(re.search(r"PHOTO_PACKAGES=\(([^)]*)\)", dev).group(1).split())) == data.DEBIAN_PACKAGES
    docs = (ROOT / "docs" / "noise2noise.md").read_text()
    for p in data.PHOTOS:
        assert re.search(rf"{re.escape(p.package)}.*{re.escape(p.licence)}", docs), (p.package, p.licence)


def test_every_photo_is_colour_distinct_and_larger_than_the_crops():
    photos = [data._builtin_levels(p)[0] for p in data.PHOTOS]
    for photo, p in zip(photos, data.PHOTOS):
        x = photo.float()
        assert (x - x.mean(0)).abs().mean() > 3, f"{p} is grey"  # mean distance of a channel to the pixel's mean
        assert min(photo.shape[1:]) >= 200, p
    thumbs = torch.stack([tnf.interpolate(p[None].float(), size=(16, 16), mode="area")[0] for p in photos])
    distance = torch.cdist(thumbs.flatten(1), thumbs.flatten(1)) / 16 / 16**0.5  # rms over pixels and channels
    distance.fill_diagonal_(float("inf"))
    assert distance.min() > 5, "two photos look the same"


def test_missing_photos_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOGRAD_ENGINE_CACHE", str(tmp_path))
    deb = data.Photo("x", "some-debian-package", "/usr/share/nowhere/x.jpg", "CC0", "train")
    with pytest.raises(data.DataError, match=r"/usr/share/nowhere/x.jpg from the Debian package some-debian-package.*"
                       r"`./dev setup` unpacks it into .*debian/some-debian-package.*dpkg-deb -x"):  # fmt: skip
        data.photo_file(deb)
    wheel = data.Photo("y", "no-such-distribution", "pkg/y.png", "CC0", "train")
    with pytest.raises(data.DataError, match=r"pkg/y.png from the pip package no-such-distribution.*\[examples\]"):
        data.photo_file(wheel)
    unpacked = tmp_path / "debian" / "some-debian-package" / "usr/share/nowhere/x.jpg"
    unpacked.parent.mkdir(parents=True)
    unpacked.touch()
    assert data.photo_file(deb) == unpacked


# --- pyramids and crops ----------------------------------------------------------------------------
def test_pyramid_halves_with_a_box_filter_while_the_short_side_stays_256():
    photo = torch.randint(0, 256, (3, 1100, 600), dtype=torch.uint8)
    levels = data.pyramid(photo)
    assert [tuple(level.shape) for level in levels] == [(3, 1100, 600), (3, 550, 300)]
    expected = tnf.avg_pool2d(photo[None].double(), 2)[0].round()  # float64 box filter, rounded half to even
    assert torch.equal(levels[1], expected.to(torch.uint8))
    assert len(data.pyramid(photo[:, :511, :])) == 1 and len(data.pyramid(torch.zeros(3, 1024, 1030))) == 3


def test_crops_take_photos_and_usable_levels_as_asked():
    flat = [(torch.full((3, 40, 50), 10 * i, dtype=torch.uint8), torch.full((3, 20, 25), 10 * i + 5, dtype=torch.uint8))
            for i in range(4)]  # fmt: skip
    which = torch.tensor([3, 0, 2, 2, 1])
    crops = data.random_crops(flat, 5, torch.Generator().manual_seed(0), size=24, which=which)
    assert torch.equal(crops[:, 0, 0, 0], 10 * which.to(torch.uint8))  # the 20 x 25 level is too small for 24
    small = data.random_crops(flat, 400, torch.Generator().manual_seed(0), size=8)
    assert set(small[:, 0, 0, 0].tolist()) == {10 * i + d for i in range(4) for d in (0, 5)}  # every level, photo
    ramp = torch.arange(40 * 50).reshape(1, 40, 50).expand(3, 40, 50)
    views = data.random_crops([[ramp.to(torch.uint8)]], 50, torch.Generator().manual_seed(1), size=6)
    originals = {
        tuple(ramp[0, t : t + 6, s : s + 6].to(torch.uint8).flatten().tolist()) for t in range(35) for s in range(45)
    }
    for v in views[:, 0]:  # each crop is a window of the photo, turned by a multiple of 90 degrees, maybe mirrored
        turned = [torch.rot90(w, -k) for w in (v, v.flip(1)) for k in range(4)]
        assert any(tuple(t.flatten().tolist()) in originals for t in turned)


def test_validation_crops_take_the_photos_in_turn_whatever_the_seed(tmp_path):
    train0, val0 = data.builtin_clean(tmp_path, 32, 29, seed=0)
    train1, val1 = data.builtin_clean(tmp_path, 32, 29, seed=1)
    assert torch.equal(val0, val1) and not torch.equal(train0, train1)
    groups = data.val_groups(29)
    assert [p for p, _ in groups] == list(data.VAL_PHOTOS) and groups[0][1].tolist() == [0, 26]
    assert sum(len(i) for _, i in groups) == 29 and [p.name for p, _ in data.val_groups(2)] == [
        "after-the-rain",
        "appleflower",
    ]


def test_crop_sizes_and_the_largest_one(tmp_path):
    train, val = data.builtin_clean(tmp_path, 8, 13, crop=96)
    assert train.shape == (8, 3, 96, 96) and val.shape == (13, 3, 96, 96)
    with pytest.raises(
        data.DataError,
        match=r"smaller than the crop size 240 x 240 pixels: teriyaki \(scribus-template\) \(302 x 227\)",
    ):
        data.builtin_clean(tmp_path, 8, 13, crop=240)


def test_a_cache_of_another_photo_listing_is_rebuilt(tmp_path, capsys, monkeypatch):
    train, val = data.builtin_clean(tmp_path, 16, 13)
    monkeypatch.setattr(data, "PHOTOS", data.PHOTOS[:-1])
    data.builtin_clean(tmp_path, 16, 13)
    assert "corrupt or incomplete; rebuilding it" in capsys.readouterr().out


# --- metrics -----------------------------------------------------------------------------------------
def test_psnr_and_ssim_per_image_match_their_definitions_and_scikit_image():
    clean = torch.rand(4, 3, 16, 16, dtype=torch.float64)
    denoised = (clean + 0.05 * torch.randn(4, 3, 16, 16, dtype=torch.float64)).clamp(0, 1)
    mse = ((denoised - clean) ** 2).mean((1, 2, 3))
    torch.testing.assert_close(metrics.psnr_per_image(denoised, clean), -10 * torch.log10(mse), rtol=1e-12, atol=0)
    expected = [
        structural_similarity(d.numpy(), c.numpy(), channel_axis=0, data_range=1) for d, c in zip(denoised, clean)
    ]
    torch.testing.assert_close(metrics.ssim_per_image(denoised, clean), torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(metrics.ssim_per_image(clean, clean), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize(
    "a,b,match",
    [
        ((2, 3, 8, 8), (2, 3, 8, 9), r"ssim: expected two N x C x H x W batches of one shape, got \(2, 3, 8, 8\) and"),
        ((3, 8, 8), (3, 8, 8), r"got \(3, 8, 8\) and \(3, 8, 8\)"),
        ((2, 3, 6, 8), (2, 3, 6, 8), r"ssim: images need at least 7 x 7 pixels, got \(6, 8\)"),
    ],
)
def test_ssim_refuses_what_it_cannot_measure(a, b, match):
    with pytest.raises(ValueError, match=match):
        metrics.ssim_per_image(torch.rand(a), torch.rand(b))
    if "7 x 7" not in match:
        with pytest.raises(ValueError, match=match.replace("ssim", "psnr")):
            metrics.psnr_per_image(torch.rand(a), torch.rand(b))


def test_the_report_gives_each_method_overall_and_per_photo():
    scores = [
        metrics.Scores("noisy input", torch.tensor([20.0, 21.0, 22.0]), torch.tensor([0.2, 0.3, 0.4])),
        metrics.Scores("blur", torch.tensor([28.0, 30.0, 29.0]), torch.tensor([0.5, 0.7, 0.9]), "sigma 1"),
    ]
    lines = metrics.report(scores, [("cat", torch.tensor([0, 2])), ("cup", torch.tensor([1]))]).splitlines()
    assert re.fullmatch(r"\(1\) noisy input +21\.00 +0\.3000", lines[1])
    assert re.fullmatch(r"\(2\) blur \(sigma 1\) +29\.00 +0\.7000", lines[2])
    assert re.fullmatch(r"cat +2 +21\.00 0\.300 +28\.50 0\.700", lines[-2])
    assert re.fullmatch(r"cup +1 +21\.00 0\.300 +30\.00 0\.700", lines[-1])
    assert len(metrics.report(scores).splitlines()) == 3


# --- baselines -----------------------------------------------------------------------------------------
@needs_bm3d
@pytest.mark.parametrize("per_worker", [100, 1])  # inline, and in two processes
def test_bm3d_is_the_packages_bm3d_rgb_run_alike(per_worker, monkeypatch):
    monkeypatch.setattr(baselines, "BM3D_PER_WORKER", per_worker)
    monkeypatch.setattr(baselines.os, "cpu_count", lambda: 2)
    clean = data.random_crops([data._builtin_levels(data.VAL_PHOTOS[-1])], 2, torch.Generator().manual_seed(0), 16)
    noisy = Noise().apply(clean, torch.Generator().manual_seed(1)).double() / 255
    profile = baselines.bm3d_package.BM3DProfile()
    profile.num_threads = 1
    expected = [baselines.bm3d_package.bm3d_rgb(x.permute(1, 2, 0).numpy(), 25 / 255, profile) for x in noisy]
    out = baselines.bm3d(noisy, 25 / 255)
    assert torch.equal(out, torch.from_numpy(np.stack(expected)).permute(0, 3, 1, 2))
    assert metrics.psnr(out.clamp(0, 1), clean / 255) > metrics.psnr(noisy, clean / 255) + 5


def test_baselines_say_why_bm3d_is_missing(monkeypatch):
    clean = torch.rand(2, 3, 8, 8)
    noisy = (clean + 0.1 * torch.randn(2, 3, 8, 8)).clamp(0, 1)
    said: list[str] = []
    rows = baselines.evaluate(noisy, clean, noisy, clean, Noise("poisson"), said.append)
    assert [r.method for r in rows] == ["noisy input", "3x3 Gaussian blur", "total variation"]
    assert said == ["BM3D skipped: it is for Gaussian noise, not poisson"]
    monkeypatch.setattr(baselines, "bm3d_package", None)
    baselines.evaluate(noisy, clean, noisy, clean, Noise(), said.append)
    assert said[1] == "BM3D skipped: the bm3d package is not installed (pip install -e '.[bm3d]')"
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[bm3d\]'"):
        baselines.bm3d(noisy, 0.1)


@needs_bm3d
def test_evaluate_compares_checkpoints_and_baselines_per_photo(tmp_path, capsys):
    pretrained = ROOT / "examples" / "noise2noise" / "pretrained"
    argv = ["evaluate", "--checkpoint", str(pretrained / "seed.pt"), str(pretrained / "dncnn.pt"), "--baselines"]
    argv += ["--val-size", "2", "--train-size", "16", "--crop", "48", "--data-dir", str(tmp_path), "--device", "cpu"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 validation crops (48 x 48) of 2 photos; gaussian noise, level 25, drawn with seed 0:"
    methods = [line.split("  ")[0] for line in out[2:8]]
    assert methods == [
        "(1) noisy input",
        "(2) 3x3 Gaussian blur (sigma " + methods[1].split("sigma ")[1],
        "(3) total variation (weight " + methods[2].split("weight ")[1],
        "(4) BM3D (sigma 25, known)",
        "(5) seed (pretrained/seed.pt)",
        "(6) dncnn (pretrained/dncnn.pt)",
    ]
    assert out[-2].startswith("after-the-rain (lxqt-themes)") and len(out[-1].split()) == 3 + 2 * 6


def test_evaluate_crop_sizes_only_the_builtin_crops(capsys):
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["evaluate", "--checkpoint", "c.pt", "--val-data", "v.pkl", "--crop", "64"])
    assert info.value.code == 2 and "argument --crop: not with --val-data" in capsys.readouterr().err


def test_evaluate_on_a_course_file_has_no_photos_to_break_down(tmp_path, capsys):
    clean = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    torch.save((Noise().apply(clean, torch.Generator().manual_seed(0)), clean), tmp_path / "val_data.pkl")
    seed_pt = str(ROOT / "examples" / "noise2noise" / "pretrained" / "seed.pt")
    argv = ["evaluate", "--checkpoint", seed_pt, "--val-data", str(tmp_path / "val_data.pkl")]
    assert cli.main([*argv, "--samples", str(tmp_path / "new" / "grid.png"), "--sample-count", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"4 (noisy, clean) pairs of {tmp_path / 'val_data.pkl'}:" and len(out) == 4
    assert re.fullmatch(r"\(1\) seed \(pretrained/seed\.pt\) +\d+\.\d\d +0\.\d{4}", out[2])
    assert out[3] == f"samples saved to {tmp_path / 'new' / 'grid.png'}"
    with Image.open(tmp_path / "new" / "grid.png") as grid:  # 3 crops (rows) of noisy, seed, clean (columns)
        assert grid.height > grid.width
