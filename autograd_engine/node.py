"""Graph nodes: one per recorded op application, plus one per leaf that accumulates `.grad`.

The graph links nodes to nodes, never to Variables, so a node keeps alive only what its
vector-Jacobian product needs: tensors named in the primitive's `saves`, shapes (`Meta`) for the rest.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import torch

from . import constants
from .scope import label as scope_label

if TYPE_CHECKING:
    from .primitive import Primitive
    from .variable import Variable


def _strides(t: torch.Tensor) -> tuple[int, ...] | None:
    """t's strides, or None where they are row-major: contiguous without dims of size one (whose strides
    a contiguous tensor may have any of) or empty."""
    if t.is_contiguous() and (1 not in t.shape or t.numel() == 0):
        return None
    return t.stride()


class Meta:
    """Shape, strides, dtype and device of a tensor whose values backward does not need. The strides are
    there because torch orders some gradients by its inputs' layout (a column-major factor of a matrix
    product: see `ops.core.column_major`); `strides` is None where they are the row-major ones (the common
    case), so that a graph of many nodes keeps no tuple for them."""

    __slots__ = ("shape", "strides", "dtype", "device")

    def __init__(self, t: torch.Tensor) -> None:
        self.shape = t.shape
        self.strides = _strides(t)
        self.dtype = t.dtype
        self.device = t.device

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def stride(self) -> tuple[int, ...]:
        """The tensor's strides, as torch.Tensor.stride() gives them (row-major ones where none were kept)."""
        if self.strides is not None:
            return self.strides  # type: ignore[no-any-return]
        out, step = [], 1
        for n in reversed(self.shape):
            out.append(step)
            step *= max(n, 1)
        return tuple(reversed(out))

    def is_contiguous(self) -> bool:
        """torch.Tensor.is_contiguous(), from the strides: row-major, dims of size one aside (an empty tensor is)."""
        if self.strides is None:
            return True
        expected = 1
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1:
                if s != expected:
                    return 0 in self.shape
                expected *= n
        return True

    def __repr__(self) -> str:
        return f"Meta({tuple(self.shape)}, {self.dtype}, {self.device})"


class GraphFreedError(RuntimeError):
    """Backward reached a node whose saved tensors were already released."""


class InplaceModificationError(RuntimeError):
    """A tensor saved for backward was modified in place after it was recorded."""


class HookHandle:
    """Returned by register_hook / register_forward_hook: `remove()` takes the hook away again, and so does
    leaving a `with handle:` block (as torch's RemovableHandle)."""

    def __init__(self, hooks: list[Any] | dict[int, Any], key: Any) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        if isinstance(self._hooks, dict):
            self._hooks.pop(self._key, None)
        elif self._key in self._hooks:
            self._hooks.remove(self._key)

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


COMPLEX_UNSUPPORTED = (
    "complex gradients are not supported (torch's conjugate Wirtinger convention is not implemented): "
    "differentiate real tensors (torch.view_as_real gives the real and imaginary parts), and use complex "
    "values only as constants, without grad"
)


def _complex_result(prim: Primitive, args: Any, dtype: torch.dtype, scope: str | None) -> TypeError:
    from .primitive import describe  # (an error path: primitive imports this module)

    return TypeError(
        f"{scope_label(prim.name, scope)}: its result is {dtype} and requires grad, but {COMPLEX_UNSUPPORTED} "
        f"[inputs: {describe(args or ())}]"
    )


class Node(Meta):
    """A recorded application of `prim` (or, with `prim` None, a leaf Variable's gradient sink).

    A node is also the `Meta` of its output (shape, dtype, device): an op that needs only the shape of
    an earlier result keeps the node it links to anyway, and no separate object is made per op.

    parents   node feeding each positional argument (None for constants and Variables without grad)
    args      each positional argument as backward sees it: the saved tensor, a `Meta` (an op result's
              node), or a constant; set to None once backward has released the node
    out       the output tensor when the primitive saves it, else None
    versions  torch version counters of the saved tensors when recorded, to catch in-place edits
    scope     module path that was running when the op was recorded (graph tools read it)
    variable  weak reference to the leaf Variable (leaf nodes only)
    hooks     functions that see (and may replace) the gradient arriving here (Variable.register_hook)
    trace     where user code recorded the op ('file:line in function'), kept only in anomaly mode
    """

    __slots__ = (
        "prim",
        "parents",
        "args",
        "kwargs",
        "out",
        "versions",
        "scope",
        "variable",
        "hooks",
        "trace",
        "__weakref__",
    )

    def __init__(
        self,
        prim: Primitive | None,
        parents: tuple[Node | None, ...],
        args: tuple[Any, ...] | None,
        kwargs: dict[str, Any],
        out: torch.Tensor | None,
        like: torch.Tensor,
        scope: str | None,
        versions: tuple[int, ...] = (),
        trace: str | None = None,
    ) -> None:
        self.shape = like.shape  # Meta's fields, from the output (`like`), which is not kept unless saved
        self.strides = _strides(like)
        self.dtype = dtype = like.dtype
        self.device = like.device
        if dtype.is_complex and prim is not None:
            raise _complex_result(prim, args, dtype, scope)
        self.prim = prim
        self.parents = parents
        self.args = args
        self.kwargs = kwargs
        self.out = out
        self.scope = scope
        self.variable: weakref.ref[Variable] | None = None
        self.versions = versions
        self.hooks: list[Any] | None = None
        self.trace = trace

    @classmethod
    def leaf(cls, variable: Variable, scope: str | None = None) -> Node:
        node = cls(None, (), (), {}, None, variable.data, scope)
        node.variable = weakref.ref(variable)
        return node

    @property
    def name(self) -> str:
        return "leaf" if self.prim is None else self.prim.name

    @property
    def where(self) -> str:
        """The op's name for error messages, with the module it ran in: 'conv2d in Sequential/2:Conv2d'."""
        return scope_label(self.name, self.scope)

    @property
    def freed(self) -> bool:
        return self.args is None

    def saved_tensors(self) -> list[torch.Tensor]:
        """The tensors this node keeps alive for its VJP."""
        if self.args is None:
            return []
        saved = [a for a in self.args if isinstance(a, torch.Tensor)]
        if self.out is not None:
            saved.append(self.out)
        return saved

    def saved_bytes(self) -> int:
        """Memory the saved tensors and residuals hold (the shared tensors that stand for numbers hold none)."""
        residuals = [self.kwargs[r] for r in self.prim.residuals] if self.prim is not None and self.args else []
        tensors = self.saved_tensors() + residuals
        return sum(t.numel() * t.element_size() for t in tensors if not constants.is_cached(t))

    def check_versions(self) -> None:
        if not self.versions:
            return
        for t, version in zip(self.saved_tensors(), self.versions):
            if t._version != version:
                raise InplaceModificationError(
                    f"{self.where}: one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: a tensor of shape {tuple(t.shape)} saved for backward is at version "
                    f"{t._version}; expected version {version} instead; clone it before modifying, or modify it "
                    "after backward"
                )

    def release(self) -> None:
        """Drop saved tensors, constants and the links to inputs: the rest of the graph can be freed, and
        the node stays only as a marker (for a Variable that still refers to it) that it was."""
        self.args = None
        self.kwargs = {}
        self.out = None
        self.parents = ()

    def __repr__(self) -> str:
        return f"<Node {self.name} {tuple(self.shape)}>"
