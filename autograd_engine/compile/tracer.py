"""Recording one call of a function: every ATen kernel it runs, its tensors mapped to slots, and what the
call does besides kernels that a replay must repeat (`.grad` rebinding) or cannot repeat (host reads,
intermediates kept alive after the call).

Two torch modes are active while the call runs. The dispatch mode sees each kernel as an `OpOverload`
with concrete tensors (the engine's forwards, its VJPs, optimizer updates, metric sums alike); the
function mode sees the reads that never reach ATen (`tolist`, `numpy`, printing). A tensor is a slot:
an INPUT (a leaf of the arguments), a CONST (a tensor that existed before the kernel that used it:
parameters, buffers, optimizer state, cached numbers; read by reference at replay, so updates in place
are seen and in-place writes replay into it), or a VALUE (made by a recorded kernel). Slots are found by
the tensor's identity; VALUEs are held weakly, so the call frees memory as it would eagerly, and
whatever is still alive at the end was kept by something: an escape unless it is a result.
"""

from __future__ import annotations

import gc
import os
import sys
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from ..pytree import TreeSpec, tree_flatten
from ..variable import Variable
from . import kernels, state
from .owners import Owners, Path, describe

INPUT, CONST, VALUE = 0, 1, 2


class Ref:
    """A slot inside an argument template."""

    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = slot

    def __repr__(self) -> str:
        return f"Ref({self.slot})"


@dataclass
class Kernel:
    """One recorded ATen call: `outs` holds (slot, new) per output (new False: it returned an existing
    tensor, as in-place kernels do), None for a None output."""

    func: Any
    call: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outs: tuple[tuple[int, bool] | None, ...]
    multi: bool  # returns a tuple or list (unpacked) rather than one tensor
    reads: tuple[int, ...]
    effect: bool  # writes a tensor in place or draws random numbers: never dropped from a replay
    device: str  # device type it ran on


@dataclass
class Guard:
    """A value the call read into Python (a bool or int: a branch, a check): the replay reads it again
    at the same point and retraces when it differs."""

    call: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    value: Any
    where: str
    reads: tuple[int, ...]


Binding = tuple[tuple[str, Any], int | None]
"""A `.grad` to rebind after a replay: (("var", variable) or ("input", leaf index), slot or None)."""

Source = tuple[Any, ...]
"""Where a replay finds an INPUT: ("leaf", i, "" | "data" | "grad") in the arguments, ("grad", variable)
for the `.grad` tensor that a Variable holds when the replay starts, or ("scalar", container, keys) for a
number that `ag.compile.scalar` made an input (read again, as a 0-dim float64 tensor)."""


@dataclass
class Trace:
    """Everything a replay needs, recorded from one call."""

    tape: list[Kernel | Guard]
    kinds: list[int]
    consts: dict[int, torch.Tensor]
    inputs: list[tuple[int, Source]]
    out_spec: TreeSpec
    out_leaves: list[tuple[Any, ...]]  # ("input", i), ("obj", x), ("tensor", slot), ("var", slot, grad slot | None)
    bindings: list[Binding]
    entry_guards: list[tuple[Variable, bool]]  # (variable, whether its .grad was None when the call started)
    checks: list[tuple[Path, str, Any, str]]  # (path, "is" | "==" | "len" | "autograd", expected, what failing means)
    python_guards: list[tuple[Callable[[], Any], Any]]
    rng_guarded: bool  # a host-read guard follows a random kernel: a failing one must give back the draws
    written: list[int]  # INPUT and CONST slots whose storage the call writes
    state_inputs: list[tuple[Source, torch.Tensor]]  # arguments that were also state fn writes: replays need them
    devices: set[torch.device] = field(default_factory=set)


@dataclass
class Rejected:
    """Why this call's trace cannot be replayed; `retry`: a later call may trace fine (state created on
    the first call, gradients seen for the first time), `learned` the Variables whose `.grad` it wrote."""

    reason: str
    retry: bool
    learned: list[Variable] = field(default_factory=list)


