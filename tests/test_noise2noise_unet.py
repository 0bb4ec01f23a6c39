"""The Noise2Noise paper's U-Net (`--arch unet`): its layout, its torch.nn twin (same seed, same weights,
same outputs and gradients, state dicts both ways), inputs of any size, the course harness, and the
per-architecture training recipes of `train` and `denoise --arch`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import autograd_engine as ag
import nn
from examples.noise2noise import architectures, cli, data, model
from examples.noise2noise.backends import EngineBackend, TorchBackend, denoise
from examples.noise2noise.config import TrainConfig
from examples.noise2noise.model import Model
from examples.noise2noise.training import Trainer

# (name, input channels, output channels) for width 48: the paper's table (n = m = 3 channels in and out)
PAPER = [
    ("enc_conv0", 3, 48),
    *[(f"enc_conv{i}", 48, 48) for i in range(1, 7)],
    ("dec_conv5a", 96, 96),
    ("dec_conv5b", 96, 96),
]
PAPER += [(f"dec_conv{i}{ab}", 144 if ab == "a" else 96, 96) for i in (4, 3, 2) for ab in "ab"]
PAPER += [("dec_conv1a", 99, 64), ("dec_conv1b", 64, 32), ("dec_conv1c", 32, 3)]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_layers_are_the_papers():
    unet = architectures.build("unet")
    state = unet.state_dict()
    assert list(state) == [f"{name}.{p}" for name, _, _ in PAPER for p in ("weight", "bias")]
    for name, cin, cout in PAPER:
        assert state[f"{name}.weight"].shape == (cout, cin, 3, 3), name
    assert sum(p.numel() for p in unet.parameters()) == 991_203


@pytest.mark.parametrize("width,kernel", [(48, 3), (8, 3), (6, 5)])
def test_the_twin_starts_from_the_same_weights(width, kernel):
    engine = architectures.build("unet", "engine", kernel=kernel, seed=3, width=width).state_dict()
    twin = architectures.build("unet", "torch", kernel=kernel, seed=3, width=width).state_dict()
    assert list(engine) == list(twin) and all(torch.equal(engine[k], twin[k]) for k in twin)
    other = architectures.build("unet", "engine", kernel=kernel, seed=4, width=width).state_dict()
    assert not torch.equal(other["enc_conv0.weight"], engine["enc_conv0.weight"])


def engine_and_twin(width: int = 6) -> tuple[nn.Module, torch.nn.Module]:
    """The engine U-Net and its torch twin in float64, from different seeds, then the twin holding the
    engine's weights (the state dict moves from the engine to torch)."""
    engine = architectures.build("unet", "engine", seed=1, width=width).to(torch.float64)
    twin = architectures.build("unet", "torch", seed=2, width=width).to(torch.float64)
    twin.load_state_dict(engine.state_dict())
    return engine, twin


