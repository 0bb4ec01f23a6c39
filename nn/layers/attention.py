"""MultiheadAttention, as torch.nn.MultiheadAttention: the same parameters, initialisation (the same draws
after the same seed), state-dict keys and forward, built from engine ops.

The forward is torch.nn.functional.multi_head_attention_forward's, step for step, in its layouts and on
its kernels, so that on the CPU its values and gradients are torch's to the bit: batch-first inputs
transposed to seq-first (keeping the `query is key is value` identities torch reads), the in-projection as
one linear for self-attention, one for q and one packed for k and v when key is value, three otherwise,
each linear as torch's at::linear runs it, the heads split with a view and a transpose, the masks made
scores to add (-inf where a boolean mask is True), with need_weights=True torch's explicit path (baddbmm
of the mask and the scaled q k^T, softmax with NaN for a query that keeps no key, dropout, bmm), with
need_weights=False nn.functional.scaled_dot_product_attention (zeros for such a query), and the
out-projection on the (L * N, E) rows. One path rounds otherwise: torch's inference fast path
(torch._native_multi_head_attention), which this module never takes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

import autograd_engine as ag
from autograd_engine.variable import unwrap

from .. import functional as F
from ..module import Module, Parameter
from .linear import Linear

__all__ = ["MultiheadAttention"]

_NAME = "MultiheadAttention"


class NonDynamicallyQuantizableLinear(Linear):
    """torch's class for MultiheadAttention.out_proj: a Linear under another name (as in torch's repr)."""


def _check_shapes(query: Any, key: Any, value: Any, key_padding_mask: Any, attn_mask: Any, heads: int) -> bool:
    """torch's checks of the inputs' dims (AssertionError, its messages); True for a batched query."""
    batched = query.ndim == 3
    if query.ndim not in (2, 3):
        raise AssertionError(
            f"{_NAME}: query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor"
        )
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(
            f"{_NAME}: For {kind} `query`, expected `key` and `value` to be {query.ndim}-D but found {key.ndim}-D "
            f"and {value.ndim}-D tensors respectively"
        )
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise AssertionError(
            f"{_NAME}: For {kind} `query`, expected `key_padding_mask` to be `None` or {query.ndim - 1}-D but found "
            f"{key_padding_mask.ndim}-D tensor instead"
        )
    if attn_mask is not None and attn_mask.ndim not in (2, 3):
        raise AssertionError(
            f"{_NAME}: For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found {attn_mask.ndim}-D "
            "tensor instead"
        )
    if not batched and attn_mask is not None and attn_mask.ndim == 3:
        expected = (heads, query.shape[0], key.shape[0])
        if tuple(attn_mask.shape) != expected:
            raise AssertionError(f"{_NAME}: Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
    return batched


def _additive_masks(key_padding_mask: Any, attn_mask: Any, dtype: torch.dtype) -> tuple[Any, Any]:
    """The masks as scores to add (torch's _canonical_mask): boolean or floating only, with torch's
    warning for masks of two dtypes."""
    for name, mask in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
        if mask is not None and mask.dtype != torch.bool and not mask.dtype.is_floating_point:
            raise AssertionError(f"{_NAME}: only bool and floating types of {name} are supported")
    if key_padding_mask is not None and attn_mask is not None and key_padding_mask.dtype != attn_mask.dtype:
        warnings.warn(
            "Support for mismatched key_padding_mask and attn_mask is deprecated. Use same type for both instead.",
            stacklevel=4,
        )
    return _additive(key_padding_mask, dtype), _additive(attn_mask, dtype)


def _additive(mask: Any, dtype: torch.dtype) -> Any:
    """A mask as scores to add: -inf where a boolean mask is True (a constant); a floating one as it is."""
    if mask is None or mask.dtype != torch.bool:
        return mask
    mask = unwrap(mask)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(mask, -math.inf)


class MultiheadAttention(Module):
    """Attention from `num_heads` heads of embed_dim // num_heads dims, as torch.nn.MultiheadAttention.

    Parameters as torch's: in_proj_weight (3 E, E) (or q_proj_weight, k_proj_weight, v_proj_weight when
    kdim or vdim differ from embed_dim), in_proj_bias (3 E), out_proj (a Linear), bias_k and bias_v
    (1, 1, E) with add_bias_kv. forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) returns (attn_output, attn_weights or
    None) as torch does; inputs are (L, N, E), or (N, L, E) with batch_first, or unbatched (L, E).
    """

    in_proj_weight: Parameter | None
    q_proj_weight: Parameter | None
    k_proj_weight: Parameter | None
    v_proj_weight: Parameter | None
    in_proj_bias: Parameter | None
    bias_k: Parameter | None
    bias_v: Parameter | None

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                f"num_heads={num_heads} instead"
            )
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")

        def empty(*shape: int) -> Parameter:
            return Parameter(torch.empty(shape, device=device, dtype=dtype))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        self.register_parameter("in_proj_bias", empty(3 * embed_dim) if bias else None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, embed_dim), empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's initialisation, in torch's order (after out_proj's own): xavier_uniform_ projections,
        zero biases, xavier_normal_ bias_k and bias_v."""
        for w in self._projection_weights():
            torch.nn.init.xavier_uniform_(w.data)
        for bias in (self.in_proj_bias, self.out_proj.bias):  # both or neither
            if bias is not None:
                bias.data.zero_()
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                torch.nn.init.xavier_normal_(b.data)

    def _projection_weights(self) -> tuple[Any, ...]:
        if self._qkv_same_embed_dim:
            return (self.in_proj_weight,)
        return (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Any, Any]:
        batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, self.num_heads)
        key_padding_mask, attn_mask = _additive_masks(key_padding_mask, attn_mask, query.dtype)
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
                "`generate_square_subsequent_mask` to create this mask."
            )
        self._check_inputs(query, key, value, batched and not self.batch_first)
        if self.batch_first and batched:
            query, key, value = _seq_first(query, key, value)
        if not batched:  # a batch of one at dim 1 (three new tensors: the projections are three linears)
            query, key, value = ag.unsqueeze(query, 1), ag.unsqueeze(key, 1), ag.unsqueeze(value, 1)
            key_padding_mask = None if key_padding_mask is None else ag.unsqueeze(key_padding_mask, 0)
        is_causal = is_causal and key_padding_mask is None and not need_weights  # torch trusts the hint then
        out, weights = self._attend(
            query, key, value, key_padding_mask, None if is_causal else attn_mask, need_weights, is_causal
        )
        if need_weights:
            weights = ag.reshape(weights, (query.shape[1], self.num_heads, query.shape[0], weights.shape[-1]))
            weights = ag.mean(weights, 1) if average_attn_weights else weights
        if not batched:
            return ag.squeeze(out, 1), None if weights is None else ag.squeeze(weights, 0)
        return (ag.transpose(out, 1, 0) if self.batch_first else out), weights

    # --- the steps of forward ----------------------------------------------------------------
    def _check_inputs(self, query: Any, key: Any, value: Any, seq_first: bool) -> None:
        """The inputs' sizes against each other and the parameters', with torch's error types."""
        if query.shape[-1] != self.embed_dim:
            raise AssertionError(
                f"{_NAME}: was expecting embedding dimension of {self.embed_dim}, but got {query.shape[-1]}"
            )
        if self._qkv_same_embed_dim and tuple(key.shape) != tuple(value.shape):
            raise AssertionError(f"{_NAME}: key shape {key.shape} does not match value shape {value.shape}")
        if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
            raise AssertionError(
                f"{_NAME}: key's sequence and batch dims {key.shape[:-1]} do not match value's {value.shape[:-1]}"
            )
        for name, x, dim in (("key", key, self.kdim), ("value", value, self.vdim)):
            if x.shape[-1] != dim:
                raise (RuntimeError if self._qkv_same_embed_dim else AssertionError)(
                    f"{_NAME}: expected {name} of feature size {dim} (kdim/vdim), got shape {tuple(x.shape)}"
                )
        batch = 1 if seq_first else 0
        if query.ndim == 3 and query.shape[batch] != key.shape[batch]:
            raise RuntimeError(
                f"{_NAME}: query and key must have the same batch size, got query of shape {tuple(query.shape)} "
                f"and key of shape {tuple(key.shape)} (batch_first={self.batch_first})"
            )

    def _attend(
        self, query: Any, key: Any, value: Any, key_padding_mask: Any, attn_mask: Any, need_weights: bool, causal: bool
    ) -> tuple[Any, Any]:
        """multi_head_attention_forward on seq-first (L, N, E) inputs: the output (L, N, E) and, with
        need_weights, the weights (N * heads, L, S)."""
        length, batch, _ = query.shape
        q, k, v = self._project(query, key, value)
        attn_mask = self._attn_mask(attn_mask, length, key.shape[0], batch)
        if self.bias_k is not None:
            k = ag.cat([k, ag.repeat(self.bias_k, 1, batch, 1)])
            v = ag.cat([v, ag.repeat(self.bias_v, 1, batch, 1)])
            attn_mask, key_padding_mask = _one_more_key(attn_mask), _one_more_key(key_padding_mask)
        q, k, v = (ag.transpose(ag.reshape(x, (x.shape[0], -1, self.head_dim)), 0, 1) for x in (q, k, v))
        if self.add_zero_attn:
            k, v = ag.pad(k, (0, 0, 0, 1)), ag.pad(v, (0, 0, 0, 1))
            attn_mask, key_padding_mask = _one_more_key(attn_mask), _one_more_key(key_padding_mask)
        attn_mask = self._with_padding(attn_mask, key_padding_mask, batch, k.shape[1])
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = _attention_with_weights(q, k, v, attn_mask, dropout_p)
            out = ag.transpose(out, 0, 1)
        else:
            out, weights = self._sdpa(q, k, v, attn_mask, dropout_p, causal, batch), None
        out = F.linear(ag.reshape(out, (length * batch, self.embed_dim)), self.out_proj.weight, self.out_proj.bias)
        return ag.reshape(out, (length, batch, self.embed_dim)), weights

    def _project(self, query: Any, key: Any, value: Any) -> tuple[Any, Any, Any]:
        """q, k, v through the in-projection, as torch's _in_projection_packed (one linear of the packed
        weight for self-attention, one for q and one for k and v when key is value, else three) or
        _in_projection (the separate weights, three linears)."""
        e, bias = self.embed_dim, self.in_proj_bias
        if self.in_proj_weight is None or key is not value:
            weights = self._projection_weights()
            if len(weights) == 1:
                weights = tuple(weights[0][i * e : (i + 1) * e] for i in range(3))
            biases = (None,) * 3 if bias is None else tuple(bias[i * e : (i + 1) * e] for i in range(3))
            q, k, v = (F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))
            return q, k, v
        if query is key:
            q, k, v = _unpack(F.linear(query, self.in_proj_weight, bias), 3)
            return q, k, v
        w = self.in_proj_weight
        q = F.linear(query, w[:e], None if bias is None else bias[:e])
        k, v = _unpack(F.linear(key, w[e:], None if bias is None else bias[e:]), 2)
        return q, k, v

    def _attn_mask(self, attn_mask: Any, length: int, source: int, batch: int) -> Any:
        """attn_mask checked against (L, S) or (N * heads, L, S) as torch checks it (RuntimeError); a 2-D one
        as (1, L, S)."""
        if attn_mask is None:
            return None
        expected = (length, source) if attn_mask.ndim == 2 else (batch * self.num_heads, length, source)
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(
                f"{_NAME}: The shape of the {attn_mask.ndim}D attn_mask is {attn_mask.shape}, but should be {expected}."
            )
        return ag.unsqueeze(attn_mask, 0) if attn_mask.ndim == 2 else attn_mask

    def _with_padding(self, attn_mask: Any, key_padding_mask: Any, batch: int, source: int) -> Any:
        """attn_mask plus key_padding_mask (N, S) as (N * heads, 1, S), the latter checked as torch checks it
        (AssertionError)."""
        if key_padding_mask is None:
            return attn_mask
        for i, size in enumerate((batch, source)):
            if key_padding_mask.shape[i] != size:
                raise AssertionError(
                    f"{_NAME}: Expected key_padded_mask.shape[{i}] to be {size}, but got {key_padding_mask.shape[i]}"
                )
        padding = ag.expand(ag.reshape(key_padding_mask, (batch, 1, 1, source)), (batch, self.num_heads, 1, source))
        padding = ag.reshape(padding, (batch * self.num_heads, 1, source))
        return padding if attn_mask is None else attn_mask + padding

    def _sdpa(self, q: Any, k: Any, v: Any, mask: Any, dropout_p: float, causal: bool, batch: int) -> Any:
        """nn.functional.scaled_dot_product_attention over q, k, v (N * heads, L or S, head_dim) viewed as
        (N, heads, L or S, head_dim), as torch calls it: the output as (L, N, heads, head_dim)."""
        if mask is not None and mask.shape[0] == 1:
            mask = ag.unsqueeze(mask, 0)
        elif mask is not None:
            mask = ag.reshape(mask, (batch, self.num_heads, -1, mask.shape[-1]))
        q, k, v = (ag.reshape(x, (batch, self.num_heads, -1, self.head_dim)) for x in (q, k, v))
        return ag.permute(F.scaled_dot_product_attention(q, k, v, mask, dropout_p, causal), (2, 0, 1, 3))


