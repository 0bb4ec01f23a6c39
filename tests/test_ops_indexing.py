"""Indexing: x[...] and x[...] = v, gather/scatter, index_*, masks, take/put and where on Variables against
torch.autograd (values, first and second derivatives), torch's conventions for repeated and negative
indices, torch's exceptions for bad arguments, and the in-place semantics of assignment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag

from .oracles import assert_torch_bits, compare_with_torch, r

pytestmark = pytest.mark.filterwarnings(
    "ignore:The reduce argument of torch.scatter",  # torch deprecates scatter(reduce=), which the engine keeps
    "ignore:index_reduce\\(\\) is in beta",
    "ignore:Using a non-tuple sequence",  # torch's indexing of a tensor reads a Variable index as a sequence first
)


def same(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[str, Any, Any, list[torch.Tensor]]:
    """A case whose torch spelling runs on tensors and on Variables alike."""
    return (name, fn, fn, list(inputs))


def on(a: Any, values: Any, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """A constant index tensor on a's device."""
    return torch.tensor(values, dtype=dtype, device=a.device)


def copy(a: Any) -> Any:
    """A non-leaf copy of a, which in-place ops may write into (in torch and in the engine)."""
    return a * 1


def assigned(index: Callable[[Any], Any]) -> Callable[..., Any]:
    """y = a * 1; y[index(y)] = b; return y * 2, in the torch spelling."""

    def fn(a: Any, b: Any = None) -> Any:
        y = copy(a)
        y[index(y)] = b
        return y * 2

    return fn


def in_place(method: str, *args: Callable[[Any], Any] | Any, **kwargs: Any) -> Callable[..., Any]:
    """y = a * 1; y.<method>(*args) with the second input in place of None; return y * 2."""

    def fn(a: Any, b: Any = None) -> Any:
        y = copy(a)
        given = [b if x is None else x(a) if callable(x) else x for x in args]
        out = getattr(y, method)(*given, **kwargs)
        assert out is y
        return y * 2

    return fn


def ties() -> torch.Tensor:
    """Small integers as float64: scatter's amax/amin meet ties."""
    return torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 0.0, 2.0], [3.0, 1.0, 3.0, 1.0]], dtype=torch.float64)


MASK = torch.tensor([[True, False, True, False], [False, False, True, True], [True, True, False, False]])
ROWS = torch.tensor([[0, 2, 0, 1], [1, 0, 0, 2]])  # a scatter/gather index along dim 0 of a (3, 4), repeats


