"""torch.nn.functional's activations on Variables, with torch's signatures, values and gradients.

Each is registered for torch.nn.functional.X (and torch.X, torch.Tensor.X, torch.special.X where torch
has them), so torch-style code records on the tape. Piecewise functions take the value of their flat
pieces from torch's own kernel and differentiate only the pieces that have a slope, which they read off
torch's own backward kernel: so every kink has torch's convention (ReLU6 and hardtanh pass no gradient at
their corners, ELU the negative side's, leaky ReLU the negative slope at 0, ...), and so has NaN (where
torch's vectorized and scalar loops disagree, the engine agrees with the one torch runs). Smooth ones are
composites of stable pieces, or fused primitives on torch's kernels, forward and backward, for torch's
bits (sigmoid, gelu, elu/selu/celu, silu, mish, softplus, logsigmoid, hardsigmoid, hardswish, glu,
softmax, log_softmax: autograd_engine/ops/activations.py). Composites of float16 and bfloat16 inputs are
computed in float32 and rounded once, as torch's kernels compute them.

`inplace=True` mirrors torch: `input` itself becomes the result and is returned. Where nothing is
recorded its tensor is overwritten, as torch overwrites it. While recording (grad mode on and `input`
requiring grad), the same Variable takes the result's new tensor and its place in the graph, so what
backward saved of the old values stays valid (views taken of `input` earlier keep the old values); a
leaf Variable that requires grad is refused then, as torch refuses it.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as tnf

import autograd_engine as ag
from autograd_engine import ops
from autograd_engine.composites.indexing import check_views, rebind
from autograd_engine.dispatch import implements
from autograd_engine.ops import normalize_dim
from autograd_engine.variable import Variable, unwrap

__all__ = [
    "celu",
    "celu_",
    "elu",
    "elu_",
    "gelu",
    "glu",
    "gumbel_softmax",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "leaky_relu",
    "leaky_relu_",
    "log_softmax",
    "logsigmoid",
    "mish",
    "prelu",
    "relu",
    "relu6",
    "relu_",
    "rrelu",
    "rrelu_",
    "selu",
    "selu_",
    "sigmoid",
    "sigmoid_",
    "silu",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanh_",
    "tanhshrink",
    "threshold",
    "threshold_",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _inplace(name: str, input: Any, result: Any, inplace: bool) -> Any:  # noqa: A002
    """`result`, or with `inplace` `input` turned into it (see the module docstring)."""
    if not inplace:
        return result
    if not (isinstance(result, Variable) and result.requires_grad):  # nothing recorded: torch's in-place write
        unwrap(input).copy_(unwrap(result))
        return input
    if input.is_leaf:
        raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation.")
    check_views(input)
    rebind(input, result)  # (a view passes the values on to its base, as in-place methods do)
    return input


def _in_float32(fn: Callable[[Any], Any], input: Any) -> Any:  # noqa: A002
    """fn(input), for float16 and bfloat16 computed in float32 and rounded once (torch's opmath)."""
    if input.dtype in _LOW_PRECISION:
        return fn(input.to(torch.float32)).to(input.dtype)
    return fn(input)


def _slope(backward: Callable[..., torch.Tensor], raw: torch.Tensor, *args: Any) -> torch.Tensor:
    """torch's backward kernel for a unit gradient: the derivative at each element, with torch's
    convention at kinks and NaN (a constant)."""
    return backward(torch.ones_like(raw), raw, *args)


# --- rectifiers -----------------------------------------------------------------------------------
@implements(tnf.relu)
def relu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """max(x, 0); the gradient at 0 is 0, NaN passes with gradient 1, as torch."""
    return _inplace("relu", input, ag.relu(input), inplace)


@implements(torch.relu_, torch.Tensor.relu_)
def relu_(input: Any) -> Any:  # noqa: A002
    """relu in place (see the module docstring)."""
    return relu(input, inplace=True)


@implements(tnf.hardtanh)
def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """x clamped to [min_val, max_val]; the gradient passes strictly inside (none at the corners), as torch."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    raw = unwrap(input)
    sloped = _slope(torch.ops.aten.hardtanh_backward, raw, min_val, max_val) != 0
    return _inplace("hardtanh", input, ops.where(sloped, input, tnf.hardtanh(raw, min_val, max_val)), inplace)


@implements(tnf.hardtanh_)
def hardtanh_(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:  # noqa: A002
    """hardtanh in place (see the module docstring)."""
    return hardtanh(input, min_val, max_val, inplace=True)


@implements(tnf.relu6)
def relu6(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """min(max(x, 0), 6): hardtanh(x, 0, 6), as torch (no gradient at 0 or 6)."""
    return _inplace("relu6", input, hardtanh(input, 0.0, 6.0), inplace)


@implements(tnf.leaky_relu)
def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:  # noqa: A002
    """x where x > 0, else negative_slope * x: x times torch's derivative (negative_slope at 0, as torch)."""
    slope = _slope(torch.ops.aten.leaky_relu_backward, unwrap(input), negative_slope, False)
    return _inplace("leaky_relu", input, ops.mul(input, slope), inplace)


@implements(tnf.leaky_relu_)
def leaky_relu_(input: Any, negative_slope: float = 0.01) -> Any:  # noqa: A002
    """leaky_relu in place (see the module docstring)."""
    return leaky_relu(input, negative_slope, inplace=True)


@implements(tnf.rrelu)
def rrelu(
    input: Any,  # noqa: A002
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Any:
    """Randomized leaky ReLU. In eval mode (training=False, the default) leaky_relu with the slope
    (lower + upper) / 2, as torch. In training each x <= 0 gets its own slope drawn uniformly from
    [lower, upper] (the draws are not torch's sequence: values differ from torch.rrelu's for the same
    seed, their distribution does not); the gradient is that slope."""
    return _inplace("rrelu", input, torch_rrelu(input, lower, upper, training), inplace)


@implements(torch.rrelu)
def torch_rrelu(
    input: Any,  # noqa: A002
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    generator: torch.Generator | None = None,
) -> Any:
    """torch.rrelu: rrelu with the slopes drawn from `generator` in training."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    raw = unwrap(input)
    slopes = torch.empty_like(raw).uniform_(lower, upper, generator=generator)
    return ops.mul(input, torch.where(raw <= 0, slopes, 1.0))


@implements(torch.rrelu_)
def rrelu_(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
    """torch.rrelu in place (torch.rrelu's arguments; see the module docstring)."""
    return _inplace("rrelu_", input, torch_rrelu(input, *args, **kwargs), True)


@implements(tnf.prelu, torch.prelu, torch.Tensor.prelu)
def prelu(input: Any, weight: Any) -> Any:  # noqa: A002
    """x where x > 0, else weight * x, with one weight for all channels or one per channel (dim 1); the
    gradient at 0 is the weight's, as torch."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    count = weight.numel()
    if count == 1:
        shape: tuple[int, ...] = ()
    else:
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.ndim > 1 else 1
        if channels != count:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                f"{count} and channel size = {channels}."
            )
        shape = (1, count) + (1,) * (input.ndim - 2)
    w = ops.reshape(weight, shape=shape) if tuple(weight.shape) != shape else weight
    positive = unwrap(input) > 0
    return ops.where(positive, input, ops.mul(w, ops.where(positive, 0.0, input)))  # (no inf * 0 for w's gradient)


@implements(tnf.threshold, torch.threshold)
def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Any:  # noqa: A002
    """x where x > threshold, else value (the gradient passes where x > threshold, and at NaN), as torch."""
    return _inplace("threshold", input, ag.threshold(input, threshold, value), inplace)


@implements(torch.threshold_)
def threshold_(input: Any, threshold: float, value: float) -> Any:  # noqa: A002
    """threshold in place (see the module docstring)."""
    return _inplace("threshold_", input, ag.threshold(input, threshold, value), True)


# --- exponential units ----------------------------------------------------------------------------
@implements(tnf.elu)
def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """x where x > 0, else alpha * (e^x - 1) (fused: torch's kernel, expm1 exact near 0)."""
    return _inplace("elu", input, ops.elu(input, alpha=alpha), inplace)


@implements(tnf.elu_)
def elu_(input: Any, alpha: float = 1.0) -> Any:  # noqa: A002
    """elu in place (see the module docstring)."""
    return elu(input, alpha, inplace=True)


@implements(tnf.selu, torch.selu)
def selu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """scale * elu(x, alpha) with torch's constants."""
    return _inplace("selu", input, ops.elu(input, alpha=SELU_ALPHA, scale=SELU_SCALE), inplace)


@implements(torch.selu_)
def selu_(input: Any) -> Any:  # noqa: A002
    """selu in place (see the module docstring)."""
    return selu(input, inplace=True)


@implements(tnf.celu, torch.celu)
def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """x where x > 0, else alpha * (e^(x / alpha) - 1)."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    float32_alpha = struct.unpack("f", struct.pack("f", alpha))[0]  # torch's backward: 1.0 / alpha.toFloat()
    celu = ops.elu(input, alpha=alpha, input_scale=1.0 / alpha, backward_input_scale=1.0 / float32_alpha)
    return _inplace("celu", input, celu, inplace)


@implements(torch.celu_)
def celu_(input: Any, alpha: float = 1.0) -> Any:  # noqa: A002
    """celu in place (see the module docstring)."""
    return celu(input, alpha, inplace=True)


@implements(tnf.gelu)
def gelu(input: Any, approximate: str = "none") -> Any:  # noqa: A002
    """x Phi(x) (Phi the standard normal CDF), or its tanh approximation with approximate='tanh' (fused)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return ops.gelu(input, approximate=approximate)


# --- sigmoid family -------------------------------------------------------------------------------
def sigmoid(input: Any) -> Any:  # noqa: A002
    """1 / (1 + e^-x) (torch.nn.functional.sigmoid calls input.sigmoid(), which records already, as do
    torch.sigmoid and torch.special.expit)."""
    return ag.sigmoid(input)


@implements(torch.sigmoid_, torch.Tensor.sigmoid_)
def sigmoid_(input: Any) -> Any:  # noqa: A002
    """sigmoid in place (see the module docstring)."""
    return _inplace("sigmoid_", input, ag.sigmoid(input), True)


def tanh(input: Any) -> Any:  # noqa: A002
    """tanh x (torch.nn.functional.tanh calls input.tanh(), which records already)."""
    return ag.tanh(input)


@implements(torch.tanh_, torch.Tensor.tanh_)
def tanh_(input: Any) -> Any:  # noqa: A002
    """tanh in place (see the module docstring)."""
    return _inplace("tanh_", input, ag.tanh(input), True)


@implements(tnf.silu)
def silu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """x * sigmoid(x) (swish; fused, torch's kernels forward and backward)."""
    return _inplace("silu", input, ops.silu(input), inplace)


@implements(tnf.mish)
def mish(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """x * tanh(softplus(x)) (fused, torch's kernels forward and backward)."""
    return _inplace("mish", input, ops.mish(input), inplace)


@implements(tnf.logsigmoid)
def logsigmoid(input: Any) -> Any:  # noqa: A002
    """log(sigmoid(x)), finite for every finite x (fused: torch's kernels forward and backward)."""
    return ops.log_sigmoid(input)


@implements(tnf.softplus)
def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:  # noqa: A002
    """log(1 + e^(beta x)) / beta, and x itself where beta * x > threshold (torch's linear region; fused:
    torch's kernels forward and backward, the second derivative 0 from the threshold on, as torch)."""
    return ops.softplus(input, beta=beta, threshold=threshold)


@implements(tnf.hardsigmoid)
def hardsigmoid(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """relu6(x + 3) / 6; the gradient g / 6 strictly inside (-3, 3) (fused: torch's kernels). Its second
    derivative is 0, where torch raises that it has none."""
    return _inplace("hardsigmoid", input, ops.hardsigmoid(input), inplace)


@implements(tnf.hardswish)
def hardswish(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """x * relu6(x + 3) / 6; the gradient is torch's: 0 below -3, x / 3 + 1/2 from -3 to 3, 1 above (fused:
    torch's kernels forward and backward; the second derivative 1/3 strictly inside (-3, 3), as torch)."""
    return _inplace("hardswish", input, ops.hardswish(input), inplace)


@implements(tnf.softsign)
def softsign(input: Any) -> Any:  # noqa: A002
    """x / (1 + |x|)."""
    return _in_float32(lambda x: ops.div(x, ops.add(ag.abs(x), 1.0)), input)


@implements(tnf.tanhshrink)
def tanhshrink(input: Any) -> Any:  # noqa: A002
    """x - tanh(x)."""
    return _in_float32(lambda x: ops.sub(x, ag.tanh(x)), input)


@implements(tnf.softshrink)
def softshrink(input: Any, lambd: float = 0.5) -> Any:  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, else 0 (the gradient passes strictly outside)."""
    raw = unwrap(input)
    flat = tnf.softshrink(raw, lambd)  # (torch's checks of lambd, too)
    shift = torch.where(raw > 0, raw.new_full((), lambd), -lambd)
    sloped = _slope(torch.ops.aten.softshrink_backward, raw, lambd) != 0
    return ops.where(sloped, ops.sub(input, shift), flat)


@implements(tnf.hardshrink, torch.hardshrink, torch.Tensor.hardshrink)
def hardshrink(input: Any, lambd: float = 0.5) -> Any:  # noqa: A002
    """x where |x| > lambd, else 0 (the gradient passes strictly outside [-lambd, lambd])."""
    raw = unwrap(input)
    sloped = _slope(torch.ops.aten.hardshrink_backward, raw, lambd) != 0
    return ops.where(sloped, input, tnf.hardshrink(raw, lambd))


@implements(tnf.glu)
def glu(input: Any, dim: int = -1) -> Any:  # noqa: A002
    """a * sigmoid(b), a and b the two halves of `input` along `dim` (fused: torch's kernels forward and
    backward)."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = normalize_dim(dim, input.ndim)
    size = input.shape[d]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {size}")
    return ops.glu(input, dim=d)


# --- softmax family -------------------------------------------------------------------------------
def _softmax_dim(name: str, input: Any, dim: int | None, stacklevel: int) -> int:  # noqa: A002
    """`dim`, or torch's implicit choice (with its deprecation warning): 0 for 0-, 1- and 3-d inputs, else 1."""
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. "
            "Change the call to include dim=X as an argument.",
            stacklevel=stacklevel,
        )
        return 0 if input.ndim in (0, 1, 3) else 1
    return normalize_dim(dim, input.ndim)


@implements(tnf.softmax, torch.special.softmax)
def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """e^x / sum(e^x) along `dim` (fused), the input cast to `dtype` first if given."""
    d = _softmax_dim("softmax", input, dim, _stacklevel)
    return ops.softmax(input if dtype is None else input.to(dtype), dim=d)


@implements(tnf.log_softmax, torch.special.log_softmax)
def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """x - log(sum(e^x)) along `dim` (fused), the input cast to `dtype` first if given."""
    d = _softmax_dim("log_softmax", input, dim, _stacklevel)
    return ops.log_softmax(input if dtype is None else input.to(dtype), dim=d)


@implements(tnf.softmin)
def softmin(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: torch.dtype | None = None) -> Any:  # noqa: A002
    """softmax(-x) along `dim`."""
    d = _softmax_dim("softmin", input, dim, _stacklevel)
    negated = ops.neg(input)
    return ops.softmax(negated if dtype is None else negated.to(dtype), dim=d)


@implements(tnf.gumbel_softmax)
def gumbel_softmax(logits: Any, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Any:
    """softmax((logits + g) / tau) along `dim`, g Gumbel noise drawn as torch draws it (from the default
    generator: the same seed gives torch's sample); with `hard`, the one-hot of its argmax carrying the
    soft sample's gradient (straight through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    raw = unwrap(logits)
    gumbels = -torch.empty_like(raw, memory_format=torch.legacy_contiguous_format).exponential_().log()
    soft = ops.softmax(ops.div(ops.add(logits, gumbels), tau), dim=normalize_dim(dim, raw.ndim))
    if not hard:
        return soft
    index = unwrap(soft).max(dim, keepdim=True)[1]
    one_hot = torch.zeros_like(raw, memory_format=torch.legacy_contiguous_format).scatter_(dim, index, 1.0)
    return ops.add(one_hot - unwrap(soft), soft)
