"""The GPT training loop: random windows of the training text, validation and a printed sample every
`eval_every` steps, atomic checkpoints, exact resume, and the checks on the run folder that come first.

A checkpoint holds the weights, AdamW's state, the schedule, the step, the batch generator's state and
torch's (which draws the dropout masks), so `--resume` continues to the same numbers as an
uninterrupted run, also after a Ctrl-C between evaluations. A checkpoint is written only when every
weight is finite, so the one on disk is always the last good one. The run-folder checks, the disk-full
reporting and the finiteness check are examples.noise2noise.training's.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import nn
from examples.noise2noise.checkpoints import CheckpointError, load_optimizer, load_weights
from examples.noise2noise.config import resolve_device
from examples.noise2noise.training import (
    TrainingDivergedError,
    first_non_finite,
    prepare_run_folder,
    reporting_disk_full,
)

from . import checkpoints
from .backends import make_backend
from .config import TrainConfig
from .data import Vocab, all_windows, builtin_corpus, random_windows
from .reports import append_sample, plot_metrics, write_metrics
from .sampling import generate

RUN_FILES = ("checkpoint.pt", "metrics.csv", "metrics.png", "samples.txt")
"""What a run writes into its folder (`--overwrite` removes them first)."""
MAY_CHANGE = ("device", "threads", "eval_every", "sample_chars", "compile", "out")
"""Config entries a resumed run may change (`compile` gives the same numbers); the others must be the
checkpoint's."""
VAL_BATCH = 64
"""Validation windows per forward pass."""


