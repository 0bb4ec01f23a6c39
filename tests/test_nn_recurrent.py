"""Recurrent layers (RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU) and nn.utils.rnn against their torch.nn
twins built from the same seed or state dict: initial parameters (bitwise), values, final states and every
gradient (float64, to 1e-12), packed variable-length batches, dropout masks, second order, reprs and
errors (torch's types and messages)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.utils.rnn as torch_rnn

import autograd_engine as ag
import nn
from nn.layers import recurrent
from nn.utils import rnn

from .oracles import assert_no_torch_graph

TOL = dict(rtol=1e-10, atol=1e-12)
F64 = torch.float64


def _r(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _twins(name, *args, seed=0, dtype=F64, **kwargs):
    """The engine's layer and torch.nn's, each built right after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    ours = getattr(recurrent, name)(*args, dtype=dtype, **kwargs)
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, name)(*args, dtype=dtype, **kwargs)
    return ours, theirs


def _flat(out):
    """The tensors of a nested output (PackedSequence: its data), in order."""
    if isinstance(out, torch_rnn.PackedSequence):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _leaves(values):
    """Each value as a torch leaf and an engine leaf (None stays None; tuples are mapped)."""
    if values is None:
        return None, None
    if isinstance(values, tuple):
        pairs = [_leaves(v) for v in values]
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    return values.clone().requires_grad_(), ag.Variable(values.clone(), requires_grad=True)


def run_both(ours, theirs, inputs, tol=TOL, rng_seed=None):
    """Both modules on the same inputs (torch and engine leaves), each after torch.manual_seed(rng_seed)
    when given: outputs, and the gradients of a random weighted sum of every output with respect to every
    input and parameter."""
    pairs = [_leaves(x) for x in inputs]
    outs = []
    for module, side in ((theirs, 0), (ours, 1)):
        if rng_seed is not None:
            torch.manual_seed(rng_seed)
        outs.append(module(*(p[side] for p in pairs)))
    out_t, out_e = outs
    flat_t, flat_e = _flat(out_t), _flat(out_e)
    assert len(flat_t) == len(flat_e)
    for e, t in zip(flat_e, flat_t):
        assert e.shape == t.shape and e.dtype == t.dtype
        torch.testing.assert_close(e.data, t.detach(), **tol)
    leaves_t = [x for p in pairs for x in _flat(p[0]) if x is not None] + list(theirs.parameters())
    leaves_e = [x for p in pairs for x in _flat(p[1]) if x is not None] + list(ours.parameters())
    weights = [_r(*t.shape, seed=7 + i, dtype=t.dtype) for i, t in enumerate(flat_t)]
    loss_t = sum((t * w).sum() for t, w in zip(flat_t, weights))
    loss_e = sum((e * w).sum() for e, w in zip(flat_e, weights))
    grads_t = torch.autograd.grad(loss_t, leaves_t, allow_unused=True)
    grads_e = ag.gradients(loss_e, leaves_e)
    for g_e, g_t, leaf in zip(grads_e, grads_t, leaves_t):
        torch.testing.assert_close(g_e.data, torch.zeros_like(leaf) if g_t is None else g_t, **tol)
    assert_no_torch_graph(*flat_e, *grads_e)
    return out_e, out_t


def assert_same_parameters(ours, theirs):
    names = [n for n, _ in ours.named_parameters()]
    assert names == [n for n, _ in theirs.named_parameters()]
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert torch.equal(p.data, q.data)


# --- construction --------------------------------------------------------------------------------------------

CONSTRUCTIONS = [
    ("RNNCell", (3, 4), {}),
    ("RNNCell", (3, 4), {"bias": False, "nonlinearity": "relu"}),
    ("LSTMCell", (3, 4), {}),
    ("GRUCell", (3, 4), {"bias": False}),
    ("RNN", (3, 4), {}),
    ("RNN", (3, 4, 2), {"nonlinearity": "relu", "bidirectional": True, "batch_first": True}),
    ("LSTM", (3, 5), {"num_layers": 2, "proj_size": 2, "bidirectional": True, "dropout": 0.5}),
    ("LSTM", (3, 5), {"bias": False, "proj_size": 3}),
    ("GRU", (3, 4), {"num_layers": 3, "bias": False}),
]


