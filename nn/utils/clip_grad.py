"""Gradient clipping, and the flat-vector view of parameters, as torch.nn.utils.

The clipping functions act on the gradients' tensors in place under no_grad and compute norms exactly as
torch does (per-device foreach kernels where torch uses them), so the total norm and the clipped gradients
are torch's, bit for bit. Parameters are Variables (torch tensors work too); those without a gradient are
skipped.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype
from typing_extensions import deprecated

from autograd_engine import Variable

__all__ = [
    "clip_grad_norm",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
]

Parameters = Variable | torch.Tensor | Iterable[Any]


def _as_list(parameters: Parameters) -> list[Any]:
    return [parameters] if isinstance(parameters, (Variable, torch.Tensor)) else list(parameters)


def _grads(parameters: Iterable[Any]) -> list[torch.Tensor]:
    """The gradients' tensors (shared, so in-place changes reach `.grad`) of those parameters that have one."""
    return [p.grad.data for p in parameters if p.grad is not None]


def _by_device_and_dtype(tensors: list[torch.Tensor]) -> dict[tuple[torch.device, torch.dtype], list[torch.Tensor]]:
    """The tensors grouped as torch groups them, in its order of groups (which sets the order in which the
    norms are summed, hence the last bit of the total)."""
    grouped = _group_tensors_by_device_and_dtype([tensors])  # type: ignore[list-item]
    return {key: group for key, ([group], _) in grouped.items()}  # type: ignore[misc]


def _use_foreach(foreach: bool | None, device: torch.device) -> bool:
    """torch's choice: the foreach kernels where the device has them (unless foreach=False); foreach=True
    on a device without them is an error."""
    supported = device.type in ("cpu", "cuda", "xpu", "mtia", torch._C._get_privateuse1_backend_name())
    if foreach and not supported:
        raise RuntimeError(f"foreach=True was passed, but can't use the foreach API on {device.type} tensors")
    return supported if foreach is None else foreach


@torch.no_grad()
def get_total_norm(
    tensors: Parameters, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> torch.Tensor:
    """The norm of the tensors (Variables or tensors) taken together as one vector: the norm of their
    norms, as torch computes it; on the first tensor's device."""
    tensors = [t.data for t in _as_list(tensors)]
    norm_type = float(norm_type)
    if not tensors:
        return torch.tensor(0.0)
    norms: list[torch.Tensor] = []
    for (device, _), group in _by_device_and_dtype(tensors).items():
        if _use_foreach(foreach, device):
            norms.extend(torch._foreach_norm(group, norm_type))
        else:
            norms.extend(torch.linalg.vector_norm(g, norm_type) for g in group)
    total_norm = torch.linalg.vector_norm(torch.stack([n.to(tensors[0].device) for n in norms]), norm_type)
    if error_if_nonfinite and torch.logical_or(total_norm.isnan(), total_norm.isinf()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return total_norm


@torch.no_grad()
def clip_grads_with_norm_(
    parameters: Parameters, max_norm: float, total_norm: torch.Tensor, foreach: bool | None = None
) -> None:
    """Scale the gradients in place by min(max_norm / (total_norm + 1e-6), 1), given their total norm."""
    grads = _grads(_as_list(parameters))
    if not grads:
        return
    clip_coef_clamped = torch.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
    for (device, _), group in _by_device_and_dtype(grads).items():
        if _use_foreach(foreach, device):
            torch._foreach_mul_(group, clip_coef_clamped.to(device))
        else:
            for g in group:
                g.mul_(clip_coef_clamped.to(device))


def clip_grad_norm_(
    parameters: Parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> torch.Tensor:
    """Scale the gradients in place so that their total norm (all of them as one vector) is at most
    max_norm; returns the total norm before clipping (a tensor), as torch."""
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = _as_list(parameters)
    if is_generator and not parameters:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    total_norm = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


@deprecated(
    "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
    category=FutureWarning,
)
def clip_grad_norm(
    parameters: Parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> torch.Tensor:
    """Deprecated spelling of `clip_grad_norm_`, as in torch."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@torch.no_grad()
def clip_grad_value_(parameters: Parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for (device, _), group in _by_device_and_dtype(_grads(_as_list(parameters))).items():
        if _use_foreach(foreach, device):
            torch._foreach_clamp_min_(group, -clip_value)
            torch._foreach_clamp_max_(group, clip_value)
        else:
            for g in group:
                g.clamp_(min=-clip_value, max=clip_value)