# (id, engine function, torch function, inputs); the ids of primitives start with their names
CASES = [
    # x[index]: every kind of index torch takes
    same("getitem-int32-repeats", lambda a: a[on(a, [0, 2, 0], dtype=torch.int32)], r(3, 4)),
    same("getitem-negative", lambda a: a[on(a, [-1, 0, -1])], r(3, 4)),
    same("getitem-list", lambda a: a[[0, 2, 2]], r(3, 4)),
    same("getitem-lists-pairs", lambda a: a[[0, 1, 0], [1, 2, 1]], r(3, 4)),
    same("getitem-mask-2d", lambda a: a[MASK.to(a.device)], r(3, 4)),
    same("getitem-mask-rows", lambda a: a[on(a, [True, False, True], dtype=torch.bool)], r(3, 4)),
    same("getitem-mask-middle", lambda a: a[:, on(a, [True, False, True], dtype=torch.bool)], r(2, 3, 4)),
    same("getitem-ellipsis-none", lambda a: a[..., None, on(a, [1, 0, 1])], r(2, 3, 4)),
    same("getitem-separated", lambda a: a[on(a, [0, 1]), :, on(a, [3, 3])], r(2, 3, 4)),
    same("getitem-broadcast", lambda a: a[:, on(a, [[0], [2]]), on(a, [[1, 3, 3]])], r(2, 3, 4)),
    same("getitem-0d-tensor", lambda a: a[on(a, 1)], r(3, 4)),
    same("getitem-int-and-tensor", lambda a: a[1, on(a, [0, 0, 3])], r(3, 4)),
    same("getitem-steps", lambda a: a[::2, 1::3], r(3, 7)),
    same("getitem-none-int", lambda a: a[None, -1, None], r(3, 4)),
    (
        "getitem-variable-index",
        lambda a: a[ag.Variable(on(a, [2, 0, 2])), ag.Variable(on(a, [1, 1, 0]))],
        lambda a: a[on(a, [2, 0, 2]), on(a, [1, 1, 0])],
        [r(3, 4)],
    ),
    (
        "getitem-list-of-variables",
        lambda a: a[[ag.Variable(on(a, 2)), 0], [[1], [ag.Variable(on(a, -1))]]],
        lambda a: a[[on(a, 2), 0], [[1], [on(a, -1)]]],
        [r(3, 4)],
    ),
    # x[index] = value: index_put
    same("index_put-setitem-int", assigned(lambda y: 1), r(3, 4), r(4)),
    same("index_put-setitem-slice-broadcast", assigned(lambda y: (slice(None), slice(1, 3))), r(3, 4), r(2)),
    same("index_put-setitem-repeats", assigned(lambda y: on(y, [0, 2, 0])), r(3, 4), r(3, 4)),
    same("index_put-setitem-negative", assigned(lambda y: (on(y, [-1, 0]), -1)), r(3, 4), r(2)),
    same("index_put-setitem-mask", assigned(lambda y: MASK.to(y.device)), r(3, 4), r(6)),
    same("index_put-setitem-mask-scalar", assigned(lambda y: MASK.to(y.device)), r(3, 4), r(1)[0]),
    same(
        "index_put-setitem-separated", assigned(lambda y: (on(y, [1, 0]), slice(None), on(y, [2, 2]))), r(2, 3, 4), r(3)
    ),
    same("index_put-setitem-ellipsis-none", assigned(lambda y: (Ellipsis, None, 2)), r(2, 3, 4), r(3, 1)),
    same("index_put-setitem-leading-ones", assigned(lambda y: 0), r(3, 4), r(1, 1, 4)),
    same("index_put-setitem-number", lambda a: assigned(lambda y: (0, 1))(a, 5.0), r(3, 4)),
    same("index_put-setitem-value-only", lambda a, b: assigned(lambda y: 1)(a.detach(), b), r(3, 4), r(4)),
    same("index_put-setitem-float32-value", assigned(lambda y: slice(1, 3)), r(3, 4), r(2, 4).float()),
    (
        "index_put-setitem-into-constant",
        lambda b: _into_zeros(ag.Variable(torch.zeros(3, 4, dtype=b.dtype, device=b.device)), b),
        lambda b: _into_zeros(torch.zeros(3, 4, dtype=b.dtype, device=b.device), b),
        [r(4)],
    ),
    same("index_put-setitem-twice", lambda a, b: _twice(copy(a), b), r(3, 4), r(3)),
    same("index_put-setitem-iadd-repeats", lambda a, b: _add_at(copy(a), on(a, [1, 1, 0]), b), r(3, 4), r(4)),
    same("index_put", lambda a, b: torch.index_put(a, (on(a, [0, 2]), on(a, [1, 1])), b), r(3, 4), r(2)),
    same("index_put-accumulate", lambda a, b: a.index_put((on(a, [0, 2, 0]),), b, accumulate=True), r(3, 4), r(4)),
    same("index_put-accumulate-mask", lambda a, b: a.index_put([MASK.to(a.device)], b, True), r(3, 4), r(1)[0]),
    same("index_put-inplace", in_place("index_put_", lambda a: (on(a, [1, 1]), on(a, [0, 3])), None), r(3, 4), r(2)),
    same(
        "index_put-inplace-accumulate",
        in_place("index_put_", lambda a: (on(a, [1, 1]),), None, accumulate=True),
        r(3, 4),
        r(4),
    ),
    # gather and scatter
    same("gather-method", lambda a: a.gather(0, ROWS.to(a.device)), r(3, 4)),
    same("gather-int32", lambda a: torch.gather(a, 1, on(a, [[3, 3], [0, 1], [2, 0]], dtype=torch.int32)), r(3, 4)),
    same("scatter", lambda a, b: torch.scatter(a, 0, ROWS.to(a.device), b), r(3, 4), r(2, 4)),
    same("scatter-dim1-method", lambda a, b: a.scatter(1, on(a, [[1, 1], [0, 3]]), src=b), r(2, 4), r(2, 2)),
    same("scatter-value", lambda a: torch.scatter(a, 0, ROWS.to(a.device), 2.5), r(3, 4)),
    same("scatter-value-keyword", lambda a: a.scatter(1, on(a, [[1], [0]]), value=-1.0), r(2, 4)),
    same("scatter-inplace", in_place("scatter_", 0, lambda a: ROWS.to(a.device), None), r(3, 4), r(2, 4)),
    same("scatter_add", lambda a, b: torch.scatter_add(a, 0, ROWS.to(a.device), b), r(3, 4), r(2, 4)),
    same("scatter_add-method-dim1", lambda a, b: a.scatter_add(-1, on(a, [[1, 1, 0]]), b), r(2, 4), r(1, 3)),
    same("scatter_add-inplace", in_place("scatter_add_", 0, lambda a: ROWS.to(a.device), None), r(3, 4), r(2, 4)),
    *[
        same(
            f"scatter_reduce-{reduce}{'' if include_self else '-exclude-self'}",
            lambda a, b, reduce=reduce, include_self=include_self: torch.scatter_reduce(
                a, 0, ROWS.to(a.device), b, reduce, include_self=include_self
            ),
            ties() if reduce in ("amax", "amin") else r(3, 4),
            ties()[:2] if reduce in ("amax", "amin") else r(2, 4),
        )
        for reduce in ("sum", "prod", "mean", "amax", "amin")
        for include_self in (True, False)
    ],
    same(
        "scatter_reduce-prod-zeros",
        lambda a, b: a.scatter_reduce(0, ROWS.to(a.device), b, "prod"),
        torch.tensor([[0.0, 1.5, 2.0, 0.0], [1.0, -2.0, 0.5, 3.0], [2.0, 0.5, 0.0, 1.0]], dtype=torch.float64),
        torch.tensor([[1.5, 0.0, -1.0, 2.0], [0.5, 2.0, 3.0, 0.0]], dtype=torch.float64),
    ),
    same(
        "scatter_reduce-amax-inplace",
        in_place("scatter_reduce_", 1, lambda a: on(a, [[0, 0, 1, 3]] * 3), None, "amax", include_self=False),
        ties(),
        ties()[:, [1, 0, 2, 3]],
    ),
    # along a dim with a vector index
    same("index_select", lambda a: torch.index_select(a, 1, on(a, [3, 0, 3])), r(3, 4)),
    same("index_select-method-int32", lambda a: a.index_select(0, on(a, [2, 2], dtype=torch.int32)), r(3, 4)),
    same("index_select-0d-index", lambda a: a.index_select(-1, on(a, 1)), r(3, 4)),
    same("index_add", lambda a, b: torch.index_add(a, 0, on(a, [2, 0, 2]), b), r(3, 4), r(3, 4)),
    same("index_add-alpha-method", lambda a, b: a.index_add(1, on(a, [1, 1]), b, alpha=-2.5), r(3, 4), r(3, 2)),
    same("index_add-inplace", in_place("index_add_", 1, lambda a: on(a, [3, 3]), None, alpha=2), r(3, 4), r(3, 2)),
    same("index_copy", lambda a, b: torch.index_copy(a, 1, on(a, [3, 0]), b), r(3, 4), r(3, 2)),
    same("index_copy-inplace", in_place("index_copy_", 0, lambda a: on(a, [1]), None), r(3, 4), r(1, 4)),
    same("index_fill", lambda a: torch.index_fill(a, 1, on(a, [3, 0, 3]), -1.5), r(3, 4)),
    same("index_fill-tensor-value", lambda a, v: a.index_fill(0, on(a, [2, 0, 2]), v), r(3, 4), r(1)[0]),
    same("index_fill-negative", lambda a: a.index_fill(0, on(a, [-1]), 2.0), r(3, 4)),
    same("index_fill-inplace", in_place("index_fill_", 1, lambda a: on(a, [2]), None), r(3, 4), r(1)[0]),
    *[
        same(
            f"index_reduce-{reduce}{'' if include_self else '-exclude-self'}",
            lambda a, b, reduce=reduce, include_self=include_self: torch.index_reduce(
                a, 0, on(a, [2, 0, 2]), b, reduce, include_self=include_self
            ),
            ties(),
            ties()[[1, 0, 2]],
        )
        for reduce in ("prod", "mean", "amax", "amin")
        for include_self in (True, False)
    ],
    # masks
    same("masked_fill", lambda a: a.masked_fill(MASK.to(a.device), 0.5), r(3, 4)),
    same("masked_fill-tensor-value", lambda a, v: torch.masked_fill(a, MASK.to(a.device), v), r(3, 4), r(1)[0]),
    same("masked_fill-broadcast", lambda a: torch.masked_fill(a, MASK.to(a.device), -2.0), r(4)),
    same("masked_fill-inplace", in_place("masked_fill_", lambda a: MASK.to(a.device), None), r(3, 4), r(1)[0]),
    same("masked_scatter", lambda a, b: a.masked_scatter(MASK.to(a.device), b), r(3, 4), r(3, 3)),
    same("masked_scatter-broadcast", lambda a, b: torch.masked_scatter(a, MASK[0].to(a.device), b), r(3, 4), r(7)),
    same("masked_scatter-inplace", in_place("masked_scatter_", lambda a: MASK.to(a.device), None), r(3, 4), r(6)),
    same("masked_select", lambda a: torch.masked_select(a, MASK.to(a.device)), r(3, 4)),
    same("masked_select-broadcast", lambda a: a.masked_select(MASK[:, :1].to(a.device)), r(4)),
    # flat positions
    same("take", lambda a: torch.take(a, on(a, [[0, -1], [5, 0]])), r(3, 4)),
    same("take_along_dim", lambda a: torch.take_along_dim(a, on(a, [[3, 0], [1, 1], [2, 2]]), 1), r(3, 4)),
    same("take_along_dim-broadcast", lambda a: a.take_along_dim(on(a, [[2], [0]]), dim=0), r(3, 4)),
    same("take_along_dim-flat", lambda a: torch.take_along_dim(a, on(a, [11, 0, 11])), r(3, 4)),
    same("put", lambda a, b: torch.put(a, on(a, [0, -1, 5]), b), r(3, 4), r(3)),
    same("put-accumulate", lambda a, b: a.put(on(a, [[1, 1], [7, 1]]), b, accumulate=True), r(3, 4), r(2, 2)),
    same("put-inplace", in_place("put_", lambda a: on(a, [2, 4]), None), r(3, 4), r(2)),
    # where: three arguments (tensors and numbers on either side), the method, the one-argument form
    same("where", lambda a, b: torch.where(MASK.to(a.device), a, b), r(3, 4), r(4)),
    same("where-number-other", lambda a: torch.where(MASK.to(a.device), a, 0.0), r(3, 4)),
    same("where-number-input", lambda a: torch.where(MASK.to(a.device), 2, a), r(3, 4)),
    same("where-method", lambda a, b: a.where(MASK.to(a.device), b), r(3, 4), r(3, 1)),
    same("where-mixed-dtypes", lambda a, b: torch.where(MASK.to(a.device), a, b), r(3, 4).float(), r(3, 4)),
    same(
        "where-condition-variable",
        lambda a: torch.where(a > 0, a, a * a),
        r(3, 4),
    ),
    # scatters of a whole slice
    same("select_scatter", lambda a, b: torch.select_scatter(a, b, 1, -1), r(3, 4), r(3)),
    same("slice_scatter", lambda a, b: a.slice_scatter(b, 1, 1, None, 2), r(3, 4), r(3, 2)),
    same("diagonal_scatter", lambda a, b: torch.diagonal_scatter(a, b, 1), r(3, 4), r(3)),
    same("diagonal_scatter-dims", lambda a, b: a.diagonal_scatter(b, -1, 2, 0), r(3, 2, 4), r(2, 3)),
]