@pytest.mark.parametrize("name,args,kwargs", CONSTRUCTIONS)
def test_layers_start_as_torch(name, args, kwargs):
    """The same seed gives torch.nn's parameters bit for bit (float32, the default), the same names, repr
    and weight lists."""
    ours, theirs = _twins(name, *args, dtype=torch.float32, **kwargs)
    assert_same_parameters(ours, theirs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if hasattr(theirs, "_flat_weights_names"):
        assert ours._flat_weights_names == theirs._flat_weights_names
        for mine, torchs in zip(ours.all_weights, theirs.all_weights, strict=True):
            assert all(torch.equal(p.data, q.data) for p, q in zip(mine, torchs, strict=True))
        assert all(p is q for p, q in zip(ours._flat_weights, ours.parameters()))
        ours.flatten_parameters()
    else:
        assert (ours.bias_ih is None) == (theirs.bias_ih is None)


def test_state_dict_moves_both_ways():
    ours, theirs = _twins("LSTM", 3, 5, num_layers=2, proj_size=2, bidirectional=True, seed=1)
    other = torch.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=True, dtype=F64)
    other.load_state_dict(ours.state_dict())
    assert_same_parameters(ours, other)
    fresh = recurrent.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=True, dtype=F64)
    fresh.load_state_dict(theirs.state_dict())
    run_both(fresh, theirs, [_r(4, 2, 3)])


# --- cells ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("given", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize(
    "name,kwargs", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {})]
)
def test_cells_match_torch(name, kwargs, batched, given, bias):
    ours, theirs = _twins(name, 3, 4, bias=bias, **kwargs)
    lead = (2,) if batched else ()
    x = _r(*lead, 3, seed=1)
    hx = None
    if given:
        hx = (_r(*lead, 4, seed=2), _r(*lead, 4, seed=3)) if name == "LSTMCell" else _r(*lead, 4, seed=2)
    run_both(ours, theirs, [x, hx])


def _unroll(cell, xs, state):
    """The documented loop: a cell fed its own state at every step."""
    outputs = []
    for x in xs.unbind(0):
        state = cell(x, state)
        outputs.append(state[0])
    return torch.stack(outputs), state


class _TorchUnrolled(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, xs, state):
        return _unroll(self.cell, xs, state)


class _Unrolled(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, xs, state):
        return _unroll(self.cell, xs, state)


def test_lstm_cell_steps_through_a_sequence():
    ours, theirs = _twins("LSTMCell", 3, 4)
    run_both(_Unrolled(ours), _TorchUnrolled(theirs), [_r(5, 2, 3), (_r(2, 4, seed=1), _r(2, 4, seed=2))])


# --- the multi-layer modules ----------------------------------------------------------------------------------

MODULE_CONFIGS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("RNN", {"bidirectional": True, "batch_first": True}),
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"proj_size": 2, "batch_first": True}),
    ("LSTM", {"proj_size": 3, "num_layers": 2, "bidirectional": True, "bias": False}),
    ("GRU", {}),
    ("GRU", {"num_layers": 2, "batch_first": True, "bias": False}),
    ("GRU", {"bidirectional": True, "num_layers": 2}),
]


def _states(name, kwargs, batch):
    """Random initial states of the shape the layer wants ((layers * directions, [batch,] H))."""
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    h = _r(layers, *batch, kwargs.get("proj_size") or 5, seed=2)
    return (h, _r(layers, *batch, 5, seed=3)) if name == "LSTM" else h


