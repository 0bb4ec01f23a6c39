"""The same torch-style code on torch tensors and on Variables: values and gradients must agree.

Each program below is written once, against torch's own API (torch.X, tensor methods,
torch.nn.functional), the way a user coming from torch writes it. It runs on leaf tensors that
require grad (torch.autograd) and on leaf Variables (the engine, through torch dispatch), and the
outputs and the gradients of a random combination of them are compared in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import autograd_engine as ag


def r(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def pos(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=torch.float64) + 0.5


def spd(n: int) -> torch.Tensor:
    a = torch.randn(n, n, dtype=torch.float64)
    return a @ a.T + n * torch.eye(n, dtype=torch.float64)


torch.manual_seed(0)
IDX = torch.tensor([[0, 2, 1], [1, 1, 0]])
LABELS = torch.tensor([2, 0, 1, 2])
MASK = torch.tensor([[True, False, True], [False, True, True]])
SPD3 = spd(3)

# (id, program on tensors or Variables, inputs)
PROGRAMS = [
    # elementwise
    ("sin", lambda x: torch.sin(x) + x.cos(), [r(3, 4)]),
    ("tan-atan", lambda x: torch.atan(torch.tan(x * 0.5)), [r(5)]),
    ("asin-acos", lambda x: torch.asin(x * 0.5) + torch.acos(x * 0.4), [r(5)]),
    ("hyperbolic", lambda x: torch.sinh(x) + torch.cosh(x) + torch.asinh(x) + torch.atanh(x * 0.3), [r(5)]),
    ("acosh", lambda x: torch.acosh(x + 1.5), [pos(5)]),
    ("logs", lambda x: torch.log2(x) + torch.log10(x) + torch.log1p(x), [pos(4)]),
    ("exps", lambda x: torch.exp2(x) + torch.expm1(x), [r(4)]),
    ("rsqrt-reciprocal", lambda x: torch.rsqrt(x) + x.reciprocal() + x.square(), [pos(4)]),
    ("erf", lambda x: torch.erf(x) + torch.erfc(x) + torch.erfinv(torch.tanh(x) * 0.9), [r(6)]),
    ("sign-abs", lambda x: torch.sign(x) * x + torch.abs(x), [r(6)]),
    (
        "rounding",
        lambda x: torch.floor(x) + torch.ceil(x) + torch.round(x) + torch.trunc(x) + torch.frac(x) * x,
        [r(6)],
    ),
    ("minimum-maximum", lambda x, y: torch.minimum(x, y) + torch.maximum(x, y) * 2, [r(3, 4), r(4)]),
    ("fmin-fmax", lambda x, y: torch.fmin(x, y) - torch.fmax(x, y), [r(3, 4), r(3, 4)]),
    ("fmod-remainder", lambda x: torch.fmod(x, 0.7) + torch.remainder(x, 0.7) + x % 0.5, [r(6) * 3]),
    ("floor-divide", lambda x: x.detach() // 0.5 + x + 2.0 // (x.detach().abs() + 1), [r(6)]),
    ("lerp", lambda x, y: torch.lerp(x, y, 0.3) + torch.lerp(x, y, torch.sigmoid(y)), [r(4), r(4)]),
    ("clamp-tensor", lambda x, lo: torch.clamp(x, min=lo, max=lo + 1) + x.clip(-0.5, 0.5), [r(3, 4), r(4)]),
    ("logaddexp", lambda x, y: torch.logaddexp(x, y), [r(4), r(4)]),
    ("xlogy", lambda x, y: torch.xlogy(x, y), [r(4), pos(4)]),
    ("hypot-atan2", lambda x, y: torch.hypot(x, y) + torch.atan2(x, y), [r(4), r(4)]),
    ("predicates", lambda x: torch.where(torch.isfinite(x) & ~torch.isnan(x) & ~torch.isinf(x), x, 0.0), [r(4)]),
    ("comparisons", lambda x, y: x * (x > y) + y * (x <= y).to(x.dtype) + (x == x).float().sum(), [r(5), r(5)]),
    ("logical", lambda x: x * torch.logical_and(x > 0, x < 1) + x * torch.logical_or(x < -1, x > 1), [r(8)]),
    ("add-alpha", lambda x, y: torch.add(x, y, alpha=2) - torch.sub(x, y, alpha=0.5), [r(3), r(3)]),
    ("div-modes", lambda x, y: torch.div(x, y) + torch.true_divide(x, y), [r(3), pos(3)]),
    ("pow-forms", lambda x: torch.pow(x, 2) + x.pow(3) + 2**x + torch.pow(x.abs() + 1, x), [r(4)]),
    ("sigmoid-tanh", lambda x: torch.sigmoid(x) * torch.tanh(x) + x.sigmoid(), [r(4)]),
    (
        "tensor-on-left",
        lambda x: torch.ones(3, dtype=torch.float64) - x * torch.full((3,), 2.0, dtype=torch.float64),
        [r(3)],
    ),
    # reductions
    ("sum-mean", lambda x: x.sum(dim=1) + x.mean(1) + torch.sum(x, (0, 1)) + x.mean(), [r(3, 4)]),
    ("sum-keepdim", lambda x: x.sum(-1, keepdim=True) * x.mean(dim=0, keepdim=True), [r(3, 4)]),
    ("prod", lambda x: torch.prod(x, 1) + x.prod(), [r(3, 4)]),
    ("prod-zero", lambda x: (x * torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)).prod(), [r(3)]),
    ("var-std", lambda x: torch.var(x, 1) + x.std(0).sum() + torch.var(x, correction=0), [r(3, 4)]),
    ("var-mean", lambda x: torch.var_mean(x, dim=1)[0] + torch.std_mean(x, dim=1, keepdim=False)[1], [r(3, 4)]),
    ("max-dim", lambda x: x.max(1)[0] + torch.max(x, dim=0).values.sum() + x.min(dim=1).values, [r(3, 4)]),
    ("max-all", lambda x: x.max() + x.min() + torch.amax(x, (0, 1)) + x.amin(1).sum(), [r(3, 4)]),
    ("argmax", lambda x: x[torch.arange(3), x.argmax(1)] + x.argmin(dim=1).to(x.dtype), [r(3, 4)]),
    ("norm", lambda x: torch.norm(x) + x.norm(p=1, dim=1).sum() + torch.linalg.vector_norm(x, ord=3), [r(3, 4)]),
    ("logsumexp", lambda x: torch.logsumexp(x, dim=1) + x.logsumexp(0).sum(), [r(3, 4)]),
    ("cumulative", lambda x: torch.cumsum(x, 1) + x.cumprod(dim=1) + torch.logcumsumexp(x, 1), [r(3, 4)]),
    ("cummax", lambda x: torch.cummax(x, 1).values + torch.cummin(x, dim=0)[0], [r(3, 4)]),
    ("sort", lambda x: torch.sort(x, dim=1, descending=True).values + x.sort(0)[0], [r(3, 4)]),
    ("argsort", lambda x: x.gather(1, torch.argsort(x, dim=1)), [r(3, 4)]),
    ("topk", lambda x: torch.topk(x, 2, dim=1).values.sum() + x.topk(1, largest=False)[0].sum(), [r(3, 4)]),
    ("kthvalue-median", lambda x: torch.kthvalue(x, 2, 1).values + x.median(1).values + x.median(), [r(3, 5)]),
    ("any-all", lambda x: x * torch.any(x > 0, dim=1, keepdim=True) + x.all() + torch.count_nonzero(x > 0), [r(3, 4)]),
    # indexing
    ("getitem", lambda x: x[1:, ::2] + x[[0, 2], 1:3].sum() + x[x > 0].sum() + x[..., -1:].sum(), [r(3, 4)]),
    ("setitem", lambda x: _assigned(x), [r(3, 4)]),
    (
        "gather-scatter",
        lambda x: torch.gather(x, 1, IDX) + torch.zeros(2, 3, dtype=torch.float64).scatter(1, IDX, x),
        [r(2, 3)],
    ),
    ("scatter-add", lambda x, y: x.scatter_add(1, IDX, y), [r(2, 4), r(2, 3)]),
    ("scatter-reduce", lambda x, y: x.scatter_reduce(1, IDX, y, reduce="amax", include_self=True), [r(2, 4), r(2, 3)]),
    (
        "index-select-add",
        lambda x: (
            torch.index_select(x, 0, torch.tensor([2, 0, 2])) + x[:3].index_add(0, torch.tensor([0, 0, 1]), x[:3])
        ),
        [r(3, 4)],
    ),
    ("masked", lambda x: x.masked_fill(MASK, -1.0) + torch.masked_select(x, MASK).sum(), [r(2, 3)]),
    ("take", lambda x: torch.take(x, torch.tensor([0, 5, 5])) + torch.take_along_dim(x, IDX, dim=1).sum(), [r(2, 3)]),
    (
        "where-nonzero",
        lambda x: torch.where(x > 0, x, x * 0.1) + x[torch.nonzero(x > 0, as_tuple=True)].sum(),
        [r(3, 4)],
    ),
    # shape
    ("split-chunk", lambda x: torch.cat([*torch.split(x, [1, 3], dim=1)[::-1], *x.chunk(2, dim=1)], dim=1), [r(3, 4)]),
    ("unbind-stack", lambda x: torch.stack(torch.unbind(x, 1)[::-1], dim=0), [r(3, 4)]),
    ("flip-roll", lambda x: torch.flip(x, [0, 1]) + torch.roll(x, shifts=(1, -1), dims=(0, 1)) + x.flip(1), [r(3, 4)]),
    ("repeat-tile", lambda x: x.repeat(2, 1).sum(0) + torch.tile(x, (1, 2)).sum(1).sum(), [r(3, 4)]),
    ("repeat-interleave", lambda x: torch.repeat_interleave(x, 2, dim=0) + 0, [r(3, 4)]),
    ("narrow-movedim", lambda x: torch.narrow(x, 1, 1, 2).movedim(0, 1).swapaxes(0, 1), [r(3, 4, 2)]),
    ("triangles", lambda x: torch.tril(x) + torch.triu(x, diagonal=1) * 2, [r(4, 4)]),
    (
        "diagonals",
        lambda x: torch.diagonal(x, offset=1).sum() + torch.diag(x).sum() + torch.diag_embed(x[0]).sum(1),
        [r(4, 4)],
    ),
    (
        "views",
        lambda x: x.view(2, -1).reshape(-1, 6).unflatten(1, (2, 3)).flatten(0, 1).contiguous().clone(),
        [r(3, 4)],
    ),
    ("tensor-unfold", lambda x: x.unfold(1, 2, 1).sum(-1), [r(3, 5)]),
    ("squeeze-unsqueeze", lambda x: x.unsqueeze(0).unsqueeze(-1).squeeze(0).squeeze(-1).permute(1, 0).t(), [r(3, 4)]),
    (
        "pad-modes",
        lambda x: (
            F.pad(x, (1, 2), mode="reflect").sum()
            + F.pad(x, (1, 1), "replicate").sum()
            + F.pad(x, (2, 1), mode="circular")
        ),
        [r(1, 2, 5)],
    ),
    (
        "expand-broadcast",
        lambda x, y: x.expand(3, 4) + torch.broadcast_to(y, (3, 4)) + x.expand_as(y),
        [r(1, 4), r(3, 4)],
    ),
    # linear algebra
    ("mm-bmm", lambda a, b: torch.mm(a, b) + torch.bmm(a.unsqueeze(0), b.unsqueeze(0))[0], [r(3, 4), r(4, 2)]),
    (
        "dot-outer",
        lambda x, y: (
            torch.dot(x, y) + torch.outer(x, y).sum() + torch.vdot(x, y) + torch.mv(torch.outer(x, y), y).sum()
        ),
        [r(4), r(4)],
    ),
    (
        "einsum",
        lambda a, b: torch.einsum("bij,bjk->bik", a, b) + torch.einsum("bii->b", a @ b.transpose(1, 2)).sum(),
        [r(2, 3, 3), r(2, 3, 3)],
    ),
    (
        "einsum-general",
        lambda a, b: torch.einsum("i j , j k -> k i", a, b).sum() + torch.einsum("...j,...j", a, a).sum(),
        [r(3, 4), r(4, 2)],
    ),
    (
        "tensordot",
        lambda a, b: torch.tensordot(a, b, dims=([1], [0])) + torch.tensordot(a, b.T, dims=2),
        [r(3, 4), r(4, 3)],
    ),
    ("trace-kron", lambda a, b: torch.trace(a) + torch.kron(a, b).sum(), [r(3, 3), r(2, 2)]),
    ("inverse-det", lambda a: torch.inverse(a).sum() + torch.linalg.det(a) + torch.logdet(a), [spd(3)]),
    ("slogdet", lambda a: torch.linalg.slogdet(a).logabsdet + torch.slogdet(a)[1], [spd(3)]),
    ("solve", lambda a, b: torch.linalg.solve(a, b), [spd(3), r(3, 2)]),
    ("cholesky", lambda a: torch.linalg.cholesky(a) + torch.cholesky(a, upper=True).T, [spd(3)]),
    (
        "matmul-forms",
        lambda a, b: a @ b + torch.matmul(a, b) + a.matmul(b) + torch.linalg.inv(SPD3) @ (a @ b),
        [r(3, 4), r(4, 3)],
    ),
    # creation and conversion
    ("like", lambda x: x + torch.zeros_like(x) + torch.ones_like(x) * x + torch.full_like(x, 2.0), [r(3)]),
    (
        "casts",
        lambda x: x.double() + x.float().double() + x.to(torch.float64) + x.int().double() + x.long().to(x.dtype),
        [r(3) * 3],
    ),
    (
        "meshgrid",
        lambda x, y: sum(torch.meshgrid(x, y, indexing="ij")[0] * torch.meshgrid(x, y, indexing="xy")[1].T),
        [r(3), r(4)],
    ),
    ("new-tensors", lambda x: x + x.new_zeros(3) + x.new_ones((3,)) + x.new_full((3,), 0.5), [r(3)]),
    # torch.nn.functional
    ("linear", lambda x, w, b: F.linear(x, w, b) + F.linear(x, w), [r(2, 3), r(4, 3), r(4)]),
    (
        "activations",
        lambda x: F.relu(x) + F.relu6(x) + F.leaky_relu(x, 0.2) + F.elu(x) + F.selu(x) + F.celu(x),
        [r(8) * 3],
    ),
    ("gelu-silu", lambda x: F.gelu(x) + F.gelu(x, approximate="tanh") + F.silu(x) + F.mish(x), [r(8)]),
    ("hard-activations", lambda x: F.hardtanh(x) + F.hardsigmoid(x) + F.hardswish(x), [r(8) * 3]),
    ("soft-activations", lambda x: F.softplus(x, beta=2, threshold=5) + F.logsigmoid(x) + F.softsign(x), [r(8) * 4]),
    ("softmax-family", lambda x: F.softmax(x, dim=1) + F.log_softmax(x, -1) + F.softmin(x, dim=0), [r(3, 4)]),
    ("glu", lambda x: F.glu(x, dim=-1), [r(3, 4)]),
    (
        "normalize-distances",
        lambda x, y: (
            F.normalize(x, dim=1) + F.cosine_similarity(x, y).unsqueeze(1) + F.pairwise_distance(x, y).unsqueeze(1)
        ),
        [r(3, 4), r(3, 4)],
    ),
    ("conv1d", lambda x, w: F.conv1d(x, w, padding=1), [r(2, 3, 8), r(4, 3, 3)]),
    ("conv2d-groups", lambda x, w: F.conv2d(x, w, groups=2, stride=2, padding=1), [r(1, 4, 6, 6), r(6, 2, 3, 3)]),
    (
        "conv-transpose-groups",
        lambda x, w: F.conv_transpose2d(x, w, groups=2, stride=2),
        [r(1, 4, 3, 3), r(4, 3, 2, 2)],
    ),
    ("max-pool", lambda x: F.max_pool2d(x, 2) + F.max_pool2d(x, 3, stride=2, padding=1)[..., :2, :2], [r(1, 2, 4, 4)]),
    ("max-pool-indices", lambda x: F.max_pool2d(x, 2, return_indices=True)[0], [r(1, 2, 4, 4)]),
    (
        "avg-pool",
        lambda x: F.avg_pool2d(x, 2) + F.adaptive_avg_pool2d(x, (2, 2)) + F.adaptive_max_pool2d(x, 2),
        [r(1, 2, 4, 4)],
    ),
    (
        "interpolate",
        lambda x: (
            F.interpolate(x, scale_factor=2, mode="nearest").sum()
            + F.interpolate(x, size=(5, 5), mode="bilinear", align_corners=True)
        ),
        [r(1, 2, 3, 3)],
    ),
    ("pixel-shuffle", lambda x: F.pixel_shuffle(x, 2), [r(1, 8, 2, 3)]),
    ("embedding", lambda w: F.embedding(IDX, w, padding_idx=0), [r(4, 3)]),
    ("one-hot", lambda x: x * F.one_hot(torch.tensor([0, 2, 1]), 3).to(x.dtype), [r(3, 3)]),
    ("dropout-eval", lambda x: F.dropout(x, 0.5, training=False) + F.dropout(x, p=0.0), [r(3, 4)]),
    (
        "batch-norm",
        lambda x, w, b: F.batch_norm(
            x, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), w, b, training=True
        ),
        [r(4, 3, 2), r(3), r(3)],
    ),
    ("layer-norm", lambda x, w, b: F.layer_norm(x, (4,), w, b), [r(3, 4), r(4), r(4)]),
    ("group-instance-norm", lambda x: F.group_norm(x, 2) + F.instance_norm(x), [r(2, 4, 3)]),
    (
        "cross-entropy",
        lambda x: F.cross_entropy(x, LABELS) + F.cross_entropy(x, LABELS, label_smoothing=0.1, reduction="sum"),
        [r(4, 3)],
    ),
    ("cross-entropy-probs", lambda x, t: F.cross_entropy(x, F.softmax(t, 1)), [r(4, 3), r(4, 3)]),
    (
        "nll",
        lambda x: F.nll_loss(
            F.log_softmax(x, 1), LABELS, weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), ignore_index=0
        ),
        [r(4, 3)],
    ),
    (
        "bce",
        lambda x, t: (
            F.binary_cross_entropy(torch.sigmoid(x), torch.sigmoid(t))
            + F.binary_cross_entropy_with_logits(
                x, torch.sigmoid(t), pos_weight=torch.tensor([2.0], dtype=torch.float64)
            )
        ),
        [r(4), r(4)],
    ),
    (
        "regression-losses",
        lambda x, y: (
            F.l1_loss(x, y)
            + F.smooth_l1_loss(x, y, beta=0.5)
            + F.huber_loss(x, y, delta=0.7)
            + F.mse_loss(x, y, reduction="sum")
        ),
        [r(6), r(6)],
    ),
    ("kl-div", lambda x, y: F.kl_div(F.log_softmax(x, 1), F.softmax(y, 1), reduction="batchmean"), [r(3, 4), r(3, 4)]),
    (
        "attention",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [r(1, 2, 4, 3), r(1, 2, 4, 3), r(1, 2, 4, 3)],
    ),
    (
        "attention-mask",
        lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=torch.tril(torch.ones(4, 4, dtype=torch.bool))
        ),
        [r(1, 4, 3), r(1, 4, 3), r(1, 4, 3)],
    ),
]


def _assigned(x):
    y = x * 1.0
    y[0, 1:3] = x[1, :2] * 2
    y[y > 1.5] = 0.0
    return y


def _as_pair(inputs):
    torch_inputs = [x.clone().requires_grad_() for x in inputs]
    engine_inputs = [ag.Variable(x.clone(), requires_grad=True) for x in inputs]
    return torch_inputs, engine_inputs


def _values(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.data if isinstance(o, ag.Variable) else o for o in outs]


@pytest.mark.parametrize("name,program,inputs", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_torch_style_program_matches_torch(name, program, inputs):
    torch_inputs, engine_inputs = _as_pair(inputs)
    out_t, out_e = program(*torch_inputs), program(*engine_inputs)
    expected, got = _values(out_t), _values(out_e)
    assert len(expected) == len(got)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b.detach(), rtol=1e-10, atol=1e-12)
    weights = [torch.randn(e.shape, dtype=e.dtype, generator=torch.Generator().manual_seed(1)) for e in expected]
    loss_t = sum((o * w).sum() for o, w in zip(out_t if isinstance(out_t, (tuple, list)) else [out_t], weights))
    loss_e = sum((o * w).sum() for o, w in zip(out_e if isinstance(out_e, (tuple, list)) else [out_e], weights))
    grads_t = torch.autograd.grad(loss_t, torch_inputs, allow_unused=True)
    grads_e = ag.gradients(loss_e, engine_inputs)
    for a, b, x in zip(grads_e, grads_t, inputs):
        torch.testing.assert_close(
            a.data if isinstance(a, ag.Variable) else a, torch.zeros_like(x) if b is None else b, rtol=1e-9, atol=1e-11
        )


def test_a_training_step_written_for_torch_updates_leaves_in_place():
    """`with torch.no_grad(): w -= lr * w.grad` then `w.grad.zero_()`: the step every torch tutorial has."""
    w_t = torch.randn(3, dtype=torch.float64, requires_grad=True)
    w_e = ag.Variable(w_t.detach().clone(), requires_grad=True)
    for w in (w_t, w_e):
        for _ in range(3):
            (w * w).sum().backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
            w.grad.zero_()
    assert w_e.is_leaf and w_e.requires_grad
    torch.testing.assert_close(w_e.data, w_t.detach())
    torch.testing.assert_close(w_e.grad.data, w_t.grad)


def test_torch_grad_mode_switches_stop_recording_as_for_tensors():
    x = ag.Variable(r(3), requires_grad=True)
    with torch.no_grad():
        assert not (x * 2).requires_grad and not torch.exp(x).requires_grad
    with torch.set_grad_enabled(False):
        assert not (x + 1).requires_grad
    assert (x * 2).requires_grad and ag.Variable(r(2)).requires_grad_().requires_grad


def test_augmented_assignment_is_in_place_as_in_torch():
    def program(x):
        y = x * 2
        alias = y
        y += 1
        y *= x
        y -= 0.5
        y /= 3.0
        return alias

    x_t = r(4).requires_grad_()
    x_e = ag.Variable(x_t.detach().clone(), requires_grad=True)
    out_t, out_e = program(x_t), program(x_e)
    torch.testing.assert_close(out_e.data, out_t.detach())
    out_t.sum().backward()
    out_e.sum().backward()
    torch.testing.assert_close(x_e.grad.data, x_t.grad)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x_e += 1


def test_a_shape_error_has_torchs_exception_type():
    with pytest.raises(RuntimeError):
        F.linear(ag.Variable(r(4, 3)), ag.Variable(r(2, 5)))
