"""The Transformer of "Attention Is All You Need", as torch.nn's: TransformerEncoderLayer,
TransformerDecoderLayer, the stacks TransformerEncoder and TransformerDecoder, and Transformer.

Built from the engine's MultiheadAttention, Linear, LayerNorm and Dropout in torch's registration order, so
the same seed gives torch.nn's parameters (names, order and bits) and a state dict moves either way. Each
forward is torch's reference path step for step (masks made additive as torch's `_canonical_mask` makes
them, torch's causal-mask detection in the stacks), so on the CPU values and gradients are torch's. torch's
inference fast path (`torch._transformer_encoder_layer_fwd`, nested tensors) computes the same function and
is never taken; only there does torch write zeros at the padded positions of a key padding mask.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import torch

from autograd_engine.variable import unwrap

from .. import functional as F
from ..containers import ModuleList
from ..module import Module
from .activation import GELU, ReLU
from .attention import MultiheadAttention, _additive
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]

Activation = str | Callable[[Any], Any]


def _generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> torch.Tensor:
    """The (sz, sz) causal mask: -inf above the diagonal, 0 elsewhere (a plain tensor, as torch's)."""
    return torch.triu(torch.full((sz, sz), float("-inf"), dtype=dtype, device=device), diagonal=1)


def _activation(activation: Activation) -> Callable[[Any], Any]:
    """ "relu" or "gelu" as nn.functional's function, a callable as it is; torch's RuntimeError for other
    strings."""
    if not isinstance(activation, str):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _relu_or_gelu(activation: Callable[[Any], Any]) -> int:
    """torch's `activation_relu_or_gelu` flag of an encoder layer: 1 for ReLU, 2 for GELU, 0 otherwise."""
    if activation in (F.relu, torch.nn.functional.relu) or isinstance(activation, (ReLU, torch.nn.ReLU)):
        return 1
    if activation in (F.gelu, torch.nn.functional.gelu) or isinstance(activation, (GELU, torch.nn.GELU)):
        return 2
    return 0


def _canonical_mask(
    owner: str, mask: Any, name: str, dtype: torch.dtype, other: Any = None, other_name: str = ""
) -> Any:
    """A mask as scores to add (torch's `_canonical_mask`): boolean ones -inf where True, floating ones as
    they are, other dtypes an AssertionError; torch's deprecation warning when `other` (a mask given beside
    it) has another dtype."""
    if mask is None:
        return None
    if mask.dtype != torch.bool and not mask.dtype.is_floating_point:
        raise AssertionError(f"{owner}: only bool and floating types of {name} are supported, got {mask.dtype}")
    if other is not None and other.dtype != mask.dtype:
        warnings.warn(
            f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both instead.",
            stacklevel=4,
        )
    return _additive(mask, dtype)


def _seq_len(x: Any, batch_first: bool) -> int:
    """The sequence length of an input: (S, E), (S, N, E) or, batch first, (N, S, E)."""
    return int(x.shape[1] if x.ndim == 3 and batch_first else x.shape[0])


def _detect_is_causal_mask(mask: Any, is_causal: bool | None, size: int) -> bool:
    """The causal hint as given, or for None whether `mask` is exactly the (size, size) causal mask (torch's
    `_detect_is_causal_mask`)."""
    if is_causal is not None or mask is None:
        return is_causal is True
    mask = unwrap(mask)
    causal = _generate_square_subsequent_mask(size, device=mask.device, dtype=mask.dtype)
    return mask.shape == causal.shape and bool((mask == causal).all())


def _clones(module: Module, n: int) -> ModuleList:
    """n deep copies of `module` (equal parameters, none shared), as torch's `_get_clones`."""
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: `attentions` MultiheadAttention modules, the feedforward
    block linear1 -> activation -> dropout -> linear2, one LayerNorm and one Dropout per sub-block, all
    registered in torch's order (attentions, linear1, dropout, linear2, norm1..., dropout1...)."""

    def __init__(
        self,
        attentions: tuple[str, ...],
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        activation: Activation,
        layer_norm_eps: float,
        batch_first: bool,
        norm_first: bool,
        bias: bool,
        device: Any,
        dtype: Any,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        for name in attentions:
            attention = MultiheadAttention(
                d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
            )
            setattr(self, name, attention)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        blocks = range(1, len(attentions) + 2)
        for i in blocks:
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        for i in blocks:
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)

    def _residual(self, x: Any, norm: Module, block: Callable[[Any], Any]) -> Any:
        """x + block(norm(x)) with norm_first, else norm(x + block(x))."""
        return x + block(norm(x)) if self.norm_first else norm(x + block(x))

    @staticmethod
    def _attention_block(
        attention: Module, dropout: Module, mask: Any, key_padding_mask: Any, is_causal: bool, memory: Any = None
    ) -> Callable[[Any], Any]:
        """x -> dropout(attention(x, memory, memory)) (x itself as key and value for self-attention)."""

        def block(x: Any) -> Any:
            source = x if memory is None else memory
            out = attention(
                x,
                source,
                source,
                attn_mask=mask,
                key_padding_mask=key_padding_mask,
                need_weights=False,
                is_causal=is_causal,
            )[0]
            return dropout(out)

        return block

    def _feedforward_block(self, dropout: Module) -> Callable[[Any], Any]:
        """x -> dropout(linear2(self.dropout(activation(linear1(x)))))."""
        return lambda x: dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feedforward network, each a residual block with LayerNorm after it (or before
    it with norm_first) and dropout, as torch.nn.TransformerEncoderLayer.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False) on (S, N, E), (N, S, E) with
    batch_first, or unbatched (S, E); src_mask (S, S) or (N * nhead, S, S), src_key_padding_mask (N, S) or
    (S,): boolean (True: not attended) or floating (added to the scores). is_causal says that src_mask is the
    causal mask (which must still be given).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            ("self_attn",),
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            device,
            dtype,
        )
        self.activation_relu_or_gelu = _relu_or_gelu(self.activation)

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool = False) -> Any:
        name = type(self).__name__
        padding = _canonical_mask(name, src_key_padding_mask, "src_key_padding_mask", src.dtype, src_mask, "src_mask")
        src_mask = _canonical_mask(name, src_mask, "src_mask", src.dtype)
        x = self._residual(
            src, self.norm1, self._attention_block(self.self_attn, self.dropout1, src_mask, padding, is_causal)
        )
        return self._residual(x, self.norm2, self._feedforward_block(self.dropout2))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's output (memory), then a feedforward network, each a
    residual block with LayerNorm after it (or before it with norm_first) and dropout, as
    torch.nn.TransformerDecoderLayer.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False); the masks as
    MultiheadAttention takes them (boolean: True is not attended; floating: added to the scores).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            ("self_attn", "multihead_attn"),
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            device,
            dtype,
        )

    def forward(
        self,
        tgt: Any,
        memory: Any,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Any:
        self_block = self._attention_block(self.self_attn, self.dropout1, tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        x = self._residual(tgt, self.norm1, self_block)
        cross_block = self._attention_block(
            self.multihead_attn, self.dropout2, memory_mask, memory_key_padding_mask, memory_is_causal, memory
        )
        x = self._residual(x, self.norm2, cross_block)
        return self._residual(x, self.norm3, self._feedforward_block(self.dropout3))


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer (`layers.0`, `layers.1`, ...; all start equal, as in torch)
    applied in turn, then `norm` if given, as torch.nn.TransformerEncoder.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None): is_causal None detects whether
    `mask` is the causal mask, as torch does. The engine has no nested-tensor path: `use_nested_tensor` is
    always False and torch's warning about it is not given; `enable_nested_tensor` and `mask_check` are kept.
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(
        self, src: Any, mask: Any = None, src_key_padding_mask: Any = None, is_causal: bool | None = None
    ) -> Any:
        name = type(self).__name__
        padding = _canonical_mask(name, src_key_padding_mask, "src_key_padding_mask", src.dtype, mask, "mask")
        mask = _canonical_mask(name, mask, "mask", src.dtype)
        causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, self.layers[0].self_attn.batch_first))
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, is_causal=causal, src_key_padding_mask=padding)
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer (`layers.0`, ...; all start equal, as in torch) applied in
    turn to the target with the same memory, then `norm` if given, as torch.nn.TransformerDecoder.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False): tgt_is_causal None detects
    whether tgt_mask is the causal mask, as torch does.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Any,
        memory: Any,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Any:
        causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, self.layers[0].self_attn.batch_first))
        out = tgt
        for layer in self.layers:
            out = layer(
                out,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=causal,
                memory_is_causal=memory_is_causal,
            )
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """An encoder (num_encoder_layers layers and a final LayerNorm) and a decoder (num_decoder_layers layers
    and a final LayerNorm), or custom_encoder / custom_decoder, as torch.nn.Transformer: every parameter of
    more than one dim re-drawn with xavier_uniform_ in torch's order, so the same seed gives torch's model.

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False) returns the decoder's output, (T, N, E) (or (N, T, E) with batch_first, (T, E)
    unbatched).
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        config = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(*config, **factory)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(*config, **factory)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self) -> None:
        """torch's initialisation: xavier_uniform_ on every parameter of more than one dim, in order."""
        for p in self.parameters():
            if p.data.dim() > 1:
                torch.nn.init.xavier_uniform_(p.data)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> torch.Tensor:
        """The (sz, sz) causal mask: -inf above the diagonal (not attended), 0 on and below it."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def forward(
        self,
        src: Any,
        tgt: Any,
        src_mask: Any = None,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Any:
        self._check_inputs(src, tgt)
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    def _check_inputs(self, src: Any, tgt: Any) -> None:
        """torch's checks (RuntimeError): one batch size for batched src and tgt, d_model features in both."""
        shapes = f"src of shape {tuple(src.shape)}, tgt of shape {tuple(tgt.shape)}"
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch] != tgt.shape[batch]:
            raise RuntimeError(
                f"Transformer: the batch number of src and tgt must be equal, got {shapes} "
                f"(batch_first={self.batch_first})"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(
                f"Transformer: the feature number of src and tgt must be equal to d_model ({self.d_model}), "
                f"got {shapes}"
            )
