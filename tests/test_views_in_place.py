"""In-place writes through views reach their base, as through torch's shared storage; the same program on
tensors and on Variables gives the same values and gradients (bitwise), and the same errors."""

import subprocess
import sys

import pytest
import torch

import autograd_engine as ag

from .oracles import compare_with_torch


def _mutated(make_base, write):
    """A program: y = make_base(x); write(y, x) through some view of y; returns y * y (so the gradient
    depends on the written values)."""

    def program(x):
        y = make_base(x)
        write(y, x)
        return y * y

    return program


PROGRAMS = {
    "slice mul_": _mutated(lambda x: x * 1.0, lambda y, x: y[1:3].mul_(2)),
    "view zero_": _mutated(lambda x: x.clone(), lambda y, x: y.view(12)[:5].zero_()),
    "transpose add_": _mutated(lambda x: x.clone(), lambda y, x: y.t().add_(x.t().exp())),
    "select then setitem": _mutated(lambda x: x * 1.0, lambda y, x: y[0].__setitem__(1, 7.0)),
    "select of select mul_": _mutated(lambda x: x * 1.0, lambda y, x: y[0][1].mul_(x[1, 1])),
    "diagonal mul_": _mutated(lambda x: x * 1.0, lambda y, x: y[:3].diagonal().mul_(x[0, 0])),
    "view of a view of a view": _mutated(lambda x: x * 1.0, lambda y, x: y.view(12)[2:6].view(2, 2).mul_(x[:2, :2])),
    "narrow copy_": _mutated(lambda x: x * 2.0, lambda y, x: y.narrow(1, 1, 2).copy_(x[:, :2].sin())),
    "unsqueeze squeeze permute": _mutated(
        lambda x: x * 1.0, lambda y, x: y.unsqueeze(0).permute(0, 2, 1).squeeze(0)[1:].mul_(3)
    ),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_write_through_a_view_reaches_its_base_as_in_torch(name):
    """Values, gradients and second order, to the bit."""
    program = PROGRAMS[name]
    compare_with_torch(program, program, [torch.randn(4, 3, dtype=torch.float64)], rtol=0, atol=0)


def test_a_write_into_a_constant_base_makes_it_depend_on_the_value():
    x = torch.randn(3, 3, dtype=torch.float64)
    xt, xv = x.clone().requires_grad_(), ag.Variable(x.clone(), requires_grad=True)
    for leaf, zeros in ((xt, torch.zeros(4, 3, dtype=torch.float64)), (xv, ag.Variable(torch.zeros(4, 3).double()))):
        zeros[1:].copy_(leaf * 2)
        (zeros * zeros).sum().backward()
    assert xv.grad is not None and xt.grad is not None
    assert torch.equal(xv.grad.data, xt.grad)


@pytest.mark.parametrize(
    "write",
    [lambda x: x[0].mul_(2), lambda x: x.view(-1)[:2].zero_(), lambda x: x.t()[0].add_(1.0)],
    ids=["select", "view slice", "transpose select"],
)
def test_a_view_of_a_leaf_that_requires_grad_is_refused_as_in_torch(write):
    message = "a view of a leaf Variable that requires grad is being used in an in-place operation"
    with pytest.raises(RuntimeError, match=message):
        write(torch.ones(3, 3, requires_grad=True))
    with pytest.raises(RuntimeError, match=message):
        write(ag.Variable(torch.ones(3, 3), requires_grad=True))


def test_an_expanded_or_overlapping_view_is_refused():
    """As torch for expand; torch lets an overlapping unfold window be written twice, the engine refuses."""
    message = "more than one element of the written-to tensor refers to a single memory location"
    for base in (torch.ones(4, 3, requires_grad=True) * 1, ag.Variable(torch.ones(4, 3), requires_grad=True) * 1):
        with pytest.raises(RuntimeError, match=message):
            base[:1].expand(3, 3).mul_(2)
    with pytest.raises(RuntimeError, match=message):
        (ag.Variable(torch.ones(4, 3), requires_grad=True) * 1).unfold(0, 2, 1).mul_(2)
    (ag.Variable(torch.ones(4, 3), requires_grad=True) * 1).unfold(0, 2, 2).mul_(2)  # windows apart: a view


@pytest.mark.parametrize(
    "pieces, label",
    [
        (lambda y: y.chunk(2), "Split"),
        (lambda y: torch.split(y, [1, 3]), "SplitWithSizes"),
        (lambda y: y.unbind(0), "Unbind"),
    ],
    ids=["chunk", "split", "unbind"],
)
def test_a_piece_of_a_multi_view_function_is_not_written_in_place_as_in_torch(pieces, label):
    message = rf"Output 1 of {label}\w* is a view and is being modified inplace"
    for x in (torch.ones(4, 3, requires_grad=True), ag.Variable(torch.ones(4, 3), requires_grad=True)):
        with pytest.raises(RuntimeError, match=message):
            pieces(x * 1.0)[1].mul_(2)
    message = "A view was created in no_grad mode and is being modified inplace with grad mode enabled"
    for plain, lib in ((torch.zeros(4, 3), torch), (ag.Variable(torch.zeros(4, 3)), ag)):  # not recorded when split
        with pytest.raises(RuntimeError, match=message):
            pieces(plain)[1].copy_(lib.ones(3, requires_grad=True) * 2)
    written = []
    for plain in (torch.zeros(4, 3), ag.Variable(torch.zeros(4, 3))):
        with torch.no_grad():  # storage writes, as in torch
            pieces(plain)[1].fill_(1.0)
        written.append(ag.variable.unwrap(plain))
    assert torch.equal(*written) and written[0].sum() > 0


def test_under_no_grad_a_view_writes_into_the_leafs_storage_as_torch_does():
    w = ag.Variable(torch.zeros(2, 3), requires_grad=True)
    with ag.no_grad():
        w[0].fill_(1.0)
        w.t()[2].add_(5.0)
    assert torch.equal(w.data, torch.tensor([[1.0, 1.0, 6.0], [0.0, 0.0, 5.0]]))
    assert w.is_leaf and w.requires_grad


def test_numpy_of_a_variable_that_requires_grad_is_refused_as_in_torch():
    v = ag.Variable(torch.arange(3.0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        v.numpy()
    assert v.detach().numpy().tolist() == [0.0, 1.0, 2.0]
    assert v.numpy(force=True).tolist() == [0.0, 1.0, 2.0]


def test_methods_whose_rules_live_in_nn_work_without_importing_nn():
    code = (
        "import torch, sys, autograd_engine as ag\n"
        "v = ag.Variable(torch.tensor([-1.0, 0.25, 2.0]), requires_grad=True) * 1\n"
        "assert 'nn' not in sys.modules\n"
        "print(v.hardshrink(0.5).data.tolist(), v.relu_().data.tolist(), hasattr(v, 'no_such_method'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[-1.0, 0.0, 2.0] [0.0, 0.25, 2.0] False"


def test_a_tensor_method_without_a_rule_is_named_and_hasattr_stays_false():
    v = ag.Variable(torch.ones(2, 2))
    assert hasattr(torch.Tensor, "ormqr") and not hasattr(v, "ormqr")
    with pytest.raises(AttributeError, match=r"torch.Tensor.ormqr has no rule for Variables"):
        getattr(v, "ormqr")  # noqa: B009 (the attribute access is what is tested)


def _views_follow(x):
    """Views and a detached alias taken before writes to their base (and to a sibling view) see them."""
    y = x * 1.0
    first, transposed, alias = y[0], y.t(), y.detach()
    y.add_(x.exp())
    y[1:3].mul_(3)
    return first * 2 + transposed.sum(1) + alias[2] + transposed.reshape(-1)[:3]


def test_views_taken_before_a_write_see_it_as_in_torch():
    compare_with_torch(_views_follow, _views_follow, [torch.randn(4, 3, dtype=torch.float64)], rtol=0, atol=0)


def test_a_view_of_a_view_follows_writes_to_the_first_base():
    for leaf in (torch.ones(2, 6, requires_grad=True), ag.Variable(torch.ones(2, 6), requires_grad=True)):
        y = leaf * 1.0  # recorded: the engine's writes make new values, which the views must follow
        inner = y.view(3, 4)[1]
        y.fill_(0.0)
        y[0, 4:] = 7.0
        assert ag.variable.unwrap(inner.detach()).tolist() == [7.0, 7.0, 0.0, 0.0]


W = torch.randn(4, 3, 3, 3, dtype=torch.float64)


def _sin_in_place(x):
    y = x * 2
    return y.sin_()


def _reciprocal_then_add(x):
    y = x * 1 + 3
    z = 1 / y  # torch: reciprocal(y) * 1
    y.add_(1)
    return z


def _conv_relu_in_place(x):
    y = torch.nn.functional.conv2d(x, W, padding=1)
    y += torch.nn.functional.conv2d(x, W, padding=1).sigmoid()
    return torch.nn.functional.relu(y, inplace=True)


def _in_place_chain(x):
    z = x * 1.0
    z.clamp_(-0.8, 0.8).sin_().add_(x.flip(0), alpha=2.0).mul_(x).div_(x.abs() + 1.0).round_(decimals=3)
    return z.exp_()


@pytest.mark.parametrize("program", [_sin_in_place, _reciprocal_then_add, _conv_relu_in_place, _in_place_chain])
def test_in_place_programs_torch_differentiates_give_its_bits(program):
    compare_with_torch(
        program, program, [torch.randn(2, 3, 5, 5, dtype=torch.float64)], second_order=False, rtol=0, atol=0
    )


def test_a_number_divided_by_a_variable_is_torchs_reciprocal_times_the_number():
    x = torch.rand(1000, dtype=torch.float64) + 0.5
    xt, xv = x.clone().requires_grad_(), ag.Variable(x.clone(), requires_grad=True)
    want, got = 2.5 / xt, 2.5 / xv
    assert torch.equal(got.data, want.detach())
    want.sum().backward()
    got.sum().backward()
    assert torch.equal(xv.grad.data, xt.grad)


def _relu_in_place_on_rows(x):
    y = x * 1.0
    torch.nn.functional.relu(y[1:3], inplace=True)  # F.relu(..., inplace=True) writes through the view too
    return y * y


def _leaky_relu_in_place_on_a_column(x):
    y = x * 1.0
    torch.nn.functional.leaky_relu(y.t()[0], 0.2, inplace=True)
    return y * y


@pytest.mark.parametrize("program", [_relu_in_place_on_rows, _leaky_relu_in_place_on_a_column])
def test_an_activation_in_place_on_a_view_reaches_its_base_as_in_torch(program):
    compare_with_torch(program, program, [torch.randn(4, 3, dtype=torch.float64)], rtol=0, atol=0)
    message = "a view of a leaf Variable that requires grad is being used in an in-place operation"
    for leaf in (torch.ones(3, 3, requires_grad=True), ag.Variable(torch.ones(3, 3), requires_grad=True)):
        with pytest.raises(RuntimeError, match=message):
            torch.nn.functional.relu(leaf[0], inplace=True)
