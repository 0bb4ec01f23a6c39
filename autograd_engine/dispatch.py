"""Torch dispatch: `torch.X(v)`, `torch.nn.functional.X(v)` and `tensor + v` record on the tape.

`Variable.__torch_function__` looks the torch function up in `HANDLED`, which `@implements` fills
where each engine function is defined, with torch's signature. Plain tensors among the arguments
are constants. A torch function without a rule raises `NoRuleError` naming it: never a silent,
untracked result. `out=` is refused (a result is always a new Variable).
"""

from __future__ import annotations

import functools
import importlib
import inspect
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


NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim"}
"""numpy's argument names, which torch's argument parser accepts too."""

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
                    setattr(Variable, method, _method(fn))
                    _INSTALLED.add(method)
        return fn

    return register


@functools.cache
def _parameters(rule: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(rule).parameters)
    except (TypeError, ValueError):  # a callable without a signature
        return frozenset()


def _torch_name(rule: Callable[..., Any], key: str) -> str:
    """numpy's name for an argument (axis=, keepdims=) as torch's, unless the rule takes it as it is."""
    alias = NUMPY_NAMES.get(key)
    return key if alias is None or key in _parameters(rule) else alias


def _method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as a Variable method: a function is one already, unless it takes dims, where numpy's
    names (axis=, keepdims=) are translated as torch's parser does; a primitive (a callable object,
    not a descriptor) is wrapped so that it gets `self`."""
    if not isinstance(fn, FunctionType):
        return lambda self, *args, **kwargs: fn(self, *args, **kwargs)
    if not {"dim", "keepdim"} & set(inspect.signature(fn).parameters):
        return fn

    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            kwargs = {_torch_name(fn, k): v for k, v in kwargs.items()}
        return fn(self, *args, **kwargs)

    return method


def torch_name(func: Callable[..., Any]) -> str:
    """`torch.sin`, `torch.Tensor.add`, `torch.nn.functional.relu`: how users spell it."""
    return resolve_name(func) or getattr(func, "__qualname__", repr(func))


LAZY_RULES = ["nn.functional", "nn.init"]
"""Modules above the engine that register rules (torch.nn.functional's, torch.nn.init's), imported on the
first call that finds no rule: `import autograd_engine` alone is enough for `torch.nn.functional.relu(v)`."""


def load_lazy_rules() -> None:
    while LAZY_RULES:
        importlib.import_module(LAZY_RULES.pop())


def handle(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any] | None) -> Any:
    """Run the engine's rule for `func` (called by Variable.__torch_function__)."""
    rule = HANDLED.get(func)
    if rule is None and LAZY_RULES:
        load_lazy_rules()
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
        kwargs = {_torch_name(rule, k): v for k, v in kwargs.items() if k != "out"}
        return rule(*args, **kwargs)
    return rule(*args)
