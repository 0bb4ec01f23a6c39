"""Training: the loop, per-epoch validation, metrics and pictures, atomic checkpoints, exact resume.

A checkpoint holds the model, the optimizer, the data-order generator as it was at the start of the
current epoch and how many steps of that epoch are done, so `--resume` continues to the same numbers
as an uninterrupted run, also after a Ctrl-C in the middle of an epoch.
"""

from __future__ import annotations

import csv
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import autograd_engine as ag
import nn

from . import architectures, data
from .metrics import psnr
from .noise import Noise


@dataclass
class TrainConfig:
    """Everything a run depends on (saved in its checkpoint)."""

    arch: str = "seed"
    factor: int = 8
    kernel: int = 3
    epochs: int = 10
    batch_size: int = 64
    lr: float = 5.0
    optimizer: str = "sgd"
    seed: int = 0
    device: str = "auto"
    noise: str = "gaussian"
    noise_level: float | None = None
    target: str = "noisy"
    backend: str = "engine"
    train_size: int = 50_000
    val_size: int = 1_000
    data_dir: str | None = None
    train_data: str | None = None
    val_data: str | None = None
    images: str | None = None
    out: str = "runs/n2n"
    schedule: str = "constant"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def resolve_device(name: str) -> torch.device:
    """--device: auto, cpu or cuda[:N]; under torchrun, cuda means this process's own GPU."""
    try:
        return nn.parallel.local_device(name)
    except ValueError as e:
        raise ValueError(f"--{e}") from None


def load_data(cfg: TrainConfig) -> tuple[data.Pairs, data.Pairs]:
    """Training pairs and validation (noisy, clean) pairs as the config asks."""
    noise = Noise(cfg.noise, cfg.noise_level)
    if cfg.train_data or cfg.val_data:
        if not (cfg.train_data and cfg.val_data):
            raise data.DataError("--train-data and --val-data go together (course files: train_data.pkl, val_data.pkl)")
        return data.load_pair_file(cfg.train_data), data.load_pair_file(cfg.val_data)
    if cfg.images:
        train_clean, val_clean = data.folder_clean(cfg.images, cfg.train_size, cfg.val_size, cfg.seed)
        return (
            data.make_pairs(train_clean, noise, cfg.seed + 1, cfg.target),
            data.make_pairs(val_clean, noise, cfg.seed + 2, "clean"),
        )
    return data.builtin_data(
        noise, cfg.data_dir and Path(cfg.data_dir), cfg.train_size, cfg.val_size, cfg.seed, cfg.target
    )


