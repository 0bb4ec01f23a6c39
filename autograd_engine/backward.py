"""The reverse pass: iterative, in topological order, releasing each node as soon as its VJP ran.

Order comes from counting, for every node, the consumers that will send it a gradient (Kahn's
algorithm on the reversed graph, with an explicit stack: no recursion, so 100,000-op chains are
fine). A node runs once all its consumers have; its gradient is then complete.

Without `create_graph` the VJPs run on plain tensors (nothing recorded, nothing wrapped); with it
they run on Variables rebuilt around the saved tensors, so the gradients are differentiable again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from . import anomaly
from .grad_mode import set_grad_enabled
from .node import GraphFreedError, Meta, Node
from .primitive import describe, hook_name, short_repr
from .variable import Variable, lift

GradLike = Variable | torch.Tensor | None


def backward(
    output: Variable, gradient: GradLike = None, retain_graph: bool | None = None, create_graph: bool = False
) -> None:
    """Accumulate d(output)/d(leaf) into `.grad` of every leaf that requires grad.

    `gradient` is the cotangent (required unless `output` has a single element). The graph's saved
    tensors are released afterwards unless `retain_graph` (default: `create_graph`).
    """
    run([output], [gradient], None, retain_graph=retain_graph, create_graph=create_graph)


def gradients(
    outputs: Variable | Sequence[Variable],
    inputs: Variable | Sequence[Variable],
    grad_outputs: GradLike | Sequence[GradLike] = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> tuple[Any, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned instead of accumulated into `.grad`.

    Inputs that the outputs do not depend on get zeros. Only the part of the graph between the
    outputs and the inputs is visited (and released).
    """
    outputs = [outputs] if isinstance(outputs, Variable) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Variable) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Variable, torch.Tensor)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    for x in inputs:
        if not isinstance(x, Variable) or not x.requires_grad:
            raise RuntimeError(f"grad: every input must be a Variable that requires grad, got {_what(x)}")
    targets = [x._grad_node() for x in inputs]
    found = run(outputs, list(grad_outputs), targets, retain_graph=retain_graph, create_graph=create_graph)
    return tuple(_zeros(x, create_graph) if g is None else g for x, g in zip(inputs, found))


def run(
    outputs: Sequence[Any],
    grad_outputs: Sequence[GradLike],
    targets: list[Node] | None,
    *,
    retain_graph: bool | None,
    create_graph: bool,
    accumulate: bool | None = None,
) -> list[Any]:
    """The reverse pass behind `backward` and `grad`: returns the gradients of `targets` (which do not
    accumulate into `.grad`). Other leaves accumulate into `.grad` when `accumulate` (default: when no
    targets are given); without it only the part of the graph that leads to the targets is visited."""
    if accumulate is None:
        accumulate = targets is None
    if retain_graph is None:
        retain_graph = create_graph
    if len(outputs) != len(grad_outputs):
        raise ValueError(f"backward: got {len(outputs)} outputs but {len(grad_outputs)} gradients")
    grads: dict[Node, Any] = {}
    for out, g in zip(outputs, grad_outputs):
        if not isinstance(out, Variable) or not out.requires_grad:
            raise RuntimeError(f"backward: {_what(out)} does not require grad, so it has no graph to differentiate")
        node = out._grad_node()
        g = _seed(out, g, create_graph)
        grads[node] = grads[node] + g if node in grads else g

    relevant = None if accumulate else _leading_to(grads, set(targets or ()))
    pending = _count_consumers(grads, relevant)
    wanted = {} if targets is None else {n: None for n in targets}
    ready = [n for n in grads if n not in pending and (relevant is None or n in relevant)]
    check_anomaly = anomaly.is_anomaly_enabled()
    _callbacks.stack.append([])
    try:
        _reverse(
            ready,
            grads,
            pending,
            wanted,
            accumulate=accumulate,
            retain_graph=retain_graph,
            create_graph=create_graph,
            check_anomaly=check_anomaly,
        )
    finally:
        queued = _callbacks.stack.pop()
    for callback in queued:
        callback()
    return [wanted[n] for n in targets] if targets is not None else []


