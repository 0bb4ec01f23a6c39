"""Losses against torch: values, first and second derivatives (float64) with every reduction, class
weights, ignore_index, label smoothing, K-dim inputs and probability targets; the deprecated
size_average/reduce; torch's warnings and errors. Class-index targets are int64 inputs (constants)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import autograd_engine as ag
import nn  # noqa: F401  (registers torch.nn.functional's rules)

from .oracles import compare_with_torch

torch.manual_seed(0)


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def pos(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=torch.float64) + 0.5


def prob(*shape: int) -> torch.Tensor:
    """Values in (0.1, 0.9)."""
    return torch.rand(*shape, dtype=torch.float64) * 0.8 + 0.1


def dist(*shape: int) -> torch.Tensor:
    """Rows of class probabilities along dim 1 (dim 0 for a vector)."""
    return torch.softmax(r(*shape), 1 if len(shape) > 1 else 0)


def labels(classes: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, classes, shape)


def signs(*shape: int) -> torch.Tensor:
    return torch.randint(0, 2, shape).double() * 2 - 1


def on(t: torch.Tensor, like: Any) -> torch.Tensor:
    """A constant on the device of `like`."""
    return t.to(like.device)


def case(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[Any, ...]:
    """The same torch-style code runs on tensors and on Variables."""
    return (name, fn, fn, list(inputs))


W5, W3, W43, S43 = pos(5), pos(3), pos(4, 3), signs(4, 3)  # constants: torch differentiates none of them
IGNORED = torch.tensor([1, -100, 3, 0, -100, 4])  # class indices with two ignored
IGNORED_2 = torch.tensor([1, 2, 3, 0, 2, 4])  # the same, ignore_index=2


def _backward_case(shape: tuple[int, ...], target: torch.Tensor, weight: Any, reduction: str) -> tuple[Any, ...]:
    """(fn, g, x) for a case of the nll_loss_backward primitive (given the forward kernel's total_weight),
    against the gradient of F.nll_loss that torch's autograd computes with its own backward kernels (whose
    derivative in g is nll_loss, in x 0); x is an input too, to check that its gradient is 0."""
    x = r(*shape)
    total_weight = ag.ops.nll_loss.forward(x, target, weight)[1]

    def fn(g: Any, x: Any) -> Any:
        t, w = on(target, x), None if weight is None else on(weight, x)
        if isinstance(g, ag.Variable):
            return ag.ops.nll_loss_backward(g, x, t, w, reduction=reduction, total_weight=on(total_weight, x))
        return torch.autograd.grad(F.nll_loss(x, t, w, reduction=reduction), x, g, create_graph=True)[0]

    return fn, torch.randn(target.shape if reduction == "none" else (), dtype=torch.float64), x


CASES = [
    case("cross_entropy", lambda x, t: F.cross_entropy(x, t), r(6, 5), labels(5, 6)),
    case("cross_entropy-sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"), r(6, 5), labels(5, 6)),
    case("cross_entropy-none", lambda x, t: F.cross_entropy(x, t, reduction="none"), r(6, 5), labels(5, 6)),
    case("cross_entropy-weight", lambda x, t: F.cross_entropy(x, t, on(W5, x)), r(6, 5), labels(5, 6)),
    case("cross_entropy-ignore", lambda x, t: F.cross_entropy(x, t, on(W5, x)), r(6, 5), IGNORED),
    case("cross_entropy-ignore-index", lambda x, t: F.cross_entropy(x, t, ignore_index=2), r(6, 5), IGNORED_2),
    case(
        "cross_entropy-ignore-none",
        lambda x, t: F.cross_entropy(x, t, reduction="none", ignore_index=2),
        r(6, 5),
        IGNORED_2,
    ),
    case("cross_entropy-smoothing", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2), r(6, 5), labels(5, 6)),
    case(
        "cross_entropy-smoothing-weight-ignore",
        lambda x, t: F.cross_entropy(x, t, on(W5, x), label_smoothing=0.3),
        r(6, 5),
        IGNORED,
    ),
    case(
        "cross_entropy-smoothing-sum",
        lambda x, t: F.cross_entropy(x, t, on(W5, x), reduction="sum", label_smoothing=0.1),
        r(6, 5),
        IGNORED,
    ),
    case(
        "cross_entropy-smoothing-none",
        lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.1),
        r(6, 5),
        IGNORED,
    ),
    case("cross_entropy-kdim", lambda x, t: F.cross_entropy(x, t), r(2, 5, 3, 2), labels(5, 2, 3, 2)),
    case(
        "cross_entropy-kdim-weight-none",
        lambda x, t: F.cross_entropy(x, t, on(W5, x), reduction="none"),
        r(2, 5, 3),
        labels(5, 2, 3),
    ),
    case("cross_entropy-5d", lambda x, t: F.cross_entropy(x, t), r(2, 5, 2, 1, 2), labels(5, 2, 2, 1, 2)),
    case("cross_entropy-vector", lambda x, t: F.cross_entropy(x, t), r(5), torch.tensor(3)),
    case("cross_entropy-probabilities", lambda x, t: F.cross_entropy(x, t), r(4, 5), dist(4, 5)),
    case(
        "cross_entropy-probabilities-weight-smoothing",
        lambda x, t: F.cross_entropy(x, t, on(W5, x), label_smoothing=0.2),
        r(4, 5),
        dist(4, 5),
    ),
    case(
        "cross_entropy-probabilities-kdim-none",
        lambda x, t: F.cross_entropy(x, t, reduction="none"),
        r(2, 5, 3),
        dist(2, 5, 3),
    ),
    case("cross_entropy-probabilities-sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"), r(5), dist(5)),
    case("cross_entropy-legacy", lambda x, t: F.cross_entropy(x, t, size_average=False), r(6, 5), labels(5, 6)),
    case("cross_entropy-positional", lambda x, t: F.cross_entropy(x, t, None, None, 2), r(6, 5), IGNORED_2),
    case("nll_loss", lambda x, t: F.nll_loss(x, t), r(6, 5), labels(5, 6)),
    case("nll_loss-weight-ignore", lambda x, t: F.nll_loss(x, t, on(W5, x)), r(6, 5), IGNORED),
    case("nll_loss-none", lambda x, t: F.nll_loss(x, t, reduction="none"), r(6, 5), IGNORED),
    case("nll_loss-kdim", lambda x, t: F.nll_loss(x, t, on(W5, x), reduction="sum"), r(2, 5, 3, 2), labels(5, 2, 3, 2)),
    case("nll_loss-vector", lambda x, t: F.nll_loss(x, t), r(5), torch.tensor(2)),
    case("nll_loss-legacy-reduce", lambda x, t: F.nll_loss(x, t, reduce=False), r(6, 5), labels(5, 6)),
    case("nll_loss-3d-none", lambda x, t: F.nll_loss(x, t, reduction="none"), r(2, 5, 3), IGNORED.reshape(2, 3)),
    case("nll_loss-4d-weight", lambda x, t: F.nll_loss(x, t, on(W5, x)), r(2, 5, 1, 3), IGNORED.reshape(2, 1, 3)),
    case(
        "nll_loss-5d-none",
        lambda x, t: F.nll_loss(x, t, reduction="none"),
        r(1, 5, 2, 1, 3),
        IGNORED.reshape(1, 2, 1, 3),
    ),
    case("nll_loss_backward-mean", *_backward_case((6, 5), IGNORED, W5, "mean")),
    case("nll_loss_backward-none", *_backward_case((6, 5), IGNORED, None, "none")),
    case("nll_loss_backward-3d-sum", *_backward_case((2, 5, 3), IGNORED.reshape(2, 3), W5, "sum")),
    case("nll_loss_backward-4d-mean", *_backward_case((2, 5, 1, 3), IGNORED.reshape(2, 1, 3), None, "mean")),
    case("nll_loss_backward-5d-none", *_backward_case((1, 5, 2, 1, 3), IGNORED.reshape(1, 2, 1, 3), W5, "none")),
    case("binary_cross_entropy", lambda p, t: F.binary_cross_entropy(p, t), prob(4, 3), prob(4, 3)),
    case("binary_cross_entropy-weight", lambda p, t: F.binary_cross_entropy(p, t, on(W3, p)), prob(4, 3), prob(4, 3)),
    case("binary_cross_entropy-none", lambda p, t: F.binary_cross_entropy(p, t, reduction="none"), prob(5), prob(5)),
    case("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, r(4, 3) * 3, prob(4, 3)),
    case(
        "binary_cross_entropy_with_logits-weights",
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, on(W43, x), pos_weight=on(W3, x), reduction="sum"),
        r(4, 3) * 3,
        prob(4, 3),
    ),
    case("l1_loss", F.l1_loss, r(4, 3), r(4, 3)),
    case("l1_loss-none", lambda a, b: F.l1_loss(a, b, reduction="none"), r(4, 3), r(4, 3)),
    case("mse_loss", F.mse_loss, r(4, 3), r(4, 3)),
    case("mse_loss-sum", lambda a, b: F.mse_loss(a, b, reduction="sum"), r(4, 3), r(4, 3)),
    case("mse_loss-weight", lambda a, b, w: F.mse_loss(a, b, weight=w), r(4, 3), r(4, 3), pos(4, 3)),
    case("mse_loss-legacy", lambda a, b: F.mse_loss(a, b, size_average=False), r(4, 3), r(4, 3)),
    case("smooth_l1_loss", F.smooth_l1_loss, r(4, 5), r(4, 5)),
    case("smooth_l1_loss-beta", lambda a, b: F.smooth_l1_loss(a, b, beta=0.5, reduction="none"), r(4, 5), r(4, 5)),
    case("smooth_l1_loss-zero-beta", lambda a, b: F.smooth_l1_loss(a, b, beta=0.0), r(4, 5), r(4, 5)),
    case("huber_loss", F.huber_loss, r(4, 5) * 2, r(4, 5)),
    case("huber_loss-delta", lambda a, b: F.huber_loss(a, b, reduction="sum", delta=0.5), r(4, 5), r(4, 5)),
    case("huber_loss-weight", lambda a, b, w: F.huber_loss(a, b, delta=0.7, weight=w), r(4, 5), r(4, 5), pos(4, 5)),
    case("kl_div-batchmean", lambda x, t: F.kl_div(x, t, reduction="batchmean"), dist(4, 5).log(), dist(4, 5)),
    case("kl_div-sum", lambda x, t: F.kl_div(x, t, reduction="sum"), dist(4, 5).log(), dist(4, 5)),
    case("kl_div-none", lambda x, t: F.kl_div(x, t, reduction="none"), dist(4, 5).log(), dist(4, 5)),
    case(
        "kl_div-log-target",
        lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True),
        dist(4, 5).log(),
        dist(4, 5).log(),
    ),
    case("soft_margin_loss", lambda x: F.soft_margin_loss(x, on(S43, x)), r(4, 3)),
    case("margin_ranking_loss", lambda a, b, t: F.margin_ranking_loss(a, b, t, 0.3), r(6), r(6), signs(6)),
    case("hinge_embedding_loss", lambda x, t: F.hinge_embedding_loss(x, t, 0.8), r(4, 3), signs(4, 3)),
    case("cosine_embedding_loss", lambda a, b, t: F.cosine_embedding_loss(a, b, t, 0.2), r(5, 4), r(5, 4), signs(5)),
    case("cosine_embedding_loss-vector", lambda a, b, t: F.cosine_embedding_loss(a, b, t), r(4), r(4), signs(1)[0]),
    case("poisson_nll_loss", F.poisson_nll_loss, r(4, 3), pos(4, 3) * 3),
    case(
        "poisson_nll_loss-full",
        lambda x, t: F.poisson_nll_loss(x, t, log_input=False, full=True, reduction="sum"),
        pos(4, 3),
        pos(4, 3) * 2,
    ),
    case("gaussian_nll_loss", F.gaussian_nll_loss, r(4, 3), r(4, 3), pos(4, 3)),
    case(
        "gaussian_nll_loss-homoscedastic",
        lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=True, reduction="none"),
        r(4, 3),
        r(4, 3),
        pos(4),
    ),
    case("gaussian_nll_loss-one-dim", lambda x, t, v: F.gaussian_nll_loss(x, t, v), r(4, 3), r(4, 3), pos(4, 1)),
    case("triplet_margin_loss", F.triplet_margin_loss, r(5, 4), r(5, 4), r(5, 4)),
    case("triplet_margin_with_distance_loss", F.triplet_margin_with_distance_loss, r(5, 4), r(5, 4), r(5, 4)),
    case(
        "triplet_margin_with_distance_loss-cosine-swap",
        lambda a, p, n: F.triplet_margin_with_distance_loss(
            a, p, n, distance_function=lambda x, y: 1 - F.cosine_similarity(x, y), margin=0.5, swap=True
        ),
        r(5, 4),
        r(5, 4),
        r(5, 4),
    ),
    case("multilabel_soft_margin_loss", F.multilabel_soft_margin_loss, r(4, 3), prob(4, 3)),
    case(
        "multilabel_soft_margin_loss-weight-none",
        lambda x, t: F.multilabel_soft_margin_loss(x, t, on(W3, x), reduction="none"),
        r(4, 3),
        prob(4, 3),
    ),
    case("multi_margin_loss", lambda x, t: F.multi_margin_loss(x, t, margin=2.0), r(4, 5), labels(5, 4)),
    case(
        "multi_margin_loss-p2-weight-sum",
        lambda x, t: F.multi_margin_loss(x, t, 2, 1.5, on(W5, x), reduction="sum"),
        r(4, 5),
        labels(5, 4),
    ),
    case("multi_margin_loss-vector", lambda x, t: F.multi_margin_loss(x, t, reduction="none"), r(5) * 0.3, labels(5)),
    case(
        "multilabel_margin_loss",
        lambda x, t: F.multilabel_margin_loss(x, t, reduction="none"),
        r(3, 4) * 0.5,
        torch.tensor([[0, 1, -1, 2], [3, -1, 0, 0], [-1, 1, 2, 3]]),
    ),
    case("multilabel_margin_loss-vector", F.multilabel_margin_loss, r(4) * 0.5, torch.tensor([2, 2, 0, -1])),
    case(
        "triplet_margin_loss-swap-p1",
        lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=2.0, p=1, swap=True, reduction="none"),
        r(5, 4),
        r(5, 4),
        r(5, 4),
    ),
]


# torch's second derivative of binary_cross_entropy adds 1e-12 to the input (and to 1 - input): off by ~1e-10
FIRST_ORDER_ONLY = {"multi_margin_loss", "multilabel_margin_loss"}  # torch has no second derivative for these
RELATIVE_TOLERANCE = {name: 1e-8 for name, *_ in CASES if name.split("-")[0] == "binary_cross_entropy"}


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated size_average/reduce: tested below
        rtol = RELATIVE_TOLERANCE.get(name, 1e-10)
        second_order = name.split("-")[0] not in FIRST_ORDER_ONLY
        inputs = [x.to(device) for x in inputs]
        compare_with_torch(engine_fn, torch_fn, inputs, second_order=second_order, rtol=rtol, atol=rtol / 100)


def test_all_targets_ignored_gives_nan_mean_and_zero_sum():
    x, t = r(3, 4), torch.full((3,), -100)
    for reduction in ("mean", "sum"):
        ours = F.cross_entropy(ag.Variable(x, requires_grad=True), t, reduction=reduction)
        torch.testing.assert_close(ours.data, F.cross_entropy(x, t, reduction=reduction), equal_nan=True)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    p = torch.tensor([0.0, 1.0, 0.5, 1e-50], dtype=torch.float64)
    t = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    v = ag.Variable(p.clone(), requires_grad=True)
    loss = F.binary_cross_entropy(v, t, reduction="none")
    torch.testing.assert_close(loss.data, F.binary_cross_entropy(p, t, reduction="none"))
    loss.sum().backward()
    assert torch.isfinite(v.grad.data).all()


def test_binary_cross_entropy_with_logits_is_stable_for_large_logits():
    x = torch.tensor([-800.0, -30.0, 0.0, 30.0, 800.0], dtype=torch.float64)
    t = torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0], dtype=torch.float64)
    compare_with_torch(F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [x, t])


def test_deprecated_arguments_warn_as_torch():
    x, y = r(3), r(3)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        ours = F.mse_loss(ag.Variable(x), y, reduce=False)
    assert ours.shape == (3,)


def test_broadcasting_targets_warn_as_torch():
    x, y = r(3, 4), r(4)
    with pytest.warns(UserWarning, match="Using a target size"):
        ours = F.mse_loss(ag.Variable(x), y)
    with pytest.warns(UserWarning, match="Using a target size"):
        theirs = F.mse_loss(x, y)
    torch.testing.assert_close(ours.data, theirs)


def test_kl_div_mean_warns_as_torch():
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(ag.Variable(r(2, 3)), dist(2, 3))


def test_a_string_in_size_average_place_is_read_as_torch_reads_it():
    """torch reads mse_loss(input, target, "sum") as size_average="sum", which is true: the mean."""
    x, y = r(3), r(3)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        expected = torch.nn.functional.mse_loss(x, y, "sum")
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        got = F.mse_loss(ag.Variable(x), y, "sum")
    assert torch.equal(got.data, expected)


X = r(4, 5)
ERRORS = [
    ("cross_entropy-batch", lambda x: F.cross_entropy(x, labels(5, 3)), ValueError, r"batch_size \(4\) to match"),
    ("cross_entropy-multi-target", lambda x: F.cross_entropy(x, labels(5, 4, 2)), RuntimeError, "multi-target"),
    ("cross_entropy-out-of-bounds", lambda x: F.cross_entropy(x, torch.tensor([1, 2, 3, 7])), IndexError, "Target 7"),
    ("cross_entropy-negative", lambda x: F.cross_entropy(x, torch.tensor([1, -1, 3, 0])), IndexError, "Target -1"),
    (
        "cross_entropy-dtype",
        lambda x: F.cross_entropy(x, torch.tensor([1, 2, 3, 0]).int()),
        RuntimeError,
        "but got Int",
    ),
    ("cross_entropy-float-target", lambda x: F.cross_entropy(x, prob(4)), RuntimeError, "Long or Byte, but got Double"),
    ("cross_entropy-int-probabilities", lambda x: F.cross_entropy(x, labels(2, 4, 5)), RuntimeError, "got Long"),
    (
        "cross_entropy-ignore-probabilities",
        lambda x: F.cross_entropy(x, dist(4, 5), ignore_index=0),
        RuntimeError,
        "not supported",
    ),
    ("cross_entropy-weight", lambda x: F.cross_entropy(x, labels(5, 4), pos(3)), RuntimeError, "for all 5 classes"),
    ("cross_entropy-smoothing", lambda x: F.cross_entropy(x, labels(5, 4), label_smoothing=1.5), RuntimeError, "1.5"),
    ("cross_entropy-reduction", lambda x: F.cross_entropy(x, labels(5, 4), reduction="avg"), ValueError, "avg is not"),
    ("nll_loss-kdim", lambda x: F.nll_loss(x.reshape(2, 5, 2), labels(5, 2, 3)), RuntimeError, "Expected target size"),
    ("nll_loss-4d", lambda x: F.nll_loss(x.reshape(1, 5, 2, 2), labels(5, 1, 2, 3)), RuntimeError, "size mismatch"),
    ("nll_loss-scalar", lambda x: F.nll_loss(x[0, 0], torch.tensor(0)), ValueError, r"1 or more dimensions \(got 0\)"),
    ("binary_cross_entropy-range", lambda x: F.binary_cross_entropy(x, prob(4, 5)), RuntimeError, "between 0 and 1"),
    ("binary_cross_entropy-shape", lambda x: F.binary_cross_entropy(x.sigmoid(), prob(5)), ValueError, "target size"),
    (
        "binary_cross_entropy_with_logits-shape",
        lambda x: F.binary_cross_entropy_with_logits(x, prob(5)),
        ValueError,
        "must be the",
    ),
    ("mse_loss-shape", lambda x: F.mse_loss(x, r(3)), RuntimeError, "must match the size"),
    ("mse_loss-weight", lambda x: F.mse_loss(x, r(4, 5), weight=pos(5)), ValueError, "Weights and input"),
    ("smooth_l1_loss-beta", lambda x: F.smooth_l1_loss(x, r(4, 5), beta=-1.0), RuntimeError, "negative values"),
    ("kl_div-reduction", lambda x: F.kl_div(x, r(4, 5), reduction="bogus"), ValueError, "bogus is not a valid"),
    ("gaussian_nll_loss-var", lambda x: F.gaussian_nll_loss(x, r(4, 5), -pos(4, 5)), ValueError, "negative entry"),
    ("gaussian_nll_loss-size", lambda x: F.gaussian_nll_loss(x, r(4, 5), pos(3)), ValueError, "incorrect size"),
    ("triplet_margin_loss-margin", lambda x: F.triplet_margin_loss(x, x, x, margin=0.0), ValueError, "margin must be"),
    ("multi_margin_loss-p", lambda x: F.multi_margin_loss(x, labels(5, 4), p=3), ValueError, "only p == 1 and p == 2"),
    ("multi_margin_loss-range", lambda x: F.multi_margin_loss(x, torch.tensor([0, 1, 5, 2])), RuntimeError, "range"),
    ("multi_margin_loss-3d", lambda x: F.multi_margin_loss(x[None], labels(5, 4)), RuntimeError, "vector or matrix"),
    (
        "multilabel_margin_loss-size",
        lambda x: F.multilabel_margin_loss(x, labels(5, 4, 3)),
        RuntimeError,
        "inconsistent",
    ),
    (
        "multilabel_soft_margin_loss-reduction",
        lambda x: F.multilabel_soft_margin_loss(x, x, reduction="x"),
        ValueError,
        "x is not valid",
    ),
]


@pytest.mark.parametrize("name,fn,error,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=message):
            fn(X)
        with pytest.raises(error, match=message):
            fn(ag.Variable(X, requires_grad=True))


# --- nll_loss as a primitive on torch's kernels: torch's bits, torch's errors -------------------------
SHAPES = [(5,), (7, 5), (3, 5, 4), (2, 5, 3, 2), (2, 5, 2, 1, 3), (0, 5), (0, 5, 2)]  # 4-d: nll_loss2d; 3-d, 5-d: views
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def _class_targets(shape: tuple[int, ...]) -> torch.Tensor:
    """Class indices for an input of `shape` (a 0-d one for a (C,) input), a third of them -100."""
    if len(shape) == 1:
        return torch.tensor(3)
    target = labels(shape[1], shape[0], *shape[2:])
    target.view(-1)[::3] = -100
    return target


LOSSES = {
    "nll_loss": lambda x, t, **kw: F.nll_loss(x, t, **kw),
    "cross_entropy": lambda x, t, **kw: F.cross_entropy(x, t, **kw),
    "cross_entropy-smoothing": lambda x, t, **kw: F.cross_entropy(x, t, label_smoothing=0.15, **kw),
}


@pytest.mark.parametrize("loss", LOSSES, ids=list(LOSSES))
@pytest.mark.parametrize("dtype", DTYPES, ids=[str(d).removeprefix("torch.") for d in DTYPES])
@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_values_and_gradients_are_torchs_bits(loss, dtype, shape):
    """Every reduction, with and without class weights, ignoring -100: the value and the input's gradient
    equal torch's bit for bit (torch.equal; NaN where torch has NaN: a mean over no counted target)."""
    fn = LOSSES[loss]
    x = torch.randn(shape).to(dtype)
    target = _class_targets(shape)
    for weight in (None, torch.rand(5).to(dtype) + 0.5):
        for reduction in ("none", "mean", "sum"):
            theirs_x = x.clone().requires_grad_()
            theirs = fn(theirs_x, target, weight=weight, reduction=reduction)
            ours_x = ag.Variable(x.clone(), requires_grad=True)
            ours = fn(ours_x, target, weight=weight, reduction=reduction)
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            assert torch.equal(ours.data, theirs) or torch.equal(ours.data.isnan(), theirs.isnan().detach())
            g = torch.randn(theirs.shape).to(dtype)
            theirs.backward(g)
            ours.backward(g)
            assert torch.equal(ours_x.grad.data, theirs_x.grad), (weight is not None, reduction)


