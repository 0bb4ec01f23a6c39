"""What a trace read from outside its arguments, and how a replay checks that it is still there.

A trace keeps the tensors it did not make (parameters, buffers, gradients, optimizer state) by
identity, and bakes the Python values it used (a learning rate in a param group, `model.training`, a
closed-over number) into its kernels' arguments. Python code may change either between calls
(`model.to(...)`, `load_state_dict`, a scheduler's step, `model.eval()`): a replay must then not run.

So, when a call is traced, the objects reachable from fn (its closure, the globals it names, a bound
method's object, its arguments) are walked through Modules, optimizers, Variables, dicts, lists, tuples
and object attributes. Each object found has paths from a fixed starting point (a closure cell, a
global, an argument): `opt.__dict__['state'][p]['momentum_buffer']`. A replay follows those paths
through the containers as they are then and checks what it finds: the same tensor or Variable for
everything read by reference, an equal Python value for every value found in a dict, list, tuple or closure
cell, the same length for every dict and list; and retraces when one differs. A call that changes such
a value itself (a counter in Python) cannot be replayed: the replay would leave it as it is. The
Variables found are also where `.grad` lives: the tracer reads their gradients through them (a new one
each step being normal) and rebinds those the call changed. What lies beyond the walk (library
internals; more than LIMIT objects) is not checked.
"""

from __future__ import annotations

import sys
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

import torch

from ..variable import Variable

Edge = tuple[Any, str, Any, Any]
"""(container, how, key, child): child is container.<key> ("attr"), container[key] ("item", "index"), a
closure cell's contents ("cell", key: the variable's name), a function's default ("default") or a root."""

Step = tuple[str, Any]
"""("attr", name), ("item", key) or ("index", i): one step of a path."""

Path = tuple[Any, str, tuple[Step, ...]]
"""(start, its name for messages, steps): a fixed object, and the steps from it to what the path reaches."""

LIMIT = 20_000  # objects walked at most: a huge structure (a dataset) is not searched to its end
PATHS = 4  # paths checked per object at most (an object reached in more ways is checked on the first ones)
_LIBRARIES = ("torch", "autograd_engine", "nn", "numpy", "builtins", *sys.stdlib_module_names)
_ATOMS = (type(None), bool, int, float, complex, str, bytes, type, types.ModuleType, torch.dtype, torch.device)
_FIXED = ("__self__", "__func__", "func")  # a bound method's parts, a partial's function: they cannot change


class Owners:
    """The objects reachable from `roots`, every edge into each, and (as paths) the Python values in
    dicts, lists and cells and the lengths of dicts and lists, as they were when the walk ran."""

    def __init__(self, roots: list[Edge]) -> None:
        self.parents: dict[int, list[Edge]] = {}  # id(child) -> the edges into it
        self.objects: list[Any] = []  # (kept alive, so that ids stay theirs)
        self.values: list[tuple[Path, Any, tuple[int, Any]]] = []  # (path, value, (id(its container), its key))
        self.sizes: list[tuple[Path, int]] = []
        queue: deque[Any] = deque()
        atoms: list[Edge] = []
        for edge in roots:
            self._reach(edge, queue, atoms)
        while queue and len(self.objects) < LIMIT:
            obj = queue.popleft()
            for edge in _children(obj):
                self._reach(edge, queue, atoms)
        for edge in atoms:
            found: list[Path] = []
            self._through(edge, (), frozenset(), found)
            self.values += [(path, edge[3], (id(edge[0]), edge[2])) for path in found]
        for obj in self.objects:
            if isinstance(obj, (dict, list)):
                self.sizes += [(path, len(obj)) for path in self.paths(obj)]

    def _reach(self, edge: Edge, queue: deque[Any], atoms: list[Edge]) -> None:
        child = edge[3]
        if isinstance(child, _ATOMS):
            if edge[1] in ("item", "index", "cell") and child == child:  # (NaN)
                atoms.append(edge)
            return
        into = self.parents.get(id(child))
        if into is not None:
            into.append(edge)
            return
        self.parents[id(child)] = [edge]
        self.objects.append(child)
        if not isinstance(child, torch.Tensor):
            queue.append(child)

    def paths(self, obj: Any) -> list[Path]:
        """Up to PATHS paths from a fixed start to `obj` (none if the walk did not reach it)."""
        found: list[Path] = []
        for edge in self.parents.get(id(obj), ()):
            self._through(edge, (), frozenset(), found)
        return found

    def _through(self, edge: Edge, steps: tuple[Step, ...], seen: frozenset[int], found: list[Path]) -> None:
        """Add the paths that end with `edge`, then `steps`."""
        if len(found) >= PATHS:
            return
        container, how, key, child = edge
        if how == "root":
            found.append((child, "fn" if key == "fn" else f"argument {key}", steps))
        elif how == "default" or (how == "attr" and key in _FIXED):
            found.append((child, "self" if key == "__self__" else "fn", steps))
        elif how == "cell":
            found.append((container, str(key), (("attr", "cell_contents"),) + steps))
        elif how == "item" and id(container) not in self.parents:  # a global: its module's dict is fixed
            found.append((container, str(key), (("item", key),) + steps))
        elif id(container) not in seen:
            for up in self.parents.get(id(container), ()):
                self._through(up, (_step(edge),) + steps, seen | {id(child)}, found)

    def variables(self) -> list[Variable]:
        """The Variables reached (parameters, their gradients, Variables fn closes over)."""
        return [x for x in self.objects if isinstance(x, Variable)]

    def changed(self) -> str | None:
        """The first Python value or container length that differs from the walk's (None if none does)."""
        for path, value, _ in self.values:
            now = _now(path)
            if now is not value and now != value:
                return f"{describe(path)}: {value!r} -> {now!r}"
        for path, size in self.sizes:
            now = _now(path)
            if not hasattr(now, "__len__") or len(now) != size:
                return f"the length of {describe(path)}: {size} -> {len(now) if hasattr(now, '__len__') else now!r}"
        return None


