"""Function transforms: grad, value_and_grad, vjp, jacobian and hessian over pytrees of inputs.

Arguments may be tensors, numbers, Variables, or nested lists/tuples/dicts of them; results mirror
them (tensors for tensors, Variables for Variables). Transforms nest: called on Variables that require
grad while grad mode is on, they record their own backward (`create_graph`), so `grad(grad(f))` and
`hessian` work, and each level differentiates through an `alias` node of its own, so a function that
also closes over the outer input is not confused with its argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from . import ops
from .anomaly import is_anomaly_enabled
from .backward import gradients
from .composites import stack
from .grad_mode import enable_grad, is_grad_enabled
from .pytree import TreeSpec, tree_flatten, tree_unflatten
from .variable import Variable, lift

ArgNums = int | Sequence[int]


class _Inputs:
    """The differentiated arguments of one call, replaced by fresh Variables to differentiate against."""

    def __init__(self, args: Sequence[Any], argnums: ArgNums) -> None:
        self.single = isinstance(argnums, int)
        self.argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        self.args = list(args)
        self.trees: list[tuple[TreeSpec, list[Any]]] = []
        self.variables: list[Variable] = []
        outer = is_grad_enabled()
        self.nested = False
        for n in self.argnums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"argnums {n} is out of range for a call with {len(args)} positional arguments")
            leaves, spec = tree_flatten(args[n])
            fresh = []
            for leaf in leaves:
                if isinstance(leaf, Variable) and leaf.requires_grad and outer:
                    self.nested = True
                    fresh.append(ops.alias(leaf))
                else:
                    fresh.append(_leaf(leaf))
            self.trees.append((spec, leaves))
            self.variables.extend(fresh)
            self.args[n] = tree_unflatten(spec, fresh)

    def call(self, f: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        with enable_grad():
            return f(*self.args, **kwargs)

    def flat_gradients(self, outputs: list[Any], cotangents: list[Any], retain_graph: bool) -> list[Any]:
        """Gradients for every input Variable, in order (zeros where the outputs do not depend on it)."""
        live = [(o, c) for o, c in zip(outputs, cotangents) if isinstance(o, Variable) and o.requires_grad]
        create = self.nested or any(isinstance(c, Variable) and c.requires_grad for _, c in live)
        if not live:
            return [lift(torch.zeros_like(v.data), create) for v in self.variables]
        return list(
            gradients(
                [o for o, _ in live],
                self.variables,
                [c for _, c in live],
                retain_graph=retain_graph or create,
                create_graph=create,
            )
        )

    def structure(self, flat: list[Any]) -> Any:
        """Arrange per-input results like the differentiated arguments, mirroring their leaf types."""
        it = iter(flat)
        trees = []
        for spec, leaves in self.trees:
            trees.append(tree_unflatten(spec, [self.mirror(next(it), isinstance(leaf, Variable)) for leaf in leaves]))
        return trees[0] if self.single else tuple(trees)

    def mirror(self, value: Any, as_variable: bool) -> Any:
        """A result as the caller should see it: a live Variable when nested, else a Variable or tensor."""
        if self.nested:
            return value
        data = value.data if isinstance(value, Variable) else value
        return Variable(data) if as_variable else data

    def mirror_output(self, out: Any) -> Any:
        """f's output: Variables if any differentiated input was one, else tensors."""
        as_variable = any(isinstance(leaf, Variable) for _, leaves in self.trees for leaf in leaves)
        leaves, spec = tree_flatten(out)
        return tree_unflatten(
            spec, [self.mirror(o, as_variable) if isinstance(o, (Variable, torch.Tensor)) else o for o in leaves]
        )


def _leaf(x: Any) -> Variable:
    data = x.data if isinstance(x, Variable) else x if isinstance(x, torch.Tensor) else torch.tensor(float(x))
    return Variable(data, requires_grad=True)


def _scalar(out: Any, name: str) -> None:
    if not isinstance(out, (Variable, torch.Tensor)) or out.numel() != 1:
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"{name}: the function must return a single-element tensor or Variable, got {shape}")


