"""A character-level GPT written as a function of a parameter pytree (the "define models functionally" way):
token and position embeddings, pre-norm blocks of causal self-attention and a GELU MLP, a final layer
norm, and logits through the token embedding (weight tying), with dropout.

The same functions run on the engine (Variables, `lib=nn.functional`) and on plain torch tensors
(`lib=torch.nn.functional`, torch autograd): the benchmark times one against the other. Parameters live in
a nested dict whose dotted paths are the state-dict keys of the torch.nn twin (twin.py), so a checkpoint
loads into either. Ops are recorded under module-like scopes (`h.0:Block/attn:CausalSelfAttention`),
which the graph pictures collapse.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

import nn
from autograd_engine.scope import scope

Params = dict[str, Any]
"""The pytree: {'wte': {'weight': ...}, 'wpe': ..., 'h': [block, ...], 'ln_f': {'weight', 'bias'}}."""


@dataclass(frozen=True)
class GPTConfig:
    """The architecture (TrainConfig has the example's defaults)."""

    vocab_size: int
    context: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0

    def __post_init__(self) -> None:
        sizes = dict(vocab_size=self.vocab_size, context=self.context, n_layer=self.n_layer, n_head=self.n_head)
        bad = [f"{k}={v}" for k, v in sizes.items() if v < 1]
        if bad or self.n_embd < 1 or self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: sizes must be positive and n_embd a multiple of n_head, got {', '.join(bad) or ''}"
                f"{', ' if bad else ''}n_embd={self.n_embd}, n_head={self.n_head}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")


# --- parameters --------------------------------------------------------------------------------------
def init_state(cfg: GPTConfig, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """GPT-2's initialisation under the twin's state-dict keys: weights ~ N(0, 0.02) (the projections into
    the residual stream 0.02 / sqrt(2 n_layer)), biases 0, layer norms 1 and 0; drawn from a generator
    seeded with `seed`, in key order."""
    g = torch.Generator().manual_seed(seed)
    c = cfg.n_embd

    def normal(*shape: int, std: float = 0.02) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype).normal_(0.0, std, generator=g)

    def norm(name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": torch.ones(c, dtype=dtype), f"{name}.bias": torch.zeros(c, dtype=dtype)}

    def linear(name: str, n_in: int, n_out: int, std: float = 0.02) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": normal(n_out, n_in, std=std), f"{name}.bias": torch.zeros(n_out, dtype=dtype)}

    state = {"wte.weight": normal(cfg.vocab_size, c), "wpe.weight": normal(cfg.context, c)}
    residual = 0.02 / math.sqrt(2 * cfg.n_layer)
    for i in range(cfg.n_layer):
        state |= norm(f"h.{i}.ln_1")
        state |= linear(f"h.{i}.attn.c_attn", c, 3 * c)
        state |= linear(f"h.{i}.attn.c_proj", c, c, std=residual)
        state |= norm(f"h.{i}.ln_2")
        state |= linear(f"h.{i}.mlp.c_fc", c, 4 * c)
        state |= linear(f"h.{i}.mlp.c_proj", 4 * c, c, std=residual)
    return state | norm("ln_f")


def tree_of(state: dict[str, Any]) -> Params:
    """A flat state dict as the nested pytree its dotted keys describe (runs of integer keys become lists)."""
    tree: dict[str, Any] = {}
    for key, value in state.items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        items = {k: listify(v) for k, v in node.items()}
        if all(k.isdigit() for k in items) and sorted(map(int, items)) == list(range(len(items))):
            return [items[str(i)] for i in range(len(items))]
        return items

    return listify(tree)


def named_leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf) for every leaf of a pytree of dicts and lists, in order: the inverse of tree_of."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else None
    if items is None:
        yield prefix, tree
        return
    for key, value in items:
        yield from named_leaves(value, f"{prefix}.{key}" if prefix else str(key))


def init_params(cfg: GPTConfig, seed: int = 0, dtype: torch.dtype = torch.float32) -> Params:
    """The engine's parameters: init_state as a pytree of nn.Parameters."""
    return tree_of({k: nn.Parameter(v) for k, v in init_state(cfg, seed, dtype).items()})


