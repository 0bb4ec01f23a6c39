"""torch.nn.functional's attention functions on Variables.

scaled_dot_product_attention takes the path torch takes for the same arguments (`torch._fused_sdp_choice`):
its fused CPU kernel, as the `attention` primitive, where torch runs that kernel (4-d inputs on the CPU, no
dropout...), and otherwise the composite of torch's math path, softmax(q k^T * scale + mask) v, computed as
that path computes it: half and bfloat16 inputs in float32 and the output cast back, q and k each scaled by
sqrt(scale), dropout on the attention weights drawn from torch's generator exactly as that path draws it.
Either way a seeded run gives torch's values and gradients to the bit. The fused kernel keeps the output
and a log-sum-exp per row rather than the (L, S) weights the composite keeps.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as tnf

import autograd_engine as ag
from autograd_engine import Variable, implements, ops
from autograd_engine.variable import unwrap

__all__ = ["scaled_dot_product_attention"]

_C_NAMES = {  # (torch's C++ spelling of a dtype in its messages)
    torch.float32: "float",
    torch.float64: "double",
    torch.float16: "c10::Half",
    torch.bfloat16: "c10::BFloat16",
    torch.complex64: "c10::complex<float>",
    torch.complex128: "c10::complex<double>",
    torch.int64: "long int",
    torch.int32: "int",
    torch.int16: "short int",
    torch.int8: "signed char",
    torch.uint8: "unsigned char",
}
_HALF = (torch.float16, torch.bfloat16)


def _c_name(dtype: torch.dtype) -> str:
    """A dtype as torch's attention errors name it (float, double, long int...)."""
    return _C_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def _check(query: Any, key: Any, value: Any, attn_mask: Any) -> None:
    """torch's checks of scaled_dot_product_attention's arguments, in its order, with its messages: one dtype
    and device for q, k and v, at least 2 dims, and a mask that is boolean, float32 or of the query's dtype."""
    q, k, v = query, key, value
    if not q.dtype == k.dtype == v.dtype:
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_c_name(q.dtype)} key.dtype: {_c_name(k.dtype)} and value.dtype: {_c_name(v.dtype)} instead."
        )
    if not q.device == k.device == v.device:
        raise RuntimeError(
            "Expected query, key, and value to have the same device type, but got query.device: "
            f"{q.device} key.device: {k.device} and value.device: {v.device} instead."
        )
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead."
        )
    if attn_mask is not None and attn_mask.dtype not in (torch.bool, torch.float32, q.dtype):
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
            f"{_c_name(attn_mask.dtype)} and  query.dtype: {_c_name(q.dtype)} instead."
        )


