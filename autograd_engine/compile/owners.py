"""What a trace read from outside its arguments, and how a replay checks that it is still there.

A trace keeps the tensors it did not make (parameters, buffers, gradients, optimizer state) by
identity, and bakes the Python values it used (a learning rate in a param group, `model.training`, a
closed-over number) into its kernels' arguments. Python code may change either between calls
(`model.to(...)`, `load_state_dict`, a scheduler's step, `model.eval()`): a replay must then not run.

So, when a call is traced, the objects reachable from fn (its closure, the globals it names, a bound
method's object, a `functools.partial`'s function and arguments, its arguments) are walked through
Modules, optimizers, Variables (and their gradient hooks), dicts (OrderedDict, defaultdict, ...), lists,
tuples (named tuples), deques, the attributes of objects of user classes (`__dict__` and `__slots__`:
dataclasses) and of the standard library's attribute bags (`argparse.Namespace`,
`types.SimpleNamespace`), and the plain values (numbers, strings, ...) of the user's modules and classes
(a `config.py`, `class Cfg: lr = 0.1`). Each object found has paths from a fixed starting point (a closure cell, a
global, an argument): `opt.__dict__['state'][p]['momentum_buffer']`. A replay follows those paths
through the containers as they are then and checks what it finds: the same tensor or Variable for
everything read by reference, the same object for what the walk does not look into (a function, a
library object), an equal Python value for every value found in a container, attribute or closure cell,
the same length for every dict, list and deque, the same `requires_grad` and gradient hooks for every
Variable; and retraces when one differs. A call that changes such a value itself (a counter in Python)
cannot be replayed: the replay would leave it as it is. The Variables found are also where `.grad`
lives: the tracer reads their gradients through them (a new one each step being normal) and rebinds
those the call changed. What lies beyond the walk (inside library objects; more than LIMIT objects) is
not checked.
"""

from __future__ import annotations

import argparse
import functools
import sys
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

import torch

from ..node import Node
from ..variable import Variable

Edge = tuple[Any, str, Any, Any]
"""(container, how, key, child): child is container.<key> ("attr"; "fixed" for an attribute that cannot be
set: a bound method's parts, a partial's), container[key] ("item", "index"), a closure cell's contents
("cell", key: the variable's name), a function's default ("default") or a root."""

Step = tuple[str, Any]
"""("attr", name), ("item", key) or ("index", i): one step of a path."""

Path = tuple[Any, str, tuple[Step, ...]]
"""(start, its name for messages, steps): a fixed object, and the steps from it to what the path reaches."""

LIMIT = 20_000  # objects walked at most: a huge structure (a dataset) is not searched to its end
PATHS = 4  # paths checked per object at most (an object reached in more ways is checked on the first ones)
_LIBRARIES = ("torch", "autograd_engine", "nn", "numpy", "builtins", *sys.stdlib_module_names)
_ATOMS = (type(None), bool, int, float, complex, str, bytes, type, types.ModuleType, torch.dtype, torch.device)
_NAMESPACES = (type, types.ModuleType)
_SETS = (set, frozenset)
_VALUES = (*_ATOMS, *_SETS)  # (compared with ==)
_SEQUENCES = (list, tuple, deque)
_SIZED = (dict, list, deque)  # (containers whose length can change)
_BAGS = (argparse.Namespace, types.SimpleNamespace)  # library objects that only hold the user's attributes
_CODE = (types.FunctionType, types.MethodType)
_FIXED_NAMES = {"__self__": "self", "__func__": "fn", "func": "fn"}