@pytest.mark.parametrize("given", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("name,kwargs", MODULE_CONFIGS)
def test_modules_match_torch(name, kwargs, batched, given):
    ours, theirs = _twins(name, 3, 5, **kwargs)
    shape = ((2, 4) if kwargs.get("batch_first") else (4, 2)) if batched else (4,)
    hx = _states(name, kwargs, (2,) if batched else ()) if given else None
    out_e, _ = run_both(ours, theirs, [_r(*shape, 3, seed=1), hx])
    directions = 2 if kwargs.get("bidirectional") else 1
    assert out_e[0].shape == (*shape, directions * (kwargs.get("proj_size") or 5))


@pytest.mark.parametrize("given", [True, False])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("name,kwargs", [c for c in MODULE_CONFIGS if not c[1].get("batch_first")])
def test_packed_batches_match_torch(name, kwargs, enforce_sorted, given):
    """A variable-length batch packed (sorted, or not with enforce_sorted=False) runs as torch's: the
    packed output, the final states of each sequence, and gradients through packing and padding."""
    ours, theirs = _twins(name, 3, 5, **kwargs)
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    hx = _states(name, kwargs, (4,)) if given else None
    padded_t, padded_e = _leaves(_r(5, 4, 3, seed=1))
    hx_t, hx_e = _leaves(hx)
    packed_t = torch_rnn.pack_padded_sequence(padded_t, lengths, enforce_sorted=enforce_sorted)
    packed_e = rnn.pack_padded_sequence(padded_e, lengths, enforce_sorted=enforce_sorted)
    out_t, state_t = theirs(packed_t, hx_t)
    out_e, state_e = ours(packed_e, hx_e)
    assert isinstance(out_e, rnn.PackedSequence) and isinstance(out_e, torch_rnn.PackedSequence)
    for a, b in zip(out_e[1:], out_t[1:]):
        assert (a is None and b is None) or torch.equal(a, b)
    unpacked_t, lengths_t = torch_rnn.pad_packed_sequence(out_t, batch_first=True, padding_value=-1.0)
    unpacked_e, lengths_e = rnn.pad_packed_sequence(out_e, batch_first=True, padding_value=-1.0)
    assert torch.equal(lengths_e, lengths_t)
    flat_t, flat_e = [unpacked_t, *_flat(state_t)], [unpacked_e, *_flat(state_e)]
    for e, t in zip(flat_e, flat_t):
        torch.testing.assert_close(e.data, t.detach(), **TOL)
    weights = [_r(*t.shape, seed=9 + i) for i, t in enumerate(flat_t)]
    leaves_t = [padded_t, *_flat(() if hx is None else hx_t), *theirs.parameters()]
    leaves_e = [padded_e, *_flat(() if hx is None else hx_e), *ours.parameters()]
    grads_t = torch.autograd.grad(sum((t * w).sum() for t, w in zip(flat_t, weights)), leaves_t)
    grads_e = ag.gradients(sum((e * w).sum() for e, w in zip(flat_e, weights)), leaves_e)
    for g_e, g_t in zip(grads_e, grads_t):
        torch.testing.assert_close(g_e.data, g_t, **TOL)


def test_torch_packed_sequence_is_accepted():
    ours, theirs = _twins("GRU", 3, 5, bidirectional=True)
    packed = torch_rnn.pack_sequence([_r(4, 3), _r(2, 3, seed=1), _r(3, 3, seed=2)], enforce_sorted=False)
    out_e, h_e = ours(packed)
    out_t, h_t = theirs(packed)
    torch.testing.assert_close(out_e.data.data, out_t.data.detach(), **TOL)
    torch.testing.assert_close(h_e.data, h_t.detach(), **TOL)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers_draws_torch_masks(name):
    """In train mode each layer's output but the last gets torch's dropout mask (same seed, same draws);
    in eval mode there is none."""
    ours, theirs = _twins(name, 3, 5, num_layers=3, dropout=0.5, bidirectional=name == "GRU")
    x = _r(4, 2, 3, seed=1)
    outputs = []
    for training in (True, False):
        ours.train(training), theirs.train(training)
        outputs.append(run_both(ours, theirs, [x, None], rng_seed=5)[0][0].data)
    assert not torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("name,kwargs", [("LSTM", {"num_layers": 2, "bidirectional": True}), ("GRU", {}), ("RNN", {})])
def test_float32_is_close_to_torch(name, kwargs):
    """In float32 torch runs fused kernels: the values agree to float32 rounding."""
    ours, theirs = _twins(name, 3, 5, dtype=torch.float32, **kwargs)
    run_both(ours, theirs, [_r(6, 2, 3, dtype=torch.float32), None], tol=dict(rtol=1e-5, atol=1e-6))


def test_second_order_through_an_lstm():
    """ag.grad of ag.grad (a Hessian-vector product in the input) through a tiny LSTM, against torch."""
    ours, theirs = _twins("LSTM", 2, 3)
    x = _r(3, 1, 2, seed=1)
    v = _r(3, 1, 2, seed=2)

    def loss(module):
        return lambda x: (module(x)[0] ** 2).sum()

    hvp_e = ag.grad(lambda x: (ag.grad(loss(ours))(x) * v).sum())(x)
    x_t = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(theirs)(x_t), x_t, create_graph=True)
    (hvp_t,) = torch.autograd.grad((g * v).sum(), x_t)
    torch.testing.assert_close(hvp_e, hvp_t, **TOL)