# --- the two backends ----------------------------------------------------------------------------
class EngineBackend:
    """The model on autograd_engine + nn."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.model = self.core = architectures.build(cfg.arch, "engine", cfg.factor, cfg.kernel, cfg.seed).to(device)
        params = list(self.model.parameters())
        self.opt = nn.SGD(params, lr=cfg.lr) if cfg.optimizer == "sgd" else nn.Adam(params, lr=cfg.lr)
        self.l1 = Noise(cfg.noise, cfg.noise_level).loss == "l1" and cfg.target == "noisy"

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.opt.zero_grad()
        out = self.model(ag.Variable(x))
        loss = ag.abs(out - y).mean() if self.l1 else nn.functional.mse_loss(out, y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with ag.no_grad():
            return self.core(ag.Variable(x)).data

    def distribute(self) -> None:
        """Average gradients over the processes of the running torch.distributed group."""
        self.model = nn.parallel.DistributedDataParallel(self.core)


class TorchBackend(EngineBackend):
    """The torch.nn twin: same architecture, initialisation, data order and update rule."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.model = self.core = architectures.build(cfg.arch, "torch", cfg.factor, cfg.kernel, cfg.seed).to(device)
        make = torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.Adam
        self.opt = make(self.model.parameters(), lr=cfg.lr)
        self.l1 = Noise(cfg.noise, cfg.noise_level).loss == "l1" and cfg.target == "noisy"

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.opt.zero_grad()
        out = self.model(x)
        loss = (out - y).abs().mean() if self.l1 else torch.nn.functional.mse_loss(out, y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.core(x)

    def distribute(self) -> None:
        self.model = torch.nn.parallel.DistributedDataParallel(self.core)


def make_backend(cfg: TrainConfig, device: torch.device) -> EngineBackend:
    if cfg.optimizer not in ("sgd", "adam"):
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose sgd or adam")
    return (EngineBackend if cfg.backend == "engine" else TorchBackend)(cfg, device)


def denoise(backend: EngineBackend, images: torch.Tensor, multiple: int, batch: int = 256) -> torch.Tensor:
    """Denoise uint8-range or 0..1 float images of any size (padded to `multiple`), result in 0..1."""
    device = next(iter(backend.core.parameters())).device
    h, w = images.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    outs = []
    for chunk in images.split(batch):
        x = chunk.to(device, torch.float32)
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        outs.append(backend.predict(x)[..., :h, :w].clamp(0, 1).cpu())
    return torch.cat(outs)


# --- the loop ---------------------------------------------------------------------------------------
class Trainer:
    """One training run; `run()` trains to `cfg.epochs`, resuming from the run folder when asked."""

    def __init__(
        self, cfg: TrainConfig, resume: bool = False, on_step: Callable[[Trainer, int, int], None] | None = None
    ) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.checkpoint_path = self.out / "checkpoint.pt"
        self.device = resolve_device(cfg.device)
        self.train_data, self.val_data = load_data(cfg)
        self.backend = make_backend(cfg, self.device)
        self.rank, self.world = nn.parallel.rank(), nn.parallel.world_size()
        if self.world > 1:
            if cfg.batch_size % self.world:
                raise ValueError(f"--batch-size {cfg.batch_size} must divide among {self.world} processes")
            self.backend.distribute()
        self.multiple = architectures.size_multiple(cfg.arch)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict[str, Any]] = []
        self.epoch, self.step, self.loss_sum, self.seen = 0, 0, 0.0, 0
        self.epoch_rng = self.gen.get_state()
        self.on_step = on_step
        self.stop_requested = False
        if resume:
            self._restore()

    def request_stop(self) -> None:
        """Stop after the current step and save a checkpoint (what Ctrl-C does)."""
        self.stop_requested = True

    # checkpoints
    def _state(self) -> dict[str, Any]:
        return dict(
            config=asdict(self.cfg),
            model=self.backend.core.state_dict(),
            optimizer=self.backend.opt.state_dict(),
            epoch=self.epoch,
            step=self.step,
            rng=self.epoch_rng,
            loss_sum=self.loss_sum,
            seen=self.seen,
            history=self.history,
        )

    def _save(self) -> None:
        if self.rank == 0:  # one writer; every rank can read it back to resume
            nn.save(self._state(), self.checkpoint_path)

    def _restore(self) -> None:
        ckpt = nn.load(self.checkpoint_path)
        saved = TrainConfig.from_dict(ckpt["config"])
        for name in (
            "arch",
            "factor",
            "kernel",
            "batch_size",
            "optimizer",
            "seed",
            "noise",
            "noise_level",
            "target",
            "backend",
            "train_size",
            "val_size",
            "schedule",
        ):
            if getattr(saved, name) != getattr(self.cfg, name):
                raise ValueError(
                    f"--resume: the checkpoint in {self.out} was trained with {name}="
                    f"{getattr(saved, name)!r}, not {getattr(self.cfg, name)!r}"
                )
        self.backend.core.load_state_dict(ckpt["model"])
        self.backend.opt.load_state_dict(ckpt["optimizer"])
        self.epoch, self.step, self.loss_sum, self.seen = ckpt["epoch"], ckpt["step"], ckpt["loss_sum"], ckpt["seen"]
        self.history = ckpt["history"]
        self.epoch_rng = ckpt["rng"]
        self.gen.set_state(self.epoch_rng)

    # training
    def run(self, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
        self.out.mkdir(parents=True, exist_ok=True)
        previous = self._install_sigint()
        try:
            while self.epoch < self.cfg.epochs:
                if not self._train_epoch():
                    self._save()
                    log(
                        f"stopped at epoch {self.epoch + 1}, step {self.step}; checkpoint saved to "
                        f"{self.checkpoint_path} (continue with --resume)"
                    )
                    break
                self._end_epoch(log)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return self.history

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: Any) -> None:
            if self.stop_requested:  # a second Ctrl-C stops at once
                raise KeyboardInterrupt
            self.request_stop()
            print("\nstopping after this step (Ctrl-C again to abort without saving)")

        return signal.signal(signal.SIGINT, handler)

    def _train_epoch(self) -> bool:
        """Train the rest of the current epoch; False if a stop was requested before its end."""
        n, bs = len(self.train_data), self.cfg.batch_size
        self.gen.set_state(self.epoch_rng)
        perm = torch.randperm(n, generator=self.gen)
        steps = math.ceil(n / bs)
        start = time.perf_counter()
        bar = tqdm(
            range(self.step, steps),
            initial=self.step,
            total=steps,
            unit="batch",
            leave=False,
            desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
            mininterval=1.0,
            disable=None,
        )
        images = 0
        for step in bar:
            idx = perm[step * bs : (step + 1) * bs]
            mine = idx.tensor_split(self.world)[self.rank]  # this process's share of the global batch
            x = self.train_data.input[mine].to(self.device, torch.float32) / 255
            y = self.train_data.target[mine].to(self.device, torch.float32) / 255
            if self.cfg.schedule == "cosine":  # from lr down to 0 over the whole run, per step
                progress = (self.epoch * steps + step) / (self.cfg.epochs * steps)
                for group in self.backend.opt.param_groups:
                    group["lr"] = self.cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
            loss = self.backend.train_step(x, y)
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"the training loss became {loss} at epoch {self.epoch + 1}, step {step + 1}; stopped. The last "
                    f"good checkpoint ({self._last_good()}) is kept in {self.checkpoint_path}; a lower --lr usually "
                    "helps"
                )
            self.step, self.loss_sum, self.seen = step + 1, self.loss_sum + loss * len(mine), self.seen + len(mine)
            images += len(idx)
            bar.set_postfix(
                loss=f"{self.loss_sum / self.seen:.5f}",
                img_s=f"{images / (time.perf_counter() - start):.0f}",
                refresh=False,
            )
            if self.on_step is not None:
                self.on_step(self, self.epoch, step)
            if self.stop_requested and self.step < steps:
                return False
        self._epoch_seconds = time.perf_counter() - start
        self._epoch_images = images
        return True

    def _last_good(self) -> str:
        return f"epoch {self.history[-1]['epoch']}" if self.history else "none yet: no epoch finished"

    def _end_epoch(self, log: Callable[[str], None]) -> None:
        loss_sum, seen = self.loss_sum, self.seen
        if self.world > 1:  # the epoch's loss over every rank's share
            totals = torch.tensor([loss_sum, float(seen)], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, seen = totals.tolist()
        val = self.validate() if self.rank == 0 else math.nan
        row = dict(
            epoch=self.epoch + 1,
            train_loss=loss_sum / max(seen, 1),
            val_psnr=val,
            seconds=round(self._epoch_seconds, 2),
            images_per_s=round(self._epoch_images / self._epoch_seconds, 1),
        )
        self.history.append(row)
        self.epoch, self.step, self.loss_sum, self.seen = self.epoch + 1, 0, 0.0, 0
        self.epoch_rng = self.gen.get_state()
        self._save()
        if self.rank != 0:
            return
        write_metrics(self.out, self.history)
        plot_metrics(self.out / "metrics.png", self.history)
        save_samples(self.out / "samples.png", self.val_data, self.predict_val(8))
        log(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.6f}, validation PSNR {val:.2f} dB "
            f"({row['images_per_s']:.0f} images/s)"
        )
        if self.stop_requested:
            self.epoch = self.cfg.epochs  # asked to stop exactly at an epoch boundary

    def predict_val(self, count: int | None = None) -> torch.Tensor:
        noisy = self.val_data.input if count is None else self.val_data.input[:count]
        return denoise(self.backend, noisy.float() / 255, self.multiple)

    def validate(self) -> float:
        return psnr(self.predict_val(), self.val_data.target.float() / 255)


