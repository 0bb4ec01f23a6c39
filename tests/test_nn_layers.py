"""Every layer's output and input/weight/bias gradients against torch.nn (float64, tight tolerance)."""

from __future__ import annotations

import itertools

import pytest
import torch

import autograd_engine as ag
import nn

from .oracles import assert_no_torch_graph

TOL = dict(rtol=1e-10, atol=1e-12)


def run_both(ours: nn.Module, theirs: torch.nn.Module, x: torch.Tensor, device: str = "cpu") -> None:
    """Load torch's weights into ours, then compare outputs and all gradients for a random cotangent."""
    theirs = theirs.double().to(device)
    ours.to(torch.float64).to(device)
    ours.load_state_dict(theirs.state_dict())
    x = x.double().to(device)
    xt = x.clone().requires_grad_()
    xe = ag.Variable(x.clone(), requires_grad=True)
    yt, ye = theirs(xt), ours(xe)
    torch.testing.assert_close(ye.data, yt.detach(), **TOL)
    v = torch.randn(yt.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(device)
    yt.backward(v)
    ye.backward(v)
    torch.testing.assert_close(xe.grad.data, xt.grad, **TOL)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        torch.testing.assert_close(p.grad.data, tp.grad, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    assert_no_torch_graph(ye, xe.grad)


CONV_GRID = list(itertools.product([1, 2], [0, 1, 2], [1, 2], [1, 3, (2, 3)], [True, False], [1, 3]))


@pytest.mark.parametrize("lowering", nn.functional.LOWERINGS)
@pytest.mark.parametrize("stride,padding,dilation,kernel,bias,batch", CONV_GRID)
def test_conv2d_matches_torch(stride, padding, dilation, kernel, bias, batch, lowering, device):
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(3, 4, kernel, stride, padding, dilation, bias=bias)
    ours = nn.Conv2d(3, 4, kernel, stride, padding, dilation, bias=bias, lowering=lowering)
    run_both(ours, theirs, torch.randn(batch, 3, 7, 8), device)


TRANSPOSE_GRID = [
    c
    for c in itertools.product([1, 2, 3], [0, 1], [0, 1, 2], [1, 2], [1, 3, (2, 3)], [True, False], [1, 2])
    if c[2] < max(c[0], c[3])
]


@pytest.mark.parametrize("lowering", nn.functional.LOWERINGS)
@pytest.mark.parametrize("stride,padding,output_padding,dilation,kernel,bias,batch", TRANSPOSE_GRID)
def test_conv_transpose2d_matches_torch(
    stride, padding, output_padding, dilation, kernel, bias, batch, lowering, device
):
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(4, 3, kernel, stride, padding, output_padding, bias=bias, dilation=dilation)
    ours = nn.TransposeConv2d(
        4, 3, kernel, stride, padding, output_padding, bias=bias, dilation=dilation, lowering=lowering
    )
    run_both(ours, theirs, torch.randn(batch, 4, 5, 6), device)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_matches_torch(bias, shape, device):
    torch.manual_seed(0)
    run_both(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias), torch.randn(shape), device)


@pytest.mark.parametrize(
    "ours,theirs", [(nn.ReLU(), torch.nn.ReLU()), (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh())]
)
def test_activations_match_torch(ours, theirs, device):
    run_both(ours, theirs, torch.randn(2, 3, 4, 5) * 3, device)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_torch(reduction, device):
    a, b = (torch.randn(4, 3, 5, 5, dtype=torch.float64, device=device) for _ in range(2))
    at = a.clone().requires_grad_()
    ae = ag.Variable(a.clone(), requires_grad=True)
    lt = torch.nn.MSELoss(reduction=reduction)(at, b)
    le = nn.MSE(reduction=reduction)(ae, b)
    torch.testing.assert_close(le.data, lt.detach(), **TOL)
    lt.backward()
    le.backward()
    torch.testing.assert_close(ae.grad.data, at.grad, **TOL)
    assert isinstance(nn.MSE(), nn.MSELoss)


def seed_model(factor: int = 8, k: int = 3) -> tuple[nn.Sequential, torch.nn.Sequential]:
    c = 3
    torch.manual_seed(0)
    ours = nn.Sequential(
        nn.Conv2d(c, c * factor, k, 2, 1),
        nn.ReLU(),
        nn.Conv2d(c * factor, c * factor**2, k, 2, 1),
        nn.ReLU(),
        nn.TransposeConv2d(c * factor**2, c * factor, k, 2, 1, 1),
        nn.ReLU(),
        nn.TransposeConv2d(c * factor, c, k, 2, 1, 1),
        nn.Sigmoid(),
    )
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(c, c * factor, k, 2, 1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(c * factor, c * factor**2, k, 2, 1),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(c * factor**2, c * factor, k, 2, 1, 1),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(c * factor, c, k, 2, 1, 1),
        torch.nn.Sigmoid(),
    )
    return ours, theirs


def test_seed_architecture_matches_torch_with_same_seed(device):
    ours, theirs = seed_model()
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a.data, b.detach())  # same seed, same draws: identical initialisation
    run_both(ours, theirs, torch.rand(2, 3, 32, 32), device)


