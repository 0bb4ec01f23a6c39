"""A trace made replayable: the kernels its results need, in order, as generated Python.

The replay is straight-line code, one line per kernel (`s7 = f3(s2, c0, alpha=k4)`): slots become local
variables, each deleted after its last use (so a replay holds no more memory than eager execution),
CONST tensors and other arguments are globals of the generated module, and the kernels are pre-bound
callables. No Variables, nodes, dictionaries or topological order: the only work per kernel is the call.

Four functions come out: `enter(L)` checks what the trace relies on (`.grad` bindings, guarded Python
values) and picks the input tensors out of the flat argument leaves `L`; `body(*inputs)` runs the
kernels and returns the results; `finish(L, results)` rebinds `.grad` and builds the return value;
`run(L)` does all three (below the autograd dispatch key, as the trace recorded them). A CUDA graph
captures `body` alone.
"""

from __future__ import annotations

import builtins
import itertools
import math
from collections.abc import Callable
from typing import Any

import torch

from ..pytree import TreeSpec
from ..variable import Variable
from .owners import Path, autograd_state
from .state import Retrace, describe_value
from .tracer import CONST, INPUT, VALUE, Guard, Kernel, Ref, Trace

_BELOW = torch._C._AutoDispatchBelowAutograd  # the level at which the dispatch mode recorded the kernels


def variable(t: torch.Tensor) -> Variable:
    """A plain Variable around a replayed tensor."""
    return Variable._wrap(t, None)