def test_byte_targets_are_torchs_bits():
    x, target = torch.randn(6, 5), torch.tensor([1, 0, 4, 2, 3, 4], dtype=torch.uint8)
    theirs_x, ours_x = x.clone().requires_grad_(), ag.Variable(x.clone(), requires_grad=True)
    theirs, ours = F.cross_entropy(theirs_x, target), F.cross_entropy(ours_x, target)
    theirs.backward()
    ours.backward()
    assert torch.equal(ours.data, theirs) and torch.equal(ours_x.grad.data, theirs_x.grad)


@pytest.mark.parametrize("shape", [(7, 5), (3, 5, 4), (2, 5, 3, 2)], ids=["2d", "3d", "4d"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nll_loss_backward_is_the_adjoint_of_nll_loss(shape, reduction):
    """nll_loss is linear in its input for a fixed target and weight, and nll_loss_backward is its adjoint
    (<backward(g), h> = <g, nll_loss(h)>), independent of the input's values: the identities its VJP (for g:
    nll_loss; for x: none) rests on."""
    x, h, target, weight = r(*shape), r(*shape), _class_targets(shape), pos(5)
    out, total_weight = ag.ops.nll_loss.forward(x, target, weight, reduction=reduction)
    g = torch.randn(out.shape, dtype=torch.float64)
    grad = ag.ops.nll_loss_backward(g, x, target, weight, reduction=reduction, total_weight=total_weight)
    forward_h = ag.ops.nll_loss(h, target, weight, reduction=reduction)
    torch.testing.assert_close((grad * h).sum(), (g * forward_h).sum(), rtol=1e-12, atol=1e-12)
    again = ag.ops.nll_loss_backward(g, r(*shape), target, weight, reduction=reduction, total_weight=total_weight)
    assert torch.equal(again, grad)
    torch.testing.assert_close(ag.ops.nll_loss(x + h, target, weight, reduction=reduction), out + forward_h)


def test_nll_loss_keeps_only_the_target_and_weight_for_backward():
    """The node keeps the class indices and weights, not the (N, C) log-probabilities (as torch's)."""
    x, target, weight = ag.Variable(r(4, 5), requires_grad=True), labels(5, 4), pos(5)
    node = ag.ops.nll_loss(x, target, weight)._node
    assert not isinstance(node.args[0], torch.Tensor)
    assert node.args[1] is target and node.args[2] is weight


def test_a_weight_that_requires_grad_is_refused_as_torch_refuses_it():
    x, target = r(4, 5), labels(5, 4)
    message = "not differentiable with respect to argument 'weight'"
    with pytest.raises(RuntimeError, match=message):
        F.nll_loss(x, target, pos(5).requires_grad_())
    for fn in (F.nll_loss, lambda *a: F.cross_entropy(*a, label_smoothing=0.1)):
        with pytest.raises(RuntimeError, match=message):
            fn(ag.Variable(x, requires_grad=True), target, ag.Variable(pos(5), requires_grad=True))
    with ag.no_grad():  # (as under torch.no_grad)
        F.nll_loss(ag.Variable(x), target, ag.Variable(pos(5), requires_grad=True))


def test_a_vector_input_with_a_one_element_target_fails_in_backward_as_torch():
    """torch's backward kernel refuses the (1,) target its forward takes for a (C,) input: so does the engine's."""
    x, target = r(5), torch.tensor([4])
    ours_x = ag.Variable(x, requires_grad=True)
    ours = F.nll_loss(ours_x, target)
    assert torch.equal(ours.data, F.nll_loss(x, target))
    with pytest.raises(RuntimeError, match="size mismatch"):
        torch.autograd.grad(F.nll_loss(x.requires_grad_(), target), x)
    with pytest.raises(RuntimeError, match=r"nll_loss_backward: size mismatch \(got input: \[5\], target: \[1\]\)"):
        ours.backward()


NLL_ERRORS = [
    ("out-of-bounds", lambda x: F.nll_loss(x, torch.tensor([1, 2, 5, 0])), IndexError, r"Target 5 is out of bounds\."),
    ("3d-out-of-bounds", lambda x: F.nll_loss(x.reshape(1, 5, 4), torch.full((1, 4), 9)), IndexError, "Target 9"),
    ("vector-target-size", lambda x: F.nll_loss(x[0], torch.tensor([1, 2])), ValueError, "must have size 1, but got"),
    (
        "int-target",
        lambda x: F.nll_loss(x, torch.tensor([1, 2, 3, 0]).int()),
        RuntimeError,
        "Long or Byte, but got Int",
    ),
    ("weight-dtype", lambda x: F.nll_loss(x, labels(5, 4), pos(5).float()), RuntimeError, "expected scalar type"),
    ("weight-size", lambda x: F.nll_loss(x, labels(5, 4), pos(4)), RuntimeError, "for all 5 classes"),
    ("target-batch", lambda x: F.nll_loss(x, labels(5, 2, 2)), ValueError, r"batch_size \(4\) to match .* \(2\)"),
    ("zero-d-target", lambda x: F.nll_loss(x, torch.tensor(1)), ValueError, r"target batch_size \(0\)"),
    ("multi-target", lambda x: F.nll_loss(x, labels(5, 4, 2)), RuntimeError, "multi-target not supported"),
]


@pytest.mark.parametrize("name,fn,error,message", NLL_ERRORS, ids=[e[0] for e in NLL_ERRORS])
def test_nll_loss_errors_are_torchs(name, fn, error, message):
    """torch's error type and text, which the engine's prefixes with the primitive's name (and follows with
    the inputs' shapes)."""
    with pytest.raises(error, match=message):
        fn(X)
    with pytest.raises(error, match=message) as raised:
        fn(ag.Variable(X, requires_grad=True))
    assert str(raised.value).startswith("nll_loss: ") and " float64 on cpu, (" in str(raised.value)


# --- the pointwise losses on torch's kernels: their backward primitives, bits, dtypes --------------------
def _kernel_backward_case(
    name: str, loss: Callable[..., Any], backward: Callable[..., Any], reduction: str, x: torch.Tensor, t: torch.Tensor
) -> tuple[Any, ...]:
    """A case of a loss's backward primitive (inputs g, x, target) against the gradient torch's autograd takes of
    the loss with create_graph (its backward kernel, whose double backward gives the second order)."""

    def fn(g: Any, x: Any, t: Any) -> Any:
        if isinstance(g, ag.Variable):
            return backward(g, x, t, reduction=reduction)
        return torch.autograd.grad(loss(x, t, reduction=reduction), x, g, create_graph=True)[0]

    g = torch.randn(x.shape if reduction == "none" else (), dtype=torch.float64)
    return case(f"{name}-{reduction}", fn, g, x, t)


def _ties() -> tuple[torch.Tensor, torch.Tensor]:
    """x and target with |x - target| at 0, below, at and above 0.5 and 1 (the smooth losses' kinks)."""
    x = torch.tensor([[0.0, 0.2, 0.5, 1.0, 1.7, -0.5], [2.0, -1.0, 0.3, 0.0, -2.2, 0.4]], dtype=torch.float64)
    return x, torch.zeros_like(x).index_fill_(1, torch.tensor([1, 4]), 0.1)


W_BCE = prob(4, 3)
BACKWARD_KERNELS: list[tuple[str, Callable[..., Any], Callable[..., Any], Callable[[], tuple[torch.Tensor, ...]]]] = [
    ("mse_loss_backward", F.mse_loss, ag.ops.mse_loss_backward, lambda: (r(4, 3), r(4, 3))),
    (
        "smooth_l1_loss_backward",
        lambda x, t, **p: F.smooth_l1_loss(x, t, beta=0.5, **p),
        lambda g, x, t, **p: ag.ops.smooth_l1_loss_backward(g, x, t, beta=0.5, **p),
        _ties,
    ),
    (
        "huber_loss_backward",
        lambda x, t, **p: F.huber_loss(x, t, delta=0.5, **p),
        lambda g, x, t, **p: ag.ops.huber_loss_backward(g, x, t, delta=0.5, **p),
        _ties,
    ),
    (
        "binary_cross_entropy_backward",
        F.binary_cross_entropy,
        ag.ops.binary_cross_entropy_backward,
        lambda: (prob(4, 3),) * 2,
    ),
    (
        "binary_cross_entropy_backward-weight",
        lambda x, t, **p: F.binary_cross_entropy(x, t, on(W_BCE, x), **p),
        lambda g, x, t, **p: ag.ops.binary_cross_entropy_backward(g, x, t, on(W_BCE, x), **p),
        lambda: (prob(4, 3), prob(4, 3)),
    ),
]
CASES = [
    *CASES,
    *(
        _kernel_backward_case(name, loss, backward, reduction, *inputs())
        for name, loss, backward, inputs in BACKWARD_KERNELS
        for reduction in ("mean", "sum", "none")
    ),
    case("smooth_l1_loss-beta0", lambda x, t: F.smooth_l1_loss(x, t, beta=0.0), *_ties()),
    case("huber_loss-kinks", lambda x, t: F.huber_loss(x, t, reduction="sum", delta=0.5), *_ties()),
    case(
        "binary_cross_entropy_with_logits-pos_weight-target",
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, on(W_BCE, x), pos_weight=on(pos(3), x)),
        r(4, 3),
        prob(4, 3),
    ),
]

BITWISE_LOSSES = {
    "mse_loss": (F.mse_loss, r, r),
    "l1_loss": (F.l1_loss, r, r),
    "smooth_l1_loss": (lambda x, t, **p: F.smooth_l1_loss(x, t, beta=0.5, **p), r, r),
    "smooth_l1_loss-beta0": (lambda x, t, **p: F.smooth_l1_loss(x, t, beta=0.0, **p), r, r),
    "huber_loss": (lambda x, t, **p: F.huber_loss(x, t, delta=0.7, **p), r, r),
    "binary_cross_entropy": (F.binary_cross_entropy, prob, prob),
    "binary_cross_entropy-weight": (lambda x, t, **p: F.binary_cross_entropy(x, t, W_BCE.to(x.dtype), **p), prob, prob),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, r, prob),
    "binary_cross_entropy_with_logits-weight": (
        lambda x, t, **p: F.binary_cross_entropy_with_logits(x, t, W_BCE.to(x.dtype), **p),
        r,
        prob,
    ),
    "binary_cross_entropy_with_logits-pos_weight": (
        lambda x, t, **p: F.binary_cross_entropy_with_logits(x, t, pos_weight=W_BCE[0].to(x.dtype), **p),
        r,
        prob,
    ),
}