def test_seed_model_keeps_shape_for_any_size():
    ours, _ = seed_model()
    with ag.no_grad():
        assert ours(ag.Variable(torch.rand(1, 3, 512, 512))).shape == (1, 3, 512, 512)
        assert ours(ag.Variable(torch.rand(2, 3, 20, 36))).shape == (2, 3, 20, 36)


def test_module_api():
    model, _ = seed_model(factor=2)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
    assert len(list(model.children())) == 8 and len(list(model.modules())) == 9
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    assert repr(model).startswith("Sequential(\n  (0): Conv2d(3, 6, kernel_size=(3, 3), stride=(2, 2)")
    assert isinstance(model[0], nn.Conv2d) and len(model) == 8
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"


def test_custom_module_registers_parameters_and_children():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.inner = nn.Linear(2, 2)
            self.note = "not a parameter"

        def forward(self, x):
            return self.inner(x) * self.scale

    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    b(ag.Variable(torch.ones(3, 2))).sum().backward()
    assert all(p.grad is not None for p in b.parameters())
    b.zero_grad()
    assert all(p.grad is None for p in b.parameters())


@pytest.mark.parametrize(
    "layer,x,message",
    [
        (
            nn.Conv2d(3, 4, 3),
            torch.ones(8, 8),
            r"conv2d: Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[8, 8\]",
        ),
        (nn.Conv2d(3, 4, 3), torch.ones(1, 2, 8, 8), r"conv2d: expected 3 input channels .*\(1, 2, 8, 8\)"),
        (nn.Conv2d(3, 4, 5), torch.ones(1, 3, 2, 2), r"conv2d: input of shape \(1, 3, 2, 2\) .* smaller than"),
        (
            nn.Conv2d(3, 4, 3),
            torch.ones(1, 3, 8, 8, dtype=torch.float64),
            "torch.float64 on cpu but the weight is torch.float32",
        ),
        (nn.TransposeConv2d(4, 3, 3), torch.ones(1, 3, 5, 5), r"conv_transpose2d: expected 4 input channels"),
        (nn.Linear(4, 3), torch.ones(2, 5), r"linear: expected input with last dim 4 .* got shape \(2, 5\)"),
        (
            nn.Linear(4, 3),
            torch.ones(2, 4, dtype=torch.float64),
            "linear: input is torch.float64 on cpu but the weight",
        ),
    ],
)
def test_layers_reject_bad_input_with_clear_errors(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer(ag.Variable(x))


def test_mse_rejects_mismatched_shapes_as_torch():
    with (
        pytest.warns(UserWarning, match="Using a target size"),
        pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(2\)"),
    ):
        nn.MSE()(ag.Variable(torch.ones(2, 3)), torch.ones(3, 2))


def test_lowerings_record_different_graphs_with_equal_results(device):
    torch.manual_seed(0)
    native = nn.Conv2d(3, 4, 3, 2, 1, lowering="native").to(device)
    unfold = nn.Conv2d(3, 4, 3, 2, 1, lowering="unfold").to(device)
    unfold.load_state_dict(native.state_dict())
    x = ag.Variable(torch.randn(2, 3, 9, 9, dtype=torch.float32, device=device), requires_grad=True)
    a, b = native(x), unfold(x)
    torch.testing.assert_close(a.data, b.data, rtol=1e-5, atol=1e-6)
    ops_a = {d["op"] for _, d in ag.graph.to_networkx(a).nodes(data=True)}
    ops_b = {d["op"] for _, d in ag.graph.to_networkx(b).nodes(data=True)}
    assert "conv2d" in ops_a and "unfold" not in ops_a and {"unfold", "matmul"} <= ops_b
    assert nn.functional.conv_lowering() == "native" and "lowering='unfold'" in repr(unfold)
    with nn.functional.use_conv_lowering("unfold"):
        assert nn.functional.conv_lowering() == "unfold"
        assert "unfold" in {d["op"] for _, d in ag.graph.to_networkx(nn.Conv2d(3, 4, 3).to(device)(x)).nodes(data=True)}
    with pytest.raises(ValueError, match="unknown convolution lowering 'im2col'"):
        nn.Conv2d(3, 4, 3, lowering="im2col")


@pytest.mark.parametrize("lowering", nn.functional.LOWERINGS)
def test_conv_layers_have_second_derivatives(lowering, device):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, 2, 1, lowering=lowering).to(torch.float64)
    tconv = nn.TransposeConv2d(3, 2, 3, 2, 1, 1, lowering=lowering).to(torch.float64)
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, device=device)
    w1, w2 = conv.weight.data.to(device), tconv.weight.data.to(device)
    f = lambda x, a, b: ag.sigmoid(
        nn.functional.conv_transpose2d(  # noqa: E731
            ag.tanh(nn.functional.conv2d(x, a, None, 2, 1, lowering=lowering)), b, None, 2, 1, 1, lowering=lowering
        )
    )
    assert ag.gradgradcheck(f, [x, w1, w2], atol=1e-4)