class Tracer:
    """Records one call (a context manager around it); `finish(result)` gives a `Trace` or `Rejected`."""

    def __init__(self, leaves: list[Any], known: list[Variable], owners: Owners) -> None:
        self.slots: list[Any] = []  # tensor (INPUT, CONST) or weak reference (VALUE), by slot
        self.kinds: list[int] = []
        self.ids: dict[int, tuple[int, weakref.ref[torch.Tensor]]] = {}
        self.made_by: dict[int, str] = {}
        self.tape: list[Kernel | Guard] = []
        self.inputs: list[tuple[int, Source]] = []
        self.external: set[int] = set()  # storages of INPUT and CONST slots
        self.written: set[int] = set()  # storages written in place
        self.devices: set[torch.device] = set()
        self.leaves = leaves
        self.input_ids = {id(x): i for i, x in enumerate(leaves)}
        self.input_grads: dict[int, Any] = {}
        self.owners = owners
        self.known = {id(v): (v, v.grad) for v in known + owners.variables()}  # .grad at the start, where known
        self.touched: dict[int, tuple[weakref.ref[Variable], Any]] = {}
        self.python_guards: list[tuple[Callable[[], Any], Any]] = []
        self.scalars: list[tuple[Any, Any, Any, Any, Any]] = []  # (container, value's parent, key, value, owner)
        self.exposed: set[int] = set()  # owners whose containers other code got hold of (`ag.compile.exposed`)
        self.problem: str | None = None
        self.dirty: str | None = None  # the first in-place write to an INPUT or CONST
        self.random = False
        self.rng_guarded = False
        for i, x in enumerate(leaves):
            if isinstance(x, Variable):
                self._input(x.data, ("leaf", i, "data"))
                if x.requires_grad and x.grad is not None:
                    self.input_grads[i] = x.grad
                    self._input(x.grad.data, ("leaf", i, "grad"))
            elif isinstance(x, torch.Tensor):
                self._input(x, ("leaf", i, ""))
        for v, grad in self.known.values():
            if grad is not None and id(v) not in self.input_ids:
                self._input(grad.data, ("grad", v))
        self._modes = (_Reads(self), _Kernels(self))

    def __enter__(self) -> Tracer:
        state.push(self)
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            for mode in reversed(self._modes):
                mode.__exit__(*exc)
        finally:
            state.pop(self)

    # --- slots ----------------------------------------------------------------------------------
    def _new(self, t: torch.Tensor, kind: int) -> int:
        slot = len(self.kinds)
        self.kinds.append(kind)
        self.slots.append(weakref.ref(t) if kind == VALUE else t)
        self.ids[id(t)] = (slot, weakref.ref(t))
        self.devices.add(t.device)
        if kind != VALUE:
            self.external.add(_storage(t))
        return slot

    def _input(self, t: torch.Tensor, source: Source) -> None:
        if self.find(t) is None:  # (the same tensor twice: one slot; the signature records the aliasing)
            self.inputs.append((self._new(t, INPUT), source))

    def find(self, t: torch.Tensor) -> int | None:
        """The slot of tensor `t`, if it has one."""
        known = self.ids.get(id(t))
        return known[0] if known is not None and known[1]() is t else None

    def _slot(self, t: torch.Tensor) -> int:
        """The slot of an argument: a tensor seen for the first time is a CONST, read by reference."""
        slot = self.find(t)
        return self._new(t, CONST) if slot is None else slot

    def _template(self, a: Any, reads: list[int]) -> Any:
        if isinstance(a, torch.Tensor):
            slot = self._slot(a)
            reads.append(slot)
            return Ref(slot)
        if isinstance(a, (list, tuple)):
            items = [self._template(x, reads) for x in a]
            return a if all(i is x for i, x in zip(items, a)) else type(a)(items)
        return a

    def _output(self, t: torch.Tensor | None, func: Any) -> tuple[int, bool] | None:
        if t is None:
            return None
        slot = self.find(t)
        if slot is not None:
            return slot, False
        slot = self._new(t, VALUE)
        self.made_by[slot] = str(func)
        return slot, True

    # --- what the modes report ------------------------------------------------------------------
    def kernel(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        info = kernels.info(func)
        reads: list[int] = []
        targs = self._template(args, reads)
        tkwargs = {k: self._template(v, reads) for k, v in kwargs.items()}
        if info.written:
            self._note_writes(func, info.written, args, kwargs)
        if isinstance(out, torch.Tensor):
            outs: tuple[tuple[int, bool] | None, ...] = (self._output(out, func),)
            multi, first = False, out
        elif out is None:
            outs, multi, first = (), False, None
        elif isinstance(out, (tuple, list)) and all(o is None or isinstance(o, torch.Tensor) for o in out):
            outs, multi = tuple(self._output(o, func) for o in out), True
            first = next((o for o in out if o is not None), None)
        else:
            self._host_read(kernels.callable_for(func, args, kwargs), targs, tkwargs, out, str(func), reads)
            return
        self.random = self.random or info.random
        if first is None:
            first = next(_tensors(args), None)
        device = first.device.type if first is not None else "cpu"
        call = kernels.callable_for(func, args, kwargs)
        effect = bool(info.written) or info.random
        self.tape.append(Kernel(func, call, targs, tkwargs, outs, multi, tuple(reads), effect, device))
        if kernels.shape_depends_on_values(func, args):  # a replay checks the shape, as a host read
            for o, t in zip(outs, (out,) if not multi else out):
                if o is not None and t is not None:
                    name = f"the shape of what {func} returned, which depends on values"
                    self._host_read(kernels.shape_of, (Ref(o[0]),), {}, list(t.shape), name, [o[0]])

    def python_read(self, func: Any, tensor: torch.Tensor, value: Any) -> None:
        """A read that never reaches ATen (tolist, numpy, printing)."""
        name = f"Tensor.{getattr(func, '__name__', func)}"
        if func is torch.Tensor.tolist and not (tensor.is_floating_point() or tensor.is_complex()):
            reads: list[int] = []
            self._host_read(func, (self._template(tensor, reads),), {}, value, name, reads)
        else:
            printing = func in (torch.Tensor.__repr__, torch.Tensor.__format__)
            self._refuse(f"reads a tensor's values into Python ({name}, {_where()})", printing)

    def python_guard(self, read: Callable[[], Any], value: Any) -> None:
        if isinstance(value, (torch.Tensor, Variable)):
            raise TypeError("ag.compile.guard(read): read() must return a Python value compared with ==, not a tensor")
        self.python_guards.append((read, value))

    def scalar_input(self, tensor: torch.Tensor, container: Any, keys: tuple[Any, ...], value: Any, owner: Any) -> None:
        """`ag.compile.scalar(container, *keys, owner=owner)` returned `tensor` (of `value`): an input every
        replay reads anew."""
        parent = container
        for key in keys[:-1]:
            parent = parent[key]
        self._input(tensor, ("scalar", container, keys))
        self.scalars.append((container, parent, keys[-1], value, owner))

    def exposed_by(self, owner: Any) -> None:
        self.exposed.add(id(owner))

    def grad_touched(self, var: Variable) -> None:
        if id(var) not in self.touched:
            self.touched[id(var)] = (weakref.ref(var), var.grad)

    def _host_read(
        self, call: Any, targs: Any, tkwargs: dict[str, Any], value: Any, name: str, reads: list[int]
    ) -> None:
        where = _where()
        if not isinstance(value, (bool, int, list)):
            self._refuse(
                f"reads a tensor's value into Python as a {type(value).__name__} ({name}, {where}): a replay runs "
                "no Python, so that value would be stale; keep it a tensor (return it, or compute with it; an "
                "optimizer that reads its step count this way steps outside fn: see docs/compile.md)"
            )
        elif self.dirty is not None:
            self._refuse(
                f"reads a tensor's value into Python ({name}, {where}) after it updated a tensor it did not make "
                f"({self.dirty}); a replay checks such reads and must be able to start over when one differs, so "
                "read before updating state in place (or outside fn)"
            )
        else:
            self.tape.append(Guard(call, targs, tkwargs, value, where, tuple(reads)))
            self.rng_guarded = self.rng_guarded or self.random

    def _note_writes(
        self, func: Any, written: tuple[tuple[int, str], ...], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        for index, name in written:
            target = args[index] if index < len(args) else kwargs.get(name)
            for t in _tensors((target,)):
                storage = _storage(t)
                self.written.add(storage)
                if self.dirty is None and storage in self.external:
                    self.dirty = f"{func} on a tensor of {state.describe_value(t)}"

    def _refuse(self, reason: str, printing: bool = False) -> None:
        if printing:
            reason += "; print outside fn, or return what to print"
        self.problem = self.problem or reason

    # --- the end of the call --------------------------------------------------------------------
    def finish(self, result: Any) -> Trace | Rejected:
        """What a replay needs, or why there can be none."""
        out_leaves, out_spec = tree_flatten(result)
        templates = [self._result(x) for x in out_leaves]
        if self.problem is not None:
            return Rejected(self.problem, retry=False)
        bindings, entry_guards, learned = self._grads(out_leaves, templates)
        if learned:
            return Rejected(
                "writes the .grad of Variables that it cannot reach (from its closure, the globals it names or its "
                "arguments), new at every call: return them, or keep them where fn reaches them",
                retry=True,
                learned=learned,
            )
        results = [t[1] for t in templates if t[0] in ("tensor", "var")]
        results += [t[2] for t in templates if t[0] == "var" and t[2] is not None]
        results += [slot for _, slot in bindings if slot is not None]
        kept = self.external | {_storage(t) for t in map(self._tensor, results) if t is not None}
        escaped = self._escaped(kept)
        if escaped is not None:
            return Rejected(escaped, retry=True)
        changed = self.owners.changed()
        if changed is not None:
            return Rejected(f"changes Python state that a replay would leave as it is ({changed})", retry=True)
        kinds = self.kinds
        written = [s for s, k in enumerate(kinds) if k != VALUE and _storage(self.slots[s]) in self.written]
        return Trace(
            tape=self.tape,
            kinds=kinds,
            consts={s: t for s, t in enumerate(self.slots) if kinds[s] == CONST},
            inputs=self.inputs,
            out_spec=out_spec,
            out_leaves=templates,
            bindings=bindings,
            entry_guards=entry_guards,
            checks=self._checks(entry_guards, bindings, templates),
            python_guards=self.python_guards,
            rng_guarded=self.rng_guarded,
            written=written,
            state_inputs=self._state_inputs(written),
            devices=self.devices,
        )

    def _state_inputs(self, written: list[int]) -> list[tuple[Source, torch.Tensor]]:
        """The arguments written in place that fn also reaches as its own state (a buffer it closes over,
        passed as well): eagerly the write goes to that state whatever is passed, so a replay is only right
        for this very tensor (another one: a retrace)."""
        found = []
        for slot, source in self.inputs:
            t = self.slots[slot]
            if slot in written and source[0] == "leaf":
                owners = [self.owners.paths(t)]
                if source[2] == "data":
                    owners.append(self.owners.paths(self.leaves[source[1]]))
                if any(not path[1].startswith("argument") for paths in owners for path in paths):
                    found.append((source, t))
        return found

    def _tensor(self, slot: int) -> torch.Tensor | None:
        held = self.slots[slot]
        return held() if self.kinds[slot] == VALUE else held

    def _result(self, x: Any) -> tuple[Any, ...]:
        """How a replay rebuilds one leaf of the result."""
        i = self.input_ids.get(id(x))
        if i is not None:
            return ("input", i)
        if isinstance(x, Variable):
            node = x._node
            if node is not None and node.prim is not None and node.args is not None:
                self._refuse(
                    f"returns a Variable that is still part of a recorded graph (made by {node.name}): a replay "
                    "returns values, not graphs; run the backward inside fn (loss.backward(), ag.grad), or "
                    "return .detach()"
                )
            slot = self.find(x.data)
            return ("obj", x) if slot is None or self.kinds[slot] == CONST else ("var", slot, None)
        if isinstance(x, torch.Tensor):
            slot = self.find(x)
            return ("obj", x) if slot is None or self.kinds[slot] == CONST else ("tensor", slot)
        return ("obj", x)

    def _grads(
        self, out_leaves: list[Any], templates: list[tuple[Any, ...]]
    ) -> tuple[list[Binding], list[tuple[Variable, bool]], list[Variable]]:
        """`.grad` changes: rebindings for the replay (whether the reverse pass or fn's code made them), the
        entry states the call relied on, and the Variables whose `.grad` the reverse pass wrote but whose
        state at the start of the call is unknown (not reachable from fn: a later trace knows it)."""
        bindings: list[Binding] = []
        entry_guards: list[tuple[Variable, bool]] = []
        learned: list[Variable] = []
        outputs = {id(x): j for j, x in enumerate(out_leaves) if templates[j][0] == "var"}
        changed: dict[int, tuple[Variable | None, Any]] = {i: (v, None) for i, (v, _) in self.known.items()}
        changed.update({i: (ref(), at_write) for i, (ref, at_write) in self.touched.items()})
        for i, (var, at_write) in changed.items():
            if var is None:
                continue
            end = var.grad
            j = outputs.get(id(var))
            if j is not None:
                templates[j] = templates[j][:2] + (None if end is None else self._bound(end.data),)
                continue
            leaf = self.input_ids.get(id(var))
            target: tuple[str, Any]
            if leaf is not None:
                target, before = ("input", leaf), self.input_grads.get(leaf)
            elif i in self.known:
                target, before = ("var", var), self.known[i][1]
                if i in self.touched and at_write is before:  # the pass read the state it found: so must a replay
                    entry_guards.append((var, before is None))
            else:
                learned.append(var)
                continue
            if end is not before:
                bindings.append((target, None if end is None else self._bound(end.data)))
        return bindings, entry_guards, learned

    def _checks(
        self, entry_guards: list[tuple[Variable, bool]], bindings: list[Binding], templates: list[tuple[Any, ...]]
    ) -> list[tuple[Path, str, Any, str]]:
        """What a replay checks when it starts: that the paths from fn still lead to every Variable the
        program names or reads the tensor of, to every other CONST, to the containers of its scalar inputs,
        to the same objects the walk did not look into (functions), to equal Python values (but those
        inputs), to dicts, lists and deques of the same length, and to Variables whose `requires_grad` and
        hooks are as they were (but arguments: the signature has theirs, and paths through a `.grad`,
        which may be None). A Variable's tensor is checked on the Variable (`p.data is t`)."""
        named: list[Any] = [var for var, _ in entry_guards] + [t for (kind, t), _ in bindings if kind == "var"]
        named += [source[1] for _, source in self.inputs if source[0] in ("grad", "scalar")]
        owned: list[tuple[Variable, torch.Tensor]] = []
        for slot, kind in enumerate(self.kinds):
            if kind == CONST:
                t = self.slots[slot]
                owner = next((e[0] for e in self.owners.parents.get(id(t), ()) if e[1:3] == ("attr", "data")), None)
                if isinstance(owner, Variable):
                    owned.append((owner, t))
                    named.append(owner)
                else:
                    named.append(t)
        unique = {id(x): x for x in named}
        checks = [
            (path, "is", obj, f"{describe(path)} is another object than when traced")
            for obj in unique.values()
            for path in self.owners.paths(obj)
        ]
        checks += [
            (path, "is", obj, f"{describe(path)} is another object than when traced")
            for path, obj in self.owners.opaque
            if id(obj) not in unique
        ]
        for var, flags in self.owners.autograd:
            if id(var) in self.input_ids:
                continue
            paths = [path for path in self.owners.paths(var) if ("attr", "grad") not in path[2]]
            checks += [
                (path, "autograd", flags, f"{describe(path)}.requires_grad or its gradient hooks changed")
                for path in paths[: 1 if id(var) in unique else None]  # (a named one's other paths lead to it)
            ]
        for v, t in owned:
            name = next((describe(path) for path in self.owners.paths(v)), "a Variable")
            checks.append(((v, name, (("attr", "data"),)), "is", t, f"{name}.data is another tensor than when traced"))
        inputs = self._scalar_inputs(templates)
        checks += [
            (path, "==", v, f"{describe(path)} is no longer {v!r}")
            for path, v, at in self.owners.values
            if at not in inputs
        ]
        checks += [
            (path, "len", n, f"the length of {describe(path)} is no longer {n}") for path, n in self.owners.sizes
        ]
        return checks

    def _scalar_inputs(self, templates: list[tuple[Any, ...]]) -> set[tuple[int, Any]]:
        """Where the values that are inputs of the trace lie (as (id(parent), key)): their checks are dropped,
        except where other code may have read the value too (then a change retraces, as for any value): a
        value that fn also returns; one read with an owner that handed its containers out during the call,
        or whose container fn reaches other than through that owner (an alias of a param group)."""
        returned = {id(t[1]) for t in templates if t[0] == "obj"}
        return {
            (id(parent), key)
            for container, parent, key, value, owner in self.scalars
            if id(value) not in returned
            and (owner is None or (id(owner) not in self.exposed and self.owners.only_through(container, owner)))
        }

    def _bound(self, t: torch.Tensor) -> int:
        slot = self.find(t)
        return self._new(t, CONST) if slot is None else slot

    def _escaped(self, kept: set[int]) -> str | None:
        """A VALUE still alive after the call that is no result: the call stored it somewhere (optimizer
        state created on a first step, a list of losses): a replay would not update it."""
        slot = self._unkept(kept)
        if slot is not None:
            gc.collect(1)  # (young reference cycles that merely wait for the collector)
            slot = self._unkept(kept)
        if slot is None:
            return None
        return (
            f"keeps a tensor it computed ({state.describe_value(self.slots[slot]())}, from {self.made_by[slot]}) "
            "referenced after returning, by something other than its results and gradients (a list, an attribute, "
            "optimizer state): a replay would leave it stale. State created on a first call is fine (the next call "
            "traces again); otherwise return the tensor, or update existing tensors in place"
        )

    def _unkept(self, kept: set[int]) -> int | None:
        for slot, kind in enumerate(self.kinds):
            if kind == VALUE:
                t = self.slots[slot]()
                if t is not None and _storage(t) not in kept:
                    return slot
        return None


class _Kernels(TorchDispatchMode):
    def __init__(self, tracer: Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # (torch would wrap the handler for TorchDynamo, importing it: seconds, and a cost per kernel)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.tracer.kernel(func, args, kwargs, out)
        return out


_READS = {
    torch.Tensor.tolist,
    torch.Tensor.numpy,
    torch.Tensor.__array__,
    torch.Tensor.__repr__,
    torch.Tensor.__format__,
    torch.Tensor.__dlpack__,
    torch.Tensor.__reduce_ex__,
}
"""Tensor methods that hand values to Python without an ATen kernel (item, bool and float do reach ATen)."""


class _Reads(TorchFunctionMode):
    def __init__(self, tracer: Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in _READS:
            self.tracer.python_read(func, args[0], out)
        return out


def _tensors(values: Any) -> Iterator[torch.Tensor]:
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors(v)


def _storage(t: torch.Tensor) -> int:
    """An identity for the memory a tensor lives in (views share it)."""
    try:
        return int(t.untyped_storage()._cdata)
    except (RuntimeError, NotImplementedError):  # (a tensor without storage: sparse, nested)
        return id(t)


_HERE = os.path.dirname(os.path.abspath(__file__))
_TORCH = os.path.dirname(os.path.abspath(torch.__file__))


def _where(depth: int = 3) -> str:
    """The innermost frames outside torch and this package: where user code (or the engine) read a value."""
    frame = sys._getframe(1)
    found: list[str] = []
    while frame is not None and len(found) < depth:
        path = frame.f_code.co_filename
        if not path.startswith((_HERE, _TORCH)):
            short = os.sep.join(path.split(os.sep)[-2:])
            found.append(f"{short}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back  # type: ignore[assignment]
    return "at " + " <- ".join(found) if found else "at an unknown place"
