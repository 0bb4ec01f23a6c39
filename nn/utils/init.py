"""`skip_init`, as torch.nn.utils.skip_init: a module whose parameters and buffers are left
uninitialized (allocated, never drawn), for when they are about to be loaded anyway."""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

import torch

from ..module import Module

__all__ = ["skip_init"]

M = TypeVar("M", bound=Module)


def skip_init(module_cls: type[M], *args: Any, **kwargs: Any) -> M:
    """`module_cls(*args, **kwargs)` built on the meta device (nothing drawn from torch's generator) and
    then given empty tensors on `device` (cpu by default); the class must take a `device` argument."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    device = kwargs.pop("device", "cpu")
    kwargs["device"] = "meta"
    module = module_cls(*args, **kwargs)
    module._apply(lambda t: torch.empty_like(t, device=device))
    return module