def _into_zeros(buffer: Any, b: Any) -> Any:
    buffer[1] = b
    buffer[2, 1:] = b[:3] * 2
    return buffer


def _add_at(y: Any, index: Any, b: Any) -> Any:
    y[index] += b  # a read, an add and an assignment: a repeated row gets b once, as in torch
    return y


def _twice(y: Any, b: Any) -> Any:
    y[0, :3] = b
    y[:, 1] = torch.exp(b)
    y[2] = y[0] + 1
    return y


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


@pytest.mark.parametrize(
    "name,fn,inputs",
    [
        (
            "index_put",
            lambda a, b: ag.ops.index_put(a, b, index=(torch.tensor([0, 2]), None, slice(1, 3))),
            [r(3, 4), r(2)],
        ),
        (
            "index_put-accumulate",
            lambda a, b: ag.ops.index_put(a, b, index=(slice(None), torch.tensor([1, 1])), accumulate=True),
            [r(3, 4), r(3, 2)],
        ),
        ("scatter-src-larger", lambda a, b: ag.ops.scatter(a, b, dim=0, index=ROWS[:, :2]), [r(3, 4), r(3, 5)]),
        ("scatter_add-src-larger", lambda a, b: ag.ops.scatter_add(a, b, dim=1, index=ROWS.T), [r(4, 3), r(5, 3)]),
        *[
            (
                f"scatter_reduce-{reduce}",
                lambda a, b, reduce=reduce: ag.ops.scatter_reduce(a, b, dim=0, index=ROWS, reduce=reduce),
                [r(3, 4), r(2, 5)],
            )
            for reduce in ("sum", "prod", "mean", "amax", "amin")
        ],
        (
            "scatter_reduce-prod-exclude-self",
            lambda a, b: ag.ops.scatter_reduce(a, b, dim=1, index=ROWS.T, reduce="prod", include_self=False),
            [r(4, 3), r(4, 2)],
        ),
    ],
)
def test_finite_differences(name, fn, inputs):
    """The new primitives (also where src is larger than the index, which torch's backward refuses)."""
    assert ag.gradcheck(fn, inputs)
    assert ag.gradgradcheck(fn, inputs)


