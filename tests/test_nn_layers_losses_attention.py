"""Losses, dropout, Embedding/EmbeddingBag and MultiheadAttention as modules, against their torch.nn twins
built from the same seed or state dict: initial state, values and gradients (float64), dropout masks,
reprs and errors."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import autograd_engine as ag
from nn.layers import (
    MSE,
    AlphaDropout,
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    Embedding,
    EmbeddingBag,
    FeatureAlphaDropout,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiheadAttention,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
    TripletMarginWithDistanceLoss,
)

from .oracles import assert_no_torch_graph

TOL = dict(rtol=1e-10, atol=1e-12)
LAYERS = {
    cls.__name__: cls
    for cls in (
        AlphaDropout,
        BCELoss,
        BCEWithLogitsLoss,
        CosineEmbeddingLoss,
        CrossEntropyLoss,
        Dropout,
        Dropout1d,
        Dropout2d,
        Dropout3d,
        FeatureAlphaDropout,
        GaussianNLLLoss,
        HingeEmbeddingLoss,
        HuberLoss,
        KLDivLoss,
        L1Loss,
        MarginRankingLoss,
        MultiLabelMarginLoss,
        MultiLabelSoftMarginLoss,
        MultiMarginLoss,
        NLLLoss,
        PoissonNLLLoss,
        SmoothL1Loss,
        SoftMarginLoss,
        TripletMarginLoss,
        TripletMarginWithDistanceLoss,
    )
}
LAYERS["MSELoss"] = MSELoss


def seeded(module, rng_seed):
    """`module` called after torch.manual_seed(rng_seed) (as it is, for None)."""
    if rng_seed is None:
        return module

    def call(*args, **kwargs):
        torch.manual_seed(rng_seed)
        return module(*args, **kwargs)

    return call


def run_both(ours, theirs, args, differentiable, seed=1, rng_seed=None, exact=False, **kwargs):
    """Call both modules on copies of `args` (the `differentiable` ones as leaves; one leaf for a tensor
    passed twice) and `kwargs`, each call after torch.manual_seed(rng_seed) if given; compare every
    output and, for a random cotangent of each, the gradients of those inputs and of all parameters:
    within TOL, or bit for bit when `exact`."""
    leaves_t, leaves_e = {}, {}
    for a, d in zip(args, differentiable):
        if isinstance(a, torch.Tensor) and id(a) not in leaves_t:
            leaves_t[id(a)] = a.clone().requires_grad_(d)
            leaves_e[id(a)] = ag.Variable(a.clone(), requires_grad=d)
    xt = [leaves_t.get(id(a), a) for a in args]
    xe = [leaves_e.get(id(a), a) for a in args]
    out_t, out_e = seeded(theirs, rng_seed)(*xt, **kwargs), seeded(ours, rng_seed)(*xe, **kwargs)
    outs_t, outs_e = (out_t, out_e) if isinstance(out_t, tuple) else ((out_t,), (out_e,))
    same = assert_same_bits if exact else assert_close
    gen = torch.Generator().manual_seed(seed)
    total_t, total_e = 0, 0
    for t, e in zip(outs_t, outs_e):
        if t is None:
            assert e is None
            continue
        same(e.data, t.detach(), "output")
        v = torch.randn(t.shape, dtype=t.dtype, generator=gen)
        total_t, total_e = total_t + (t * v).nansum(), total_e + ag.sum(ops_nan_to_zero(e) * v)
    total_t.backward()
    total_e.backward()
    for key, b in leaves_t.items():
        if b.requires_grad:
            same(leaves_e[key].grad.data, b.grad, "input gradient")
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert name == tname
        same(p.grad.data, tp.grad, f"{name}.grad")
    assert_no_torch_graph(*outs_e)
    return outs_t, outs_e


def assert_close(ours, theirs, what):
    torch.testing.assert_close(ours, theirs, **TOL, equal_nan=True, msg=lambda m: f"{what}: {m}")


def assert_same_bits(ours, theirs, what):
    """Equal dtype, shape and values (torch.equal), NaN where torch has NaN."""
    nan = torch.isnan(theirs)
    assert ours.dtype == theirs.dtype and torch.equal(torch.isnan(ours), nan), what
    assert torch.equal(ours.masked_fill(nan, 0), theirs.masked_fill(nan, 0)), f"{what}: not torch's bits"


def ops_nan_to_zero(x):
    """x with NaNs as zeros (torch's fully masked attention rows), so a sum of it has a gradient."""
    return ag.where(torch.isnan(x.data), 0.0, x)


def assert_same_state(ours, theirs):
    """Same keys in the same order and bitwise equal tensors; each loads into the other."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not ours.load_state_dict(b).missing_keys
    assert not theirs.load_state_dict(a).missing_keys


# --- losses --------------------------------------------------------------------------------------
def _classes(*shape, classes=4, seed=0):
    return torch.randint(0, classes, shape, generator=torch.Generator().manual_seed(seed))


def _r(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _probs(*shape, seed=0):
    return torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 0.98 + 0.01


def _signs(*shape, seed=0):
    return _r(*shape, seed=seed).sign()


WEIGHT = torch.tensor([0.5, 2.0, 1.0, 0.25], dtype=torch.float64)
# (layer, constructor kwargs, args, which args are differentiable)
LOSS_CASES = [
    ("L1Loss", {}, (_r(3, 5), _r(3, 5, seed=1)), (True, True)),
    ("MSELoss", {}, (_r(3, 5), _r(3, 5, seed=1)), (True, True)),
    ("SmoothL1Loss", {"beta": 0.5}, (_r(3, 5), _r(3, 5, seed=1)), (True, True)),
    ("HuberLoss", {"delta": 0.7}, (_r(3, 5), _r(3, 5, seed=1)), (True, True)),
    ("SoftMarginLoss", {}, (_r(3, 5), _signs(3, 5, seed=1)), (True, False)),
    ("NLLLoss", {}, (_r(6, 4).log_softmax(1), _classes(6)), (True, False)),
    ("NLLLoss", {"weight": WEIGHT, "ignore_index": 1}, (_r(6, 4, 3).log_softmax(1), _classes(6, 3)), (True, False)),
    ("CrossEntropyLoss", {}, (_r(6, 4), _classes(6)), (True, False)),
    ("CrossEntropyLoss", {"weight": WEIGHT}, (_r(6, 4), _classes(6)), (True, False)),
    ("CrossEntropyLoss", {"ignore_index": 2, "label_smoothing": 0.2}, (_r(6, 4, 3), _classes(6, 3)), (True, False)),
    (
        "CrossEntropyLoss",
        {"weight": WEIGHT, "ignore_index": 0, "label_smoothing": 0.1},
        (_r(6, 4), _classes(6)),
        (True, False),
    ),
    (
        "CrossEntropyLoss",
        {"weight": WEIGHT, "label_smoothing": 0.3},
        (_r(6, 4), _r(6, 4, seed=2).softmax(1)),
        (True, True),
    ),
    ("BCELoss", {}, (_probs(3, 4), _probs(3, 4, seed=1)), (True, True)),
    ("BCELoss", {"weight": _probs(3, 4, seed=2)}, (_probs(3, 4), _probs(3, 4, seed=1)), (True, True)),
    ("BCEWithLogitsLoss", {}, (_r(3, 4), _probs(3, 4, seed=1)), (True, True)),
    (
        "BCEWithLogitsLoss",
        {"weight": _probs(3, 4, seed=2), "pos_weight": WEIGHT},
        (_r(3, 4), _probs(3, 4, seed=1)),
        (True, True),
    ),
    ("BCEWithLogitsLoss", {"pos_weight": WEIGHT}, (_r(3, 4), _probs(3, 4, seed=1)), (True, True)),
    ("KLDivLoss", {}, (_r(3, 4).log_softmax(1), _r(3, 4, seed=1).softmax(1)), (True, True)),
    ("KLDivLoss", {"log_target": True}, (_r(3, 4).log_softmax(1), _r(3, 4, seed=1).log_softmax(1)), (True, True)),
    ("MultiLabelSoftMarginLoss", {"weight": WEIGHT}, (_r(3, 4), _probs(3, 4, seed=1).round()), (True, False)),
    (
        "MultiLabelMarginLoss",
        {},
        (_r(3, 4), torch.tensor([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 2]])),
        (True, False),
    ),
    ("MultiMarginLoss", {"p": 2, "margin": 0.7, "weight": WEIGHT}, (_r(5, 4), _classes(5)), (True, False)),
    ("HingeEmbeddingLoss", {"margin": 0.5}, (_r(3, 4), _signs(3, 4, seed=1)), (True, False)),
    ("CosineEmbeddingLoss", {"margin": 0.2}, (_r(5, 3), _r(5, 3, seed=1), _signs(5, seed=2)), (True, True, False)),
    ("MarginRankingLoss", {"margin": 0.3}, (_r(5), _r(5, seed=1), _signs(5, seed=2)), (True, True, False)),
    (
        "TripletMarginLoss",
        {"margin": 0.5, "p": 1.0, "swap": True},
        (_r(5, 3), _r(5, 3, seed=1), _r(5, 3, seed=2)),
        (True,) * 3,
    ),
    ("TripletMarginWithDistanceLoss", {"margin": 2.0}, (_r(5, 3), _r(5, 3, seed=1), _r(5, 3, seed=2)), (True,) * 3),
    ("GaussianNLLLoss", {"full": True}, (_r(4, 3), _r(4, 3, seed=1), _probs(4, 3, seed=2)), (True, True, True)),
    ("PoissonNLLLoss", {"full": True}, (_r(4, 3), _probs(4, 3, seed=1) * 5), (True, False)),
    ("PoissonNLLLoss", {"log_input": False}, (_probs(4, 3) * 3, _probs(4, 3, seed=1) * 5), (True, False)),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "name,kwargs,args,differentiable", LOSS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSS_CASES)]
)
def test_losses_match_torch(name, kwargs, args, differentiable, reduction):
    theirs = getattr(torch.nn, name)(**kwargs, reduction=reduction)
    ours = LAYERS[name](**kwargs, reduction=reduction)
    assert ours.reduction == theirs.reduction == reduction
    assert_same_state(ours, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss's 'mean': torch's warning on both sides
        run_both(ours, theirs, args, differentiable)


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_batchmean_matches_torch(log_target):
    target = _r(3, 4, seed=1).log_softmax(1)
    target = target if log_target else target.exp()
    args = (_r(3, 4).log_softmax(1), target)
    theirs = torch.nn.KLDivLoss(reduction="batchmean", log_target=log_target)
    ours = KLDivLoss(reduction="batchmean", log_target=log_target)
    assert ours.reduction == "batchmean" and ours.log_target == log_target
    run_both(ours, theirs, args, (True, True))


@pytest.mark.parametrize(
    "name,kwargs",
    [("CrossEntropyLoss", {"weight": WEIGHT}), ("BCEWithLogitsLoss", {"pos_weight": WEIGHT}), ("NLLLoss", {})],
)
def test_loss_weights_are_buffers_as_in_torch(name, kwargs):
    ours, theirs = LAYERS[name](**kwargs), getattr(torch.nn, name)(**kwargs)
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert not list(ours.parameters())
    assert_same_state(ours, theirs)
    ours.double()
    if kwargs:
        assert next(iter(ours.state_dict().values())).dtype == torch.float64
    assert repr(ours) == repr(theirs)


def test_the_course_mse_takes_the_reduction_first_and_mseloss_is_torchs():
    a, b = _r(3, 4), _r(3, 4, seed=1)
    assert isinstance(MSE(), MSELoss) and repr(MSELoss()) == repr(torch.nn.MSELoss()) == "MSELoss()"
    torch.testing.assert_close(MSE("sum")(a, b), torch.nn.MSELoss(reduction="sum")(a, b), **TOL)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        theirs = torch.nn.MSELoss("sum")  # torch: a string in size_average's place is true: the mean
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        ours = MSELoss("sum")
    assert ours.reduction == theirs.reduction == "mean"


@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True), (False, True)])
def test_deprecated_size_average_and_reduce_map_as_in_torch(size_average, reduce):
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        theirs = torch.nn.NLLLoss(size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        ours = NLLLoss(size_average=size_average, reduce=reduce)
    assert ours.reduction == theirs.reduction
    run_both(ours, theirs, (_r(6, 4).log_softmax(1), _classes(6)), (True, False))


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: L1Loss(reduction="avg"), ValueError, "L1Loss: avg is not a valid value for reduction"),
        (lambda: KLDivLoss(reduction="batchsum"), ValueError, "KLDivLoss: batchsum is not a valid value"),
        (lambda: HuberLoss(delta="1"), TypeError, "delta must be a float or int"),
        (lambda: MultiMarginLoss(p=3), ValueError, "only p == 1 and p == 2 supported"),
        (
            lambda: MultiMarginLoss(weight=torch.ones(2, 2)),
            ValueError,
            "expected weight to be None or 1D tensor, got 2D",
        ),
        (lambda: TripletMarginLoss(margin=0.0), ValueError, "TripletMarginLoss: expected margin to be greater than 0"),
        (lambda: TripletMarginWithDistanceLoss(margin=-1), ValueError, "expected margin to be greater than 0, got -1"),
    ],
)
def test_losses_refuse_bad_arguments_as_torch(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_loss_forward_errors_name_the_layer_and_shapes():
    with pytest.raises(
        ValueError, match=r"CrossEntropyLoss.*Expected input batch_size \(3\) to match target batch_size \(2\)"
    ):
        CrossEntropyLoss()(ag.Variable(_r(3, 4)), _classes(2))
    with pytest.raises(
        RuntimeError, match="CrossEntropyLoss.*weight tensor should be defined either for all 5 classes"
    ):
        CrossEntropyLoss(weight=WEIGHT)(ag.Variable(_r(3, 5)), _classes(3))


def test_triplet_with_distance_takes_a_custom_distance():
    def distance(x, y):
        return 1.0 - torch.nn.functional.cosine_similarity(x, y)

    args = (_r(5, 3), _r(5, 3, seed=1), _r(5, 3, seed=2))
    theirs = torch.nn.TripletMarginWithDistanceLoss(distance_function=distance, swap=True)
    run_both(TripletMarginWithDistanceLoss(distance_function=distance, swap=True), theirs, args, (True,) * 3)


# --- dropout -------------------------------------------------------------------------------------
DROPOUT_CASES = [
    ("Dropout", (4, 6, 5)),
    ("Dropout1d", (4, 6, 5)),
    ("Dropout1d", (6, 5)),
    ("Dropout2d", (3, 6, 4, 5)),
    ("Dropout3d", (2, 3, 4, 2, 5)),
    ("Dropout3d", (3, 4, 2, 5)),
    ("AlphaDropout", (4, 6, 5)),
    ("FeatureAlphaDropout", (3, 6, 4, 5)),
]


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
@pytest.mark.parametrize("name,shape", DROPOUT_CASES)
def test_dropout_masks_equal_torch_with_the_same_seed(name, shape, p):
    ours, theirs = LAYERS[name](p), getattr(torch.nn, name)(p)
    assert repr(ours) == repr(theirs)
    x = _r(*shape)
    outs_t, outs_e = run_both(ours, theirs, (x,), (True,), rng_seed=7)
    assert torch.equal(outs_e[0].data, outs_t[0].detach())  # bit for bit


@pytest.mark.parametrize("name,shape", DROPOUT_CASES)
def test_dropout_is_the_identity_in_eval_mode(name, shape):
    layer = LAYERS[name](0.5).eval()
    x = ag.Variable(_r(*shape), requires_grad=True)
    state = torch.get_rng_state()
    out = layer(x)
    assert torch.equal(out.data, x.data) and torch.equal(torch.get_rng_state(), state)
    assert layer.train().training and not torch.equal(layer(x).data, x.data)


def test_dropout_inplace_writes_into_the_input_as_torch():
    x = _r(4, 5)
    xt, xe = x.clone(), ag.Variable(x.clone())
    torch.manual_seed(3)
    torch.nn.Dropout(0.4, inplace=True)(xt)
    torch.manual_seed(3)
    Dropout(0.4, inplace=True)(xe)
    assert torch.equal(xe.data, xt)
    assert repr(Dropout(0.4, inplace=True)) == "Dropout(p=0.4, inplace=True)"


@pytest.mark.parametrize("name", sorted({c[0] for c in DROPOUT_CASES}))
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_refuses_a_probability_outside_0_1(name, p):
    with pytest.raises(ValueError, match=f"{name}: dropout probability has to be between 0 and 1, but got {p}"):
        LAYERS[name](p)


# --- Embedding -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"padding_idx": 2}, {"padding_idx": -1, "scale_grad_by_freq": True}, {"max_norm": 1.5, "norm_type": 1.0}],
)
def test_embedding_matches_torch(kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(7, 3, **kwargs)
    torch.manual_seed(0)
    ours = Embedding(7, 3, **kwargs)
    assert_same_state(ours, theirs)
    assert repr(ours) == repr(theirs) and ours.padding_idx == theirs.padding_idx
    theirs.double(), ours.double()
    indices = torch.tensor([[0, 2, 6, 2], [5, 6, 1, 0]])
    run_both(ours, theirs, (indices,), (False,))
    assert torch.equal(ours.weight.data, theirs.weight.detach())  # max_norm renormalises both in place


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_from_pretrained_uses_the_tensor_as_torch(freeze):
    table = _r(5, 3)
    ours = Embedding.from_pretrained(table, freeze=freeze, padding_idx=1)
    theirs = torch.nn.Embedding.from_pretrained(table, freeze=freeze, padding_idx=1)
    assert ours.weight.requires_grad == theirs.weight.requires_grad == (not freeze)
    assert ours.weight.data.data_ptr() == table.data_ptr()  # not copied, padding row not zeroed
    assert repr(ours) == repr(theirs)
    out = ours(torch.tensor([1, 4]))
    assert torch.equal(out.data, table[[1, 4]])


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: Embedding(4, 2, padding_idx=4), AssertionError, "Padding_idx must be within num_embeddings"),
        (lambda: Embedding(4, 2, padding_idx=-5), AssertionError, "Padding_idx must be within num_embeddings"),
        (lambda: Embedding(4, 2, _weight=torch.ones(3, 2)), AssertionError, "Shape of weight does not match"),
        (lambda: Embedding.from_pretrained(torch.ones(3)), AssertionError, "expected to be 2-dimensional"),
        (lambda: Embedding(4, 2, sparse=True), NotImplementedError, "Embedding: sparse=True .* dense"),
        (lambda: EmbeddingBag(4, 2, sparse=True), NotImplementedError, "EmbeddingBag: sparse=True"),
        (lambda: EmbeddingBag(4, 2, padding_idx=9), AssertionError, "padding_idx must be within num_embeddings"),
    ],
)
def test_embedding_refuses_bad_arguments_as_torch(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(mode):
    torch.manual_seed(0)
    theirs = torch.nn.EmbeddingBag(6, 3, mode=mode, padding_idx=0)
    torch.manual_seed(0)
    ours = EmbeddingBag(6, 3, mode=mode, padding_idx=0)
    assert_same_state(ours, theirs)
    assert repr(ours) == repr(theirs)
    theirs.double(), ours.double()
    indices, offsets = torch.tensor([1, 0, 4, 5, 2, 2, 3]), torch.tensor([0, 3, 3])
    run_both(ours, theirs, (indices, offsets), (False, False))
    if mode == "sum":
        run_both(ours, theirs, (indices, offsets, _probs(7)), (False, False, True))
    frozen = EmbeddingBag.from_pretrained(_r(6, 3), mode=mode)
    assert not frozen.weight.requires_grad and repr(frozen) == repr(
        torch.nn.EmbeddingBag.from_pretrained(_r(6, 3), mode=mode)
    )


# --- MultiheadAttention --------------------------------------------------------------------------
# Every comparison below is bit for bit: the layer runs torch's multi_head_attention_forward step for step.
MHA_CONFIGS = [
    {},
    {"bias": False},
    {"add_bias_kv": True, "add_zero_attn": True},
    {"kdim": 5, "vdim": 3},
    {"kdim": 5, "vdim": 3, "add_bias_kv": True, "bias": False},
]
DTYPES = [torch.float32, torch.float64]


def _twins(config, batch_first=False, dropout=0.0, dtype=torch.float64, embed_dim=8, heads=2):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(embed_dim, heads, dropout=dropout, batch_first=batch_first, **config)
    torch.manual_seed(0)
    ours = MultiheadAttention(embed_dim, heads, dropout=dropout, batch_first=batch_first, **config)
    return ours.to(dtype), theirs.to(dtype)


@pytest.mark.parametrize("config", MHA_CONFIGS)
def test_multihead_attention_starts_as_torch(config):
    ours, theirs = _twins(config, dtype=torch.float32)
    assert_same_state(ours, theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    for name in ("in_proj_weight", "q_proj_weight", "in_proj_bias", "bias_k"):
        assert (getattr(ours, name) is None) == (getattr(theirs, name) is None)
    assert (ours.head_dim, ours._qkv_same_embed_dim) == (theirs.head_dim, theirs._qkv_same_embed_dim)


def _mha_inputs(config, layout, sharing, dtype=torch.float64, n=3, length=4, source=5, embed_dim=8):
    """query, key, value in `layout` ('seq': (L, N, E), 'batch': (N, L, E), 'unbatched': (L, E)) and
    `sharing` ('self': one tensor for all three, 'kv': key is value, 'cross': three tensors)."""

    def make(size, features, seed):
        shape = {"seq": (size, n), "batch": (n, size), "unbatched": (size,)}[layout]
        return _r(*shape, features, seed=seed).to(dtype)

    query = make(length, embed_dim, 0)
    if sharing == "self":
        return query, query, query
    key = make(source, config.get("kdim", embed_dim), 1)
    return query, key, key if sharing == "kv" else make(source, config.get("vdim", embed_dim), 2)


def _run_mha(ours, theirs, query, key, value, rng_seed=None, **kwargs):
    """Both modules on the same inputs (one leaf per distinct tensor): outputs, weights and gradients bit
    for bit."""
    return run_both(ours, theirs, (query, key, value), (True,) * 3, rng_seed=rng_seed, exact=True, **kwargs)


CALLS = [  # (need_weights, average_attn_weights, training): training draws dropout masks from the seed
    (True, False, True),  # (averaged weights in eval: the mask tests)
    (False, True, True),
    (False, True, False),
]
INPUTS = [(c, s) for c in MHA_CONFIGS for s in ("self", "kv", "cross") if s == "cross" or "kdim" not in c]


@pytest.mark.parametrize("need_weights,average,training", CALLS)
@pytest.mark.parametrize("layout", ["seq", "batch", "unbatched"])
@pytest.mark.parametrize("config,sharing", INPUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_is_torch_to_the_bit(dtype, config, sharing, layout, need_weights, average, training):
    ours, theirs = _twins(config, layout == "batch", dropout=0.25, dtype=dtype)
    ours.train(training), theirs.train(training)
    qkv = _mha_inputs(config, layout, sharing, dtype)
    _run_mha(ours, theirs, *qkv, rng_seed=3, need_weights=need_weights, average_attn_weights=average)


def _bool(*shape, seed):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < 0.3


KEY_PADDING = torch.tensor([[False, True, False, False, True], [True] * 5, [False] * 4 + [True]])  # row 1: all masked
MASKS = [
    {"attn_mask": _bool(4, 5, seed=0)},
    {"attn_mask": _r(6, 4, 5)},
    {"key_padding_mask": KEY_PADDING},
    {"key_padding_mask": KEY_PADDING, "attn_mask": _bool(6, 4, 5, seed=1)},
    {"key_padding_mask": _r(3, 5), "attn_mask": _r(4, 5, seed=1)},
    {"key_padding_mask": KEY_PADDING, "attn_mask": _r(4, 5)},  # mixed: torch's deprecation warning
]


def _as(masks, dtype):
    return {k: m.to(dtype) if m.is_floating_point() else m for k, m in masks.items()}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", MASKS)
@pytest.mark.parametrize("layout,config", [("seq", {}), ("batch", {"add_bias_kv": True, "add_zero_attn": True})])
@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_masks_are_torch_to_the_bit(dtype, layout, config, masks, need_weights):
    ours, theirs = _twins(config, layout == "batch", dtype=dtype)
    qkv = _mha_inputs(config, layout, "cross", dtype)
    mixed = len({m.dtype for m in masks.values()}) > 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run_mha(ours, theirs, *qkv, need_weights=need_weights, **_as(masks, dtype))
    assert mixed == any("mismatched key_padding_mask and attn_mask" in str(w.message) for w in caught)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize(
    "masks",
    [
        {"attn_mask": _r(2, 4, 5)},  # (heads, L, S) for an unbatched query
        {"key_padding_mask": torch.tensor([False, False, True, False, True])},
        {"key_padding_mask": _r(5), "attn_mask": _bool(4, 5, seed=2)},
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_unbatched_masks_are_torch_to_the_bit(dtype, masks, need_weights):
    ours, theirs = _twins({}, dtype=dtype)
    qkv = _mha_inputs({}, "unbatched", "cross", dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the mixed mask types' deprecation)
        _run_mha(ours, theirs, *qkv, need_weights=need_weights, **_as(masks, dtype))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("key_padding", [False, True])
@pytest.mark.parametrize("layout", ["batch", "unbatched"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_causal_hint_as_torch(dtype, layout, key_padding, need_weights):
    """is_causal takes the attn_mask given (torch ignores it only without weights and key padding)."""
    ours, theirs = _twins({}, batch_first=True, dtype=dtype)
    query, _, _ = _mha_inputs({}, layout, "self", dtype)
    masks = {"attn_mask": torch.ones(4, 4, dtype=torch.bool).triu(1), "is_causal": True}
    if key_padding:
        masks["key_padding_mask"] = torch.tensor([[False, False, True, False]] * (3 if layout == "batch" else 1))
        masks["key_padding_mask"] = masks["key_padding_mask"] if layout == "batch" else masks["key_padding_mask"][0]
    _run_mha(ours, theirs, query, query, query, need_weights=need_weights, **masks)


@pytest.mark.parametrize("mask", ["bool", "float"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("layout", ["seq", "batch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_multihead_attention_of_larger_sizes_is_torch_to_the_bit(dtype, layout, need_weights, mask):
    """Sizes where torch's products run its blocked BLAS kernels rather than its small-product loops; a float
    attn_mask is added to the scores inside baddbmm's kernel (with need_weights=True), in the engine too."""
    ours, theirs = _twins({}, layout == "batch", dropout=0.1, dtype=dtype, embed_dim=32, heads=4)
    qkv = _mha_inputs({}, layout, "cross", dtype, n=2, length=16, source=24, embed_dim=32)
    masks = {"attn_mask": _bool(16, 24, seed=3), "key_padding_mask": _bool(2, 24, seed=4)}
    if mask == "float":
        masks = {"attn_mask": _r(16, 24).to(dtype), "key_padding_mask": _r(2, 24, seed=1).to(dtype)}
    _run_mha(ours, theirs, *qkv, rng_seed=5, need_weights=need_weights, **masks)


def test_multihead_attention_dropout_is_only_active_in_training():
    ours, theirs = _twins({}, dropout=0.4)
    qkv = _mha_inputs({}, "seq", "cross")
    outs_t, outs_e = _run_mha(ours, theirs, *qkv, rng_seed=11)
    ours.eval(), theirs.eval()
    plain_t, _ = _run_mha(ours, theirs, *qkv)
    assert not torch.equal(plain_t[0], outs_t[0]) and not torch.equal(plain_t[1], outs_t[1])


def test_multihead_attention_state_dict_loads_both_ways():
    torch.manual_seed(1)
    theirs = torch.nn.MultiheadAttention(8, 4, add_bias_kv=True, kdim=6)
    torch.manual_seed(2)
    ours = MultiheadAttention(8, 4, add_bias_kv=True, kdim=6)
    assert not torch.equal(ours.q_proj_weight.data, theirs.q_proj_weight.detach())
    assert repr(ours.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    assert_same_state(ours, theirs)
    torch.manual_seed(3)
    other = torch.nn.MultiheadAttention(8, 4, add_bias_kv=True, kdim=6)
    other.load_state_dict(ours.state_dict())
    assert_same_state(ours, other)
    _run_mha(ours, theirs, *_mha_inputs({"kdim": 6}, "seq", "cross", torch.float32))


def _mha_call(module=None, query=None, key=None, value=None, **kwargs):
    """A call of `module` (default MultiheadAttention(8, 2)) on (4, 3, 8) inputs, some replaced."""

    def call():
        q = torch.randn(4, 3, 8) if query is None else query
        k = q if key is None else key
        return (module or MultiheadAttention(8, 2))(q, k, k if value is None else value, **kwargs)

    return call


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: MultiheadAttention(6, 4), AssertionError, "embed_dim must be divisible by num_heads"),
        (lambda: MultiheadAttention(0, 2), ValueError, "embed_dim and num_heads must be greater than 0"),
        (_mha_call(query=torch.randn(2, 3, 4, 8)), AssertionError, "query should be unbatched 2D or batched 3D"),
        (_mha_call(key=torch.randn(5, 8)), AssertionError, "expected `key` and `value` to be 3-D but found 2-D"),
        (_mha_call(query=torch.randn(4, 3, 6)), AssertionError, "was expecting embedding dimension of 8, but got 6"),
        (_mha_call(value=torch.randn(5, 3, 8), key=torch.randn(4, 3, 8)), AssertionError, "does not match value"),
        (
            _mha_call(attn_mask=torch.zeros(4, 5)),
            RuntimeError,
            r"2D attn_mask is torch.Size\(\[4, 5\]\), but should be \(4, 4\)",
        ),
        (_mha_call(attn_mask=torch.zeros(3, 4, 4)), RuntimeError, r"3D attn_mask .* should be \(6, 4, 4\)"),
        (
            _mha_call(attn_mask=torch.zeros(4, 4, dtype=torch.int64)),
            AssertionError,
            "only bool and floating types of attn_mask",
        ),
        (
            _mha_call(key_padding_mask=torch.zeros(3, 5, dtype=torch.bool)),
            AssertionError,
            r"key_padded_mask.shape\[1\] to be 4",
        ),
        (
            _mha_call(key_padding_mask=torch.zeros(3, dtype=torch.bool)),
            AssertionError,
            "`key_padding_mask` to be `None` or 2-D",
        ),
        (_mha_call(is_causal=True), RuntimeError, "Need attn_mask if specifying the is_causal hint"),
        (
            _mha_call(MultiheadAttention(8, 2, kdim=5), key=torch.randn(4, 3, 6)),
            AssertionError,
            "expected key of feature size 5",
        ),
        (_mha_call(key=torch.randn(4, 2, 8)), RuntimeError, "query and key must have the same batch size"),
    ],
)
def test_multihead_attention_refuses_bad_input_as_torch(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_multihead_attention_without_autograd_is_torch_to_the_bit(training, need_weights):
    """Plain float32 tensors (the module's defaults) under torch.no_grad: torch's forward, bit for bit, where
    torch's module runs it (in training; in eval, once its inference fast path is off)."""
    ours, theirs = _twins({}, batch_first=True, dtype=torch.float32)
    ours.train(training), theirs.train(training)
    x, mask = torch.randn(2, 5, 8), torch.ones(5, 5, dtype=torch.bool).triu(1)
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            expected = theirs(x, x, x, attn_mask=mask, need_weights=need_weights)
            out = ours(x, x, x, attn_mask=mask, need_weights=need_weights)
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)
    assert_same_bits(out[0].data, expected[0], "output")
    assert (out[1] is None) == (expected[1] is None)
    if need_weights:
        assert_same_bits(out[1].data, expected[1], "weights")


def test_multihead_attention_near_torchs_inference_fast_path():
    """torch's module in eval mode without autograd runs batch-first self-attention through its fused
    inference kernel (torch._native_multi_head_attention), which rounds otherwise than its forward: there
    ours, that forward, is torch's within float rounding."""
    ours, theirs = _twins({}, batch_first=True, dtype=torch.float32)
    ours.eval(), theirs.eval()
    x, mask = torch.randn(2, 5, 8), torch.ones(5, 5, dtype=torch.bool).triu(1)
    with torch.no_grad():
        expected, weights = theirs(x, x, x, attn_mask=mask)
        out, ours_weights = ours(x, x, x, attn_mask=mask)
    torch.testing.assert_close(out.data, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours_weights.data, weights, rtol=1e-5, atol=1e-6)
    assert math.isclose(float(ours_weights.data.sum()), 2 * 5, rel_tol=1e-5)
