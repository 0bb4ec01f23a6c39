"""TrainConfig: everything a GPT run depends on, saved in its checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from examples.noise2noise.config import from_saved

from .model import GPTConfig

BETAS = (0.9, 0.95)
"""AdamW's betas, as GPT training usually has them."""
MIN_LR_FRACTION = 0.1
"""The cosine schedule ends at this fraction of --lr."""
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TrainConfig:
    """Everything a run depends on (saved in its checkpoint). The defaults train in about 5 minutes on
    one CPU core; they underfit, so dropout (which the model has) is off by default. `compile` (the engine
    backend's forward and backward replayed by ag.compile: the same numbers, measured faster; the torch
    backend ignores it) is on."""

    context: int = 64
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 96
    dropout: float = 0.0
    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-2
    warmup: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 250
    sample_chars: int = 200
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    dtype: str = "float32"
    backend: str = "engine"
    compile: bool = True
    out: str = "runs/gpt"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config saved in a checkpoint: unknown keys ignored, missing ones defaulted, wrong types refused."""
        return from_saved(cls, values)

    def model(self, vocab_size: int) -> GPTConfig:
        """The architecture this config trains, for a vocabulary of `vocab_size` characters."""
        return GPTConfig(vocab_size, self.context, self.n_layer, self.n_head, self.n_embd, self.dropout)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]