@implements(tnf.scaled_dot_product_attention)
def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Variable:
    """softmax(query key^T * scale + mask) value over (..., L, E), (..., S, E), (..., S, Ev).

    `attn_mask` is boolean (True keeps a position) or floating (added to the scores: float32 or the query's
    dtype), broadcasting to (..., L, S); `is_causal` keeps position j for query i where j <= i
    (lower-triangular, top left); a query that keeps no position gets zeros, as in torch. Both together
    only where torch's fused kernel runs (it applies both); elsewhere torch refuses them. `scale` defaults to
    1 / sqrt(E). Dropout zeroes attention weights with probability dropout_p and scales the rest by
    1 / (1 - dropout_p), drawing from torch's default generator as torch's math path does. `enable_gqa` lets
    key and value have fewer heads (dim -3) than query, each shared by consecutive query heads."""
    _check(query, key, value, attn_mask)
    fused = _fused(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    if fused is not None:
        return fused
    return _math(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def _fused(
    query: Any, key: Any, value: Any, attn_mask: Any, dropout_p: float, is_causal: bool, scale: Any, gqa: bool
) -> Variable | None:
    """The `attention` primitive where torch would run its fused CPU kernel on these arguments, else None (a
    boolean mask added as 0 / -inf, as torch converts it)."""
    q, k, v = unwrap(query), unwrap(key), unwrap(value)
    if q.device.type != "cpu":
        return None
    mask = unwrap(attn_mask)
    if isinstance(attn_mask, Variable) and attn_mask.requires_grad:  # (torch's choice reads requires_grad)
        mask = mask.detach().requires_grad_()
    if torch._fused_sdp_choice(q, k, v, mask, dropout_p, is_causal, scale=scale, enable_gqa=gqa) != _FLASH:
        return None
    if not dropout_p == 0:  # (torch's choice lets a negative or NaN p through to its kernel, which refuses it)
        raise RuntimeError("scaled_dot_product_attention_flash_attention: Currently do not support dropout > 0")
    if mask is not None and mask.dtype == torch.bool:
        mask = _additive(mask, q.dtype)
    return ops.attention(query, key, value, mask, is_causal=is_causal, scale=scale)


_FLASH = torch.nn.attention.SDPBackend.FLASH_ATTENTION.value


def _math(
    query: Any, key: Any, value: Any, attn_mask: Any, dropout_p: float, is_causal: bool, scale: Any, gqa: bool
) -> Any:
    """torch's math path (`_scaled_dot_product_attention_math`) step by step, in engine ops: half and bfloat16
    q, k, v cast to float32 (unless torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True)), q and k
    each scaled by sqrt(scale), the mask added in place to the scores (so it may not enlarge them), a softmax
    that gives zeros to rows that keep nothing, dropout, and the output cast back to the inputs' dtype."""
    dtype = query.dtype
    if dtype in _HALF and not torch.backends.cuda.fp16_bf16_reduction_math_sdp_allowed():
        query, key, value = (_cast(x, torch.float32) for x in (query, key, value))
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    root = math.sqrt(abs(scale))
    query = query * (-root if scale < 0 else root)
    bias = attn_mask
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(
                "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
            )
        bias = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
    if gqa:
        key, value = _repeat_heads(key, value, query)
    scores = ag.matmul(query, ag.transpose(key, -2, -1) * root)
    if bias is not None:
        if bias.dtype == torch.bool:  # (as 0 / -inf: a `where` would cost 30x in backward)
            bias = _additive(unwrap(bias), query.dtype)
        _check_fits(tuple(scores.shape), tuple(bias.shape))
        scores = scores + bias
    weights = ops.softmax_of_kept(scores)
    if dropout_p > 0:
        weights = _dropout(weights, dropout_p)
    return _cast(ag.matmul(weights, value), dtype)


def _cast(x: Any, dtype: torch.dtype) -> Any:
    """x in `dtype`, differentiably (the identity when it already is)."""
    return x if x.dtype == dtype else ops.to(x, dtype=dtype, device=x.device)


def _additive(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean mask (True: take part) as the 0 / -inf scores that torch adds in its place."""
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill_(~keep, -math.inf)


def _check_fits(scores: tuple[int, ...], mask: tuple[int, ...]) -> None:
    """torch adds the mask to the scores in place: a mask that would broadcast them to more is refused."""
    try:
        shape = tuple(torch.broadcast_shapes(scores, mask))
    except RuntimeError:
        return  # (the addition's own error names the sizes that differ)
    if shape != scores:
        raise RuntimeError(f"output with shape {list(scores)} doesn't match the broadcast shape {list(shape)}")


def _repeat_heads(key: Any, value: Any, query: Any) -> tuple[Any, Any]:
    """key and value with each head (dim -3) repeated in place to make as many as query has
    (torch.repeat_interleave), with torch's checks."""
    if query.ndim < 3:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [-{query.ndim}, {query.ndim - 1}], but got -3)"
        )
    heads = query.shape[-3]
    if any(heads % x.shape[-3] for x in (key, value)):
        raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
    return _repeat(key, heads), _repeat(value, heads)


def _repeat(x: Any, heads: int) -> Any:
    """x's heads (dim -3) each repeated heads // x.shape[-3] times, in place."""
    have = x.shape[-3]
    if have == heads:
        return x
    shape = tuple(x.shape)
    wide = ag.expand(ag.unsqueeze(x, -3), shape[:-2] + (heads // have,) + shape[-2:])
    return ag.reshape(wide, shape[:-3] + (heads,) + shape[-2:])


def _dropout(weights: Any, p: float) -> Any:
    """weights * bernoulli(1 - p) / (1 - p), the mask drawn as torch's dropout draws it on the CPU."""
    if p > 1:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p:g}")
    if p == 1:
        return weights * 0.0
    noise = torch.empty_like(unwrap(weights)).bernoulli_(1 - p).div_(1 - p)
    return weights * noise
