"""Reading GPT checkpoints back, checked, so that a damaged or foreign file is one error naming the file and
what is wrong.

A checkpoint is a dict: `model` (the state dict, the torch.nn twin's keys), `config` (a TrainConfig as a
dict), `vocab` (the characters, in token order) and `data` (the fingerprint of the text it trained on);
a run's checkpoint adds what `--resume` needs: `optimizer` and `schedule` (their state dicts), `step`,
`rng` (the batch generator's state, and torch's, which draws the dropout masks), `loss_sum` and `seen`
(the training loss since the last evaluation), `history` (a row per evaluation).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import nn
from examples.noise2noise.checkpoints import CheckpointError, load_weights

from .backends import EngineBackend
from .config import DTYPES, TrainConfig
from .data import Vocab

EXPECTED = "expected the checkpoint.pt of a `python -m examples.gpt train` run"
RESUME_ENTRIES: dict[str, tuple[type, ...]] = {
    "optimizer": (dict,),
    "schedule": (dict,),
    "step": (int,),
    "rng": (dict,),
    "loss_sum": (int, float),
    "seen": (int,),
    "history": (list,),
}


def read(path: str | Path, resume: bool = False) -> dict[str, Any]:
    """The checkpoint at `path`, checked: model, config, vocab and data, and with `resume` everything a run
    continues from. Tensors are on the CPU."""
    ckpt = nn.load(path, map_location="cpu")  # a missing or unreadable file: one clear error already

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: {what} ({EXPECTED})")

    if not isinstance(ckpt, dict):
        raise bad(f"holds a {type(ckpt).__name__}, not a checkpoint dict")
    required = ["model", "config", "vocab", "data"] + (list(RESUME_ENTRIES) if resume else [])
    missing = [k for k in required if k not in ckpt]
    if missing:
        cannot = " to resume from" if set(missing) <= set(RESUME_ENTRIES) else ""
        raise bad(f"has no {', '.join(repr(k) for k in missing)} entr{'y' if len(missing) == 1 else 'ies'}{cannot}")
    model = ckpt["model"]
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()) or not model:
        raise bad("its 'model' entry is not a state dict of tensors")
    if not isinstance(ckpt["data"], str):
        raise bad(f"its 'data' entry is a {type(ckpt['data']).__name__}, not a text fingerprint")
    _check_config(ckpt["config"], ckpt["vocab"], bad)
    if resume:
        for key, types in RESUME_ENTRIES.items():
            if not isinstance(ckpt[key], types) or isinstance(ckpt[key], bool):
                expected = " or ".join(t.__name__ for t in types)
                raise bad(f"its {key!r} entry is a {type(ckpt[key]).__name__}, expected {expected}")
        states = [ckpt["rng"].get(k) for k in ("data", "torch")]
        if not all(isinstance(s, torch.Tensor) and s.dtype == torch.uint8 for s in states) or ckpt["step"] < 0:
            raise bad("its position (step, rng) is not one a run saves")
    return ckpt


def _check_config(config: Any, vocab: Any, bad: Any) -> None:
    if not isinstance(config, dict):
        raise bad(f"its 'config' entry is a {type(config).__name__}, not a dict")
    try:
        cfg = TrainConfig.from_dict(config)
        Vocab(vocab if isinstance(vocab, str) else "")
        cfg.model(len(vocab))
    except (TypeError, ValueError) as e:
        raise bad(f"its 'config' or 'vocab' is not usable: {e}") from None
    if cfg.dtype not in DTYPES or cfg.backend not in ("engine", "torch"):
        raise bad(f"its 'config' names dtype {cfg.dtype!r} and backend {cfg.backend!r}")


def load_model(path: str | Path, device: torch.device) -> tuple[TrainConfig, Vocab, EngineBackend]:
    """The config and vocabulary of a checkpoint, and an engine backend holding its weights (a torch-twin
    checkpoint has the same keys), for sampling."""
    ckpt = read(path)
    cfg = replace(TrainConfig.from_dict(ckpt["config"]), device=str(device), backend="engine")
    vocab = Vocab(ckpt["vocab"])
    backend = EngineBackend(cfg, cfg.model(len(vocab)), device)
    load_weights(backend.core, ckpt["model"], path)
    return cfg, vocab, backend
