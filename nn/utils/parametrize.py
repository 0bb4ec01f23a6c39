"""Parametrizations, as torch.nn.utils.parametrize: a parameter or buffer computed on every access by
modules from stored originals (`module.weight` is `parametrization(original)`).

As in torch, registering one moves the tensor to `module.parametrizations[name].original` (the same
Parameter object, so optimizers keep it; `original0`, `original1`, ... when `right_inverse` splits it),
turns the module's class into `Parametrized<Class>` with a property `name` (reading it runs the
parametrizations, assigning to it runs their `right_inverse`), and state dicts hold the originals under
'parametrizations.weight.original'.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch

import autograd_engine as ag
from autograd_engine import Variable
from autograd_engine.variable import unwrap

from ..containers import ModuleDict, ModuleList
from ..module import Module, Parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "type_before_parametrizations",
]

_cache_enabled = 0
_cache: dict[tuple[int, str], Any] = {}


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Within the block, each parametrized tensor is computed once, at its first access (torch's `cached`):
    for a model that reads a parametrized weight many times in one forward."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


def _is_tensor(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, Variable))


def _register_parameter_or_buffer(module: Module, name: str, value: Any) -> None:
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, unwrap(value))


def _maybe_set(dest: Any, src: Any) -> None:
    """Make `dest` hold `src`'s values in place (torch's `set_`): a Parameter stays the same object."""
    if isinstance(dest, Variable):
        dest.data = unwrap(src).detach()
        dest._node = None  # the cached leaf node describes the old tensor
    else:
        with torch.no_grad():
            dest.set_(unwrap(src).detach())


def _check_like(value: Any, like: Any, message: str) -> None:
    """torch's checks that a parametrization (or its right_inverse) keeps the tensor's dtype and shape;
    `message` is torch's, with {attr}, {expected} and {got} to fill in."""
    for attr in ("dtype", "shape"):
        expected, got = getattr(like, attr), getattr(value, attr)
        if got != expected:
            raise ValueError(message.format(attr=attr, expected=expected, got=got))


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order to the originals (`original`, or `original0`,
    `original1`, ... when the first `right_inverse` returns a sequence)."""

    def __init__(self, modules: Sequence[Module], original: Any, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        with ag.no_grad():
            new = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    with contextlib.suppress(NotImplementedError):
                        new = module.right_inverse(new)
        if not _is_tensor(new) and not isinstance(new, Sequence):
            raise ValueError(
                "'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                f"Got {type(new).__name__}"
            )
        self.is_tensor = _is_tensor(new)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            for attr in ("dtype", "device"):
                if getattr(original, attr) != getattr(new, attr):
                    raise ValueError(
                        f"When `right_inverse` outputs one tensor, it may not change the {attr}.\n"
                        f"original.{attr}: {getattr(original, attr)}\n"
                        f"right_inverse(original).{attr}: {getattr(new, attr)}"
                    )
            _maybe_set(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, part in enumerate(new):
                if not _is_tensor(part):
                    raise ValueError(
                        "'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                        f"Got element {i} of the sequence with type {type(part).__name__}."
                    )
                tensor = unwrap(part).detach()
                requires_grad = bool(getattr(original, "requires_grad", False))
                if isinstance(original, Parameter):
                    _register_parameter_or_buffer(self, f"original{i}", Parameter(tensor, requires_grad))
                else:
                    _register_parameter_or_buffer(self, f"original{i}", tensor)
        if not self.unsafe:
            z = self()
            if not _is_tensor(z):
                raise ValueError(f"A parametrization must return a tensor. Got {type(z).__name__}.")
            _check_like(
                z,
                original,
                "Registering a parametrization may not change the {attr} of the tensor, unless `unsafe` flag is "
                "enabled.\nunparametrized {attr}: {expected}\nparametrized {attr}: {got}",
            )

    def right_inverse(self, value: Any) -> None:
        """Set the originals so that the parametrizations give `value` (each must have `right_inverse`)."""
        with ag.no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not _is_tensor(value):
                    raise ValueError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                if value.dtype != self.original.dtype:
                    raise ValueError(
                        f"The tensor returned by `right_inverse` has dtype {value.dtype} while `original` has "
                        f"dtype {self.original.dtype}"
                    )
                _maybe_set(self.original, value)
                return
            if not isinstance(value, Sequence):
                raise ValueError(f"'right_inverse' must return a sequence of tensors. Got {type(value).__name__}.")
            if len(value) != self.ntensors:
                raise ValueError(
                    f"'right_inverse' must return a sequence of tensors of length {self.ntensors}. "
                    f"Got a sequence of length {len(value)}."
                )
            for i, tensor in enumerate(value):
                original = getattr(self, f"original{i}")
                if not _is_tensor(tensor):
                    raise ValueError(
                        "'right_inverse' must return a sequence of tensors or reference-type opaques. "
                        f"Got element {i} of type {type(tensor).__name__}."
                    )
                if original.dtype != tensor.dtype:
                    raise ValueError(
                        f"Tensor {i} returned by `right_inverse` has dtype {tensor.dtype} while `original{i}` has "
                        f"dtype {original.dtype}"
                    )
                _maybe_set(original, tensor)

    def forward(self) -> Any:  # type: ignore[override]
        modules = list(self)
        if self.is_tensor:
            x = modules[0](self.original)
        else:
            x = modules[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in modules[1:]:
            x = module(x)
        return x


def _getstate(self: Module) -> Any:
    raise RuntimeError(
        "Serialization of parametrized modules is only supported through state_dict(). See:\n"
        "https://pytorch.org/tutorials/beginner/saving_loading_models.html"
        "#saving-loading-a-general-checkpoint-for-inference-and-or-resuming-training"
    )


def _deepcopy(self: Module, memo: dict[int, Any]) -> Module:
    """A deep copy of a parametrized module (its `__getstate__` refuses pickling, not copying)."""
    if id(self) in memo:
        return memo[id(self)]  # type: ignore[no-any-return]
    replica = object.__new__(type(self))
    memo[id(self)] = replica
    replica.__dict__.update(copy.deepcopy(self.__dict__, memo))
    return replica


def _inject_new_class(module: Module) -> None:
    """Give `module` a class of its own, `Parametrized<Class>`, to hold the properties."""
    cls = type(module)
    namespace: dict[str, Any] = {"__getstate__": _getstate}
    if not hasattr(cls, "__deepcopy__"):
        namespace["__deepcopy__"] = _deepcopy
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), namespace)


def _inject_property(module: Module, tensor_name: str) -> None:
    """`module.<tensor_name>` runs the parametrizations (once per `cached()` block); assigning sets the
    originals through `right_inverse`."""
    if hasattr(module, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    def get_parametrized(self: Module) -> Any:
        parametrization = self.parametrizations[tensor_name]
        if not _cache_enabled:
            return parametrization()
        key = (id(self), tensor_name)
        if _cache.get(key) is None:
            _cache[key] = parametrization()
        return _cache[key]

    def set_original(self: Module, value: Any) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(type(module), tensor_name, property(get_parametrized, set_original))


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Make `module.<tensor_name>` be `parametrization(original)` (after the parametrizations already
    registered on it). `parametrization.right_inverse`, when present, gives the original from the current
    value (or a sequence of originals: `forward` then takes them all). Unless `unsafe`, the result must keep
    the tensor's dtype and shape (ValueError)."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            _check_appended(module, tensor_name, parametrization)
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
    else:
        raise ValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with name "
            f"'{tensor_name}'"
        )
    return module


def _check_appended(module: Module, tensor_name: str, parametrization: Module) -> None:
    """torch's checks before a parametrization goes after others: it and its right_inverse keep the
    parametrized tensor's dtype and shape."""
    y = getattr(module, tensor_name)
    x = parametrization(y)
    if not _is_tensor(x):
        raise ValueError(f"A parametrization must return a tensor. Got {type(x).__name__}.")
    unsafe = "unless the `unsafe` flag is enabled.\n"
    _check_like(
        x,
        y,
        f"Registering a parametrization may not change the {{attr}} of the tensor, {unsafe}module.{tensor_name}."
        f"{{attr}}: {{expected}}\nparametrization(module.{tensor_name}).{{attr}}: {{got}}",
    )
    if not hasattr(parametrization, "right_inverse"):
        return
    try:
        z = parametrization.right_inverse(x)
    except NotImplementedError:
        return
    if not _is_tensor(z):
        raise ValueError(f"parametrization.right_inverse must return a tensor. Got: {type(z).__name__}")
    _check_like(
        z,
        y,
        f"The tensor returned by parametrization.right_inverse must have the same {{attr}} as module.{tensor_name}, "
        f"{unsafe}module.{tensor_name}.{{attr}}: {{expected}}\nreturned {{attr}}: {{got}}",
    )


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether `module` has any parametrization (or one on `tensor_name`)."""
    parametrizations = getattr(module, "parametrizations", None)
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Undo the parametrizations of `tensor_name`: it becomes a plain parameter (or buffer) again, holding
    the parametrized value (`leave_parametrized`) or the original (the same Parameter object either way,
    when there is one original). The last one removed gives the module its class back."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with ag.no_grad():
                _maybe_set(original, getattr(module, tensor_name))
    elif leave_parametrized:
        with ag.no_grad():
            t = getattr(module, tensor_name)
        requires_grad = any(p.requires_grad for p in plist.parameters(recurse=False))
        original = Parameter(unwrap(t).detach(), requires_grad) if requires_grad else unwrap(t)
    else:
        raise ValueError(
            "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized in terms of "
            "a sequence of tensors."
        )
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before any parametrization was registered."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)
