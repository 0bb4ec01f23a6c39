"""Weight normalization the old way, as torch.nn.utils.weight_norm (deprecated there in favour of
`parametrizations.weight_norm`, and here too): `module.<name>` becomes g * v / ||v||, recomputed from the
parameters `<name>_g` and `<name>_v` by a forward pre-hook, so state dicts hold 'weight_g' / 'weight_v' as
torch's do."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from autograd_engine.variable import unwrap

from ..module import Module, Parameter
from .parametrizations import norm_except_dim, weight_norm_of

__all__ = ["WeightNorm", "remove_weight_norm", "weight_norm"]

T_module = TypeVar("T_module", bound=Module)


class WeightNorm:
    """The forward pre-hook that sets `module.<name>` from `<name>_g` (norms) and `<name>_v` (direction),
    the norm over every dim but `dim` (-1: over all)."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Any:
        return weight_norm_of(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        """Split `module.<name>` into `<name>_g` and `<name>_v` and register the hook (torch's order of steps)."""
        warnings.warn(
            "`nn.utils.weight_norm` is deprecated in favor of `nn.utils.parametrizations.weight_norm`.",
            FutureWarning,
            stacklevel=3,
        )
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = unwrap(getattr(module, name))
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(unwrap(weight).detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Reparametrize `module.<name>` as g * v / ||v|| with the parameters `<name>_g` (the norms, over every
    dim but `dim`; None: one norm) and `<name>_v`, recomputed before every forward. Deprecated (FutureWarning),
    as in torch: `nn.utils.parametrizations.weight_norm` is the new form, and loads these state dicts."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo `weight_norm`: `module.<name>` is a plain parameter again, holding the normalized weight."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
