"""`Module` and `Parameter`: containers of Variables with torch.nn's names, layouts and state dicts."""

from __future__ import annotations

import contextvars
import functools
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import torch

from autograd_engine import Variable
from autograd_engine.primitive import describe
from autograd_engine.pytree import tree_map
from autograd_engine.scope import in_module, scope
from autograd_engine.variable import unwrap

from . import hooks as _hooks
from .hooks import (  # noqa: F401  (the global hooks, spelled here and in nn.modules.module as in torch)
    RemovableHandle,
    add_hook,
    call_with_hooks,
    has_call_hooks,
    register_module_buffer_registration_hook,
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_full_backward_hook,
    register_module_full_backward_pre_hook,
    register_module_module_registration_hook,
    register_module_parameter_registration_hook,
    run_registration_hooks,
)


class Parameter(Variable):
    """A leaf Variable that a Module owns and optimizers update (requires grad by default)."""

    is_parameter = True

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + repr(self.data)


class _IncompatibleKeys(NamedTuple):
    """What `load_state_dict` returns, as in torch: the model's keys the state dict lacks, and its keys
    that the model does not have."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys!r}, unexpected_keys={self.unexpected_keys!r})"

    def __str__(self) -> str:
        return repr(self)


def _remove(name: str, *tables: Any) -> None:
    """Take `name` out of each dict or set in `tables` (before it is registered as something else)."""
    for table in tables:
        if isinstance(table, set):
            table.discard(name)
        else:
            table.pop(name, None)


_Undo = Callable[[], Any]
_Change = Callable[[bool], _Undo | None]
"""One change a load makes (a copy, an assignment, a set_extra_state): called with whether to keep a way
back, it makes the change and returns what undoes it (None where nothing was kept)."""

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


class _Loading:
    """The changes of one `load_state_dict` call, held back until the whole load is known to succeed, so
    that a failed load changes nothing. Before a load post-hook runs, the changes so far are made (the hook
    sees the loaded module, as in torch), keeping the way back in case the load then fails."""

    def __init__(self) -> None:
        self.pending: list[_Change] = []
        self.undo: list[_Undo] = []

    def flush(self, keep_undo: bool) -> None:
        for change in self.pending:
            undo = change(keep_undo)
            if undo is not None:
                self.undo.append(undo)
        self.pending.clear()

    def rollback(self) -> None:
        for undo in reversed(self.undo):
            undo()


_loading: contextvars.ContextVar[_Loading | None] = contextvars.ContextVar("_loading", default=None)


def _stage(change: _Change) -> None:
    """Make `change` when `load_state_dict` has checked everything (at once outside a load)."""
    loading = _loading.get()
    if loading is None:
        change(False)
    else:
        loading.pending.append(change)


def _copy(target: torch.Tensor, value: torch.Tensor) -> _Change:
    """Copy `value` into `target` in place (load_state_dict's default)."""

    def write(values: torch.Tensor) -> None:
        with torch.no_grad():
            target.copy_(values)

    def change(keep: bool) -> _Undo | None:
        old = target.clone() if keep else None
        write(value)
        return None if old is None else functools.partial(write, old)

    return change


def _assign(module: Module, table: dict[str, Any], name: str, value: Any) -> _Change:
    """Make `value` the module's parameter or buffer `name` (load_state_dict's `assign=True`): a Parameter
    takes the requires_grad of the one it replaces."""
    requires_grad = table[name].requires_grad

    def change(keep: bool) -> _Undo | None:
        old = table[name]
        if isinstance(value, Parameter):
            value.requires_grad_(requires_grad)
        setattr(module, name, value)
        return functools.partial(table.__setitem__, name, old) if keep else None

    return change


def _set_extra_state(module: Module, state: Any) -> _Change:
    """Call the module's `set_extra_state(state)`; the way back needs its `get_extra_state`."""

    def change(keep: bool) -> _Undo | None:
        old = (module.get_extra_state(),) if keep and _overrides(module, "get_extra_state") else None
        module.set_extra_state(state)
        return None if old is None else functools.partial(module.set_extra_state, old[0])

    return change


def _overrides(module: Module, method: str) -> bool:
    """Whether the module's class defines `method` itself (torch's test for get/set_extra_state)."""
    return getattr(type(module), method) is not getattr(Module, method)


def _addindent(text: str) -> str:
    """Indent every line of a child's repr but the first by two spaces, as torch prints nested modules."""
    return text.replace("\n", "\n  ")


class Module:
    """Base class of layers, with torch.nn.Module's API: parameters, buffers and sub-modules are found by
    attribute assignment (or `register_*`), and state dicts have torch's keys and order.

    Calling a module runs `forward` inside a graph scope named after its place in the model
    (`Sequential/0:Conv2d`), which the graph tools use to group nodes.
    """

    training: bool
    _version: int = 1  # a module's state-dict layout version, in its state dict's `_metadata` (torch's)

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_label", None)
        for table in (
            "_forward_pre_hooks",
            "_forward_hooks",
            "_backward_pre_hooks",
            "_backward_hooks",
            "_state_dict_pre_hooks",
            "_state_dict_hooks",
            "_load_state_dict_pre_hooks",
            "_load_state_dict_post_hooks",
        ):
            object.__setattr__(self, table, OrderedDict())
        for flags in (
            "_forward_pre_hooks_with_kwargs",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
            "_state_dict_hooks_returning_none",
        ):
            object.__setattr__(self, flags, {})
        self.training = True

    # --- registration ------------------------------------------------------------------------
    def _check_name(self, kind: str, name: Any, table: Mapping[str, Any]) -> None:
        """torch's checks on the name of a new parameter, buffer or module."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {torch.typename(name)}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."' + (f", got: {name}" if kind == "module" else ""))
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in table:
            raise KeyError(f"attribute '{name}' already exists")

    def _initialised(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() call: call super().__init__() first in "
                f"{type(self).__name__}.__init__"
            )

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add `param` (or None: an optional parameter left out of state dicts) under `name`."""
        self._initialised("parameter")
        self._check_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{torch.typename(param)}' object to parameter '{name}' (nn.Parameter or None required)"
            )
        self._set_parameter(name, param)

    def _set_parameter(self, name: str, param: Parameter | None) -> None:
        """Store `param` under `name`, after the global parameter-registration hooks (not run for None, as in
        torch)."""
        if param is not None:
            param = run_registration_hooks(_hooks._global_parameter_registration_hooks, self, name, param)
            if param.name is None:
                param.name = name
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        """Add a plain tensor (no gradient) under `name`: moved and cast with the module, and part of the
        state dict unless `persistent` is False (None: a slot left out of state dicts)."""
        self._initialised("buffer")
        self._check_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, torch.Tensor):
            hint = "; buffers hold no gradient: pass its .data" if isinstance(tensor, Variable) else ""
            raise TypeError(
                f"cannot assign '{torch.typename(tensor)}' object to buffer '{name}' "
                f"(torch Tensor or None required{hint})"
            )
        self._buffers[name] = run_registration_hooks(_hooks._global_buffer_registration_hooks, self, name, tensor)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under `name` (None: an empty slot)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{torch.typename(module)} is not a Module subclass")
        self._check_name("module", name, self._modules)
        self._adopt(name, module)

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias for `add_module`."""
        self.add_module(name, module)

    def _adopt(self, name: str, module: Module | None) -> None:
        """Store a child under `name` (after the global module-registration hooks); its graph scope is named
        after that place ('0:Conv2d')."""
        module = run_registration_hooks(_hooks._global_module_registration_hooks, self, name, module)
        if module is not None:
            object.__setattr__(module, "_label", f"{name}:{type(module).__name__}")
        self._modules[name] = module

    def __setattr__(self, name: str, value: Any) -> None:
        """torch's rules: a Parameter registers as a parameter and a Module as a child; a registered name
        takes only its own kind (or None) and a buffer's name a tensor. A layer's `weight`/`bias` set to
        None is an absent parameter, as torch's `register_parameter(name, None)`."""
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self._initialised("parameters")
            _remove(name, self.__dict__, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{torch.typename(value)}' as parameter '{name}' (nn.Parameter or None expected)"
                )
            self._set_parameter(name, None)
        elif isinstance(value, Module):
            self._initialised("module")
            _remove(name, self.__dict__, params, self._buffers, self._non_persistent_buffers_set)
            self._adopt(name, value)
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{torch.typename(value)}' as child module '{name}' (nn.Module or None expected)"
                )
            self._adopt(name, None)
        elif params is not None and name in self._buffers:
            self.register_buffer(name, value, name not in self._non_persistent_buffers_set)
        elif params is not None and value is None and name in ("weight", "bias"):
            _remove(name, self.__dict__)
            self._set_parameter(name, None)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules, *self._buffers]
        return sorted(key for key in set(keys) if not key[0].isdigit())

    # --- running -----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        object.__setattr__(
            self,
            "_last_inputs",
            [(a.shape, a.dtype, a.device) for a in args if isinstance(a, (Variable, torch.Tensor))],
        )
        with scope(self._label or type(self).__name__) as path:
            try:
                if has_call_hooks(self):
                    return call_with_hooks(self, path, args, kwargs)
                return self.forward(*args, **kwargs)
            except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as e:
                named = in_module(e, path, describe(tree_map(unwrap, list(args))))
                if named is None:
                    raise
                raise named from e

    # --- hooks (torch.nn.Module's; see nn/hooks.py for how they run) ---------------------------
    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call `hook(module, args)` before every forward: a returned value replaces the positional
        arguments (a value that is not a tuple is wrapped in one). With `with_kwargs`, `hook(module, args,
        kwargs)` returns None or `(args, kwargs)`. `prepend` runs it before the hooks already there."""
        flags = [self._forward_pre_hooks_with_kwargs] if with_kwargs else []
        return add_hook(self._forward_pre_hooks, hook, prepend, flags)

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Call `hook(module, args, output)` after every forward (`hook(module, args, kwargs, output)` with
        `with_kwargs`); a returned value replaces the output. `always_call` runs it also when the call
        raises (before the error propagates); `prepend` runs it before the hooks already there."""
        flags = [self._forward_hooks_with_kwargs] if with_kwargs else []
        if always_call:
            flags.append(self._forward_hooks_always_called)
        return add_hook(self._forward_hooks, hook, prepend, flags)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call `hook(module, grad_output)` when the gradients of the outputs are computed (a tuple, None
        for outputs that are not Variables requiring grad or that no gradient reached); a returned tuple
        replaces them for the rest of backward."""
        return add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call `hook(module, grad_input, grad_output)` when the gradients of the positional inputs are
        computed (None for arguments that are not tensors, zeros for tensors that do not require grad); a
        returned tuple replaces grad_input. When no input requires grad it runs with the outputs' gradients,
        grad_input all None; it does not run for a call under no_grad."""
        return add_hook(self._backward_hooks, hook, prepend)

    def train(self, mode: bool = True) -> Module:
        """Set `training` on this module and, through their own `train`, on its children; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    # --- traversal ---------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(
        self, memo: set[Module] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first, each once (unless `remove_duplicate` is False)."""
        memo = set() if memo is None else memo
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        return (m for _, m in self.named_modules(remove_duplicate=remove_duplicate))

    def _named_members(
        self, table: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        """Entries of each module's `table` ('_parameters' or '_buffers') under dotted names, in torch's order."""
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{path}.{name}" if path else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, torch.Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[torch.Tensor]:
        return (b for _, b in self.named_buffers(recurse=recurse))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def get_submodule(self, target: str) -> Module:
        """The module at the dotted path `target` ('' is self); AttributeError naming the step that fails."""
        module = self
        for item in target.split(".") if target else []:
            if not hasattr(module, item):
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def _get_member(self, target: str, kind: str, table: str) -> Any:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        if name not in getattr(module, table):
            raise AttributeError(f"`{name}` is not {kind}")
        return getattr(module, name)

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path `target` ('0.weight')."""
        param = self._get_member(target, "an nn.Parameter", "_parameters")
        if param is None:
            raise AttributeError(f"`{target.rpartition('.')[2]}` is not an nn.Parameter")
        return param  # type: ignore[no-any-return]

    def get_buffer(self, target: str) -> torch.Tensor:
        """The buffer at the dotted path `target` ('0.running_mean')."""
        return self._get_member(target, "a buffer", "_buffers")  # type: ignore[no-any-return]

    # --- parameters, buffers and their tensors -----------------------------------------------
    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every child (recursively, children first) and then on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set `requires_grad` of every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients (None), or with `set_to_none=False` zero them in place (detached)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.data.zero_()

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Module:
        """Replace the tensor of every parameter (and gradient) and every buffer by `fn` of it, children
        first, as torch's `_apply`; the Parameter objects stay, so optimizers keep them."""
        for child in self.children():
            child._apply(fn)
        for name, p in self._parameters.items():
            if p is None:
                continue
            data = fn(p.data)
            if p.requires_grad and not (data.is_floating_point() or data.is_complex()):
                raise RuntimeError(
                    f"{type(self).__name__}.{name}: data set to a tensor that requires gradients must be floating "
                    f"point or complex dtype (got {data.dtype})"
                )
            p.data = data
            p._node = None  # the cached leaf node describes the old dtype and device
            if p.grad is not None:
                p.grad = Variable(fn(p.grad.data))
        for name, buffer in self._buffers.items():
            if buffer is not None:
                self._buffers[name] = fn(buffer)
        return self

    def _cast_floating(self, dtype: torch.dtype) -> Module:
        """Cast floating-point parameters and buffers; integer ones (num_batches_tracked) keep their dtype."""
        return self._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)

    def type(self, dst_type: torch.dtype | str) -> Module:
        """Cast every parameter and buffer, integer ones too, to `dst_type` (a dtype or a tensor type name
        such as 'torch.DoubleTensor'), as torch.nn.Module.type; returns self."""
        return self._apply(lambda t: t.type(dst_type))

    def double(self) -> Module:
        return self._cast_floating(torch.float64)

    def float(self) -> Module:
        return self._cast_floating(torch.float32)

    def half(self) -> Module:
        return self._cast_floating(torch.float16)

    def bfloat16(self) -> Module:
        return self._cast_floating(torch.bfloat16)

    def cuda(self, device: int | str | torch.device | None = None) -> Module:
        return self._apply(lambda t: t.cuda(device))

    def cpu(self) -> Module:
        return self._apply(lambda t: t.cpu())

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move and/or cast parameters and buffers, with torch.nn.Module.to's arguments (device, dtype,
        a tensor, non_blocking, memory_format): only floating-point and complex tensors change dtype."""
        args = tuple(unwrap(a) for a in args)
        device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args, **kwargs)
        if dtype is not None and not (dtype.is_floating_point or dtype.is_complex):
            raise TypeError(
                f"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype={dtype}"
            )

        def convert(t: torch.Tensor) -> torch.Tensor:
            cast = dtype if t.is_floating_point() or t.is_complex() else None
            if memory_format is not None and t.dim() in (4, 5):
                return t.to(device, cast, non_blocking, memory_format=memory_format)
            return t.to(device, cast, non_blocking)

        return self._apply(convert)

    # --- state -------------------------------------------------------------------------------
    def _own_state(self) -> dict[str, Any]:
        """This module's own state-dict entries in torch's order: parameters, then persistent buffers."""
        params = ((name, p) for name, p in self._parameters.items() if p is not None)
        buffers = (
            (name, b)
            for name, b in self._buffers.items()
            if b is not None and name not in self._non_persistent_buffers_set
        )
        return dict([*params, *buffers])

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        """Put this module's own entries (not its children's) into `destination`, as torch's method of the
        name (the one a subclass overrides to save differently)."""
        for name, value in self._own_state().items():
            destination[prefix + name] = value if keep_vars else unwrap(value).detach()
        if _overrides(self, "get_extra_state"):
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(
        self, *, destination: dict[str, Any] | None = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Any]:
        """Parameter and persistent-buffer tensors under torch.nn's keys and order ('0.weight', '1.running_mean',
        ...; module by module), so it loads into the equal torch model. `keep_vars` keeps the Parameters.
        As in torch, each module runs its state-dict pre-hooks before saving and its post-hooks after its
        children, and a new dict carries `_metadata` (each module's version, under its prefix)."""
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()  # type: ignore[attr-defined]
        local_metadata: dict[str, Any] = {"version": self._version}
        saved_metadata = getattr(destination, "_metadata", None)
        if saved_metadata is not None:
            saved_metadata[prefix[:-1]] = local_metadata
        for hook in list(self._state_dict_pre_hooks.values()):
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        for key, hook in list(self._state_dict_hooks.items()):
            result = hook(self, destination, prefix, local_metadata)
            if key in self._state_dict_hooks_returning_none:
                if result is not None:
                    raise RuntimeError("state_dict post-hook must return None")
            elif result is not None:
                destination = result
        return destination

    def get_extra_state(self) -> Any:
        """Extra state to save under `prefix + '_extra_state'` in the state dict: define it (and
        `set_extra_state`) in a subclass, as in torch; this default is never called."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called: "
            f"{type(self).__name__} does not define get_extra_state"
        )

    def set_extra_state(self, state: Any) -> None:
        """Restore the extra state that `get_extra_state` saved (called by `load_state_dict`; a strict load
        of a state dict without it reports the key missing): define it in a subclass, as in torch."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called: "
            f"{type(self).__name__} does not define set_extra_state"
        )

    def register_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call `hook(module, prefix, keep_vars)` when `state_dict` reaches this module, before it saves."""
        return add_hook(self._state_dict_pre_hooks, hook, False)

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call `hook(module, state_dict, prefix, local_metadata)` once this module and its children are in
        the state dict; it may change the dict in place and must return None (RuntimeError otherwise)."""
        return add_hook(self._state_dict_hooks, hook, False, [self._state_dict_hooks_returning_none])

    def _register_state_dict_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """torch's older (private) post-hook: like `register_state_dict_post_hook`, but a dict it returns
        replaces the state dict (which only the module that `state_dict` was called on returns)."""
        return add_hook(self._state_dict_hooks, hook, False)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call `hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)` when `load_state_dict` reaches this module, before its own keys are read: `state_dict`
        holds the keys under `prefix` and may be changed in place (renaming legacy keys, say); what is added to
        the lists is reported (`strict` is True, as torch passes it)."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def _register_load_state_dict_pre_hook(
        self, hook: Callable[..., Any], with_module: bool = False
    ) -> RemovableHandle:
        """torch's private form: without `with_module` the hook is called without the module argument."""
        return add_hook(self._load_state_dict_pre_hooks, functools.partial(hook, self) if with_module else hook, False)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call `hook(module, incompatible_keys)` once this module and its children are loaded (before the
        strict check): it may change `incompatible_keys.missing_keys` / `unexpected_keys` in place, which
        decides whether a strict load fails; it must return None (AssertionError otherwise)."""
        return add_hook(self._load_state_dict_post_hooks, hook, False)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Load this module's own entries (not its children's) from `state_dict`, as torch's method of the
        name: run the load pre-hooks, check each entry (a tensor of the right shape, else a message in
        `error_msgs`), note the keys this module lacks or does not know, and hand the extra state to
        `set_extra_state`. `local_metadata['assign_to_params_buffers']` (load_state_dict's `assign`) makes the
        given tensors the parameters and buffers instead of copying them in. Within `load_state_dict` the
        changes wait until the whole load is known to succeed."""
        for hook in list(self._load_state_dict_pre_hooks.values()):
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        own = self._own_state()
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, target in own.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            tensor, current = unwrap(value), unwrap(target)
            if not isinstance(tensor, torch.Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like object '
                    f"from checkpoint but received {type(value)}"
                )
                continue
            if current.dim() == 0 and tensor.shape == (1,):
                value = tensor = tensor[0]  # a scalar saved as a 1-element vector (torch 0.3), which torch still loads
            if tensor.shape != current.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {tensor.shape} from checkpoint, "
                    f"the shape in current model is {current.shape}."
                )
            elif assign:
                self._stage_assignment(key, name, target, value, error_msgs)
            else:
                if current.is_meta and not tensor.is_meta:
                    warnings.warn(
                        f"for {key}: copying from a non-meta parameter in the checkpoint to a meta parameter in "
                        "the current model, which is a no-op. (Did you mean to pass `assign=True` to assign items "
                        "in the state dictionary to their corresponding key in the module instead of copying them "
                        "in place?)",
                        stacklevel=2,
                    )
                _stage(_copy(current, tensor))
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if _overrides(self, "set_extra_state"):
            if extra_key in state_dict:
                _stage(_set_extra_state(self, state_dict[extra_key]))
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head, dot, _ = key[len(prefix) :].partition(".")
                    if (self._modules.get(head) is None) if dot else (head not in own):
                        unexpected_keys.append(key)

    def _stage_assignment(self, key: str, name: str, target: Any, value: Any, error_msgs: list[str]) -> None:
        """`value` as this module's parameter or buffer `name` (`assign=True`): a parameter becomes a Parameter
        holding the given tensor (the given Parameter itself), with the requires_grad of the one it replaces;
        a buffer becomes the given tensor. A tensor no Parameter can hold is torch's message in `error_msgs`."""
        if name not in self._parameters:
            _stage(_assign(self, self._buffers, name, unwrap(value)))
            return
        try:
            param = value if isinstance(value, Parameter) else Parameter(unwrap(value), target.requires_grad)
        except (RuntimeError, TypeError) as e:
            error_msgs.append(
                f'While copying the parameter named "{key}", whose dimensions in the model are {target.size()} and '
                f"whose dimensions in the checkpoint are {value.size()}, an exception occurred : {e.args}."
            )
            return
        _stage(_assign(self, self._parameters, name, param))

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy tensors into the parameters and persistent buffers (in place, keeping device and dtype), as
        torch.nn does: returns the missing and unexpected keys (`strict=False`; with `strict` they raise).
        With `assign`, the given tensors become the parameters (as Parameters keeping each old one's
        requires_grad) and buffers, their dtype and device too: the way to fill a `skip_init` module.
        Module by module as torch (`_load_from_state_dict` and the load hooks), but nothing is copied until
        everything checked out, so nothing loads on error; the RuntimeError names every bad key."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # (a copy: the pre-hooks may change it)
        if metadata is not None:
            state_dict._metadata = metadata  # type: ignore[attr-defined]
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        loading = _Loading()
        token = _loading.set(loading)
        try:
            self._load_tree(state_dict, "", metadata, assign, loading, missing, unexpected, errors)
            if strict and unexpected:
                errors.insert(
                    0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected))
                )
            if strict and missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
            if errors:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
                )
            loading.flush(keep_undo=False)
        except BaseException:
            loading.rollback()
            raise
        finally:
            _loading.reset(token)
        return _IncompatibleKeys(missing, unexpected)

    def _load_tree(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        metadata: Mapping[str, Any] | None,
        assign: bool,
        loading: _Loading,
        missing: list[str],
        unexpected: list[str],
        errors: list[str],
    ) -> None:
        """torch's recursive `load`: this module's entries, then each child's (from the keys under its prefix,
        as this module's pre-hooks left them), then this module's load post-hooks."""
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        if assign:  # (torch writes it into the state dict's own metadata; here a copy keeps that unchanged)
            local_metadata = {**local_metadata, "assign_to_params_buffers": True}
        self._load_from_state_dict(state_dict, prefix, local_metadata, True, missing, unexpected, errors)
        for name, child in self._modules.items():
            if child is not None:
                child_prefix = f"{prefix}{name}."
                child_state = {k: v for k, v in state_dict.items() if k.startswith(child_prefix)}
                child._load_tree(child_state, child_prefix, metadata, assign, loading, missing, unexpected, errors)
        if not self._load_state_dict_post_hooks:
            return
        loading.flush(keep_undo=True)
        incompatible = _IncompatibleKeys(missing, unexpected)
        for hook in list(self._load_state_dict_post_hooks.values()):
            if hook(self, incompatible) is not None:
                raise AssertionError(
                    "Hooks registered with ``register_load_state_dict_post_hook`` are not expected to return new "
                    "values, if incompatible_keys need to be modified, it should be done inplace."
                )

    # --- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows the module's graph, traced on zeros shaped like its last input."""
        bundle = {"text/plain": repr(self)}
        inputs = self.__dict__.get("_last_inputs")
        if inputs:
            from autograd_engine import enable_grad, graph

            with enable_grad():
                out = self(*[Variable(torch.zeros(s, dtype=d, device=dev)) for s, d, dev in inputs])
            svg = graph.svg_for_notebook(out, params=self) if isinstance(out, Variable) else None
            if svg is not None:
                bundle["image/svg+xml"] = svg
        return bundle

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings); one line or several."""
        return ""

    def __repr__(self) -> str:
        text = self.extra_repr()
        extra = text.split("\n") if text else []
        children = [f"({name}): " + _addindent(repr(child)) for name, child in self._modules.items()]
        if len(extra) == 1 and not children:
            return f"{self._get_name()}({extra[0]})"
        lines = extra + children
        return f"{self._get_name()}(" + ("\n  " + "\n  ".join(lines) + "\n" if lines else "") + ")"
