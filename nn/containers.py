"""Containers, as torch.nn's: of modules `Sequential`, `ModuleList` and `ModuleDict`, of parameters
`ParameterList` and `ParameterDict`. Entries are registered under torch's names ('0', '1', ... or the
dict's keys), so state-dict keys match torch's ('layers.0.weight', 'blocks.a.bias', 'params.0')."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from itertools import chain
from typing import Any, NoReturn

import torch

from autograd_engine import Variable
from autograd_engine.variable import unwrap

from .module import Module, Parameter, _addindent

__all__ = ["ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Sequential"]


def _abs_index(idx: Any, size: int) -> int:
    """List index `idx` in [0, size): TypeError for a non-integer, IndexError outside [-size, size), as torch."""
    i = operator.index(idx)
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of range")
    return i % size


def _pairs(owner: str, entries: Any, ordered: tuple[type, ...]) -> Iterator[tuple[Any, Any]]:
    """The (key, value) pairs that `owner.update(entries)` adds, checked as torch checks them: the items of
    an `ordered` container in its order, of any other mapping sorted by key, or an iterable's pairs."""
    if issubclass(type(entries), ordered):  # (not isinstance: mypy would narrow `entries` to object)
        yield from entries.items()
    elif isinstance(entries, Mapping):
        yield from sorted(entries.items())
    elif not isinstance(entries, Iterable):
        raise TypeError(
            f"{owner}.update should be called with an iterable of key/value pairs, but got {type(entries).__name__}"
        )
    else:
        for j, pair in enumerate(entries):
            if not isinstance(pair, Iterable):
                raise TypeError(f"{owner} update sequence element #{j} should be Iterable; is {type(pair).__name__}")
            entry: tuple[Any, ...] = tuple(pair)
            if len(entry) != 2:
                raise ValueError(f"{owner} update sequence element #{j} has length {len(entry)}; 2 is required")
            yield entry[0], entry[1]


