"""The numbers of an optimizer step (learning rates, momenta, bias corrections), eagerly and inside `ag.compile`.

Eagerly, the optimizers compute them in Python floats from `state['step'].item()` and hand them to the
kernels as Scalars, as torch's for-loop implementation does. A traced step can do neither: a replay runs
no Python, so a float read from a tensor would be stale, and a learning rate that a scheduler changes
would be baked into the kernels (a retrace at every step). So while `ag.compile` traces, the same formulas
run on 0-dim float64 tensors: the step counter converted exactly, and the options that schedulers change
read through `ag.compile.scalar`, which every replay reads anew from the param group (they stay checked,
a change retracing, where fn may read them too: through `opt.param_groups`, or its own reference to a group).

Both ways give the same bits. float64 arithmetic is Python's float arithmetic; `pow` of two float64
tensors calls libm's pow, as Python's `**` does; a 0-dim tensor in a kernel is cast to the kernel's dtype
as a Scalar is. Where a kernel takes only a Scalar, the tensor goes to a kernel that computes the same
expression with the same roundings: `addcmul` for `add(alpha=)` (the same fused multiply-add), torch's
foreach `addcdiv_`/`addcmul_` with packed scalars (which read the tensor into the Scalar of the very
kernel eager execution runs). tests/test_compile_optim.py checks the results bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import autograd_engine as ag

__all__ = ["add", "addcdiv_", "addcmul_", "count", "decide", "lerp_", "quotient", "read_scheduled", "root", "tracing"]

_HALF = torch.tensor(0.5, dtype=torch.float64)
tracing = ag.compile.is_tracing
"""Whether ag.compile is recording a call in this thread (the traced formulation applies)."""


def read_scheduled(group: dict[str, Any], keys: tuple[str, ...], owner: Any = None) -> dict[str, Any]:
    """The options `keys` of `group` (those schedulers change) as a step reads them: the group itself
    eagerly; while traced, 0-dim float64 tensors that every replay reads anew from the group (a tuple
    such as Adam's betas item by item; an option that is a tensor stays itself). `owner`: the optimizer
    holding the group, which reports when other code may read these options too (they stay checked then)."""
    if not tracing():
        return group
    return {
        key: tuple(ag.compile.scalar(group, key, i, owner=owner) for i in range(len(group[key])))
        if isinstance(group[key], tuple)
        else ag.compile.scalar(group, key, owner=owner)
        for key in keys
    }


def decide(group: dict[str, Any], key: str, test: Callable[[Any], bool]) -> bool:
    """`test(group[key])`, a choice of code path made on a scheduled option (momentum or none); while traced,
    a guard: a replay retraces when the choice differs."""
    if tracing():
        return ag.compile.guard(lambda: test(group[key]))
    return test(group[key])


def count(step: torch.Tensor) -> Any:
    """A step counter's value: a Python float eagerly (torch's `.item()`); while traced, the counter as a
    float64 tensor on the CPU (exact), which a replay recomputes."""
    return step.to(device="cpu", dtype=torch.float64) if tracing() else step.item()


def root(x: Any) -> Any:
    """`x ** 0.5`; while traced, libm's pow(x, 0.5) on the float64 tensor as Python's float `**` calls it
    (torch's `tensor ** 0.5` is a square root, which differs from pow in the last bit at times)."""
    return torch.pow(x, _HALF) if tracing() else x**0.5


def quotient(a: Any, b: Any) -> Any:
    """`a / b`; while traced, with a tensor `a` (a traced option, or a tensor learning rate) and the traced
    number `b` cast to a's dtype first, as Python's float `b` would be."""
    return a / b.to(a.dtype) if tracing() and isinstance(a, torch.Tensor) else a / b


def add(a: torch.Tensor, b: torch.Tensor, alpha: Any, *, inplace: bool = False) -> torch.Tensor:
    """`a.add(b, alpha=alpha)` (`add_` with inplace): a + alpha * b in one rounding. A tensor `alpha` goes to
    `addcmul` as its third factor, which the kernels fuse the same way."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.to(a)
        return a.addcmul_(b, alpha) if inplace else torch.addcmul(a, b, alpha)
    return a.add_(b, alpha=alpha) if inplace else a.add(b, alpha=alpha)


def addcdiv_(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, value: Any) -> None:
    """`a.addcdiv_(b, c, value=value)`; a tensor `value` as the packed scalar of torch's foreach addcdiv_,
    which passes it to this very kernel as its Scalar."""
    if isinstance(value, torch.Tensor):
        torch._foreach_addcdiv_([a], [b], [c], _packed(value))
    else:
        a.addcdiv_(b, c, value=value)


def addcmul_(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, value: Any) -> None:
    """`a.addcmul_(b, c, value=value)`; a tensor `value` as for `addcdiv_`."""
    if isinstance(value, torch.Tensor):
        torch._foreach_addcmul_([a], [b], [c], _packed(value))
    else:
        a.addcmul_(b, c, value=value)


def lerp_(a: torch.Tensor, b: torch.Tensor, weight: Any) -> None:
    """`a.lerp_(b, weight)`; a tensor `weight` in a's dtype (lerp's tensor overload computes as its Scalar one)."""
    a.lerp_(b, weight.to(a) if isinstance(weight, torch.Tensor) else weight)


def _packed(value: torch.Tensor) -> torch.Tensor:
    """A number as the one-element CPU tensor of scalars that torch's foreach kernels take."""
    return value.reshape(1).to("cpu")
