"""Matrix products against torch autograd bit for bit: matmul (`@`, torch.matmul, mm, bmm, mv, dot), F.linear and
nn.Linear, with row- and column-major factors, 2-d and batched (folded) inputs, either or both requiring grad.

torch sums a column-major factor's gradient as the transpose of the transposed product (mm_mat1_backward,
mm_mat2_backward), and its matmul folds a batch into one mm or runs a batched one depending on which inputs
require grad; both change the last bits at the sizes below (float32 and float64), so values, gradients and
gradients of gradients are compared with torch.equal."""

from __future__ import annotations

import itertools

import pytest
import torch

import autograd_engine as ag
import nn
from autograd_engine.node import Meta

DTYPES = [torch.float32, torch.float64]
# (rows, inner, cols) per dtype, where the order of a product's gradient shows in the last bits
DIMS = {torch.float32: (8, 200, 8), torch.float64: (64, 200, 64)}
GRADS = [(True, True), (True, False), (False, True)]


def factor(shape: tuple[int, ...], column_major: bool, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """Standard normal values of `shape`; column_major: a matrix laid out column by column (a transpose)."""
    if column_major:
        return torch.randn((*shape[:-2], shape[-1], shape[-2]), dtype=dtype, generator=gen).mT
    return torch.randn(shape, dtype=dtype, generator=gen)


def run_both(fn, inputs: list[torch.Tensor], grads: tuple[bool, ...], create_graph: bool = False):
    """fn on tensors and on Variables (same layouts, requires_grad as `grads`), one output gradient, and both
    sides' outputs and gradients of the inputs that require grad."""
    leaves_t = [t.clone().requires_grad_(rg) for t, rg in zip(inputs, grads)]  # (clone keeps the layout)
    leaves_e = [ag.Variable(t.clone(), requires_grad=rg) for t, rg in zip(inputs, grads)]
    out_t, out_e = fn(*leaves_t), fn(*leaves_e)
    g = torch.randn(out_t.shape, dtype=out_t.dtype, generator=torch.Generator().manual_seed(7))
    wrt_t = [t for t in leaves_t if t.requires_grad]
    wrt_e = [v for v in leaves_e if v.requires_grad]
    grads_t = torch.autograd.grad(out_t, wrt_t, g, create_graph=create_graph)
    grads_e = ag.gradients(out_e, wrt_e, g, create_graph=create_graph)
    return (out_e, grads_e, wrt_e), (out_t, grads_t, wrt_t)


def assert_same(ours, theirs: torch.Tensor, what: str) -> None:
    ours = ours.data if isinstance(ours, ag.Variable) else ours
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, what
    assert torch.equal(ours, theirs.detach()), f"{what}: not torch's bits"


def assert_matches_torch(fn, inputs: list[torch.Tensor], grads: tuple[bool, ...]) -> None:
    (out_e, grads_e, _), (out_t, grads_t, _) = run_both(fn, inputs, grads)
    assert_same(out_e, out_t, "value")
    for i, (ours, theirs) in enumerate(zip(grads_e, grads_t)):
        assert_same(ours, theirs, f"gradient {i}")


# --- matmul: every case of torch's _matmul_impl ----------------------------------------------------------------
# (id, shapes from (rows, inner, cols)): matrices, a batch folded into rows or into y^T's rows, batched products
# (a batch of one dropped where it requires grad), broadcast batches, vectors
PRODUCTS = [
    ("matrix@matrix", lambda m, k, n: [(m, k), (k, n)]),
    ("batch@matrix", lambda m, k, n: [(4, m // 4, k), (k, n)]),
    ("4d@matrix", lambda m, k, n: [(2, 2, m // 4, k), (k, n)]),
    ("matrix@batch", lambda m, k, n: [(m, k), (4, k, n // 4)]),
    ("batch@batch", lambda m, k, n: [(3, m, k), (3, k, n)]),
    ("batch1@batch", lambda m, k, n: [(1, m, k), (3, k, n)]),
    ("batch@batch1", lambda m, k, n: [(3, m, k), (1, k, n)]),
    ("4d@batch", lambda m, k, n: [(2, 3, m // 4, k), (3, k, n)]),
    ("vector@matrix", lambda m, k, n: [(k,), (k, n)]),
    ("matrix@vector", lambda m, k, n: [(m, k), (k,)]),
    ("vector@vector", lambda m, k, n: [(k,), (k,)]),
    ("batch@vector", lambda m, k, n: [(4, m // 4, k), (k,)]),
    ("vector@batch", lambda m, k, n: [(k,), (4, k, n // 4)]),
]


def product_cases():
    """Each family with every layout its matrices can take (a vector has one) and each choice of grads."""
    for name, shapes in PRODUCTS:
        ndims = [len(s) for s in shapes(8, 8, 8)]
        for layout in itertools.product(*[(False, True) if d > 1 else (False,) for d in ndims]):
            tag = "-".join("col" if c else "row" if d > 1 else "vec" for c, d in zip(layout, ndims))
            for grads in GRADS:
                yield pytest.param(
                    shapes, layout, grads, id=f"{name}-{tag}-grad{''.join('xy'[i] for i in (0, 1) if grads[i])}"
                )


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shapes,layout,grads", list(product_cases()))
def test_matmul_values_and_gradients_are_torchs_bits(shapes, layout, grads, dtype):
    gen = torch.Generator().manual_seed(1)
    inputs = [factor(s, c, dtype, gen) for s, c in zip(shapes(*DIMS[dtype]), layout)]
    assert_matches_torch(lambda x, y: x @ y, inputs, grads)


ENTRY_POINTS = [
    ("torch.matmul", lambda x, y: torch.matmul(x, y), [(4, 16, 200), (200, 64)]),
    ("Tensor.matmul", lambda x, y: x.matmul(y), [(64, 200), (4, 200, 16)]),
    ("torch.mm", lambda x, y: torch.mm(x, y), [(64, 200), (200, 64)]),
    ("Tensor.mm", lambda x, y: x.mm(y), [(64, 200), (200, 64)]),
    ("torch.bmm", lambda x, y: torch.bmm(x, y), [(3, 64, 200), (3, 200, 64)]),
    ("torch.mv", lambda x, y: torch.mv(x, y), [(64, 200), (200,)]),
    ("torch.dot", lambda x, y: torch.dot(x, y), [(200,), (200,)]),
]


@pytest.mark.parametrize("grads", GRADS, ids=["both", "x", "y"])
@pytest.mark.parametrize("fn,shapes", [e[1:] for e in ENTRY_POINTS], ids=[e[0] for e in ENTRY_POINTS])
def test_every_entry_point_is_torchs_bits(fn, shapes, grads):
    """Column-major matrices (float64) through each way of asking for a product."""
    gen = torch.Generator().manual_seed(2)
    assert_matches_torch(fn, [factor(s, len(s) > 1, torch.float64, gen) for s in shapes], grads)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_the_plain_formula_would_not_be_torchs_bits(dtype):
    """The sizes above are real cases: for column-major factors g @ y^T and x^T @ g round otherwise than torch's
    gradients, and so does the weight's in a batch folded into rows; the engine's are torch's."""
    m, k, n = DIMS[dtype]
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(m, n, dtype=dtype, generator=torch.Generator().manual_seed(7))
    for shapes, layout in (([(m, k), (k, n)], (True, True)), ([(4, m // 4, k), (k, n)], (False, True))):
        x, y = (factor(s, c, dtype, gen) for s, c in zip(shapes, layout))
        (_, (gx_e, gy_e), _), (_, (gx_t, gy_t), _) = run_both(lambda a, b: a @ b, [x, y], (True, True))
        assert x.ndim == 3 or not torch.equal(g @ y.mT, gx_t)
        assert not torch.equal(x.reshape(m, k).mT @ g, gy_t)
        assert torch.equal(gx_e.data, gx_t) and torch.equal(gy_e.data, gy_t)


@pytest.mark.parametrize(
    "shapes", [[(64, 200), (4, 200, 64)], [(1, 64, 200), (4, 200, 64)]], ids=["matrix@batch", "batch1@batch"]
)
def test_the_forward_folds_where_torch_does(shapes):
    """torch folds a batch into one mm where the matrix requires grad, and its value has other bits then: the engine
    decides at the call, records it on the node (fold=True), and folds in no_grad mode too, as torch."""
    gen = torch.Generator().manual_seed(4)
    x, y = (torch.randn(s, dtype=torch.float64, generator=gen) for s in shapes)
    plain, folded = x @ y, (x.clone().requires_grad_() @ y).detach()
    assert not torch.equal(plain, folded)
    assert torch.equal((ag.Variable(x) @ ag.Variable(y)).data, plain)
    out = ag.Variable(x, requires_grad=True) @ ag.Variable(y)
    assert torch.equal(out.data, folded) and out.node.kwargs == {"fold": True}
    with ag.no_grad():
        assert torch.equal((ag.Variable(x, requires_grad=True) @ y).data, folded)


# --- F.linear and nn.Linear -------------------------------------------------------------------------------------
# x: a matrix, a contiguous batch (one addmm of its rows with a bias), a batch that is not contiguous (matmul, its
# rows copied where the weight requires grad), a vector; bias: 1-d, (1, n) (fused), 0-d (added after the product)
INPUTS = {
    "matrix": lambda m, k: torch.randn(m, k),
    "batch": lambda m, k: torch.randn(4, m // 4, k),
    "batch-transposed": lambda m, k: torch.randn(m // 4, 4, k).transpose(0, 1),
    "vector": lambda m, k: torch.randn(k),
}
BIASES = {"none": None, "1d": lambda n: (n,), "1xn": lambda n: (1, n), "0d": lambda n: ()}
LINEAR_GRADS = [(True, True, True), (True, False, False), (False, True, True), (False, True, False)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("grads", LINEAR_GRADS, ids=["all", "x", "weight-bias", "weight"])
@pytest.mark.parametrize("bias", list(BIASES), ids=[f"bias-{b}" for b in BIASES])
@pytest.mark.parametrize("weight_column_major", [False, True], ids=["weight-row", "weight-col"])
@pytest.mark.parametrize("x_kind", list(INPUTS))
def test_linear_values_and_gradients_are_torchs_bits(x_kind, weight_column_major, bias, grads, dtype):
    m, k, n = DIMS[dtype]
    torch.manual_seed(5)
    x = INPUTS[x_kind](m, k).to(dtype)
    weight = factor((n, k), weight_column_major, dtype, torch.Generator().manual_seed(6))
    if BIASES[bias] is None:
        assert_matches_torch(torch.nn.functional.linear, [x, weight], grads[:2])
    else:
        b = torch.randn(BIASES[bias](n), dtype=dtype)
        assert_matches_torch(torch.nn.functional.linear, [x, weight, b], grads)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 200), (4, 16, 200), (16, 4, 200)], ids=["matrix", "batch", "transposed"])
def test_nn_linear_is_torchs_bits(shape, dtype):
    """nn.Linear against torch.nn.Linear from the same seed: output, input and parameter gradients."""
    torch.manual_seed(8)
    ours = nn.Linear(200, 64, dtype=dtype)
    torch.manual_seed(8)
    theirs = torch.nn.Linear(200, 64, dtype=dtype)
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(9))
    x = x.transpose(0, 1) if shape == (16, 4, 200) else x
    x_t, x_e = x.clone().requires_grad_(), ag.Variable(x.clone(), requires_grad=True)
    out_t, out_e = theirs(x_t), ours(x_e)
    g = torch.randn(out_t.shape, dtype=dtype, generator=torch.Generator().manual_seed(7))
    out_t.backward(g)
    out_e.backward(g)
    assert_same(out_e, out_t, "value")
    assert_same(x_e.grad, x_t.grad, "input gradient")
    assert_same(ours.weight.grad, theirs.weight.grad, "weight gradient")
    assert_same(ours.bias.grad, theirs.bias.grad, "bias gradient")


# --- second order, what a node keeps ----------------------------------------------------------------------------
SECOND_ORDER = [
    ("matrix@matrix", lambda x, y: x @ y, [(64, 200), (200, 64)]),
    ("batch@matrix", lambda x, y: x @ y, [(4, 16, 200), (200, 64)]),
    ("matrix@batch", lambda x, y: x @ y, [(64, 200), (4, 200, 16)]),
    ("batch1@batch", lambda x, y: x @ y, [(1, 64, 200), (4, 200, 16)]),
    ("vector@matrix", lambda x, y: x @ y, [(200,), (200, 64)]),
    ("matrix@vector", lambda x, y: x @ y, [(64, 200), (200,)]),
    ("linear", lambda x, w, b: torch.nn.functional.linear(x, w, b), [(4, 16, 200), (64, 200), (64,)]),
    (
        "linear-transposed",
        lambda x, w, b: torch.nn.functional.linear(x.transpose(0, 1), w, b),
        [(16, 4, 200), (64, 200), ()],
    ),
]


@pytest.mark.parametrize("column_major", [False, True], ids=["row", "col"])
@pytest.mark.parametrize("fn,shapes", [c[1:] for c in SECOND_ORDER], ids=[c[0] for c in SECOND_ORDER])
def test_gradients_of_gradients_are_torchs_bits(fn, shapes, column_major):
    """create_graph: the first gradients, then the gradient of their inner product with fixed tensors (float64)."""
    gen = torch.Generator().manual_seed(10)
    inputs = [factor(s, column_major and len(s) == 2, torch.float64, gen) for s in shapes]
    (_, grads_e, leaves_e), (_, grads_t, leaves_t) = run_both(fn, inputs, (True,) * len(inputs), create_graph=True)
    for ours, theirs in zip(grads_e, grads_t):
        assert_same(ours, theirs, "first order")
    ws = [torch.randn(t.shape, dtype=t.dtype, generator=gen) for t in inputs]
    s_t = sum((g * w).sum() for g, w in zip(grads_t, ws))
    s_e = sum((g * w).sum() for g, w in zip(grads_e, ws))
    second_t = torch.autograd.grad(s_t, leaves_t, allow_unused=True)
    second_e = ag.gradients(s_e, leaves_e)
    for i, (ours, theirs) in enumerate(zip(second_e, second_t)):
        assert_same(ours, torch.zeros_like(inputs[i]) if theirs is None else theirs, f"second order {i}")


def test_a_node_keeps_the_layout_of_what_it_does_not_save():
    """x's gradient reads y only, so the node keeps x as a Meta: with its strides, which decide torch's order."""
    x = ag.Variable(torch.randn(200, 64, dtype=torch.float64).mT, requires_grad=True)
    y = ag.Variable(torch.randn(200, 64, dtype=torch.float64))
    node = (x @ y).node
    assert node.saved_tensors() == [y.data]
    assert isinstance(node.args[0], Meta) and node.args[0].stride() == (1, 64)
    x_t = ag.ops.transpose(x)
    assert x_t.node.stride() == x_t.data.stride() == (64, 1)  # (a node is the Meta of its output)