class ParameterTree(nn.Module):
    """A pytree of Parameters seen as a Module (nested the same way): its state_dict, load_state_dict, to
    and parameters are torch.nn's, with the twin's keys, and Module wrappers such as
    nn.parallel.DistributedDataParallel apply to the functional model. It has no forward of its own."""

    def __init__(self, tree: Any) -> None:
        super().__init__()
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for key, value in items:
            setattr(self, str(key), value if isinstance(value, nn.Parameter) else ParameterTree(value))


# --- the model ---------------------------------------------------------------------------------------
@contextmanager
def _part(name: str, kind: str) -> Iterator[None]:
    """Record ops under a module-like scope, 'name:Kind', as an nn.Module of that name would."""
    with scope(f"{name}:{kind}"):
        yield


def _linear(p: Params, x: Any, lib: ModuleType) -> Any:
    return lib.linear(x, p["weight"], p["bias"])


def _layer_norm(p: Params, x: Any, lib: ModuleType) -> Any:
    return lib.layer_norm(x, (x.shape[-1],), p["weight"], p["bias"])


def attention(p: Params, x: Any, cfg: GPTConfig, training: bool = False, lib: ModuleType = nn.functional) -> Any:
    """Causal multi-head self-attention on (batch, time, n_embd), then its projection and dropout."""
    b, t, c = x.shape
    heads = cfg.n_head
    q, k, v = _linear(p["c_attn"], x, lib).split(c, dim=2)
    q, k, v = (z.reshape(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
    y = lib.scaled_dot_product_attention(q, k, v, dropout_p=cfg.dropout if training else 0.0, is_causal=True)
    y = y.transpose(1, 2).reshape(b, t, c)
    return lib.dropout(_linear(p["c_proj"], y, lib), cfg.dropout, training)


def mlp(p: Params, x: Any, cfg: GPTConfig, training: bool = False, lib: ModuleType = nn.functional) -> Any:
    """Linear to 4 n_embd, GELU, linear back, dropout."""
    return lib.dropout(_linear(p["c_proj"], lib.gelu(_linear(p["c_fc"], x, lib)), lib), cfg.dropout, training)


def block(p: Params, x: Any, cfg: GPTConfig, training: bool = False, lib: ModuleType = nn.functional) -> Any:
    """x + attn(ln_1(x)), then + mlp(ln_2(.)): a pre-norm transformer block."""
    with _part("ln_1", "LayerNorm"):
        h = _layer_norm(p["ln_1"], x, lib)
    with _part("attn", "CausalSelfAttention"):
        h = attention(p["attn"], h, cfg, training, lib)
    x = x + h
    with _part("ln_2", "LayerNorm"):
        h = _layer_norm(p["ln_2"], x, lib)
    with _part("mlp", "MLP"):
        h = mlp(p["mlp"], h, cfg, training, lib)
    return x + h


def forward(
    params: Params, idx: torch.Tensor, cfg: GPTConfig, training: bool = False, lib: ModuleType = nn.functional
) -> Any:
    """Logits (batch, time, vocab_size) for token ids `idx` (batch, time), time <= cfg.context."""
    if idx.ndim != 2 or idx.dtype != torch.int64:
        raise ValueError(f"gpt: expected token ids of shape (batch, time) and dtype int64, got {tuple(idx.shape)} "
                         f"{idx.dtype}")  # fmt: skip
    if idx.shape[1] > cfg.context:
        raise ValueError(f"gpt: a sequence of {idx.shape[1]} tokens is longer than the context, {cfg.context}")
    pos = torch.arange(idx.shape[1], device=idx.device)
    with _part("wte", "Embedding"):
        tokens = lib.embedding(idx, params["wte"]["weight"])
    with _part("wpe", "Embedding"):
        positions = lib.embedding(pos, params["wpe"]["weight"])
    x = lib.dropout(tokens + positions, cfg.dropout, training)
    for i, p in enumerate(params["h"]):
        with _part(f"h.{i}", "Block"):
            x = block(p, x, cfg, training, lib)
    with _part("ln_f", "LayerNorm"):
        x = _layer_norm(params["ln_f"], x, lib)
    with _part("lm_head", "Linear"):
        return lib.linear(x, params["wte"]["weight"])  # tied to the token embedding


def loss_fn(
    params: Params,
    idx: torch.Tensor,
    targets: torch.Tensor,
    cfg: GPTConfig,
    training: bool = False,
    lib: ModuleType = nn.functional,
) -> Any:
    """Mean cross-entropy (nats per character) of the next-character predictions."""
    logits = forward(params, idx, cfg, training, lib)
    return lib.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1))