class _Callbacks(threading.local):
    def __init__(self) -> None:
        self.stack: list[list[Callable[[], None]]] = []


_callbacks = _Callbacks()


def queue_callback(callback: Callable[[], None]) -> None:
    """Run `callback()` once the reverse pass now running has finished (for hooks that need every
    gradient of the pass, such as data-parallel gradient reduction)."""
    if not _callbacks.stack:
        raise RuntimeError("queue_callback: no backward pass is running in this thread")
    _callbacks.stack[-1].append(callback)


def _reverse(
    ready: list[Node],
    grads: dict[Node, Any],
    pending: dict[Node, int],
    wanted: dict[Node, Any],
    *,
    accumulate: bool,
    retain_graph: bool,
    create_graph: bool,
    check_anomaly: bool,
) -> None:
    """Process nodes in reverse topological order (Kahn's algorithm on the reversed graph)."""
    with set_grad_enabled(create_graph):
        while ready:
            node = ready.pop()
            g = grads.pop(node)
            prim = node.prim
            is_target = node in wanted
            if (prim is None or is_target) and g.device != node.device:
                g = g.to(node.device)  # a CPU scalar used with CUDA tensors: its gradient lives on the CPU
            if node.hooks:
                g = _run_hooks(node, g, create_graph)
            if is_target:
                wanted[node] = g
            if prim is None:
                if accumulate and not is_target:
                    _accumulate(node, g, create_graph)
                continue
            if node.versions:
                node.check_versions()
            args, ans = _vjp_inputs(node) if create_graph else (node.args, node.out)
            vjps, kwargs, joint = prim.vjps, node.kwargs, prim.joint
            joint_grads = None  # a joint VJP's gradients of every input, made for the first input that needs one
            for i, parent in enumerate(node.parents):
                left = pending.get(parent)  # None for constants and parents irrelevant to the targets
                if left is None:
                    continue
                if joint is None:
                    try:
                        gi = vjps[i](g, ans, *args, **kwargs)
                    except (TypeError, AttributeError) as e:
                        raise _vjp_error(node, i, args, e, create_graph) from e
                else:
                    if joint_grads is None:
                        joint_grads = _joint_grads(node, joint, g, ans, args, create_graph)
                    gi = joint_grads[i]
                if gi is None:
                    raise _none_error(node, i)
                if create_graph and not isinstance(gi, Variable):
                    raise TypeError(
                        f"{node.where}: the VJP for input {i} returned a {type(gi).__name__} under create_graph=True: "
                        "it computed outside the engine (a torch function, or .data), so gradients of gradients "
                        "would be silently wrong; write it with primitives (autograd_engine.ops)"
                    )
                if check_anomaly:
                    anomaly.check_backward(node.name, i, gi, args, node.trace)
                expected = args[i]
                if gi.shape != expected.shape:
                    raise RuntimeError(
                        f"{node.where}: the VJP for input {i} returned shape {tuple(gi.shape)}, expected "
                        f"{tuple(expected.shape)}; this is a bug in the primitive's VJP"
                    )
                if gi.dtype != expected.dtype:  # type promotion in the forward: cast back, like torch
                    gi = gi.to(expected.dtype)
                previous = grads.get(parent)
                grads[parent] = gi if previous is None else previous + gi
                if left == 1:
                    del pending[parent]
                    ready.append(parent)
                else:
                    pending[parent] = left - 1
            if not retain_graph:
                node.release()


def _joint_grads(
    node: Node, joint: Callable[..., Any], g: Any, ans: Any, args: Sequence[Any], create_graph: bool
) -> Sequence[Any]:
    """Run a node's joint VJP (once for all its inputs) and check that it returned a gradient per input."""
    try:
        grads = joint(g, ans, *args, **node.kwargs)
    except (TypeError, AttributeError) as e:
        raise _vjp_error(node, None, args, e, create_graph) from e
    if not isinstance(grads, (tuple, list)):
        raise _joint_error(node, joint, TypeError, f"returned a {type(grads).__name__} ({short_repr(grads)})")
    if len(grads) != len(args):
        raise _joint_error(node, joint, RuntimeError, f"returned {len(grads)} values ({describe(grads)})")
    return grads