def test_scatter_reduce_forms_without_a_torch_derivative():
    """scatter(reduce=...) has no derivative in torch: its values are torch's, its gradient that of the
    matching scatter_add / scatter_reduce."""
    a, b = r(3, 4), r(2, 4)
    for reduce, same_as in [("add", "sum"), ("multiply", "prod")]:
        expected = torch.scatter_reduce(a, 0, ROWS, b, same_as)
        fn = lambda x, y, reduce=reduce: torch.scatter(x, 0, ROWS, y, reduce=reduce)  # noqa: E731
        out = fn(ag.Variable(a), ag.Variable(b))
        torch.testing.assert_close(out.data, torch.scatter(a, 0, ROWS, b, reduce=reduce))
        torch.testing.assert_close(out.data, expected)
        assert ag.gradcheck(fn, [a, b])
    out = ag.Variable(a, requires_grad=True).scatter(0, ROWS, value=2.0, reduce="multiply")
    torch.testing.assert_close(out.data, a.scatter(0, ROWS, value=2.0, reduce="multiply"))


# --- x[index] = value: torch's in-place semantics --------------------------------------------------
def test_assignment_rebinds_the_same_variable():
    x = ag.Variable(r(3, 4), requires_grad=True)
    y = x * 2
    before = y.data
    version = before._version
    alias = y
    y[1, 1:] = 0.0
    assert alias is y and y.op == "index_put" and y.requires_grad
    assert before._version == version  # the recorded value is left as it was: nothing else is bumped
    assert y.data[1, 1:].eq(0).all() and y.data[0].equal(before[0])
    y.sum().backward()
    expected = torch.full((3, 4), 2.0, dtype=torch.float64)
    expected[1, 1:] = 0
    torch.testing.assert_close(x.grad.data, expected)


