"""Embedding and EmbeddingBag, as torch.nn's: a (num_embeddings, embedding_dim) `weight` drawn from N(0, 1)
with the padding row zeroed (the same draws as torch after the same seed), `from_pretrained`, and a
forward that is `nn.functional.embedding` / `embedding_bag`.

The engine's gradients are dense tensors, so sparse=True is refused at construction."""

from __future__ import annotations

from typing import Any

import torch

from autograd_engine.variable import unwrap

from .. import functional as F
from .. import init
from ..functional.sparse import _sparse_refused
from ..module import Module, Parameter

__all__ = ["Embedding", "EmbeddingBag"]


def _padding_index(padding_idx: int | None, num_embeddings: int, name: str) -> int | None:
    """padding_idx checked and made non-negative, as torch does (AssertionError naming it `name`)."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise AssertionError(f"{name} must be within num_embeddings")
    return padding_idx % num_embeddings


class _Table(Module):
    """What Embedding and EmbeddingBag share: the (num_embeddings, embedding_dim) `weight`, either the given
    one (its shape checked; used as it is, padding row too) or one that `reset_parameters` draws."""

    num_embeddings: int
    embedding_dim: int
    weight: Parameter
    padding_idx: int | None

    def _set_weight(self, weight: Any, requires_grad: bool, device: Any, dtype: Any) -> None:
        shape = (self.num_embeddings, self.embedding_dim)
        if weight is None:
            self.weight = Parameter(torch.empty(shape, device=device, dtype=dtype), requires_grad=requires_grad)
            self.reset_parameters()
            return
        if tuple(weight.shape) != shape:
            raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
        self.weight = Parameter(unwrap(weight), requires_grad=requires_grad)

    def reset_parameters(self) -> None:
        """The weight drawn from N(0, 1), then the padding row zeroed, as torch.nn."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx].fill_(0)


def _refuse_sparse(layer: str, sparse: bool) -> None:
    if sparse:
        raise _sparse_refused(layer)


def _check_pretrained(embeddings: Any) -> tuple[int, int]:
    if embeddings.ndim != 2:
        raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
    rows, cols = embeddings.shape
    return rows, cols


def _options(max_norm: float | None, norm_type: float, scale_grad_by_freq: bool, fmt: Any = str) -> str:
    """The options torch's extra_repr lists when they differ from their defaults."""
    text = "" if max_norm is None else f", max_norm={fmt(max_norm)}"
    text += "" if norm_type == 2 else f", norm_type={fmt(norm_type)}"
    return text + ("" if scale_grad_by_freq is False else f", scale_grad_by_freq={fmt(scale_grad_by_freq)}")


class Embedding(_Table):
    """A lookup table: forward(indices) gives weight[indices]. The padding_idx row gets no gradient;
    max_norm renormalises the rows looked up (in place, as torch)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _refuse_sparse("Embedding", sparse)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "Padding_idx")
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self._set_weight(_weight, not _freeze, device, dtype)
        self.sparse = sparse

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is `embeddings` itself (2-d; not copied), frozen unless freeze=False."""
        rows, cols = _check_pretrained(embeddings)
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, embeddings, freeze)

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.embedding(
            input, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse
        )

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        text += "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return text + _options(self.max_norm, self.norm_type, self.scale_grad_by_freq)


class EmbeddingBag(_Table):
    """Sums, means or maxima of bags of embedding rows: forward(input, offsets=None,
    per_sample_weights=None), as torch.nn.EmbeddingBag (scale_grad_by_freq=True is refused by
    nn.functional.embedding_bag)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _refuse_sparse("EmbeddingBag", sparse)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "padding_idx")
        self._set_weight(_weight, True, device, dtype)
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag whose weight is `embeddings` itself (2-d; not copied), frozen unless freeze=False."""
        rows, cols = _check_pretrained(embeddings)
        bag = cls(
            rows,
            cols,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            mode,
            sparse,
            embeddings,
            include_last_offset,
            padding_idx,
        )
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input: Any, offsets: Any = None, per_sample_weights: Any = None) -> Any:  # noqa: A002
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings!r}, {self.embedding_dim!r}"
        text += _options(self.max_norm, self.norm_type, self.scale_grad_by_freq, repr) + f", mode={self.mode!r}"
        return text + ("" if self.padding_idx is None else f", padding_idx={self.padding_idx!r}")
