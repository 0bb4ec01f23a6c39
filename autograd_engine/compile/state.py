"""What tracing shares with the rest of the engine: the per-thread stack of active tracers, `is_tracing`,
`guard`, `scalar` and `exposed` (for code that must behave differently while traced: optimizers), the hook
through which the reverse pass reports `.grad` writes (set only while some thread traces); and what the
modules of `compile` share: its errors and the random generators' state."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch.utils._python_dispatch import _disable_current_modes

if TYPE_CHECKING:
    from ..variable import Variable
    from .tracer import Tracer

T = TypeVar("T")
_backward = importlib.import_module("..backward", __package__)  # (the package's `backward` is the function)


class TraceError(RuntimeError):
    """`fn` did something a replay could not repeat (a host read, a kept intermediate): the call that
    found it ran eagerly and completed, and the message says what to change."""


class CheckError(AssertionError):
    """`check=True`: a replay gave other values than eager execution of the same call."""


class Retrace(Exception):  # noqa: N818 (a signal, not an error)
    """A replay found that the trace does not apply (a guard failed) before changing any state."""


class _Tracers(threading.local):
    def __init__(self) -> None:
        self.stack: list[Tracer] = []


_local = _Tracers()
_hooked = 0  # threads tracing now: the reverse pass calls the hook only while this is non-zero
_hook_lock = threading.Lock()


def is_tracing() -> bool:
    """True while `ag.compile` records a call in this thread: code that reads tensor values into Python
    (an optimizer's step count, say) must then compute with tensors instead (see docs/compile.md)."""
    return bool(_hooked and _local.stack)  # (no thread-local lookup while no thread traces: eager code asks often)


def guard(read: Callable[[], T]) -> T:
    """`read()`, and while tracing a promise that the trace is valid only while `read()` returns this
    value: every replay calls `read` first and retraces on a different value. For Python state that a
    step reads and that changes between steps (a learning rate set by a scheduler, say). The value must
    be a Python value compared with `==` (a number, string or tuple), not a tensor."""
    value = read()
    for tracer in _local.stack:
        tracer.python_guard(read, value)
    return value


def scalar(container: Any, key: Any, *keys: Any, owner: Any = None) -> Any:
    """`container[key][keys[0]]...`, a Python number, as a 0-dim float64 tensor (a tensor found there is
    returned as it is). While tracing, that tensor is an input of the trace: every replay reads the number
    again from `container` (and retraces if the paths from fn lead to another container), so a value that
    changes between calls, such as a learning rate that a scheduler sets, needs no retrace.

    The number is then no longer checked as the other Python values that fn reaches are, so any other use
    of it inside fn (a kernel argument or a branch computed from the number) would be stale; it stays
    checked (a change retraces) where such a use is possible: when fn also returns it, and, given the
    `owner` that holds `container` (an optimizer, its param groups), when fn reaches `container` other than
    through `owner` or `owner` reported with `exposed(owner)` that it handed its containers to other code
    during the call. Without an owner, use the number inside fn through this tensor only."""
    keys = (key, *keys)
    value = container
    for k in keys:
        value = value[k]
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"ag.compile.scalar: expected a number at {keys!r}, got {type(value).__name__}")
    with _disable_current_modes():  # (made outside the trace: an input, not a recorded kernel)
        tensor = torch.tensor(value, dtype=torch.float64)
    for tracer in _local.stack:
        tracer.scalar_input(tensor, container, keys, value, owner)
    return tensor


def exposed(owner: Any) -> None:
    """While tracing, `owner` (of containers that `scalar(..., owner=owner)` reads) handed them to other
    code, which may read the numbers in them as Python values: those keep their checks in this trace (an
    optimizer's `param_groups` read by fn). Nothing outside a trace."""
    for tracer in _local.stack:
        tracer.exposed_by(owner)


def push(tracer: Tracer) -> None:
    global _hooked
    _local.stack.append(tracer)
    with _hook_lock:
        _hooked += 1
        setattr(_backward, "grad_written", _grad_written)  # noqa: B010


def pop(tracer: Tracer) -> None:
    global _hooked
    _local.stack.remove(tracer)
    with _hook_lock:
        _hooked -= 1
        if not _hooked:
            setattr(_backward, "grad_written", None)  # noqa: B010


def _grad_written(var: Variable) -> None:
    """The reverse pass is about to write `var.grad` (called in every thread while any thread traces)."""
    for tracer in _local.stack:
        tracer.grad_touched(var)


RngState = tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]


def save_rng(devices: set[torch.device]) -> RngState:
    """The CPU generator's state and that of each CUDA device among `devices`: a replay that stops at a
    failed check, or a check that runs a call twice, gives the draws back."""
    cuda = sorted({d.index or 0 for d in devices if d.type == "cuda"})
    return torch.get_rng_state(), [(i, torch.cuda.get_rng_state(i)) for i in cuda]


def restore_rng(saved: RngState) -> None:
    cpu, cuda = saved
    torch.set_rng_state(cpu)
    for i, s in cuda:
        torch.cuda.set_rng_state(s, i)


def describe_value(x: Any) -> str:
    """A tensor's shape and dtype for messages."""
    return f"shape {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}" if hasattr(x, "shape") else type(x).__name__
