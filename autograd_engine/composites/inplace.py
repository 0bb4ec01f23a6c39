"""torch.Tensor's remaining in-place methods on Variables: every `name_` whose out-of-place `name` has a
rule (addmm_, cumsum_, tril_, eq_, logical_and_, unsqueeze_, ...), and fill_diagonal_, renorm_, detach_.

Each family writes as torch does (see `indexing.in_place`: while recording, the Variable takes the
result and its node; otherwise torch's method runs on the tensor itself):
- arithmetic ones: the out-of-place rule, after torch's own checks on meta tensors (shapes, dtypes:
  `float_power_` of a float32 is torch's error), cast back to the Variable's dtype;
- comparisons, logical and bitwise ones: torch's values (its errors too: bitwise ops of floats), in the
  Variable's dtype, with gradient 0 to its old values (torch's EqBackward; torch leaves logical_and_
  unrecorded, passing the gradient through as if nothing was written: here it is 0);
- the ones that change the shape (unsqueeze_, t_, transpose_...): the Variable becomes the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import ops
from ..dispatch import HANDLED, implements
from ..grad_mode import is_grad_enabled
from ..variable import Variable, unwrap, unwrap_all
from . import elementwise, linalg, reductions, shape  # noqa: F401  (their rules first)
from .indexing import in_place_method

__all__: list[str] = []


def _meta(a: Any) -> Any:
    """A tensor argument as a meta tensor of its shape and dtype (torch's checks, on no data)."""
    return torch.empty_like(unwrap(a), device="meta") if isinstance(a, (torch.Tensor, Variable)) else a


def _checked(name: str, out_of_place: Callable[..., Any]) -> Callable[..., Any]:
    """`out_of_place` as the in-place `name` writes it: torch's checks first, the result in self's dtype."""

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        getattr(_meta(self), name)(*(_meta(a) for a in args), **{k: _meta(v) for k, v in kwargs.items()})
        result = out_of_place(self, *args, **kwargs)
        return result if result.dtype == self.dtype else ops.to(result, dtype=self.dtype, device=self.device)

    return write


def _written(name: str) -> Callable[..., Any]:
    """The values torch's `name` computes (a piecewise-constant function) written over self: its
    gradient to self is 0, and the result requires grad where self does, as torch's comparisons."""
    fn = getattr(torch, name)

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        values = fn(unwrap(self), *unwrap_all(args), **kwargs).to(self.dtype)
        return ops.where(torch.ones_like(values, dtype=torch.bool), values, self)

    return write


def _reshaped(name: str, out_of_place: Callable[..., Any]) -> Callable[..., Any]:
    """torch.Tensor.`name` (unsqueeze_, t_...): the Variable itself becomes `out_of_place`'s view."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        recording = isinstance(self, Variable) and self._requires_grad and is_grad_enabled() and torch.is_grad_enabled()
        if not recording:
            getattr(unwrap(self), name)(*args, **kwargs)
            return self
        if self.is_leaf:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if getattr(self, "_view", None) is not None:
            raise RuntimeError(
                f"torch.Tensor.{name}: a view of another Variable cannot change its shape in place while recording "
                f"here; use the out-of-place {name[:-1]}"
            )
        result = out_of_place(self, *args, **kwargs)
        self.data, self._node, self._requires_grad = result.data, result._node, result._requires_grad
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"torch.Tensor.{name}: the Variable becomes its own {name[:-1]}, as in torch."
    return method


_ARITHMETIC = [
    "addbmm_",
    "addmm_",
    "addmv_",
    "addr_",
    "baddbmm_",
    "cumprod_",
    "cumsum_",
    "float_power_",
    "heaviside_",
    "renorm_",
    "tril_",
    "triu_",
]
_VALUES = [
    "bitwise_and_",
    "bitwise_left_shift_",
    "bitwise_not_",
    "bitwise_or_",
    "bitwise_right_shift_",
    "bitwise_xor_",
    "eq_",
    "gcd_",
    "ge_",
    "greater_",
    "greater_equal_",
    "gt_",
    "lcm_",
    "le_",
    "less_",
    "less_equal_",
    "logical_and_",
    "logical_not_",
    "logical_or_",
    "logical_xor_",
    "lt_",
    "ne_",
    "not_equal_",
]
_RESHAPING = ["squeeze_", "unsqueeze_", "t_", "transpose_", "swapaxes_", "swapdims_"]


def _rule(name: str) -> Callable[..., Any]:
    """The rule of the out-of-place torch.Tensor method of the in-place `name`."""
    return HANDLED[getattr(torch.Tensor, name[:-1])]


for _name in _ARITHMETIC:
    implements(getattr(torch.Tensor, _name))(in_place_method(_name, _checked(_name, _rule(_name))))
for _name in _VALUES:
    implements(getattr(torch.Tensor, _name))(in_place_method(_name, _written(_name[:-1])))
for _name in _RESHAPING:
    implements(getattr(torch.Tensor, _name))(_reshaped(_name, _rule(_name)))


def _fill_diagonal(self: Any, fill_value: Any, wrap: bool = False) -> Any:
    """self with `fill_value` on its main diagonal (torch's positions and checks, from torch's own
    fill_diagonal_ on a mask); the diagonal's old values get no gradient."""
    mask = torch.zeros(tuple(self.shape), dtype=torch.bool, device=self.device).fill_diagonal_(True, wrap)
    return ops.where(mask, unwrap(fill_value), self)


implements(torch.Tensor.fill_diagonal_)(in_place_method("fill_diagonal_", _fill_diagonal))


@implements(torch.Tensor.detach_)
def detach_(self: Any) -> Any:
    """torch.Tensor.detach_: the Variable leaves the graph (a leaf that does not require grad)."""
    if not isinstance(self, Variable):
        return self.detach_()
    if getattr(self, "_view", None) is not None:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    self._node, self._requires_grad = None, False
    return self
