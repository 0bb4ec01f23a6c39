"""`Compiled`: the callable that `ag.compile(fn)` returns: a signature per call, a bounded cache of
programs by signature, and the choice between tracing, replaying and checking."""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from ..grad_mode import _mode
from ..pytree import tree_flatten
from ..variable import Variable
from . import check, cuda_graph, owners, state
from .program import Program
from .tracer import Rejected, Tracer

CHECKED_CALLS = 3
"""Replays that `check=True` compares with eager execution, per trace."""
_CONTAINERS = (list, tuple, dict)
VARIANTS = 4
"""Programs kept per signature (for calls of one signature that start from different states)."""
RETRACES_WARNED = 8
"""Retraces of one signature after which a warning says which guard keeps failing."""


class _Variant:
    """One program for a signature and how it runs (kernel by kernel, or as a CUDA graph)."""

    def __init__(self, program: Program, checks: int, graphs: bool) -> None:
        self.program = program
        self.checks = checks
        self.reason = cuda_graph.why_not(program) if graphs else "disabled by cuda_graph=False"
        self.graph = cuda_graph.GraphRunner(program) if self.reason is None else None
        self.runner: Callable[[list[Any]], Any] = program.run if self.graph is None else self.graph

    @property
    def fallback(self) -> str | None:
        return self.reason if self.graph is None else self.graph.reason


class _Entry:
    """A signature's programs, most recently used first: several where the state a call starts from
    differs between calls (a `.grad` that is None on some and not on others) or a guarded value alternates."""

    def __init__(self) -> None:
        self.variants: list[_Variant] = []
        self.failures = 0  # traces in a row that could not be kept
        self.retraces = 0  # traces because no program's guards held


