"""The Noise2Noise example on small, fast settings: data, noise, training, resume, harness, CLI."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

import nn
from examples.noise2noise import architectures, baselines, cli, data
from examples.noise2noise.backends import EngineBackend, TorchBackend
from examples.noise2noise.checkpoints import CheckpointError
from examples.noise2noise.config import TrainConfig
from examples.noise2noise.metrics import psnr
from examples.noise2noise.model import PRETRAINED, Model
from examples.noise2noise.noise import Noise
from examples.noise2noise.training import Trainer, TrainingDivergedError

SMALL = dict(train_size=512, val_size=64, batch_size=64)


@pytest.fixture
def cfg(tmp_path) -> TrainConfig:
    return TrainConfig(
        epochs=2, out=str(tmp_path / "run"), data_dir=str(tmp_path / "cache"), factor=2, device="cpu", **SMALL
    )


def assert_same_state(state: dict, expected: dict) -> None:
    """Bit for bit on the CPU; on CUDA up to rounding, since cuDNN's backward adds in no fixed order."""
    for k in expected:
        if expected[k].device.type == "cpu":
            assert torch.equal(state[k], expected[k]), k
        else:
            torch.testing.assert_close(state[k], expected[k], rtol=1e-4, atol=1e-6, msg=k)


def test_builtin_data_is_deterministic_cached_and_rebuilt_when_corrupt(tmp_path, capsys):
    train, val = data.builtin_clean(tmp_path, 300, 50)
    assert train.shape == (300, 3, 32, 32) and val.shape == (50, 3, 32, 32) and train.dtype == torch.uint8
    cache = next(tmp_path.glob("*.pt"))
    again = data.builtin_clean(tmp_path, 300, 50)
    assert torch.equal(again[0], train) and torch.equal(again[1], val)
    cache.write_bytes(cache.read_bytes()[:1000])  # a partial write
    rebuilt = data.builtin_clean(tmp_path, 300, 50)
    assert "corrupt or incomplete" in capsys.readouterr().out and torch.equal(rebuilt[0], train)


def test_noise_pairs_are_two_independent_draws(tmp_path):
    train, _ = data.builtin_data(Noise(), tmp_path, 300, 50)
    diff_a = train.input.float() - train.clean.float()
    diff_b = train.target.float() - train.clean.float()
    assert 20 < diff_a.std() < 26 and 20 < diff_b.std() < 26  # sigma 25, a little less after clipping
    assert abs(torch.corrcoef(torch.stack([diff_a.flatten(), diff_b.flatten()]))[0, 1]) < 0.02
    assert train.input.dtype == torch.uint8 and train.target.dtype == torch.int16
    assert train.target.min() < 0 or train.target.max() > 255  # the target is not clipped


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_noisy_targets_keep_the_clean_mean_where_clipping_would_move_it(kind):
    """Near black and white a clipped noisy pixel's mean is off the clean value (by sigma / sqrt(2 pi) for
    Gaussian noise at 0), so Noise2Noise would learn a moved image; the unclipped targets' mean is right."""
    clean = torch.tensor([0, 255], dtype=torch.uint8).repeat_interleave(3 * 64 * 64).view(2, 3, 64, 64)
    clean = clean.repeat(25, 1, 1, 1)  # 25 black and 25 white images
    clipped = Noise(kind).apply(clean, torch.Generator().manual_seed(0)).float()
    target = Noise(kind).apply(clean, torch.Generator().manual_seed(0), clip=False)
    assert target.dtype == torch.int16 and torch.equal(target.clamp(0, 255).float(), clipped)
    black, white = (target.float()[i::2] for i in (0, 1))
    assert abs(black.mean()) < 0.3 and abs(white.mean() - 255) < 0.3
    assert clipped[0::2].mean() + (255 - clipped[1::2].mean()) > 5  # moved (Poisson: only at white)
    pairs = data.make_pairs(clean, Noise(kind), seed=0)
    assert pairs.input.dtype == torch.uint8 and pairs.target.dtype == torch.int16
    assert torch.equal(data.make_pairs(clean, Noise(kind), 0, "clean").target, clean)


