"""Containers of modules, as torch.nn's: `Sequential`, `ModuleList` and `ModuleDict`. Children are
registered under torch's names ('0', '1', ... or the dict's keys), so state-dict keys match torch's
('layers.0.weight', 'blocks.a.bias')."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from itertools import chain
from typing import Any

from .module import Module, _addindent

__all__ = ["ModuleDict", "ModuleList", "Sequential"]


class _Numbered(Module):
    """What Sequential and ModuleList share: children numbered '0', '1', ... in order, indexed like a
    list (negative indices too), renumbered after an insert or a delete as torch does."""

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def _key(self, idx: Any) -> str:
        """The child's name at list index `idx`; IndexError outside [-len, len) as torch."""
        i, size = operator.index(idx), len(self)
        if not -size <= i < size:
            raise IndexError(f"index {i} is out of range")
        return list(self._modules)[i % size]

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
        if not isinstance(modules, Iterable):
            raise TypeError(
                "ModuleDict.update should be called with an iterable of key/value pairs, but got "
                + type(modules).__name__
            )
        if isinstance(modules, (Mapping, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
            return
        for j, pair in enumerate(modules):
            if not isinstance(pair, Iterable):
                raise TypeError(f"ModuleDict update sequence element #{j} should be Iterable; is {type(pair).__name__}")
            entry: tuple[Any, ...] = tuple(pair)
            if len(entry) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} has length {len(entry)}; 2 is required")
            self[entry[0]] = entry[1]