def test_outputs_and_gradients_equal_the_twins():
    engine, twin = engine_and_twin()
    x = torch.rand(2, 3, 64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    target = torch.rand_like(x)
    out = engine(ag.Variable(x))
    loss = nn.functional.mse_loss(out, target)
    loss.backward()
    twin_out = twin(x)
    twin_loss = torch.nn.functional.mse_loss(twin_out, target)
    twin_loss.backward()
    assert out.shape == x.shape
    torch.testing.assert_close(out.data, twin_out.detach(), rtol=1e-12, atol=1e-13)
    for (name, p), q in zip(engine.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad.data, q.grad, rtol=1e-10, atol=1e-13, msg=name)


def test_state_dicts_move_from_torch_to_the_engine():
    twin = architectures.build("unet", "torch", seed=5, width=6)
    engine = architectures.build("unet", "engine", seed=6, width=6)
    engine.load_state_dict(twin.state_dict())
    x = torch.rand(1, 3, 32, 96)
    with ag.no_grad():
        assert torch.equal(engine(ag.Variable(x)).data, twin(x).detach())


@pytest.mark.parametrize("shape", [(1, 3, 30, 64), (2, 3, 64, 48), (3, 32, 32)])
@pytest.mark.parametrize("backend", ["engine", "torch"])
def test_inputs_the_unet_cannot_pool_are_one_error_with_the_shape(backend, shape):
    unet = architectures.build("unet", backend, width=4)
    x = torch.rand(*shape)
    message = f"UNet: expected N x 3 x H x W input with H and W multiples of 32 (it pools 5 times), got shape {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        unet(ag.Variable(x) if backend == "engine" else x)


@pytest.mark.parametrize(
    "arch,width,message",
    [("seed", 8, "the seed model takes no width"), ("unet", 1, "the unet model needs a width of at least 2, got 1"),
     ("dncnn", 0, "the dncnn model needs a width of at least 1, got 0")],
)  # fmt: skip
def test_widths_a_model_cannot_take_are_refused(arch, width, message):
    with pytest.raises(ValueError, match=message):
        architectures.build(arch, width=width)


def test_dncnn_takes_a_width_and_keeps_its_default():
    assert architectures.build("dncnn").state_dict()["body.0.weight"].shape[0] == 32
    assert architectures.build("dncnn", width=8).state_dict()["body.0.weight"].shape[0] == 8


@pytest.mark.parametrize(
    "size,mode", [((37, 50), "reflect"), ((32, 64), None), ((5, 70), "replicate"), ((64, 33), "reflect")]
)
def test_denoise_pads_to_32_by_reflection_on_both_sides_then_crops(size, mode):
    assert architectures.size_multiple("unet") == 32
    backend = EngineBackend(TrainConfig(arch="unet", width=4), torch.device("cpu"))
    images = torch.rand(2, 3, *size)
    out = denoise(backend, images, 32)
    (h, w), ph, pw = size, -size[0] % 32, -size[1] % 32
    padded = (
        images
        if mode is None
        else torch.nn.functional.pad(images, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
    )
    assert out.shape == images.shape
    assert torch.equal(out, backend.predict(padded)[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w].clamp(0, 1))


def test_engine_and_twin_train_alike_with_adam():
    cfg = TrainConfig(arch="unet", width=4, optimizer="adam", lr=1e-3)
    engine, twin = EngineBackend(cfg, torch.device("cpu")), TorchBackend(cfg, torch.device("cpu"))
    engine.model.to(torch.float64)
    twin.model.to(torch.float64)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        x, y = (torch.rand(4, 3, 32, 64, generator=gen, dtype=torch.float64) for _ in range(2))
        assert engine.train_step(x, y) == pytest.approx(twin.train_step(x, y), rel=1e-10)
    for a, b in zip(engine.model.parameters(), twin.model.parameters()):
        torch.testing.assert_close(a.data, b.detach(), rtol=1e-9, atol=1e-11)


# --- the course harness ----------------------------------------------------------------------------------
def test_the_harness_trains_and_predicts_any_size():
    unet = Model(arch="unet", device="cpu")
    assert unet.config.optimizer == "adam" and unet.config.lr == 1e-3 and isinstance(unet.backend.opt, nn.Adam)
    assert unet.model.state_dict()["enc_conv0.weight"].shape[0] == 48
    noisy = torch.rand(4, 3, 32, 32) * 255
    before = unet.model.state_dict()["dec_conv1c.bias"].clone()
    unet.train(noisy, noisy.flip(0), 1)
    assert not torch.equal(unet.model.state_dict()["dec_conv1c.bias"], before)
    out = unet.predict(torch.rand(2, 3, 45, 70) * 255)
    assert out.shape == (2, 3, 45, 70) and 0 <= out.min() and out.max() <= 255


def test_the_harness_loads_a_unet_at_the_width_its_file_records(tmp_path, monkeypatch):
    trained = architectures.build("unet", width=6, seed=7)
    config = TrainConfig(arch="unet", width=6).__dict__
    nn.save({"model": trained.state_dict(), "config": config}, tmp_path / "unet.pt")
    x = torch.rand(1, 3, 40, 33) * 255
    expected = denoise(EngineBackend(TrainConfig(arch="unet", width=6, seed=7), torch.device("cpu")), x / 255, 32)
    loaded = Model(weights=tmp_path / "unet.pt", device="cpu")
    assert loaded.arch == "unet" and loaded.config.width == 6
    assert torch.equal(loaded.predict(x), expected * 255)
    monkeypatch.setattr(model, "PRETRAINED", tmp_path)
    shipped = Model(arch="unet", device="cpu")  # width 48 until the shipped file says otherwise
    shipped.load_pretrained_model()
    assert shipped.config.width == 6 and torch.equal(shipped.predict(x), expected * 255)
    with pytest.raises(FileNotFoundError, match=r"no shipped weights at .*/dncnn.pt"):
        Model(arch="dncnn", device="cpu").load_pretrained_model()


# --- the command line: per-architecture recipes, --width, denoise --arch ------------------------------------
@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--arch", "seed"], dict(optimizer="sgd", lr=5.0, schedule="constant", width=None)),
        (["--arch", "dncnn"], dict(optimizer="adam", lr=1e-3, schedule="constant", width=None)),
        (["--arch", "unet"], dict(optimizer="adam", lr=1e-3, schedule="cosine", width=None)),
        (["--arch", "seed", "--optimizer", "adam"], dict(optimizer="adam", lr=1e-3, schedule="constant")),
        (["--arch", "unet", "--optimizer", "sgd"], dict(optimizer="sgd", lr=5.0, schedule="cosine")),
        (["--arch", "unet", "--width", "24", "--lr", "3e-4", "--schedule", "constant"],
         dict(optimizer="adam", lr=3e-4, schedule="constant", width=24)),
    ],
)  # fmt: skip
def test_train_defaults_to_the_architectures_recipe(tmp_path, argv, expected):
    cfg = cli.config_from(cli.parse_args(["train", "--out", str(tmp_path / "run"), *argv]))
    assert {k: getattr(cfg, k) for k in expected} == expected


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--width", "8"], "argument --width: the seed model takes no width (its channel factor sizes it)"),
        (["--arch", "unet", "--width", "1"], "argument --width: the unet model needs a width of at least 2, got 1"),
        (["--arch", "unet", "--width", "0"], "argument --width: must be a positive integer, got 0"),
        (["--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
        (["--arch", "unet", "--crop", "48"], "argument --crop: the unet model needs a multiple of 32, got 48"),
        (["--crop", "30"], "argument --crop: the seed model needs a multiple of 4, got 30"),
        (["--crop", "64", "--train-data", "t.pkl", "--val-data", "v.pkl"], "argument --crop: not with --train-data"),
    ],
)
def test_bad_widths_and_crops_are_refused_at_parse_time(tmp_path, capsys, argv, message):
    code, _, err = run_cli(capsys, "train", "--out", str(tmp_path / "run"), *argv)
    assert code == 2 and message in err, err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cache")
    data.builtin_clean(folder, 64, 8)
    return folder


