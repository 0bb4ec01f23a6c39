"""The classical baseline for character models: an interpolated n-gram model with Witten-Bell smoothing
(each context's estimate mixed with the next shorter one's, weighted by how many distinct characters
the context was seen followed by), down to the uniform distribution over the vocabulary."""

from __future__ import annotations

import math
from collections import Counter, defaultdict


class NGram:
    """Counts of the characters that follow every context of up to `order - 1` characters in `text`."""

    def __init__(self, text: str, order: int, vocab_size: int) -> None:
        if order < 1:
            raise ValueError(f"NGram: the order must be at least 1, got {order}")
        self.order, self.vocab_size = order, vocab_size
        self.counts: list[defaultdict[str, Counter[str]]] = [defaultdict(Counter) for _ in range(order)]
        for i, char in enumerate(text):
            for n in range(min(order, i + 1)):
                self.counts[n][text[i - n : i]][char] += 1
        self.totals = [{ctx: (sum(c.values()), len(c)) for ctx, c in level.items()} for level in self.counts]

    def probability(self, context: str, char: str) -> float:
        """P(char | context), from the contexts of up to order - 1 of its last characters."""
        p = 1.0 / self.vocab_size
        for n in range(len(context) + 1):
            ctx = context[len(context) - n :]
            if ctx not in self.totals[n]:
                break
            total, types = self.totals[n][ctx]
            p = (self.counts[n][ctx][char] + types * p) / (total + types)
        return p

    def bits_per_char(self, text: str, order: int | None = None) -> float:
        """The mean of -log2 P(char | what precedes it in `text`), as the model of `order` (at most its own,
        the default) would give it."""
        span = min(order or self.order, self.order) - 1
        bits = sum(-math.log2(self.probability(text[max(0, i - span) : i], c)) for i, c in enumerate(text))
        return bits / len(text)