def test_assignment_into_a_leaf_that_requires_grad():
    x = ag.Variable(r(3), requires_grad=True)
    t = torch.randn(3, dtype=torch.float64, requires_grad=True)
    for target in (x, t):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            target[0] = 1.0
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            target.masked_fill_(target.detach() > 0, 0.0)
    storage = x.data
    with ag.no_grad():
        x[0] = 5.0  # allowed outside recording: written into the leaf's tensor
        x.index_fill_(0, torch.tensor([2]), -1.0)
    with torch.no_grad():
        x[1] = 6.0  # as torch allows it for t, initialising parameters
        t[1] = 6.0
    assert x.data is storage and x.data.tolist() == [5.0, 6.0, -1.0] and x.is_leaf and x.requires_grad


def test_assignment_without_grad_writes_into_the_tensor():
    t = torch.zeros(2, 3)
    v = ag.Variable(t)
    v[0, ag.Variable(torch.tensor([0, 2]))] = torch.tensor(1.0)
    v.index_add_(1, torch.tensor([1, 1]), torch.ones(2, 2))
    v.masked_fill_(torch.tensor([False, True]).unsqueeze(1), 7.0)
    assert v.data is t and not v.requires_grad and v.is_leaf
    assert t.tolist() == [[1.0, 2.0, 1.0], [7.0, 7.0, 7.0]]


