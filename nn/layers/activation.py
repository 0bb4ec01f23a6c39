"""Activations as modules, with torch.nn's constructor arguments (`inplace=` where torch has it),
attributes and reprs; each forward is the `nn.functional` function (see it for values, gradients at kinks
and in-place semantics). PReLU's weight is a parameter, as torch's."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import functional as F
from .. import init as nn_init
from ..module import Module, Parameter

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "PReLU",
    "RReLU",
    "ReLU",
    "ReLU6",
    "SELU",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmax2d",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Tanh",
    "Tanhshrink",
    "Threshold",
]


def _inplace_suffix(module: Any) -> str:
    return ", inplace=True" if module.inplace else ""


# --- without arguments ------------------------------------------------------------------------------
class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.sigmoid(input)


class Tanh(Module):
    """tanh x."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.tanh(input)


class LogSigmoid(Module):
    """log(sigmoid(x)), finite for every finite x."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.logsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.tanhshrink(input)


# --- with only `inplace` ----------------------------------------------------------------------------
class _Inplace(Module):
    """An activation whose only argument is `inplace` (the input becomes the result, as in torch)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """max(x, 0)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.relu(input, inplace=self.inplace)


class SELU(_Inplace):
    """scale * elu(x, alpha) with torch's constants."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.selu(input, self.inplace)


class SiLU(_Inplace):
    """x * sigmoid(x)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.silu(input, inplace=self.inplace)


class Mish(_Inplace):
    """x * tanh(softplus(x))."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.mish(input, inplace=self.inplace)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6 (torch's repr does not show `inplace`, nor does this one)."""

    extra_repr = Module.extra_repr

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.hardsigmoid(input, self.inplace)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6 (torch's repr does not show `inplace`, nor does this one)."""

    extra_repr = Module.extra_repr

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.hardswish(input, self.inplace)


# --- with parameters of their own -------------------------------------------------------------------
class Hardtanh(Module):
    """x clamped to [min_val, max_val] (min_value and max_value: torch's deprecated names for them)."""

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`", FutureWarning, stacklevel=2
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`", FutureWarning, stacklevel=2
            )
            max_val = max_value
        if max_val <= min_val:  # (torch's error type)
            raise AssertionError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_suffix(self)}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6): Hardtanh(0, 6), as torch."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    extra_repr = _Inplace.extra_repr


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self)}"


class RReLU(Module):
    """Randomized leaky ReLU: in training each x <= 0 gets a slope drawn from [lower, upper] (not torch's
    sequence of draws, see `nn.functional.rrelu`); in eval mode the slope (lower + upper) / 2, as torch."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{_inplace_suffix(self)}"


class _Alpha(Module):
    """ELU and CELU: a scale `alpha` of the negative side."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_suffix(self)}"


class ELU(_Alpha):
    """x where x > 0, else alpha * (e^x - 1)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.elu(input, self.alpha, self.inplace)


class CELU(_Alpha):
    """x where x > 0, else alpha * (e^(x / alpha) - 1)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.celu(input, self.alpha, self.inplace)


class GELU(Module):
    """x Phi(x), or its tanh approximation with approximate='tanh'."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, and x itself where beta * x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _Shrink(Module):
    """Softshrink and Hardshrink: a threshold `lambd` (torch's repr shows just its value)."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(_Shrink):
    """x - lambd above lambd, x + lambd below -lambd, else 0."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.softshrink(input, self.lambd)


class Hardshrink(_Shrink):
    """x where |x| > lambd, else 0."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.hardshrink(input, self.lambd)


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{_inplace_suffix(self)}"


class PReLU(Module):
    """x where x > 0, else weight * x, the weight a parameter of `num_parameters` slopes (1, or one per
    channel, dim 1 of the input) starting at `init`."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        # torch's attribute, an int: it hides Module.num_parameters() on this layer
        self.num_parameters = num_parameters  # type: ignore[method-assign,assignment]
        self.init = init
        self.weight = Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn_init.constant_(self.weight, self.init)

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """a * sigmoid(b), a and b the two halves of the input along `dim`."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# --- normalising along a dim ------------------------------------------------------------------------
class _SoftmaxNd(Module):
    """Softmax, LogSoftmax and Softmin along `dim`; dim=None is torch's deprecated implicit choice (with
    its warning, pointed at the caller of the module)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxNd):
    """e^x / sum(e^x) along `dim`."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.softmax(input, self.dim, _stacklevel=5)


class LogSoftmax(_SoftmaxNd):
    """log(softmax(x)) along `dim`, computed stably."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.log_softmax(input, self.dim, _stacklevel=5)


class Softmin(_SoftmaxNd):
    """softmax(-x) along `dim`."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        return F.softmin(input, self.dim, _stacklevel=5)


class Softmax2d(Module):
    """Softmax over the channels (dim -3) of (N, C, H, W) or (C, H, W)."""

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return F.softmax(input, -3, _stacklevel=5)
