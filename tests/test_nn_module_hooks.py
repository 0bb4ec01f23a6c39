"""Module hooks against torch.nn: forward pre-hooks, forward hooks (with_kwargs, always_call) and full
backward (pre-)hooks. Every test builds the same model in both libraries (`lib` is `nn` or `torch.nn`),
registers the same hooks, runs the same calls and compares what the hooks saw and what came out."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn

LIBS = (nn, torch.nn)
TOL = dict(rtol=1e-12, atol=1e-12)


def leaf(lib: Any, t: torch.Tensor, requires_grad: bool = True) -> Any:
    """The same leaf in either library."""
    t = t.clone()
    return ag.Variable(t, requires_grad=requires_grad) if lib is nn else t.requires_grad_(requires_grad)


def raw(value: Any) -> Any:
    """What a hook saw, as plain tensors (nested tuples, lists and dicts followed); Variables unwrapped."""
    if isinstance(value, ag.Variable):
        return value.data
    if isinstance(value, (tuple, list)):
        return type(value)(raw(v) for v in value)
    if isinstance(value, dict):
        return {k: raw(v) for k, v in value.items()}
    return value


def assert_same(ours: Any, theirs: Any) -> None:
    """Equal structure, None where torch has None, equal values (float64: within TOL) and dtypes."""
    ours, theirs = raw(ours), raw(theirs)
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), (ours, theirs)
        torch.testing.assert_close(ours, theirs.detach(), **TOL)
    elif isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    elif isinstance(theirs, dict):
        assert ours.keys() == theirs.keys()
        for k in theirs:
            assert_same(ours[k], theirs[k])
    else:
        assert ours == theirs, (ours, theirs)


def linear(lib: Any) -> Any:
    torch.manual_seed(0)
    return lib.Linear(3, 2).double()


def mix(lib: Any) -> Any:
    """Two tensor inputs, a tensor and a number that need no grad, a keyword; outputs: two that depend on
    the inputs (the second one on `a` only) and a constant."""

    class Mix(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = lib.Parameter(torch.linspace(0.5, 1.5, 3, dtype=torch.float64))

        def forward(self, a: Any, b: Any, c: Any, n: int, scale: float = 1.0) -> Any:
            return a * b * self.w * scale + c, torch.tanh(a) * n, torch.ones(2)

    return Mix()


X = torch.linspace(-1.0, 1.0, 12, dtype=torch.float64).reshape(4, 3)
A = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
B = torch.tensor([1.5, 0.25, -0.5], dtype=torch.float64)
C = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)


def mix_call(lib: Any, model: Any, b_grad: bool = True, b_dtype: torch.dtype = torch.float64) -> tuple[Any, ...]:
    a, b = leaf(lib, A), leaf(lib, B.to(b_dtype), b_grad)
    return (a, b), model(a, b, leaf(lib, C, False), 3, scale=2.0)


# --- forward pre-hooks -------------------------------------------------------------------------------
@pytest.mark.parametrize("wrap", [True, False], ids=["tuple", "single-value"])
def test_a_forward_pre_hook_sees_and_replaces_the_arguments(wrap: bool) -> None:
    def run(lib: Any) -> Any:
        model, seen = linear(lib), []

        def hook(module: Any, args: Any) -> Any:
            seen.append(args)
            return (args[0] * 2,) if wrap else args[0] * 2

        model.register_forward_pre_hook(hook)
        return seen, model(leaf(lib, X))

    ours, theirs = run(nn), run(torch.nn)
    assert_same(ours, theirs)
    assert_same(theirs[1], linear(torch.nn)(X * 2))


def test_a_forward_pre_hook_with_kwargs_replaces_args_and_kwargs() -> None:
    def run(lib: Any) -> Any:
        model, seen = mix(lib), []

        def hook(module: Any, args: Any, kwargs: Any) -> Any:
            seen.append((args[3], kwargs))
            return (args[0], args[1] * 0, *args[2:]), {"scale": 10.0}

        model.register_forward_pre_hook(hook, with_kwargs=True)
        return seen, mix_call(lib, model)[1]

    ours, theirs = run(nn), run(torch.nn)
    assert ours[0] == theirs[0] == [(3, {"scale": 2.0})]
    assert_same(ours, theirs)


@pytest.mark.parametrize("bad", [5, (1,), (1, 2, 3), [(), {}]], ids=repr)
@pytest.mark.parametrize("lib", LIBS, ids=["ours", "torch"])
def test_a_forward_pre_hook_with_kwargs_must_return_args_and_kwargs(lib: Any, bad: Any) -> None:
    model = linear(lib)
    model.register_forward_pre_hook(lambda m, a, k: bad, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\)"):
        model(leaf(lib, X))


# --- forward hooks ----------------------------------------------------------------------------------
def test_a_forward_hook_with_kwargs_sees_them_and_replaces_the_output() -> None:
    def run(lib: Any) -> Any:
        model, seen = mix(lib), []

        def hook(module: Any, args: Any, kwargs: Any, out: Any) -> Any:
            seen.append((args[:2], kwargs, out))
            return out[0] * 3

        model.register_forward_hook(hook, with_kwargs=True)
        return seen, mix_call(lib, model)[1]

    assert_same(run(nn), run(torch.nn))


def test_a_forward_hook_returning_a_non_tensor_for_a_tensor_is_a_type_error() -> None:
    model = linear(nn)
    model.register_forward_hook(lambda m, args, out: "no")
    with pytest.raises(TypeError, match=r"forward hook '<lambda>' of Linear returned 'str' \('no'\) in place"):
        model(leaf(nn, X))


def events_with_a_failing_call(lib: Any, fail_in: str) -> list[Any]:
    """What the hooks record when forward (or the second forward hook) raises."""
    events: list[Any] = []
    model = linear(lib)
    if fail_in == "forward":
        model.forward = lambda x: (_ for _ in ()).throw(ValueError("boom"))
    model.register_forward_pre_hook(lambda m, a: (a[0] + 1,))
    model.register_forward_hook(lambda m, a, out: events.append(("always", a, out)), always_call=True)
    model.register_forward_hook(
        lambda m, a, k, out: events.append(("always-kw", k, out)), always_call=True, with_kwargs=True
    )

    def fails(m: Any, a: Any, out: Any) -> None:
        events.append("fails")
        raise ValueError("boom")

    model.register_forward_hook(fails)
    model.register_forward_hook(lambda m, a, out: events.append("never"))

    def fails_always(m: Any, a: Any, out: Any) -> None:
        raise KeyError("inner")

    model.register_forward_hook(fails_always, always_call=True)
    with pytest.raises(ValueError, match="boom"):
        with pytest.warns(UserWarning, match="``always_call=True`` raised an exception that was silenced.*'inner'"):
            model(leaf(lib, X))
    return events


@pytest.mark.parametrize("fail_in", ["forward", "forward hook"])
def test_always_call_forward_hooks_run_when_the_call_raises(fail_in: str) -> None:
    ours, theirs = (events_with_a_failing_call(lib, fail_in) for lib in LIBS)
    assert [e if isinstance(e, str) else e[0] for e in ours] == (
        ["always", "always-kw"] if fail_in == "forward" else ["always", "always-kw", "fails"]
    )
    assert_same(ours, theirs)


# --- order, removal ---------------------------------------------------------------------------------
def test_hooks_of_each_kind_run_in_order_with_prepend_first() -> None:
    def run(lib: Any) -> list[str]:
        model, order = linear(lib), []

        def note(name: str) -> Any:
            return lambda *args: order.append(name)

        for i, prepend in enumerate([False, True, False, True]):
            model.register_forward_pre_hook(note(f"pre{i}"), prepend=prepend)
            model.register_forward_hook(note(f"fwd{i}"), prepend=prepend)
            model.register_full_backward_pre_hook(note(f"bpre{i}"), prepend=prepend)
            model.register_full_backward_hook(note(f"bwd{i}"), prepend=prepend)
        model(leaf(lib, X)).sum().backward()
        return order

    ours = run(nn)
    assert ours == run(torch.nn)
    assert ours[:4] == ["pre3", "pre1", "pre0", "pre2"]


def test_a_handle_removes_its_hook_and_works_as_a_context_manager() -> None:
    calls: list[str] = []
    model = linear(nn)
    x = leaf(nn, X)
    handles = [
        model.register_forward_pre_hook(lambda m, a, k: calls.append("pre"), with_kwargs=True),
        model.register_forward_hook(lambda m, a, k, o: calls.append("fwd"), with_kwargs=True, always_call=True),
        model.register_full_backward_pre_hook(lambda m, g: calls.append("bpre")),
        model.register_full_backward_hook(lambda m, gi, go: calls.append("bwd")),
    ]
    model(x).sum().backward()
    assert calls == ["pre", "fwd", "bpre", "bwd"]
    for handle in handles:
        handle.remove()
        handle.remove()  # twice is harmless, as in torch
    with model.register_forward_hook(lambda m, a, o: calls.append("scoped")) as handle:
        model(x).sum().backward()
    assert isinstance(handle.id, int)
    model(x).sum().backward()
    assert calls == ["pre", "fwd", "bpre", "bwd", "scoped"]
    assert not (model._forward_pre_hooks_with_kwargs or model._forward_hooks_with_kwargs)
    assert not model._forward_hooks_always_called
    assert model(x).op == "linear"  # without hooks the output is forward's own, with nothing wrapped


# --- full backward hooks ----------------------------------------------------------------------------
def hooks_that_record(model: Any, pre: Any = None, full: Any = None) -> list[Any]:
    """Register backward hooks that record what they see and return `pre(grad_output)` / `full(grad_input)`
    (None: keep the gradients); returns the record."""
    seen: list[Any] = []

    def pre_hook(module: Any, grad_output: Any) -> Any:
        seen.append(("pre", grad_output))
        return None if pre is None else pre(grad_output)

    def full_hook(module: Any, grad_input: Any, grad_output: Any) -> Any:
        seen.append(("full", grad_input, grad_output))
        return None if full is None else full(grad_input)

    model.register_full_backward_pre_hook(pre_hook)
    model.register_full_backward_hook(full_hook)
    return seen


@pytest.mark.parametrize("replace", ["none", "pre", "full", "both"])
def test_backward_hooks_of_a_layer_see_torch_s_gradients_and_replace_them(replace: str) -> None:
    def run(lib: Any) -> Any:
        model = linear(lib)
        seen = hooks_that_record(
            model,
            pre=(lambda go: (go[0] * 3,)) if replace in ("pre", "both") else None,
            full=(lambda gi: [gi[0] * -2]) if replace in ("full", "both") else None,
        )
        x = leaf(lib, X)
        (model(x) ** 2).sum().backward()
        return seen, x.grad, model.weight.grad, model.bias.grad

    assert_same(run(nn), run(torch.nn))


@pytest.mark.parametrize("b_grad", [True, False], ids=["b-requires-grad", "b-constant"])
@pytest.mark.parametrize("both_outputs", [True, False], ids=["both-outputs", "first-output"])
def test_backward_hooks_lay_out_inputs_and_outputs_as_torch(b_grad: bool, both_outputs: bool) -> None:
    """None for non-tensors and for outputs no gradient reached or that need none, zeros for tensor inputs
    that need none; replacements flow on into the inputs and the parameters."""

    def run(lib: Any) -> Any:
        model = mix(lib)
        seen = hooks_that_record(
            model,
            pre=lambda go: (go[0] * 2, go[1], None),
            full=lambda gi: (gi[0] + 1, gi[1], gi[2], None),
        )
        (a, b), (y, t, _) = mix_call(lib, model, b_grad)
        ((y**2).sum() + (t.sum() if both_outputs else 0)).backward()
        return seen, a.grad, b.grad, model.w.grad

    assert_same(run(nn), run(torch.nn))


def test_backward_hooks_on_inputs_of_two_dtypes_give_each_its_own() -> None:
    def run(lib: Any) -> Any:
        model = mix(lib)
        seen = hooks_that_record(model)
        (a, b), (y, t, _) = mix_call(lib, model, b_dtype=torch.float32)
        (y.sum() + t.sum()).backward()
        return seen, a.grad, b.grad

    ours = run(nn)
    assert [g.dtype for g in ours[0][1][1][:2]] == [torch.float64, torch.float32]
    assert_same(ours, run(torch.nn))


def test_a_backward_hook_runs_on_the_outputs_when_no_input_requires_grad() -> None:
    def run(lib: Any) -> Any:
        model = linear(lib)
        seen = hooks_that_record(model)
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            model(leaf(lib, X, False)).sum().backward()
        return seen, model.weight.grad

    ours = run(nn)
    assert ours[0][1][1] == (None,)
    assert_same(ours, run(torch.nn))


@pytest.mark.parametrize("lib", LIBS, ids=["ours", "torch"])
def test_a_backward_hook_returning_grads_when_no_input_requires_grad_is_an_error(lib: Any) -> None:
    model = linear(lib)
    model.register_full_backward_hook(lambda m, gi, go: (torch.zeros(4, 3, dtype=torch.float64),))
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="should always return None or None for all"):
        model(leaf(lib, X, False)).sum().backward()


@pytest.mark.parametrize(
    "lib, no_grad", [(nn, ag.no_grad), (nn, torch.no_grad), (torch.nn, torch.no_grad)], ids=["ag", "torch", "twin"]
)
def test_backward_hooks_do_not_run_for_a_call_under_no_grad(lib: Any, no_grad: Any) -> None:
    model = linear(lib)
    seen = hooks_that_record(model)
    x = leaf(lib, X)
    with no_grad():
        y = model(x)
    assert not y.requires_grad
    (model(x) * y).sum().backward()  # only the call with grad runs them
    assert [s[0] for s in seen] == ["pre", "full"]


def test_backward_hooks_are_the_ones_registered_at_the_call() -> None:
    """torch takes the hooks when the module is called: one removed before backward still runs, one
    added after does not."""

    def run(lib: Any) -> list[str]:
        model, calls = linear(lib), []
        handle = model.register_full_backward_hook(lambda m, gi, go: calls.append("old"))
        y = model(leaf(lib, X))
        handle.remove()
        model.register_full_backward_hook(lambda m, gi, go: calls.append("new"))
        y.sum().backward()
        return calls

    assert run(nn) == run(torch.nn) == ["old"]


def test_backward_hooks_run_at_each_backward_through_a_retained_graph() -> None:
    def run(lib: Any) -> Any:
        model = linear(lib)
        seen = hooks_that_record(model)
        y = model(leaf(lib, X))
        (y**2).sum().backward(retain_graph=True)
        (y**3).sum().backward()
        return seen

    ours = run(nn)
    assert len(ours) == 4
    assert_same(ours, run(torch.nn))


def test_backward_hooks_on_a_child_of_a_container() -> None:
    def run(lib: Any) -> Any:
        torch.manual_seed(0)
        model = lib.Sequential(lib.Linear(3, 4), lib.Tanh(), lib.Linear(4, 2)).double()
        seen = hooks_that_record(model[1], full=lambda gi: (gi[0] * 0.5,))
        x = leaf(lib, X)
        model(x).sum().backward()
        return seen, x.grad, model[0].weight.grad, model[2].weight.grad

    assert_same(run(nn), run(torch.nn))


def second_order(lib: Any, joined: bool) -> Any:
    """Hooks replacing the gradients by functions of them, under create_graph; then a second backward.
    `joined`: the two-input, three-output module (whose inputs and outputs are each joined in one node)."""
    grad = ag.gradients if lib is nn else torch.autograd.grad
    if not joined:
        model = linear(lib)
        seen = hooks_that_record(model, pre=lambda go: (go[0] * go[0],), full=lambda gi: (gi[0] * 3,))
        x = leaf(lib, X)
        grads = grad((model(x) ** 3).sum(), [x], create_graph=True)
        leaves = (x,)
    else:
        model = mix(lib)
        seen = hooks_that_record(
            model, pre=lambda go: (go[0] * go[0], go[1] * 2, None), full=lambda gi: (gi[0] * gi[1], gi[1], None, None)
        )
        leaves, (y, t, _) = mix_call(lib, model)
        grads = grad((y**3).sum() + (t**2).sum(), list(leaves), create_graph=True)
    sum((g**2).sum() for g in grads).backward()
    return seen, grads, [x.grad for x in leaves], model.weight.grad if not joined else model.w.grad


@pytest.mark.parametrize("joined", [False, True], ids=["one-input", "joined-inputs-and-outputs"])
def test_backward_hooks_compose_with_second_order_gradients(joined: bool) -> None:
    """Replacements made under create_graph are differentiable, and the hooks run again when the second
    backward goes through the module, as in torch."""
    ours = second_order(nn, joined)
    assert [s[0] for s in ours[0]] == ["pre", "full"] * 2
    assert_same(ours, second_order(torch.nn, joined))


def test_a_gradient_reaching_the_inputs_but_not_through_the_outputs_runs_no_hook() -> None:
    """In a double backward through `x ** 3` the second pass reaches the module's input straight from the
    first pass's graph, not through its output: torch calls no hook then, and the result is unscaled."""

    def run(lib: Any) -> Any:
        class Cube(lib.Module):
            def forward(self, x: Any) -> Any:
                return x**3

        model = Cube()
        seen = hooks_that_record(model, full=lambda gi: (gi[0] * 2,))
        x = leaf(lib, A)
        grad = ag.gradients if lib is nn else torch.autograd.grad
        (gx,) = grad(model(x).sum(), [x], create_graph=True)
        (gx**2).sum().backward()
        return seen, gx, x.grad

    ours = run(nn)
    assert [s[0] for s in ours[0]] == ["pre", "full"]
    assert_same(ours, run(torch.nn))


