"""What a replay needs to know about an ATen kernel: which arguments it writes, whether it draws random
numbers, and the fastest way to call it.

An `OpOverload` is callable, but through torch's boxed calling convention, which costs about twice what
the generated Python binding of the same op costs (`torch.add`, `Tensor.add_`). So each kernel is called
through the binding of its name when that binding provably reaches the same overload with the same
arguments: the binding is called once on meta copies of the arguments under a dispatch mode that stops
at the first kernel and compares. Otherwise (no binding, other arguments) the overload itself is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class Info(NamedTuple):
    written: tuple[tuple[int, str], ...]  # (position, name) of each argument written in place
    random: bool
    dynamic: bool  # its result's shape may depend on values (nonzero, masked_select, a boolean index)


_INFO: dict[Any, Info] = {}
_UNANNOTATED_WRITES = {
    name: ("running_mean", "running_var") for name in ("native_batch_norm", "cudnn_batch_norm", "miopen_batch_norm")
}
"""Kernels that update arguments in place although their schemas do not say so (torch's batch norms
update the running statistics they are given, when training)."""
_CALLS: dict[tuple[Any, ...], Callable[..., Any]] = {}
_BINDINGS = tuple(getattr(torch._C, ns) for ns in ("_VariableFunctions", "_nn", "_linalg", "_special", "_fft"))


def info(func: Any) -> Info:
    """Which arguments `func` writes and whether it draws from a generator (from its schema and tags)."""
    known = _INFO.get(func)
    if known is None:
        schema = func._schema
        name = schema.name.removeprefix("aten::")
        unannotated = () if schema.overload_name else _UNANNOTATED_WRITES.get(name, ())
        written = tuple(
            (i, a.name)
            for i, a in enumerate(schema.arguments)
            if (a.alias_info is not None and a.alias_info.is_write) or a.name in unannotated
        )
        tags = func.tags
        known = _INFO[func] = Info(
            written, torch.Tag.nondeterministic_seeded in tags, torch.Tag.dynamic_output_shape in tags
        )
    return known


def shape_depends_on_values(func: Any, args: tuple[Any, ...]) -> bool:
    """Whether this call's result shape follows from values, not shapes: torch tags such kernels, but
    indexing (aten.index) only does so with a boolean index; integer indices give their own shape."""
    if not info(func).dynamic:
        return False
    if func is torch.ops.aten.index.Tensor:
        return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in args[1])
    return True


def shape_of(t: torch.Tensor) -> list[int]:
    """The shape a replay checks after a kernel whose result's shape depends on values."""
    return list(t.shape)


def callable_for(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[..., Any]:
    """The fastest callable that runs `func` on arguments like these (verified once per argument pattern)."""
    key = (func, tuple(map(_kind, args)), tuple(kwargs))
    call = _CALLS.get(key)
    if call is None:
        call = _CALLS[key] = _binding(func, args, kwargs) or func._op
    return call


def _kind(a: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return torch.Tensor
    if isinstance(a, (list, tuple)):
        return (type(a), tuple(map(_kind, a)))
    return type(a)


class _Reached(Exception):  # noqa: N818 (a signal, not an error)
    def __init__(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.func, self.args, self.kwargs = func, args, kwargs


class _Stop(TorchDispatchMode):
    """Stops at the first kernel a call reaches, and says which, with what."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # (torch would wrap the handler for TorchDynamo, importing it: seconds, and a cost per kernel)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        raise _Reached(func, args, kwargs or {})


def _binding(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[..., Any] | None:
    if func.namespace != "aten":
        return None
    name = func._overloadpacket.__name__
    candidates = [getattr(ns, name, None) for ns in _BINDINGS]
    if args and isinstance(args[0], torch.Tensor):
        candidates.insert(0, getattr(torch._C.TensorBase, name, None))
    try:
        meta_args, meta_kwargs = _meta(args), {k: _meta(v) for k, v in kwargs.items()}
    except (RuntimeError, NotImplementedError, TypeError):  # (sparse, quantized: no meta twin)
        return None
    for candidate in candidates:
        if candidate is not None and _reaches(candidate, func, meta_args, meta_kwargs):
            return candidate  # type: ignore[no-any-return]
    return None


def _reaches(candidate: Callable[..., Any], func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    try:
        with torch._C.DisableTorchFunction(), _Stop():
            candidate(*args, **kwargs)
    except _Reached as reached:
        return reached.func is func and _same(reached.args, args) and _same(reached.kwargs, kwargs)
    except Exception:  # noqa: BLE001 (a binding that does not take these arguments: not a candidate)
        return False
    return False


def _meta(a: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return torch.empty_strided(a.size(), a.stride(), dtype=a.dtype, device="meta")
    if isinstance(a, (list, tuple)):
        return type(a)(_meta(x) for x in a)
    return a


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a is b or bool(a == b))
