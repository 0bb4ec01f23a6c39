"""Generating text: one character at a time from the model's last-position logits, with temperature and
top-k, drawn from a seeded generator on the CPU (so a seed gives the same text on any device)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .data import Vocab

Logits = Callable[[torch.Tensor], torch.Tensor]
"""Token ids (1, time) -> logits (1, time, vocab), without gradients (a backend's `logits`)."""


def generate(
    logits: Logits,
    vocab: Vocab,
    prompt: str,
    length: int,
    context: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> str:
    """`length` characters continuing `prompt` (a newline when empty), the model seeing at most the last
    `context` of them; a DataError names prompt characters the vocabulary lacks."""
    ids = vocab.encode(prompt or "\n").tolist()
    g = torch.Generator().manual_seed(seed)
    out: list[int] = []
    for _ in range(length):
        window = torch.tensor([ids[-context:]], dtype=torch.int64, device=device)
        last = logits(window)[0, -1].float().cpu() / temperature
        if top_k is not None and top_k < len(last):
            last[last < torch.topk(last, top_k).values[-1]] = -float("inf")
        token = int(torch.multinomial(torch.softmax(last, -1), 1, generator=g))
        ids.append(token)
        out.append(token)
    return vocab.decode(out)