def value_and_grad(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """`f`'s value and its gradient with respect to the arguments `argnums` (f must return a scalar).

    With `has_aux`, f returns (value, aux) and the result is ((value, aux), grads).
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inputs = _Inputs(args, argnums)
        result = inputs.call(f, kwargs)
        out, aux = result if has_aux else (result, None)
        _scalar(out, "grad")
        grads = inputs.structure(inputs.flat_gradients([out], [None], retain_graph=False))
        value = inputs.mirror_output(out)
        return ((value, aux), grads) if has_aux else (value, grads)

    return wrapper


def grad(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of scalar-valued `f` with respect to the arguments `argnums` (a pytree for each)."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        (value, grads) = vg(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapper


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """(f(*primals), vjp_fn) where vjp_fn(cotangents) gives one gradient per primal; (.., aux) with has_aux.

    vjp_fn can be called many times (the graph is kept while it lives). Cotangents match f's output
    pytree; a Variable cotangent that requires grad makes the result differentiable in it.
    """
    inputs = _Inputs(primals, tuple(range(len(primals))))
    result = inputs.call(f, {})
    out, aux = result if has_aux else (result, None)
    out_leaves, out_spec = tree_flatten(out)

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        cot_leaves, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise ValueError("vjp: cotangents must have the same structure as the function's output")
        for o, c in zip(out_leaves, cot_leaves):
            if tuple(o.shape) != tuple(c.shape):
                raise ValueError(f"vjp: cotangent shape {tuple(c.shape)} does not match output shape {tuple(o.shape)}")
        return inputs.structure(inputs.flat_gradients(out_leaves, cot_leaves, retain_graph=True))

    value = inputs.mirror_output(out)
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


def jacobian(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """Reverse-mode Jacobian: for each output leaf, d out / d input shaped out.shape + input.shape."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inputs = _Inputs(args, argnums)
        result = inputs.call(f, kwargs)
        out, aux = result if has_aux else (result, None)
        out_leaves, out_spec = tree_flatten(out)
        jac = tree_unflatten(out_spec, [inputs.structure(_jacobian_rows(inputs, o)) for o in out_leaves])
        return (jac, aux) if has_aux else jac

    return wrapper


_PASS_ELEMENTS = 2**24  # cotangent or gradient elements in one vectorised reverse pass: bounds its memory


def _jacobian_rows(inputs: _Inputs, out: Any) -> list[Any]:
    """d out / d input for every input, shaped out.shape + input.shape: reverse passes seeded with the
    rows of the identity. Many rows share a pass (as many as keep its cotangents and gradients to
    _PASS_ELEMENTS values), batched by torch.vmap as in JAX's jacrev; one pass per row where the passes
    must be recorded (nested transforms), checked (anomaly mode), or a VJP is one vmap cannot batch."""
    shape, count = tuple(out.shape), out.numel()
    blocks = None
    if count > 1 and not inputs.nested and not is_anomaly_enabled():
        try:
            blocks = _batched_rows(inputs, out)
        except RuntimeError:  # e.g. a user primitive writing a batched value into an unbatched tensor
            pass
    if blocks is None:
        blocks = _single_rows(inputs, out)
    return [ops.reshape(b, shape=shape + tuple(v.shape)) for b, v in zip(blocks, inputs.variables)]


def _batched_rows(inputs: _Inputs, out: Variable) -> list[torch.Tensor]:
    """Rows start..start+n of every input's Jacobian from one vmapped reverse pass per block of rows."""
    shape, count = tuple(out.shape), out.numel()
    per_pass = max(1, _PASS_ELEMENTS // max(count, *(v.numel() for v in inputs.variables)))
    rows_for = torch.vmap(lambda u: tuple(inputs.flat_gradients([out], [u], retain_graph=True)))
    parts = []
    for start in range(0, count, per_pass):
        basis = torch.zeros(min(per_pass, count - start), count, dtype=out.dtype, device=out.device)
        basis.diagonal(start).fill_(1)  # rows start.. of the identity
        parts.append(rows_for(basis.reshape((-1,) + shape)))
    return [torch.cat(p) if len(p) > 1 else p[0] for p in zip(*parts)]


def _single_rows(inputs: _Inputs, out: Any) -> list[Any]:
    """Each input's Jacobian rows, stacked, from one reverse pass per output element."""
    shape, count = tuple(out.shape), out.numel()
    rows: list[list[Any]] = [[] for _ in inputs.variables]
    for k in range(count):
        onehot = torch.zeros(count, dtype=out.dtype, device=out.device)
        onehot[k] = 1
        for j, g in enumerate(inputs.flat_gradients([out], [onehot.reshape(shape)], retain_graph=True)):
            rows[j].append(g)
    blocks = []
    for v, r in zip(inputs.variables, rows):
        if not r:
            blocks.append(lift(torch.zeros((0,) + tuple(v.shape), dtype=v.dtype, device=v.device), inputs.nested))
        else:
            blocks.append(stack(r) if isinstance(r[0], Variable) else torch.stack(r))
    return blocks


def hessian(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """Second derivatives of scalar-valued `f`: the Jacobian of its gradient."""
    return jacobian(jacobian(f, argnums), argnums)


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """(f(*primals), J(primals) @ tangents): the forward-mode derivative, by the double-VJP trick.

    The VJP is linear in its cotangent u, so differentiating <vjp(u), tangents> with respect to u
    gives J @ tangents. `tangents` match `primals` (one pytree each); the result matches f's output.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents")
    inputs = _Inputs(primals, tuple(range(len(primals))))
    out = inputs.call(f, {})
    out_leaves, out_spec = tree_flatten(out)
    tangent_leaves, _ = tree_flatten(list(tangents))
    for v, t in zip(inputs.variables, tangent_leaves):
        if tuple(v.shape) != tuple(t.shape):
            raise ValueError(f"jvp: tangent shape {tuple(t.shape)} does not match primal shape {tuple(v.shape)}")
    live = [o for o in out_leaves if isinstance(o, Variable) and o.requires_grad]
    us = [Variable(torch.zeros_like(o.data), requires_grad=True) for o in live]
    with enable_grad():
        grads = list(gradients(live, inputs.variables, us, retain_graph=True, create_graph=True)) if live else []
        linked = [(g, t) for g, t in zip(grads, tangent_leaves) if g.requires_grad]
        tangent_outs = (
            list(gradients([g for g, _ in linked], us, [t for _, t in linked], create_graph=inputs.nested))
            if linked
            else [torch.zeros_like(u.data) for u in us]
        )
    by_output = dict(zip(map(id, live), tangent_outs))
    results = [by_output.get(id(o), torch.zeros_like(o.data if isinstance(o, Variable) else o)) for o in out_leaves]
    return inputs.mirror_output(out), inputs.mirror_output(tree_unflatten(out_spec, results))


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """(f(*primals), H @ tangents) for scalar-valued f: the forward-mode derivative of its gradient."""
    primals = tuple(primals)
    argnums: ArgNums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    value = value_and_grad(f, argnums)(*primals)[0]
    return value, jvp(grad(f, argnums), primals, tuple(tangents))[1]
