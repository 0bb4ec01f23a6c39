"""Module hooks, run as torch.nn.Module runs them: forward pre-hooks, forward hooks (`with_kwargs`,
`always_call`) and full backward (pre-)hooks, around `forward` when a module has any; and the global hooks
of torch.nn.modules.module (`register_module_forward_hook`, ...), which every module runs before its own.

Backward hooks work as torch's `torch.utils.hooks.BackwardHook`: the positional inputs that require grad
are joined under one graph node, and so are the outputs (`_Joined`). A node's gradient is complete only
once every gradient flowing into it is, so the engine hook on the outputs' node (`Variable.register_hook`)
sees all of grad_output at once, and the one on the inputs' node all of grad_input; what they return
flows on in place of the gradient.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

import autograd_engine as ag
from autograd_engine import Variable, ops
from autograd_engine.node import HookHandle
from autograd_engine.primitive import hook_name, short_repr

if TYPE_CHECKING:
    from .module import Module

_hook_ids = itertools.count()

# The global hooks (torch.nn.modules.module's), run by every module before its own.
_global_forward_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_forward_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_forward_hooks_with_kwargs: dict[int, bool] = {}
_global_forward_hooks_always_called: dict[int, bool] = {}
_global_backward_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_backward_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_buffer_registration_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_module_registration_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_parameter_registration_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()


class RemovableHandle(HookHandle):
    """What a module's `register_*_hook` returns, as torch's RemovableHandle: `remove()` (or leaving a
    `with handle:` block) takes the hook away with its flags (`with_kwargs`, `always_call`)."""

    def __init__(self, hooks: dict[int, Any], key: int, flags: Sequence[dict[int, bool]] = ()) -> None:
        super().__init__(hooks, key)
        self._flags = flags

    @property
    def id(self) -> int:
        return int(self._key)

    def remove(self) -> None:
        super().remove()
        for flagged in self._flags:
            flagged.pop(self._key, None)


def add_hook(
    table: OrderedDict[int, Any], hook: Callable[..., Any], prepend: bool, flags: Sequence[dict[int, bool]] = ()
) -> RemovableHandle:
    """Put `hook` into `table`, after the others (before them with `prepend`), marked in each of `flags`."""
    key = next(_hook_ids)
    table[key] = hook
    if prepend:
        table.move_to_end(key, last=False)
    for flagged in flags:
        flagged[key] = True
    return RemovableHandle(table, key, flags)


def register_module_forward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call `hook(module, args)` before the forward of every module, before its own pre-hooks; a returned
    value replaces the positional arguments (a value that is not a tuple is wrapped in one)."""
    return add_hook(_global_forward_pre_hooks, hook, False)


def register_module_forward_hook(
    hook: Callable[..., Any], *, with_kwargs: bool = False, always_call: bool = False
) -> RemovableHandle:
    """Call `hook(module, args, output)` (`hook(module, args, kwargs, output)` with `with_kwargs`) after the
    forward of every module, before its own forward hooks; a returned value replaces the output.
    `always_call` runs it also when the call raises."""
    flags = [_global_forward_hooks_with_kwargs] if with_kwargs else []
    if always_call:
        flags.append(_global_forward_hooks_always_called)
    return add_hook(_global_forward_hooks, hook, False, flags)


def register_module_full_backward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """`Module.register_full_backward_pre_hook` for every module, run before the module's own."""
    return add_hook(_global_backward_pre_hooks, hook, False)


def register_module_full_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """`Module.register_full_backward_hook` for every module, run before the module's own."""
    return add_hook(_global_backward_hooks, hook, False)


def register_module_buffer_registration_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call `hook(module, name, buffer)` whenever any module registers a buffer (after the name checks); a
    returned value is registered instead."""
    return add_hook(_global_buffer_registration_hooks, hook, False)


def register_module_module_registration_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call `hook(module, name, submodule)` whenever any module registers a child (also None); a returned
    value is registered instead."""
    return add_hook(_global_module_registration_hooks, hook, False)