@pytest.mark.parametrize("lib", LIBS, ids=["ours", "torch"])
def test_a_module_returning_a_list_warns_that_backward_hooks_will_not_run(lib: Any) -> None:
    class Listing(lib.Module):
        def forward(self, x: Any) -> Any:
            return [x * 2]

    model = Listing()
    seen = hooks_that_record(model)
    with pytest.warns(UserWarning, match="module output should be a Tensor or a tuple of Tensors"):
        out = model(leaf(lib, X))
    out[0].sum().backward()
    assert seen == []


# --- errors -----------------------------------------------------------------------------------------
BAD_RETURNS = {
    "length": lambda g: (g[0], g[0]),
    "shape": lambda g: (g[0][:1],),
    "dtype": lambda g: (g[0].float(),),
    "not a tuple": lambda g: 5,
}


@pytest.mark.parametrize("hook_kind", ["pre", "full"])
@pytest.mark.parametrize(
    "kind, error, match",
    [
        ("length", RuntimeError, r"returned an invalid number of grad_(input|output), got 2, but expected 1"),
        ("shape", RuntimeError, r"has changed the size of"),
        ("dtype", RuntimeError, r"has changed the type of"),
        ("not a tuple", TypeError, r"int"),
    ],
)
@pytest.mark.parametrize("lib", LIBS, ids=["ours", "torch"])
def test_a_bad_backward_hook_return_is_torch_s_error(
    lib: Any, hook_kind: str, kind: str, error: type, match: str
) -> None:
    model = linear(lib)
    hooks_that_record(model, **{hook_kind: BAD_RETURNS[kind]})
    with pytest.raises(error, match=match):
        model(leaf(lib, X)).sum().backward()


def test_our_errors_name_the_hook_and_the_module() -> None:
    model = nn.Sequential(linear(nn))

    def halve(m: Any, gi: Any, go: Any) -> Any:
        return (gi[0][:2],)

    model[0].register_full_backward_hook(halve)
    with pytest.raises(RuntimeError, match=r"backward hook 'halve' of Sequential/0:Linear has changed the size of "):
        model(leaf(nn, X)).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a module with hooks and inputs that need grad warns nothing
        model(leaf(nn, X))