def test_the_whole_model_trains_on_variable_length_batches():
    """The usual recipe (pad, pack, LSTM, take h_n) inside nn: a gradient reaches every parameter."""
    model = nn.LSTM(3, 4, batch_first=True)
    seqs = [_r(5, 3).float(), _r(2, 3, seed=1).float(), _r(4, 3, seed=2).float()]
    padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
    packed = nn.utils.rnn.pack_padded_sequence(ag.Variable(padded), [5, 2, 4], batch_first=True, enforce_sorted=False)
    _, (h, _) = model(packed)
    h.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# --- errors --------------------------------------------------------------------------------------------------


def _same_error(ours_call, theirs_call):
    """Both calls raise the same type; ours has torch's message in it."""
    with pytest.raises(Exception) as theirs_info:  # noqa: PT011 (the oracle's exception, whatever it is)
        theirs_call()
    with pytest.raises(theirs_info.type) as ours_info:
        ours_call()
    assert str(theirs_info.value) in str(ours_info.value)  # (ours also names the layer and the input)


CONSTRUCTOR_ERRORS = [
    ("LSTM", (3, 4), {"proj_size": 4}),
    ("LSTM", (3, 4), {"proj_size": -1}),
    ("LSTM", (3, 4), {"dropout": 1.5}),
    ("LSTM", (3, 4), {"dropout": True}),
    ("LSTM", (3, 4), {"num_layers": 0}),
    ("LSTM", (3, 0), {}),
    ("LSTM", (0, 4), {}),
    ("LSTM", (3.0, 4), {}),
    ("GRU", (3, 4.0), {}),
    ("GRU", (3, 4), {"bias": 1}),
    ("GRU", (3, 4), {"batch_first": None}),
    ("GRU", (3, 4), {"proj_size": 0}),
    ("RNN", (3, 4), {"proj_size": 2}),
    ("RNN", (3, 4), {"nonlinearity": "sigmoid"}),
]


@pytest.mark.parametrize("name,args,kwargs", CONSTRUCTOR_ERRORS)
def test_constructor_errors_are_torch(name, args, kwargs):
    _same_error(lambda: getattr(recurrent, name)(*args, **kwargs), lambda: getattr(torch.nn, name)(*args, **kwargs))


def test_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1, but got dropout=0.2"):
        recurrent.GRU(3, 4, dropout=0.2)


def _x(*shape, dtype=F64):
    return _r(*shape, seed=4, dtype=dtype)


