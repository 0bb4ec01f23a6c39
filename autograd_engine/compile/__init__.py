"""`ag.compile(fn)`: trace a step once, replay its kernels without Python overhead.

The first call with a given signature runs `fn` eagerly and records every ATen kernel it runs: the
forward, the reverse pass, and whatever `fn` does after it (optimizer updates, metric sums). Later calls
with that signature replay those kernels on the new argument values, as generated straight-line Python
(no Variables, nodes or topological order), or on CUDA as one CUDA graph. The rules of tracing and the
figures are in docs/compile.md.

    step = ag.compile(step)           # or @ag.compile, @ag.compile(check=True)
    ag.compile.is_tracing()           # True while a call is being recorded (optimizers read it)
    ag.compile.guard(lambda: lr)      # a Python value the trace depends on: replays retrace if it changes
    ag.compile.scalar(group, "lr")    # a Python number as a tensor that every replay reads anew (optimizers)
    ag.compile.exposed(opt)           # opt gave out what scalar(..., owner=opt) reads: keep it checked

Modules: `tracer` (recording a call), `kernels` (what an ATen kernel writes; its fastest callable),
`program` (the replay as generated Python), `cuda_graph` (capture), `check` (replay beside eager),
`compiled` (signatures, the cache), `state` (what tracing shares with the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from . import compiled as _compiled
from .compiled import CHECKED_CALLS, Compiled
from .state import CheckError, TraceError, exposed, guard, is_tracing, scalar

__all__ = [
    "CHECKED_CALLS",
    "CheckError",
    "Compiled",
    "TraceError",
    "compile",
    "exposed",
    "guard",
    "is_tracing",
    "scalar",
]


class _Compile:
    """`compile(fn, *, check=False, cache_size=8, cuda_graph=True)`: `fn` traced once per signature and
    replayed; a decorator with or without arguments.

    check       compare the first replays of each trace with eager execution from the same state (True:
                CHECKED_CALLS of them, or a number) and raise `CheckError` on any difference
    cache_size  signatures (argument structure, shapes, dtypes, devices, grad flags, non-tensor values)
                whose programs are kept; the least recently used is dropped beyond it
    cuda_graph  on CUDA, replay as a captured CUDA graph where possible (see `Compiled.fallback_reason`)
    """

    Compiled = Compiled
    CheckError = CheckError
    TraceError = TraceError
    is_tracing = staticmethod(is_tracing)
    guard = staticmethod(guard)
    scalar = staticmethod(scalar)
    exposed = staticmethod(exposed)

    @overload
    def __call__(
        self, fn: Callable[..., Any], *, check: bool | int = ..., cache_size: int = ..., cuda_graph: bool = ...
    ) -> _compiled.Compiled: ...

    @overload
    def __call__(
        self, fn: None = ..., *, check: bool | int = ..., cache_size: int = ..., cuda_graph: bool = ...
    ) -> Callable[[Callable[..., Any]], _compiled.Compiled]: ...

    def __call__(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        check: bool | int = False,
        cache_size: int = 8,
        cuda_graph: bool = True,
    ) -> _compiled.Compiled | Callable[[Callable[..., Any]], _compiled.Compiled]:
        def wrap(f: Callable[..., Any]) -> _compiled.Compiled:
            return _compiled.Compiled(f, check=check, cache_size=cache_size, cuda_graph=cuda_graph)

        return wrap if fn is None else wrap(fn)

    def __repr__(self) -> str:
        return "<ag.compile>"


compile = _Compile()  # noqa: A001 (torch's name: torch.compile)