class _Numbered(Module):
    """What Sequential and ModuleList share: children numbered '0', '1', ... in order, indexed like a
    list (negative indices too), renumbered after an insert or a delete as torch does."""

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def _key(self, idx: Any) -> str:
        """The child's name at list index `idx`."""
        return list(self._modules)[_abs_index(idx, len(self))]

    def _renumber(self, modules: Iterable[Module]) -> None:
        """Make `modules` the children, named '0', '1', ..."""
        modules = list(modules)
        self._modules.clear()
        for i, module in enumerate(modules):
            self._adopt(str(i), module)

    def __getitem__(self, idx: int | slice) -> Any:
        return self._slice(idx) if isinstance(idx, slice) else self._modules[self._key(idx)]

    def _slice(self, idx: slice) -> Any:
        raise NotImplementedError

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._key(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for key in keys:
            delattr(self, key)
        self._renumber(self._modules.values())

    def append(self, module: Module) -> Any:
        """Add `module` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        """Append every module of `modules` in order; returns self."""
        if not isinstance(modules, Iterable):
            raise TypeError(
                f"{type(self).__name__}.extend should be called with an iterable, but got {type(modules).__name__}"
            )
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Any:
        """Insert `module` before position `index` (-len <= index <= len); returns self."""
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        modules, n = list(self), len(self)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        index = index + n if index < 0 else index
        self._renumber([*modules[:index], module, *modules[index:]])
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove and return the module(s) at `key`."""
        value = self[key]
        del self[key]
        return value


class Sequential(_Numbered):
    """Modules applied in order: `Sequential(a, b)` names them '0', '1'; `Sequential(OrderedDict(...))` keeps
    the dict's names. Indexing with a slice returns a Sequential of those children (their names kept)."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:  # noqa: A002 (torch's name)
        for module in self:
            input = module(input)  # noqa: A001
        return input

    def _slice(self, idx: slice) -> Sequential:
        return type(self)(OrderedDict(list(self._modules.items())[idx]))

    def _only_sequential(self, other: Any) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return other

    def __add__(self, other: Sequential) -> Sequential:
        return Sequential().extend(self).extend(self._only_sequential(other))  # type: ignore[no-any-return]

    def __iadd__(self, other: Sequential) -> Sequential:
        return self.extend(self._only_sequential(other))  # type: ignore[no-any-return]


class ModuleList(_Numbered):
    """A list of modules (named '0', '1', ...) that the parent registers, so their parameters are found;
    it has no forward of its own."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _slice(self, idx: slice) -> ModuleList:
        return type(self)(list(self._modules.values())[idx])

    def insert(self, index: int, module: Module) -> None:  # type: ignore[override]
        """Insert `module` before position `index`, as list.insert (torch's returns None too)."""
        super().insert(index, module)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(chain(self, other))

    def __iadd__(self, other: Iterable[Module]) -> ModuleList:
        return self.extend(other)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        """As torch: runs of equal children print once, '(0-2): 3 x Linear(...)'."""
        runs: list[list[Any]] = []  # [first index, last index, repr]
        for i, child in enumerate(self):
            text = repr(child)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return f"{self._get_name()}()"
        lines = [_addindent(f"({a}): {text}" if a == b else f"({a}-{b}): {b - a + 1} x {text}") for a, b, text in runs]
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules registered under its keys; built from a mapping or (key, module) pairs."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]  # type: ignore[no-any-return]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        value = self[key]
        del self[key]
        return value

    def keys(self) -> KeysView[str]:
        return self._modules.keys()  # type: ignore[no-any-return]

    def items(self) -> ItemsView[str, Module]:
        return self._modules.items()  # type: ignore[no-any-return]

    def values(self) -> ValuesView[Module]:
        return self._modules.values()  # type: ignore[no-any-return]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace entries from a mapping, or from (key, module) pairs, in their order."""
        for key, module in _pairs("ModuleDict", modules, (Mapping, ModuleDict)):
            self[key] = module


def _as_parameter(value: Any) -> Any:
    """torch's rule for what enters a ParameterList or ParameterDict: a tensor (torch.Tensor or Variable) that
    is not a Parameter becomes a new Parameter on its data (shared, detached, requiring grad); anything else
    (a Parameter, a Module, None, any object) is stored as it is."""
    if isinstance(value, (torch.Tensor, Variable)) and not isinstance(value, Parameter):
        return Parameter(unwrap(value))
    return value


def _entry_line(key: Any, value: Any, dtype_text: Callable[[torch.Tensor], str]) -> str:
    """One entry of a ParameterList's or ParameterDict's repr, as torch prints it (the list names the dtype
    'torch.float32', the dict the tensor type 'torch.FloatTensor')."""
    if not isinstance(value, Parameter):
        return f"  ({key}): Object of type: {type(value).__name__}"
    size = "x".join(str(n) for n in value.shape)
    device = f" ({value.device})" if value.device.type in ("cuda", torch._C._get_privateuse1_backend_name()) else ""
    return f"  ({key}): Parameter containing: [{dtype_text(value.data)} of size {size}{device}]"


class _ParameterHolder(Module):
    """What ParameterList and ParameterDict share: entries are attributes, so Module.__setattr__'s rules
    register Parameters (and Modules) and keep other objects as plain attributes; no forward."""

    def _store(self, name: str, value: Any) -> None:
        setattr(self, name, _as_parameter(value))

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(f"{type(self).__name__} should not be called.")


class ParameterList(_ParameterHolder):
    """A list of parameters registered under '0', '1', ... (state-dict keys 'params.0', ...). Tensors and
    Variables added are made Parameters; other objects are held as they are, outside the state dict."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, idx: int | slice) -> Any:
        """The entry at `idx` (negative too); a slice is a new ParameterList holding the same entries."""
        if isinstance(idx, slice):
            return type(self)(self[i] for i in range(*idx.indices(len(self))))
        return getattr(self, str(_abs_index(idx, len(self))))

    def __setitem__(self, idx: int, value: Any) -> None:
        self._store(str(_abs_index(idx, len(self))), value)

    def append(self, value: Any) -> ParameterList:
        """Add `value` at the end; returns self. A value that cannot be stored leaves the list as it was."""
        self._size += 1
        try:
            self[-1] = value
        except Exception:
            self._size -= 1
            raise
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append every value of `values` in order (a tensor is one value, not unpacked); returns self."""
        if not isinstance(values, Iterable) or isinstance(values, (torch.Tensor, Variable)):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return "\n".join(_entry_line(i, p, lambda t: str(t.dtype)) for i, p in enumerate(self))


class ParameterDict(_ParameterHolder):
    """An ordered dict of parameters registered under its (string) keys, with dict's methods. Tensors and
    Variables added are made Parameters; other objects are held as they are, outside the state dict. A plain
    dict given to the constructor or `update` is added in sorted key order, as torch does."""

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _checked(key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(
                "Index given to ParameterDict cannot be used as a key as it is not a string "
                f"(type is '{type(key).__name__}'). Open an issue on github if you need non-string keys."
            )
        return key

    def __getitem__(self, key: str) -> Any:
        if self._checked(key) not in self._keys:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._store(self._checked(key), value)
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> KeysView[str]:
        return self._keys.keys()

    def values(self) -> Iterator[Any]:
        return (self[k] for k in self._keys)

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, self[k]) for k in self._keys)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def pop(self, key: str) -> Any:
        """Remove `key` and return its entry."""
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted (key, entry) pair."""
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The entry of `key`, first set to `default` (made a Parameter if a tensor) when `key` is absent."""
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same entries (the same Parameter objects) in the same order."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        """A new ParameterDict with `keys`, each set to `default` (a tensor becomes one Parameter per key)."""
        return ParameterDict((k, default) for k in keys)

    def update(self, parameters: Any) -> None:
        """Add or replace entries from a mapping (a plain dict in sorted key order; an OrderedDict or a
        ParameterDict in its order) or from (key, value) pairs in their order."""
        for key, value in _pairs("ParameterDict", parameters, (OrderedDict, ParameterDict)):
            self[key] = value

    def __or__(self, other: Any) -> ParameterDict:
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Any) -> Any:
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other: Any) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_entry_line(k, p, torch.Tensor.type) for k, p in self.items())