@pytest.mark.parametrize(
    "kind,check",
    [
        ("gaussian", lambda c, n: 20 < (n - c).std() < 26),
        ("poisson", lambda c, n: abs((n - c).mean()) < 3 and (n - c).std() > 10),
        ("bernoulli", lambda c, n: 0.4 < (n == 0).all(1).float().mean() < 0.6),
        ("text", lambda c, n: 0.15 < (n != c).any(1).float().mean() < 0.45),
    ],
)
def test_noise_models(kind, check):
    clean = (torch.rand(40, 3, 32, 32) * 200 + 30).to(torch.uint8)
    noisy = Noise(kind).apply(clean, torch.Generator().manual_seed(0))
    assert noisy.dtype == torch.uint8 and noisy.shape == clean.shape
    assert check(clean.float(), noisy.float())
    assert torch.equal(noisy, Noise(kind).apply(clean, torch.Generator().manual_seed(0)))
    assert Noise(kind).loss == ("l1" if kind == "text" else "l2")


def test_psnr_matches_the_definition():
    a, b = torch.rand(5, 3, 8, 8), torch.rand(5, 3, 8, 8)
    per_image = [-10 * math.log10(((a[i] - b[i]) ** 2).mean().item()) for i in range(5)]
    assert psnr(a, b) == pytest.approx(sum(per_image) / 5, rel=1e-6)


def test_engine_and_torch_twin_agree_step_by_step(cfg, device):
    engine, twin = EngineBackend(cfg, torch.device(device)), TorchBackend(cfg, torch.device(device))
    engine.model.to(torch.float64)
    twin.model.to(torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        x, y = (
            torch.rand(16, 3, 32, 32, generator=gen, dtype=torch.float64).to(device),
            torch.rand(16, 3, 32, 32, generator=gen, dtype=torch.float64).to(device),
        )
        assert engine.train_step(x, y) == pytest.approx(twin.train_step(x, y), rel=1e-10)
    for a, b in zip(engine.model.parameters(), twin.model.parameters()):
        torch.testing.assert_close(a.data, b.detach(), rtol=1e-9, atol=1e-11)


def test_one_short_epoch_raises_validation_psnr(cfg, device):
    cfg.epochs, cfg.factor, cfg.train_size, cfg.device = 1, 4, 2048, device
    trainer = Trainer(cfg)
    before = trainer.validate()
    history = trainer.run(log=lambda s: None)
    assert history[0]["val_psnr"] > before + 0.5
    out = Path(cfg.out)
    assert {"checkpoint.pt", "metrics.csv", "metrics.png", "samples.png"} <= {p.name for p in out.iterdir()}
    assert out.joinpath("metrics.csv").read_text().splitlines()[0] == "epoch,train_loss,val_psnr,seconds,images_per_s"


def final_state(cfg: TrainConfig) -> tuple[dict, list]:
    trainer = Trainer(cfg, resume=True)
    return trainer.backend.model.state_dict(), trainer.history


def test_resume_mid_epoch_equals_uninterrupted(cfg, tmp_path, device):
    cfg.device = device
    Trainer(cfg).run(log=lambda s: None)
    full_state, full_history = final_state(cfg)

    cfg2 = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "interrupted")})

    def stop(trainer, epoch, step):
        if epoch == 1 and step == 3:
            trainer.request_stop()

    messages = []
    Trainer(cfg2, on_step=stop).run(log=messages.append)
    assert "stopped at epoch 2, step 4" in messages[-1]
    assert len(Trainer(cfg2, resume=True).run(log=lambda s: None)) == 2
    state, history = final_state(cfg2)
    assert_same_state(state, full_state)
    rows, full_rows = ([r[k] for r in h for k in ("train_loss", "val_psnr")] for h in (history, full_history))
    assert rows == (full_rows if device == "cpu" else pytest.approx(full_rows, rel=1e-4))


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(cfg, monkeypatch):
    trainer = Trainer(cfg)
    real_step = trainer.backend.train_step
    calls = {"n": 0}

    def step(x, y):
        calls["n"] += 1
        return float("nan") if calls["n"] == 10 else real_step(x, y)

    monkeypatch.setattr(trainer.backend, "train_step", step)
    with pytest.raises(TrainingDivergedError, match=r"became nan at epoch 2, step 2.*epoch 1"):
        trainer.run(log=lambda s: None)
    kept = Trainer(cfg, resume=True)
    assert kept.epoch == 1 and len(kept.history) == 1