# --- outputs ----------------------------------------------------------------------------------------
def write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def plot_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(epochs, [r["train_loss"] for r in history], marker="o")
    a.set(xlabel="epoch", ylabel="training loss", title="loss")
    b.plot(epochs, [r["val_psnr"] for r in history], marker="o", color="tab:green")
    b.set(xlabel="epoch", ylabel="dB", title="validation PSNR")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_samples(path: Path, val: data.Pairs, denoised: torch.Tensor, scale: int = 4) -> None:
    """A PNG grid: noisy inputs, denoised outputs and clean images in three rows."""
    from PIL import Image

    n = len(denoised)
    rows = [val.input[:n].float() / 255, denoised, val.target[:n].float() / 255]
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # 3 x (3h) x (n w)
    img = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(img).resize((img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST).save(path)


def render_graph(cfg: TrainConfig, path: Path) -> list[Path]:
    """The engine model's training graph (forward + loss at the configured batch size): expanded and collapsed."""
    model = architectures.build(cfg.arch, "engine", cfg.factor, cfg.kernel, cfg.seed)
    noisy = ag.Variable(torch.zeros(cfg.batch_size, 3, 32, 32), requires_grad=True, name="noisy input")
    loss = nn.MSE()(model(noisy), torch.zeros(cfg.batch_size, 3, 32, 32))
    path = Path(path)
    collapsed = path.with_name(f"{path.stem}-collapsed{path.suffix}")
    return [
        ag.graph.render(loss, path=path, params=model, scopes=True, max_nodes=2000),
        ag.graph.render(loss, path=collapsed, params=model, collapse=1),
    ]
