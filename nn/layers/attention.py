"""MultiheadAttention, as torch.nn.MultiheadAttention: the same parameters, initialisation (the same draws
after the same seed), state-dict keys and forward, built from engine ops.

The forward follows torch.nn.functional.multi_head_attention_forward's semantics with fewer copies: the
heads are split off the projections with one reshape and one permute into (N, heads, L, head_dim) for
both layouts (no transposes of the inputs). Masks become scores to add, as torch makes them (-inf where
a boolean mask is True), the is_causal hint too: adding a mask is far cheaper than selecting with
`where`. With need_weights=False the attention is nn.functional.scaled_dot_product_attention (zeros for
a query that keeps no key, as torch's); with need_weights=True the weights are computed as torch
computes them (NaN for such a query, as torch's).
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
        causal = is_causal and key_padding_mask is None and not need_weights  # torch trusts the hint then
        seq_first = batched and not self.batch_first
        self._check_inputs(query, key, value, seq_first)
        q, k, v = self._project(query, key, value)
        if not batched:  # an unbatched input: a batch of one, batch first
            q, k, v = (ag.unsqueeze(x, 0) for x in (q, k, v))
            key_padding_mask = None if key_padding_mask is None else ag.unsqueeze(key_padding_mask, 0)
        if self.bias_k is not None:
            k, v = (self._append_bias(x, b, seq_first) for x, b in ((k, self.bias_k), (v, self.bias_v)))
        q, k, v = (self._heads(x, seq_first) for x in (q, k, v))
        if self.add_zero_attn:
            k, v = ag.pad(k, (0, 0, 0, 1)), ag.pad(v, (0, 0, 0, 1))
        mask = self._mask(key_padding_mask, attn_mask, causal, q, k.shape[2])
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = self._attention_with_weights(q, k, v, mask, dropout_p)
            if average_attn_weights:
                weights = ag.mean(weights, 1)
            weights = weights if batched else ag.squeeze(weights, 0)
        else:
            out, weights = F.scaled_dot_product_attention(q, k, v, mask, dropout_p), None
        out = ag.permute(out, (2, 0, 1, 3) if seq_first else (0, 2, 1, 3))
        out = F.linear(ag.reshape(out, (*out.shape[:2], self.embed_dim)), self.out_proj.weight, self.out_proj.bias)
        return (out if batched else ag.squeeze(out, 0)), weights

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

    def _project(self, query: Any, key: Any, value: Any) -> tuple[Any, Any, Any]:
        """q, k, v: the inputs through the in-projection, one linear each (the packed weight sliced
        into its three row blocks; one product each costs what one wide product does, and the
        backward adds no zero-filled copies of the wide output)."""
        e = self.embed_dim
        weights = self._projection_weights()
        if len(weights) == 1:
            weights = tuple(weights[0][i * e : (i + 1) * e] for i in range(3))
        bias = self.in_proj_bias
        biases = (None,) * 3 if bias is None else tuple(bias[i * e : (i + 1) * e] for i in range(3))
        q = F.linear(query, weights[0], biases[0])
        k = F.linear(key, weights[1], biases[1])
        v = F.linear(value, weights[2], biases[2])
        return q, k, v

    @staticmethod
    def _append_bias(x: Any, bias: Any, seq_first: bool) -> Any:
        """bias_k or bias_v (1, 1, E) appended to every sequence as one more key position."""
        n = x.shape[1 if seq_first else 0]
        shape = (1, n, x.shape[2]) if seq_first else (n, 1, x.shape[2])
        return ag.cat([x, ag.expand(bias, shape)], 0 if seq_first else 1)

    def _heads(self, x: Any, seq_first: bool) -> Any:
        """(L, N, E) or (N, L, E) as (N, heads, L, head_dim)."""
        split = ag.reshape(x, (*x.shape[:2], self.num_heads, self.head_dim))
        return ag.permute(split, (1, 2, 0, 3) if seq_first else (0, 2, 1, 3))

    def _mask(self, key_padding_mask: Any, attn_mask: Any, causal: bool, q: Any, source: int) -> Any:
        """One mask of scores to add, broadcasting to (N, heads, L, S): the causal one (query i sees keys
        j <= i, as scaled_dot_product_attention's is_causal), or attn_mask plus key_padding_mask, padded
        for bias_k and the zero key and checked as torch checks them (attn_mask: RuntimeError,
        key_padding_mask: AssertionError)."""
        batch, _, length = q.shape[:3]
        if causal:
            return _additive(torch.ones(length, source, dtype=torch.bool, device=q.device).triu(1), q.dtype)
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        keys = source - extra  # the keys given
        if attn_mask is not None:
            if attn_mask.ndim == 2 and tuple(attn_mask.shape) != (length, keys):
                raise RuntimeError(
                    f"{_NAME}: The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(length, keys)}."
                )
            expected = (batch * self.num_heads, length, keys)
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise RuntimeError(
                    f"{_NAME}: The shape of the 3D attn_mask is {attn_mask.shape}, but should be {expected}."
                )
            if attn_mask.ndim == 3:
                attn_mask = ag.reshape(attn_mask, (batch, self.num_heads, length, keys))
            attn_mask = ag.pad(attn_mask, (0, extra)) if extra else attn_mask
        if key_padding_mask is None:
            return attn_mask
        key_padding_mask = ag.pad(key_padding_mask, (0, extra)) if extra else key_padding_mask
        for i, size in enumerate((batch, source)):
            if key_padding_mask.shape[i] != size:
                raise AssertionError(
                    f"{_NAME}: Expected key_padded_mask.shape[{i}] to be {size}, but got {key_padding_mask.shape[i]}"
                )
        key_padding_mask = ag.reshape(key_padding_mask, (batch, 1, 1, source))
        return key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    @staticmethod
    def _attention_with_weights(q: Any, k: Any, v: Any, mask: Any, dropout_p: float) -> tuple[Any, Any]:
        """softmax(q k^T / sqrt(head_dim) + mask) v and those weights (N, heads, L, S), as torch computes
        them when it returns the weights (NaN for a query that keeps no key, as torch's)."""
        scores = ag.matmul(q * math.sqrt(1.0 / q.shape[-1]), ag.transpose(k, -2, -1))
        if mask is not None:
            scores = scores + mask
        weights = ag.softmax(scores, -1)
        if dropout_p > 0:
            weights = F.dropout(weights, dropout_p)
        return ag.matmul(weights, v), weights