class Compiled:
    """`fn`, traced once per signature and replayed (see `autograd_engine.compile`).

    traces          calls that ran `fn` under the tracer (a retrace of a known signature counts too)
    replays         calls answered by a replay
    fallback_reason why the program used last does not run as a CUDA graph (None when it does)
    kernels         the kernels of that program, in order (what one replay launches)
    source          its generated Python
    """

    def __init__(self, fn: Callable[..., Any], *, check: bool | int, cache_size: int, cuda_graph: bool) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a callable, got {type(fn).__name__}")
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be at least 1, got {cache_size}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name: str = getattr(fn, "__name__", type(fn).__name__)
        self.checks = CHECKED_CALLS if check is True else int(check)
        self.cache_size = cache_size
        self.cuda_graph = cuda_graph
        self.traces = 0
        self.replays = 0
        self._cache: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._grads: dict[int, weakref.ref[Variable]] = {}  # Variables whose .grad some trace saw written
        self._last: _Variant | None = None
        self._lock = threading.Lock()

    @property
    def fallback_reason(self) -> str | None:
        return None if self._last is None else self._last.fallback

    @property
    def kernels(self) -> tuple[str, ...]:
        return () if self._last is None else self._last.program.kernels

    @property
    def source(self) -> str:
        return "" if self._last is None else self._last.program.source

    def clear(self) -> None:
        """Forget every program: the next call of each signature traces again."""
        with self._lock:
            self._cache.clear()
            self._last = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if state.is_tracing() or _mode.anomaly:  # inside another trace (it records this call's kernels), or checking
            return self.fn(*args, **kwargs)
        if kwargs or any(isinstance(a, _CONTAINERS) for a in args):
            leaves, spec = tree_flatten((args, kwargs))
        else:  # (the common case, positional leaves, without the general walk)
            leaves, spec = list(args), len(args)
        key = _signature(spec, leaves)
        try:
            entry = self._cache.get(key)
        except TypeError as e:
            raise TypeError(
                f"compile: {self.name}: every argument that is not a tensor is part of the signature, so it must "
                f"be hashable ({e}); pass arrays as tensors"
            ) from None
        why = None
        for variant in entry.variants if entry is not None else ():
            rng = state.save_rng(variant.program.trace.devices) if variant.program.trace.rng_guarded else None
            try:
                out = self._replay(variant, leaves, args, kwargs)
            except state.Retrace as e:
                if rng is not None:
                    state.restore_rng(rng)
                why = variant.program.notes[e.args[0]]
                continue
            except Exception as e:
                if hasattr(e, "add_note"):  # (Python 3.11)
                    e.add_note(f"(raised by a replay of ag.compile({self.name}); uncompiled, it names the op)")
                raise
            self._last = variant
            self.replays += 1
            with contextlib.suppress(KeyError):  # (another thread may have dropped it meanwhile)
                self._cache.move_to_end(key)  # the least recently used signature is the one dropped
            return out
        if entry is not None and why is not None:
            entry.retraces += 1
            if entry.retraces == RETRACES_WARNED:
                warnings.warn(
                    f"compile: {self.name} traced again {entry.retraces} times for one signature, the last time "
                    f"because {why}: a replay cannot follow a Python value that changes at every call; pass it as "
                    "a tensor, or keep the code that reads it outside the compiled function (docs/compile.md)",
                    stacklevel=2,
                )
        return self._trace(key, leaves, args, kwargs)

    def _replay(self, variant: _Variant, leaves: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not variant.checks:
            return variant.runner(leaves)
        out = check.checked_call(self.name, self.fn, variant.program, variant.runner, leaves, (args, kwargs))
        variant.checks -= 1
        return out

    def _trace(self, key: tuple[Any, ...], leaves: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        known = [v for v in (ref() for ref in self._grads.values()) if v is not None]
        tracer = Tracer(leaves, known, owners.Owners(owners.roots(self.fn, leaves)))
        with tracer:
            out = self.fn(*args, **kwargs)
        self.traces += 1
        found = tracer.finish(out)
        del tracer
        with self._lock:
            entry = self._cache.get(key) or _Entry()
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            if isinstance(found, Rejected):
                for v in found.learned:
                    self._grads[id(v)] = weakref.ref(v)
                entry.failures += 1
                if not found.retry or entry.failures > 1:
                    raise state.TraceError(
                        f"compile: {self.name} cannot be replayed: it {found.reason}. (This call ran eagerly and "
                        "completed.)"
                    )
            else:
                entry.failures = 0
                self._last = variant = _Variant(Program(found, self.name), self.checks, self.cuda_graph)
                entry.variants = [variant] + entry.variants[: VARIANTS - 1]
        return out

    def __repr__(self) -> str:
        return f"<ag.compile of {self.fn!r}: {self.traces} traces, {self.replays} replays>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """Compiling a method compiles the function: bound, it is called with the instance first."""
        return self if obj is None else functools.partial(self, obj)


def _signature(spec: Any, leaves: list[Any]) -> tuple[Any, ...]:
    """What a trace depends on besides values: the argument structure, each tensor's shape, strides, dtype,
    device and grad flags (and a Variable's gradient hooks), every other argument's value, which arguments
    are the same tensor, and the grad modes and default dtype."""
    keys: list[Any] = []
    tensors: list[int] = []
    for x in leaves:
        if isinstance(x, Variable):
            t = x.data
            grad_flags = (x._requires_grad, x.grad is not None, owners.hooks(x))
            keys.append((type(x), t.shape, t.stride(), t.dtype, t.device, grad_flags))
            tensors.append(id(t))
        elif isinstance(x, torch.Tensor):
            keys.append((type(x), x.shape, x.stride(), x.dtype, x.device, x.requires_grad))
            tensors.append(id(x))
        else:
            keys.append((type(x), x))
    shared = () if len(set(tensors)) == len(tensors) else tuple(tensors.index(i) for i in tensors)
    return (spec, tuple(keys), shared, _mode.enabled, torch.is_grad_enabled(), torch.get_default_dtype())