def register_module_parameter_registration_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call `hook(module, name, param)` whenever any module registers a parameter (also None); a returned
    value is registered instead."""
    return add_hook(_global_parameter_registration_hooks, hook, False)


def run_registration_hooks(hooks: OrderedDict[int, Callable[..., Any]], module: Module, name: str, value: Any) -> Any:
    """`value` after the global registration `hooks` (each may return a replacement)."""
    for hook in list(hooks.values()):
        output = hook(module, name, value)
        if output is not None:
            value = output
    return value


def has_call_hooks(module: Module) -> bool:
    """Whether calling `module` runs any hook (its own or a global one)."""
    return bool(
        module._forward_pre_hooks
        or module._forward_hooks
        or module._backward_pre_hooks
        or module._backward_hooks
        or _global_forward_pre_hooks
        or _global_forward_hooks
        or _global_backward_pre_hooks
        or _global_backward_hooks
    )


def _forward_hooks(module: Module) -> list[tuple[int, Callable[..., Any]]]:
    return [*_global_forward_hooks.items(), *module._forward_hooks.items()]


def _always_called(module: Module, key: int) -> bool:
    return key in module._forward_hooks_always_called or key in _global_forward_hooks_always_called


def call_with_hooks(module: Module, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`module.forward(*args, **kwargs)` between the global and the module's hooks, in torch's order
    (global ones first): forward pre-hooks (which may replace the arguments), the inputs joined for backward
    hooks, forward, forward hooks (which may replace the output), the outputs joined. When any of it raises,
    the `always_call` forward hooks that did not run yet run (their own errors become warnings) and the error
    propagates."""
    result = None
    called: set[int] = set()
    try:
        args, kwargs = _run_pre_hooks(module, path, args, kwargs)
        backward = None
        if module._backward_hooks or module._backward_pre_hooks or _global_backward_hooks or _global_backward_pre_hooks:
            backward = BackwardHook(module, path)
            args = backward.setup_inputs(args)
        result = module.forward(*args, **kwargs)
        for key, hook in _forward_hooks(module):
            if _always_called(module, key):
                called.add(key)
            replaced = _run_forward_hook(module, key, hook, args, kwargs, result)
            if replaced is not None:
                _check_output(path, hook, result, replaced)
                result = replaced
        return result if backward is None else backward.setup_outputs(result)
    except Exception:
        for key, hook in _forward_hooks(module):
            if _always_called(module, key) and key not in called:
                try:
                    _run_forward_hook(module, key, hook, args, kwargs, result)
                except Exception as e:
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception that was silenced as "
                        f"another error was raised in forward: {e}",
                        stacklevel=3,
                    )
        raise


