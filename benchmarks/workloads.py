"""The measured workloads: each builds its state once and returns a callable that runs one repetition.

Every engine workload has a PyTorch counterpart computing the same thing, so a ratio can be taken
within one run of one process on one machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as tnf

import autograd_engine as ag
import nn
from examples.noise2noise.architectures import build

Step = Callable[[], object]


# --- the seed model, three ways --------------------------------------------------------------------
def _lr(arch: str) -> float:
    return 5.0 if arch == "seed" else 0.01  # the seed recipe's; small enough for the deeper DnCNN


def _engine_model(arch: str, lowering: str, device: str) -> nn.Module:
    """The engine's model with every convolution set to `lowering`."""
    model = build(arch).to(device)
    for m in model.modules():
        if hasattr(m, "lowering"):
            m.lowering = lowering
    return model


def engine_train_step(
    batch: int,
    lowering: str,
    device: str = "cpu",
    checkpointed: bool = False,
    arch: str = "seed",
    compiled: bool = False,
) -> Step:
    """The engine's train step; `compiled`: the same step through ag.compile (timed once it replays)."""
    step, x, y = _engine_step(batch, lowering, device, checkpointed, arch)
    run = ag.compile(step) if compiled else step
    return lambda: run(x, y).item()


def compiled_first_call(batch: int, lowering: str = "native", device: str = "cpu") -> tuple[Step, Step]:
    """(setup, measured): a fresh ag.compile of the engine's train step, and its first call, which traces."""
    step, x, y = _engine_step(batch, lowering, device, False, "seed")
    fresh: dict[str, Any] = {}

    def setup() -> None:
        fresh["run"] = ag.compile(step)

    return setup, lambda: fresh["run"](x, y).item()


def _engine_step(
    batch: int, lowering: str, device: str, checkpointed: bool, arch: str
) -> tuple[Callable[[torch.Tensor, torch.Tensor], Any], torch.Tensor, torch.Tensor]:
    model = _engine_model(arch, lowering, device)
    opt = nn.SGD(model.parameters(), lr=_lr(arch))
    x, y = torch.rand(batch, 3, 32, 32, device=device), torch.rand(batch, 3, 32, 32, device=device)
    loss_fn = nn.MSE()

    forward = _checkpointed(model, arch) if checkpointed else model

    def step(x: torch.Tensor, y: torch.Tensor) -> Any:
        opt.zero_grad()
        loss = loss_fn(forward(ag.Variable(x)), y)
        loss.backward()
        opt.step()
        return loss.detach()

    return step, x, y


def _checkpointed(model: Any, arch: str, size: int = 4) -> Callable[[Any], Any]:
    """The model with its layers run as checkpointed segments of `size` modules (the last segment plain:
    it would be recomputed at once). Only a stack deeper than the seed model gains from it: there each
    ReLU keeps the output that the next convolution keeps anyway, so no segment has anything to drop."""
    layers = list(model.body if arch == "dncnn" else model)
    segments = [nn.Sequential(*layers[i : i + size]) for i in range(0, len(layers), size)]

    def forward(x: Any) -> Any:
        h = x
        for segment in segments[:-1]:
            h = ag.checkpoint(segment, h)
        out = segments[-1](h)
        return x - out if arch == "dncnn" else out  # DnCNN predicts the noise

    return forward


def _unfold_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, pad: int) -> torch.Tensor:
    n, _, h, wd = x.shape
    o, c, k, _ = w.shape
    cols = tnf.unfold(x, k, padding=pad, stride=stride)
    out = w.reshape(o, c * k * k) @ cols + b.reshape(o, 1)
    return out.reshape(n, o, (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1)


def _fold_tconv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, pad: int, op: int) -> torch.Tensor:
    n, c, h, wd = x.shape
    _, o, k, _ = w.shape
    cols = w.reshape(c, o * k * k).T @ x.reshape(n, c, h * wd)
    size = ((h - 1) * stride - 2 * pad + k + op, (wd - 1) * stride - 2 * pad + k + op)
    return tnf.fold(cols, size, k, padding=pad, stride=stride) + b.reshape(o, 1, 1)


