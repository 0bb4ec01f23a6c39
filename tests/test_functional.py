"""grad, value_and_grad, vjp, jacobian, hessian over pytrees, checked against torch.func."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import autograd_engine as ag

from .oracles import compare_with_torch


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def mlp_loss(params, x):
    h = ag.tanh(x @ params["w1"] + params["b1"])
    return ((h @ params["w2"]) ** 2).mean()


def torch_mlp_loss(params, x):
    h = torch.tanh(x @ params["w1"] + params["b1"])
    return ((h @ params["w2"]) ** 2).mean()


PARAMS = {"w1": r(3, 5), "b1": r(5), "w2": r(5, 2)}
X = r(4, 3)


def test_grad_over_dict_pytree():
    grads = ag.grad(mlp_loss)(PARAMS, X)
    expected = torch.func.grad(torch_mlp_loss)(PARAMS, X)
    assert set(grads) == set(PARAMS)
    for k in PARAMS:
        assert isinstance(grads[k], torch.Tensor)
        torch.testing.assert_close(grads[k], expected[k])


def test_value_and_grad_argnums_and_aux():
    def f(a, bs, c):
        return (a * bs[0] + bs[1][1] ** 2).sum() * c

    a, bs = r(3), [r(3), (r(1), r(3))]
    (value, aux), (ga, gbs) = ag.value_and_grad(lambda *args: (f(*args), "aux"), argnums=(0, 1), has_aux=True)(
        a, bs, 2.0
    )
    (ta, tbs), tv = torch.func.grad_and_value(f, argnums=(0, 1))(a, bs, 2.0)
    assert aux == "aux" and isinstance(value, torch.Tensor)
    torch.testing.assert_close(value, tv)
    torch.testing.assert_close(ga, ta)
    assert isinstance(gbs, list) and isinstance(gbs[1], tuple)
    torch.testing.assert_close(gbs[0], tbs[0])
    torch.testing.assert_close(gbs[1][0], torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(gbs[1][1], tbs[1][1])


def test_grad_returns_variables_for_variables():
    x = ag.Variable(r(3))
    g = ag.grad(lambda v: (v**2).sum())(x)
    assert isinstance(g, ag.Variable) and not g.requires_grad
    torch.testing.assert_close(g.data, 2 * x.data)


def test_grad_of_non_scalar_is_a_clear_error():
    with pytest.raises(ValueError, match=r"single-element .* got \(3,\)"):
        ag.grad(lambda v: v * 2)(r(3))


def test_grad_of_constant_function_is_zero():
    torch.testing.assert_close(ag.grad(lambda v: torch.tensor(1.0))(r(3)), torch.zeros(3, dtype=torch.float64))


def test_nested_grad_and_perturbation_confusion(device):
    f = lambda x: (x.sin() if isinstance(x, torch.Tensor) else ag.sigmoid(x)).sum()  # noqa: E731
    d2 = ag.grad(ag.grad(f))(torch.tensor(0.7, dtype=torch.float64, device=device))
    s = torch.sigmoid(torch.tensor(0.7, dtype=torch.float64, device=device))
    torch.testing.assert_close(d2, s * (1 - s) * (1 - 2 * s))

    # d/dx [ d/dy (x * y) at y = x ] = d/dx x = 1: the inner level must not see the outer x as its own
    g = ag.grad(lambda x: ag.grad(lambda y: (x * y).sum())(x).sum())(torch.tensor(3.0, device=device))
    torch.testing.assert_close(g, torch.tensor(1.0, device=device))


def test_vjp_matches_torch_func(device):
    f = lambda a, b: ag.softmax(a @ b, 1)  # noqa: E731
    a, b = r(3, 4).to(device), r(4, 5).to(device)
    out, vjp_fn = ag.vjp(f, a, b)
    t_out, t_vjp = torch.func.vjp(lambda a, b: torch.softmax(a @ b, 1), a, b)
    torch.testing.assert_close(out, t_out)
    v = r(3, 5).to(device)
    for mine, theirs in zip(vjp_fn(v), t_vjp(v)):
        torch.testing.assert_close(mine, theirs)
    for mine, theirs in zip(vjp_fn(2 * v), t_vjp(2 * v)):  # callable again: the graph is kept
        torch.testing.assert_close(mine, theirs)


def test_jacobian_matches_jacrev(device):
    f = lambda x, y: ag.tanh(x[:, None] * y).sum(0)  # noqa: E731
    x, y = r(3).to(device), r(3, 4).to(device)
    jx, jy = ag.jacobian(f, argnums=(0, 1))(x, y)
    tx, ty = torch.func.jacrev(lambda x, y: torch.tanh(x[:, None] * y).sum(0), argnums=(0, 1))(x, y)
    torch.testing.assert_close(jx, tx)
    torch.testing.assert_close(jy, ty)


def test_hessian_matches_torch_func(device):
    x, params = r(4, 3).to(device), {k: v.to(device) for k, v in PARAMS.items()}
    h = ag.hessian(lambda p: mlp_loss(p, x))(params)
    th = torch.func.hessian(lambda p: torch_mlp_loss(p, x))(params)
    for a in params:
        for b in params:
            torch.testing.assert_close(h[a][b], th[a][b])


def test_jacobian_rows_in_blocks_one_by_one_and_under_anomaly_mode(monkeypatch):
    f = lambda x, w: ag.log_softmax(ag.tanh(x @ w)[1:], 1)  # noqa: E731 (getitem, matmul, reductions)
    tf = lambda x, w: torch.log_softmax(torch.tanh(x @ w)[1:], 1)  # noqa: E731
    x, w = r(4, 3), r(3, 5)
    expected = torch.func.jacrev(tf, argnums=(0, 1))(x, w)
    monkeypatch.setattr(ag.transforms, "_PASS_ELEMENTS", 60)  # 15 rows of 15 elements: 4 rows a pass, 4 passes
    for mine, theirs in zip(ag.jacobian(f, argnums=(0, 1))(x, w), expected):
        torch.testing.assert_close(mine, theirs)
    with ag.detect_anomaly():  # anomaly checks look at values: one pass per row
        for mine, theirs in zip(ag.jacobian(f, argnums=(0, 1))(x, w), expected):
            torch.testing.assert_close(mine, theirs)

    # a user primitive that vmap cannot batch (it writes into a tensor of its own) still works, row by row
    def scatter_adjoint(g):
        out = torch.zeros(5, dtype=g.dtype)
        out[1:4] = g
        return out

    take = ag.Primitive(lambda x: x[1:4])
    take.defvjp(lambda g, ans, x: scatter_adjoint(g))
    jac = ag.jacobian(lambda x: take(x) * 2)(r(5))
    torch.testing.assert_close(jac, 2 * torch.eye(5, dtype=torch.float64)[1:4])


def test_gradcheck_catches_a_wrong_derivative():
    wrong = ag.Primitive(lambda x: x * 2)
    wrong.defvjp(lambda g, ans, x: g * 3)
    with pytest.raises(ag.GradcheckError, match="input 0"):
        ag.gradcheck(lambda x: wrong(x), [r(3)])
    assert ag.gradcheck(lambda x: wrong(x), [r(3)], raise_exception=False) is False


@settings(max_examples=25, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "div", "maximum", "pow", "where"]),
)
def test_broadcasting_binary_ops(shapes, op):
    a_shape, b_shape = shapes.input_shapes
    gen = torch.Generator().manual_seed(hash((a_shape, b_shape, op)) % 2**31)
    a = torch.rand(a_shape, dtype=torch.float64, generator=gen) + 0.5
    b = torch.randn(b_shape, dtype=torch.float64, generator=gen)
    engine = {
        "add": ag.add,
        "sub": ag.sub,
        "mul": ag.mul,
        "div": ag.div,
        "maximum": ag.maximum,
        "pow": ag.pow,
        "where": lambda x, y: ag.where(x.data > 1, x, y),
    }[op]
    reference = {
        "add": torch.add,
        "sub": torch.sub,
        "mul": torch.mul,
        "div": torch.div,
        "maximum": torch.maximum,
        "pow": torch.pow,
        "where": lambda x, y: torch.where(x > 1, x, y),
    }[op]
    if op == "div":
        a, b = b, a
    compare_with_torch(engine, reference, [a, b])


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_reductions_over_random_dims(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(len(shape) + dim))
    compare_with_torch(lambda v: v.sum(dim, keepdim), lambda v: v.sum(dim, keepdim), [x])
    compare_with_torch(lambda v: v.max(dim, keepdim).values, lambda v: v.max(dim, keepdim).values, [x])
    compare_with_torch(lambda v: ag.logsumexp(v, dim, keepdim), lambda v: torch.logsumexp(v, dim, keepdim), [x])