def test_assigning_a_variable_that_requires_grad_into_a_constant_variable():
    b = ag.Variable(r(2), requires_grad=True)
    buffer = ag.Variable(torch.zeros(3, 2, dtype=torch.float64))
    buffer[1] = b
    buffer[2] = b * b
    assert buffer.requires_grad and not buffer.is_leaf
    buffer.sum().backward()
    torch.testing.assert_close(b.grad.data, 1 + 2 * b.data)


def test_plain_tensors_with_variables():
    """tensor[v] indexes by v's values; tensor[i] = v is refused when v requires grad (a tensor cannot
    record it), and writes v's values otherwise."""
    t = torch.arange(6.0).reshape(2, 3)
    got = t[ag.Variable(torch.tensor([1, 0, 1]))]
    assert isinstance(got, torch.Tensor) and got.equal(t[torch.tensor([1, 0, 1])])
    got = t[[ag.Variable(torch.tensor(1)), 0], ag.Variable(torch.tensor([2]))]
    assert isinstance(got, torch.Tensor) and got.equal(t[[1, 0], torch.tensor([2])])
    t[0] = ag.Variable(torch.tensor([9.0, 9.0, 9.0]))
    assert t[0].tolist() == [9.0, 9.0, 9.0]
    with pytest.raises(TypeError, match="a torch.Tensor cannot hold a Variable that requires grad"):
        t[1] = ag.Variable(torch.ones(3), requires_grad=True)
    with ag.no_grad():
        t[1] = ag.Variable(torch.ones(3), requires_grad=True)
    assert t[1].tolist() == [1.0, 1.0, 1.0]


def test_in_place_result_keeps_the_shape():
    y = ag.Variable(r(4), requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="shape"):
        y.masked_fill_(MASK, 0.0)


def test_saved_values_stay_valid_after_assignment():
    """The engine leaves the recorded tensor as it was: a graph that saved it differentiates as before
    (torch would raise here, having modified what backward needs)."""
    x = ag.Variable(r(3), requires_grad=True)
    y = torch.exp(x)
    y[0] = 0.0
    y.sum().backward()
    expected = torch.exp(x.data)
    expected[0] = 0
    torch.testing.assert_close(x.grad.data, expected)


def test_jacobian_and_hessian_through_assignment_and_scatters():
    """The batched reverse passes of ag.jacobian / ag.hessian run these VJPs under torch.vmap."""
    idx = torch.tensor([0, 2, 0])

    def f(a: Any) -> Any:
        y = a * 1
        y[idx] = a[:3] * 2
        z = torch.scatter(y.reshape(2, 3), 1, torch.tensor([[0, 2], [1, 1]]), y[:4].reshape(2, 2) ** 2)
        w = torch.scatter_reduce(z, 0, torch.tensor([[1, 0, 1]]), z[:1] * 3, "prod")
        return (w**2).sum() + torch.index_add(a, 0, idx, a[:3] ** 2).pow(2).sum()

    x = r(6)
    torch.testing.assert_close(ag.hessian(f)(x), torch.autograd.functional.hessian(f, x))
    g = lambda a: torch.masked_scatter(a.reshape(2, 3), MASK[:2, :3], a.flip(0) ** 2)  # noqa: E731
    torch.testing.assert_close(ag.jacobian(g)(x), torch.autograd.functional.jacobian(g, x))


# --- index tensors: devices, dtypes, results that are indices --------------------------------------
def test_index_tensors_on_the_cpu_index_any_device(device):
    x = ag.Variable(r(3, 4).to(device), requires_grad=True)
    index, mask = torch.tensor([2, 0, 2]), MASK
    y = x[index] * 2 + x[mask].sum()
    y.sum().backward()
    t = x.data.clone().requires_grad_()
    (t[index] * 2 + t[mask].sum()).sum().backward()
    torch.testing.assert_close(x.grad.data, t.grad)