def test_harness_interface_end_to_end():
    model = Model()
    assert isinstance(model.model, object) and Model(arch="dncnn").arch == "dncnn" and architectures.ARCHS[0] == "seed"
    noisy = torch.rand(32, 3, 32, 32) * 255
    model.train(noisy, (noisy + torch.randn_like(noisy) * 10).clamp(0, 255), 1)
    out = model.predict(torch.rand(1, 3, 512, 512) * 255)
    assert out.shape == (1, 3, 512, 512) and out.min() >= 0 and out.max() <= 255
    odd = model.predict(torch.rand(2, 3, 37, 50) * 255)
    assert odd.shape == (2, 3, 37, 50)
    with pytest.raises(ValueError, match="unknown arch"):
        Model(arch="nope")


def test_the_harness_loads_weights_from_any_file(tmp_path):
    copy = tmp_path / "my-seed.pt"
    shutil.copy(PRETRAINED / "seed.pt", copy)
    shipped = Model()
    shipped.load_pretrained_model()
    x = torch.rand(2, 3, 36, 40) * 255
    assert torch.equal(Model(weights=copy).predict(x), shipped.predict(x))
    assert Model(weights=PRETRAINED / "dncnn.pt").arch == "dncnn"  # the checkpoint's config names it
    with pytest.raises(CheckpointError, match=r"my-seed.pt: holds a seed model, not dncnn"):
        Model(arch="dncnn", weights=copy)
    run = tmp_path / "checkpoint.pt"  # a run's checkpoint: its config also sets the channel factor
    nn.save({"model": architectures.build("seed", factor=2).state_dict(), "config": {"factor": 2}}, run)
    assert sum(p.numel() for p in Model(weights=run).model.parameters()) == 1647


@pytest.mark.parametrize("arch,gain", [("seed", 8.0), ("dncnn", 9.0), ("unet", 11.5)])
def test_shipped_models_denoise_held_out_photos(tmp_path, arch, gain):
    model = Model(arch=arch)
    model.load_pretrained_model()
    _, val = data.builtin_data(Noise(), tmp_path, 64, 200)  # validation crops of the held-out photos
    noisy, clean = val.input.float(), val.target.float()
    assert psnr(model.predict(noisy) / 255, clean / 255) > psnr(noisy / 255, clean / 255) + gain


@pytest.mark.parametrize(
    "payload,message",
    [
        (None, "no such file"),
        (b"garbage", "not a readable torch file"),
        ({"a": 1}, "expected a pair of N x 3 x H x W uint8 tensors"),
        ((torch.zeros(4, 3, 32, 32), torch.zeros(4, 3, 32, 32)), "dtype torch.float32"),
        ((torch.zeros(4, 1, 32, 32, dtype=torch.uint8),) * 2, r"shape \(4, 1, 32, 32\)"),
        ((torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(5, 3, 32, 32, dtype=torch.uint8)), "equal shapes"),
    ],
)
def test_bad_course_files_give_clear_errors(tmp_path, payload, message):
    path = tmp_path / "train_data.pkl"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    elif payload is not None:
        torch.save(payload, path)
    with pytest.raises(data.DataError, match=message) as info:
        data.load_pair_file(path)
    assert str(path) in str(info.value)


