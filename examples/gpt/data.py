"""The built-in text: the Python reference topics that ship with Python itself (`pydoc_data.topics`, the
text behind `help('if')`), split by topic into training and validation text, and character vocabularies.

Nothing is downloaded: the text is in every CPython installation (the Python Software Foundation
License). Validation is every 8th topic in name order, so it is other topics than the model trained on,
not other parts of the same ones. The text differs between Python versions; `fingerprint` names the
exact text a run trained on, and its checkpoint keeps it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

VAL_EVERY, VAL_OFFSET = 8, 2
"""Topic i (in name order) validates when i % VAL_EVERY == VAL_OFFSET: 10 of 79 topics in Python 3.11."""


class DataError(ValueError):
    """Text that cannot be used: an empty corpus, a prompt with characters the model does not know."""


@dataclass(frozen=True)
class Corpus:
    """Training and validation text, and the names of the topics each holds."""

    train: str
    val: str
    train_topics: tuple[str, ...]
    val_topics: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        """The first 16 hex digits of the text's SHA-256: which text a run trained on."""
        return hashlib.sha256(f"{self.train}\0{self.val}".encode()).hexdigest()[:16]


def builtin_corpus() -> Corpus:
    """The Python reference topics of this interpreter, split by topic (see VAL_EVERY)."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    val = tuple(n for i, n in enumerate(names) if i % VAL_EVERY == VAL_OFFSET)
    train = tuple(n for n in names if n not in val)
    if not train or not val:
        raise DataError(f"pydoc_data.topics holds {len(names)} topics: too few to split into training and validation")
    return Corpus("\n".join(topics[n] for n in train), "\n".join(topics[n] for n in val), train, val)


class Vocab:
    """Characters and their token ids (in code point order)."""

    def __init__(self, chars: str) -> None:
        if not chars or len(set(chars)) != len(chars):
            raise DataError(f"a vocabulary needs distinct characters, got {len(chars)} with {len(set(chars))} distinct")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def of(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """Token ids (int64) of `text`; a DataError names the characters the vocabulary lacks."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            shown = " ".join(repr(c) for c in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            raise DataError(f"the text holds {len(unknown)} character(s) the model does not know: {shown}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.int64)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join(self.chars[i] for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids))


def random_windows(
    tokens: torch.Tensor, context: int, batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch` windows at random places: inputs (batch, context) and targets, the same shifted by one."""
    if len(tokens) <= context:
        raise DataError(f"the text has {len(tokens)} characters, too few for windows of {context} + 1")
    starts = torch.randint(len(tokens) - context, (batch,), generator=generator)
    rows = torch.stack([tokens[s : s + context + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


def all_windows(tokens: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The text cut into consecutive windows of `context` (the remainder dropped): every character but the
    last few is predicted once, so the mean loss over them is the text's loss."""
    count = (len(tokens) - 1) // context
    if count == 0:
        raise DataError(f"the text has {len(tokens)} characters, too few for one window of {context} + 1")
    x = tokens[: count * context].view(count, context)
    y = tokens[1 : count * context + 1].view(count, context)
    return x, y
