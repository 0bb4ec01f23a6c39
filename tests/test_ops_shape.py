"""Shape and layout: torch's functions and methods on Variables against torch.autograd (values, first and
second derivatives), torch's return types, and torch's exceptions for bad arguments."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as tnf

import autograd_engine as ag

from .oracles import assert_torch_bits, compare_with_torch, r

A = torch.ops.aten


def same(name: str, fn: Callable[..., Any], *inputs: torch.Tensor) -> tuple[str, Any, Any, list[torch.Tensor]]:
    """A case whose torch spelling runs on tensors and on Variables alike."""
    return (name, fn, fn, list(inputs))


def pieces(parts: Any) -> Any:
    """Every piece of a split, weighted by its position, joined again: each piece's gradient counts."""
    return torch.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(parts)])


# (id, engine function, torch function, inputs); the ids of primitives start with their names
CASES = [
    # primitives of ops/shape.py
    same("clone", lambda a: torch.clone(a) * a.clone(), r(2, 3)),
    same("flip", lambda a: torch.flip(a, [0, 2]), r(2, 3, 4)),
    same("flip-method-args", lambda a: a.flip(0, -1), r(2, 3, 4)),
    same("flip-method-list", lambda a: a.flip([1]), r(2, 3, 4)),
    same("flip-lr", lambda a: torch.fliplr(a), r(2, 3, 4)),
    same("flip-ud", lambda a: a.flipud(), r(3)),
    same("roll", lambda a: torch.roll(a, (1, -2), (0, 2)), r(2, 3, 4)),
    same("roll-flat", lambda a: a.roll(5), r(2, 3, 4)),
    same("roll-int-dim", lambda a: a.roll(-1, 1), r(2, 3)),
    same("tril", lambda a: torch.tril(a), r(2, 3, 4)),
    same("tril-offset", lambda a: a.tril(-1), r(4, 3)),
    same("triu", lambda a: a.triu(1), r(2, 4, 3)),
    same("diagonal", lambda a: torch.diagonal(a), r(3, 4)),
    same("diagonal-offset-dims", lambda a: a.diagonal(1, 2, 0), r(3, 2, 4)),
    same("diagonal-negative", lambda a: torch.diagonal(a, -1, -1, -2), r(2, 4, 3)),
    same("undiagonal-diag_embed", lambda a: torch.diag_embed(a), r(2, 3)),
    same("undiagonal-diag_embed-dims", lambda a: torch.diag_embed(a, 1, 0, 2), r(2, 3)),
    same("undiagonal-diag_embed-negative", lambda a: a.diag_embed(-2, -1, 1), r(3, 2)),
    (
        "undiagonal",
        lambda g: ag.ops.undiagonal(g, offset=1, dim1=0, dim2=2, shape=(3, 2, 4)),
        lambda g: torch.diagonal_scatter(torch.zeros(3, 2, 4, dtype=g.dtype), g, 1, 0, 2),
        [r(2, 3)],
    ),
    same("unfold_dim", lambda a: a.unfold(1, 2, 1), r(2, 4, 3)),
    same("unfold_dim-step", lambda a: a.unfold(-1, 3, 2), r(2, 8)),
    same("unfold_dim-0d", lambda a: a.unfold(0, 1, 1), r(1)[0]),
    (
        "fold_dim",
        lambda g: ag.ops.fold_dim(g, dim=1, size=3, step=2, shape=(2, 8)),
        lambda g: A.unfold_backward(g, [2, 8], 1, 3, 2),
        [r(2, 3, 3)],
    ),
    same("pad_edges-reflect-1d", lambda a: tnf.pad(a, (2, 1), mode="reflect"), r(2, 4)),
    same("pad_edges-reflect-2d", lambda a: tnf.pad(a, (1, 2, 2, 1), mode="reflect"), r(1, 2, 3, 4)),
    same("pad_edges-reflect-3d", lambda a: tnf.pad(a, (1, 0, 0, 1, 1, 1), mode="reflect"), r(2, 3, 3, 3)),
    same("pad_edges-reflect-crop", lambda a: tnf.pad(a, (-1, 2), mode="reflect"), r(2, 2, 5)),
    same("pad_edges-replicate-1d", lambda a: tnf.pad(a, (3, 1), mode="replicate"), r(2, 2, 3)),
    same("pad_edges-replicate-2d", lambda a: tnf.pad(a, (1, 2, 0, 3), "replicate"), r(2, 3, 4)),
    same("pad_edges-replicate-3d", lambda a: tnf.pad(a, (1, 1, 2, 0, 0, 1), mode="replicate"), r(1, 1, 2, 3, 2)),
    (
        "unpad_edges",
        lambda g: ag.ops.unpad_edges(g, widths=(2, 1, 1, 1), mode="reflect", shape=(2, 3, 4)),
        lambda g: A.reflection_pad2d_backward(g, torch.zeros(2, 3, 4, dtype=g.dtype), [2, 1, 1, 1]),
        [r(2, 5, 7)],
    ),
    (
        "unpad_edges-replicate",
        lambda g: ag.ops.unpad_edges(g, widths=(2, 1), mode="replicate", shape=(2, 3)),
        lambda g: A.replication_pad1d_backward(g, torch.zeros(2, 3, dtype=g.dtype), [2, 1]),
        [r(2, 6)],
    ),
    # reshaping
    same("reshape-minus-one", lambda a: a.reshape(-1, 4), r(2, 3, 4)),
    same("reshape-torch", lambda a: torch.reshape(a, (3, -1)), r(2, 3, 2)),
    same("view-minus-one", lambda a: a.view(2, -1), r(2, 3, 4)),
    same("view_as", lambda a, b: a.view_as(b) * b, r(2, 6), r(3, 4)),
    same("reshape_as", lambda a, b: a.t().reshape_as(b) * b, r(4, 3), r(2, 6)),
    same("view-after-contiguous", lambda a: a.transpose(0, 1).contiguous().view(-1), r(3, 4)),
    same("contiguous-already", lambda a: a.contiguous() * 2, r(3, 4)),
    same("flatten-range", lambda a: torch.flatten(a, 1, 2), r(2, 3, 4, 2)),
    same("ravel", lambda a: torch.ravel(a.mT), r(2, 3, 4)),
    same("unflatten", lambda a: a.unflatten(1, (2, -1)), r(3, 6)),
    same("unflatten-torch", lambda a: torch.unflatten(a, -1, (2, 2)), r(3, 4)),
    same("squeeze-dims", lambda a: torch.squeeze(a, (0, 2)), r(1, 3, 1, 2)),
    same("unsqueeze-negative", lambda a: torch.unsqueeze(a, -1), r(3, 2)),
    same("atleast_1d", lambda a: torch.atleast_1d(a), r(1)[0]),
    same("atleast_2d", lambda a: torch.atleast_2d(a), r(3)),
    same("atleast_3d-1d", lambda a: torch.atleast_3d(a), r(3)),
    same("atleast_3d-2d", lambda a: torch.atleast_3d(a), r(2, 3)),
    same("atleast_2d-many", lambda a, b: torch.cat(torch.atleast_2d(a, b)), r(3), r(2, 3)),
    # dims
    same("permute-torch", lambda a: torch.permute(a, (2, 0, 1)), r(2, 3, 4)),
    same("permute-method-tuple", lambda a: a.permute((1, 2, 0)), r(2, 3, 4)),
    same("movedim", lambda a: torch.movedim(a, 0, -1), r(2, 3, 4)),
    same("movedim-tuples", lambda a: a.movedim((0, 1), (2, 0)), r(2, 3, 4, 5)),
    same("moveaxis", lambda a: torch.moveaxis(a, -1, 1), r(2, 3, 4)),
    same("swapaxes", lambda a: torch.swapaxes(a, 0, 2), r(2, 3, 4)),
    same("swapdims", lambda a: a.swapdims(-1, 0), r(2, 3, 4)),
    same("transpose-torch", lambda a: torch.transpose(a, 1, 0), r(2, 3)),
    same("t", lambda a: torch.t(a), r(2, 3)),
    same("t-1d", lambda a: a.t() * 2, r(3)),
    ("T-3d", lambda a: a.T, lambda a: a.permute(2, 1, 0), [r(2, 3, 4)]),
    ("T-1d", lambda a: a.T * 2, lambda a: a * 2, [r(3)]),
    same("mT", lambda a: a.mT, r(2, 3, 4)),
    same("mH", lambda a: a.mH, r(2, 3, 4)),
    same("H", lambda a: a.H, r(2, 3)),
    same("adjoint", lambda a: torch.adjoint(a), r(2, 3, 4)),
    # broadcasting
    same("expand-keep", lambda a: a.expand(2, -1, 4), r(1, 3, 1)),
    same("expand-new-dims", lambda a: a.expand((5, 3, 4)), r(3, 1)),
    same("expand_as", lambda a, b: a.expand_as(b) * b, r(3, 1), r(2, 3, 4)),
    same("broadcast_to", lambda a: torch.broadcast_to(a, (2, 3, 4)), r(3, 1)),
    same("broadcast_tensors", lambda a, b: torch.mul(*torch.broadcast_tensors(a, b)), r(3, 1), r(2, 1, 4)),
    # joining
    same("cat-torch", lambda a, b: torch.cat((a, b), dim=-1), r(2, 3), r(2, 1)),
    same("cat-concat", lambda a, b: torch.concat([b, a]), r(2, 3), r(1, 3)),
    same("cat-concatenate", lambda a, b: torch.concatenate([a, b], axis=1), r(2, 3), r(2, 2)),
    same("cat-skips-empty", lambda a, b: torch.cat([a, torch.zeros(0, dtype=a.dtype), b], 1), r(2, 3), r(2, 1)),
    same("cat-empty-rows", lambda a, b: torch.cat([a, b[:0]]), r(2, 3), r(1, 3)),
    same("stack-torch", lambda a, b: torch.stack((a, b), 1), r(2, 3), r(2, 3)),
    same("hstack", lambda a, b: torch.hstack([a, b]), r(2, 3), r(2, 1)),
    same("hstack-1d", lambda a, b: torch.hstack((a, b)), r(3), r(2)),
    same("vstack", lambda a, b: torch.vstack([a, b]), r(3), r(2, 3)),
    same("row_stack", lambda a, b: torch.row_stack([a, b]), r(3), r(3)),
    same("dstack", lambda a, b: torch.dstack([a, b]), r(3), r(1, 3)),
    same("column_stack", lambda a, b, c: torch.column_stack([a, b, c]), r(3), r(3, 2), r(3)),
    same("block_diag", lambda a, b, c: torch.block_diag(a, b, c), r(2, 3), r(2), r(1)[0]),
    same("cartesian_prod", lambda a, b: torch.cartesian_prod(a, b, a), r(2), r(3)),
    same("atleast_3d-list", lambda a, b: torch.cat(torch.atleast_3d([a, b]), 1), r(3), r(1, 3)),
    # splitting
    same("split-int", lambda a: pieces(torch.split(a, 2, 1)), r(2, 5)),
    same("split-sizes", lambda a: pieces(a.split([1, 3, 1], dim=-1)), r(2, 5)),
    same("split_with_sizes", lambda a: pieces(a.split_with_sizes([2, 1])), r(3, 2)),
    same("chunk", lambda a: a.chunk(2, dim=1)[1], r(2, 5)),
    same("chunk-all", lambda a: pieces(torch.chunk(a, 3, -1)), r(2, 7)),
    same("tensor_split-sections", lambda a: pieces(torch.tensor_split(a, 3, 1)), r(2, 7)),
    same("tensor_split-indices", lambda a: pieces(a.tensor_split([1, 4, 2], dim=1)), r(2, 6)),
    same("tensor_split-tensor", lambda a: pieces(torch.tensor_split(a, torch.tensor([-2]))), r(5, 2)),
    same("hsplit", lambda a: pieces(torch.hsplit(a, 2)), r(3, 4)),
    same("vsplit", lambda a: pieces(a.vsplit([1])), r(3, 4)),
    same("dsplit", lambda a: pieces(torch.dsplit(a, 2)), r(2, 1, 4)),
    same("unbind", lambda a: pieces(torch.unbind(a, 1)), r(2, 3)),
    same("unbind-method", lambda a: a.unbind()[1], r(3, 2)),
    same("narrow", lambda a: torch.narrow(a, 1, 1, 2), r(2, 4)),
    same("narrow-negative-start", lambda a: a.narrow(-1, -3, 2), r(2, 4)),
    same("narrow-tensor-start", lambda a: a.narrow(0, torch.tensor(1), 2), r(4, 2)),
    same("select", lambda a: torch.select(a, 1, -1), r(2, 3, 4)),
    same("select-method", lambda a: a.select(0, 1), r(2, 3)),
    # reordering and repeating
    same("rot90", lambda a: torch.rot90(a), r(2, 3)),
    same("rot90-k2", lambda a: a.rot90(2, [1, 2]), r(2, 3, 4)),
    same("rot90-k3", lambda a: torch.rot90(a, 3, (0, 1)), r(2, 3)),
    same("rot90-negative", lambda a: torch.rot90(a, -1, (2, 0)), r(2, 3, 4)),
    same("repeat", lambda a: a.repeat(2, 3), r(2, 3)),
    same("repeat-new-dims", lambda a: a.repeat((2, 1, 2)), r(2, 3)),
    same("tile", lambda a: torch.tile(a, (2,)), r(2, 3)),
    same("tile-method", lambda a: a.tile(2, 1, 3), r(2, 3)),
    same("repeat_interleave", lambda a: torch.repeat_interleave(a, 2), r(2, 3)),
    same("repeat_interleave-dim", lambda a: a.repeat_interleave(3, dim=1), r(2, 3)),
    same("repeat_interleave-tensor", lambda a: a.repeat_interleave(torch.tensor([1, 0, 2]), 0), r(3, 2)),
    same("repeat_interleave-one-count", lambda a: torch.repeat_interleave(a, torch.tensor([2]), -1), r(2, 3)),
    # diagonals and triangles
    same("diag-1d", lambda a: torch.diag(a), r(3)),
    same("diag-1d-offset", lambda a: a.diag(-2), r(3)),
    same("diag-2d", lambda a: torch.diag(a, 1), r(3, 4)),
    same("diagflat", lambda a: torch.diagflat(a, 1), r(2, 2)),
    # copies
    same("detach", lambda a: a.detach() * a + torch.detach(a), r(3)),
    # padding and windows
    same("pad-constant", lambda a: tnf.pad(a, (1, 2, 0, 1), value=0.5), r(2, 3, 4)),
    same("pad-constant-mode", lambda a: tnf.pad(a, [1, 1], "constant"), r(2, 3)),
    same("pad-circular-1d", lambda a: tnf.pad(a, (2, 1), mode="circular"), r(2, 2, 4)),
    same("pad-circular-2d", lambda a: tnf.pad(a, (1, 2, 2, 1), mode="circular"), r(1, 2, 3, 4)),
    same("pad-circular-crop", lambda a: tnf.pad(a, (-1, 2, 1, -1), mode="circular"), r(1, 2, 3, 4)),
    same("pad-circular-3d", lambda a: tnf.pad(a, (1, 0, 0, 1, 1, 1), mode="circular"), r(2, 2, 2, 3)),
    same("unfold-F", lambda a: tnf.unfold(a, (2, 3), padding=1, stride=(1, 2)), r(1, 2, 4, 5)),
    same("fold-F", lambda a: tnf.fold(a, (4, 5), 2, padding=1, stride=2), r(2, 8, 9)),
]


