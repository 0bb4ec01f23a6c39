"""Python numbers in arithmetic, as cached 0-dim tensors.

torch wraps a Python number into a tensor on every call, which on a small tensor costs more than the
op itself. `add`, `sub` and `mul` take a number beside a float32/float64 tensor as a cached 0-dim CPU
tensor of that dtype instead: the kernel sees the same value rounded the same way (a CPU scalar either
way), so the bits of the result are the same. (Not for `div`: torch divides by a number through its
reciprocal, by a tensor exactly. Not for other dtypes: half precision computes with the number in
float32.) Zeros, whose sign a cache key would lose, and NaN stay numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_CACHE: dict[torch.dtype, dict[float, torch.Tensor]] = {torch.float32: {}, torch.float64: {}}
_CACHED_IDS: set[int] = set()  # ids of the tensors in _CACHE (alive while there, so never reused)
_LIMIT = 4096  # a program that makes new numbers all the time just misses, without growing the cache


def numbers_as_tensors(raw: Sequence[Any]) -> Sequence[Any]:
    """The two inputs of a binary op, with a Python number beside a float32/float64 tensor replaced
    by its cached 0-dim tensor."""
    if len(raw) != 2:
        return raw  # the forward's own error names what is wrong
    x, y = raw
    if isinstance(x, torch.Tensor):
        tensor, number = x, y
    elif isinstance(y, torch.Tensor):
        tensor, number = y, x
    else:
        return raw
    kind = type(number)
    if not (kind is float or (kind is int and -(2**24) <= number <= 2**24)) or not number or number != number:
        return raw
    cache = _CACHE.get(tensor.dtype)
    if cache is None:
        return raw
    constant = cache.get(number)
    if constant is None:
        if len(cache) >= _LIMIT:
            evicted = list(cache.values())  # one step under the GIL: safe beside other threads' inserts
            cache.clear()
            _CACHED_IDS.difference_update(id(t) for t in evicted)
        constant = cache[number] = torch.tensor(float(number), dtype=tensor.dtype)
        _CACHED_IDS.add(id(constant))
    return [tensor, constant] if tensor is x else [constant, tensor]


def is_cached(t: torch.Tensor) -> bool:
    """Whether `t` is one of the cached numbers (shared, so no node holds its memory)."""
    return id(t) in _CACHED_IDS
