"""Gradient checkpointing: keep a function's inputs instead of its intermediates, and run its forward
again during backward.

`checkpoint(fn, *args)` records one node. Its VJP recomputes `fn` with recording on and runs a
nested reverse pass through that fresh graph: gradients flow to the inputs and, as in torch's
reentrant checkpoint, into `.grad` of the parameters `fn` uses. An empty anchor input that requires
grad makes sure the node is recorded (and recomputed) even when only those parameters need gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .backward import run
from .grad_mode import enable_grad, no_grad
from .primitive import primitive
from .variable import Variable


@primitive(saves="xs")
def checkpoint_call(anchor: Any, *xs: Any, fn: Callable[..., Any], cache: dict[str, Any]) -> torch.Tensor:
    """fn(*xs) computed without keeping its graph (see `checkpoint`)."""
    with no_grad():
        out = fn(*[Variable(x) if isinstance(x, torch.Tensor) else x for x in xs])
    if not isinstance(out, Variable):
        raise TypeError(f"checkpoint: fn must return one Variable, got {type(out).__name__}")
    return out.data


def _recompute(i: int, g: Any, ans: Any, anchor: Any, *xs: Any, fn: Callable[..., Any], cache: dict[str, Any]) -> Any:
    if isinstance(g, Variable):
        raise RuntimeError(
            "checkpoint: backward(create_graph=True) through a checkpoint is not supported; call the "
            "function directly where higher-order gradients are needed"
        )
    if cache.get("for") is not g:  # the first VJP of this node in this backward recomputes once for all
        with enable_grad():
            inputs = [
                Variable(x, requires_grad=wanted) if isinstance(x, torch.Tensor) else x
                for x, wanted in zip(xs, cache["requires_grad"])
            ]
            out = fn(*inputs)
            targets = [v for v in inputs if isinstance(v, Variable) and v.requires_grad]
            found = [None] * len(targets)
            if out.requires_grad:  # keep the output's node but not its values while backward runs
                seed = Variable._wrap(out.data.new_zeros(()).expand(out.shape), out.node)
                del out
                found = run(
                    [seed],
                    [g],
                    [v._grad_node() for v in targets],
                    retain_graph=False,
                    create_graph=False,
                    accumulate=True,
                )
        by_input = dict(zip(map(id, targets), found))
        cache["for"] = g
        cache["grads"] = [by_input.get(id(v)) for v in inputs]
    if i == 0:
        return torch.zeros(anchor.shape, dtype=anchor.dtype, device=anchor.device)
    found = cache["grads"][i - 1]
    return found if found is not None else torch.zeros_like(xs[i - 1])


checkpoint_call.defvjp_argnum(_recompute)


def checkpoint(fn: Callable[..., Variable], *args: Any) -> Variable:
    """fn(*args), recomputed during backward instead of keeping its intermediates (less memory, one more
    forward). `fn` must return one Variable; backward(create_graph=True) through it is not supported."""
    device = next((a.device for a in args if isinstance(a, (Variable, torch.Tensor))), None)
    anchor = Variable(torch.empty(0, device=device), requires_grad=True)
    wanted = [isinstance(a, Variable) and a.requires_grad for a in args]  # recompute gradients for these only
    return checkpoint_call(anchor, *args, fn=fn, cache={"requires_grad": wanted})