FORWARD_ERRORS = [
    ("RNN", {}, (_x(5, 2, 3, 1),)),
    ("GRU", {}, (_x(3),)),
    ("LSTM", {}, (_x(5, 2, 3, 1),)),
    ("LSTM", {}, (_x(5, 2, 2),)),
    ("LSTM", {}, (_x(5, 2, 3, dtype=torch.float32),)),
    ("LSTM", {}, (_x(5, 2, 3), (_x(1, 2, 4), _x(2, 4)))),
    ("LSTM", {}, (_x(5, 3), (_x(1, 2, 4), _x(2, 4)))),
    ("LSTM", {}, (_x(5, 2, 3), (_x(1, 3, 4), _x(1, 2, 4)))),
    ("LSTM", {"proj_size": 2}, (_x(5, 2, 3), (_x(1, 2, 4), _x(1, 2, 4)))),
    ("LSTM", {}, (_x(5, 2, 3), (_x(1, 2, 4), _x(1, 2, 5)))),
    ("GRU", {}, (_x(5, 2, 3), _x(2, 4))),
    ("RNN", {}, (_x(5, 3), _x(1, 1, 4))),
    ("GRU", {"bidirectional": True}, (_x(5, 2, 3), _x(1, 2, 4))),
    ("GRU", {}, (_x(0, 2, 3),)),
    ("RNNCell", {}, (_x(3, 6),)),
    ("RNNCell", {"nonlinearity": "gelu"}, (_x(3),)),
    ("GRUCell", {}, (_x(3, 3), _x(2, 4))),
    ("GRUCell", {}, (_x(3), _x(3, 4))),
    ("GRUCell", {}, (_x(3, 3), _x(3, 4, 1))),
    ("LSTMCell", {}, (_x(3, 3, 1),)),
    ("LSTMCell", {}, (_x(3, 3), (_x(3, 5), _x(3, 4)))),
    ("LSTMCell", {}, (_x(3, 3), (_x(3, 4), _x(3, 6)))),
    ("LSTMCell", {}, (_x(3, 3), (_x(3, 4), _x(3, 4, 1)))),
]


@pytest.mark.parametrize("name,kwargs,inputs", FORWARD_ERRORS)
def test_forward_errors_are_torch(name, kwargs, inputs):
    ours, theirs = _twins(name, 3, 4, **kwargs)

    def wrap(values):
        return tuple(wrap(v) for v in values) if isinstance(values, tuple) else ag.Variable(values)

    _same_error(lambda: ours(*wrap(inputs)), lambda: theirs(*inputs))


# --- nn.utils.rnn --------------------------------------------------------------------------------------------

SEQUENCES = [_r(4, 2), _r(1, 2, seed=1), _r(3, 2, seed=2)]


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_pad_sequence_is_torch(batch_first, padding_side):
    kwargs = dict(batch_first=batch_first, padding_value=-2.5, padding_side=padding_side)
    expected = torch_rnn.pad_sequence(SEQUENCES, **kwargs)
    plain = rnn.pad_sequence(SEQUENCES, **kwargs)
    assert isinstance(plain, torch.Tensor) and torch.equal(plain, expected)
    leaves = [ag.Variable(s, requires_grad=True) for s in SEQUENCES]
    padded = rnn.pad_sequence(leaves, **kwargs)
    assert torch.equal(padded.data, expected)
    grads = ag.gradients((padded * _r(*padded.shape, seed=3)).sum(), leaves)
    torch_leaves = [s.clone().requires_grad_() for s in SEQUENCES]
    weighted = (torch_rnn.pad_sequence(torch_leaves, **kwargs) * _r(*padded.shape, seed=3)).sum()
    for g_e, g_t in zip(grads, torch.autograd.grad(weighted, torch_leaves)):
        assert torch.equal(g_e.data, g_t)


