"""Reliability of the engine (issue #15): threads, grad-mode objects shared by threads, hook results,
complex dtypes, and errors that name the module they happened in. torch is the oracle."""

from __future__ import annotations

import sys
import threading

import pytest
import torch

import autograd_engine as ag
from autograd_engine.scope import scope


def test_threads_calling_backward_on_a_shared_parameter_lose_no_gradient():
    # a large tensor, so that in-place adds overlap while torch has released the GIL, and frequent
    # thread switches, so that the first assignment of .grad races too
    w = ag.Variable(torch.ones(100_000), requires_grad=True)
    x = torch.full((100_000,), 3.0)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            w.grad = None
            start = threading.Barrier(8)

            def work(start: threading.Barrier = start) -> None:
                start.wait()
                for _ in range(25):
                    (w * x).sum().backward()

            threads = [threading.Thread(target=work) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert w.grad is not None
            torch.testing.assert_close(w.grad.data, torch.full((100_000,), 200 * 3.0), rtol=0, atol=0)
    finally:
        sys.setswitchinterval(interval)


def _share_between_threads(ctx, outer_a, outer_b) -> dict[str, list[bool]]:
    """Thread A (in `outer_a()`) and thread B (in `outer_b()`) enter the same `ctx`, A first, then A
    leaves first: what each sees inside it, after it and after its outer block (torch's mode is per
    thread)."""
    seen: dict[str, list[bool]] = {"a": [], "b": []}
    go, a_in, b_in, a_out, b_out = (threading.Event() for _ in range(5))
    errors: list[BaseException] = []
    state = ag.is_anomaly_enabled if isinstance(ctx, ag.detect_anomaly) else ag.is_grad_enabled

    def side(name, outer, start, entered, other, left) -> None:
        try:
            assert start.wait(5)
            with outer():
                with ctx:
                    entered.set()
                    assert other.wait(5)
                    seen[name].append(state())
                seen[name].append(state())
                left.set()
            seen[name].append(state())
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            errors.append(e)
            entered.set()
            left.set()

    threads = [
        threading.Thread(target=side, args=("a", outer_a, go, a_in, b_in, a_out)),
        threading.Thread(target=side, args=("b", outer_b, a_in, b_in, a_out, b_out)),
    ]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    assert not errors, errors
    return seen


def test_one_no_grad_object_entered_from_two_threads_keeps_each_threads_mode():
    # torch: the mode is per thread; A (grad on) leaves the shared block with grad on again, B (inside
    # its own no_grad) leaves it with grad still off, and on again after its own block
    seen = _share_between_threads(ag.no_grad(), ag.enable_grad, ag.no_grad)
    assert seen == {"a": [False, True, True], "b": [False, False, True]}


def test_shared_enable_grad_and_set_grad_enabled_objects_keep_each_threads_mode():
    seen = _share_between_threads(ag.enable_grad(), ag.no_grad, ag.enable_grad)
    assert seen == {"a": [True, False, True], "b": [True, True, True]}
    shared = ag.set_grad_enabled(False)  # as torch's, it switches this thread off at once
    ag.set_grad_enabled(True)
    seen = _share_between_threads(shared, ag.enable_grad, ag.no_grad)
    assert seen == {"a": [False, True, True], "b": [False, False, True]}


def test_shared_detect_anomaly_object_keeps_each_threads_mode():
    on = ag.detect_anomaly
    seen = _share_between_threads(ag.detect_anomaly(), lambda: ag.set_grad_enabled(True), on)
    assert seen == {"a": [True, False, False], "b": [True, True, False]}


def test_a_context_manager_object_still_nests_in_one_thread():
    ctx = ag.no_grad()
    with ctx:
        with ag.enable_grad():
            with ctx:
                assert not ag.is_grad_enabled()
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


@pytest.mark.parametrize("returned", [5, "grad", [1.0, 2.0, 3.0]])
def test_a_variable_hook_returning_a_non_tensor_is_named(returned):
    # torch: TypeError "expected Variable, but hook returned 'int'"
    def clip_hook(g):
        return returned

    x = ag.Variable(torch.ones(3), requires_grad=True)
    h = x * 2
    h.register_hook(clip_hook)
    with pytest.raises(TypeError, match=rf"hook 'clip_hook' on a mul node returned '{type(returned).__name__}'"):
        (h * h).sum().backward()
    y = ag.Variable(torch.ones(3), requires_grad=True)
    y.register_hook(clip_hook)  # on a leaf too
    with pytest.raises(TypeError, match=r"hook 'clip_hook' on a leaf node returned .*expected a Variable or tensor"):
        (y * 3).sum().backward()


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_complex_variables_cannot_require_grad(dtype):
    z = torch.ones(3, dtype=dtype)
    with pytest.raises(TypeError, match=rf"dtype {dtype}"):
        ag.Variable(z, requires_grad=True)
    v = ag.Variable(z)
    with pytest.raises(TypeError, match=rf"dtype {dtype}.*complex"):
        v.requires_grad = True
    assert not v.requires_grad
    torch.testing.assert_close((v * 2).data, z * 2)  # as a constant it computes


def test_an_op_that_would_make_a_complex_result_requiring_grad_is_rejected():
    x = ag.Variable(torch.ones(3), requires_grad=True)
    c = torch.full((3,), 1 + 2j)
    with pytest.raises(TypeError, match=r"mul: .*complex64.*requires grad"):
        x * c
    with pytest.raises(TypeError, match=r"to: .*complex128"):
        x.to(torch.complex128)
    with ag.no_grad():  # without grad a complex constant is fine
        torch.testing.assert_close((x * c).data, torch.ones(3) * c)
    torch.testing.assert_close((ag.Variable(torch.ones(3)) * c).data, torch.ones(3) * c)


def test_a_leaf_whose_data_became_complex_is_rejected_when_used():
    x = ag.Variable(torch.ones(3), requires_grad=True)
    x.data = torch.ones(3, dtype=torch.complex64)
    with pytest.raises(TypeError, match=r"complex64"):
        (x * 2).sum()


def test_forward_errors_of_primitives_name_the_scope():
    a, b = ag.Variable(torch.ones(2, 3), requires_grad=True), ag.Variable(torch.ones(4))
    with scope("Net"), scope("1:Adder"):
        with pytest.raises(RuntimeError, match=r"^add in Net/1:Adder: .*\[inputs: \(2, 3\) float32 on cpu, \(4,\)"):
            a + b
    with pytest.raises(RuntimeError, match=r"^add: "):  # outside a module, as before
        a + b
    with scope("Net"), pytest.raises(RuntimeError, match=r"^add: "):  # in a module called on its own
        a + b


def test_in_place_edit_of_a_saved_tensor_still_raises_and_names_the_scope():
    x = ag.Variable(torch.ones(3), requires_grad=True)
    with scope("Net"), scope("0:Block"):
        y = x.exp()
    y.data.add_(1)
    message = r"^exp in Net/0:Block: one of the variables .* a tensor of shape \(3,\)"
    with pytest.raises(ag.InplaceModificationError, match=message):
        y.sum().backward()


def test_set_grad_enabled_switches_when_called_like_torch():
    assert ag.is_grad_enabled()
    ag.set_grad_enabled(False)
    assert not ag.is_grad_enabled() and not (ag.Variable(torch.ones(2), requires_grad=True) * 2).requires_grad
    ag.set_grad_enabled(True)
    assert ag.is_grad_enabled()
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()

    @ag.set_grad_enabled(False)  # decorating leaves the mode as it was
    def inside():
        return ag.is_grad_enabled()

    assert ag.is_grad_enabled() and inside() is False and ag.is_grad_enabled()
