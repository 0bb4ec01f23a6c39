"""Defining a primitive is one step: the decorator registers it, and its mistakes explain themselves."""

from __future__ import annotations

import pytest
import torch

import autograd_engine as ag

from .oracles import r


def _sin(saves: str, name: str = "user_sin") -> ag.Primitive:
    def forward(x):
        """sin x."""
        return torch.sin(x)

    forward.__name__ = forward.__qualname__ = name
    prim = ag.primitive(saves=saves)(forward)
    return prim


def test_defining_registers_and_the_graph_names_it():
    sin = _sin("x", "user_sin_registered")
    sin.defvjp(lambda g, ans, x: g * ag.ops.sub(1.0, ag.ops.mul(ans, ans)) ** 0.5)
    assert ag.PRIMITIVES["user_sin_registered"] is sin and not sin.builtin
    assert all(p.builtin for name, p in ag.PRIMITIVES.items() if name in ("add", "conv2d", "threshold"))
    x = ag.Variable(r(3), requires_grad=True)
    y = sin(x)
    assert y.op == "user_sin_registered"
    assert "user_sin_registered" in ag.graph.to_dot(y.sum()).source


def test_a_name_taken_by_another_primitive_registers_under_its_module():
    first = _sin("x", "user_twin")
    second = _sin("x", "user_twin")  # same name, same qualname, same module: a re-definition replaces itself
    assert ag.PRIMITIVES["user_twin"] is second and first.name == second.name

    def add(x, y):  # a user's own `add` must not replace the built-in one
        return x + y

    mine = ag.primitive()(add)
    assert ag.PRIMITIVES["add"] is ag.ops.add
    assert ag.PRIMITIVES[f"{__name__}.add"] is mine and mine.name == "add"


def test_defvjp_needs_one_vjp_per_positional_input():
    @ag.primitive(saves="x y")
    def user_hypot(x, y, *, eps=0.0):
        return torch.hypot(x, y)

    with pytest.raises(TypeError, match=r"2 positional inputs \(x, y\) but defvjp got 1 VJPs"):
        user_hypot.defvjp(lambda g, ans, x, y, **kw: g * x / ans)

    @ag.primitive()
    def user_cat(*xs):
        return torch.cat(xs)

    with pytest.raises(TypeError, match="defvjp_argnum"):
        user_cat.defvjp(lambda g, ans, *xs: g)


def test_a_forgotten_saves_says_what_to_write():
    sin = _sin("", "user_sin_unsaved")
    sin.defvjp(lambda g, ans, x: g * torch.cos(x))
    with pytest.raises(TypeError, match=r'only the shape of x.*@primitive\(saves="x"\)'):
        ag.check_primitive(sin, r(4))
    x = ag.Variable(r(4), requires_grad=True)
    with pytest.raises(TypeError, match=r'saves="x"'):  # the same message from an ordinary backward
        sin(x).sum().backward()


def test_a_vjp_written_with_torch_fails_when_first_checked_not_only_under_create_graph():
    j0 = _sin("x", "user_j0_torch_vjp")
    j0.forward = torch.special.bessel_j0
    j0.defvjp(lambda g, ans, x: -g * torch.special.bessel_j1(x))  # a torch function with no rule for Variables
    x = ag.Variable(r(4), requires_grad=True)
    j0(x).sum().backward()  # a first-order backward runs on tensors and works
    torch.testing.assert_close(x.grad.data, -torch.special.bessel_j1(x.data))
    with pytest.raises(TypeError, match=r"create_graph=True.*written with primitives"):
        ag.check_primitive(j0, r(4))


def test_a_vjp_using_torch_functions_that_dispatch_stays_differentiable():
    sin = _sin("x", "user_sin_dispatched_vjp")
    sin.defvjp(lambda g, ans, x: g * torch.cos(x))  # torch.cos records on Variables: second order works
    assert ag.check_primitive(sin, r(4))


def test_check_primitive_passes_a_correct_primitive_and_catches_a_wrong_derivative():
    sin, cos = _sin("x", "user_sin_ok"), _sin("x", "user_cos_ok")
    cos.forward = torch.cos
    sin.defvjp(lambda g, ans, x: g * cos(x))
    cos.defvjp(lambda g, ans, x: -(g * sin(x)))
    assert ag.check_primitive(sin, r(5)) and ag.check_primitive(cos, r(5))
    wrong = _sin("x", "user_sin_wrong")
    wrong.defvjp(lambda g, ans, x: g * wrong(x))
    with pytest.raises(ag.GradcheckError, match="input 0"):
        ag.check_primitive(wrong, r(5))
    with pytest.raises(ValueError, match="no floating-point tensor input"):
        ag.check_primitive(wrong, torch.arange(3))


def test_residuals_and_a_joint_vjp_make_one_backward_call_for_every_input():
    """A fused kernel's by-products reach the VJP as keyword arguments (kept by the node, not returned), and a
    joint VJP runs once per node however many inputs need gradients; check_primitive checks it as any other."""
    calls = []

    @ag.primitive(saves="x y", residuals="norm")
    def user_scaled_dot(x, y, *, scale):
        """scale * x . y, with |x| |y| as a residual."""
        return scale * (x * y).sum(), x.norm() * y.norm()

    def joint(g, ans, x, y, *, scale, norm):
        calls.append(norm)
        return ag.ops.mul(g, ag.ops.mul(y, scale)), ag.ops.mul(g, ag.ops.mul(x, scale))

    user_scaled_dot.defvjp_joint(joint, wrt="x y")
    x, y = (ag.Variable(t, requires_grad=True) for t in (r(4), r(4)))
    out = user_scaled_dot(x, y, scale=3.0)
    assert out.shape == () and torch.equal(out._node.kwargs["norm"], x.data.norm() * y.data.norm())
    out.backward()
    assert len(calls) == 1 and torch.equal(calls[0], x.data.norm() * y.data.norm())
    torch.testing.assert_close(x.grad.data, 3.0 * y.data)
    torch.testing.assert_close(y.grad.data, 3.0 * x.data)
    assert torch.equal(user_scaled_dot(x.data, y.data, scale=3.0), 3.0 * (x.data * y.data).sum())  # plain: no residual
    assert ag.check_primitive(user_scaled_dot, r(3), r(3), scale=0.5)

    with pytest.raises(ValueError, match=r"defvjp_joint names unknown inputs \['z'\]"):
        user_scaled_dot.defvjp_joint(joint, wrt="x z")
