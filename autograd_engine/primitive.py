"""`Primitive`: an op with a forward on torch tensors and one vector-Jacobian product per input.

Calling a primitive on Variables runs the forward and, while grad mode is on and some input
requires grad, records a `Node`. Called on plain tensors it is just the forward; backward relies on
this to run VJPs on raw tensors at torch speed unless `create_graph=True` asks for a graph of them.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Container, Sequence
from typing import Any

import torch

from . import anomaly
from .constants import numbers_as_tensors
from .grad_mode import _mode
from .node import Meta, Node
from .scope import _scopes
from .scope import label as scope_label
from .variable import Variable, add_view

VJP = Callable[..., Any]
_WRAPPED_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)
_NO_KWARGS: dict[str, Any] = {}  # shared by every node recorded without keyword arguments (never mutated)

REGISTRY: dict[str, Primitive] = {}
"""Every primitive by name, built in or user-defined, in definition order: defining one registers it.
The graph tools, `check_primitive` and the docs' derivative table read it. A user primitive whose name
a different primitive already has is registered under `module.name` instead (it keeps its name)."""


class Primitive:
    """A differentiable op: `forward(*args, **kwargs)` on tensors plus VJPs `vjp(g, ans, *args, **kwargs)`.

    `saves` names (space separated) the forward's parameters whose tensors the VJPs read, and `ans` if
    they read the output; a dict instead says it per input (`{"x": "y", "y": "x"}`: the VJP for x reads
    y, the one for y reads x), so only what the inputs that require grad need is kept. Everything else
    is kept as a `Meta` (shape, dtype, device): backward holds no more memory than it needs, and
    in-place edits of what it does need are caught. `numbers_as_tensors` (binary ops whose kernel gives
    the same bits either way) passes a Python number as a cached 0-dim tensor: see `constants`.
    `residuals` names (space separated) extra results that the forward returns after its output, as a
    tuple `(output, *residuals)` even for one: a fused kernel's by-products that its backward kernel reads
    (attention's log-sum-exp), kept by the node and passed to the VJPs as keyword arguments, as the
    residuals of `jax.custom_vjp`; so a residual may not share a name with a parameter of the forward.
    `view` marks a forward that may return a view of its first input, as torch's view ops (reshape,
    slicing, transposes): a Variable it returns remembers its base, so that in place writes to it reach
    the base, as they do through torch's shared storage.
    """

    __slots__ = (
        "name",
        "forward",
        "vjps",
        "saved_args",
        "saves_out",
        "needs",
        "plans",
        "numbers_as_tensors",
        "residuals",
        "joint",
        "inputs",
        "view",
    )

    def __init__(
        self,
        forward: Callable[..., Any],
        saves: str | dict[str, str] = "",
        numbers_as_tensors: bool = False,
        residuals: str = "",
        view: bool = False,
    ) -> None:
        self.name = forward.__name__
        self.forward = forward
        self.numbers_as_tensors = numbers_as_tensors
        self.view = view
        self.vjps: Sequence[VJP | None] = _NoVJPs(self.name)
        self.joint: VJP | None = None
        signature = inspect.signature(forward)
        self.residuals = self._residual_names(residuals, signature)
        params = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        names = [p.name for p in params]
        variadic = next((i for i, p in enumerate(params) if p.kind == p.VAR_POSITIONAL), None)

        def indices(spec: str) -> tuple[Container[int], bool]:
            unknown = set(spec.split()) - set(names) - {"ans"}
            if unknown:
                raise ValueError(f"primitive {self.name}: saves names unknown parameters {sorted(unknown)}")
            if variadic is not None and names[variadic] in spec.split():  # *args saved: every input from there on
                return range(variadic, sys.maxsize), "ans" in spec.split()
            return frozenset(i for i, n in enumerate(names) if n in spec.split()), "ans" in spec.split()

        if not isinstance(saves, dict):
            self._names("saves", saves)
        specs = saves if isinstance(saves, dict) else {}
        if set(specs) - set(names):
            raise ValueError(
                f"primitive {self.name}: saves has entries for unknown inputs {sorted(set(specs) - set(names))}"
            )
        self.needs = tuple(indices(specs.get(n, "")) for n in names) if specs else None
        self.saved_args, self.saves_out = indices(" ".join(specs.values()) if specs else saves)
        self.plans: dict[int, tuple[Container[int], bool]] = {}  # what to keep, by which inputs need grad
        self.inputs = tuple(names) if variadic is None else None
        _register(self)

    def _names(self, option: str, value: Any) -> list[str]:
        """The names in a space-separated option (`saves=`, `residuals=`, `wrt=`); a list or tuple of names is
        refused with the string to write instead."""
        if not isinstance(value, str):
            example = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else "x y"
            raise TypeError(
                f"primitive {self.name}: {option}= takes names separated by spaces, as {option}={example!r}; "
                f"got a {type(value).__name__}"
            )
        return value.split()

    def _residual_names(self, residuals: str, signature: inspect.Signature) -> tuple[str, ...]:
        """`residuals=` checked: each residual reaches the VJPs as a keyword argument, so a name shared with
        a parameter of the forward (or another residual) would silently replace that argument there."""
        names = self._names("residuals", residuals)
        clash = [n for n in names if n in signature.parameters]
        if clash:
            raise ValueError(
                f"primitive {self.name}: residual {clash[0]!r} has the name of the forward's parameter {clash[0]!r} "
                f"in {self.name}{signature}; the VJPs get both as keyword arguments: rename the residual"
            )
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"primitive {self.name}: residuals={residuals!r} names {', '.join(twice)} twice")
        return tuple(names)

    def _check_takes_residuals(self, vjp: Callable[..., Any]) -> None:
        """A VJP must take every residual as a keyword argument (backward passes them so): say so now, not
        when backward first runs."""
        if not self.residuals:
            return
        try:
            params = inspect.signature(vjp).parameters.values()
        except (TypeError, ValueError):  # a callable without a signature to read: backward will tell
            return
        if any(p.kind == p.VAR_KEYWORD for p in params):
            return
        takes = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        missing = [n for n in self.residuals if n not in takes]
        if missing:
            inputs = ", ".join(self.inputs) if self.inputs is not None else "*args"
            raise TypeError(
                f"primitive {self.name}: its residuals reach the VJPs as keyword arguments, but VJP "
                f"{hook_name(vjp)!r} does not take {', '.join(missing)}: "
                f"write it as def vjp(g, ans, {inputs}, *, {', '.join(self.residuals)}, ...)"
            )

    @property
    def builtin(self) -> bool:
        """Defined inside autograd_engine (the docs' table lists these)."""
        return self.forward.__module__.startswith("autograd_engine.")

    def defvjp(self, *vjps: VJP | None) -> Primitive:
        """One VJP per positional input (None where the input is not differentiable)."""
        if self.inputs is None:
            raise TypeError(f"primitive {self.name} takes *args: define its VJPs with defvjp_argnum(vjp)")
        if len(vjps) != len(self.inputs):
            raise TypeError(
                f"primitive {self.name} has {len(self.inputs)} positional inputs ({', '.join(self.inputs)}) "
                f"but defvjp got {len(vjps)} VJPs: give one per input, None for an input with no gradient"
            )
        for vjp in vjps:
            if vjp is not None:
                self._check_takes_residuals(vjp)
        self.vjps, self.joint = vjps, None  # (replaces a joint VJP defined before)
        return self

    def defvjp_argnum(self, vjp: Callable[..., Any]) -> Primitive:
        """One VJP for every input of a variadic primitive, called as `vjp(argnum, g, ans, *args)`."""
        self._check_takes_residuals(vjp)
        self.vjps, self.joint = _ArgnumVJPs(vjp), None
        return self

    def defvjp_joint(self, vjp: VJP, wrt: str) -> Primitive:
        """One VJP for the inputs named in `wrt` at once, `vjp(g, ans, *args, **kwargs)` returning a gradient
        per positional input (None for the others): for a fused backward kernel that computes them all in
        one call, which backward then makes once per node. `vjps[i]` picks input i's gradient from it.
        Replaces the VJPs defined before (as `defvjp` replaces a joint VJP)."""
        if self.inputs is None:
            raise TypeError(f"primitive {self.name} takes *args: joint VJPs need named inputs")
        names = self._names("wrt", wrt)
        unknown = set(names) - set(self.inputs)
        if unknown:
            raise ValueError(f"primitive {self.name}: defvjp_joint names unknown inputs {sorted(unknown)}")
        if not names:
            raise ValueError(
                f"primitive {self.name}: defvjp_joint got wrt={wrt!r}: name the inputs that the VJP returns "
                f"gradients for, among {' '.join(self.inputs)}"
            )
        self._check_takes_residuals(vjp)
        self.joint = vjp
        self.vjps = tuple(_Pick(vjp, i) if name in names else None for i, name in enumerate(self.inputs))
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raw: Any = args  # the inputs as the forward takes them: tensors, not Variables
        record = None  # None: no Variable among the inputs, so plain tensors in and out
        for i, a in enumerate(args):
            if isinstance(a, Variable):
                if record is None:
                    raw, record = list(args), False
                raw[i] = a.data
                record = record or a._requires_grad
        if self.numbers_as_tensors:
            raw = numbers_as_tensors(raw)
        try:
            out = self.forward(*raw, **kwargs)
        except _WRAPPED_ERRORS as e:
            where = scope_label(self.name, _scopes.path)
            raise type(e)(f"{where}: {e} [inputs: {describe(raw, kwargs)}]") from e
        if self.residuals:
            out, *extra = self._split_residuals(out, raw, kwargs)
            if record:
                kwargs = {**kwargs, **dict(zip(self.residuals, extra))}
        if record is None:
            return out
        if out.requires_grad:  # a constant tensor tracked by torch autograd must not pull it in
            out = out.detach()
        trace = None  # where user code ran the op, in anomaly mode only (read once: a thread-local costs)
        if _mode.anomaly:
            trace = anomaly.user_frame()
            anomaly.check_forward(self.name, raw, out, trace)
        result = object.__new__(Variable)  # Variable._wrap, inlined: this is the hottest path
        result.data, result.grad, result.name = out, None, None
        if record and _mode.enabled and torch.is_grad_enabled():  # torch.no_grad() stops recording too
            result._node, result._requires_grad = self._record(args, raw, kwargs, out, trace), True
        else:
            result._node, result._requires_grad = None, False
        if self.view and out._base is not None:  # it shares args[0]'s storage in torch: in place writes reach it
            result._view = (args[0], self, kwargs, None)
            add_view(args[0], result)
        return result

    def _split_residuals(self, result: Any, raw: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        """The forward's result, checked to be `(output, *residuals)`: a bare tensor would unpack along dim 0."""
        if isinstance(result, tuple) and len(result) == 1 + len(self.residuals):
            return result
        expected = f"({', '.join(('output',) + self.residuals)})"
        if isinstance(result, tuple):
            got = f"a tuple of {len(result)}: ({describe(result)})"
        else:
            got = f"a {type(result).__name__} ({describe([result])})"
        error = ValueError if isinstance(result, tuple) else TypeError
        raise error(
            f"{scope_label(self.name, _scopes.path)}: residuals={' '.join(self.residuals)!r}, so the forward must "
            f"return the tuple {expected}; it returned {got} [inputs: {describe(raw, kwargs)}]"
        )

    def _record(
        self, args: tuple[Any, ...], raw: list[Any], kwargs: dict[str, Any], out: torch.Tensor, trace: str | None
    ) -> Node:
        # (counters rather than enumerate, and a growing tuple rather than a list: this runs for every op)
        vjps = self.vjps
        parents: list[Node | None] = []
        grads = 0  # bit i set: input i requires grad
        i = 0
        for a in args:
            if isinstance(a, Variable) and a._requires_grad and vjps[i] is not None:
                parents.append(a._node or a._grad_node())
                grads |= 1 << i
            else:
                parents.append(None)
            i += 1
        plan = self.plans.get(grads)
        if plan is None:
            plan = self.plans[grads] = self._plan(grads)
        saved, keep_out = plan
        versions: tuple[int, ...] = ()
        i = 0
        for r in raw:
            if isinstance(r, torch.Tensor):
                if i in saved:
                    versions += (r._version,)
                else:  # keep only the shape; an op result's node is its Meta
                    p = parents[i]
                    if p is not None and p.prim is not None:
                        raw[i] = p
                    elif isinstance(args[i], (Variable, torch.Tensor)):
                        raw[i] = Meta(r)
                    else:  # a number that the forward took as a cached tensor: keep the number
                        raw[i] = args[i]
            i += 1
        if keep_out:
            versions += (out._version,)
        return Node(
            self,
            tuple(parents),
            tuple(raw),
            kwargs or _NO_KWARGS,
            out if keep_out else None,
            out,
            _scopes.path,
            versions,
            trace,
        )

    def _plan(self, grads: int) -> tuple[Container[int], bool]:
        """What a node keeps when the inputs in bitmask `grads` require grad: only what their VJPs read."""
        if self.needs is None:
            return self.saved_args, self.saves_out
        saved: set[int] = set()
        keep_out = False
        for i, (need, need_out) in enumerate(self.needs):
            if grads >> i & 1:
                saved |= need
                keep_out = keep_out or need_out
        return frozenset(saved), keep_out

    @property
    def doc(self) -> str:
        """The forward's docstring: what the op computes."""
        return self.forward.__doc__ or ""

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def _register(prim: Primitive) -> None:
    key = prim.name
    known = REGISTRY.get(key)
    if known is not None and _origin(known) != _origin(prim):  # (the same definition run again replaces itself)
        key = f"{prim.forward.__module__}.{prim.name}"
    REGISTRY[key] = prim


def _origin(prim: Primitive) -> tuple[str, str]:
    return prim.forward.__module__, prim.forward.__qualname__


class _ArgnumVJPs:
    """Indexable view of a single argnum-style VJP, so variadic primitives look like the others."""

    __slots__ = ("vjp",)

    def __init__(self, vjp: Callable[..., Any]) -> None:
        self.vjp = vjp

    def __getitem__(self, i: int) -> VJP:
        return functools.partial(self.vjp, i)


class _NoVJPs:
    """The VJPs of a primitive that has none defined yet: recording it is an error that says what to write."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, i: int) -> VJP:
        raise NotImplementedError(
            f"primitive {self.name} has no VJP, so it cannot record for backward: define one with "
            f"{self.name}.defvjp(vjp, ...) (one per positional input, None where there is no gradient), "
            f"{self.name}.defvjp_joint(vjp, wrt=...) or {self.name}.defvjp_argnum(vjp)"
        )


class _Pick:
    """Input i's gradient out of a joint VJP (what `vjps[i]` is for a primitive with one)."""

    __slots__ = ("joint", "i")

    def __init__(self, joint: VJP, i: int) -> None:
        self.joint, self.i = joint, i

    @property
    def __name__(self) -> str:
        return self.joint.__name__

    def __call__(self, g: Any, ans: Any, *args: Any, **kwargs: Any) -> Any:
        return self.joint(g, ans, *args, **kwargs)[self.i]


def primitive(
    saves: str | dict[str, str] = "", numbers_as_tensors: bool = False, residuals: str = "", view: bool = False
) -> Callable[[Callable[..., Any]], Primitive]:
    """Decorator: turn a forward function on tensors into a `Primitive` named after it. `view=True`: the
    forward may return a view of its first input (as torch's view ops do), which in-place ops then write
    through (see composites/indexing.in_place)."""
    return lambda forward: Primitive(forward, saves, numbers_as_tensors, residuals, view)


def describe(raw: Sequence[Any], kwargs: dict[str, Any] | None = None) -> str:
    """Short description of op inputs for error messages: shapes, dtypes and devices of tensors."""

    def one(a: Any) -> str:
        if isinstance(a, (torch.Tensor, Meta)):
            return f"{tuple(a.shape)} {str(a.dtype).removeprefix('torch.')} on {a.device}"
        if isinstance(a, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in a):
            return "[" + ", ".join(one(x) for x in a) + "]"
        return short_repr(a)

    parts = [one(a) for a in raw] + [f"{k}={one(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def short_repr(value: Any) -> str:
    """`repr(value)`, cut to 60 characters for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def hook_name(hook: Any) -> str:
    """A hook's name for error messages ('<lambda>' for a lambda, as torch says)."""
    return getattr(hook, "__name__", None) or repr(hook)
