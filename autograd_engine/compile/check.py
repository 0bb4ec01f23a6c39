"""`check=True`: run a call both ways, replayed and eagerly, from the same state, and compare.

The state a call changes is known from its trace: the tensors it writes in place (parameters, optimizer
state, arguments), the `.grad` it rebinds, and the random generators. Those are saved, the replay runs,
its results are copied, the state is put back, `fn` runs eagerly, and every return value, written tensor
and gradient must agree: bit for bit on the CPU, to 1e-6 on CUDA (where kernels may use atomics).
The eager run's results are the ones returned and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..pytree import tree_flatten
from ..variable import Variable
from .program import Program
from .state import CheckError, describe_value, restore_rng, save_rng
from .tracer import INPUT


def checked_call(
    name: str,
    fn: Callable[..., Any],
    program: Program,
    runner: Callable[[list[Any]], Any],
    leaves: list[Any],
    call: tuple[tuple[Any, ...], dict[str, Any]],
) -> Any:
    """Replay with `runner`, then run `fn(*args, **kwargs)` from the same state; return the eager result."""
    args, kwargs = call
    saved = _State(program, leaves)
    replayed = _observe(program, leaves, runner(leaves))
    saved.restore()
    result = fn(*args, **kwargs)
    eager = _observe(program, leaves, result)
    if len(replayed) != len(eager):
        raise CheckError(f"compile(check=True): {name}: the replay returned another structure than eager execution")
    cuda = any(d.type == "cuda" for d in program.trace.devices)
    for (label, got), (_, want) in zip(replayed, eager):
        _compare(name, label, got, want, cuda)
    return result


class _State:
    """What a call may change, saved so that it can run a second time from the same start."""

    def __init__(self, program: Program, leaves: list[Any]) -> None:
        trace = program.trace
        self.tensors = [(t, t.clone()) for t in _written(program, leaves)]
        owners = [_owner(leaves, target) for target, _ in trace.bindings]
        owners += [var for var, _ in trace.entry_guards]
        self.grads = [(v, v.grad) for v in owners]
        self.rng = save_rng(trace.devices)

    def restore(self) -> None:
        for t, saved in self.tensors:
            t.copy_(saved)
        for v, grad in self.grads:
            v.grad = grad
        restore_rng(self.rng)


def _owner(leaves: list[Any], target: tuple[str, Any]) -> Variable:
    """The Variable whose `.grad` a binding sets: an argument (by leaf index) or a captured one."""
    kind, what = target
    return leaves[what] if kind == "input" else what  # type: ignore[no-any-return]


def _written(program: Program, leaves: list[Any]) -> list[torch.Tensor]:
    """The tensors a replay of `program` writes in place, for these arguments."""
    trace = program.trace
    inputs = program.enter(leaves)
    positions = {slot: i for i, (slot, _) in enumerate(program.inputs)}
    return [inputs[positions[s]] if trace.kinds[s] == INPUT else trace.consts[s] for s in trace.written]


def _observe(program: Program, leaves: list[Any], result: Any) -> list[tuple[str, Any]]:
    """Copies of what a call produced: its return value's leaves, the tensors it wrote, the gradients it bound."""
    seen = []
    for i, x in enumerate(tree_flatten(result)[0]):
        seen.append((f"return value leaf {i}", _copy(x)))
    for t in _written(program, leaves):
        seen.append((f"tensor of {describe_value(t)} updated in place", t.clone()))
    for target, _ in program.trace.bindings:
        v = _owner(leaves, target)
        seen.append((f".grad of a Variable of {describe_value(v)}", None if v.grad is None else v.grad.data.clone()))
    return seen


def _copy(x: Any) -> Any:
    if isinstance(x, Variable):
        return x.data.clone()
    return x.clone() if isinstance(x, torch.Tensor) else x


def _compare(name: str, label: str, got: Any, want: Any, cuda: bool) -> None:
    where = f"compile(check=True): {name}: the replay differs from eager execution in the {label}"
    if isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor):
        tol = 1e-6 if cuda else 0.0
        try:
            torch.testing.assert_close(got, want, rtol=tol, atol=tol, equal_nan=True)
        except AssertionError as e:
            raise CheckError(f"{where}: {e}") from e
    elif type(got) is not type(want) or (got is not want and got != want):
        raise CheckError(f"{where}: {got!r} replayed, {want!r} eagerly")