def _values_and_grads(fn: Callable[..., Any], xs: list[Any], grads: Callable[..., Any]) -> list[torch.Tensor]:
    out = fn(*xs)
    g = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)
    found = grads(out, [x for x in xs if x.requires_grad], g)
    return [ag.variable.unwrap(t) for t in (out, *found)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(BITWISE_LOSSES))
def test_pointwise_losses_are_torchs_bits(name, reduction, dtype):
    """Values and the gradients of input and target are torch's bits (torch's forward and backward kernels).
    With pos_weight the target's gradient (through log sigmoid, which the engine composes) is only close."""
    loss, make_x, make_t = BITWISE_LOSSES[name]
    x, t = make_x(4, 3).to(dtype), make_t(4, 3).to(dtype)
    fn = lambda a, b: loss(a, b, reduction=reduction)  # noqa: E731
    target_grad = "pos_weight" not in name
    theirs = _values_and_grads(
        fn, [x.clone().requires_grad_(), t.clone().requires_grad_(target_grad)], torch.autograd.grad
    )
    ours = _values_and_grads(
        fn,
        [ag.Variable(x.clone(), requires_grad=True), ag.Variable(t.clone(), requires_grad=target_grad)],
        ag.gradients,
    )
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and torch.equal(a, b), (a, b)


