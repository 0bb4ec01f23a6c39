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


def _normalize(returns_norm: int) -> ag.Primitive:
    """x / |x| with |x| as the residual `norm`; the forward returns `returns_norm` copies of it (1 is right)."""

    @ag.primitive(saves="x", residuals="norm")
    def user_normalize(x):
        norm = x.norm()
        return x / norm if returns_norm == 0 else (x / norm, *[norm] * returns_norm)

    return user_normalize.defvjp_joint(lambda g, ans, x, *, norm: (g / norm,), wrt="x")


def _mul(joint, wrt: str = "x y") -> ag.Primitive:
    @ag.primitive(saves="x y")
    def user_mul(x, y):
        return x * y

    return user_mul.defvjp_joint(joint, wrt=wrt)


def _backward_of(prim: ag.Primitive, *shapes: tuple[int, ...]) -> list[ag.Variable]:
    xs = [ag.Variable(r(*shape), requires_grad=True) for shape in shapes]
    prim(*xs).sum().backward()
    return xs


def test_a_forward_that_forgets_its_residuals_is_refused_not_unpacked_along_dim_0():
    prim = _normalize(returns_norm=0)
    message = (
        r"user_normalize: residuals='norm', so the forward must return the tuple \(output, norm\); it returned a Tensor"
    )
    with pytest.raises(TypeError, match=message + r" \(\(2, 3\) float64"):
        prim(r(2, 3))  # plain tensors too: the shape would be (3,)
    with pytest.raises(TypeError, match=message + r" \(\(1, 3\) float64"):
        prim(ag.Variable(r(1, 3), requires_grad=True))


@pytest.mark.parametrize("count", [2, 3])
def test_a_forward_returning_more_residuals_than_named_is_refused(count):
    with pytest.raises(
        ValueError, match=rf"must return the tuple \(output, norm\); it returned a tuple of {count + 1}"
    ):
        _normalize(returns_norm=count)(ag.Variable(r(3), requires_grad=True))


def test_a_forward_returning_fewer_residuals_than_named_is_refused():
    @ag.primitive(saves="x", residuals="mean rstd")
    def user_stats(x):
        return x - x.mean(), x.mean()

    with pytest.raises(ValueError, match=r"tuple \(output, mean, rstd\); it returned a tuple of 2: \(\(4,\) float64"):
        user_stats(r(4))


@pytest.mark.parametrize(
    "forward, residuals, match",
    [
        (
            lambda x, *, scale: (x * scale, x),
            "scale",
            r"residual 'scale' has the name of the forward's parameter 'scale'",
        ),
        (lambda x, norm: (x, x.norm()), "norm", r"residual 'norm' .* parameter 'norm' in <lambda>\(x, norm\)"),
        (lambda x: (x, x, x), "a a", r"residuals='a a' names a twice"),
    ],
    ids=["keyword-option", "input", "twice"],
)
def test_a_residual_that_would_replace_another_keyword_of_the_vjp_is_refused_at_definition(forward, residuals, match):
    with pytest.raises(ValueError, match=rf"primitive <lambda>: {match}"):
        ag.primitive(residuals=residuals)(forward)


@pytest.mark.parametrize("last", ["defvjp", "defvjp_joint"])
def test_defvjp_and_defvjp_joint_each_replace_the_other(last):
    @ag.primitive(saves="x")
    def user_square(x):
        return x * x

    wrong, right = (lambda g, ans, x: g * 100 * x), (lambda g, ans, x: g * 2 * x)
    if last == "defvjp":
        user_square.defvjp_joint(lambda g, ans, x: (wrong(g, ans, x),), wrt="x").defvjp(right)
    else:
        user_square.defvjp(wrong).defvjp_joint(lambda g, ans, x: (right(g, ans, x),), wrt="x")
    assert (user_square.joint is None) == (last == "defvjp")
    (x,) = _backward_of(user_square, (5,))
    expected = x.data.clone().requires_grad_()
    (expected * expected).sum().backward()
    assert torch.equal(x.grad.data, expected.grad)


@pytest.mark.parametrize(
    "joint, kind, match",
    [
        (lambda g, ans, x, y: (g * y,), RuntimeError, r"returned 1 values \(\(3,\) float64 on cpu\)"),
        (lambda g, ans, x, y: (g * y, g * x, g), RuntimeError, r"returned 3 values"),
        (lambda g, ans, x, y: (g * y, None), TypeError, r"returned None for input 1 \(y\)"),
        (lambda g, ans, x, y: {"x": g * y, "y": g * x}, TypeError, r"returned a dict \(\{'x': tensor"),
        (lambda g, ans, x, y: g * y, TypeError, r"returned a Tensor"),
    ],
    ids=["too-few", "too-many", "None-in-wrt", "dict", "tensor"],
)
def test_a_joint_vjp_that_does_not_return_one_gradient_per_input_is_named_when_backward_runs(joint, kind, match):
    prim = _mul(joint)
    with pytest.raises(kind, match=rf"^user_mul: the joint VJP '<lambda>' {match}.*a tuple of 2 gradients, one per "):
        _backward_of(prim, (3,), (3,))


