"""What the Noise2Noise command line checks, and what the user sees: option errors at parse time in
argparse's format (exit 2), one line `error: ...` for what goes wrong later (exit 1), exit 130 after a
Ctrl-C, and a run folder whose checkpoint is never replaced by accident or by a broken one."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import nn
from examples.noise2noise import cli, data, images, model, training
from examples.noise2noise.checkpoints import CheckpointError
from examples.noise2noise.config import TrainConfig
from examples.noise2noise.model import Model
from examples.noise2noise.training import Trainer, TrainingDivergedError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The built-in crops the tiny runs train on, made once."""
    folder = tmp_path_factory.mktemp("cache")
    data.builtin_clean(folder, 64, 8)
    return folder


def tiny(cache: Path, out: Path) -> list[str]:
    """A run that trains in a fraction of a second."""
    return ["--out", str(out), "--data-dir", str(cache), "--factor", "2", "--train-size", "64", "--val-size", "8",
            "--batch-size", "16"]  # fmt: skip


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command line, argparse's exits included."""
    try:
        code = cli.main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def trained(cache, tmp_path_factory) -> Path:
    """A finished one-epoch run's checkpoint."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert cli.main(["train", "--epochs", "1", *tiny(cache, run)]) == 0
    return run / "checkpoint.pt"


# --- every option is checked when the command line is parsed -----------------------------------------
PARSE_ERRORS = [
    (["--epochs", "-1"], "argument --epochs: must be a positive integer, got -1"),
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--batch-size", "-4"], "argument --batch-size: must be a positive integer, got -4"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
    (["--train-size", "0"], "argument --train-size: must be a positive integer, got 0"),
    (["--train-size", "-5"], "argument --train-size: must be a positive integer, got -5"),
    (["--val-size", "0"], "argument --val-size: must be a positive integer, got 0"),
    (["--factor", "0"], "argument --factor: must be a positive integer, got 0"),
    (["--kernel", "0"], "argument --kernel: must be a positive odd integer"),
    (["--kernel", "4"], "argument --kernel: must be a positive odd integer"),
    (["--seed", str(2**70)], "argument --seed: must be an integer from -2**63 to 2**63 - 1"),
    (["--device", "foo"], "argument --device: must be auto, cpu, cuda or cuda:N, got 'foo'"),
    (["--lr", "nan"], "argument --lr: must be a positive finite number"),
    (["--lr", "inf"], "argument --lr: must be a positive finite number"),
    (["--lr", "1e39"], "argument --lr: must be a positive finite number (at most 3.403e+38), got 1e39"),
    (["--lr", "0"], "argument --lr: must be a positive finite number"),
    (["--noise-level", "nan"], "argument --noise-level: gaussian noise: sigma must be a finite number >= 0, got nan"),
    (["--noise-level", "-1"], "argument --noise-level: gaussian noise: sigma must be a finite number >= 0, got -1.0"),
    (["--noise", "poisson", "--noise-level", "0"], "argument --noise-level: poisson noise: lambda must be a finite"),
    (["--noise", "bernoulli", "--noise-level", "2"], "argument --noise-level: bernoulli noise: the drop probability"),
    (["--noise", "bernoulli", "--noise-level", "1"], "argument --noise-level: bernoulli noise: the drop probability"),
    (["--noise", "text", "--noise-level", "1.5"], "argument --noise-level: text noise: the coverage must be from"),
    (["--train-data", "t.pkl"], "argument --train-data: needs --val-data too"),
    (["--resume", "--overwrite"], "argument --overwrite: not with --resume"),
    (["--graph", "g.txt"], "argument --graph: cannot render a graph to g.txt"),
    (["--compile", "--backend", "torch"], "argument --compile: compiles the engine's step; not with --backend torch"),
]


@pytest.mark.parametrize("option,message", PARSE_ERRORS, ids=[" ".join(o) for o, _ in PARSE_ERRORS])
def test_train_options_are_checked_at_parse_time(cache, tmp_path, capsys, option, message):
    code, out, err = run_cli(capsys, "train", "--epochs", "1", *tiny(cache, tmp_path / "run"), *option)
    assert code == 2 and err.startswith("usage: python -m examples.noise2noise train") and message in err, err
    assert not (tmp_path / "run").exists()


def test_paths_that_cannot_be_folders_or_files_are_refused_at_parse_time(cache, tmp_path, capsys):
    (tmp_path / "file").write_text("a file")
    (tmp_path / "folder.svg").mkdir()
    file = str(tmp_path / "file")
    train, den = ["train", *tiny(cache, tmp_path / "run")], ["denoise", "--checkpoint", "c.pt", "--input", "in.png"]
    cases = [
        (["train", *tiny(cache, tmp_path / "file")], f"argument --out: {file} is a file, not a folder"),
        (["train", *tiny(cache, tmp_path / "file" / "run")], f"argument --out: cannot make {file}/run: {file} is a"),
        ([*train, "--data-dir", file], f"argument --data-dir: {file} is a file"),
        ([*train, "--graph", f"{file}/g.svg"], f"argument --graph: cannot write {file}/g.svg: {file} is a file"),
        (["evaluate", "--checkpoint", "c.pt", "--data-dir", file], f"argument --data-dir: {file} is a file"),
        ([*den, "--output", f"{file}/o.png"], f"argument --output: cannot write {file}/o.png: {file} is a file"),
        ([*den, "--output", "o.xyz"], "extension '.xyz'"),
        ([*den, "--output", "o.png", "--noisy-output", "n.png"], "argument --noisy-output: only with --add-noise"),
        (["graph", "--out", f"{file}/g.svg"], f"argument --out: cannot write {file}/g.svg: {file} is a file"),
        (["graph", "--out", str(tmp_path / "folder.svg")], "folder.svg is a folder; name a file"),
        (["evaluate", "--checkpoint", "c.pt", "--val-data", "v.pkl", "--baselines"], "argument --baselines"),
        (["evaluate", "--checkpoint", "c.pt", "--samples", "s.bmp"], "argument --samples: cannot save a figure as"),
        (["evaluate", "--checkpoint", "c.pt", "--samples", f"{file}/s.png"], f"cannot write {file}/s.png"),
        (["evaluate", "--checkpoint", "c.pt", "--sample-count", "3"], "argument --sample-count: only with --samples"),
        (["evaluate", "--checkpoint", "c.pt", "--samples", "s.png", "--sample-count", "0"], "--sample-count"),
    ]  # fmt: skip
    for argv, message in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.startswith("usage: ") and message in err, (argv, err)
    assert not (tmp_path / "run").exists()


def test_cuda_is_checked_at_parse_time(cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run_cli(capsys, "train", *tiny(cache, tmp_path / "run"), "--device", "cuda")
    assert code == 2 and "argument --device: cuda: no CUDA device is available here; use cpu or auto" in err


@pytest.mark.parametrize(
    "pairs,message",
    [
        ((torch.zeros(0, 3, 32, 32, dtype=torch.uint8),) * 2, "train.pkl: holds no image pairs"),
        ((torch.zeros(4, 3, 30, 30, dtype=torch.uint8),) * 2, "train.pkl: the seed model trains on images whose "
         "height and width are multiples of 4, got 30 x 30"),
    ],
    ids=["empty", "wrong-size"],
)  # fmt: skip
def test_course_files_that_cannot_train_are_one_error_naming_the_file(tmp_path, capsys, pairs, message):
    torch.save(pairs, tmp_path / "train.pkl")
    torch.save((torch.zeros(4, 3, 32, 32, dtype=torch.uint8),) * 2, tmp_path / "val.pkl")
    course = ["--train-data", str(tmp_path / "train.pkl"), "--val-data", str(tmp_path / "val.pkl")]
    code, out, err = run_cli(capsys, "train", "--epochs", "1", "--factor", "2", "--out", str(tmp_path / "run"), *course)
    assert code == 1 and message in one_error_line(err) and "loss" not in out


# --- the run folder ----------------------------------------------------------------------------------
def test_train_refuses_to_replace_a_run_unless_asked(cache, trained, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(trained.parent, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = run_cli(capsys, "train", "--epochs", "1", *tiny(tmp_path / "other-cache", run))
    assert code == 2 and f"argument --out: {run} already holds a run (checkpoint.pt and metrics.csv)" in err
    assert "--resume" in err and "a fresh --out" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before and not (tmp_path / "other-cache").exists()

    monkeypatch.chdir(tmp_path)  # the default --out, runs/n2n
    shutil.copytree(trained.parent, tmp_path / "runs" / "n2n")
    code, _, err = run_cli(capsys, "train", "--epochs", "1", *tiny(cache, Path("runs/n2n"))[2:])
    assert code == 2 and "runs/n2n already holds a run" in err

    (run / "samples.png").write_bytes(b"from the old run")
    code, _, _ = run_cli(capsys, "train", "--epochs", "1", *tiny(cache, run), "--seed", "1", "--overwrite")
    assert code == 0 and nn.load(run / "checkpoint.pt")["config"]["seed"] == 1
    assert nn.load(run / "best.pt")["config"]["seed"] == 1
    assert (run / "samples.png").read_bytes()[:4] == b"\x89PNG"


def test_stale_temporary_checkpoints_are_removed_when_a_run_resumes(cache, trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained.parent, run)
    (run / ".checkpoint.pt.k3j2l1x9.tmp").write_bytes(b"half a checkpoint, killed with -9")
    (run / ".best.pt.a8b7c6d5.tmp").write_bytes(b"half a best.pt, killed with -9")
    code, _, _ = run_cli(capsys, "train", "--epochs", "1", "--resume", *tiny(cache, run))
    assert code == 0 and not list(run.glob("*.tmp")) and nn.load(run / "checkpoint.pt")["epoch"] == 1


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no one can make a folder")
def test_a_run_folder_that_cannot_be_made_is_an_error_before_any_work(tmp_path, capsys):
    run = Path("/proc/no-such-process/run")
    code, _, err = run_cli(capsys, "train", "--epochs", "1", *tiny(tmp_path / "cache", run))
    assert code == 1 and one_error_line(err).startswith(f"error: cannot write the run folder {run}: ")
    assert not (tmp_path / "cache").exists()  # nothing was built or trained first


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_folder_is_an_error_before_any_work(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o555)
    try:
        code, _, err = run_cli(capsys, "train", "--epochs", "1", *tiny(tmp_path / "cache", run))
    finally:
        run.chmod(0o755)
    assert code == 1 and one_error_line(err) == f"error: cannot write the run folder {run}: Permission denied"
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
@pytest.mark.parametrize("full", ["checkpoint.pt", "best.pt"])
def test_a_full_disk_is_reported_with_the_path_and_keeps_the_checkpoint(
    cache, trained, tmp_path, capsys, monkeypatch, full
):
    run = tmp_path / "run"
    shutil.copytree(trained.parent, run)
    before = {name: (run / name).read_bytes() for name in ("checkpoint.pt", "best.pt")}
    real_mkstemp = nn.serialization.tempfile.mkstemp

    def full_disk_file(prefix: str, suffix: str, dir: Path) -> tuple[int, str]:  # noqa: A002
        if prefix != f".{full}.":
            return real_mkstemp(prefix=prefix, suffix=suffix, dir=dir)
        return os.open("/dev/full", os.O_WRONLY), str(Path(dir) / f"{prefix}full{suffix}")

    monkeypatch.setattr(nn.serialization, "tempfile", SimpleNamespace(mkstemp=full_disk_file))
    monkeypatch.setattr(Trainer, "validate", lambda self: 99.0)  # epoch 2 is the best: best.pt is written
    code, _, err = run_cli(capsys, "train", "--epochs", "2", "--resume", *tiny(cache, run))
    line = one_error_line(err)
    assert code == 1 and line.startswith(f"error: disk full: could not write {run / full}; ")
    assert f"the last good checkpoint (after epoch 1) is kept in {run / 'checkpoint.pt'}" in line
    assert (run / "checkpoint.pt").read_bytes() == before["checkpoint.pt"] and not list(run.glob("*.tmp"))
    if full == "best.pt":  # written first: the checkpoint never gets ahead of it
        assert (run / "best.pt").read_bytes() == before["best.pt"]
    else:  # best.pt already holds epoch 2, which a resumed run trains again to the same weights
        assert nn.load(run / "best.pt")["metrics"]["epoch"] == 2
    assert training.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))


# --- checkpoints -------------------------------------------------------------------------------------
def test_weights_made_non_finite_by_the_last_step_are_never_saved(tmp_path):
    cfg = TrainConfig(epochs=2, out=str(tmp_path / "run"), data_dir=str(tmp_path / "cache"), factor=2, device="cpu",
                      train_size=64, val_size=8, batch_size=16)  # fmt: skip
    trainer = Trainer(cfg)
    real_step = trainer.backend.train_step

    def step(x, y):  # the 8th (last) step of epoch 2 returns a finite loss but leaves NaN weights
        loss = real_step(x, y)
        if trainer.epoch == 1 and trainer.step == 3:
            next(iter(trainer.backend.core.parameters())).data.view(-1)[0] = float("nan")
        return loss

    trainer.backend.train_step = step
    trainer.validate = lambda: 10.0 + trainer.epoch  # epoch 2 looks better
    with pytest.raises(TrainingDivergedError) as info:
        trainer.run(log=lambda s: None)
    assert "(model 0.weight holds nan) after epoch 2; they were not saved" in str(info.value)
    assert f"the last good checkpoint (after epoch 1) is kept in {trainer.checkpoint_path}" in str(info.value)
    for kept in nn.load(trainer.checkpoint_path), nn.load(trainer.best_path):
        assert all(bool(t.isfinite().all()) for t in kept["model"].values())
    assert nn.load(trainer.checkpoint_path)["epoch"] == 1 and nn.load(trainer.best_path)["metrics"]["epoch"] == 1


def test_a_first_epoch_that_diverges_says_no_checkpoint_was_saved(tmp_path):
    cfg = TrainConfig(epochs=1, out=str(tmp_path / "run"), data_dir=str(tmp_path / "cache"), factor=2, device="cpu",
                      train_size=64, val_size=8, batch_size=16)  # fmt: skip
    trainer = Trainer(cfg)
    trainer.backend.train_step = lambda x, y: float("inf")
    with pytest.raises(TrainingDivergedError) as info:
        trainer.run(log=lambda s: None)
    message = str(info.value)
    assert "became inf at epoch 1, step 1" in message and "no checkpoint was saved yet" in message
    assert "kept" not in message and not trainer.checkpoint_path.exists()


def test_an_update_that_overflows_stops_as_a_diverged_run(cache, tmp_path, capsys):
    """Adam with a huge --lr: torch's optimizer refuses the step (its value overflows float32); the CLI says so."""
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--epochs", "1", "--optimizer", "adam", "--lr", "3e38", *tiny(cache, run))
    line = one_error_line(err)
    assert code == 2 and "the update overflowed at epoch 1, step 1 (value cannot be converted" in line
    assert "a lower --lr usually helps" in line