def test_index_results_are_plain_tensors():
    v = ag.Variable(torch.tensor([[0.0, 1.5], [2.0, 0.0]]), requires_grad=True)
    t = v.data
    for got, expected in [
        (torch.nonzero(v), torch.nonzero(t)),
        (v.nonzero(), t.nonzero()),
        (torch.argwhere(v), torch.argwhere(t)),
        (v.argwhere(), t.argwhere()),
    ]:
        assert type(got) is torch.Tensor and got.equal(expected)
    for got_tuple, expected_tuple in [
        (torch.nonzero(v, as_tuple=True), torch.nonzero(t, as_tuple=True)),
        (torch.where(v), torch.where(t)),
        (torch.where(v > 0), torch.where(t > 0)),
    ]:
        assert isinstance(got_tuple, tuple) and all(type(g) is torch.Tensor for g in got_tuple)
        assert all(g.equal(e) for g, e in zip(got_tuple, expected_tuple))


def test_integer_values_follow_torch():
    """Integer Variables (never differentiated) get torch's dtypes and values."""
    t = torch.arange(12).reshape(3, 4)
    v = ag.Variable(t)
    for fn in [
        lambda a: a.masked_fill(MASK, 2.7),
        lambda a: torch.index_fill(a, 1, torch.tensor([0, 2]), -1),
        lambda a: a.scatter(0, ROWS, 5),
        lambda a: torch.scatter_reduce(a, 0, ROWS, a[:2] * 3, "mean"),
        lambda a: a.index_add(0, torch.tensor([0, 0]), a[:2], alpha=2),
        lambda a: torch.where(MASK, a, 1.5),
        lambda a: torch.take(a, torch.tensor([[3, -1]])),
    ]:
        got, expected = fn(v), fn(t)
        got = got.data if isinstance(got, ag.Variable) else got
        assert got.dtype == expected.dtype and got.equal(expected)


# --- errors: torch's type, torch's words -----------------------------------------------------------
X = torch.randn(3, 4, dtype=torch.float64)
IDX = torch.tensor([0, 2])

