"""TrainConfig: everything a run depends on, saved in its checkpoint; and the device it names."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

import nn


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
    width: int | None = None
    crop: int = 32
    compile: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config saved in a checkpoint (see `from_saved`)."""
        return from_saved(cls, values)


def from_saved(cls: Any, values: dict[str, Any]) -> Any:
    """The dataclass `cls` from a config saved in a checkpoint: unknown keys are ignored, missing ones take
    their defaults, and a value of the wrong type is a TypeError naming the key (shared by the examples)."""
    known = {f.name: f for f in fields(cls)}
    for name, value in values.items():
        if name in known and not has_type(value, str(known[name].type)):
            raise TypeError(f"config entry {name!r} is {value!r}, expected {known[name].type}")
    return cls(**{k: v for k, v in values.items() if k in known})


OPTIMIZER_LR = {"sgd": 5.0, "adam": 1e-3}
"""Each optimizer's default learning rate."""
RECIPES: dict[str, dict[str, Any]] = {
    "seed": dict(optimizer="sgd", lr=5.0, schedule="constant"),
    "dncnn": dict(optimizer="adam", lr=1e-3, schedule="constant"),
    "unet": dict(optimizer="adam", lr=1e-3, schedule="cosine"),
}
"""Each architecture's training recipe: the defaults of `train` and of the course harness."""


def recipe(arch: str, optimizer: str | None = None) -> dict[str, Any]:
    """The optimizer, lr and schedule `arch` trains with by default; with another `optimizer`, that
    optimizer's default lr."""
    chosen = dict(RECIPES[arch])
    if optimizer is not None and optimizer != chosen["optimizer"]:
        chosen.update(optimizer=optimizer, lr=OPTIMIZER_LR[optimizer])
    return chosen


_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def has_type(value: Any, annotation: str) -> bool:
    """Whether a saved config value fits its field's annotation ('int', 'str | None', ...)."""
    kind, _, optional = annotation.partition(" | ")
    if value is None:
        return bool(optional)
    return isinstance(value, _TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))


def resolve_device(name: str) -> torch.device:
    """--device: auto, cpu or cuda[:N]; under torchrun, cuda means this process's own GPU."""
    try:
        return nn.parallel.local_device(name)
    except ValueError as e:
        raise ValueError(f"--{e}") from None