def scalar_input(value: Any) -> torch.Tensor:
    """A number that `ag.compile.scalar` made an input, as the trace got it (anything else: a retrace)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a scalar input is now a {type(value).__name__}")
    return torch.tensor(value, dtype=torch.float64)


def variable_with_grad(t: torch.Tensor, g: torch.Tensor) -> Variable:
    v = Variable._wrap(t, None)
    v.grad = Variable._wrap(g, None)
    return v


class Program:
    """The replay of one trace: `run(L)` on the flat leaves of new arguments of the same signature."""

    def __init__(self, trace: Trace, name: str) -> None:
        self.trace = trace
        self.results = _results(trace)
        self.steps = _live(trace, set(self.results))
        used = {s for step in self.steps for s in step.reads} | set(self.results)
        self.inputs = [(slot, source) for slot, source in trace.inputs if slot in used]
        self.kernels = tuple(str(s.func) for s in self.steps if isinstance(s, Kernel))
        self.guards = [s for s in self.steps if isinstance(s, Guard)]
        self.host_kernels = sorted({str(s.func) for s in self.steps if isinstance(s, Kernel) and s.device == "cpu"})
        positions = {slot: i for i, (slot, _) in enumerate(self.inputs)}
        self.written_inputs = [positions[s] for s in trace.written if trace.kinds[s] == INPUT]
        self.result_inputs = {j: positions[s] for j, s in enumerate(self.results) if trace.kinds[s] == INPUT}
        outputs = {t[1] for t in trace.out_leaves if t[0] in ("tensor", "var")}
        self.result_outputs = [j for j, s in enumerate(self.results) if s in outputs]
        writer = _Writer(trace, self)
        self.source, functions = writer.write(name)
        self.notes = writer.notes  # what each guard's failure means (the number a Retrace carries)
        self.enter: Callable[[list[Any]], tuple[Any, ...]] = functions["enter"]
        self.body: Callable[..., tuple[Any, ...]] = functions["body"]
        self.finish: Callable[[list[Any], tuple[Any, ...]], Any] = functions["finish"]
        self.run: Callable[[list[Any]], Any] = functions["run"]


def _results(trace: Trace) -> list[int]:
    """The INPUT and VALUE slots that the return value and the `.grad` bindings read, in a fixed order."""
    slots = [t[1] for t in trace.out_leaves if t[0] in ("tensor", "var")]
    slots += [t[2] for t in trace.out_leaves if t[0] == "var" and t[2] is not None]
    slots += [s for _, s in trace.bindings if s is not None]
    return [s for s in dict.fromkeys(slots) if trace.kinds[s] != CONST]


def _live(trace: Trace, needed: set[int]) -> list[Kernel | Guard]:
    """The steps a replay must run: guards, kernels with effects (in-place writes, random draws: dropping
    one would change state or the generator's sequence) and whatever makes their inputs or the results."""
    steps = []
    for step in reversed(trace.tape):
        if (
            isinstance(step, Guard)
            or step.effect
            or any(out is not None and out[1] and out[0] in needed for out in step.outs)
        ):
            steps.append(step)
            needed.update(step.reads)
    steps.reverse()
    return steps


class _Writer:
    """Writes the Python source of a program and executes it into functions."""

    def __init__(self, trace: Trace, program: Program) -> None:
        self.trace = trace
        self.program = program
        self.globals: dict[str, Any] = {
            "V": variable,
            "VG": variable_with_grad,
            "SCALAR": scalar_input,
            "AUTOGRAD": autograd_state,
            "RETRACE": Retrace,
            "BELOW": _BELOW,
        }
        self.names: dict[int, str] = {}  # id(object) -> its global's name
        self.counter = itertools.count()
        self.notes: list[str] = ["a container on a path to what the trace read changed"]

    def const(self, obj: Any) -> str:
        """A global holding `obj`, or a literal where Python writes one exactly."""
        if obj is None or type(obj) in (bool, int, str) or (type(obj) is float and math.isfinite(obj)):
            return repr(obj)
        name = self.names.get(id(obj))
        if name is None:
            name = self.names[id(obj)] = f"k{next(self.counter)}"
            self.globals[name] = obj
        return name

    def slot(self, s: int) -> str:
        if self.trace.kinds[s] == CONST:
            return self.const(self.trace.consts[s])
        return f"s{s}"

    def arg(self, a: Any) -> str:
        if isinstance(a, Ref):
            return self.slot(a.slot)
        if isinstance(a, (list, tuple)) and any(isinstance(x, (Ref, list, tuple)) for x in a):
            items = ", ".join(self.arg(x) for x in a)
            return f"[{items}]" if isinstance(a, list) else f"({items},)"
        return self.const(a)

    def call(self, call: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        parts = [self.arg(a) for a in args] + [f"{k}={self.arg(v)}" for k, v in kwargs.items()]
        return f"{self.const(call)}({', '.join(parts)})"

    def write(self, name: str) -> tuple[str, dict[str, Any]]:
        trace, program = self.trace, self.program
        inputs = [f"s{slot}" for slot, _ in program.inputs]
        results = [f"s{s}" for s in program.results]
        lines = [f"# replay of {name}: {len(program.kernels)} kernels", "def enter(L):"]
        lines += self.enter_lines()
        lines.append(f"def body({', '.join(inputs)}):")
        lines += self.body_lines(set(program.results))
        lines.append(f"    return ({''.join(r + ', ' for r in results)})")
        lines.append("def finish(L, r):")
        if results:
            lines.append(f"    {''.join(r + ', ' for r in results)}= r")
        for (kind, target), slot in trace.bindings:
            owner = f"L[{target}]" if kind == "input" else self.const(target)
            lines.append(f"    {owner}.grad = {'None' if slot is None else f'V({self.slot(slot)})'}")
        lines.append(f"    return {self.tree(trace.out_spec, iter(trace.out_leaves))}")
        lines += [
            "def run(L):",
            "    inputs = enter(L)",
            "    with BELOW():",
            "        r = body(*inputs)",
            "    return finish(L, r)",
        ]
        source = "\n".join(lines) + "\n"
        namespace = dict(self.globals)
        exec(builtins.compile(source, f"<ag.compile replay of {name}>", "exec"), namespace)  # noqa: S102
        return source, namespace

    def enter_lines(self) -> list[str]:
        """Check what the trace relied on when it started (the paths to what it read by reference and to the
        Python values beside them, Variables' `requires_grad` and hooks, the `.grad` it found, guarded values)
        and pick the inputs. A path that no longer leads anywhere raises inside: that is a retrace too."""
        trace = self.trace
        lines = ["    try:"]
        steps: dict[tuple[Any, ...], str] = {}
        for path, how, expected, note in trace.checks:
            found = self.follow(path, steps, lines)
            test = {
                "is": f"{found} is not",
                "==": f"{found} !=",
                "len": f"len({found}) !=",
                "autograd": f"AUTOGRAD({found}) !=",
            }[how]
            lines.append(f"        if {test} {self.const(expected)}: raise RETRACE({self.note(note)})")
        for var, was_none in trace.entry_guards:
            note = f"a .grad of {describe_value(var)} that was {'None' if was_none else 'set'} when traced is not"
            test = f"{self.const(var)}.grad is {'not ' if was_none else ''}None"
            lines.append(f"        if {test}: raise RETRACE({self.note(note)})")
        for read, value in trace.python_guards:
            note = f"ag.compile.guard({getattr(read, '__name__', read)}) no longer returns {value!r}"
            lines.append(f"        if {self.const(read)}() != {self.const(value)}: raise RETRACE({self.note(note)})")
        for source, tensor in trace.state_inputs:
            which = self.note(f"an argument that was state fn writes ({describe_value(tensor)}) is another tensor")
            lines.append(f"        if {self.pick(source)} is not {self.const(tensor)}: raise RETRACE({which})")
        picks = "".join(self.pick(source) + ", " for _, source in self.program.inputs)
        lines += [f"        return ({picks})", "    except (LookupError, AttributeError, TypeError, ValueError):"]
        return lines + ["        raise RETRACE(0) from None"]

    def follow(self, path: Path, steps: dict[tuple[Any, ...], str], lines: list[str]) -> str:
        """A local holding where `path` leads, each step computed once for all the paths that share it."""
        start, _, path_steps = path
        found = self.const(start)
        key: tuple[Any, ...] = (id(start),)
        for how, k in path_steps:
            key += ((how, id(k) if how == "item" else k),)
            name = steps.get(key)
            if name is None:
                name = steps[key] = f"g{len(steps)}"
                step = f".{k}" if how == "attr" else f".get({self.const(k)})" if how == "item" else f"[{k}]"
                lines.append(f"        {name} = {found}{step}")
            found = name
        return found

    def note(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes) - 1

    def pick(self, source: tuple[Any, ...]) -> str:
        if source[0] == "grad":
            return f"{self.const(source[1])}.grad.data"
        if source[0] == "scalar":
            return f"SCALAR({self.const(source[1])}{''.join(f'[{self.const(k)}]' for k in source[2])})"
        _, leaf, part = source
        return f"L[{leaf}]" + {"": "", "data": ".data", "grad": ".grad.data"}[part]

    def body_lines(self, results: set[int]) -> list[str]:
        steps = self.program.steps
        last: dict[int, int] = {}
        for i, step in enumerate(steps):
            for s in step.reads:
                last[s] = i
        lines = []
        for i, step in enumerate(steps):
            call = self.call(step.call, step.args, step.kwargs)
            if isinstance(step, Guard):
                note = self.note(f"the value read {step.where} is no longer {step.value!r}")
                lines.append(f"    if {call} != {self.const(step.value)}: raise RETRACE({note})")
            else:
                lines.append(f"    {self.assign(step, last, results)}{call}")
            dead = sorted(
                {s for s in step.reads if last[s] == i and s not in results and self.trace.kinds[s] == VALUE},
            )
            if dead:
                lines.append(f"    del {', '.join(f's{s}' for s in dead)}")
        return lines

    def assign(self, step: Kernel, last: dict[int, int], results: set[int]) -> str:
        """`s5 = `, `s5, _, s7 = `, or nothing (in-place kernels return a tensor that has its slot)."""
        names = []
        for out in step.outs:
            new = out is not None and out[1] and (out[0] in last or out[0] in results)
            names.append(f"s{out[0]}" if new else "_")  # type: ignore[index]
        if not step.multi:
            return f"{names[0]} = " if names and names[0] != "_" else ""
        return f"{', '.join(names)}, = " if names else ""

    def tree(self, spec: TreeSpec, leaves: Any) -> str:
        """Python that builds the return value (as `tree_unflatten` would) from its leaves."""
        if spec is None:
            return self.leaf(next(leaves))
        kind, keys, children = spec
        items = [self.tree(c, leaves) for c in children]
        if kind is tuple:
            return f"({''.join(i + ', ' for i in items)})"
        if kind is list:
            return f"[{', '.join(items)}]"
        if kind is dict:
            return "{" + ", ".join(f"{self.const(k)}: {i}" for k, i in zip(keys, items)) + "}"
        if issubclass(kind, dict):
            pairs = "".join(f"({self.const(k)}, {i}), " for k, i in zip(keys, items))
            return f"{self.const(kind)}(({pairs}))"
        if issubclass(kind, tuple) and hasattr(kind, "_fields"):
            return f"{self.const(kind)}({', '.join(items)})"
        return f"{self.const(kind)}([{', '.join(items)}])"

    def leaf(self, template: tuple[Any, ...]) -> str:
        what = template[0]
        if what == "input":
            return f"L[{template[1]}]"
        if what == "obj":
            return self.const(template[1])
        if what == "tensor":
            return self.slot(template[1])
        grad = template[2]
        if grad is None:
            return f"V({self.slot(template[1])})"
        return f"VG({self.slot(template[1])}, {self.slot(grad)})"