@contextmanager
def stop_on_sigint(request_stop: Callable[[], None], requested: Callable[[], bool]) -> Iterator[None]:
    """In the main thread, the first Ctrl-C calls `request_stop` (the loop saves and stops after the
    current step); a second one raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if requested():
            raise KeyboardInterrupt
        request_stop()
        print("\nstopping after this step (Ctrl-C again to abort without saving)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """One training run; `run()` trains to `cfg.steps`, resuming from the run folder when asked.

    The checkpoint to resume from is read and checked first (that it is the same run, on the same text),
    then the run folder (that it holds no other run, unless `overwrite`, and can be written).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        resume: bool = False,
        overwrite: bool = False,
        on_step: Callable[[Trainer, int], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.checkpoint_path = self.out / "checkpoint.pt"
        self.rank, self.world = nn.parallel.rank(), nn.parallel.world_size()
        saved = checkpoints.read(self.checkpoint_path, resume=True) if resume else None
        if saved is not None:
            self._check_same_run(TrainConfig.from_dict(saved["config"]))
        prepare_run_folder(self.out, resume, overwrite, writer=self.rank == 0)
        if overwrite and not resume and self.rank == 0:
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)
        self.corpus = builtin_corpus()
        self.vocab = Vocab.of(self.corpus.train + self.corpus.val)
        if saved is not None and (saved["data"], saved["vocab"]) != (self.corpus.fingerprint, self.vocab.chars):
            raise CheckpointError(
                f"{self.checkpoint_path}: was trained on other text (fingerprint {saved['data']}, here "
                f"{self.corpus.fingerprint}): pydoc's topics differ between Python versions; resume with the "
                "Python that started the run"
            )
        self.train_tokens = self.vocab.encode(self.corpus.train)
        self.val_x, self.val_y = all_windows(self.vocab.encode(self.corpus.val), cfg.context)
        self.device = resolve_device(cfg.device)
        self.model = cfg.model(len(self.vocab))
        self.backend = make_backend(cfg, self.model, self.device)
        if self.world > 1:
            if cfg.batch_size % self.world:
                raise ValueError(f"--batch-size {cfg.batch_size} must divide among {self.world} processes")
            self.backend.distribute()
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)  # the dropout masks
        self.history: list[dict[str, Any]] = []
        self.step, self.loss_sum, self.seen = 0, 0.0, 0
        self.saved_at: int | None = None  # the step of the checkpoint on disk
        self.on_step = on_step
        self.stop_requested = False
        if saved is not None:
            self._restore(saved)

    def request_stop(self) -> None:
        """Stop after the current step and save a checkpoint (what Ctrl-C does)."""
        self.stop_requested = True

    # checkpoints
    def _rng(self) -> dict[str, torch.Tensor]:
        rng = {"data": self.gen.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def _state(self) -> dict[str, Any]:
        return dict(
            config=asdict(self.cfg),
            model=self.backend.core.state_dict(),
            vocab=self.vocab.chars,
            data=self.corpus.fingerprint,
            optimizer=self.backend.opt.state_dict(),
            schedule=self.backend.schedule.state_dict(),
            step=self.step,
            rng=self._rng(),
            loss_sum=self.loss_sum,
            seen=self.seen,
            history=self.history,
        )

    def _save(self) -> None:
        """Write the checkpoint if every weight (and optimizer state) is finite, else stop with the reason."""
        state = self._state()
        bad = first_non_finite({"model": state["model"], "optimizer": state["optimizer"]["state"]})
        if bad:
            raise TrainingDivergedError(
                f"the weights became NaN or infinite ({bad}) at step {self.step}; they were not saved; "
                f"{self._kept()}; a lower --lr usually helps"
            )
        if self.rank == 0:  # one writer; every rank can read it back to resume
            with reporting_disk_full(self.checkpoint_path, f"; {self._kept()}"):
                nn.save(state, self.checkpoint_path)
        self.saved_at = self.step

    def _kept(self) -> str:
        """What the checkpoint on disk holds, truly."""
        if self.saved_at is None:
            return f"no checkpoint was saved yet ({self.checkpoint_path} does not exist)"
        return f"the last good checkpoint (step {self.saved_at}) is kept in {self.checkpoint_path}"

    def _check_same_run(self, saved: TrainConfig) -> None:
        for name, value in asdict(saved).items():
            if name not in MAY_CHANGE and getattr(self.cfg, name) != value:
                changeable = ", ".join(f"--{k.replace('_', '-')}" for k in MAY_CHANGE[:-1])
                raise ValueError(
                    f"--resume: the checkpoint in {self.out} was trained with {name}={value!r}, not "
                    f"{getattr(self.cfg, name)!r} (only {changeable} may change)"
                )

    def _restore(self, ckpt: dict[str, Any]) -> None:
        load_weights(self.backend.core, ckpt["model"], self.checkpoint_path)
        load_optimizer(self.backend.opt, ckpt["optimizer"], self.checkpoint_path)
        try:
            self.backend.schedule.load_state_dict(ckpt["schedule"])
            self.gen.set_state(ckpt["rng"]["data"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            if self.device.type == "cuda" and "cuda" in ckpt["rng"]:
                torch.cuda.set_rng_state(ckpt["rng"]["cuda"], self.device)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{self.checkpoint_path}: its schedule or generators do not fit: {e}") from None
        self.step, self.loss_sum, self.seen = ckpt["step"], ckpt["loss_sum"], ckpt["seen"]
        self.history = ckpt["history"]
        self.saved_at = self.step

    # training
    def run(self, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
        """Train to cfg.steps (or until a stop is requested, after saving); the history of evaluations."""
        self.out.mkdir(parents=True, exist_ok=True)
        bar = tqdm(
            range(self.step, self.cfg.steps),
            initial=self.step,
            total=self.cfg.steps,
            unit="step",
            leave=False,
            mininterval=1.0,
            disable=None,
        )
        with stop_on_sigint(self.request_stop, lambda: self.stop_requested):
            start, steps = time.perf_counter(), 0
            for _ in bar:
                lr = self.backend.opt.param_groups[0]["lr"]
                self._train_step()
                steps += 1
                bar.set_postfix(loss=f"{self.loss_sum / self.seen:.4f}", refresh=False)
                if self.on_step is not None:
                    self.on_step(self, self.step)
                if self.step % self.cfg.eval_every == 0 or self.step == self.cfg.steps:
                    self._evaluate(lr, time.perf_counter() - start, steps, log)
                    start, steps = time.perf_counter(), 0
                elif self.stop_requested:
                    self._save()
                if self.stop_requested and self.step < self.cfg.steps:
                    where = f"checkpoint saved to {self.checkpoint_path}"
                    log(f"stopped at step {self.step}; {where} (continue with --resume)")
                    break
        bar.close()
        return self.history

    def _train_step(self) -> None:
        x, y = random_windows(self.train_tokens, self.cfg.context, self.cfg.batch_size, self.gen)
        x, y = (t.tensor_split(self.world)[self.rank].to(self.device) for t in (x, y))  # this process's share
        try:
            loss = self.backend.train_step(x, y)
        except RuntimeError as e:  # an optimizer's update past the dtype's range (AdamW with a huge --lr)
            if "overflow" not in str(e):
                raise
            raise TrainingDivergedError(
                f"the update overflowed at step {self.step + 1} ({e}); stopped; {self._kept()}; "
                "a lower --lr usually helps"
            ) from e
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"the training loss became {loss} at step {self.step + 1}; stopped; {self._kept()}; "
                "a lower --lr usually helps"
            )
        self.step, self.loss_sum, self.seen = self.step + 1, self.loss_sum + loss, self.seen + 1

    def _evaluate(self, lr: float, seconds: float, steps: int, log: Callable[[str], None]) -> None:
        loss_sum, seen = self.loss_sum, self.seen
        if self.world > 1:  # the interval's loss over every rank's share
            totals = torch.tensor([loss_sum, float(seen)], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, seen = totals.tolist()
        val = self.validate() if self.rank == 0 else math.nan
        row = dict(
            step=self.step,
            train_loss=loss_sum / max(seen, 1),
            val_loss=val,
            val_bpc=val / math.log(2),
            lr=lr,
            seconds=round(seconds, 2),
            chars_per_s=round(steps * self.cfg.batch_size * self.cfg.context / max(seconds, 1e-9), 1),
        )
        self.history.append(row)
        self.loss_sum, self.seen = 0.0, 0
        self._save()
        if self.rank != 0:
            return
        text = self.sample() if self.cfg.sample_chars else ""
        with reporting_disk_full(self.out, " (metrics.csv, metrics.png, samples.txt; the checkpoint was saved)"):
            write_metrics(self.out, self.history)
            plot_metrics(self.out / "metrics.png", self.history)
            if text:
                append_sample(self.out / "samples.txt", self.step, text)
        log(
            f"step {self.step}: train loss {row['train_loss']:.4f}, validation {row['val_bpc']:.3f} bits per "
            f"character ({row['chars_per_s']:,.0f} characters/s)"
        )
        if text:
            log("  " + text.replace("\n", "\n  "))

    def validate(self) -> float:
        """The mean loss (nats per character) over the whole validation text."""
        total = 0.0
        for x, y in zip(self.val_x.split(VAL_BATCH), self.val_y.split(VAL_BATCH)):
            total += self.backend.loss(x.to(self.device), y.to(self.device)) * len(x)
        return total / len(self.val_x)

    def sample(self, prompt: str = "\n") -> str:
        """cfg.sample_chars characters from the model (temperature 0.8, seed 0: comparable between steps)."""
        return generate(
            self.backend.logits, self.vocab, prompt, self.cfg.sample_chars, self.cfg.context, 0.8, None, 0, self.device
        )
