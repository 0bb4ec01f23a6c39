"""Primitives: attention on torch's fused CPU kernel.

`attention` is softmax(q k^T * scale + mask) v on `_scaled_dot_product_flash_attention_for_cpu`, the kernel
that torch's scaled_dot_product_attention runs on the CPU whenever its inputs allow it (4-d, no dropout:
`torch._fused_sdp_choice` decides, and nn.functional's attention asks it), so its values and gradients are
torch's to the bit. It keeps q, k, v, the output and each row's log-sum-exp (a residual) instead of the
(L, S) attention weights that the composite keeps, and one backward kernel gives the three gradients (a
joint VJP). Under create_graph the VJP is the gradient of the math path written in primitives, so
gradients of gradients are recorded (torch's fused backward has none).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..primitive import primitive
from ..variable import Variable, unwrap
from .activations import softmax, softmax_backward
from .core import add, expand, matmul, mul, reshape, sum, to, transpose, where

__all__ = ["attention", "softmax_of_kept"]


@primitive(saves="query key value attn_mask ans", residuals="logsumexp")
def attention(query, key, value, attn_mask, *, is_causal, scale):
    """softmax(query key^T * scale + attn_mask) value over (batch, heads, L, E), (batch, heads_kv, S, E) and
    (batch, heads_kv, S, E), in torch's fused CPU kernel: `attn_mask` (or None; float32 or the query's dtype) is
    added to the scores and broadcasts to (batch, heads, L, S); `is_causal` keeps j <= i (with a mask too: both
    apply); key and value may have fewer heads than query, each shared by consecutive query heads."""
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, 0.0, is_causal, attn_mask=attn_mask, scale=scale
    )


def _attention_vjp(g, ans, query, key, value, attn_mask, *, is_causal, scale, logsumexp):
    """The gradients of query, key and value: torch's fused backward kernel on tensors; under create_graph, the
    math path's (in float32 for half and bfloat16 inputs, as torch's math path computes), with w = softmax(s)
    the weights of the scores s: dv = w^T g, ds = softmax_backward(g v^T, w), dq = ds k scale,
    dk = ds^T q scale (summed over the query heads that share a key head)."""
    if not isinstance(g, Variable):
        grads = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            g, query, key, value, ans, logsumexp, 0.0, is_causal, attn_mask=attn_mask, scale=scale
        )
        return (*grads, None)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    if query.dtype in (torch.float16, torch.bfloat16):  # (backward casts the gradients back to the inputs' dtype)
        query, key, value, g = (to(x, dtype=torch.float32, device=x.device) for x in (query, key, value, g))
    group = query.shape[1] // key.shape[1]
    k, v = _repeat_heads(key, group), _repeat_heads(value, group)
    scores = mul(matmul(query, transpose(k, -2, -1)), scale)
    bias = _bias(attn_mask, is_causal, scores)
    weights = softmax(scores, dim=-1) if bias is None else softmax_of_kept(add(scores, bias))
    dscores = mul(softmax_backward(matmul(g, transpose(v, -2, -1)), weights, dim=-1), scale)
    dk = matmul(transpose(dscores, -2, -1), query)
    dv = matmul(transpose(weights, -2, -1), g)
    return matmul(dscores, k), _sum_heads(dk, group), _sum_heads(dv, group), None


def softmax_of_kept(scores: Any) -> Any:
    """softmax over the last dim, with zeros (and zero gradients) for rows that are all -inf, as torch's
    attention gives a query that keeps no position."""
    dead = torch.isneginf(unwrap(scores)).all(-1, keepdim=True)
    if not bool(dead.any()):
        return softmax(scores, dim=-1)
    return where(dead, 0.0, softmax(where(dead, 0.0, scores), dim=-1))


def _bias(attn_mask: torch.Tensor | None, is_causal: bool, scores: Any) -> torch.Tensor | None:
    """What the kernel adds to the scores: the mask (or 0), with -inf above the diagonal when causal."""
    if not is_causal:
        return attn_mask
    length, source = scores.shape[-2:]
    keep = torch.ones(length, source, dtype=torch.bool, device=scores.device).tril()
    kept = torch.zeros((), dtype=scores.dtype, device=scores.device) if attn_mask is None else attn_mask
    return torch.where(keep, kept, -math.inf)


def _repeat_heads(x: Any, group: int) -> Any:
    """(batch, heads, S, E) -> (batch, heads * group, S, E), each head repeated `group` times in place."""
    if group == 1:
        return x
    b, h, s, e = x.shape
    return reshape(expand(reshape(x, shape=(b, h, 1, s, e)), shape=(b, h, group, s, e)), shape=(b, h * group, s, e))


def _sum_heads(x: Any, group: int) -> Any:
    """The inverse of _repeat_heads for gradients: each run of `group` heads summed into one."""
    if group == 1:
        return x
    b, h, s, e = x.shape
    return sum(reshape(x, shape=(b, h // group, group, s, e)), dim=2)


attention.defvjp_joint(_attention_vjp, wrt="query key value")
