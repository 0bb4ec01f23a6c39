"""Reading checkpoints back: what a run's checkpoint.pt (and a shipped pretrained/*.pt) must hold, checked
before use, so that a damaged or foreign file is one error naming the file and what is wrong.

A checkpoint is a dict: `model` (the state dict, torch.nn's keys) and `config` (a TrainConfig as a dict)
in every one; a run's checkpoint adds what `--resume` needs: `optimizer` (its state dict), `epoch` and
`step` (where the run stands), `rng` (the data-order generator at the start of that epoch), `loss_sum`
and `seen` (the epoch's loss so far), `history` (a row per finished epoch).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import nn

from . import architectures
from .backends import Backend, make_backend
from .config import TrainConfig
from .noise import Noise

EXPECTED = "expected the checkpoint.pt of a train run or a shipped pretrained/*.pt"
RESUME_ENTRIES: dict[str, tuple[type, ...]] = {
    "optimizer": (dict,),
    "epoch": (int,),
    "step": (int,),
    "rng": (torch.Tensor,),
    "loss_sum": (int, float),
    "seen": (int,),
    "history": (list,),
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the file and what is wrong."""


def read(path: str | Path, resume: bool = False, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint at `path`, checked: a `model` state dict of tensors and a valid `config`, and with
    `resume` everything a run continues from. With `weights_only` a bare state dict (no config) is accepted
    too, as {"model": state}. Tensors are on the CPU."""
    ckpt = nn.load(path, map_location="cpu")  # a missing or unreadable file: one clear error already

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: {what} ({EXPECTED})")

    if not isinstance(ckpt, dict):
        raise bad(f"holds a {type(ckpt).__name__}, not a checkpoint dict")
    if weights_only and "model" not in ckpt and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        ckpt = {"model": ckpt}
    required = ["model"] + ([] if weights_only else ["config"]) + (list(RESUME_ENTRIES) if resume else [])
    missing = [k for k in required if k not in ckpt]
    if missing:
        cannot = " to resume from" if resume and set(missing) <= set(RESUME_ENTRIES) else ""
        raise bad(f"has no {', '.join(repr(k) for k in missing)} entr{'y' if len(missing) == 1 else 'ies'}{cannot}")
    model = ckpt["model"]
    if not isinstance(model, dict) or not model:
        raise bad(f"its 'model' entry is {_a(model)}, not a state dict")
    for key, value in model.items():
        if not isinstance(value, torch.Tensor):
            raise bad(f"its 'model' entry {key!r} is {_a(value)}, not a tensor")
        if value.is_floating_point() and not bool(value.isfinite().all()):  # (a diverged run's, never saved here)
            raise bad(f"its 'model' entry {key!r} holds NaN or infinite values")
    if "config" in ckpt:
        _check_config(ckpt["config"], bad)
    if resume:
        for key, types in RESUME_ENTRIES.items():
            if not isinstance(ckpt[key], types) or isinstance(ckpt[key], bool):
                raise bad(f"its {key!r} entry is {_a(ckpt[key])}, expected {' or '.join(t.__name__ for t in types)}")
        if ckpt["rng"].dtype != torch.uint8 or min(ckpt["epoch"], ckpt["step"], ckpt["seen"]) < 0:
            raise bad("its position (epoch, step, seen, rng) is not one a run saves")
        if not all(isinstance(row, dict) for row in ckpt["history"]):
            raise bad("its 'history' entry is not a list of dicts (a row per finished epoch)")
    return ckpt


def _check_config(config: Any, bad: Any) -> None:
    if not isinstance(config, dict):
        raise bad(f"its 'config' entry is {_a(config)}, not a dict")
    try:
        cfg = TrainConfig.from_dict(config)
        Noise(cfg.noise, cfg.noise_level)
    except (TypeError, ValueError) as e:
        raise bad(f"its 'config' is not usable: {e}") from None
    if cfg.arch not in architectures.ARCHS:
        raise bad(f"its 'config' names the architecture {cfg.arch!r}, not one of {', '.join(architectures.ARCHS)}")
    if cfg.factor < 1 or cfg.kernel < 1 or cfg.kernel % 2 == 0:
        raise bad(f"its 'config' has factor {cfg.factor} and kernel {cfg.kernel} (a positive factor, an odd kernel)")
    try:
        architectures.check_width(cfg.arch, cfg.width)
    except ValueError as e:
        raise bad(f"its 'config' is not usable: {e}") from None
    if cfg.optimizer not in ("sgd", "adam"):
        raise bad(f"its 'config' names the optimizer {cfg.optimizer!r}, not sgd or adam")


def _a(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _reason(e: Exception) -> str:
    """An exception's message on one line (KeyError's without its quotes)."""
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split())


def load_weights(core: Any, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """`core.load_state_dict(state)`, or a CheckpointError saying why the weights do not fit."""
    try:
        core.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: its weights do not fit the model: {_reason(e)}") from None


def load_optimizer(opt: Any, state: dict[str, Any], path: str | Path) -> None:
    """`opt.load_state_dict(state)`, or a CheckpointError saying why the optimizer state does not fit."""
    try:
        opt.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError) as e:
        raise CheckpointError(f"{path}: its optimizer state does not fit the optimizer: {_reason(e)}") from None


def load_model(path: str | Path, device: torch.device) -> tuple[TrainConfig, Backend]:
    """The config of a checkpoint and an engine backend holding its weights (a torch-twin checkpoint has the
    same keys and layouts), for evaluating and denoising."""
    ckpt = read(path)
    cfg = TrainConfig.from_dict({**ckpt["config"], "device": str(device)})
    backend = make_backend(replace(cfg, backend="engine"), device)
    load_weights(backend.core, ckpt["model"], path)
    return cfg, backend
