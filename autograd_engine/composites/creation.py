"""Creation, dtype and device: zeros, ones, arange, rand..., the *_like and new_* forms, meshgrid, tensor.

Each creation function takes torch's arguments (sizes, `dtype=`, `device=`, `generator=`, ...), which torch
itself parses, plus `requires_grad=`, and returns a leaf Variable (a constant unless `requires_grad`).
`torch.zeros_like(v)` and the other *_like functions, and `v.new_zeros(...)` and the other new_*
methods, give Variables too. `meshgrid` is differentiable (reshape and expand).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from .. import ops
from ..dispatch import implements
from ..variable import Variable, unwrap
from .indexing import in_place_method

__all__ = [
    "arange",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "linspace",
    "logspace",
    "meshgrid",
    "new_empty",
    "new_full",
    "new_ones",
    "new_tensor",
    "new_zeros",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "tensor",
    "zeros",
    "zeros_like",
]


def leaf(values: torch.Tensor, requires_grad: bool = False) -> Variable:
    """`values` as a new leaf Variable; only a floating point one may require grad (torch's error otherwise)."""
    if requires_grad and not values.is_floating_point():
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    return Variable(values, requires_grad=requires_grad)


def _creator(torch_fn: Callable[..., torch.Tensor], name: str) -> Callable[..., Variable]:
    """torch_fn's arguments (Variables among them read as their values) plus requires_grad=: a leaf Variable."""

    def create(*args: Any, requires_grad: bool = False, **kwargs: Any) -> Variable:
        args = tuple(unwrap(a) for a in args)
        return leaf(torch_fn(*args, **{k: unwrap(v) for k, v in kwargs.items()}), requires_grad)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = (
        f"{name}: torch.{'Tensor.' if name.startswith('new_') else ''}{name}'s arguments and requires_grad=; "
        "returns a leaf Variable, a constant unless requires_grad."
    )
    return create


def _creators(owner: Any, names: str) -> Iterator[Callable[..., Variable]]:
    """The creators for owner's functions `names`, each also their rule where a Variable is among the
    arguments (torch.zeros_like(v), torch.arange(v), torch.full(size, v): its values)."""
    for name in names.split():
        yield implements(getattr(owner, name))(_creator(getattr(owner, name), name))


zeros, ones, full, empty, arange, linspace, logspace, eye, rand, randn, randint, randperm = _creators(
    torch, "zeros ones full empty arange linspace logspace eye rand randn randint randperm"
)
zeros_like, ones_like, full_like, empty_like, rand_like, randn_like, randint_like = _creators(
    torch, "zeros_like ones_like full_like empty_like rand_like randn_like randint_like"
)
new_zeros, new_ones, new_full, new_empty = _creators(torch.Tensor, "new_zeros new_ones new_full new_empty")


def _values(data: Any) -> Any:
    """Nested lists and tuples with every Variable replaced by its tensor."""
    if isinstance(data, (list, tuple)):
        return [_values(x) for x in data]
    return unwrap(data)


def tensor(
    data: Any, *, dtype: torch.dtype | None = None, device: Any = None, requires_grad: bool = False, **kwargs: Any
) -> Variable:
    """torch.tensor: a new leaf Variable holding a copy of `data` (numbers, nested lists, arrays, tensors
    or Variables, whose values are copied and never differentiated through)."""
    data = _values(data)
    if isinstance(data, torch.Tensor):
        values = data.detach().to(dtype=dtype, device=device, copy=True)
    else:
        values = torch.tensor(data, dtype=dtype, device=device, **kwargs)
    return leaf(values, requires_grad)


@implements(torch.Tensor.new_tensor)
def new_tensor(
    self: Any, data: Any, *, dtype: torch.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Variable:
    """torch.Tensor.new_tensor: a copy of `data` as a leaf Variable, by default of self's dtype and device."""
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


_VF_MESHGRID = torch._C._VariableFunctions.meshgrid  # type: ignore[attr-defined]  # where a list of Variables goes


@implements(torch.meshgrid, _VF_MESHGRID)
def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Any, ...]:
    """Coordinate grids from 1-d (or 0-d) tensors, each expanded to the grid's shape: indexing 'ij' (the
    default) gives shape (len(t0), len(t1), ...), 'xy' swaps the first two dims. Differentiable."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    # torch's checks and warning, on zeros of the inputs' shapes (meta tensors lack meshgrid's checks)
    zeros = (torch.zeros(t.shape, dtype=t.dtype) for t in tensors)
    grids = torch.meshgrid(*zeros, **({} if indexing is None else {"indexing": indexing}))
    shape = tuple(grids[0].shape) if grids else ()
    swap = indexing == "xy" and len(tensors) > 1
    out = []
    for i, t in enumerate(tensors):
        at = {0: 1, 1: 0}.get(i, i) if swap else i
        ones = [1] * len(shape)
        ones[at] = shape[at]
        out.append(ops.expand(ops.reshape(t, shape=tuple(ones)), shape=shape))
    return tuple(out)


@implements(torch.Tensor.to)
def to(self: Any, *args: Any, **kwargs: Any) -> Any:
    """torch.Tensor.to: a Variable converts (see Variable.to); a tensor converts to a Variable's dtype and device."""
    if isinstance(self, Variable):
        return self.to(*args, **kwargs)
    return self.to(*(unwrap(a) for a in args), **{k: unwrap(v) for k, v in kwargs.items()})


@implements(torch.Tensor.type_as)
def type_as(self: Any, other: Any) -> Any:
    """torch.Tensor.type_as: self converted to other's type (dtype and device)."""
    return self.type(unwrap(other).type())


# --- filling in place: zero_, fill_, copy_ and the random initialisers ----------------------------
def _filled_with(self: Any, values: Any) -> Any:
    """`values` (broadcast) where self was, out of place: self gets no gradient, a Variable `values` does."""
    return ops.where(torch.ones_like(unwrap(self), dtype=torch.bool), values, self)


def _drawn(method: str) -> Callable[..., Any]:
    def out_of_place(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _filled_with(self, getattr(torch.empty_like(unwrap(self)), method)(*args, **kwargs))

    return out_of_place


_FILLS: dict[str, Callable[..., Any]] = {
    "zero_": lambda self: _filled_with(self, 0.0),
    "fill_": _filled_with,
    "copy_": lambda self, src, non_blocking=False: _filled_with(self, src),
    **{m: _drawn(m) for m in ("normal_", "uniform_", "bernoulli_", "exponential_", "random_", "cauchy_")},
}
for _name, _fn in _FILLS.items():
    implements(getattr(torch.Tensor, _name))(in_place_method(_name, _fn))