def test_binary_cross_entropy_gradient_at_the_edges_is_torchs():
    """At x = target = 0 or 1 the gradient is 0 (torch's backward divides by max(x (1 - x), 1e-12))."""
    x, t = torch.tensor([0.0, 1.0, 0.5, 1e-20], dtype=torch.float64), torch.tensor([0.0, 1.0, 1.0, 0.0])
    t = t.double()
    v = ag.Variable(x.clone(), requires_grad=True)
    F.binary_cross_entropy(v, t, reduction="sum").backward()
    xt = x.clone().requires_grad_()
    F.binary_cross_entropy(xt, t, reduction="sum").backward()
    assert torch.equal(v.grad.data, xt.grad) and torch.equal(v.grad.data[:2], torch.zeros(2, dtype=torch.float64))


MIXED_DTYPES = {
    "mse_loss": F.mse_loss,
    "l1_loss": F.l1_loss,
    "smooth_l1_loss": F.smooth_l1_loss,
    "huber_loss": F.huber_loss,
    "huber_loss-none": lambda x, t: F.huber_loss(x, t, reduction="none"),
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "kl_div": lambda x, t: F.kl_div(x, t, reduction="batchmean"),
    "soft_margin_loss": F.soft_margin_loss,
    "poisson_nll_loss": F.poisson_nll_loss,
    "hinge_embedding_loss": F.hinge_embedding_loss,
    "multilabel_soft_margin_loss": F.multilabel_soft_margin_loss,
    "cross_entropy-probabilities": F.cross_entropy,
}


