"""The training loop: per-epoch validation and reports, atomic checkpoints, exact resume, and the checks
on the run folder and the data that come before any training.

A checkpoint holds the model, the optimizer, the data-order generator as it was at the start of the
current epoch and how many steps of that epoch are done, so `--resume` continues to the same numbers
as an uninterrupted run, also after a Ctrl-C in the middle of an epoch. A checkpoint is written only
when every weight is finite, so the one on disk is always the last good one. Beside it, `best.pt` holds
the weights of the epoch with the best validation PSNR so far (the model to ship), written first.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import torch
from tqdm import tqdm

import nn

from . import architectures, checkpoints, data
from .backends import denoise, make_backend
from .config import TrainConfig, resolve_device
from .metrics import psnr
from .noise import Noise
from .reports import plot_metrics, save_samples, write_metrics

RUN_FILES = ("checkpoint.pt", "metrics.csv", "metrics.png", "samples.png", "best.pt")
"""What a run writes into its folder (`--overwrite` removes them first)."""
SAME_RUN = (
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
    "width",
    "crop",
)
"""Config entries a resumed run must share with its checkpoint (--epochs and --lr may change)."""


class TrainingDivergedError(RuntimeError):
    """The loss or the weights became NaN or infinite."""


class RunExistsError(ValueError):
    """The run folder holds another run, and neither --resume nor --overwrite was asked for."""


class RunFolderError(OSError):
    """The run folder cannot be created or written (read-only, under a file, disk full)."""


class EpochTiming(NamedTuple):
    """How long the steps of an epoch took, and how many images they trained on."""

    seconds: float
    images: int


# --- before training: the run folder and the data ----------------------------------------------------
def run_conflict(out: Path) -> str | None:
    """Why training into `out` afresh would replace another run's files, or None."""
    found = [name for name in RUN_FILES[:2] if (out / name).exists()]
    if not found:
        return None
    return (
        f"{out} already holds a run ({' and '.join(found)}); continue it with --resume, train into a fresh "
        "--out, or replace it with --overwrite"
    )


def is_disk_full(error: BaseException | None) -> bool:
    """Whether `error` or an exception it was raised from is ENOSPC (torch.save wraps it in a RuntimeError)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        error = error.__cause__ or error.__context__
    return False


@contextmanager
def reporting_disk_full(path: Path, note: str = "") -> Iterator[None]:
    """Turn a full disk while writing `path` into a RunFolderError naming it (and `note`)."""
    try:
        yield
    except Exception as e:
        if is_disk_full(e):
            raise RunFolderError(f"disk full: could not write {path}{note}") from e
        raise


def prepare_run_folder(out: Path, resume: bool = False, overwrite: bool = False, writer: bool = True) -> None:
    """Refuse to replace another run; make sure the folder can be created and written (a probe file is
    written and removed); remove temporary files that a killed checkpoint write left behind, and with
    `overwrite` the files of the run it replaces. Only the `writer` (rank 0) touches the folder."""
    conflict = None if resume or overwrite else run_conflict(out)
    if conflict:
        raise RunExistsError(conflict)
    if not writer:
        return
    probe = out / f".write-probe-{os.getpid()}.tmp"
    try:
        with reporting_disk_full(out):
            out.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"can the run folder be written?")
            probe.unlink()
    except RunFolderError:
        raise
    except OSError as e:
        raise RunFolderError(f"cannot write the run folder {out}: {e.strerror or e}") from e
    for stale in [*out.glob(".checkpoint.pt.*.tmp"), *out.glob(".best.pt.*.tmp"), *out.glob(".write-probe-*.tmp")]:
        stale.unlink(missing_ok=True)
    if overwrite and not resume:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)


def check_pairs(pairs: data.Pairs, path: str, multiple: int = 1, arch: str = "") -> data.Pairs:
    """A course file's pairs, refused when empty or (for training, `multiple` > 1) of a size the model cannot
    train on."""
    if len(pairs) == 0:
        raise data.DataError(f"{path}: holds no image pairs (expected N x 3 x H x W tensors with N at least 1)")
    h, w = pairs.input.shape[-2:]
    if h % multiple or w % multiple:
        raise data.DataError(
            f"{path}: the {arch} model trains on images whose height and width are multiples of {multiple}, "
            f"got {h} x {w}"
        )
    return pairs


def load_data(cfg: TrainConfig) -> tuple[data.Pairs, data.Pairs]:
    """Training pairs and validation (noisy, clean) pairs as the config asks."""
    noise = Noise(cfg.noise, cfg.noise_level)
    if cfg.train_data or cfg.val_data:
        if not (cfg.train_data and cfg.val_data):
            raise data.DataError("--train-data and --val-data go together (course files: train_data.pkl, val_data.pkl)")
        multiple = architectures.size_multiple(cfg.arch)
        return (
            check_pairs(data.load_pair_file(cfg.train_data), cfg.train_data, multiple, cfg.arch),
            check_pairs(data.load_pair_file(cfg.val_data), cfg.val_data),
        )
    if cfg.images:
        train_clean, val_clean = data.folder_clean(cfg.images, cfg.train_size, cfg.val_size, cfg.seed, crop=cfg.crop)
        return (
            data.make_pairs(train_clean, noise, cfg.seed + 1, cfg.target),
            data.make_pairs(val_clean, noise, cfg.seed + 2, "clean"),
        )
    cache = Path(cfg.data_dir) if cfg.data_dir else None
    return data.builtin_data(noise, cache, cfg.train_size, cfg.val_size, cfg.seed, cfg.target, crop=cfg.crop)


def first_non_finite(state: Any, where: str = "") -> str | None:
    """Where a floating-point tensor in a nest of dicts and lists holds NaN or inf, e.g. 'model 0.weight
    holds nan', or None."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() and not bool(torch.isfinite(state).all()):
            return f"{where} holds {'nan' if bool(state.isnan().any()) else 'inf'}"
        return None
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    for key, value in items:
        found = first_non_finite(value, f"{where} {key}" if where else str(key))
        if found:
            return found
    return None