class Owners:
    """The objects reachable from `roots`, every edge into each, and (as paths) the Python values in
    containers, attributes and cells, the lengths of dicts, lists and deques, the objects the walk does
    not look into, and each Variable's `requires_grad` and hooks, as they were when the walk ran."""

    def __init__(self, roots: list[Edge]) -> None:
        self.parents: dict[int, list[Edge]] = {}  # id(child) -> the edges into it
        self.objects: list[Any] = []  # (kept alive, so that ids stay theirs)
        self.values: list[tuple[Path, Any, tuple[int, Any]]] = []  # (path, value, (id(its container), its key))
        self.sizes: list[tuple[Path, int]] = []
        self.opaque: list[tuple[Path, Any]] = []  # (path, an object checked by identity: a function, ...)
        self.autograd: list[tuple[Variable, AutogradState]] = []
        queue: deque[Any] = deque()
        atoms: list[Edge] = []
        opaque: list[Any] = []
        for edge in roots:
            self._reach(edge, queue, atoms)
        while queue and len(self.objects) < LIMIT:
            obj = queue.popleft()
            edges = list(_children(obj))
            for edge in edges:
                self._reach(edge, queue, atoms)
            if isinstance(obj, _CODE) or not (edges or isinstance(obj, (dict, *_SEQUENCES))):
                opaque.append(obj)  # (not looked into, or not all of it: a function's code)
        for edge in atoms:
            found: list[Path] = []
            self._through(edge, (), frozenset(), found)
            value = frozenset(edge[3]) if isinstance(edge[3], _SETS) else edge[3]  # (a set as it is now)
            self.values += [(path, value, (id(edge[0]), edge[2])) for path in found]
        for obj in self.objects:
            if isinstance(obj, _SIZED):
                self.sizes += [(path, len(obj)) for path in self.paths(obj)]
            elif isinstance(obj, Variable):
                self.autograd.append((obj, autograd_state(obj)))
        self.opaque = [(path, obj) for obj in opaque for path in self.paths(obj) if path[2]]

    def _reach(self, edge: Edge, queue: deque[Any], atoms: list[Edge]) -> None:
        child = edge[3]
        if isinstance(child, _VALUES):
            if edge[1] in ("item", "index", "cell", "attr") and child == child:  # (NaN)
                atoms.append(edge)
            if not _config(child):
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
        elif how in ("default", "fixed"):
            found.append((child, _FIXED_NAMES.get(key, f"fn.{key}") if how == "fixed" else "fn", steps))
        elif how == "cell":
            found.append((container, str(key), (("attr", "cell_contents"),) + steps))
        elif how == "item" and id(container) not in self.parents:  # a global: its module's dict is fixed
            found.append((container, str(key), (("item", key),) + steps))
        elif id(container) not in seen:
            for up in self.parents.get(id(container), ()):
                self._through(up, (_step(edge),) + steps, seen | {id(child)}, found)

    def only_through(self, obj: Any, owner: Any) -> bool:
        """Whether every way from fn to `obj` that the walk found passes through `owner` (no alias elsewhere)."""
        seen, todo = {id(obj)}, [obj]
        while todo:
            for container, _, _, _ in self.parents.get(id(todo.pop()), ()):
                if container is owner:
                    continue
                if id(container) not in self.parents:  # (a start: fn, an argument, a cell, a global)
                    return False
                if id(container) not in seen:
                    seen.add(id(container))
                    todo.append(container)
        return True

    def variables(self) -> list[Variable]:
        """The Variables reached (parameters, their gradients, Variables fn closes over)."""
        return [x for x in self.objects if isinstance(x, Variable)]

    def changed(self) -> str | None:
        """The first Python value, container length, object or Variable's autograd state that differs from
        the walk's (None if none does)."""
        for path, value, _ in self.values:
            now = _now(path)
            if now is not value and now != value:
                return f"{describe(path)}: {value!r} -> {now!r}"
        for path, size in self.sizes:
            now = _now(path)
            if not hasattr(now, "__len__") or len(now) != size:
                return f"the length of {describe(path)}: {size} -> {len(now) if hasattr(now, '__len__') else now!r}"
        for path, obj in self.opaque:
            now = _now(path)
            if now is not obj:
                return f"{describe(path)}: {obj!r} -> {now!r}"
        for var, was in self.autograd:
            now_state = autograd_state(var)
            if now_state != was:
                name = next((describe(path) for path in self.paths(var)), "a Variable")
                return f"{name}: requires_grad and hooks {_show(was)} -> {_show(now_state)}"
        return None