def test_pad_sequence_keeps_the_first_dtype():
    mixed = [_r(2, 3, dtype=torch.float32), _r(3, 3)]
    assert rnn.pad_sequence(mixed).dtype == torch_rnn.pad_sequence(mixed).dtype == torch.float32


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_unpack_sequence_are_torch(enforce_sorted):
    seqs = SEQUENCES if not enforce_sorted else sorted(SEQUENCES, key=len, reverse=True)
    expected = torch_rnn.pack_sequence(seqs, enforce_sorted=enforce_sorted)
    packed = rnn.pack_sequence([ag.Variable(s) for s in seqs], enforce_sorted=enforce_sorted)
    assert torch.equal(packed.data.data, expected.data) and torch.equal(packed.batch_sizes, expected.batch_sizes)
    for a, b in zip(packed[2:], expected[2:]):
        assert (a is None and b is None) or torch.equal(a, b)
    for got, seq in zip(rnn.unpack_sequence(packed), seqs):
        assert torch.equal(got.data, seq)


@pytest.mark.parametrize("batch_first", [True, False])
def test_pad_packed_sequence_total_length_and_unpad_sequence(batch_first):
    packed = torch_rnn.pack_sequence(SEQUENCES, enforce_sorted=False)
    expected, lengths = torch_rnn.pad_packed_sequence(packed, batch_first, 1.5, total_length=6)
    padded, got_lengths = rnn.pad_packed_sequence(packed, batch_first, 1.5, total_length=6)
    assert torch.equal(padded, expected) and torch.equal(got_lengths, lengths) and got_lengths.dtype == torch.int64
    kept = expected.clone()
    for got, seq in zip(rnn.unpad_sequence(kept, lengths, batch_first), SEQUENCES):
        assert torch.equal(got, seq)
    assert torch.equal(kept, expected)  # (torch's transposes its input in place; this one does not)


UTILS_ERRORS = [
    (lambda m: m.pad_sequence([]), RuntimeError, "received an empty list of sequences"),
    (lambda m: m.pad_sequence(5), RuntimeError, "Expected iterable for input sequences"),
    (lambda m: m.pad_sequence(SEQUENCES, padding_side="middle"), RuntimeError, "one of left or right, but got middle"),
    (lambda m: m.pack_padded_sequence(_x(4, 3, 2), [4, 2]), RuntimeError, r"equal to batch_size, but got 2 \("),
    (lambda m: m.pack_padded_sequence(_x(4, 3, 2), [4, 3, 0]), RuntimeError, "has to be greater than 0"),
    (lambda m: m.pack_padded_sequence(_x(4, 3, 2), [2, 4, 1]), RuntimeError, "must be sorted in decreasing order"),
    (lambda m: m.pack_padded_sequence(_x(4, 3, 2), torch.tensor([[4, 3, 1]])), RuntimeError, "1D CPU int64 tensor"),
    (lambda m: m.pack_padded_sequence(_x(0, 3, 2), [1, 1, 1]), RuntimeError, "Cannot pack empty tensors"),
    (
        lambda m: m.pad_packed_sequence(m.pack_sequence(SEQUENCES, False), total_length=3),
        ValueError,
        "total_length=3 and max sequence length being 4",
    ),
]


@pytest.mark.parametrize("call,error,match", UTILS_ERRORS)
def test_utils_errors_are_torch(call, error, match):
    for module in (torch_rnn, rnn):
        with pytest.raises(error, match=match):
            call(module)


def test_utils_errors_torch_lacks():
    """Where torch reads past the input or fails obscurely, a clear error naming the shapes."""
    with pytest.raises(RuntimeError, match="a length of 5 exceeds the padded input's 4 time steps"):
        rnn.pack_padded_sequence(_x(4, 3, 2), [5, 3, 1])
    with pytest.raises(RuntimeError, match=r"same trailing dims, got shapes \(2, 3\) and \(3, 4\)"):
        rnn.pad_sequence([_x(2, 3), _x(3, 4)])
    with pytest.raises(IndexError, match=r"padded batch of 2 or more dims, got \(4,\)"):
        rnn.pack_padded_sequence(_x(4), [4])


def test_exports():
    for name in recurrent.__all__:
        assert getattr(nn, name) is getattr(recurrent, name)
    assert nn.utils.rnn is rnn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.RNNBase("LSTM", 3, 4)
