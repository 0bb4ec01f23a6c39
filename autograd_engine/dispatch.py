"""Torch dispatch: `torch.X(v)`, `torch.nn.functional.X(v)` and `tensor + v` record on the tape.

`Variable.__torch_function__` looks the torch function up in `HANDLED`, which `@implements` fills
where each engine function is defined, with torch's signature. Plain tensors among the arguments
are constants. A torch function without a rule raises `NoRuleError` naming it: never a silent,
untracked result. `out=` is refused (a result is always a new Variable).
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any, TypeVar

from torch.overrides import resolve_name

from .variable import Variable

_F = TypeVar("_F", bound=Callable[..., Any])

HANDLED: dict[Callable[..., Any], Callable[..., Any]] = {}
"""torch function (or torch.Tensor method) -> the engine function that records it."""


class NoRuleError(TypeError):
    """A torch function was called on a Variable, and the engine has no rule for it."""


_INSTALLED: set[str] = set()  # Variable methods installed from rules (a later rule may replace one)


def implements(*torch_functions: Callable[..., Any]) -> Callable[[_F], _F]:
    """Decorator: `fn` is what these torch functions (and torch.Tensor methods) do on Variables.

    `fn` takes the torch function's arguments, with Variables where torch has tensors. A torch.Tensor
    method among them also becomes a Variable method of that name, unless Variable defines it itself
    (its operators, and the methods that take sizes as *args)."""

    def register(fn: _F) -> _F:
        for f in torch_functions:
            HANDLED[f] = fn
            name = resolve_name(f) or ""
            if name.startswith("torch.Tensor.") and not name.startswith("torch.Tensor.__"):
                method = name.removeprefix("torch.Tensor.")
                if method in _INSTALLED or method not in vars(Variable):
                    setattr(Variable, method, fn if isinstance(fn, FunctionType) else _method(fn))
                    _INSTALLED.add(method)
        return fn

    return register


def _method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A callable object (a primitive) as a method: it is not a descriptor, so it gets no `self`."""
    return lambda self, *args, **kwargs: fn(self, *args, **kwargs)


def torch_name(func: Callable[..., Any]) -> str:
    """`torch.sin`, `torch.Tensor.add`, `torch.nn.functional.relu`: how users spell it."""
    return resolve_name(func) or getattr(func, "__qualname__", repr(func))


def handle(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any] | None) -> Any:
    """Run the engine's rule for `func` (called by Variable.__torch_function__)."""
    rule = HANDLED.get(func)
    if rule is None:
        name = torch_name(func)
        raise NoRuleError(
            f"{name} has no rule for Variables in autograd_engine, so it cannot be recorded. Write it with "
            f"functions that have one, or give it one (docs/dispatch.md): a composite decorated with "
            f"@ag.implements({name}), or a new @ag.primitive"
        )
    if kwargs:
        if kwargs.get("out") is not None:
            raise TypeError(
                f"{torch_name(func)}: out= is not supported with Variables (the result is recorded as a new "
                "Variable); assign the result instead"
            )
        kwargs = {k: v for k, v in kwargs.items() if k != "out"}
        return rule(*args, **kwargs)
    return rule(*args)