AutogradState = tuple[bool, tuple[Any, ...]]
"""(requires_grad, gradient hooks) of a Variable: what the reverse pass does with it besides kernels."""


def autograd_state(var: Variable) -> AutogradState:
    """Whether `var` requires grad, and the hooks registered on it (`register_hook`), in order."""
    return var._requires_grad, hooks(var)


def hooks(var: Variable) -> tuple[Any, ...]:
    """The gradient hooks of `var` (none until one is registered)."""
    node = var._node
    return tuple(node.hooks) if node is not None and node.hooks else ()


def _show(state: AutogradState) -> str:
    return f"({state[0]}, {len(state[1])} hooks)"


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
    text, steps = path[1], path[2]
    if steps[:1] == (("item", text),):  # (a global: its name says it)
        steps = steps[1:]
    attribute = False  # (an item of an object's __dict__ is one of its attributes)
    for how, key in steps:
        if how == "attr" and key in ("__dict__", "cell_contents"):
            attribute = key == "__dict__"
            continue
        text += f".{key}" if how == "attr" or attribute else f"[{key!r}]"
        attribute = False
    return text


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
        if hooks(obj):  # (their closures: values a hook uses)
            yield (obj, "attr", "_node", obj._node)
    elif isinstance(obj, Node):
        yield (obj, "attr", "hooks", obj.hooks)
    elif _config(obj):  # a user's module or class: its plain values (a config.py, `class Cfg: lr = 0.1`)
        for name, value in list(vars(obj).items()):
            if not name.startswith("__") and isinstance(value, _ATOMS) and not isinstance(value, _NAMESPACES):
                yield (obj, "attr", name, value)
    elif isinstance(obj, dict):
        for k, v in list(obj.items()):
            yield (obj, "item", k, v)
    elif isinstance(obj, _SEQUENCES):
        for i, v in enumerate(obj):
            yield (obj, "index", i, v)
    elif isinstance(obj, types.FunctionType):
        if not _library(obj.__module__ or ""):
            yield from _function(obj)
    elif isinstance(obj, types.MethodType):
        yield (obj, "fixed", "__self__", obj.__self__)
        yield (obj, "fixed", "__func__", obj.__func__)
    elif isinstance(obj, functools.partial):
        yield from ((obj, "fixed", name, getattr(obj, name)) for name in ("func", "args", "keywords"))
    elif not _library(type(obj).__module__ or "") or _engine_object(obj) or isinstance(obj, _BAGS):
        if hasattr(obj, "__dict__"):
            yield (obj, "attr", "__dict__", vars(obj))
        for name in _slots(type(obj)):
            value = getattr(obj, name, _GONE)
            if value is not _GONE:  # (a slot never set)
                yield (obj, "attr", name, value)


def _slots(cls: type) -> Iterator[str]:
    """The attributes that `__slots__` declare along the class's bases (private names mangled)."""
    for base in cls.__mro__:
        declared = base.__dict__.get("__slots__", ())
        for name in [declared] if isinstance(declared, str) else declared:
            if name in ("__dict__", "__weakref__"):
                continue
            yield f"_{base.__name__.lstrip('_')}{name}" if name.startswith("__") and not name.endswith("__") else name


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


def _config(obj: Any) -> bool:
    """A module or class of the user's (not a library's), whose plain values fn may read as settings."""
    if isinstance(obj, types.ModuleType):
        return not _library(obj.__name__) and obj.__name__ != "__main__"
    return isinstance(obj, type) and not _library(obj.__module__ or "")


def _engine_object(obj: Any) -> bool:
    """Modules and optimizers of `nn`: library objects whose state is the user's."""
    return (type(obj).__module__ or "").split(".")[0] == "nn"