def _torch_forward(model: torch.nn.Module, same_graph: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The torch.nn model itself, or (same_graph, seed model only) it over the engine's 'unfold' lowering."""
    if not same_graph:
        return model
    w = list(model.parameters())

    def unfolded(x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(_unfold_conv(x, w[0], w[1], 2, 1))
        h = torch.relu(_unfold_conv(h, w[2], w[3], 2, 1))
        h = torch.relu(_fold_tconv(h, w[4], w[5], 2, 1, 1))
        return torch.sigmoid(_fold_tconv(h, w[6], w[7], 2, 1, 1))

    return unfolded


def torch_train_step(batch: int, same_graph: bool, device: str = "cpu", arch: str = "seed") -> Step:
    """torch.nn's model, or (same_graph, seed model only) torch autograd over the engine's 'unfold' lowering."""
    model = build(arch, "torch").to(device)
    opt = torch.optim.SGD(model.parameters(), lr=_lr(arch))
    x, y = torch.rand(batch, 3, 32, 32, device=device), torch.rand(batch, 3, 32, 32, device=device)
    forward = _torch_forward(model, same_graph)

    def step() -> float:
        opt.zero_grad()
        loss = tnf.mse_loss(forward(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def engine_inference(lowering: str, device: str = "cpu", size: int = 512) -> Step:
    model = _engine_model("seed", lowering, device)
    x = torch.rand(1, 3, size, size, device=device)

    def run() -> object:
        with ag.no_grad():
            return model(ag.Variable(x)).data.sum().item()

    return run


def torch_inference(device: str = "cpu", size: int = 512, same_graph: bool = False) -> Step:
    """torch.nn's seed model on one image, or (same_graph) torch over the engine's 'unfold' lowering."""
    forward = _torch_forward(build("seed", "torch").to(device), same_graph)
    x = torch.rand(1, 3, size, size, device=device)

    def run() -> object:
        with torch.no_grad():
            return forward(x).sum().item()

    return run


# --- Python overhead: chains of tiny ops -----------------------------------------------------------
def _chain(y: Any, n: int) -> Any:
    """n tiny ops, alternately adding and scaling, written once for Variables and tensors."""
    for i in range(n):
        y = y * 1.0001 if i % 2 else y + 0.5
    return y.sum()


def _chain_calls(y: Any, n: int) -> Any:
    """The same chain spelled with torch functions: on Variables each call goes through torch dispatch."""
    for i in range(n):
        y = torch.mul(y, 1.0001) if i % 2 else torch.add(y, 0.5)
    return torch.sum(y)


def _leaf(engine: bool, start: torch.Tensor) -> Any:
    return ag.Variable(start, requires_grad=True) if engine else start.clone().requires_grad_()


def chain(n: int, engine: bool, torch_calls: bool = False) -> Step:
    """Forward and backward of an n-op chain on 16 elements (written with operators, or `torch_calls`)."""
    start = torch.randn(16)
    build = _chain_calls if torch_calls else _chain

    def run() -> object:
        x = _leaf(engine, start)
        build(x, n).backward()
        return x.grad

    return run


def compiled_chain(n: int) -> Step:
    """The chain's forward and backward through ag.compile, returning the value with the gradient (so that a
    replay runs the forward's kernels too, as the other variants do)."""
    start = torch.randn(16)

    def forward_backward(x: torch.Tensor) -> Any:
        v = ag.Variable(x, requires_grad=True)
        loss = _chain(v, n)
        loss.backward()
        return loss.detach(), v.grad

    return functools.partial(ag.compile(forward_backward), start)


def chain_backward(n: int, engine: bool) -> tuple[Callable[[], object], Callable[[], object]]:
    """(setup, measured): the forward is built in setup, only backward is timed."""
    state: dict[str, Any] = {}

    def setup() -> None:
        state["loss"] = _chain(_leaf(engine, torch.randn(16)), n)

    return setup, lambda: state["loss"].backward()


# --- second order ----------------------------------------------------------------------------------
def mlp_params(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w1": torch.randn(16, 40, generator=g) / 4,
        "b1": torch.zeros(40),
        "w2": torch.randn(40, 8, generator=g) / 6,
        "b2": torch.zeros(8),
    }  # 1,008 parameters


def _mlp_loss(lib: Any, flat: Any, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> Any:
    """The MLP loss written once for both libraries (`lib` provides reshape, tanh and mse)."""
    p, i = {}, 0
    for k, v in params.items():
        p[k] = lib.reshape(flat[i : i + v.numel()], tuple(v.shape))
        i += v.numel()
    h = lib.tanh(x @ p["w1"] + p["b1"])
    return lib.mse(h @ p["w2"] + p["b2"], y)


TORCH_LIB = SimpleNamespace(reshape=torch.reshape, tanh=torch.tanh, mse=tnf.mse_loss)


def hessian(engine: bool) -> Step:
    """Hessian of the MLP loss in its 1,008 parameters: ag.hessian, or torch.func.hessian."""
    params = mlp_params()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 16, generator=g), torch.randn(32, 8, generator=g)
    flat = torch.cat([p.reshape(-1) for p in params.values()])
    if engine:
        return lambda: ag.hessian(lambda f: _mlp_loss(ag, f, params, x, y))(flat)
    return lambda: torch.func.hessian(lambda f: _mlp_loss(TORCH_LIB, f, params, x, y))(flat)


# --- fused primitives against the composites they replace (and torch) ------------------------------
def _softmax_composite(x: Any) -> Any:
    return ag.exp(x - ag.logsumexp(x, -1, keepdim=True))


def _gelu_composite(x: Any) -> Any:
    return 0.5 * x * (1.0 + ag.erf(x * 0.7071067811865476))


def _layer_norm_composite(x: Any) -> Any:
    centred = x - ag.mean(x, -1, keepdim=True)
    return centred / ag.sqrt(ag.mean(centred * centred, -1, keepdim=True) + 1e-5)


ACTIVATIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "softmax": (lambda x: tnf.softmax(x, -1), _softmax_composite),
    "gelu": (tnf.gelu, _gelu_composite),
    "layer_norm": (lambda x: tnf.layer_norm(x, x.shape[-1:]), _layer_norm_composite),
}
"""name -> (the torch spelling, which records the fused primitive on Variables; the composite)."""


def activation(name: str, variant: str, shape: tuple[int, ...] = (256, 1024)) -> Step:
    """Forward and backward of an activation: 'torch' (autograd), 'fused' or 'composite' (the engine)."""
    torch_fn, composite = ACTIVATIONS[name]
    x0, g0 = torch.randn(shape), torch.randn(shape)
    fn = composite if variant == "composite" else torch_fn

    def run() -> object:
        x = x0.clone().requires_grad_() if variant == "torch" else ag.Variable(x0, requires_grad=True)
        fn(x).backward(g0)
        return x.grad

    return run


# --- the GPT example's train step, three ways ------------------------------------------------------
def gpt_train_step(variant: str, batch: int = 32, device: str = "cpu") -> Step:
    """One training step of examples/gpt's default model and options (forward, backward, clipping, AdamW, the
    schedule) on `batch` windows: 'engine' (ag.value_and_grad of the functional model, eager), 'engine compiled'
    (the same replayed by ag.compile, as `train` does by default), 'torch autograd' (the same functional model
    on tensors that require grad, torch.optim.AdamW) or 'torch.nn' (the twin)."""
    from examples.gpt.backends import make_backend, make_schedule, param_groups
    from examples.gpt.config import BETAS, TrainConfig
    from examples.gpt.data import Vocab, builtin_corpus, random_windows
    from examples.gpt.model import init_state, loss_fn, named_leaves, tree_of

    backend = "torch" if variant == "torch.nn" else "engine"
    cfg = TrainConfig(batch_size=batch, backend=backend, compile=variant == "engine compiled")
    corpus = builtin_corpus()
    vocab = Vocab.of(corpus.train + corpus.val)
    model = cfg.model(len(vocab))
    x, y = random_windows(vocab.encode(corpus.train), cfg.context, batch, torch.Generator().manual_seed(0))
    x, y = x.to(device), y.to(device)
    if variant != "torch autograd":
        backend = make_backend(cfg, model, torch.device(device))
        return lambda: backend.train_step(x, y)
    params = tree_of({k: v.to(device).requires_grad_() for k, v in init_state(model, cfg.seed).items()})
    opt = torch.optim.AdamW(param_groups(named_leaves(params), cfg.weight_decay), lr=cfg.lr, betas=BETAS)
    schedule = make_schedule(torch.optim.lr_scheduler, opt, cfg)
    leaves = [p for _, p in named_leaves(params)]

    def step() -> float:
        opt.zero_grad()
        loss = loss_fn(params, x, y, model, True, tnf)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(leaves, cfg.grad_clip)
        opt.step()
        schedule.step()
        return loss.item()

    return step