def _run_pre_hooks(
    module: Module, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments after the forward pre-hooks: `hook(module, args)` returns new args (a single value
    is wrapped in a tuple), one registered `with_kwargs` returns `(args, kwargs)`; None keeps them."""
    for key, hook in [*_global_forward_pre_hooks.items(), *module._forward_pre_hooks.items()]:
        if key in module._forward_pre_hooks_with_kwargs:
            result = hook(module, args, kwargs)
            if result is None:
                continue
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(
                    f"forward pre-hook {hook_name(hook)!r} of {path} must return None or a tuple of "
                    f"(new_args, new_kwargs), but got {short_repr(result)}."
                )
            args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    return args, kwargs


def _run_forward_hook(
    module: Module, key: int, hook: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> Any:
    if key in module._forward_hooks_with_kwargs or key in _global_forward_hooks_with_kwargs:
        return hook(module, args, kwargs, result)
    return hook(module, args, result)


def _check_output(path: str, hook: Callable[..., Any], out: Any, replaced: Any) -> None:
    """A forward hook may replace a tensor output only by a tensor (a number would break what follows)."""
    if isinstance(out, (Variable, torch.Tensor)) and not isinstance(replaced, (Variable, torch.Tensor)):
        raise TypeError(
            f"forward hook {hook_name(hook)!r} of {path} returned {type(replaced).__name__!r} "
            f"({short_repr(replaced)}) in place of the output, a {type(out).__name__}: return the "
            "output to use instead (a Variable or tensor), or None to keep it"
        )


class _Joined:
    """Where `join_requiring_grad` put the Variables that require grad among some items (at `positions`):
    under one graph node, whose gradient is complete once all of theirs are. One Variable is joined by an
    `alias`; several are flattened into one (a copy, in their promoted dtype), and each goes on as a view of
    its part. Only shapes are kept, not tensors. `arrived` (when `tracked`) holds the parts that a gradient
    reached since the node's hook last ran."""

    def __init__(self, parts: Sequence[Variable], positions: list[int], track: bool) -> None:
        self.positions = positions
        self.like = [(p.shape, p.dtype, p.device) for p in parts]
        self.dtype = functools.reduce(torch.promote_types, (p.dtype for p in parts))
        self.device = parts[0].device
        self.tracked = track and len(parts) > 1  # (one part: its node's hook running says it arrived)
        self.arrived: set[int] = set()

    def split(self, whole: Any) -> list[Any]:
        """Each part of `whole` (the joined Variable, or its gradient), in its own shape, dtype and device."""
        if len(self.like) == 1:
            return [whole]
        out, start = [], 0
        for shape, dtype, device in self.like:
            size = shape.numel()
            out.append(whole[start : start + size].reshape(shape).to(device, dtype))
            start += size
        return out

    def join(self, grads: Sequence[Any]) -> Any:
        """One gradient for the joined node from a gradient (or None: zeros) per part."""
        filled = [torch.zeros(s, dtype=d, device=v) if g is None else g for g, (s, d, v) in zip(grads, self.like)]
        if len(filled) == 1:
            return filled[0]
        return ag.cat([g.reshape(-1).to(self.device, self.dtype) for g in filled])

    def spread(self, grads: Sequence[Any], size: int) -> list[Any]:
        """A list of `size` with each part's gradient at its position (None elsewhere, and for parts that
        no gradient reached when arrivals are tracked)."""
        out: list[Any] = [None] * size
        for j, (i, g) in enumerate(zip(self.positions, grads)):
            out[i] = None if self.tracked and j not in self.arrived else g
        self.arrived.clear()
        return out


def join_requiring_grad(
    items: Sequence[Any], hook: Callable[[Any], Any], track: bool = False
) -> tuple[_Joined | None, list[Any]]:
    """Join the Variables among `items` that require grad under one node that calls `hook(grad)` (see
    `_Joined`); returns where they are and `items` with each of them replaced by its part. Nothing is joined
    (None) when none requires grad or grad mode is off."""
    positions = [i for i, a in enumerate(items) if isinstance(a, Variable) and a.requires_grad]
    if not positions or not (ag.is_grad_enabled() and torch.is_grad_enabled()):
        return None, list(items)
    parts = [items[i] for i in positions]
    joined = _Joined(parts, positions, track)
    if len(parts) == 1:
        node = ops.alias(parts[0])
        parts = [node]
    else:
        node = ag.cat([p.reshape(-1).to(joined.device, joined.dtype) for p in parts])
        parts = joined.split(node)
        if joined.tracked:
            for j, part in enumerate(parts):
                part.register_hook(functools.partial(_arrive, joined.arrived, j))
    node.register_hook(hook)
    out = list(items)
    for i, part in zip(positions, parts):
        out[i] = part
    return joined, out


def _arrive(arrived: set[int], j: int, grad: Any) -> None:
    arrived.add(j)


class BackwardHook:
    """One call's full backward hooks, as torch.utils.hooks.BackwardHook: once the gradients of the
    outputs are known, the pre-hooks see them (`hook(module, grad_output)`, may return replacements); once
    those of the inputs are, the hooks see both (`hook(module, grad_input, grad_output)`, may return new
    grad_input). The hooks registered when the module was called are the ones that run, global ones first."""

    def __init__(self, module: Module, path: str) -> None:
        self.module, self.path = module, path
        self.hooks = [*_global_backward_hooks.values(), *module._backward_hooks.values()]
        self.pre_hooks = [*_global_backward_pre_hooks.values(), *module._backward_pre_hooks.values()]
        self.inputs: list[tuple[torch.Size, torch.dtype, torch.device] | None] = []  # tensors' (shape, dtype, device)
        self.input_join: _Joined | None = None
        self.output_join: _Joined | None = None
        self.n_outputs = 0
        self.grad_outputs: Sequence[Any] | None = None

    def setup_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        self.inputs = [(a.shape, a.dtype, a.device) if isinstance(a, (Variable, torch.Tensor)) else None for a in args]
        if not self.hooks:  # (pre-hooks alone need nothing at the inputs)
            return args
        self.input_join, joined = join_requiring_grad(args, self._on_inputs)
        return tuple(joined) if self.input_join is not None else args

    def setup_outputs(self, result: Any) -> Any:
        if not isinstance(result, (Variable, torch.Tensor, tuple)):
            warnings.warn(
                "For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                f"but received {type(result)}",
                stacklevel=3,
            )
            return result
        items = result if isinstance(result, tuple) else (result,)
        self.output_join, out = join_requiring_grad(items, self._on_outputs, track=True)
        if self.output_join is None:
            return result
        self.n_outputs = len(items)
        if not isinstance(result, tuple):
            return out[0]
        return tuple(out) if type(result) is tuple else type(result)(*out)

    def _on_outputs(self, grad: Any) -> Any:
        """The outputs' gradients are complete: run the pre-hooks (and, when no input requires grad, the
        hooks, with grad_input all None); return the replaced gradient, or None to keep it."""
        joined = self.output_join
        assert joined is not None
        grad_outputs: Sequence[Any] = tuple(joined.spread(joined.split(grad), self.n_outputs))
        replaced = False
        for hook in self.pre_hooks:
            result = hook(self.module, grad_outputs)
            if result is not None:
                grad_outputs = self._checked(hook, result, grad_outputs, joined, "grad_output")
                replaced = True
        self.grad_outputs = grad_outputs
        if self.hooks and self.input_join is None:
            self._run_without_inputs(grad_outputs)
        return joined.join([grad_outputs[i] for i in joined.positions]) if replaced else None

    def _run_without_inputs(self, grad_outputs: Sequence[Any]) -> None:
        warnings.warn(
            "Full backward hook is firing when gradients are computed with respect to module outputs since no "
            "inputs require gradients. See https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
            "#torch.nn.Module.register_full_backward_hook for more details.",
            stacklevel=2,
        )
        grad_inputs = (None,) * len(self.inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, grad_outputs)
            if result is not None and not (isinstance(result, tuple) and all(g is None for g in result)):
                raise RuntimeError(
                    f"backward hook {hook_name(hook)!r} of {self.path}: Backward hook for Modules where no input "
                    "requires gradient should always return None or None for all gradients."
                )
        self.grad_outputs = None

    def _on_inputs(self, grad: Any) -> Any:
        """The inputs' gradients are complete: run the hooks (unless this gradient did not come through the
        outputs, as in a double backward); return the replaced gradient, or None to keep it."""
        joined = self.input_join
        if self.grad_outputs is None or joined is None:
            return None
        grad_inputs = joined.spread(joined.split(grad), len(self.inputs))
        for i, like in enumerate(self.inputs):  # tensors that need no gradient get zeros, as in torch
            if grad_inputs[i] is None and like is not None:
                grad_inputs[i] = Variable(torch.zeros(like[0], dtype=like[1], device=like[2]))
        seen: Sequence[Any] = tuple(grad_inputs)
        replaced = False
        for hook in self.hooks:
            result = hook(self.module, seen, self.grad_outputs)
            if result is not None:
                seen = self._checked(hook, result, seen, joined, "grad_input")
                replaced = True
        self.grad_outputs = None
        return joined.join([seen[i] for i in joined.positions]) if replaced else None

    def _checked(
        self, hook: Callable[..., Any], result: Any, before: Sequence[Any], joined: _Joined, what: str
    ) -> Sequence[Any]:
        """A hook's replacement `what` checked as torch checks it: a tuple of the same length, and at each
        joined position None or a gradient of the same shape, dtype and device."""
        kind = "Backward pre hook" if what == "grad_output" else "Backward hook"
        name = f"{kind.lower()} {hook_name(hook)!r} of {self.path}"
        if not isinstance(result, (tuple, list)):
            raise TypeError(
                f"{name} returned {type(result).__name__!r} ({short_repr(result)}): it must return None or a "
                f"tuple of {len(before)} gradients, the new {what}"
            )
        if len(result) != len(before):
            raise RuntimeError(
                f"{name}: {kind} returned an invalid number of {what}, got {len(result)}, but expected {len(before)}"
            )
        for i, (shape, dtype, device) in zip(joined.positions, joined.like):
            g = result[i]
            if g is None:
                continue
            if not isinstance(g, (Variable, torch.Tensor)):
                raise TypeError(f"{name} returned {type(g).__name__!r} as {what}[{i}]: expected a tensor or None")
            if g.shape != shape:
                raise RuntimeError(
                    f"{name} has changed the size of {what}[{i}]: got {tuple(g.shape)}, expected {tuple(shape)}"
                )
            if g.dtype != dtype or g.device != device:
                raise RuntimeError(
                    f"{name} has changed the type of {what}[{i}]: got {g.dtype} on {g.device}, expected {dtype} "
                    f"on {device}"
                )
        return result
