"""torch.nn.init for nn's Parameters and Variables: `nn.init.uniform_(layer.weight, -0.1, 0.1)` is
torch.nn.init.uniform_ run on the Variable's tensor, in place: the same draws from torch's generator as on
a tensor, nothing recorded (torch runs them under no_grad), and the argument returned, as torch.

`torch.nn.init.X(variable)` works too: the functions that dispatch on their argument (uniform_, normal_,
constant_, kaiming_uniform_) reach the rules below; the others run torch's own code on the Variable, whose
in-place methods write its tensor unrecorded under torch.no_grad (all but eye_, whose `torch.eye(out=)`
the engine refuses: use `nn.init.eye_`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch.nn.init as _torch_init
from torch.nn.init import (  # noqa: F401  (torch's private helpers, which torch.nn's own layers call)
    _calculate_correct_fan,
    _calculate_fan_in_and_fan_out,
    calculate_gain,
)

from autograd_engine.dispatch import implements
from autograd_engine.variable import unwrap

__all__ = [
    "calculate_gain",
    "constant",
    "constant_",
    "dirac",
    "dirac_",
    "eye",
    "eye_",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "normal",
    "normal_",
    "ones_",
    "orthogonal",
    "orthogonal_",
    "sparse",
    "sparse_",
    "trunc_normal_",
    "uniform",
    "uniform_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros_",
]


def _on_tensor(fn: Callable[..., Any]) -> Callable[..., Any]:
    """torch's `fn` run on the tensor of its first argument (a Variable's, or a plain tensor), which it
    returns; also the engine's rule for `fn`, reached when `fn` dispatches on a Variable."""

    @functools.wraps(fn)
    def init(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        fn(unwrap(tensor), *args, **kwargs)
        return tensor

    return implements(fn)(init)


uniform_ = _on_tensor(_torch_init.uniform_)
normal_ = _on_tensor(_torch_init.normal_)
trunc_normal_ = _on_tensor(_torch_init.trunc_normal_)
constant_ = _on_tensor(_torch_init.constant_)
ones_ = _on_tensor(_torch_init.ones_)
zeros_ = _on_tensor(_torch_init.zeros_)
eye_ = _on_tensor(_torch_init.eye_)
dirac_ = _on_tensor(_torch_init.dirac_)
xavier_uniform_ = _on_tensor(_torch_init.xavier_uniform_)
xavier_normal_ = _on_tensor(_torch_init.xavier_normal_)
kaiming_uniform_ = _on_tensor(_torch_init.kaiming_uniform_)
kaiming_normal_ = _on_tensor(_torch_init.kaiming_normal_)
orthogonal_ = _on_tensor(_torch_init.orthogonal_)
sparse_ = _on_tensor(_torch_init.sparse_)

# torch's deprecated spellings (a FutureWarning naming the new one)
uniform = _on_tensor(_torch_init.uniform)
normal = _on_tensor(_torch_init.normal)
constant = _on_tensor(_torch_init.constant)
eye = _on_tensor(_torch_init.eye)
dirac = _on_tensor(_torch_init.dirac)
xavier_uniform = _on_tensor(_torch_init.xavier_uniform)
xavier_normal = _on_tensor(_torch_init.xavier_normal)
kaiming_uniform = _on_tensor(_torch_init.kaiming_uniform)
kaiming_normal = _on_tensor(_torch_init.kaiming_normal)
orthogonal = _on_tensor(_torch_init.orthogonal)
sparse = _on_tensor(_torch_init.sparse)
