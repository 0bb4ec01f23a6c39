"""Randomized differential testing: random programs, run by the engine and by torch.autograd.

A program is a list of ops over a pool of values (inputs of broadcastable shapes, then each op's
result); operands are drawn from the whole pool, so values are shared and reused. Each program is
checked with `compare_with_torch`: values, first derivatives and second derivatives, in float64.
A bounded number of programs runs by default; RANDOM_PROGRAMS=N runs N of them.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import torch
import torch.nn.functional as tnf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_engine as ag

from .oracles import compare_with_torch

SHAPE = (2, 3)
INPUT_SHAPES = [(2, 3), (1, 3), (3,), (2, 1)]
IDX = torch.tensor([2, 0, 2])  # repeats: gradients must add up

ENGINE = SimpleNamespace(
    exp=ag.exp,
    tanh=ag.tanh,
    sigmoid=ag.sigmoid,
    relu=ag.relu,
    softplus=ag.softplus,
    log=ag.log,
    abs=ag.abs,
    maximum=ag.maximum,
    where=ag.where,
    cat=ag.cat,
    matmul=ag.matmul,
    unfold=ag.unfold,
    fold=ag.fold,
    softmax=ag.softmax,
    logsumexp=ag.logsumexp,
    expand=lambda a: ag.expand(a, SHAPE),
    reshape=ag.reshape,
    T=lambda a: ag.transpose(a, 0, 1),
    sum=lambda a, d: ag.sum(a, d, keepdim=True),
    max=lambda a, d: ag.max(a, d, keepdim=True).values,
    raw=lambda a: a.data,
)
TORCH = SimpleNamespace(
    exp=torch.exp,
    tanh=torch.tanh,
    sigmoid=torch.sigmoid,
    relu=torch.relu,
    softplus=tnf.softplus,
    log=torch.log,
    abs=torch.abs,
    maximum=torch.maximum,
    where=torch.where,
    cat=torch.cat,
    matmul=torch.matmul,
    unfold=tnf.unfold,
    fold=tnf.fold,
    softmax=torch.softmax,
    logsumexp=lambda a, d: torch.logsumexp(a, d),
    expand=lambda a: a.expand(SHAPE),
    reshape=torch.reshape,
    T=lambda a: a.T,
    sum=lambda a, d: a.sum(d, keepdim=True),
    max=lambda a, d: a.max(d, keepdim=True).values,
    raw=lambda a: a.detach(),
)

# name -> (arity, op written once against either namespace F)
OPS = {
    "exp-tanh": (1, lambda F, a: F.exp(F.tanh(a))),
    "sigmoid": (1, lambda F, a: F.sigmoid(a)),
    "tanh": (1, lambda F, a: F.tanh(a)),
    "relu": (1, lambda F, a: F.relu(a)),
    "softplus": (1, lambda F, a: F.softplus(a)),
    "log1p-square": (1, lambda F, a: F.log(1.0 + a * a)),
    "abs": (1, lambda F, a: F.abs(a)),
    "neg-square": (1, lambda F, a: -(a * a)),
    "add": (2, lambda F, a, b: a + b),
    "sub": (2, lambda F, a, b: a - b),
    "mul": (2, lambda F, a, b: a * b),
    "div": (2, lambda F, a, b: a / (1.5 + b * b)),
    "pow": (2, lambda F, a, b: (1.0 + a * a) ** F.tanh(b)),
    "maximum": (2, lambda F, a, b: F.maximum(a, b)),
    "maximum-tie": (1, lambda F, a: F.maximum(a, a * 1.0)),
    "where": (2, lambda F, a, b: F.where(F.raw(a) > 0, a, b)),
    "sum-rows": (1, lambda F, a: F.sum(F.expand(a), 1)),
    "max-cols": (1, lambda F, a: F.max(F.expand(a), 0)),
    "max-tie": (1, lambda F, a: F.max(F.cat([F.expand(a), F.expand(a)], 0), 0)),
    "softmax": (1, lambda F, a: F.softmax(F.expand(a), 1)),
    "logsumexp": (1, lambda F, a: F.reshape(F.logsumexp(F.expand(a), 1), (2, 1))),
    "index": (1, lambda F, a: F.expand(a)[:, IDX]),
    "cat-slice": (2, lambda F, a, b: F.cat([F.expand(a), F.expand(b)], 0)[1:3]),
    "matmul": (3, lambda F, a, b, c: F.matmul(F.matmul(F.expand(a), F.T(F.expand(b))), F.expand(c)) / 3.0),
    "unfold-fold": (
        1,
        lambda F, a: F.reshape(F.fold(F.unfold(F.reshape(F.expand(a), (1, 1, 2, 3)), (1, 2)), (2, 3), (1, 2)), SHAPE),
    ),
}

# The same programs spelled with torch's own functions, run on tensors and on Variables (torch dispatch)
TORCH_OPS = {
    "sin-cos": (1, lambda a: torch.sin(a) * torch.cos(a)),
    "atan2": (2, lambda a, b: torch.atan2(a, b + 3.0)),
    "erf-expm1": (1, lambda a: torch.erf(a) + torch.expm1(a * 0.5)),
    "log1p-abs": (1, lambda a: torch.log1p(a.abs())),
    "hypot": (2, lambda a, b: torch.hypot(a, b) + 0.1),
    "clamp-tensor": (2, lambda a, b: torch.clamp(a, min=b - 0.5, max=b + 0.5)),
    "lerp": (3, lambda a, b, c: torch.lerp(a, b, torch.sigmoid(c))),
    "var": (1, lambda a: a.expand(SHAPE).var(dim=1, keepdim=True)),
    "std-mean": (1, lambda a: torch.std_mean(a.expand(SHAPE), dim=0, keepdim=True)[0]),
    "prod": (1, lambda a: a.expand(SHAPE).prod(1, keepdim=True)),
    "cumsum": (1, lambda a: torch.cumsum(a.expand(SHAPE), 1)),
    "norm": (1, lambda a: torch.linalg.vector_norm(a.expand(SHAPE), dim=1, keepdim=True)),
    "sort": (1, lambda a: torch.sort(a.expand(SHAPE), dim=1).values),
    "topk": (1, lambda a: torch.topk(a.expand(SHAPE), 2, dim=1).values[:, :1]),
    "gather": (1, lambda a: torch.gather(a.expand(SHAPE), 1, IDX.expand(2, 3))),
    "index-select": (1, lambda a: a.expand(SHAPE).index_select(1, IDX)),
    "masked-fill": (1, lambda a: a.masked_fill(a.detach() > 0.5, 0.25)),
    "flip-roll": (1, lambda a: torch.roll(torch.flip(a.expand(SHAPE), [1]), 1, 1)),
    "chunk": (1, lambda a: torch.cat(torch.chunk(a.expand(SHAPE), 3, dim=1)[::-1], dim=1)),
    "repeat": (1, lambda a: a.expand(SHAPE).repeat(1, 2)[:, 1:4]),
    "tril": (1, lambda a: torch.tril(a.expand(SHAPE), diagonal=1)),
    "einsum": (2, lambda a, b: torch.einsum("ij,kj->ik", a.expand(SHAPE), b.expand(SHAPE)).sum(1, keepdim=True)),
    "softmax-f": (1, lambda a: tnf.softmax(a.expand(SHAPE), dim=-1)),
    "gelu": (1, lambda a: tnf.gelu(a)),
    "silu-elu": (1, lambda a: tnf.silu(a) + tnf.elu(a)),
    "leaky-relu": (1, lambda a: tnf.leaky_relu(a, 0.1)),
    "layer-norm": (1, lambda a: tnf.layer_norm(a.expand(SHAPE), (3,))),
    "normalize": (1, lambda a: tnf.normalize(a.expand(SHAPE), dim=1)),
    "cross-entropy": (1, lambda a: tnf.cross_entropy(a.expand(SHAPE), IDX[:2], reduction="none").reshape(2, 1)),
    "where": (2, lambda a, b: torch.where(a.detach() > 0, a, b)),
    "minimum": (2, lambda a, b: torch.minimum(a, b)),
    "amax": (1, lambda a: torch.amax(a.expand(SHAPE), dim=1, keepdim=True)),
    "mul-add": (2, lambda a, b: torch.add(a, b, alpha=0.5) * b),
}


@st.composite
def programs(draw, ops=OPS):
    n_inputs = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(INPUT_SHAPES)) for _ in range(n_inputs)]
    steps = []
    for k in range(draw(st.integers(1, 6))):
        name = draw(st.sampled_from(sorted(ops)))
        operands = [draw(st.integers(0, n_inputs + k - 1)) for _ in range(ops[name][0])]
        steps.append((name, operands))
    outputs = draw(st.lists(st.integers(0, n_inputs + len(steps) - 1), min_size=1, max_size=3))
    return shapes, steps, outputs


def run(F, steps, outputs, *inputs):
    pool = list(inputs)
    for name, operands in steps:
        pool.append(OPS[name][1](F, *[pool[i] for i in operands]))
    out = pool[outputs[0]]
    for i in outputs[1:]:
        out = out + pool[i]  # several results feed the output: shared subexpressions on every path
    return out * 1.0


@settings(
    max_examples=int(os.environ.get("RANDOM_PROGRAMS", "40")),
    derandomize="RANDOM_PROGRAMS" not in os.environ,  # the default run is the same every time; more explore
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],  # device: constant
)
@given(program=programs(), seed=st.integers(0, 2**16))
def test_random_programs_match_torch(program, seed, device):
    shapes, steps, outputs = program
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(s, dtype=torch.float64, generator=gen).to(device) for s in shapes]
    compare_with_torch(
        lambda *xs: run(ENGINE, steps, outputs, *xs),
        lambda *xs: run(TORCH, steps, outputs, *xs),
        inputs,
        rtol=1e-9,
        atol=1e-10,
        seed=seed,
    )


def run_torch_spelled(steps, outputs, *inputs):
    """A program of TORCH_OPS: the same code for tensors and Variables (through torch dispatch)."""
    pool = list(inputs)
    for name, operands in steps:
        pool.append(TORCH_OPS[name][1](*[pool[i] for i in operands]))
    out = pool[outputs[0]]
    for i in outputs[1:]:
        out = out + pool[i]
    return out * 1.0


@settings(
    max_examples=int(os.environ.get("RANDOM_PROGRAMS", "40")),
    derandomize="RANDOM_PROGRAMS" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(program=programs(TORCH_OPS), seed=st.integers(0, 2**16))
def test_random_torch_spelled_programs_match_torch(program, seed, device):
    shapes, steps, outputs = program
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(s, dtype=torch.float64, generator=gen).to(device) for s in shapes]
    program_fn = lambda *xs: run_torch_spelled(steps, outputs, *xs)  # noqa: E731 (one program, both libraries)
    compare_with_torch(program_fn, program_fn, inputs, rtol=1e-9, atol=1e-10, seed=seed)