def _none_error(node: Node, i: int) -> Exception:
    """A VJP returned None for an input that needs a gradient: say what it must return instead."""
    prim = node.prim
    assert prim is not None and node.args is not None
    name = f"input {i}" if prim.inputs is None else f"input {i} ({prim.inputs[i]})"
    if prim.joint is not None:
        return _joint_error(node, prim.joint, TypeError, f"returned None for {name}")
    return TypeError(
        f"{node.where}: the VJP {hook_name(prim.vjps[i])!r} returned None for {name}, which needs a gradient: "
        f"return one of the input's shape ({describe([node.args[i]])}); an input that never has one gets None "
        "in place of its VJP in defvjp [inputs: " + describe(node.args) + "]"
    )


def _joint_error(node: Node, joint: Callable[..., Any], kind: type[Exception], what: str) -> Exception:
    """A joint VJP's result is not one gradient per positional input: say what it must return."""
    prim, args = node.prim, node.args
    assert prim is not None and prim.inputs is not None and args is not None
    inputs = prim.inputs[: len(args)]  # (a call may leave out inputs that have defaults)
    wrt = " ".join(n for n, v in zip(inputs, prim.vjps) if v is not None)
    return kind(
        f"{node.where}: the joint VJP {hook_name(joint)!r} {what}; it must return a tuple of {len(inputs)} "
        f"gradients, one per positional input ({', '.join(inputs)}), each of the input's shape for those "
        f"in wrt={wrt!r} and None for the others [inputs: {describe(args)}]"
    )


def _vjp_error(node: Node, i: int | None, args: Sequence[Any], error: Exception, create_graph: bool) -> Exception:
    """A VJP (input i's, or the joint one when i is None) failed: say what to write when it read an input the
    primitive does not save, or ran torch functions that do not take Variables (VJPs run on Variables under
    create_graph); otherwise name the op the failing VJP belongs to."""
    prim = node.prim
    assert prim is not None
    which = "the joint VJP" if i is None else f"the VJP for input {i}"
    shapes_only = [n for n, a in zip(prim.inputs or (), args) if isinstance(a, Meta)]
    if not shapes_only:
        if create_graph and "Variable" in str(error):
            return TypeError(
                f"{node.where}: {which} failed under create_graph=True ({error}): there it runs on "
                "Variables, so it must be written with primitives (autograd_engine.ops), not torch functions"
            )
        return type(error)(f"{node.where}: {which} failed: {error}")
    saves = " ".join(sorted(set(shapes_only)))
    return TypeError(
        f"{node.where}: {which} failed ({error}); it was given only the shape of "
        f"{', '.join(shapes_only)}, because the primitive does not save {'it' if len(shapes_only) == 1 else 'them'}. "
        f'A VJP that reads an input\'s values must name it: @primitive(saves="{saves}") '
        "(add 'ans' to read the output)"
    )


def _seed(out: Variable, g: GradLike, create_graph: bool) -> Any:
    if g is None:
        if out.numel() != 1:
            raise RuntimeError(
                f"backward: output of shape {tuple(out.shape)} is not a scalar; pass gradient= "
                "(a tensor of that shape) to say which combination of outputs to differentiate"
            )
        return lift(torch.ones_like(out.data), create_graph)
    if tuple(g.shape) != tuple(out.shape):
        raise RuntimeError(f"backward: gradient shape {tuple(g.shape)} does not match output shape {tuple(out.shape)}")
    if create_graph:
        return g if isinstance(g, Variable) else Variable(g.to(out.dtype))
    return (g.data if isinstance(g, Variable) else g).to(out.dtype)


def _zeros(x: Variable, create_graph: bool) -> Any:
    return lift(torch.zeros_like(x.data), create_graph)


def _what(x: Any) -> str:
    if isinstance(x, Variable):
        return f"Variable of shape {tuple(x.shape)} (requires_grad=False)"
    return type(x).__name__


def _check_not_freed(node: Node) -> None:
    if node.prim is not None and node.args is None:
        raise GraphFreedError(
            f"backward: the graph through '{node.name}' (output shape {tuple(node.shape)}) was already freed "
            "by an earlier backward; pass retain_graph=True to that first backward to go through it again"
        )


