"""Finite-difference checks of the engine's derivatives, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .composites import cat, reshape
from .grad_mode import no_grad
from .primitive import Primitive
from .transforms import jacobian, vjp
from .variable import Variable


class GradcheckError(AssertionError):
    """Analytic and numerical derivatives disagree."""


def _tensor(x: Any) -> torch.Tensor:
    return x.data if isinstance(x, Variable) else torch.as_tensor(x)


def numerical_jacobian(f: Callable[..., Any], inputs: Sequence[torch.Tensor], eps: float = 1e-6) -> list[torch.Tensor]:
    """Central differences: for each input, d f / d input shaped f.shape + input.shape."""
    jacs = []
    with no_grad():
        out_shape = tuple(_tensor(f(*[Variable(x) for x in inputs])).shape)
        for j, x in enumerate(inputs):
            cols = [
                (_nudged(f, inputs, j, k, eps) - _nudged(f, inputs, j, k, -eps)) / (2 * eps) for k in range(x.numel())
            ]
            stacked = torch.stack(cols, dim=-1) if cols else x.new_zeros(out_shape + (0,))
            jacs.append(stacked.reshape(out_shape + tuple(x.shape)))
    return jacs


def _nudged(f: Callable[..., Any], inputs: Sequence[torch.Tensor], j: int, k: int, delta: float) -> torch.Tensor:
    """f at the inputs with element k of input j moved by delta."""
    moved = inputs[j].clone()
    moved.view(-1)[k] += delta
    return _tensor(f(*[Variable(moved if i == j else x) for i, x in enumerate(inputs)]))


def gradcheck(
    f: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare the engine's Jacobian of `f` at `inputs` (cast to float64) with central differences.

    `f` takes Variables and returns one Variable. Returns True, or raises `GradcheckError` naming the
    input and the worst element (returns False instead when `raise_exception` is False).
    """
    xs = [_tensor(x).detach().to(torch.float64) for x in inputs]
    analytic = jacobian(f, argnums=tuple(range(len(xs))))(*[Variable(x) for x in xs])
    numeric = numerical_jacobian(f, xs, eps)
    for j, (a, n) in enumerate(zip(analytic, numeric)):
        a = _tensor(a)
        if not torch.allclose(a, n, rtol=rtol, atol=atol):
            err = (a - n).abs()
            k = int(err.reshape(-1).argmax())
            message = (
                f"gradcheck: input {j} (shape {tuple(xs[j].shape)}): analytic and numerical Jacobians differ; "
                f"worst entry {k} of {tuple(a.shape)}: analytic {a.reshape(-1)[k].item():.8g}, "
                f"numerical {n.reshape(-1)[k].item():.8g}"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def gradgradcheck(f: Callable[..., Any], inputs: Sequence[Any], *, seed: int = 0, **tolerances: Any) -> bool:
    """gradcheck of x -> vjp(f, x)(v) for a fixed random cotangent v: checks second derivatives."""
    xs = [_tensor(x).detach().to(torch.float64) for x in inputs]
    with no_grad():
        out = _tensor(f(*[Variable(x) for x in xs]))
    v = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).to(out.device)

    def first_derivatives(*args: Variable) -> Variable:
        grads = vjp(f, *args)[1](v)
        return cat([reshape(g, (-1,)) for g in grads])

    return gradcheck(first_derivatives, xs, **tolerances)


def check_primitive(prim: Primitive, *args: Any, **kwargs: Any) -> bool:
    """Check a primitive (built in or your own) the way the test suite checks the built-ins, at `args`.

    Its floating-point tensor inputs (cast to float64) that have a VJP are differentiated, the rest
    stay constants: gradcheck and gradgradcheck against finite differences, which also runs every VJP
    on shape-only placeholders for what `saves=` leaves out and on Variables (create_graph), so a
    forgotten `saves=` entry or a VJP written with torch functions fails here with a message that says
    what to write. Returns True or raises (GradcheckError for wrong derivatives).
    """
    vjps = prim.vjps
    slots = [
        i
        for i, a in enumerate(args)
        if isinstance(a, (torch.Tensor, Variable)) and _tensor(a).is_floating_point() and vjps[i] is not None
    ]
    if not slots:
        raise ValueError(f"check_primitive: {prim.name} has no floating-point tensor input with a VJP among the args")

    def f(*diff: Any) -> Any:
        full = list(args)
        for i, d in zip(slots, diff):
            full[i] = d
        return prim(*full, **kwargs)

    inputs = [_tensor(args[i]) for i in slots]
    return gradcheck(f, inputs) and gradgradcheck(f, inputs)
