"""The reverse pass: accumulation, freeing, errors, grad mode, long chains, devices."""

from __future__ import annotations

import threading

import pytest
import torch

import autograd_engine as ag

from .oracles import assert_no_torch_graph


def leaf(*shape: int, device: str = "cpu") -> ag.Variable:
    return ag.Variable(torch.randn(*shape, dtype=torch.float64, device=device), requires_grad=True)


def test_gradients_accumulate_like_torch(device):
    x = leaf(3, device=device)
    (x * 2).sum().backward()
    (x * x).sum().backward()
    torch.testing.assert_close(x.grad.data, 2 + 2 * x.data)
    assert x.grad.device == x.device


def test_value_used_twice_and_shared_subexpression(device):
    x = leaf(4, device=device)
    h = x.exp()
    y = (h * h + h).sum()
    y.backward()
    torch.testing.assert_close(x.grad.data, 2 * x.data.exp() ** 2 + x.data.exp())


def test_sibling_leaves_do_not_share_gradient_storage():
    a, b = leaf(3), leaf(3)
    (a + b).sum().backward()
    a.grad.data.zero_()
    torch.testing.assert_close(b.grad.data, torch.ones(3, dtype=torch.float64))


def test_second_backward_through_freed_graph_raises():
    x = leaf(3)
    y = (x.exp() * 3).sum()
    y.backward()
    with pytest.raises(ag.GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward_and_frees_afterwards(device):
    x = leaf(3, device=device)
    h = x.exp()
    m = h * 3
    y = m.sum()
    y.backward(retain_graph=True)
    assert m.node.saved_bytes() == 0 and h.node.saved_bytes() == 24 and h.node.parents == (x.node,)
    y.backward()
    torch.testing.assert_close(x.grad.data, 6 * x.data.exp())
    for v in (h, m, y):
        assert v.node.freed and v.node.saved_tensors() == [] and v.node.parents == ()


def test_saved_tensors_are_only_what_vjps_need():
    x = leaf(1000)
    y = x + 1  # add needs no tensor
    z = y.exp()  # exp keeps its output
    assert y.node.saved_bytes() == 0
    assert z.node.saved_bytes() == 1000 * 8


def test_non_scalar_backward_needs_gradient():
    x = leaf(2, 3)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\) is not a scalar"):
        y.backward()
    y.backward(torch.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"gradient shape \(3,\) does not match output shape \(2, 3\)"):
        (x * 2).backward(torch.ones(3))


def test_backward_of_something_without_grad_is_clear():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.Variable(torch.ones(())).backward()


def test_shape_mismatch_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"matmul: .*\(2, 3\) float64 on cpu, \(2, 3\) float64 on cpu"):
        leaf(2, 3) @ leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"add: .*\(2, 3\).*\(4,\)"):
        leaf(2, 3) + leaf(4)


