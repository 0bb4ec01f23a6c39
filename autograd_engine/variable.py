"""`Variable`: a torch.Tensor plus the graph node that produced it.

This module holds no derivative logic. Where a method goes: Python operators (`+`, `*`, `@`, `[]`,
...) call the primitives in `ops` directly (the hot path); every other torch.Tensor method that the
engine has a rule for is installed from the composite that `@implements` it (see `dispatch`), so
`v.f(...)`, `torch.f(v, ...)` and `ag.f(v, ...)` are one function. Only the methods whose torch
signature differs from the function's (sizes or dims as *args: reshape, view, permute, expand) are
written here.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

from . import scope as scope_mod
from .node import COMPLEX_UNSUPPORTED, HookHandle, Node

Scalar = float  # (the class below defines a `float` method, which would shadow the type in annotations)


class Variable:
    """A tensor that can record the operations applied to it and be differentiated.

    `data` is the wrapped torch.Tensor (never tracked by torch autograd); `grad` holds the
    accumulated gradient (a Variable) of a leaf after `backward()`.
    """

    __slots__ = ("data", "grad", "name", "_node", "_requires_grad", "_view", "_views", "__weakref__")
    # Set only where views exist (see Primitive and composites/indexing.py's `rebind`): a view's `_view` is
    # (base, view primitive, its kwargs, torch's refusal to write it in place or None: split's pieces);
    # a base's `_views` holds weak references to its views and to its `.detach()`ed aliases.
    _view: tuple[Variable | None, Any, dict[str, Any] | None, str | None]
    _views: list[weakref.ref[Variable]]
    __hash__ = object.__hash__  # comparisons return tensors, identity stays the hash
    is_parameter = False  # nn.Parameter says True: the graph tools draw and scope parameters apart

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        if isinstance(data, Variable):
            raise TypeError("Variable(data): data is already a Variable; use .detach() for a new leaf")
        tensor = data if isinstance(data, torch.Tensor) else torch.as_tensor(data)
        self.data = tensor.detach() if tensor.requires_grad else tensor
        self.grad: Variable | None = None
        self.name = name
        self._node: Node | None = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, data: torch.Tensor, node: Node | None) -> Variable:
        """Fast constructor for op results: no checks, `node` None for results that need no grad."""
        v = object.__new__(Variable)
        v.data = data
        v.grad = None
        v.name = None
        v._node = node
        v._requires_grad = node is not None
        return v

    # --- graph state -------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if not self.is_leaf:
            raise RuntimeError("requires_grad can only be changed on leaf Variables; use .detach() on this one")
        if flag and not self.data.is_floating_point():
            if self.data.is_complex():  # torch differentiates complex tensors; the engine does not
                raise TypeError(
                    f"only real floating point Variables can require grad, got dtype {self.data.dtype}: "
                    f"{COMPLEX_UNSUPPORTED}"
                )
            raise RuntimeError(  # torch's error for integer and bool tensors
                f"only Variables of floating point dtype can require gradients, got dtype {self.data.dtype}"
            )
        self._requires_grad = bool(flag)
        if not flag:
            self._node = None

    @property
    def is_leaf(self) -> bool:
        return self._node is None or self._node.prim is None

    @property
    def op(self) -> str | None:
        """Name of the primitive that produced this Variable (None for leaves)."""
        return None if self.is_leaf else self._node.name  # type: ignore[union-attr]

    @property
    def node(self) -> Node | None:
        """The graph node behind this Variable (a leaf's node exists once it was used in a recorded op)."""
        return self._node

    def _grad_node(self) -> Node:
        node = self._node
        if node is None:  # a parameter belongs to the module that first uses it
            if self.data.is_complex():  # (its data was replaced after requires_grad was set)
                raise TypeError(f"a Variable that requires grad holds dtype {self.data.dtype}: {COMPLEX_UNSUPPORTED}")
            node = self._node = Node.leaf(self, scope_mod.current() if self.is_parameter else None)
        return node

    def backward(
        self,
        gradient: Variable | torch.Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (see `autograd_engine.backward`)."""
        backward_mod.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def register_hook(self, hook: Callable[[Variable], Variable | torch.Tensor | None]) -> HookHandle:
        """Call `hook(grad)` when the gradient flowing into this Variable is complete; a returned value
        replaces it (for everything downstream, and for `.grad` of a leaf). Returns a handle to remove it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: this Variable does not require grad, so no gradient will flow into it")
        node = self._grad_node()
        if node.hooks is None:
            node.hooks = []
        node.hooks.append(hook)
        return HookHandle(node.hooks, hook)

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf Variable too (leaves always get one)."""
        if self.is_leaf or any(getattr(h, "retains_grad", False) for h in self._node.hooks or ()):  # type: ignore[union-attr]
            return
        ref = weakref.ref(self)

        def retain(grad: Variable) -> None:
            var = ref()
            if var is not None:
                backward_mod.accumulate_into(var, grad if grad.requires_grad else grad.data, grad.requires_grad)

        retain.retains_grad = True  # type: ignore[attr-defined]
        self.register_hook(retain)

    def requires_grad_(self, requires_grad: bool = True) -> Variable:
        """Set `requires_grad` of this leaf in place and return it, as torch.Tensor.requires_grad_."""
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Variable:
        """A new leaf sharing this Variable's storage, outside any graph (and seeing its in-place updates)."""
        alias = Variable(self.data)
        add_view(self, alias)
        return alias

    def zero_grad(self) -> None:
        self.grad = None

    # --- tensor metadata ---------------------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return self.data.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.data.dtype

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.dim()

    def ndimension(self) -> int:
        return self.data.dim()

    @property
    def is_meta(self) -> bool:
        return self.data.is_meta

    def size(self, dim: int | None = None) -> Any:
        return self.data.size() if dim is None else self.data.size(dim)

    def numel(self) -> int:
        return self.data.numel()

    def item(self) -> Any:
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __getattr__(self, name: str) -> Any:
        """Only for names not found: a torch.Tensor method whose rule lives above the engine (in
        nn.functional, imported on first use: `v.relu_()` without `import nn`), or one with no rule, which
        is named as such (an AttributeError, so that hasattr stays False)."""
        from . import dispatch  # (dispatch imports this module)

        if name.startswith("__") or not hasattr(torch.Tensor, name):
            raise AttributeError(f"'Variable' object has no attribute '{name}'")
        if dispatch.LAZY_RULES:
            dispatch.load_lazy_rules()
            if hasattr(type(self), name):
                return getattr(self, name)
        raise AttributeError(
            f"torch.Tensor.{name} has no rule for Variables in autograd_engine, so it cannot be recorded "
            "(docs/dispatch.md says how to give it one)"
        )

    def numpy(self, *, force: bool = False) -> Any:
        """The values as a numpy array, as torch.Tensor.numpy: refused for a Variable that requires grad
        (torch's RuntimeError) unless `force` (or after `.detach()`)."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.data.numpy(force=force) if force else self.data.cpu().numpy()

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Variable]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows the recorded graph (as SVG, when graphviz's dot is installed)."""
        from . import graph  # only notebooks get here

        bundle = {"text/plain": repr(self)}
        svg = None if self.is_leaf else graph.svg_for_notebook(self)
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def __repr__(self) -> str:
        body = repr(self.data).removeprefix("tensor(").removesuffix(")")
        extra = f", op={self.op}" if not self.is_leaf else (", requires_grad=True" if self.requires_grad else "")
        named = f", name={self.name!r}" if self.name else ""
        return f"Variable({body}{extra}{named})"

    # --- torch interoperability ----------------------------------------------------------------
    @classmethod
    def __torch_function__(
        cls, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        """`torch.X(v, ...)`, `torch.nn.functional.X(v, ...)` and `tensor + v` record through the engine's
        rule for X, or raise `NoRuleError` naming X (see `dispatch`)."""
        rule = dispatch.HANDLED.get(func)
        if rule is None or kwargs:  # (the common case, a known rule without keywords, inlined: every call pays)
            return dispatch.handle(func, args, kwargs)
        return rule(*args)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """`torch.tensor(v)` copies the values and `torch.as_tensor(v)` shares them, as for a tensor."""
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self.data.__dlpack_device__()

    # --- differentiable conversions ----------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Variable:
        """dtype/device conversion with torch.Tensor.to's arguments (a dtype, a device, a tensor or Variable
        to match, non_blocking=, copy=): differentiable to a floating point dtype; a cast to an integer or
        bool dtype ends the gradient (its result is a constant, as in torch)."""
        args = tuple(unwrap(a) for a in args)
        kwargs = {k: unwrap(v) for k, v in kwargs.items()}
        target = torch.empty((), dtype=self.dtype, device=self.device).to(*args, **kwargs)
        if not (target.dtype.is_floating_point or target.dtype.is_complex):  # (complex: refused when recorded)
            return Variable(self.data.to(*args, **kwargs))
        if target.dtype == self.dtype and target.device == self.device:
            return ops.clone(self) if kwargs.get("copy") else self
        return ops.to(self, dtype=target.dtype, device=target.device)

    def type(self, dtype: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
        """torch.Tensor.type: without a dtype, the type's name ('torch.FloatTensor'); with a dtype or such a
        name, the conversion (see `to`)."""
        if dtype is None:
            return self.data.type()
        target = torch.empty((), dtype=self.dtype, device=self.device).type(dtype)
        return self.to(target.device, target.dtype, non_blocking=non_blocking)

    def cpu(self, memory_format: Any = None) -> Variable:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None, non_blocking: bool = False, memory_format: Any = None) -> Variable:
        cuda = torch.device("cuda", device) if isinstance(device, int) else (device or "cuda")
        return self.to(cuda, non_blocking=non_blocking)

    # (memory_format= is accepted as torch's methods accept it; a Variable's layout is torch's choice)
    def half(self, memory_format: Any = None) -> Variable:
        return self.to(torch.float16)

    def bfloat16(self, memory_format: Any = None) -> Variable:
        return self.to(torch.bfloat16)

    def float(self, memory_format: Any = None) -> Variable:
        return self.to(torch.float32)

    def double(self, memory_format: Any = None) -> Variable:
        return self.to(torch.float64)

    def int(self, memory_format: Any = None) -> Variable:
        """int32 values, a constant (integer casts end the gradient)."""
        return self.to(torch.int32)

    def long(self, memory_format: Any = None) -> Variable:
        return self.to(torch.int64)

    def short(self, memory_format: Any = None) -> Variable:
        return self.to(torch.int16)

    def char(self, memory_format: Any = None) -> Variable:
        return self.to(torch.int8)

    def byte(self, memory_format: Any = None) -> Variable:
        return self.to(torch.uint8)

    def bool(self, memory_format: Any = None) -> Variable:
        return self.to(torch.bool)

    # --- arithmetic --------------------------------------------------------------------------
    def __add__(self, other: Any) -> Variable:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Variable:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Variable:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Variable:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Variable:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Variable:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Variable:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Variable:
        if isinstance(other, (int, float, bool)):  # torch's number / tensor: reciprocal(tensor) * number (its bits)
            return ops.mul(ops.reciprocal(self), other)
        return ops.div(other, self)

    def __pow__(self, other: Any) -> Variable:
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> Variable:
        return ops.pow(other, self)

    def __matmul__(self, other: Any) -> Variable:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Variable:
        return ops.matmul(other, self)

    def __neg__(self) -> Variable:
        return ops.neg(self)

    def __pos__(self) -> Variable:
        return self

    def __abs__(self) -> Variable:
        return F.abs(self)

    # augmented assignment is in place, as in torch: the same Variable holds the result (see the
    # in-place methods), and under no_grad it writes into the tensor (`w -= lr * w.grad`)
    def __iadd__(self, other: Any) -> Variable:
        return self.add_(other)  # type: ignore[attr-defined, no-any-return]

    def __isub__(self, other: Any) -> Variable:
        return self.sub_(other)  # type: ignore[attr-defined, no-any-return]

    def __imul__(self, other: Any) -> Variable:
        return self.mul_(other)  # type: ignore[attr-defined, no-any-return]

    def __itruediv__(self, other: Any) -> Variable:
        return self.div_(other)  # type: ignore[attr-defined, no-any-return]

    def __mod__(self, other: Any) -> Variable:
        return F.remainder(self, other)

    def __rmod__(self, other: Any) -> Variable:
        return F.remainder(other, self)

    def __floordiv__(self, other: Any) -> Any:
        return F.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return F.floor_divide(other, self)

    # --- bitwise and logical operators on boolean and integer Variables (never differentiated) ----
    def __and__(self, other: Any) -> torch.Tensor:
        return F.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> torch.Tensor:
        return F.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other: Any) -> torch.Tensor:
        return F.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __invert__(self) -> torch.Tensor:
        return F.bitwise_not(self)

    def __lshift__(self, other: Any) -> torch.Tensor:
        return F.bitwise_left_shift(self, other)

    def __rshift__(self, other: Any) -> torch.Tensor:
        return F.bitwise_right_shift(self, other)

    # --- comparisons give plain boolean tensors (not differentiable) -------------------------
    def __lt__(self, other: Any) -> torch.Tensor:  # type: ignore[override]
        return self.data < unwrap(other)

    def __le__(self, other: Any) -> torch.Tensor:  # type: ignore[override]
        return self.data <= unwrap(other)

    def __gt__(self, other: Any) -> torch.Tensor:  # type: ignore[override]
        return self.data > unwrap(other)

    def __ge__(self, other: Any) -> torch.Tensor:  # type: ignore[override]
        return self.data >= unwrap(other)

    def __eq__(self, other: Any) -> torch.Tensor:  # type: ignore[override]
        return self.data == unwrap(other)

    def __ne__(self, other: Any) -> torch.Tensor:  # type: ignore[override]
        return self.data != unwrap(other)

    # --- indexing ----------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Variable:
        return ops.getitem(self, index=unwrap_all(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        """x[index] = value as in torch: while recording, x (this same object) holds the result and its
        node, differentiable to its old value and to value; otherwise it writes into x's tensor."""
        F.indexing.setitem(self, index, value)

    # --- methods whose torch signature takes sizes or dims as *args ------------------------------
    # (every other torch.Tensor method with a rule is installed from `dispatch.implements`)
    def reshape(self, *shape: Any, **named: Any) -> Variable:
        return F.reshape(self, _shape_arg(shape, named, "reshape", "shape"))

    def view(self, *shape: Any, dtype: torch.dtype | None = None, **named: Any) -> Variable:
        """The same storage in a new shape, or its bits read as another dtype, as torch.Tensor.view: a shape
        the strides cannot express is torch's RuntimeError (reshape copies instead), and a dtype view is
        not differentiable (a constant), as in torch."""
        if dtype is not None:
            if shape:
                raise TypeError(f"view() takes a shape or a dtype, not both: got {shape} and {dtype}")
            return Variable(self.data.view(dtype))
        if len(shape) == 1 and isinstance(shape[0], torch.dtype):
            return Variable(self.data.view(shape[0]))
        size = _shape_arg(shape, named, "view", "size")
        self.data.view(size)  # torch's error where no view exists
        return F.reshape(self, size)

    def permute(self, *dims: Any, **named: Any) -> Variable:
        return F.permute(self, _shape_arg(dims, named, "permute", "dims"))

    @property
    def T(self) -> Variable:  # noqa: N802 (torch's name)
        return self if self.ndim < 2 else F.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Variable:  # noqa: N802 (torch's name)
        return F.shape.matrix_transpose(self, "tensor.mT")

    @property
    def H(self) -> Variable:  # noqa: N802 (torch's name; real tensors: the transpose)
        if self.ndim != 2:
            hint = " For batches of matrices, consider using tensor.mH" if self.ndim > 2 else ""
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.{hint}")
        return F.transpose(self, 0, 1)

    @property
    def mH(self) -> Variable:  # noqa: N802 (torch's name)
        return F.shape.matrix_transpose(self, "tensor.mH")

    def expand(self, *shape: Any, **named: Any) -> Variable:
        return F.expand(self, _shape_arg(shape, named, "expand", "size"))

    def expand_as(self, other: Variable | torch.Tensor) -> Variable:
        return F.expand(self, tuple(other.shape))


def unwrap(x: Any) -> Any:
    """The tensor inside a Variable; anything else as it is."""
    return x.data if isinstance(x, Variable) else x


def lift(t: torch.Tensor, as_variable: bool) -> Any:
    """`t` as a constant Variable when `as_variable` (gradients that must stay differentiable), else as is."""
    return Variable(t) if as_variable else t


def unwrap_all(arg: Any) -> Any:
    """`unwrap` through tuples and lists too (indices, argument lists: never differentiated). Hot, as
    every `x[index]` runs it: an argument without Variables comes back as it is, without a copy."""
    if isinstance(arg, Variable):
        return arg.data
    if isinstance(arg, tuple):
        for a in arg:
            if isinstance(a, (Variable, list, tuple)):
                return tuple(unwrap_all(b) for b in arg)
        return arg
    if isinstance(arg, list):
        return [unwrap_all(a) for a in arg]
    return arg


def add_view(base: Variable, view: Variable) -> None:
    """Remember `view` (weakly) as a view or alias of `base`, whose in-place updates it must then see (not
    for a leaf that requires grad: it is never rebound, and parameters are viewed at every step)."""
    if base._requires_grad and base._node is None:
        return
    try:
        views = base._views
    except AttributeError:
        views = base._views = []
    if len(views) >= 32:  # (a long-lived base: drop the views that are gone)
        views[:] = [ref for ref in views if ref() is not None]
    views.append(weakref.ref(view))


def _shape_arg(
    args: tuple[Any, ...], named: dict[str, Any] | None = None, method: str = "", name: str = ""
) -> tuple[int, ...]:
    """Accept `x.reshape(2, 3)`, `x.reshape((2, 3))` and, by torch's keyword, `x.reshape(shape=(2, 3))`."""
    if named:
        if args or set(named) != {name}:
            given = ", ".join(named)
            raise TypeError(f"{method}() received an invalid combination of arguments: got {given!r}; takes {name}=")
        args = (named[name],)
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(args[0])
    return tuple(args)


# Methods above resolve these at call time; they import Variable themselves, hence the late import.
from . import backward as backward_mod  # noqa: E402
from . import composites as F  # noqa: E402
from . import dispatch, ops  # noqa: E402