def test_resume_with_a_new_lr_trains_with_the_lr_it_records(cache, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "--epochs", "1", "--lr", "2", *tiny(cache, run))[0] == 0
    code, out, _ = run_cli(capsys, "train", "--epochs", "2", "--resume", "--lr", "0.5", *tiny(cache, run))
    assert code == 0 and "learning rate 0.5 from here on (the run so far used 2)" in out
    ckpt = nn.load(run / "checkpoint.pt")
    assert ckpt["config"]["lr"] == 0.5 and [g["lr"] for g in ckpt["optimizer"]["param_groups"]] == [0.5]
    # without --lr a resumed run keeps its own (not the optimizer's default, 5.0)
    code, out, _ = run_cli(capsys, "train", "--epochs", "3", "--resume", *tiny(cache, run))
    ckpt = nn.load(run / "checkpoint.pt")
    assert code == 0 and "learning rate" not in out
    assert ckpt["config"]["lr"] == 0.5 and [g["lr"] for g in ckpt["optimizer"]["param_groups"]] == [0.5]


def scripted_validation(monkeypatch, psnrs: dict[int, float]) -> dict[int, dict[str, torch.Tensor]]:
    """Validation that reports psnrs[epoch] (1-based); returns the weights each epoch was validated with."""
    seen: dict[int, dict[str, torch.Tensor]] = {}

    def validate(self: Trainer) -> float:
        seen[self.epoch + 1] = {k: v.clone() for k, v in self.backend.core.state_dict().items()}
        return psnrs[self.epoch + 1]

    monkeypatch.setattr(Trainer, "validate", validate)
    return seen


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_best_pt_holds_the_epoch_with_the_best_validation_psnr(cache, tmp_path, capsys, monkeypatch):
    weights = scripted_validation(monkeypatch, {1: 20.0, 2: 22.0, 3: 19.0, 4: 21.0, 5: 23.0})
    run = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", "--epochs", "3", *tiny(cache, run))
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert code == 0 and [line.endswith(f"the best so far, saved to {run / 'best.pt'}") for line in epochs] == [
        True, True, False]  # fmt: skip
    assert f"final validation PSNR 19.00 dB after 3 epochs; the best, 22.00 dB, is in {run / 'best.pt'}" in out
    best = nn.load(run / "best.pt")
    assert set(best) == {"model", "config", "metrics"} and best["config"] == nn.load(run / "checkpoint.pt")["config"]
    assert (
        best["metrics"]["epoch"] == 2
        and best["metrics"]["val_psnr"] == 22.0
        and same_weights(best["model"], weights[2])
    )
    x = torch.rand(1, 3, 36, 44) * 255
    from_best, trained = (
        Model(weights=run / "best.pt", device="cpu"),
        Model(weights=run / "checkpoint.pt", device="cpu"),
    )
    trained.model.load_state_dict(weights[2])  # the last epoch's model, given epoch 2's weights
    assert torch.equal(from_best.predict(x), trained.predict(x))

    # a resumed run keeps the best so far: epoch 4 (21 dB) beats epoch 3 but not epoch 2
    before = (run / "best.pt").read_bytes()
    code, out, _ = run_cli(capsys, "train", "--epochs", "4", "--resume", *tiny(cache, run))
    assert code == 0 and "best so far" not in out and (run / "best.pt").read_bytes() == before
    code, out, _ = run_cli(capsys, "train", "--epochs", "5", "--resume", *tiny(cache, run))
    best = nn.load(run / "best.pt")
    assert code == 0 and best["metrics"]["epoch"] == 5 and same_weights(best["model"], weights[5])