def _step(edge: Edge) -> Step:
    return (edge[1], edge[2])


def follow(path: Path) -> Any:
    """Where a path leads now (`dict.get`: a check must not add keys to a defaultdict)."""
    obj = path[0]
    for how, key in path[2]:
        obj = getattr(obj, key) if how == "attr" else obj.get(key) if how == "item" else obj[key]
    return obj


def _now(path: Path) -> Any:
    try:
        return follow(path)
    except (LookupError, AttributeError, TypeError):
        return _GONE


_GONE = type("gone", (), {"__repr__": lambda self: "(no longer there)"})()


def describe(path: Path) -> str:
    """A readable path (`opt.param_groups[0]['lr']`, `model.training`) for messages."""
    text = path[1]
    for how, key in path[2]:
        if how == "attr" and key in ("__dict__", "cell_contents"):
            continue
        text += f".{key}" if how == "attr" else f"[{key!r}]"
    return text.replace(".__dict__", "")


def roots(fn: Any, leaves: list[Any]) -> list[Edge]:
    """Where a walk from fn starts: what it closes over and names, and its non-tensor arguments."""
    edges: list[Edge] = [(None, "root", i, x) for i, x in enumerate(leaves) if not isinstance(x, torch.Tensor)]
    edges += [(None, "root", "fn", fn)]
    return edges


def _children(obj: Any) -> Iterator[Edge]:
    if isinstance(obj, Variable):
        yield (obj, "attr", "data", obj.data)
        if obj.grad is not None:
            yield (obj, "attr", "grad", obj.grad)
    elif isinstance(obj, dict):
        for k, v in list(obj.items()):
            yield (obj, "item", k, v)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield (obj, "index", i, v)
    elif isinstance(obj, types.FunctionType):
        if not _library(obj.__module__ or ""):
            yield from _function(obj)
    elif isinstance(obj, types.MethodType):
        yield (obj, "attr", "__self__", obj.__self__)
        yield (obj, "attr", "__func__", obj.__func__)
    elif hasattr(obj, "__dict__") and (not _library(type(obj).__module__ or "") or _engine_object(obj)):
        yield (obj, "attr", "__dict__", vars(obj))
        if callable(obj) and isinstance(getattr(obj, "func", None), types.FunctionType):  # functools.partial
            yield (obj, "attr", "func", obj.func)


def _function(fn: types.FunctionType) -> Iterator[Edge]:
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            yield (cell, "cell", name, cell.cell_contents)
        except ValueError:  # (an empty cell)
            continue
    for name in dict.fromkeys(_names(fn.__code__)):
        if name in fn.__globals__:
            yield (fn.__globals__, "item", name, fn.__globals__[name])
    for default in (fn.__defaults__ or ()) + tuple((fn.__kwdefaults__ or {}).values()):
        yield (fn, "default", None, default)


def _names(code: types.CodeType) -> Iterator[str]:
    """The global names a function's code (and the code of the functions and comprehensions in it) uses."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _library(module: str) -> bool:
    return module.split(".")[0] in _LIBRARIES


def _engine_object(obj: Any) -> bool:
    """Modules and optimizers of `nn`: library objects whose state is the user's."""
    return (type(obj).__module__ or "").split(".")[0] == "nn"
