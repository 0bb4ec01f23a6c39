"""`Module` and `Parameter`: containers of Variables with torch.nn's names, layouts and state dicts."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import torch

from autograd_engine import Variable
from autograd_engine.node import HookHandle
from autograd_engine.primitive import describe, hook_name, short_repr
from autograd_engine.scope import in_module, scope
from autograd_engine.variable import unwrap

_hook_ids = itertools.count()


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


class Module:
    """Base class of layers: parameters and sub-modules are found by attribute assignment, as in torch.

    Calling a module runs `forward` inside a graph scope named after its place in the model
    (`Sequential/0:Conv2d`), which the graph tools use to group nodes.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_label", None)
        object.__setattr__(self, "_forward_hooks", {})
        self.training = True

    # --- registration ------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        params, modules = self._parameters, self._modules
        for table in (params, modules, self.__dict__):
            table.pop(name, None)
        if isinstance(value, Parameter) or (value is None and name in ("bias", "weight")):
            if value is not None and value.name is None:
                value.name = name
            params[name] = value
        elif isinstance(value, Module):
            object.__setattr__(value, "_label", f"{name}:{type(value).__name__}")
            modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        for table in ("_parameters", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

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
                out = self.forward(*args, **kwargs)
            except (RuntimeError, ValueError, TypeError, IndexError) as e:
                named = in_module(e, path, describe([unwrap(a) for a in args]))
                if named is None:
                    raise
                raise named from e
            for hook in list(self._forward_hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    if isinstance(out, (Variable, torch.Tensor)) and not isinstance(result, (Variable, torch.Tensor)):
                        raise TypeError(
                            f"forward hook {hook_name(hook)!r} of {path} returned {type(result).__name__!r} "
                            f"({short_repr(result)}) in place of the output, a {type(out).__name__}: return the "
                            "output to use instead (a Variable or tensor), or None to keep it"
                        )
                    out = result
            return out

    def register_forward_hook(self, hook: Callable[[Module, tuple[Any, ...], Any], Any]) -> HookHandle:
        """Call `hook(module, inputs, output)` after every forward; a returned value replaces the output."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return HookHandle(self._forward_hooks, key)

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    # --- traversal ---------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for path, module in mods:
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{path}.{name}" if path else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse=recurse))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, torch.Tensor]:
        """Parameter tensors under torch.nn's keys ('0.weight', ...): loads into the equal torch model."""
        return OrderedDict((name, p.data) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy tensors into the parameters (in place, keeping device and dtype), as torch.nn does: returns
        the missing and unexpected keys (`strict=False`; with `strict` they raise). Everything is checked
        before anything is copied, so nothing loads on error; the RuntimeError names every bad key."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
        values = {}
        for name, param in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.data if isinstance(value, Variable) else value
            if not isinstance(value, torch.Tensor):
                errors.append(
                    f'While copying the parameter named "{name}", expected torch.Tensor or Tensor-like object '
                    f"from checkpoint but received {type(value)}"
                )
            elif value.shape != param.shape:
                errors.append(
                    f"size mismatch for {name}: copying a param with shape {value.shape} from checkpoint, "
                    f"the shape in current model is {param.shape}."
                )
            else:
                values[name] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for name, value in values.items():
            own[name].data.copy_(value)
        return _IncompatibleKeys(missing, unexpected)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move or cast every parameter (same arguments as torch.Tensor.to); gradients are dropped."""
        for p in self.parameters():
            p.data = p.data.to(*args, **kwargs)
            p.grad = None
            p._node = None  # the cached leaf node describes the old dtype/device
        return self

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

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"