@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float64), (torch.float64, torch.float32)], ids=str)
@pytest.mark.parametrize("name", list(MIXED_DTYPES))
def test_mixed_input_and_target_dtypes_give_torchs_result_dtype(name, dtypes):
    """float32 and float64 input and target: the result has torch's dtype (huber_loss: the input's;
    binary_cross_entropy_with_logits: the target's; most: the promoted one)."""
    x, t = prob(4, 3).to(dtypes[0]), prob(4, 3).to(dtypes[1])
    ours = MIXED_DTYPES[name](ag.Variable(x, requires_grad=True), t)
    theirs = MIXED_DTYPES[name](x, t)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours.data, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float64), (torch.float64, torch.float32)], ids=str)
def test_binary_cross_entropy_refuses_mixed_dtypes_as_torch(dtypes):
    x, t = prob(4, 3).to(dtypes[0]), prob(4, 3).to(dtypes[1])
    message = "Found dtype .* but expected"
    with pytest.raises(RuntimeError, match=message):
        F.binary_cross_entropy(x, t)
    with pytest.raises(RuntimeError, match=message):
        F.binary_cross_entropy(ag.Variable(x, requires_grad=True), t)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("binary_cross_entropy", lambda x, w: F.binary_cross_entropy(torch.sigmoid(x), torch.ones(3).double(), w)),
        ("binary_cross_entropy_with_logits", lambda x, w: F.binary_cross_entropy_with_logits(x, x * 0, w)),
        (
            "binary_cross_entropy_with_logits",
            lambda x, w: F.binary_cross_entropy_with_logits(x, x * 0, pos_weight=w),
        ),
    ],
)
def test_weights_that_require_grad_are_refused_as_torch(name, fn):
    x, w = r(3), pos(3)
    for make in (lambda t: t.clone().requires_grad_(), lambda t: ag.Variable(t.clone(), requires_grad=True)):
        with pytest.raises(RuntimeError, match=f"'{name}' is not differentiable with respect to argument"):
            fn(make(x), make(w))