def test_a_vjp_that_returns_none_for_an_input_needing_a_gradient_is_named_when_backward_runs():
    prim = _mul(lambda g, ans, x, y: (g * y, g * x))
    prim.defvjp(lambda g, ans, x, y: g * y, lambda g, ans, x, y: None)
    with pytest.raises(TypeError, match=r"^user_mul: the VJP '<lambda>' returned None for input 1 \(y\), which "):
        _backward_of(prim, (3,), (3,))
    x, y = ag.Variable(r(3), requires_grad=True), ag.Variable(r(3))  # y needs none: its VJP is not called
    prim(x, y).sum().backward()
    assert torch.equal(x.grad.data, y.data)


def test_a_joint_vjp_that_returns_the_wrong_shape_is_named_when_backward_runs():
    prim = _mul(lambda g, ans, x, y: (g * y, (g * x).sum()))
    with pytest.raises(RuntimeError, match=r"user_mul: the VJP for input 1 returned shape \(\), expected \(3,\)"):
        _backward_of(prim, (3,), (3,))


@pytest.mark.parametrize("define", ["defvjp", "defvjp_joint"])
def test_a_vjp_that_does_not_take_the_residuals_is_refused_at_definition(define):
    @ag.primitive(saves="x", residuals="norm")
    def user_unit(x):
        norm = x.norm()
        return x / norm, norm

    vjp = lambda g, ans, x: g  # noqa: E731 (forgot *, norm)
    with pytest.raises(TypeError, match=r"VJP '<lambda>' does not take norm: write it as def vjp\(g, ans, x, \*, norm"):
        user_unit.defvjp(vjp) if define == "defvjp" else user_unit.defvjp_joint(vjp, wrt="x")


def test_a_vjp_taking_the_residuals_as_extra_keywords_is_accepted():
    @ag.primitive(saves="ans", residuals="norm")
    def user_unit_kw(x):
        norm = x.norm()
        return x / norm, norm

    user_unit_kw.defvjp(lambda g, ans, x, **kw: g / kw["norm"] - ans * (g * ans).sum() / kw["norm"])
    (x,) = _backward_of(user_unit_kw, (4,))
    expected = x.data.clone().requires_grad_()
    (expected / expected.norm()).sum().backward()
    torch.testing.assert_close(x.grad.data, expected.grad)


def test_a_primitive_without_vjp_says_so_when_recorded_and_still_runs_on_tensors():
    @ag.primitive(saves="x")
    def user_twice(x):
        return 2 * x

    x = r(3)
    assert torch.equal(user_twice(x), 2 * x)
    with pytest.raises(NotImplementedError, match=r"primitive user_twice has no VJP.*user_twice\.defvjp\(vjp"):
        user_twice(ag.Variable(x, requires_grad=True))


def test_a_joint_vjp_for_no_input_is_refused():
    with pytest.raises(ValueError, match=r"defvjp_joint got wrt='': name the inputs .* among x y"):
        _mul(lambda g, ans, x, y: (g * y, g * x), wrt="")


@pytest.mark.parametrize("option", ["wrt", "residuals", "saves"])
def test_names_given_as_a_list_say_to_write_a_string(option):
    with pytest.raises(
        TypeError, match=rf"primitive user_mul: {option}= takes names separated by spaces, as {option}='x y'"
    ):
        if option == "wrt":
            _mul(lambda g, ans, x, y: (g * y, g * x), wrt=["x", "y"])
        else:

            @ag.primitive(**{option: ["x", "y"]})
            def user_mul(a, b):
                return a * b


def test_an_error_inside_a_vjp_names_the_op():
    @ag.primitive(saves="x")
    def user_failing(x):
        return x.exp()

    user_failing.defvjp(lambda g, ans, x: g * x.not_a_method())
    with pytest.raises(AttributeError, match=r"^user_failing: the VJP for input 0 failed: 'Tensor' object has no attr"):
        _backward_of(user_failing, (2,))
    joint = _mul(lambda g, ans, x, y: (g * y, g * x.not_a_method()))
    with pytest.raises(AttributeError, match=r"^user_mul: the joint VJP failed: 'Tensor' object has no attribute"):
        _backward_of(joint, (2,), (2,))
