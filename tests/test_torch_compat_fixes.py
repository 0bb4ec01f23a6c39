"""torch-compatibility fixes a held-out tester found: logsumexp over an empty dim, torch's keyword names
of split and its family, the legacy size_average of the loss modules, and torch.Tensor's in-place
methods (every `name_` whose out-of-place `name` has a rule), renorm and histc; each against torch."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
from autograd_engine.dispatch import HANDLED, load_lazy_rules

TIGHT = {"rtol": 1e-12, "atol": 1e-12}


def _r(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _both(fn: Callable[[Any], Any], x: torch.Tensor) -> None:
    """fn on a torch leaf and on a Variable of the same values: equal values and gradients of the sum."""
    t = x.clone().requires_grad_(True)
    v = ag.Variable(x.clone(), requires_grad=True)
    expected, got = fn(t), fn(v)
    torch.testing.assert_close(got.data, expected.detach(), **TIGHT)
    expected.sum().backward()
    got.sum().backward()
    torch.testing.assert_close(v.grad.data, t.grad, **TIGHT)


# --- 1. log-sum-exp over an empty dim ------------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: torch.logsumexp(x, 0),
        lambda x: torch.logsumexp(x, 0, keepdim=True),
        lambda x: torch.logsumexp(x, (0, 1)),
        lambda x: torch.logsumexp(x, 1),
        lambda x: x.logsumexp(-2),
        lambda x: torch.special.logsumexp(x, 0),
        lambda x: torch.log_softmax(x, 0),
        lambda x: torch.softmax(x, 0),
        lambda x: torch.logcumsumexp(x, 0),
    ],
)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0)])
def test_log_sum_exp_family_over_an_empty_dim(fn: Callable[[Any], Any], shape: tuple[int, int]) -> None:
    _both(fn, torch.empty(shape, dtype=torch.float64))


def test_logsumexp_of_an_empty_dim_is_minus_infinity_beside_finite_slices() -> None:
    _both(lambda x: torch.logsumexp(x, 1) + torch.logsumexp(x, 0).sum(), torch.empty(2, 0, dtype=torch.float64))
    _both(lambda x: torch.logsumexp(x, 1), _r(3, 4))


# --- 2. torch's keyword names where the function and the method differ -------------------------
def _pieces(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: torch.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(fn(x))])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.split(split_size=2, dim=1),
        lambda x: x.split(split_size=[1, 4], dim=1),
        lambda x: torch.Tensor.split(x, split_size=2),
        lambda x: torch.split(x, split_size_or_sections=[3, 1], dim=0),
        lambda x: torch.split_with_sizes(x, split_sizes=[2, 3], dim=1),
        lambda x: x.split_with_sizes(split_sizes=[4], dim=0),
        lambda x: torch.unsafe_split(x, split_size=3, dim=1),
        lambda x: x.unsafe_split(split_size=3),
        lambda x: torch.tensor_split(x, sections=2, dim=1),
        lambda x: torch.tensor_split(x, indices=[1, 3], dim=1),
        lambda x: x.tensor_split(tensor_indices_or_sections=torch.tensor([3, 1]), dim=1),
        lambda x: x.tensor_split(3, 1),
        lambda x: torch.hsplit(x, indices=[2]),
        lambda x: x.vsplit(sections=2),
        lambda x: torch.dsplit(x.reshape(2, 2, 5)[..., :4], sections=2),
    ],
)
def test_split_family_takes_torchs_keywords(fn: Callable[[Any], Any]) -> None:
    _both(_pieces(fn), _r(4, 5))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.repeat(repeats=(2, 1)),
        lambda x: x.repeat(2, 1),
        lambda x: x.tile(dims=(2,)),
        lambda x: x.flip(dims=(0, 1)),
        lambda x: torch.concatenate([x, x], dim=1),
        lambda x: torch.concatenate([x, x], axis=0),
    ],
)
def test_size_methods_take_torchs_keywords(fn: Callable[[Any], Any]) -> None:
    _both(fn, _r(2, 3))


@pytest.mark.parametrize(
    "fn,error,match",
    [
        (lambda x: x.split(split_size_or_sections=2), TypeError, "split_size_or_sections"),
        (lambda x: torch.split(x, split_size=2), TypeError, "split_size"),
        (lambda x: torch.split_with_sizes(x, 2), TypeError, "split_sizes"),
        (lambda x: x.split_with_sizes([2, 2], 1), RuntimeError, "split_sizes to sum exactly to 5"),
        (lambda x: torch.unsafe_split(x, [2, 2]), TypeError, "split_size"),
        (lambda x: torch.tensor_split(x, sections=[1, 2]), TypeError, "tensor_split"),
        (lambda x: torch.hsplit(x, sections=2), RuntimeError, "divisible"),
        (lambda x: x.repeat(2, 1, repeats=(2, 1)), TypeError, "repeats"),
    ],
)
def test_split_family_keyword_errors_as_torch(fn: Callable[[Any], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fn(_r(4, 5))
    with pytest.raises(error, match=match):
        fn(ag.Variable(_r(4, 5), requires_grad=True))


# --- 3. the legacy size_average and reduce, read as torch reads them ------------------------------
_LEGACY_LOSSES = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "HingeEmbeddingLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
]


def _reduction_and_warnings(make: Callable[[], Any]) -> tuple[str, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reduction = make().reduction
    return reduction, sorted({str(w.message) for w in caught})


@pytest.mark.parametrize("name", _LEGACY_LOSSES)
@pytest.mark.parametrize(
    "size_average,reduce", [("batchmean", None), ("sum", None), ("", None), (False, None), (0, False), ("none", True)]
)
def test_loss_modules_read_legacy_arguments_as_torch(name: str, size_average: Any, reduce: Any) -> None:
    ours = _reduction_and_warnings(lambda: getattr(nn, name)(size_average=size_average, reduce=reduce))
    theirs = _reduction_and_warnings(lambda: getattr(torch.nn, name)(size_average=size_average, reduce=reduce))
    assert ours == theirs


def test_kl_div_loss_with_batchmean_in_size_average_place_is_torchs_mean() -> None:
    target = torch.softmax(_r(3, 4, seed=1), 1)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        theirs = torch.nn.KLDivLoss("batchmean")
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        ours = nn.KLDivLoss("batchmean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _both(lambda x: (ours if isinstance(x, ag.Variable) else theirs)(torch.log_softmax(x, 1), target), _r(3, 4))


@pytest.mark.parametrize(
    "loss",
    [
        lambda f, x, y: f.mse_loss(x, y, "sum"),
        lambda f, x, y: f.l1_loss(x, y, False),
        lambda f, x, y: f.kl_div(torch.log_softmax(x, 1), torch.softmax(y, 1), "batchmean"),
        lambda f, x, y: f.smooth_l1_loss(x, y, None, False),
    ],
)
def test_functional_losses_read_legacy_arguments_as_torch(loss: Callable[..., Any]) -> None:
    y = _r(3, 4, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _both(lambda x: loss(nn.functional if isinstance(x, ag.Variable) else torch.nn.functional, x, y), _r(3, 4))


# --- 4. in-place methods, renorm, histc ------------------------------------------------------------
def test_every_in_place_method_with_an_out_of_place_rule_has_one() -> None:
    load_lazy_rules()
    missing = [
        name
        for name in dir(torch.Tensor)
        if name.endswith("_")
        and not name.startswith("_")
        and getattr(torch.Tensor, name) not in HANDLED
        and getattr(torch.Tensor, name[:-1], None) in HANDLED
    ]
    assert missing == []


def _in_place_both(fn: Callable[[Any], Any], x: torch.Tensor, weights: bool = True) -> None:
    """fn writes into a non-leaf (x * 1) of torch and of the engine: the same object comes back, with
    equal values (dtype and shape too), and equal gradients of a weighted sum to the leaf."""
    t = x.clone().requires_grad_(True)
    v = ag.Variable(x.clone(), requires_grad=True)
    ty, vy = t * 1, v * 1
    assert fn(ty) is ty
    assert fn(vy) is vy
    assert vy.dtype == ty.dtype and vy.shape == ty.shape
    torch.testing.assert_close(vy.data, ty.detach(), **TIGHT)
    w = _r(*ty.shape, seed=7) if weights else torch.ones(ty.shape, dtype=torch.float64)
    (ty * w).sum().backward()
    (vy * w).sum().backward()
    torch.testing.assert_close(v.grad.data, t.grad, **TIGHT)


M, N = _r(3, 4, seed=1), _r(4, 5, seed=2)
IN_PLACE = {
    "addmm_": (lambda x: x.addmm_(M, N, beta=0.5, alpha=2), (3, 5)),
    "addmv_": (lambda x: x.addmv_(M, N[:, 0]), (3,)),
    "addr_": (lambda x: x.addr_(M[:, 0], N[0], alpha=3), (3, 5)),
    "baddbmm_": (lambda x: x.baddbmm_(M[None], N[None]), (1, 3, 5)),
    "addbmm_": (lambda x: x.addbmm_(M[None].expand(2, 3, 4), N[None].expand(2, 4, 5)), (3, 5)),
    "cumsum_": (lambda x: x.cumsum_(1), (3, 4)),
    "cumprod_": (lambda x: x.cumprod_(dim=0), (3, 4)),
    "float_power_": (lambda x: x.float_power_(2), (3, 4)),
    "tril_": (lambda x: x.tril_(1), (3, 4)),
    "triu_": (lambda x: x.triu_(diagonal=-1), (4, 3)),
    "renorm_": (lambda x: x.renorm_(2, 0, 1.5), (3, 4)),
    "fill_diagonal_": (lambda x: x.fill_diagonal_(2.5), (3, 4)),
    "fill_diagonal_-wrap": (lambda x: x.fill_diagonal_(-1.0, wrap=True), (7, 3)),
    "fill_diagonal_-3d": (lambda x: x.fill_diagonal_(0.0), (3, 3, 3)),
    "unsqueeze_": (lambda x: x.unsqueeze_(1), (3, 4)),
    "squeeze_": (lambda x: x.squeeze_(), (3, 1, 4)),
    "squeeze_-dim": (lambda x: x.squeeze_(1), (3, 1, 4)),
    "t_": (lambda x: x.t_(), (3, 4)),
    "transpose_": (lambda x: x.transpose_(0, 2), (2, 3, 4)),
    "swapaxes_": (lambda x: x.swapaxes_(0, 1), (3, 4)),
    "swapdims_": (lambda x: x.swapdims_(1, 0), (3, 4)),
    "eq_": (lambda x: x.eq_(x.detach().round()), (3, 4)),
    "gt_": (lambda x: x.gt_(0), (3, 4)),
    "le_": (lambda x: x.le_(torch.zeros(4, dtype=torch.float64)), (3, 4)),
    "ne_": (lambda x: x.ne_(0.5), (3, 4)),
    "greater_equal_": (lambda x: x.greater_equal_(0), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_methods_as_torch(name: str) -> None:
    fn, shape = IN_PLACE[name]
    _in_place_both(fn, _r(*shape))


@pytest.mark.parametrize("name", ["logical_and_", "logical_or_", "logical_xor_", "logical_not_"])
def test_logical_in_place_values_as_torch_with_no_gradient(name: str) -> None:
    """torch leaves these unrecorded (the gradient passes as if nothing was written); here it is 0."""
    x, other = _r(3, 4), (_r(3, 4, seed=3) > 0,) if name != "logical_not_" else ()
    t = x.clone()
    getattr(t, name)(*other)
    v = ag.Variable(x.clone(), requires_grad=True)
    y = v * 1
    assert getattr(y, name)(*other) is y
    assert torch.equal(y.data, t)
    y.sum().backward()
    assert torch.equal(v.grad.data, torch.zeros_like(x))


def test_integer_in_place_methods_run_on_the_values() -> None:
    a, b = torch.tensor([12, 7, -9]), torch.tensor([8, 3, 6])
    for name in ["bitwise_and_", "bitwise_or_", "bitwise_xor_", "gcd_", "lcm_", "bitwise_left_shift_"]:
        v = ag.Variable(a.clone())
        assert getattr(v, name)(b) is v
        assert torch.equal(v.data, getattr(a.clone(), name)(b))


@pytest.mark.parametrize(
    "fn,error,match",
    [
        (lambda x: x.float().float_power_(2), RuntimeError, "float_power_ has dtype Float"),
        (lambda x: x.bitwise_and_(x.detach()), NotImplementedError, "not implemented for 'Double'"),
        (lambda x: x.addmm_(M, N), RuntimeError, "3, 4"),
        (lambda x: x.fill_diagonal_(1.0)[None].fill_diagonal_(1.0), RuntimeError, "equal length"),
        (lambda x: x.renorm_(0, 0, 1.0), RuntimeError, "non-positive.norm"),
        (lambda x: x.eq_(torch.zeros(2, 3, 4)), RuntimeError, r"2, 3, 4"),
    ],
)
def test_in_place_errors_as_torch(fn: Callable[[Any], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fn(_r(3, 4).requires_grad_(True) * 1)
    with pytest.raises(error, match=match):
        fn(ag.Variable(_r(3, 4), requires_grad=True) * 1)


@pytest.mark.parametrize("name", ["tril_", "unsqueeze_", "eq_", "fill_diagonal_"])
def test_in_place_on_a_leaf_that_requires_grad_is_refused(name: str) -> None:
    args = {"tril_": (), "unsqueeze_": (0,), "eq_": (0,), "fill_diagonal_": (1.0,)}[name]
    for x in (_r(3, 3).requires_grad_(True), ag.Variable(_r(3, 3), requires_grad=True)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(x, name)(*args)


def test_in_place_methods_outside_recording_write_the_tensor() -> None:
    v = ag.Variable(_r(3, 4))
    data = v.data
    assert v.triu_(1) is v and v.data is data
    assert torch.equal(data, _r(3, 4).triu(1))
    assert v.unsqueeze_(0).shape == (1, 3, 4)
    with ag.no_grad():
        p = ag.Variable(_r(3, 3), requires_grad=True)
        p.fill_diagonal_(0.0)
    assert torch.equal(p.data.diagonal(), torch.zeros(3, dtype=torch.float64))


def test_detach_in_place_as_torch() -> None:
    v = ag.Variable(_r(3), requires_grad=True)
    y = v * 2
    assert y.detach_() is y
    assert not y.requires_grad and y.is_leaf
    torch.testing.assert_close(y.data, _r(3) * 2, **TIGHT)
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


@pytest.mark.parametrize("p,dim,maxnorm", [(2, 0, 1.5), (1, 1, 0.5), (3.5, -1, 2.0), (float("inf"), 0, 1.0)])
def test_renorm_as_torch(p: float, dim: int, maxnorm: float) -> None:
    _both(lambda x: torch.renorm(x, p, dim, maxnorm) * _r(3, 4, 2, seed=5), _r(3, 4, 2))
    _both(lambda x: x.renorm(p=p, dim=dim, maxnorm=maxnorm), _r(3, 4, 2))


def test_renorm_float32_and_errors_as_torch() -> None:
    x = _r(4, 3).float()
    torch.testing.assert_close(ag.renorm(ag.Variable(x), 2, 1, 1.0).data, torch.renorm(x, 2, 1, 1.0), rtol=0, atol=0)
    for bad in [lambda y: torch.renorm(y, 2, 0, -1.0), lambda y: torch.renorm(y, 2, 5, 1.0)]:
        with pytest.raises((RuntimeError, IndexError)) as theirs:
            bad(x)
        with pytest.raises(type(theirs.value), match=str(theirs.value)[:20]):
            bad(ag.Variable(x, requires_grad=True))


def test_histc_is_torchs_and_never_requires_grad() -> None:
    x = _r(50)
    v = ag.Variable(x, requires_grad=True)
    for ours, theirs in [
        (torch.histc(v, bins=7, min=-1, max=1), torch.histc(x, bins=7, min=-1, max=1)),
        (v.histc(5), x.histc(5)),
    ]:
        assert type(ours) is torch.Tensor and not ours.requires_grad
        assert torch.equal(ours, theirs)
    assert not torch.histc(x.clone().requires_grad_(True), bins=3).requires_grad


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.view(size=(3, 2)),
        lambda t: t[:1].expand(size=(4, 3)),
        lambda t: t.reshape(shape=(3, 2)),
        lambda t: t.permute(dims=(1, 0)),
        lambda t: t.matmul(other=t.mT),
        lambda t: torch.matmul(t, other=t.mT),
        lambda t: t[0].dot(tensor=t[1]),
        lambda t: torch.dot(t[0], tensor=t[1]),
    ],
    ids=["view", "expand", "reshape", "permute", "Tensor.matmul", "torch.matmul", "Tensor.dot", "torch.dot"],
)
def test_shape_and_product_methods_take_torchs_keywords(call):
    x = torch.randn(2, 3, dtype=torch.float64)
    xt, xv = x.clone().requires_grad_(), ag.Variable(x.clone(), requires_grad=True)
    want, got = call(xt), call(xv)
    assert torch.equal(got.data, want.detach())
    want.sum().backward()
    got.sum().backward()
    assert torch.equal(xv.grad.data, xt.grad)