def _where(epoch: int, step: int) -> str:
    """A run's position: epochs finished, and steps done in the next one."""
    return f"after epoch {epoch}" if step == 0 else f"at epoch {epoch + 1}, step {step}"


# --- the loop ---------------------------------------------------------------------------------------
class Trainer:
    """One training run; `run()` trains to `cfg.epochs`, resuming from the run folder when asked.

    Everything that can be checked is checked before the data is loaded: the checkpoint to resume from
    (and that its weights and optimizer state fit), that the folder holds no other run (unless
    `overwrite`), and that it can be written.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        resume: bool = False,
        on_step: Callable[[Trainer, int, int], None] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.checkpoint_path = self.out / "checkpoint.pt"
        self.best_path = self.out / "best.pt"
        self.rank, self.world = nn.parallel.rank(), nn.parallel.world_size()
        saved = checkpoints.read(self.checkpoint_path, resume=True) if resume else None
        if saved is not None:
            self._check_same_run(TrainConfig.from_dict(saved["config"]))
        self.on_step = on_step
        created = not self.out.exists()
        prepare_run_folder(self.out, resume, overwrite, writer=self.rank == 0)
        try:
            self._set_up(cfg, saved)
        except BaseException:  # (bad data, Ctrl-C while loading: no empty run folder is left behind)
            if created and self.out.is_dir() and not any(self.out.iterdir()):
                self.out.rmdir()
            raise

    def _set_up(self, cfg: TrainConfig, saved: dict[str, Any] | None) -> None:
        """The model, its optimizer state (when resuming) and the data, in the run folder made ready."""
        self.device = resolve_device(cfg.device)
        self.backend = make_backend(cfg, self.device)
        if self.world > 1:
            if cfg.batch_size % self.world:
                raise ValueError(f"--batch-size {cfg.batch_size} must divide among {self.world} processes")
            self.backend.distribute()
        self.multiple = architectures.size_multiple(cfg.arch)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict[str, Any]] = []
        self.epoch, self.step, self.loss_sum, self.seen = 0, 0, 0.0, 0
        self.epoch_rng = self.gen.get_state()
        self.saved_at: tuple[int, int] | None = None  # (epoch, step) of the checkpoint on disk
        self.best_psnr = -math.inf  # the validation PSNR of the weights in best.pt
        self.notes: list[str] = []  # said when the run starts
        self.stop_requested = False
        if saved is not None:
            self._restore(saved)
        self.train_data, self.val_data = load_data(cfg)  # the slow part, last

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

    def _save(self, best: bool = False) -> None:
        """Write the checkpoint (and with `best` first best.pt, so that best.pt never lags behind the
        checkpoint) if every weight and optimizer state is finite, else stop with the reason."""
        state = self._state()
        bad = first_non_finite({"model": state["model"], "optimizer": state["optimizer"]["state"]})
        if bad:
            raise TrainingDivergedError(
                f"the weights became NaN or infinite ({bad}) {_where(self.epoch, self.step)}; they were not saved; "
                f"{self._kept()}; a lower --lr usually helps"
            )
        if self.rank == 0:  # one writer; every rank can read it back to resume
            if best:
                with reporting_disk_full(self.best_path, f"; {self._kept()}"):
                    nn.save(
                        dict(model=state["model"], config=state["config"], metrics=self.history[-1]), self.best_path
                    )
            with reporting_disk_full(self.checkpoint_path, f"; {self._kept()}"):
                nn.save(state, self.checkpoint_path)
        self.saved_at = (self.epoch, self.step)

    def _kept(self) -> str:
        """What the checkpoint on disk holds, truly."""
        if self.saved_at is None:
            return f"no checkpoint was saved yet ({self.checkpoint_path} does not exist)"
        return f"the last good checkpoint ({_where(*self.saved_at)}) is kept in {self.checkpoint_path}"

    def _check_same_run(self, saved: TrainConfig) -> None:
        for name in SAME_RUN:
            if getattr(saved, name) != getattr(self.cfg, name):
                raise ValueError(
                    f"--resume: the checkpoint in {self.out} was trained with {name}="
                    f"{getattr(saved, name)!r}, not {getattr(self.cfg, name)!r}"
                )

    def _restore(self, ckpt: dict[str, Any]) -> None:
        checkpoints.load_weights(self.backend.core, ckpt["model"], self.checkpoint_path)
        checkpoints.load_optimizer(self.backend.opt, ckpt["optimizer"], self.checkpoint_path)
        self.epoch, self.step, self.loss_sum, self.seen = ckpt["epoch"], ckpt["step"], ckpt["loss_sum"], ckpt["seen"]
        self.history = ckpt["history"]
        self.epoch_rng = ckpt["rng"]
        try:
            self.gen.set_state(self.epoch_rng)
        except RuntimeError as e:
            raise checkpoints.CheckpointError(
                f"{self.checkpoint_path}: its 'rng' entry is not a generator state: {e}"
            ) from None
        self.saved_at = (self.epoch, self.step)
        self._restore_best()
        saved = TrainConfig.from_dict(ckpt["config"])
        if self.cfg.schedule == "cosine" and saved.epochs != self.cfg.epochs:
            self.notes.append(
                f"the cosine schedule decays over {self.cfg.epochs} epochs from here on (the run so far: over "
                f"{saved.epochs}); its learning rate jumps"
            )
        if saved.lr != self.cfg.lr:  # the optimizer state brought the old one back; what is recorded is what runs
            for group in self.backend.opt.param_groups:
                group["lr"] = self.cfg.lr
            self.notes.append(f"learning rate {self.cfg.lr:g} from here on (the run so far used {saved.lr:g})")

    def _restore_best(self) -> None:
        """The best validation PSNR so far, from the history; best.pt holds its weights (it is written before
        the checkpoint). A missing best.pt is said, and the next epoch writes it."""
        psnrs = [row["val_psnr"] for row in self.history if math.isfinite(row.get("val_psnr", math.nan))]
        if not psnrs or self.rank != 0:
            return
        if self.best_path.exists():
            self.best_psnr = max(psnrs)
        else:
            self.notes.append(f"{self.best_path} is missing: the next epoch writes it, whatever its PSNR")

    # training
    def run(self, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
        for note in self.notes:
            log(note)
        self.out.mkdir(parents=True, exist_ok=True)
        previous = self._install_sigint()
        try:
            while self.epoch < self.cfg.epochs:
                timing = self._train_epoch()
                if timing is None:  # stopped within the epoch
                    self._save()
                else:
                    self._end_epoch(timing, log)
                if self.stop_requested and (timing is None or self.epoch < self.cfg.epochs):
                    where = _where(self.epoch, self.step)
                    log(f"stopped {where}; checkpoint saved to {self.checkpoint_path} (continue with --resume)")
                    break
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

    def _train_epoch(self) -> EpochTiming | None:
        """Train the rest of the current epoch; its timing, or None if a stop was requested before its end."""
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
            where = f"at epoch {self.epoch + 1}, step {step + 1}"
            try:
                loss = self.backend.train_step(x, y)
            except RuntimeError as e:  # an optimizer's update past the dtype's range (Adam with a huge --lr)
                if "overflow" not in str(e):
                    raise
                raise TrainingDivergedError(
                    f"the update overflowed {where} ({e}); stopped; {self._kept()}; a lower --lr usually helps"
                ) from e
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"the training loss became {loss} {where}; stopped; {self._kept()}; a lower --lr usually helps"
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
                return None
        return EpochTiming(time.perf_counter() - start, images)

    def _end_epoch(self, timing: EpochTiming, log: Callable[[str], None]) -> None:
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
            seconds=round(timing.seconds, 2),
            images_per_s=round(timing.images / timing.seconds, 1),
        )
        self.history.append(row)
        self.epoch, self.step, self.loss_sum, self.seen = self.epoch + 1, 0, 0.0, 0
        self.epoch_rng = self.gen.get_state()
        best = val > self.best_psnr  # never on ranks other than 0 (NaN)
        self._save(best)
        if best:
            self.best_psnr = val
        if self.rank != 0:
            return
        with reporting_disk_full(self.out, " (metrics.csv, metrics.png, samples.png; the checkpoint was saved)"):
            write_metrics(self.out, self.history)
            plot_metrics(self.out / "metrics.png", self.history)
            save_samples(self.out / "samples.png", self.val_data, self.predict_val(8))
        log(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.6f}, validation PSNR {val:.2f} dB "
            f"({row['images_per_s']:.0f} images/s)" + (f"; the best so far, saved to {self.best_path}" if best else "")
        )

    def predict_val(self, count: int | None = None) -> torch.Tensor:
        noisy = self.val_data.input if count is None else self.val_data.input[:count]
        return denoise(self.backend, noisy.float() / 255, self.multiple)

    def validate(self) -> float:
        return psnr(self.predict_val(), self.val_data.target.float() / 255)