def test_course_files_load(tmp_path):
    pair = (torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8),) * 2
    torch.save(pair, tmp_path / "val_data.pkl")
    loaded = data.load_pair_file(tmp_path / "val_data.pkl")
    assert torch.equal(loaded.input, pair[0]) and len(loaded) == 8


def test_image_folder_and_bad_images(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((torch.rand(60, 70, 3) * 255).to(torch.uint8).numpy()).save(folder / f"p{i}.png")
    train, val = data.folder_clean(folder, 20, 5, 0)
    assert train.shape == (20, 3, 32, 32) and val.shape == (5, 3, 32, 32)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(data.DataError, match=r"broken.jpg: not a readable image"):
        data.folder_clean(folder, 20, 5, 0)
    with pytest.raises(data.DataError, match="at least two PNG/JPEG photos"):
        data.folder_clean(tmp_path / "missing", 20, 5, 0)


def test_cli_train_evaluate_denoise_graph(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    common = ["--train-size", "256", "--val-size", "32", "--data-dir", str(tmp_path / "cache")]
    assert cli.main(["train", "--epochs", "1", "--factor", "2", "--out", str(run), *common]) == 0
    assert "final validation PSNR" in capsys.readouterr().out
    monkeypatch.setattr(baselines, "bm3d_package", None)  # BM3D's own test is in test_noise2noise_data.py
    assert cli.main(["evaluate", "--checkpoint", str(run / "checkpoint.pt"), "--baselines", *common]) == 0
    out = capsys.readouterr().out
    assert all(f"({i}) {method}" in out for i, method in enumerate(["noisy input", "3x3 Gaussian blur", "total"], 1))
    assert "(4) seed (run/checkpoint.pt)" in out and "BM3D skipped: the bm3d package is not installed" in out

    from PIL import Image

    Image.fromarray((torch.rand(45, 61, 3) * 255).to(torch.uint8).numpy()).save(tmp_path / "in.jpg")
    assert (
        cli.main(
            [
                "denoise",
                "--checkpoint",
                str(run / "checkpoint.pt"),
                "--input",
                str(tmp_path / "in.jpg"),
                "--output",
                str(tmp_path / "out.png"),
                "--add-noise",
                "--noisy-output",
                str(tmp_path / "noisy.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "out.png").size == (61, 45) and (tmp_path / "noisy.png").exists()
    assert cli.main(["graph", "--out", str(tmp_path / "g.dot"), "--factor", "2", "--batch-size", "4"]) == 0
    assert "Conv2d" in (tmp_path / "g.dot").read_text() and (tmp_path / "g-collapsed.dot").exists()
    capsys.readouterr()
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "nope.pt"), *common]) == 1
    assert "no checkpoint at" in capsys.readouterr().err


def test_cli_reports_bad_data_files(tmp_path, capsys):
    code = cli.main(
        [
            "train",
            "--epochs",
            "1",
            "--train-data",
            str(tmp_path / "missing.pkl"),
            "--val-data",
            str(tmp_path / "missing.pkl"),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 1 and "missing.pkl: no such file" in capsys.readouterr().err


def test_cosine_schedule_decays_to_zero_and_resumes_exactly(cfg, tmp_path, device):
    cfg.schedule, cfg.device = "cosine", device
    trainer = Trainer(cfg)
    trainer.run(log=lambda s: None)
    lrs = [g["lr"] for g in trainer.backend.opt.param_groups]
    assert all(0 <= lr < 0.02 * cfg.lr for lr in lrs)
    full_state, _ = final_state(cfg)
    cfg2 = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "resumed")})
    Trainer(cfg2, on_step=lambda t, e, s: t.request_stop() if (e, s) == (0, 5) else None).run(log=lambda s: None)
    Trainer(cfg2, resume=True).run(log=lambda s: None)
    state, _ = final_state(cfg2)
    assert_same_state(state, full_state)
