"""Variable-length batches, as torch.nn.utils.rnn: padding a list of sequences into one tensor, packing a
padded batch into a PackedSequence (the steps of all sequences, longest first, without the padding) that
the recurrent layers run on, and back.

Every function works on Variables (the result records, so gradients flow through packing and padding)
and on plain tensors (the result is a plain tensor), with torch's signatures, defaults, layouts and errors.
`PackedSequence` is a subclass of torch's, so `isinstance(p, torch.nn.utils.rnn.PackedSequence)` holds and
a PackedSequence that torch built is accepted too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.utils.rnn as torch_rnn

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]

invert_permutation = torch_rnn.invert_permutation  # index arithmetic on plain tensors, nothing to record


class PackedSequence(torch_rnn.PackedSequence):
    """torch's PackedSequence (data, batch_sizes, sorted_indices, unsorted_indices) whose `data` may be a
    Variable: row block t of `data` holds step t of the batch_sizes[t] sequences still running."""


def _full(shape: Sequence[int], value: float, like: Any) -> torch.Tensor:
    return torch.full(tuple(shape), value, dtype=like.dtype, device=like.device)


def _pad_rows(x: Any, rows: int, value: float, left: bool = False) -> Any:
    """`x` with its dim 0 extended to `rows` by rows of `value` (before it when `left`)."""
    missing = rows - x.shape[0]
    if missing == 0:
        return x
    pad = _full((missing, *x.shape[1:]), value, x)
    return torch.cat([pad, x] if left else [x, pad])


def pad_sequence(
    sequences: Any, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Any:
    """Stack sequences of shapes (L_i, *) into (L, B, *) (or (B, L, *) with batch_first), L the longest,
    the shorter ones padded with `padding_value` at the end (padding_side='right') or the start ('left').
    The result has the first sequence's dtype, as torch's."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError(
            f"pad_sequence: Expected iterable for input sequences, but got arg of type: {type(sequences)}"
        )
    seqs = tuple(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    first = seqs[0]
    for s in seqs:
        if s.ndim == 0 or tuple(s.shape[1:]) != tuple(first.shape[1:]):
            raise RuntimeError(
                "pad_sequence: every sequence needs dim 0 and the same trailing dims, got shapes "
                f"{tuple(first.shape)} and {tuple(s.shape)}"
            )
    longest = max(s.shape[0] for s in seqs)
    padded = [
        _pad_rows(s if s.dtype == first.dtype else s.to(first.dtype), longest, padding_value, padding_side == "left")
        for s in seqs
    ]
    return torch.stack(padded, 0 if batch_first else 1)


def _lengths_tensor(lengths: Any) -> torch.Tensor:
    """lengths as torch takes them (a list or a tensor) as a 1-D int64 CPU tensor, checked as torch does."""
    if not isinstance(lengths, torch.Tensor):
        return torch.as_tensor(lengths, dtype=torch.int64, device="cpu")
    lengths = lengths.to(dtype=torch.int64)
    if lengths.ndim != 1 or lengths.device.type != "cpu":
        raise RuntimeError(
            f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.ndim}D {lengths.device} Long tensor"
        )
    return lengths


def _check_lengths(lengths: list[int], batch: int, steps: int, enforce_sorted: bool) -> None:
    """torch's checks of pack_padded_sequence's lengths, in its order, and one torch lacks: no length
    past the padded input (torch reads beyond it)."""
    if len(lengths) != batch:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} (batch_size={batch})"
        )
    if min(lengths) <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
        )
    if enforce_sorted and any(a < b for a, b in zip(lengths, lengths[1:])):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
            "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
            "if you do not need ONNX exportability."
        )
    if max(lengths) > steps:
        raise RuntimeError(
            f"pack_padded_sequence: a length of {max(lengths)} exceeds the padded input's {steps} time steps"
        )


def pack_padded_sequence(
    input: Any,  # noqa: A002 (torch's names)
    lengths: Any,
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences of `lengths`; with
    enforce_sorted=False the lengths may come in any order (the batch is sorted, and the order kept in
    sorted_indices / unsorted_indices)."""
    lengths = _lengths_tensor(lengths)
    if input.ndim < 2:
        raise IndexError(f"pack_padded_sequence: expected a padded batch of 2 or more dims, got {tuple(input.shape)}")
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    sorted_indices = None
    padded = input
    if not enforce_sorted:
        lengths, sorted_indices = torch.sort(lengths, descending=True)
        sorted_indices = sorted_indices.to(input.device)
        padded = input.index_select(0 if batch_first else 1, sorted_indices)
    steps_first = padded.transpose(0, 1) if batch_first else padded
    sizes = lengths.tolist()
    _check_lengths(sizes, steps_first.shape[1], steps_first.shape[0], enforce_sorted)
    batch_sizes = [sum(length > t for length in sizes) for t in range(sizes[0])]
    data = torch.cat([steps_first[t, :b] for t, b in enumerate(batch_sizes)])
    return PackedSequence(data, torch.tensor(batch_sizes, dtype=torch.int64), sorted_indices, None)


def pad_packed_sequence(
    sequence: torch_rnn.PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Any, torch.Tensor]:
    """The inverse of pack_padded_sequence: the padded batch (T, B, *) (or (B, T, *)), T the longest
    length or `total_length`, in the original batch order, and the lengths (an int64 CPU tensor)."""
    sizes = sequence.batch_sizes.tolist()
    steps = len(sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {steps}"
            )
        steps = total_length
    padded = _pad_rows(pad_sequence(sequence.data.split(sizes), True, padding_value), steps, padding_value)
    if batch_first:
        padded = padded.transpose(0, 1)
    lengths = torch.tensor([sum(b > i for b in sizes) for i in range(sizes[0])], dtype=torch.int64)
    unsorted = sequence.unsorted_indices
    if unsorted is None:
        return padded, lengths
    return padded.index_select(0 if batch_first else 1, unsorted), lengths[unsorted.cpu()]


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Any]:
    """The sequences of a padded batch, each cut to its length (torch's transposes its input in place
    when batch_first=False; this one leaves it as it is)."""
    batch = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [seq[: int(length)] for seq, length in zip(batch.unbind(0), lengths)]


def pack_sequence(sequences: list[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *), longest first unless enforce_sorted=False."""
    lengths = torch.as_tensor([s.shape[0] for s in sequences])
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: torch_rnn.PackedSequence) -> list[Any]:
    """The list of sequences a PackedSequence holds, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