def test_a_resumed_run_without_best_pt_says_so_and_writes_it_again(cache, trained, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(trained.parent, run)
    (run / "best.pt").unlink()
    scripted_validation(monkeypatch, {2: -1.0})  # worse than epoch 1, whose weights best.pt held
    code, out, _ = run_cli(capsys, "train", "--epochs", "2", "--resume", *tiny(cache, run))
    assert code == 0 and f"{run / 'best.pt'} is missing: the next epoch writes it, whatever its PSNR" in out
    assert nn.load(run / "best.pt")["metrics"] == nn.load(run / "checkpoint.pt")["history"][1]


CORRUPTIONS = {
    "no model": (lambda c: c.pop("model"), "has no 'model' entry"),
    "a string weight": (lambda c: c["model"].__setitem__("0.weight", "w"), "its 'model' entry '0.weight' is a str"),
    "config a list": (lambda c: c.__setitem__("config", ["seed"]), "its 'config' entry is a list, not a dict"),
    "config factor a str": (lambda c: c["config"].__setitem__("factor", "8"), "config entry 'factor' is '8'"),
    "a weight of the wrong shape": (lambda c: c["model"].__setitem__("0.weight", torch.zeros(2)), "do not fit"),
    "no optimizer": (lambda c: c.pop("optimizer"), "has no 'optimizer' entry to resume from"),
    "no epoch": (lambda c: c.pop("epoch"), "has no 'epoch' entry to resume from"),
    "rng a list": (lambda c: c.__setitem__("rng", [1, 2]), "its 'rng' entry is a list, expected Tensor"),
    "optimizer state of another model": (lambda c: c["optimizer"].__setitem__("param_groups", []), "optimizer state"),
}
RESUME_ONLY = {"no optimizer", "no epoch", "rng a list", "optimizer state of another model"}


@pytest.mark.parametrize(
    "command,corruption",
    [  # evaluating and denoising need only the weights and the config
        (command, corruption)
        for corruption in CORRUPTIONS
        for command in ["resume", "evaluate", "denoise", "Model"]
        if command == "resume" or corruption not in RESUME_ONLY
    ],
)
def test_a_broken_checkpoint_is_one_line_naming_the_file(cache, trained, tmp_path, capsys, command, corruption):
    corrupt, message = CORRUPTIONS[corruption]
    ckpt = nn.load(trained)
    corrupt(ckpt)
    run = tmp_path / "run"
    run.mkdir()
    path = run / "checkpoint.pt"
    torch.save(ckpt, path)
    if command == "Model":
        with pytest.raises(CheckpointError) as info:
            Model(weights=path)
        assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
        return
    argv = {
        "resume": ["train", "--epochs", "2", "--resume", *tiny(tmp_path / "unused-cache", run)],
        "evaluate": ["evaluate", "--checkpoint", str(path), "--data-dir", str(cache), "--train-size", "64",
                     "--val-size", "8"],
        "denoise": ["denoise", "--checkpoint", str(path), "--input", "in.png", "--output", str(tmp_path / "o.png")],
    }[command]  # fmt: skip
    code, _, err = run_cli(capsys, *argv)
    line = one_error_line(err)
    assert code == 1 and line.startswith(f"error: {path}: ") and message in line, line
    assert not (tmp_path / "unused-cache").exists() and not (tmp_path / "o.png").exists()


def test_the_harness_loads_a_broken_shipped_file_with_one_error(tmp_path, monkeypatch):
    torch.save({"model": {"0.weight": [1.0]}, "config": {}}, tmp_path / "seed.pt")
    monkeypatch.setattr(model, "PRETRAINED", tmp_path)
    with pytest.raises(CheckpointError, match=r"seed.pt: its 'model' entry '0.weight' is a list, not a tensor"):
        Model().load_pretrained_model()
    monkeypatch.setattr(model, "PRETRAINED", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no shipped weights at .*missing/seed.pt.*Model\(weights=path\)"):
        Model().load_pretrained_model()


# --- Ctrl-C --------------------------------------------------------------------------------------------
def test_ctrl_c_saves_and_exits_130(cache, tmp_path):
    run = tmp_path / "run"
    argv = ["-m", "examples.noise2noise", "train", "--epochs", "1000", *tiny(cache, run), "--train-size", "1024",
            "--batch-size", "8"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the handler is installed as training starts, right after this line
            if line.startswith("training "):
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "stopped " in out and "checkpoint saved to" in out and "final validation PSNR" not in out
    assert nn.load(run / "checkpoint.pt")["config"]["epochs"] == 1000


@pytest.mark.parametrize("arch", ["seed", "dncnn"])
def test_compiled_training_equals_eager_to_the_bit(cache, tmp_path, capsys, arch):
    """train --compile replays each step's kernels (SGD for seed, Adam for dncnn): the same weights, optimizer
    state and metrics as the eager run, bit for bit."""
    extra = ["--arch", arch] + (["--width", "4"] if arch == "dncnn" else [])
    runs = {}
    for name, flag in (("eager", []), ("compiled", ["--compile"])):
        code, _, err = run_cli(capsys, "train", "--epochs", "2", *tiny(cache, tmp_path / name), *extra, *flag)
        assert code == 0, err
        runs[name] = nn.load(tmp_path / name / "checkpoint.pt")
    eager, compiled = runs["eager"], runs["compiled"]
    assert compiled["config"]["compile"] and not eager["config"]["compile"]
    assert TrainConfig.from_dict(compiled["config"]).compile  # what --resume reads back
    for key, value in eager["model"].items():
        assert torch.equal(value, compiled["model"][key]), key
    for index, state in eager["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(compiled["optimizer"]["state"][index][key]))
    assert [row["val_psnr"] for row in eager["history"]] == [row["val_psnr"] for row in compiled["history"]]


def test_compile_traces_the_step_then_replays_it():
    from examples.noise2noise.backends import EngineBackend

    backend = EngineBackend(TrainConfig(factor=2, compile=True), torch.device("cpu"))
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    losses = [backend.train_step(x, x) for _ in range(5)]
    assert backend._gradients.traces <= 2 and backend._gradients.replays >= 3  # (a first call may warm up)
    assert losses[-1] < losses[0]


def test_a_checkpoint_with_nan_weights_is_refused_naming_the_entry(tmp_path, capsys):
    saved = nn.load(Path(__file__).parents[1] / "examples/noise2noise/pretrained/seed.pt")
    key = next(iter(saved["model"]))
    saved["model"][key].fill_(float("nan"))
    bad = tmp_path / "nan.pt"
    nn.save(saved, bad)
    photo = tmp_path / "in.png"
    images.write_image(photo, torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8))
    code, _, err = run_cli(capsys, "denoise", "--checkpoint", str(bad), "--input", str(photo), "--output",
                           str(tmp_path / "out.png"))  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and str(bad) in line and f"'model' entry {key!r} holds NaN or infinite values" in line
    assert not (tmp_path / "out.png").exists()


def test_denoise_refuses_to_write_over_its_input(tmp_path, capsys):
    photo = tmp_path / "in.png"
    images.write_image(photo, torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8))
    code, _, err = run_cli(capsys, "denoise", "--arch", "seed", "--input", str(photo), "--output", str(photo))
    assert code == 2 and "argument --output:" in err and "is the --input photo" in err
    out = str(tmp_path / "o.png")
    args = ["--arch", "seed", "--input", str(photo), "--output", out, "--add-noise", "--noisy-output", out]
    code, _, err = run_cli(capsys, "denoise", *args)
    assert code == 2 and "is also --output" in err


def test_a_run_whose_data_cannot_be_loaded_leaves_no_empty_folder(tmp_path, capsys):
    run = tmp_path / "new-run"
    missing = tmp_path / "missing.pkl"
    code, _, err = run_cli(capsys, "train", "--train-data", str(missing), "--val-data", str(missing), "--out", str(run))
    assert code != 0 and str(missing) in err and not run.exists()