ERRORS = {
    "negative step": lambda a: a[::-1],
    "index out of range": lambda a: a[torch.tensor([3])],
    "too many indices": lambda a: a[0, 0, 0],
    "float index": lambda a: a[torch.tensor([0.0])],
    "mask of the wrong shape": lambda a: a[torch.tensor([True, False])],
    "setitem shape mismatch": lambda a: a.clone().__setitem__(0, torch.ones(3)),
    "gather float index": lambda a: torch.gather(a, 0, torch.tensor([[0.0]])),
    "gather bad dim": lambda a: torch.gather(a, 2, torch.tensor([[0]])),
    "gather out of range": lambda a: a.gather(0, torch.tensor([[3]])),
    "scatter negative": lambda a: torch.scatter(a, 0, torch.tensor([[-1]]), 1.0),
    "scatter dtype": lambda a: torch.scatter(a, 0, torch.tensor([[0]]), torch.ones(1, 1)),
    "scatter index ndim": lambda a: torch.scatter(a, 0, torch.tensor([0]), a),
    "scatter_add dtype": lambda a: torch.scatter_add(a, 0, torch.tensor([[0]]), torch.ones(1, 1)),
    "scatter_reduce unknown": lambda a: torch.scatter_reduce(a, 0, torch.tensor([[0]]), a, "median"),
    "index_select float": lambda a: torch.index_select(a, 0, IDX.float()),
    "index_select matrix": lambda a: torch.index_select(a, 0, IDX[None]),
    "index_select negative": lambda a: a.index_select(0, torch.tensor([-1])),
    "index_select out of range": lambda a: a.index_select(0, torch.tensor([3])),
    "index_select bad dim": lambda a: a.index_select(2, IDX),
    "index_add dtype": lambda a: torch.index_add(a, 0, IDX, a[:2].float()),
    "index_add count": lambda a: torch.index_add(a, 0, IDX, a[:1]),
    "index_add shape": lambda a: torch.index_add(a, 0, IDX, a[:2, :3]),
    "index_add negative": lambda a: torch.index_add(a, 0, torch.tensor([-1]), a[:1]),
    "index_add float index": lambda a: torch.index_add(a, 0, IDX.float(), a[:2]),
    "index_copy int32": lambda a: torch.index_copy(a, 0, IDX.int(), a[:2]),
    "index_copy count": lambda a: torch.index_copy(a, 0, IDX, a[:1]),
    "index_copy out of range": lambda a: torch.index_copy(a, 0, torch.tensor([3, 0]), a[:2]),
    "index_fill int32": lambda a: torch.index_fill(a, 0, IDX.int(), 1.0),
    "index_fill out of range": lambda a: torch.index_fill(a, 0, torch.tensor([3]), 1.0),
    "index_fill value dims": lambda a: torch.index_fill(a, 0, IDX, torch.ones(1, dtype=a.dtype)),
    "masked_fill float mask": lambda a: a.masked_fill(MASK.double(), 0.0),
    "masked_fill value dims": lambda a: a.masked_fill(MASK, torch.ones(2, dtype=a.dtype)),
    "masked_fill shapes": lambda a: a.masked_fill(MASK[:2, :3], 0.0),
    "masked_scatter short source": lambda a: a.masked_scatter(MASK, torch.ones(2, dtype=a.dtype)),
    "masked_scatter dtype": lambda a: a.masked_scatter(MASK, torch.ones(12)),
    "masked_select byte mask": lambda a: torch.masked_select(a, MASK.to(torch.uint8)),
    "take int32": lambda a: torch.take(a, IDX.int()),
    "take out of range": lambda a: torch.take(a, torch.tensor([12])),
    "take_along_dim ndim": lambda a: torch.take_along_dim(a, IDX, 0),
    "take_along_dim int32": lambda a: torch.take_along_dim(a, IDX[None].int(), 1),
    "put count": lambda a: torch.put(a, IDX, a[0]),
    "put dtype": lambda a: torch.put(a, IDX, torch.ones(2)),
    "put out of range": lambda a: torch.put(a, torch.tensor([12]), a[0, :1]),
    "index_put dtype": lambda a: torch.index_put(a, (IDX,), torch.ones(())),
    "index_put number": lambda a: torch.index_put(a, (IDX,), 1.0),
    "where float condition": lambda a: torch.where(a, a, a),
    "select_scatter shape": lambda a: torch.select_scatter(a, a[:, 0], 0, 1),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_are_torchs(name):
    fn = ERRORS[name]
    try:
        fn(X.clone())
    except Exception as e:  # noqa: BLE001 (whatever torch raises, the engine must raise too)
        expected = e
    else:
        raise AssertionError(f"torch raised nothing for {name}")
    with pytest.raises(type(expected)) as got:
        fn(ag.Variable(X.clone(), requires_grad=True) * 1)
    assert type(got.value) is type(expected), f"{name}: {got.value!r}, torch: {expected!r}"


# --- index_add: torch's kernel, torch's bits ----------------------------------------------------------------

INDEX_ADDS = [  # (dim, input shape, source shape, index)
    (0, (3, 4), (3, 4), [0, 2, 0]),
    (-1, (3, 4), (3, 3), [0, 2, 0]),
    (1, (5, 80, 3), (5, 4, 3), [1, 1, 0, 79]),
    (0, (70,), (5,), [3, 3, 1, 0, 69]),
    (0, (100, 70), (4, 70), [3, 3, 1, 0]),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("alpha", [1, 2.5, -0.3])
@pytest.mark.parametrize("dim,shape,source_shape,index", INDEX_ADDS, ids=str)
def test_index_add_is_torchs_kernel_bit_for_bit(dim, shape, source_shape, index, alpha, dtype):
    """torch adds the slices one by one in index order, alpha fused into each addition (not scatter_add of
    alpha * source): values and first-order gradients bitwise (plain and create_graph), second order close;
    the in-place method with an int32 index too."""
    gen = torch.Generator().manual_seed(7)
    x, source = (torch.randn(s, dtype=torch.float64, generator=gen).to(dtype) for s in (shape, source_shape))
    idx = torch.tensor(index)
    for fn in (
        lambda a, s: torch.index_add(a, dim, idx, s, alpha=alpha) ** 2,
        lambda a, s: (a * 1).index_add_(dim, idx.int(), s, alpha=alpha) * s.sum(),
    ):
        assert_torch_bits(fn, x, source, second_order=False)
        assert_torch_bits(fn, x, source)