def test_every_layer_is_an_nn_name_that_type_checkers_see():
    """nn re-imports every layer by name (mypy does not follow nn -> layers -> family star imports)."""
    import ast
    from pathlib import Path

    import nn.layers

    tree = ast.parse((Path(nn.__file__).parent / "__init__.py").read_text())
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "layers"]
    named = {alias.name for node in imports for alias in node.names}
    families = {m for m in nn.layers.__all__ if m.islower()}
    assert named - {"*"} == set(nn.layers.__all__) - families
    assert all(getattr(nn, name) is getattr(nn.layers, name) for name in named - {"*"})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(300, 257), (12, 40, 96)])
def test_linear_is_torchs_to_the_bit_with_or_without_bias(shape, bias, dtype):
    """F.linear is one `linear` node on torch's kernel whose gradients are computed as torch's (the weight's as
    g^T x, also without a bias, where x^T g differs in the last bits at this size in float64)."""
    gen = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(s, generator=gen, dtype=dtype) for s in (shape, (190, shape[-1]), (190,)))
    theirs = [x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_() if bias else None]
    ours = [ag.Variable(t.clone(), requires_grad=True) if t is not None else None for t in (x, w, b if bias else None)]
    out_t, out_e = torch.nn.functional.linear(*theirs), nn.functional.linear(*ours)
    g = torch.randn(out_t.shape, generator=gen, dtype=dtype)
    out_t.backward(g)
    out_e.backward(g)
    assert out_e.op == "linear" and torch.equal(out_e.data, out_t)
    for a, t in zip(ours, theirs):
        if t is not None:
            assert torch.equal(a.grad.data, t.grad)
