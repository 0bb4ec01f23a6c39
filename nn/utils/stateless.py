"""`functional_call`, as torch.func's: call a Module with some of its parameters and buffers replaced by
given values (tensors or Variables), so that a model is a function of its parameters:

    ag.grad(lambda p: loss(functional_call(model, p, (x,))))(dict(model.named_parameters()))

The values are swapped into the module's tables for the call and the originals put back afterwards, also
when the call raises; what the module assigned meanwhile (an updated buffer) is written back into the
given dict, as torch does. The originals go back in the reverse order of the swap, so that a tensor
tied under two names gets its own back (torch 2.13 leaves the value given for it in the module).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from autograd_engine import Variable

from ..module import Module

__all__ = ["functional_call"]

_MISSING: Any = object()  # a name the module did not have before the swap


def _check_value(value: Any) -> None:
    if value is not _MISSING and value is not None and not isinstance(value, (torch.Tensor, Variable)):
        raise TypeError(f"{value} is not an instance of torch.Tensor")


def _swap(module: Module, name: str, value: Any) -> Any:
    """Put `value` under `name` (dotted) in place of what is there, as torch's NamedMemberAccessor.swap_tensor:
    a parameter's or buffer's slot takes any tensor (`_MISSING` deletes it); anything else is set as an
    attribute. Returns what was there (`_MISSING` for nothing)."""
    _check_value(value)
    path, _, attr = name.rpartition(".")
    owner = _submodule(module, path)
    for table in (owner._parameters, owner._buffers):
        if attr in table:
            old = table[attr]
            if value is _MISSING:
                del table[attr]
            else:
                table[attr] = value
            return old
    old = getattr(owner, attr, _MISSING)
    if old is not _MISSING and old is not None and not isinstance(old, (torch.Tensor, Variable)):
        raise TypeError(f"attribute `{attr}`: {old} is not an instance of torch.Tensor")
    if value is not _MISSING:
        setattr(owner, attr, value)
    elif old is not _MISSING:
        delattr(owner, attr)
    return old


def _submodule(module: Module, path: str) -> Module:
    """The module at dotted `path`, with torch's errors for a step that is missing or not a module."""
    for attr in path.split(".") if path else []:
        try:
            child = getattr(module, attr)
        except AttributeError as e:
            raise AttributeError(f"{module._get_name()} has no attribute `{attr}`") from e
        if not isinstance(child, Module):
            raise TypeError(f"submodule `{path}`: {child} is not an instance of torch.nn.Module")
        module = child
    return module


def _named_tensors(module: Module) -> Iterator[tuple[str, Any]]:
    """Every parameter and buffer under each of its names (tied ones too)."""
    yield from module.named_parameters(remove_duplicate=False)
    yield from module.named_buffers(remove_duplicate=False)


def _untie(module: Module, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with each given value also under the other names of a tensor tied to it; ValueError when
    different values are given for names of one tensor (torch's `_untie_named_tensors_map`)."""
    names_of: dict[int, set[str]] = {}
    for name, tensor in _named_tensors(module):
        names_of.setdefault(id(tensor), set()).add(name)
    tied = {name: names for names in names_of.values() if len(names) > 1 for name in names}
    out = dict(values)
    for given in (name for name in values if name in tied):
        names = tied[given]
        if len({id(values[n]) for n in names if n in values}) > 1:
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(names)}, which are tied. "
                "Consider using tie_weights=False"
            )
        out.update(dict.fromkeys(names, values[given]))
    return out


def _check_keys(module: Module, values: Mapping[str, Any]) -> None:
    """torch's `strict` check: every parameter and buffer given, and nothing else."""
    valid = {name for name, _ in _named_tensors(module)}
    missing, unexpected = sorted(valid - set(values)), sorted(set(values) - valid)
    errors = []
    if unexpected:
        errors.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        errors.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if errors:
        raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(errors))


def _swap_all(module: Module, values: Mapping[str, Any]) -> dict[str, Any]:
    """Swap every entry of `values` in; returns the replaced ones. On an error the swapped ones go back."""
    old: dict[str, Any] = {}
    try:
        for name, value in values.items():
            old[name] = _swap(module, name, value)
    except Exception:
        for name, value in old.items():
            _swap(module, name, value)
        raise
    return old


@contextlib.contextmanager
def reparametrized(
    module: Module, parameters_and_buffers: dict[str, Any], tie_weights: bool = False, strict: bool = False
) -> Iterator[None]:
    """Within the block, `module` holds the given values under their dotted names (torch's
    `_reparametrize_module`); afterwards its own again, and the given dict what the module left there."""
    values = _untie(module, parameters_and_buffers) if tie_weights else parameters_and_buffers
    if strict:
        _check_keys(module, values)
    old: dict[str, Any] = {}
    try:
        old = _swap_all(module, values)
        yield
    finally:
        left = _swap_all(module, dict(reversed(old.items())))  # last in, first out: tied names share a slot
        parameters_and_buffers.update({k: left[k] for k in parameters_and_buffers if k in left})


def _merged(dicts: Any) -> dict[str, Any]:
    """One dict from a dict or a sequence of dicts (torch.func's checks: no key in two of them)."""
    if isinstance(dicts, dict):
        return dicts
    if not isinstance(dicts, Sequence):
        raise ValueError(
            f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got {type(dicts)}"
        )
    if not all(isinstance(d, dict) for d in dicts):
        raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
    counts: dict[str, int] = {}
    for key in (k for d in dicts for k in d):
        counts[key] = counts.get(key, 0) + 1
    repeated = [key for key, n in counts.items() if n > 1]
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
    return {k: v for d in dicts for k, v in d.items()}


def functional_call(
    module: Module,
    parameter_and_buffer_dicts: dict[str, Any] | Sequence[dict[str, Any]],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """`module(*args, **kwargs)` with the parameters and buffers named in `parameter_and_buffer_dicts` (a
    dict of dotted names to tensors or Variables, or a sequence of such dicts with distinct keys) in place
    of its own, as `torch.func.functional_call`. `args` that is not a tuple is the single argument.

    `tie_weights`: a value given for one of several names of a tied tensor serves them all (different
    values for them: ValueError). `strict`: every parameter and buffer must be given, and nothing else
    (RuntimeError). A module that assigns a parameter or buffer during the call leaves the new value in the
    given dict (only in a dict given alone, as torch); its own come back in any case.
    """
    values = _merged(parameter_and_buffer_dicts)
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with reparametrized(module, values, tie_weights=tie_weights, strict=strict):
        return module(*args, **(kwargs or {}))