def _seq_first(query: Any, key: Any, value: Any) -> tuple[Any, Any, Any]:
    """Batch-first inputs transposed to seq-first as torch's module does, one transpose per distinct tensor
    (so that `query is key` and `key is value` still say what they said)."""
    if key is not value:
        return ag.transpose(query, 1, 0), ag.transpose(key, 1, 0), ag.transpose(value, 1, 0)
    key = ag.transpose(key, 1, 0)
    return (key if query is value else ag.transpose(query, 1, 0)), key, key


def _unpack(proj: Any, pieces: int) -> tuple[Any, ...]:
    """(L, N, pieces * E) as `pieces` tensors (L, N, E), each a slice of one contiguous (pieces, L, N, E)
    copy, as torch's _in_projection_packed makes them."""
    split = ag.reshape(proj, (*proj.shape[:-1], pieces, proj.shape[-1] // pieces))
    packed = ag.contiguous(ag.permute(split, (2, 0, 1, 3)))
    return tuple(packed[i] for i in range(pieces))


def _one_more_key(mask: Any) -> Any:
    """A mask padded with a zero score for one more key (bias_k, the zero key)."""
    return None if mask is None else ag.pad(mask, (0, 1))


def _attention_with_weights(q: Any, k: Any, v: Any, mask: Any, dropout_p: float) -> tuple[Any, Any]:
    """softmax(mask + (q * sqrt(1 / head_dim)) k^T) v and those weights over (N * heads, L, S), as torch
    computes them when it returns the weights: bmm, or baddbmm with the mask (the engine's baddbmm primitive,
    torch's kernel, which adds the mask as it accumulates), softmax (NaN for a query that keeps no key),
    dropout and bmm."""
    q_scaled, keys = q * math.sqrt(1.0 / q.shape[-1]), ag.transpose(k, -2, -1)
    scores = ag.matmul(q_scaled, keys) if mask is None else torch.baddbmm(mask, q_scaled, keys)
    weights = ag.softmax(scores, -1)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p)
    return ag.matmul(weights, v), weights