@pytest.mark.parametrize("name,engine_fn,torch_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_autograd(name, engine_fn, torch_fn, inputs, device):
    compare_with_torch(engine_fn, torch_fn, [x.to(device) for x in inputs])


# functions of Variables that must give torch's results for new primitives: finite differences too
GRADCHECKED = {
    "flip",
    "roll",
    "tril-offset",
    "diagonal-offset-dims",
    "undiagonal-diag_embed-dims",
    "unfold_dim-step",
    "fold_dim",
    "pad_edges-reflect-2d",
    "pad_edges-replicate-1d",
    "unpad_edges",
    "clone",
    "pad-circular-crop",
}


@pytest.mark.parametrize("name,engine_fn,inputs", [(c[0], c[1], c[3]) for c in CASES if c[0] in GRADCHECKED])
def test_finite_differences(name, engine_fn, inputs, device):
    xs = [x.to(device) for x in inputs]
    assert ag.gradcheck(engine_fn, xs)
    assert ag.gradgradcheck(engine_fn, xs)


def test_jacobians_batch_the_adjoints():
    """ag.jacobian runs the VJPs batched by torch.vmap: the adjoint primitives batch too."""
    x = r(2, 3, 4)

    def f(t: Any) -> Any:
        out = [t.unfold(2, 2, 1), tnf.pad(t, (1, 2), mode="reflect"), tnf.pad(t, (1, 1), mode="replicate")]
        out += [torch.diagonal(t, 1, 1, 2), torch.roll(t, 1, 0), t.flip(1).triu(), tnf.pad(t, (1, 1), "circular")]
        return torch.cat([o.reshape(-1) for o in out])

    expected = torch.autograd.functional.jacobian(f, x)
    torch.testing.assert_close(ag.jacobian(f)(x), expected)
    torch.testing.assert_close(ag.jacobian(lambda t: torch.diag_embed(t, 1).sum(0))(r(2, 3)).shape, (4, 4, 2, 3))


def test_splits_return_tuples_of_variables_as_torch_does():
    t = r(4, 6)
    v = ag.Variable(t, requires_grad=True)
    for fn in [
        lambda a: a.split(4, 1),
        lambda a: torch.chunk(a, 4, 1),
        lambda a: a.unbind(0),
        lambda a: torch.tensor_split(a, [1, 5], 1),
        lambda a: torch.broadcast_tensors(a, a[:1]),
        lambda a: torch.atleast_2d(a, a),
    ]:
        got, expected = fn(v), fn(t)
        assert type(got) is tuple and len(got) == len(expected)
        assert all(isinstance(g, ag.Variable) and g.shape == e.shape for g, e in zip(got, expected))
    assert isinstance(torch.atleast_1d(v), ag.Variable)
    counts = torch.repeat_interleave(torch.tensor([2, 0, 1]))
    assert torch.equal(ag.repeat_interleave(ag.Variable(torch.tensor([2, 0, 1]))), counts)


def test_functions_take_plain_tensors_too():
    t = r(2, 3)
    assert torch.equal(ag.flip(t, [0]), t.flip(0)) and torch.equal(ag.roll(t, 1, 1), t.roll(1, 1))
    assert torch.equal(ag.pad(t, (1, 1), mode="reflect"), tnf.pad(t, (1, 1), mode="reflect"))
    assert torch.equal(ag.repeat(t, 2, 1), t.repeat(2, 1)) and torch.equal(ag.tril(t), t.tril())


def test_clone_copies_and_contiguous_copies_only_when_needed():
    v = ag.Variable(r(2, 3), requires_grad=True)
    c = v.clone()
    c.data.add_(1)
    assert not torch.equal(c.data, v.data)
    assert v.contiguous() is v
    w = v.T.contiguous()
    assert w.data.is_contiguous() and w.op == "clone"
    channels_last = ag.Variable(r(1, 2, 3, 3)).contiguous(memory_format=torch.channels_last)
    assert channels_last.data.is_contiguous(memory_format=torch.channels_last)


def test_shape_ops_keep_nothing_for_backward():
    """Every shape primitive is linear: its node keeps shapes only, never the input's values."""
    v = ag.Variable(r(3, 4, 5), requires_grad=True)
    for out in [v.flip(0), v.roll(1, 2), v.tril(), v.diagonal(), v.unfold(1, 2, 1), tnf.pad(v, (1, 1), "reflect")]:
        assert out.node.saved_bytes() == 0, out.op


# --- torch's exceptions ---------------------------------------------------------------------------
X = r(2, 3, 4)

ERRORS = {
    "view": lambda x: x.view(-1, 5),
    "view-strides": lambda x: x.transpose(0, 1).view(-1),
    "reshape": lambda x: x.reshape(5, -1),
    "expand": lambda x: x.expand(2, 3, 5),
    "expand-leading-minus-one": lambda x: x.expand(-1, 2, 3, 4),
    "cat-sizes": lambda x: torch.cat([x, x[:, :1, :2]]),
    "cat-dim": lambda x: torch.cat([x, x], 3),
    "split-sizes": lambda x: x.split([1, 2], 2),
    "split-zero": lambda x: torch.split(x, 0),
    "chunk-zero": lambda x: x.chunk(0),
    "hsplit": lambda x: torch.hsplit(x, 2),
    "unbind-dim": lambda x: x.unbind(3),
    "select": lambda x: x.select(0, 5),
    "select-dim": lambda x: torch.select(x, 3, 0),
    "narrow": lambda x: x.narrow(1, 2, 2),
    "t": lambda x: x.t(),
    "mT": lambda x: x[0, 0].mT,
    "mH": lambda x: x[0, 0].mH,
    "H": lambda x: x.H,
    "H-1d": lambda x: x[0, 0].H,
    "adjoint": lambda x: x[0, 0].adjoint(),
    "transpose": lambda x: torch.transpose(x, 0, 3),
    "swapaxes": lambda x: x.swapaxes(-4, 0),
    "permute": lambda x: x.permute(0, 1),
    "permute-repeated": lambda x: torch.permute(x, (0, 1, 1)),
    "movedim": lambda x: torch.movedim(x, (0, 0), (1, 2)),
    "movedim-lengths": lambda x: x.movedim((0, 1), 2),
    "unflatten": lambda x: x.unflatten(2, (3, -1)),
    "flip-repeated": lambda x: torch.flip(x, (0, 0)),
    "flip-dim": lambda x: x.flip(3),
    "fliplr": lambda x: torch.fliplr(x[0, 0]),
    "flipud": lambda x: torch.flipud(x[0, 0, 0]),
    "roll": lambda x: torch.roll(x, (1, 2), 0),
    "roll-dim": lambda x: x.roll(1, 5),
    "rot90": lambda x: torch.rot90(x, 1, (0, 0)),
    "rot90-dims": lambda x: x.rot90(1, [0]),
    "repeat": lambda x: x.repeat(2),
    "repeat-negative": lambda x: x.repeat(1, -1, 1),
    "tile-negative": lambda x: x.tile(-2),
    "repeat_interleave": lambda x: x.repeat_interleave(-1),
    "repeat_interleave-sizes": lambda x: x.repeat_interleave(torch.tensor([1, 2]), 1),
    "diag": lambda x: torch.diag(x),
    "diagonal": lambda x: x.diagonal(0, 1, 1),
    "diagonal-dim": lambda x: torch.diagonal(x, 0, 0, 3),
    "diag_embed": lambda x: torch.diag_embed(x, 0, 1, 1),
    "tril": lambda x: x[0, 0].tril(),
    "unfold": lambda x: x.unfold(1, 5, 1),
    "unfold-step": lambda x: x.unfold(1, 2, 0),
    "unfold-dim": lambda x: x.unfold(3, 1, 1),
    "pad-odd": lambda x: tnf.pad(x, (1, 1, 1)),
    "pad-reflect-size": lambda x: tnf.pad(x, (4, 1), mode="reflect"),
    "pad-reflect-value": lambda x: tnf.pad(x, (1, 1), mode="reflect", value=1.0),
    "pad-reflect-dims": lambda x: tnf.pad(x, (1, 1, 1, 1, 1, 1), mode="reflect"),
    "pad-replicate-dims": lambda x: tnf.pad(x[0, 0], (1, 1), mode="replicate"),
    "pad-circular-wrap": lambda x: tnf.pad(x, (5, 1), mode="circular"),
    "pad-mode": lambda x: tnf.pad(x, (1, 1), mode="mirror"),
    "broadcast_tensors": lambda x: torch.broadcast_tensors(x, x[..., :2]),
    "broadcast_to": lambda x: torch.broadcast_to(x, (3, 4)),
    "stack-shapes": lambda x: torch.stack([x, x[:1]]),
    "block_diag": lambda x: torch.block_diag(x[0], x),
    "cartesian_prod": lambda x: torch.cartesian_prod(x[0, 0], x[0]),
    "unsqueeze": lambda x: x.unsqueeze(4),
}


def torch_error(fn: Callable[[], Any]) -> Exception:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (the exception torch raises is the expectation)
        return e
    raise AssertionError("torch raised nothing")


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_arguments_raise_what_torch_raises(case):
    fn = ERRORS[case]
    expected = torch_error(lambda: fn(X.clone()))
    with pytest.raises(type(expected), match=re.escape(str(expected).splitlines()[0])) as got:
        fn(ag.Variable(X.clone(), requires_grad=True))
    assert type(got.value) is type(expected)


def test_empty_sequences_raise_what_torch_raises():
    with pytest.raises(ValueError, match="expected a non-empty list of Tensors"):
        ag.cat([])
    with pytest.raises(RuntimeError, match="stack expects a non-empty TensorList"):
        ag.stack([])


# --- repeat: torch's repeat_backward order, and a new tensor --------------------------------------------

REPEATS = [((3, 4), (2, 1, 2)), ((3, 4), (5, 4, 1, 3)), ((7,), (3, 5)), ((3, 1, 4), (2, 3, 7, 2)), ((3, 4), (2, 3))]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("shape,reps", REPEATS, ids=str)
def test_repeat_gradient_sums_as_torchs_repeat_backward(shape, reps, dtype):
    """torch sums a repeat's gradient over each new leading dim in turn, then over the copies of every own
    dim at once: values and gradients bitwise (repeat and tile)."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).to(dtype)
    assert_torch_bits(lambda a: a.repeat(*reps) * 1.5, x, second_order=False)
    assert_torch_bits(lambda a: torch.tile(a, reps) ** 2, x)


@pytest.mark.parametrize("reps", [(1, 1), (2, 1, 1), (2, 3)], ids=str)
def test_repeat_returns_a_new_tensor_as_torch(reps):
    """Even where the tiling is only a view (no own dim repeated): a write to the result leaves the input."""
    x = ag.Variable(r(3, 4))
    before = x.data.clone()
    y = x.repeat(*reps)
    y.add_(1.0)
    assert torch.equal(x.data, before) and y.data.is_contiguous()
    assert torch.equal(y.data, before.repeat(*reps) + 1.0)