def tiny_unet(cache: Path, out: Path, *more: str) -> list[str]:
    return ["train", "--arch", "unet", "--width", "4", "--out", str(out), "--data-dir", str(cache), "--train-size",
            "64", "--val-size", "8", "--batch-size", "16", *more]  # fmt: skip


def test_a_resumed_run_keeps_its_own_recipe_unless_told(cache, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, _ = run_cli(capsys, *tiny_unet(cache, run, "--epochs", "1", "--optimizer", "sgd", "--lr", "0.1"))
    assert code == 0 and "training unet" in out
    same_data = ["--data-dir", str(cache), "--train-size", "64", "--val-size", "8", "--batch-size", "16"]
    code, out, err = run_cli(
        capsys, "train", "--arch", "unet", "--epochs", "2", "--resume", "--out", str(run), *same_data
    )
    assert code == 0, err
    ckpt = nn.load(run / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["config"]["width"] == 4 and ckpt["config"]["optimizer"] == "sgd"
    assert ckpt["config"]["lr"] == 0.1 and ckpt["config"]["schedule"] == "cosine"
    assert "the cosine schedule decays over 2 epochs from here on (the run so far: over 1)" in out
    code, _, err = run_cli(capsys, *tiny_unet(cache, run, "--epochs", "3", "--resume", "--width", "8"))
    assert code == 1 and f"the checkpoint in {run} was trained with width=4, not 8" in err


def test_denoise_with_the_shipped_model_of_an_architecture(cache, tmp_path, capsys, monkeypatch):
    from PIL import Image

    run = tmp_path / "run"
    assert run_cli(capsys, *tiny_unet(cache, run, "--epochs", "1"))[0] == 0
    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    (shipped / "unet.pt").write_bytes((run / "best.pt").read_bytes())
    monkeypatch.setattr(model, "PRETRAINED", shipped)
    Image.fromarray((torch.rand(45, 61, 3) * 255).to(torch.uint8).numpy()).save(tmp_path / "in.png")
    outputs = {}
    for source in (["--arch", "unet"], ["--checkpoint", str(run / "best.pt")]):
        outputs[source[0]] = tmp_path / f"out{source[0]}.png"
        argv = ["denoise", *source, "--input", str(tmp_path / "in.png"), "--output", str(outputs[source[0]])]
        code, out, err = run_cli(capsys, *argv)
        assert code == 0 and "(61 x 45)" in out, err
    assert outputs["--arch"].read_bytes() == outputs["--checkpoint"].read_bytes()
    code, _, err = run_cli(capsys, "denoise", "--arch", "dncnn", "--input", str(tmp_path / "in.png"), "--output",
                           str(tmp_path / "o.png"))  # fmt: skip
    assert code == 1 and f"error: no shipped weights at {shipped / 'dncnn.pt'}" in err
    code, _, err = run_cli(capsys, "denoise", "--input", "in.png", "--output", str(tmp_path / "o.png"))
    assert code == 2 and "one of the arguments --checkpoint --arch is required" in err


def test_crop_sets_the_size_of_the_training_and_validation_crops(cache, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *tiny_unet(cache, run, "--epochs", "1", "--crop", "64", "--train-size", "16"))
    assert code == 0, err
    trainer = Trainer(TrainConfig.from_dict(nn.load(run / "checkpoint.pt")["config"]), resume=True)
    assert trainer.train_data.input.shape[1:] == trainer.val_data.input.shape[1:] == (3, 64, 64)
    code, _, err = run_cli(capsys, *tiny_unet(cache, run, "--epochs", "2", "--resume", "--train-size", "16"))
    assert code == 0 and nn.load(run / "checkpoint.pt")["config"]["crop"] == 64, err  # the run's own