def test_mixed_devices_name_the_devices():
    with pytest.raises(RuntimeError, match=r"add: .*on cpu.*on meta"):
        leaf(2) + ag.Variable(torch.ones(2, dtype=torch.float64, device="meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_scalar_with_cuda_tensor_gets_its_gradient_on_the_cpu():
    s = ag.Variable(torch.tensor(2.0, dtype=torch.float64), requires_grad=True)  # torch lets a 0-dim CPU
    x = leaf(3, device="cuda")  # tensor meet CUDA tensors
    (s * x).sum().backward()
    assert s.grad.device.type == "cpu" and x.grad.device.type == "cuda"
    torch.testing.assert_close(s.grad.data, x.data.sum().cpu())
    torch.testing.assert_close(x.grad.data, s.data.expand(3).cuda())
    with pytest.raises(RuntimeError, match=r"add: .*on cpu.*on cuda"):
        leaf(2) + leaf(2, device="cuda")


def test_inplace_modification_of_saved_tensor_is_caught(device):
    x = leaf(3, device=device)
    y = x.exp()
    loss = y.sum()
    y.data.mul_(2)
    message = r"exp: one of the variables needed .* a tensor of shape \(3,\) saved for backward"
    with pytest.raises(ag.InplaceModificationError, match=message):
        loss.backward()
    w, v = leaf(3, device=device), leaf(3, device=device)
    loss = (w * v).sum()  # v's gradient needs w
    w.data.add_(1)
    with pytest.raises(ag.InplaceModificationError, match="mul"):
        loss.backward()


def test_inplace_modification_of_unsaved_input_is_fine():
    x = leaf(3)
    loss = (x + 1).sum()
    x.data.add_(1)  # add never reads x in backward
    loss.backward()
    torch.testing.assert_close(x.grad.data, torch.ones(3, dtype=torch.float64))
    loss = (x * 3).sum()  # nor does a product with a constant: only the constant is kept
    x.data.add_(1)
    loss.backward()
    torch.testing.assert_close(x.grad.data, torch.full((3,), 4.0, dtype=torch.float64))


def test_only_what_inputs_requiring_grad_need_is_saved():
    x, w = leaf(100), ag.Variable(torch.randn(100, dtype=torch.float64))
    assert (x * w).node.saved_bytes() == 800  # x's VJP reads w; w needs no gradient, so x is not kept
    assert (x * leaf(100)).node.saved_bytes() == 1600
    assert (x**3).node.saved_bytes() == 800 and (x / 2.0).node.saved_bytes() == 0


def test_no_grad_records_nothing_and_is_thread_local():
    x = leaf(3)
    with ag.no_grad():
        y = x * 2
        seen = {}
        t = threading.Thread(target=lambda: seen.setdefault("other", ag.is_grad_enabled()))
        t.start()
        t.join()
    assert not y.requires_grad and y.node is None
    assert seen["other"] is True and ag.is_grad_enabled()

    @ag.no_grad()
    def f(v):
        return v * 3

    assert not f(x).requires_grad
    with ag.no_grad(), ag.enable_grad():
        assert (x * 2).requires_grad


def test_long_chain_has_no_recursion_limit():
    x = leaf(1)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.sum().backward()
    torch.testing.assert_close(x.grad.data, (torch.tensor([1.0000001], dtype=torch.float64) ** 100_000))


def test_create_graph_gives_differentiable_gradients(device):
    x = leaf(3, device=device)
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    gx = ag.gradients(g.sum(), x)[0]
    torch.testing.assert_close(gx, 6 * x.data)


def test_no_result_carries_torch_autograd_state(device):
    x = leaf(3, 4, device=device)
    tracked = torch.randn(4, dtype=torch.float64, device=device, requires_grad=True)
    y = ag.softmax(x * tracked, 1).sum()
    y.backward(create_graph=True)
    assert_no_torch_graph(y, x.grad)
    assert tracked.grad is None


def test_variable_api():
    x = ag.Variable([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="x")
    assert x.shape == (2, 2) and x.ndim == 2 and x.dtype == torch.float32 and x.device.type == "cpu"
    assert x.is_leaf and x.op is None and (x * 2).op == "mul" and not (x * 2).is_leaf
    assert (x > 2).dtype == torch.bool and isinstance(x == x, torch.Tensor)
    assert x.sum().item() == 10.0 and len(x) == 2 and [r.shape for r in x] == [(2,), (2,)]
    assert x.detach().requires_grad is False and x.detach().data.data_ptr() == x.data.data_ptr()
    assert "requires_grad=True" in repr(x) and "op=mul" in repr(x * 2)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x[0] = 1.0
    with pytest.raises(RuntimeError, match="floating point dtype can require gradients, got dtype torch.int64"):
        ag.Variable(torch.ones(2, dtype=torch.long), requires_grad=True)  # torch's error type
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad = False
    y = x.to(torch.float64)
    assert y.dtype == torch.float64 and y.op == "to"
    (y * y).sum().backward()
    assert x.grad.dtype == torch.float32


def test_tensor_on_the_left_of_an_operator():
    x = leaf(3)
    t = torch.ones(3, dtype=torch.float64)
    for y in (t + x, t - x, t * x, t / x, t @ x):
        assert isinstance(y, ag.Variable) and y.requires_grad
