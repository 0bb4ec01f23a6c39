"""torch.nn.functional's attention functions on Variables.

scaled_dot_product_attention takes the path torch takes for the same arguments (`torch._fused_sdp_choice`):
its fused CPU kernel, as the `attention` primitive, where torch runs that kernel (4-d inputs on the CPU, no
dropout...), and otherwise the composite of torch's math path, softmax(q k^T * scale + mask) v, with
dropout on the attention weights drawn from torch's generator exactly as that path draws it. Either way a
seeded run gives torch's values to the bit. The fused kernel keeps the output and a log-sum-exp per row
rather than the (L, S) weights the composite keeps.
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

_C_NAMES = {
    torch.float32: "float",
    torch.float64: "double",
    torch.float16: "c10::Half",
    torch.bfloat16: "c10::BFloat16",
    torch.int64: "long int",
    torch.int32: "int",
}


def _c_name(dtype: torch.dtype) -> str:
    """A dtype as torch's attention errors name it (float, double, long int...)."""
    return _C_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def _check(query: Any, key: Any, value: Any, attn_mask: Any, dropout_p: float) -> None:
    """torch's checks of scaled_dot_product_attention's arguments, with its messages."""
    q, k, v = query, key, value
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead."
        )
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
    if attn_mask is not None and attn_mask.dtype != torch.bool and not attn_mask.dtype.is_floating_point:
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
            f"{_c_name(attn_mask.dtype)} and  query.dtype: {_c_name(q.dtype)} instead."
        )
    if not 0 <= dropout_p <= 1:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")


def _repeat_heads(x: Any, heads: int) -> Any:
    """Each of x's heads (dim -3) repeated to make `heads` of them, in place (torch.repeat_interleave)."""
    have = x.shape[-3]
    if have == heads:
        return x
    if heads % have:
        raise RuntimeError(
            f"enable_gqa: the number of query heads ({heads}) must be a multiple of the key/value heads ({have})"
        )
    shape = tuple(x.shape)
    wide = ag.expand(ag.unsqueeze(x, -3), shape[:-2] + (heads // have,) + shape[-2:])
    return ag.reshape(wide, shape[:-3] + (heads,) + shape[-2:])


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

    `attn_mask` is boolean (True keeps a position) or floating (added to the scores), broadcasting to
    (..., L, S); `is_causal` keeps position j for query i where j <= i (lower-triangular, top left); a
    query that keeps no position gets zeros, as in torch. `scale` defaults to 1 / sqrt(E). Dropout
    zeroes attention weights with probability dropout_p and scales the rest by 1 / (1 - dropout_p),
    drawing from torch's default generator as torch's math path does. `enable_gqa` lets key and value
    have fewer heads (dim -3) than query, each shared by consecutive query heads."""
    _check(query, key, value, attn_mask, dropout_p)
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    fused = _fused(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    if fused is not None:
        return fused
    if enable_gqa and query.ndim >= 3:
        key, value = _repeat_heads(key, query.shape[-3]), _repeat_heads(value, query.shape[-3])
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    root = math.sqrt(abs(scale))  # torch's math path scales q and k by sqrt(scale) each, the sign on q
    scores = ag.matmul(query * math.copysign(root, scale), ag.transpose(key, -2, -1) * root)
    keep = None  # boolean: positions that take part
    if is_causal:
        length, source = scores.shape[-2:]
        keep = torch.ones(length, source, dtype=torch.bool, device=scores.device).tril()
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        mask = unwrap(attn_mask)
        keep = mask if keep is None else keep & mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    if keep is not None:  # added as 0 / -inf, as torch's math path does (a `where` costs 30x in backward)
        bias = torch.zeros(keep.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + bias.masked_fill_(~keep, -math.inf)
    weights = ops.softmax_of_kept(scores) if attn_mask is not None else ag.softmax(scores, -1)
    if dropout_p > 0:
        weights = _dropout(weights, dropout_p)
    return ag.matmul(weights, value)


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
    if mask is not None and mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(~mask, -math.inf)
    return ops.attention(query, key, value, mask, is_causal=is_causal, scale=scale)


_FLASH = torch.nn.attention.SDPBackend.FLASH_ATTENTION.value


def _dropout(weights: Any, p: float) -> Any:
    """weights * bernoulli(1 - p) / (1 - p), the mask drawn as torch's dropout draws it on the CPU."""
    if p == 1:
        return weights * 0.0
    noise = torch.empty_like(unwrap(weights)).bernoulli_(1 - p).div_(1 - p)
    return weights * noise
