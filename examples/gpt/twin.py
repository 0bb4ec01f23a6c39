"""The torch.nn twin of model.py: the same architecture as torch.nn modules, with the same state-dict keys,
the same ops in the same order (so dropout draws the same masks from torch's generator), for comparing
the engine against torch on the same initialisation and batches."""

from __future__ import annotations

import torch
from torch import nn as tnn
from torch.nn import functional as tnf

from .model import GPTConfig


class CausalSelfAttention(tnn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.c_attn = tnn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = tnn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = tnn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        heads = self.cfg.n_head
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.reshape(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
        p = self.cfg.dropout if self.training else 0.0
        y = tnf.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(b, t, c)))


class MLP(tnn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = tnn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.gelu = tnn.GELU()
        self.c_proj = tnn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = tnn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(tnn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = tnn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = tnn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(tnn.Module):
    """model.forward as torch.nn modules; its logits go through wte's weight (tied), so the state dict has
    no separate lm_head entry, as in the engine's pytree."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = tnn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = tnn.Embedding(cfg.context, cfg.n_embd)
        self.drop = tnn.Dropout(cfg.dropout)
        self.h = tnn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = tnn.LayerNorm(cfg.n_embd)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return tnf.linear(self.ln_f(x), self.wte.weight)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self(idx)
        return tnf.cross_entropy(logits.reshape(-1, self.cfg.vocab_size), targets.reshape(-1))