def _count_consumers(starts: Iterable[Node], relevant: set[Node] | None) -> dict[Node, int]:
    """For every node reachable from `starts`, how many edges will deliver a gradient to it."""
    pending: dict[Node, int] = {}
    stack = [n for n in starts if relevant is None or n in relevant]
    seen = set(stack)
    while stack:
        node = stack.pop()
        _check_not_freed(node)
        for p in node.parents:
            if p is None or (relevant is not None and p not in relevant):
                continue
            count = pending.get(p)
            if count is None:
                pending[p] = 1
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
            else:
                pending[p] = count + 1
    return pending


def _leading_to(starts: Iterable[Node], targets: set[Node]) -> set[Node]:
    """Nodes with a path to some target (iterative post-order DFS): the only ones `grad` must visit."""
    leads: set[Node] = set()
    entered: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(n, False) for n in starts]
    while stack:
        node, done = stack.pop()
        if done:
            if node in targets or any(p in leads for p in node.parents if p is not None):
                leads.add(node)
        elif node not in entered:
            _check_not_freed(node)
            entered.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents if p is not None and p not in entered)
    return leads


def _vjp_inputs(node: Node) -> tuple[tuple[Any, ...], Any]:
    """With create_graph, the VJPs see the saved inputs and output as Variables wired to the graph."""
    args, out = node.args, node.out
    assert args is not None
    lifted = tuple(
        Variable._wrap(a, p) if p is not None and isinstance(a, torch.Tensor) else a for a, p in zip(args, node.parents)
    )
    return lifted, None if out is None else Variable._wrap(out, node)


def _run_hooks(node: Node, g: Any, create_graph: bool) -> Any:
    """Let each hook see the gradient arriving at `node` (as a Variable) and replace it by returning one."""
    for hook in list(node.hooks or ()):
        result = hook(g if create_graph else Variable(g))
        if result is None:
            continue
        if not isinstance(result, (Variable, torch.Tensor)):
            raise TypeError(
                f"hook {hook_name(hook)!r} on a {node.where} node returned {type(result).__name__!r} "
                f"({short_repr(result)}): expected a Variable or tensor (the gradient to use instead, shape "
                f"{tuple(node.shape)}) or None (keep the gradient)"
            )
        if tuple(result.shape) != tuple(node.shape):
            raise RuntimeError(
                f"hook {hook_name(hook)!r} on a {node.where} node returned a gradient of "
                f"shape {tuple(result.shape)}, expected {tuple(node.shape)}"
            )
        if create_graph:
            g = result if isinstance(result, Variable) else Variable(result)
        else:
            g = result.data if isinstance(result, Variable) else result
    return g


_accumulating = threading.Lock()
"""Held while a gradient is added into a `.grad`: threads that run backward through a shared parameter
at the same time would otherwise both find `.grad` unset, or overlap their in-place adds, and lose
one gradient. One lock for all: it is taken once per leaf and pass, and held only for the add."""


grad_written: Callable[[Variable], None] | None = None
"""Set by `ag.compile` while it traces (in any thread): told of each Variable before its `.grad` is
written here, so that a replay can rebind `.grad` to the replayed gradient."""


def accumulate_into(var: Variable, g: Any, create_graph: bool) -> None:
    """Add `g` into `var.grad`, like torch: in place when no graph is involved."""
    if grad_written is not None:
        grad_written(var)
    with _accumulating:
        if create_graph:
            var.grad = g if var.grad is None else var.grad + g
        elif var.grad is None:
            var.grad = Variable(g.clone())  # never alias a tensor that another gradient may share
        elif var.grad.requires_grad:
            var.grad = Variable(var.grad.data + g)
        else:
            var.grad.data.add_(g)


def _accumulate(node: Node, g: Any, create_graph: bool) -> None:
    """Add `g` into the leaf's `.grad`, like torch: in place when no graph is involved."""
    var = node.variable() if node.variable is not None else None
    if var is not None:
        accumulate_into(var, g, create_graph)
