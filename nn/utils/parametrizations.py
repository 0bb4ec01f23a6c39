"""`weight_norm` and `spectral_norm` as parametrizations, as torch.nn.utils.parametrizations: state dicts
hold 'parametrizations.weight.original0'/'original1' (g, v) and 'parametrizations.weight.original' with
the power-iteration vectors 'parametrizations.weight.0._u'/'_v', so they load into the torch twin."""

from __future__ import annotations

from typing import Any

import torch

import autograd_engine as ag
from autograd_engine.variable import unwrap

from .. import functional as F
from ..layers import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..module import Module
from . import parametrize

__all__ = ["spectral_norm", "weight_norm"]


def norm_except_dim(v: Any, dim: int) -> Any:
    """torch.norm_except_dim(v, 2, dim): the 2-norm over every dim but `dim` (kept as size 1), or over
    the whole tensor (a 0-dim result) for dim -1."""
    if dim == -1:
        return torch.linalg.vector_norm(v)
    dim %= v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    return torch.linalg.vector_norm(v, dim=others, keepdim=True) if others else abs(v)


def weight_norm_of(v: Any, g: Any, dim: int) -> Any:
    """torch._weight_norm(v, g, dim): v rescaled to the norm g (per slice along `dim`; -1: as a whole)."""
    return v * (g / norm_except_dim(v, dim))


class _WeightNorm(Module):
    """weight = g * v / ||v||, with the norm over every dim but `dim` (None: over all)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Any, weight_v: Any) -> Any:
        return weight_norm_of(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Any) -> tuple[Any, Any]:
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize `module.<name>` as g * v / ||v|| (torch's weight normalization): the originals are
    g ('parametrizations.<name>.original0', the norms) and v ('original1', the direction). State dicts of
    the old `nn.utils.weight_norm` ('<name>_g', '<name>_v') load too, renamed by a load pre-hook as torch's."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(
        state_dict: dict[str, Any], prefix: str, local_metadata: Any, strict: bool, *lists: list[str]
    ) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


class _SpectralNorm(Module):
    """weight / sigma, sigma the largest singular value of the weight (as a matrix with `dim` as rows)
    estimated by power iteration on the buffers `_u`, `_v` (`n_power_iterations` steps per access in
    training; none in eval). A 1-dim weight is normalized instead."""

    def __init__(self, weight: Any, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(
                f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = unwrap(self._reshape_weight_to_matrix(weight))
            h, w = weight_mat.size()
            u = weight_mat.new_empty(h).normal_(0, 1)
            v = weight_mat.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", torch.nn.functional.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", torch.nn.functional.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Any) -> Any:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
        """Update `_u` and `_v` in place (on tensors: the estimate is not differentiated, as in torch)."""
        with torch.no_grad():
            for _ in range(n_power_iterations):
                torch.nn.functional.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps, out=self._u)
                torch.nn.functional.normalize(torch.mv(weight_mat.mH, self._u), dim=0, eps=self.eps, out=self._v)

    def forward(self, weight: Any) -> Any:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(unwrap(weight_mat), self.n_power_iterations)
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        sigma = torch.vdot(u, torch.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value: Any) -> Any:
        return value


def spectral_norm(
    module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> Module:
    """Reparametrize `module.<name>` as itself divided by its spectral norm (torch's spectral
    normalization); `dim` (the output channels: 1 for transposed convolutions, else 0) indexes the rows.
    u and v are drawn from torch's generator as torch draws them, then 15 power iterations run."""
    weight = getattr(module, name, None)
    if not isinstance(weight, (torch.Tensor, ag.Variable)):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    return parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
