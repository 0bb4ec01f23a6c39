"""TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder, TransformerDecoder and Transformer
against their torch.nn twins built from the same seed: initial state dicts bit for bit, state dicts both ways,
float64 outputs and every gradient (input and parameters) bit for bit in train mode (dropout 0 and, seeded,
dropout > 0) and eval mode, masks of every kind, torch's inference fast path (values), reprs and errors."""

from __future__ import annotations

import warnings

import pytest
import torch

import autograd_engine as ag
import nn

from .test_nn_layers_losses_attention import assert_same_state, run_both

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")

D, HEADS, FF = 8, 2, 16
F64 = torch.float64


def _r(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _bool(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < 0.3


def _activation(kind, ns):
    """An activation of each kind torch takes: its strings, a function, a module (`ns`: nn or torch.nn)."""
    if kind == "function":
        return torch.nn.functional.leaky_relu
    return ns.LeakyReLU(0.2) if kind == "module" else kind


def _twins(make, dtype=F64):
    """make(nn) and make(torch.nn), each after torch.manual_seed(0), in `dtype`: (ours, theirs)."""
    torch.manual_seed(0)
    theirs = make(torch.nn)
    torch.manual_seed(0)
    ours = make(nn)
    return ours.to(dtype), theirs.to(dtype)


def _encoder_layer(ns, **kwargs):
    return ns.TransformerEncoderLayer(D, HEADS, FF, **{"dropout": 0.0, **kwargs})


def _decoder_layer(ns, **kwargs):
    return ns.TransformerDecoderLayer(D, HEADS, FF, **{"dropout": 0.0, **kwargs})


def _encoder(ns, **kwargs):
    return ns.TransformerEncoder(_encoder_layer(ns, **kwargs), 2, ns.LayerNorm(D))


def _decoder(ns, **kwargs):
    return ns.TransformerDecoder(_decoder_layer(ns, **kwargs), 2, ns.LayerNorm(D))


def _transformer(ns, **kwargs):
    return ns.Transformer(D, HEADS, 2, 2, FF, **{"dropout": 0.0, **kwargs})


def _seq(length, layout, seed):
    """A float64 sequence of `length` in `layout`: 'seq' (L, 3, D), 'batch' (3, L, D) or 'unbatched' (L, D)."""
    shape = {"seq": (length, 3), "batch": (3, length), "unbatched": (length,)}[layout]
    return _r(*shape, D, seed=seed)


def _run(ours, theirs, args, training=True, rng_seed=None, **kwargs):
    """Both modules in train (or eval) mode on the same leaves and masks: outputs and gradients of the
    inputs and of every parameter bit for bit."""
    ours.train(training), theirs.train(training)
    return run_both(ours, theirs, args, (True,) * len(args), rng_seed=rng_seed, exact=True, **kwargs)


# --- construction --------------------------------------------------------------------------------
CONSTRUCTIONS = {
    "encoder layer": lambda ns: _encoder_layer(ns),
    "encoder layer, gelu, norm first": lambda ns: _encoder_layer(ns, activation="gelu", norm_first=True),
    "encoder layer, module activation": lambda ns: _encoder_layer(ns, activation=ns.GELU()),
    "decoder layer, no bias": lambda ns: _decoder_layer(ns, bias=False),
    "encoder": lambda ns: _encoder(ns),
    "decoder, batch first": lambda ns: _decoder(ns, batch_first=True),
    "transformer": lambda ns: _transformer(ns),
    "transformer, all options": lambda ns: _transformer(
        ns, activation="gelu", layer_norm_eps=1e-3, batch_first=True, norm_first=True, bias=False
    ),
    "transformer, custom parts": lambda ns: ns.Transformer(
        D, HEADS, custom_encoder=_encoder(ns), custom_decoder=ns.TransformerDecoder(_decoder_layer(ns), 1)
    ),
}


@pytest.mark.parametrize("make", CONSTRUCTIONS.values(), ids=CONSTRUCTIONS.keys())
def test_starts_as_torch(make):
    """The same seed gives torch's parameters (xavier_uniform_ for Transformer), names, order, repr."""
    ours, theirs = _twins(make, dtype=torch.float32)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert_same_state(ours, theirs)
    assert repr(ours) == repr(theirs)
    for name in ("norm_first", "activation_relu_or_gelu", "num_layers", "d_model", "nhead", "batch_first"):
        assert getattr(ours, name, None) == getattr(theirs, name, None), name


@pytest.mark.parametrize("make", [_encoder, _decoder, _transformer])
def test_state_dicts_load_both_ways(make):
    torch.manual_seed(1)
    theirs = make(torch.nn)
    torch.manual_seed(2)
    ours = make(nn)
    assert repr(ours.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    assert_same_state(ours, theirs)
    torch.manual_seed(3)
    other = make(torch.nn)
    other.load_state_dict(ours.state_dict())
    assert_same_state(ours, other)


def test_stack_layers_are_independent_copies():
    """Each layer of a stack is a deep copy: equal at first, none shared with the others or the template."""
    layer = _encoder_layer(nn)
    stack = nn.TransformerEncoder(layer, 3)
    weights = [m.linear1.weight for m in stack.layers]
    assert len({id(w) for w in weights + [layer.linear1.weight]}) == 4
    assert all(torch.equal(w.data, layer.linear1.weight.data) for w in weights)
    stack.layers[0].linear1.weight.data.zero_()
    assert not torch.equal(stack.layers[1].linear1.weight.data, stack.layers[0].linear1.weight.data)


@pytest.mark.parametrize("dtype", [None, torch.float64])
@pytest.mark.parametrize("size", [1, 5])
def test_generate_square_subsequent_mask_is_torchs(size, dtype):
    ours = nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype)
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype)
    assert type(ours) is torch.Tensor and ours.dtype == theirs.dtype and torch.equal(ours, theirs)


# --- layers: values and gradients ------------------------------------------------------------------
def _kinds(*activations):
    """(activation, layout) pairs: each activation on seq-first inputs, relu and gelu on the other layouts."""
    return [(a, "seq") for a in activations] + [("relu", "batch"), ("gelu", "unbatched")]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("activation,layout", _kinds("relu", "gelu", "function", "module"))
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_is_torch_to_the_bit(norm_first, activation, layout, training):
    ours, theirs = _twins(
        lambda ns: _encoder_layer(
            ns, activation=_activation(activation, ns), norm_first=norm_first, batch_first=layout == "batch"
        )
    )
    _run(ours, theirs, (_seq(5, layout, 0),), training)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("activation,layout", _kinds("relu", "gelu", "module"))
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_is_torch_to_the_bit(norm_first, activation, layout, training):
    ours, theirs = _twins(
        lambda ns: _decoder_layer(
            ns, activation=_activation(activation, ns), norm_first=norm_first, batch_first=layout == "batch"
        )
    )
    _run(ours, theirs, (_seq(4, layout, 0), _seq(6, layout, 1)), training)


PADDING = torch.tensor([[False] * 5, [False, True, False, False, True], [False] * 3 + [True] * 2])
CAUSAL = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=F64)
ENCODER_MASKS = {
    "bool mask": {"src_mask": _bool(5, 5)},
    "float mask per head": {"src_mask": _r(3 * HEADS, 5, 5)},
    "bool key padding": {"src_key_padding_mask": PADDING},
    "float key padding": {"src_key_padding_mask": _r(3, 5)},
    "both bool": {"src_mask": _bool(5, 5, seed=1), "src_key_padding_mask": PADDING},
    "mixed (warns)": {"src_mask": _r(5, 5), "src_key_padding_mask": PADDING},
    "causal": {"src_mask": CAUSAL, "is_causal": True},
    "causal with padding": {"src_mask": CAUSAL, "src_key_padding_mask": PADDING, "is_causal": True},
}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("masks", ENCODER_MASKS.values(), ids=ENCODER_MASKS.keys())
@pytest.mark.parametrize("stack", [False, True])
def test_encoder_masks_are_torch_to_the_bit(stack, masks, training):
    """Boolean (True: not attended) and float masks, key padding, the causal hint: in a layer and in a stack
    (which takes `mask` and detects the causal mask); mixed mask types give torch's deprecation warning."""
    if stack:
        masks = {("mask" if k == "src_mask" else k): m for k, m in masks.items()}
    ours, theirs = _twins(lambda ns: _encoder(ns) if stack else _encoder_layer(ns, norm_first=True))
    src = _seq(5, "seq", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(ours, theirs, (src,), training, **masks)
    mixed = len({m.dtype for m in masks.values() if isinstance(m, torch.Tensor)}) > 1
    for model, x in ((ours, ag.Variable(src)), (theirs, src)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model(x, **masks)
        assert mixed == any("Support for mismatched src_key_padding_mask" in str(w.message) for w in caught)


DECODER_MASKS = {
    "causal tgt mask (hint)": {"tgt_mask": CAUSAL[:4, :4], "tgt_is_causal": True},
    "bool masks": {"tgt_mask": _bool(4, 4), "memory_mask": _bool(4, 6, seed=1)},
    "float masks": {"tgt_mask": _r(4, 4), "memory_mask": _r(3 * HEADS, 4, 6)},
    "key padding": {
        "tgt_key_padding_mask": PADDING[:, :4],
        "memory_key_padding_mask": torch.cat([PADDING, PADDING[:, :1]], 1),
    },
    "everything": {
        "tgt_mask": CAUSAL[:4, :4],
        "memory_mask": _r(4, 6),
        "tgt_key_padding_mask": _r(3, 4),
        "memory_key_padding_mask": _r(3, 6),
    },
}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("masks", DECODER_MASKS.values(), ids=DECODER_MASKS.keys())
@pytest.mark.parametrize("make", [_decoder_layer, _decoder])
def test_decoder_masks_are_torch_to_the_bit(make, masks, training):
    ours, theirs = _twins(make)
    _run(ours, theirs, (_seq(4, "seq", 0), _seq(6, "seq", 1)), training, **masks)


HINTS = {  # (mask and is_causal given to the stack, the hint its layers get: torch's detection for None)
    "causal, detected": (CAUSAL, None, True),
    "causal, hint False": (CAUSAL, False, False),
    "not causal": (_r(5, 5), None, False),
    "bool causal, detected": (torch.ones(5, 5, dtype=torch.bool).triu(1), None, True),
    "causal of another size": (CAUSAL[:4, :4], None, False),  # (then refused by the attention)
}


@pytest.mark.parametrize("mask,hint,detected", HINTS.values(), ids=HINTS.keys())
@pytest.mark.parametrize("layout", ["seq", "batch"])
@pytest.mark.parametrize("make", [_encoder, _decoder])
def test_stacks_detect_the_causal_mask_as_torch(make, layout, mask, hint, detected):
    """With is_causal None a stack tells its layers whether the mask is the causal one of the sequence's
    length (torch's _detect_is_causal_mask): the same hint as torch's, and the same bits."""
    ours, theirs = _twins(lambda ns: make(ns, batch_first=layout == "batch", norm_first=True))
    hints = {}
    for name, model in (("ours", ours), ("theirs", theirs)):
        record = lambda module, args, kwargs, name=name: hints.setdefault(name, []).append(kwargs)
        model.layers[0].register_forward_pre_hook(record, with_kwargs=True)
    if make is _encoder:
        args, masks = (_seq(5, layout, 0),), {"mask": mask, "is_causal": hint}
    else:
        args, masks = (_seq(5, layout, 0), _seq(6, layout, 1)), {"tgt_mask": mask, "tgt_is_causal": hint}
    if mask.shape[0] == 4:
        with pytest.raises(RuntimeError):
            theirs(*args, **masks)
        with pytest.raises(RuntimeError, match="attn_mask is torch.Size"):
            ours(*(ag.Variable(a) for a in args), **masks)
    else:
        _run(ours, theirs, args, **masks)
    key = "is_causal" if make is _encoder else "tgt_is_causal"
    assert [k[key] for k in hints["ours"]] == [k[key] for k in hints["theirs"]]
    assert hints["ours"][0][key] is detected


# --- the whole Transformer -----------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layout", ["seq", "batch", "unbatched"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_is_torch_to_the_bit(norm_first, layout, training):
    ours, theirs = _twins(lambda ns: _transformer(ns, norm_first=norm_first, batch_first=layout == "batch"))
    masks = {"tgt_mask": nn.Transformer.generate_square_subsequent_mask(4, dtype=F64), "memory_mask": _bool(4, 5)}
    if layout != "unbatched":
        masks |= {"src_key_padding_mask": PADDING, "memory_key_padding_mask": PADDING}
    _run(ours, theirs, (_seq(5, layout, 0), _seq(4, layout, 1)), training, **masks)


# --- dropout -------------------------------------------------------------------------------------
DROPOUT_MODELS = {
    "encoder layer": (lambda ns: _encoder_layer(ns, dropout=0.3), 1),
    "decoder layer": (lambda ns: _decoder_layer(ns, dropout=0.3, norm_first=True, batch_first=True), 2),
    "transformer": (lambda ns: _transformer(ns, dropout=0.3, batch_first=True), 2),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("make,inputs", DROPOUT_MODELS.values(), ids=DROPOUT_MODELS.keys())
def test_dropout_draws_torchs_masks_and_is_off_in_eval(make, inputs, dtype):
    """After the same seed the engine draws torch's dropout masks in torch's order (attention weights,
    then each Dropout in turn), so a training step is torch's to the bit (float32 too); eval mode is the
    model without dropout."""
    ours, theirs = _twins(make, dtype)
    args = tuple(x.to(dtype) for x in (_seq(5, "batch", 0), _seq(4, "batch", 1))[:inputs])
    train_t, train_e = _run(ours, theirs, args, training=True, rng_seed=7)
    eval_t, eval_e = _run(ours, theirs, args, training=False)
    assert not torch.equal(train_e[0].data, eval_e[0].data)
    zero_p, _ = _twins(lambda ns: _set_dropout(make(ns), 0.0), dtype)
    zero_p.load_state_dict(ours.state_dict())
    assert torch.equal(zero_p.eval()(*(ag.Variable(a) for a in args)).data, eval_e[0].data)


def _set_dropout(model, p):
    """`model` with every Dropout and attention dropout set to p."""
    for m in model.modules():
        if isinstance(m, (nn.Dropout, torch.nn.Dropout)):
            m.p = p
        elif isinstance(m, (nn.MultiheadAttention, torch.nn.MultiheadAttention)):
            m.dropout = p
    return model


def test_dropout_statistics():
    """A large dropout layer keeps about 1 - p of the feedforward units (scaled by 1 / (1 - p))."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, HEADS, 4096, dropout=0.25, norm_first=True)
    hidden = layer.linear1(layer.norm2(ag.Variable(torch.randn(8, 4, D))))
    active = layer.activation(hidden)
    out = layer.dropout(active)
    kept = (out.data != 0) & (active.data != 0)
    assert abs(kept.sum() / (active.data != 0).sum() - 0.75) < 0.01
    torch.testing.assert_close(out.data[kept], active.data[kept] / 0.75)


# --- torch's inference fast path -----------------------------------------------------------------
def test_torchs_fast_path_computes_the_same_function():
    """In eval mode without grad torch runs _transformer_encoder_layer_fwd (and, in the stack with a key
    padding mask, nested tensors): the same values within float64 rounding, except that torch's nested path
    writes zeros (then the final norm) at padded positions, which the engine computes as torch's slow path."""
    ours, theirs = _twins(lambda ns: _encoder(ns, batch_first=True))
    ours.eval(), theirs.eval()
    src, padding = _seq(5, "batch", 0), PADDING.sort(1).values  # (left-aligned, as torch's nested path needs)
    expected = _run(ours, theirs, (src,), training=False, src_key_padding_mask=padding)[0][0]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's nested-tensor prototype warning)
        fast_stack = theirs(src, src_key_padding_mask=padding)
        fast_layer = theirs.layers[0](src, src_key_padding_mask=padding)
    layer = ours.layers[0](ag.Variable(src), src_key_padding_mask=padding).data
    torch.testing.assert_close(layer, fast_layer, rtol=1e-10, atol=1e-12)
    out = ours(ag.Variable(src), src_key_padding_mask=padding).data
    assert torch.equal(out, expected.detach())
    torch.testing.assert_close(out[~padding], fast_stack[~padding], rtol=1e-10, atol=1e-12)
    assert torch.equal(fast_stack[padding], torch.zeros_like(fast_stack[padding]))


# --- errors --------------------------------------------------------------------------------------
def _call(make, *shapes, **kwargs):
    """A builder that makes make(ns) and calls it on float inputs of `shapes` with kwargs."""
    return lambda ns: make(ns)(*(torch.randn(s) for s in shapes), **kwargs)


ERRORS = [
    (lambda ns: _encoder_layer(ns, activation="tanh"), RuntimeError, "activation should be relu/gelu, not tanh"),
    (lambda ns: _decoder_layer(ns, activation="Relu"), RuntimeError, "activation should be relu/gelu, not Relu"),
    (lambda ns: ns.TransformerEncoderLayer(8, 3), AssertionError, "embed_dim must be divisible by num_heads"),
    (lambda ns: ns.TransformerDecoderLayer(8, 2, dropout=1.5), ValueError, "dropout probability has to be"),
    (
        _call(_encoder_layer, (5, 3, D), src_mask=torch.zeros(5, 5, dtype=torch.int64)),
        AssertionError,
        "only bool and floating types of src_mask are supported",
    ),
    (
        _call(_encoder, (5, 3, D), src_key_padding_mask=torch.zeros(3, 5, dtype=torch.int32)),
        AssertionError,
        "only bool and floating types of src_key_padding_mask are supported",
    ),
    (_call(_encoder_layer, (5, 3, D), is_causal=True), RuntimeError, "Need attn_mask if specifying the is_causal"),
    (_call(_decoder_layer, (5, 3, D), (4, 3, D), tgt_is_causal=True), RuntimeError, "Need attn_mask"),
    (_call(_transformer, (5, 3, D), (4, 2, D)), RuntimeError, "the batch number of src and tgt must be equal"),
    (
        _call(lambda ns: _transformer(ns, batch_first=True), (3, 5, D), (2, 4, D)),
        RuntimeError,
        "the batch number of src and tgt must be equal",
    ),
    (_call(_transformer, (5, 3, D), (4, 3, 6)), RuntimeError, "the feature number of src and tgt must be equal to"),
    (_call(_transformer, (5, D + 1), (4, D + 1)), RuntimeError, "the feature number of src and tgt must be equal to"),
    (
        _call(_encoder_layer, (5, 3, D), src_mask=torch.zeros(4, 5, dtype=torch.bool)),
        RuntimeError,
        "The shape of the 2D attn_mask is",
    ),
]


@pytest.mark.parametrize("fail,error,match", ERRORS)
def test_errors_are_torchs(fail, error, match):
    """torch's error type for each misuse, with torch's words in the engine's message."""
    with pytest.raises(error):
        fail(torch.nn)
    with pytest.raises(error, match=match):
        fail(nn)


def test_transformer_errors_name_the_shapes():
    model = _transformer(nn)
    with pytest.raises(RuntimeError, match=r"src of shape \(5, 3, 8\), tgt of shape \(4, 2, 8\)"):
        model(torch.randn(5, 3, D), torch.randn(4, 2, D))
