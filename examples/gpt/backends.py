"""The two backends a GPT trains on: the functional model on the engine (ag.value_and_grad of model.loss_fn
over the parameter pytree, replayed by ag.compile unless --no-compile; nn.optim.AdamW, nn's schedulers and
clipping), and its torch.nn twin (torch.optim.AdamW, torch's schedulers and clipping); the same
initialisation, parameter groups, schedule and update rule, so that fed the same batches they train alike."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

import torch

import autograd_engine as ag
import nn

from .config import BETAS, MIN_LR_FRACTION, TrainConfig
from .model import GPTConfig, ParameterTree, forward, init_params, init_state, loss_fn
from .twin import GPT


class Backend(Protocol):
    """A model and its optimizer, as the trainer and sampling use them."""

    core: Any
    """The parameters as a Module (nn's ParameterTree or the torch.nn twin): state_dict, load_state_dict."""
    opt: Any
    """AdamW (nn's or torch.optim's)."""
    schedule: Any
    """The learning-rate schedule (nn's or torch's SequentialLR / CosineAnnealingLR), stepped per step."""

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One update on token ids x and next-token targets y (batch, time); returns the batch's loss."""
        ...

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """The mean loss on x, y without dropout and without recording gradients."""
        ...

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, time, vocab) without dropout and without recording gradients."""
        ...

    def distribute(self) -> None:
        """Average gradients over the processes of the running torch.distributed group."""
        ...


def param_groups(named: Any, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW's groups: weight decay on the matrices (embeddings and linear weights), none on biases and
    layer norms, as GPT training does."""
    params = list(named)
    return [
        {"params": [p for _, p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for _, p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def make_schedule(schedulers: ModuleType, opt: Any, cfg: TrainConfig) -> Any:
    """Linear warm-up from lr / warmup over `warmup` steps, then cosine decay to MIN_LR_FRACTION * lr at the
    last step; `schedulers` is nn.optim.lr_scheduler or torch.optim.lr_scheduler (the same names)."""
    cosine = schedulers.CosineAnnealingLR(opt, T_max=max(cfg.steps - cfg.warmup, 1), eta_min=cfg.lr * MIN_LR_FRACTION)
    if cfg.warmup == 0:
        return cosine
    warm = schedulers.LinearLR(opt, start_factor=1 / cfg.warmup, end_factor=1.0, total_iters=cfg.warmup)
    return schedulers.SequentialLR(opt, [warm, cosine], milestones=[cfg.warmup])


class EngineBackend:
    """The functional model on autograd_engine: params is the pytree, core its Module view."""

    def __init__(self, cfg: TrainConfig, model: GPTConfig, device: torch.device) -> None:
        self.cfg, self.model = cfg, model
        self.params = init_params(model, cfg.seed, cfg.torch_dtype)
        self.core = ParameterTree(self.params).to(device)
        self.opt = nn.optim.AdamW(param_groups(self.core.named_parameters(), cfg.weight_decay), lr=cfg.lr, betas=BETAS)
        self.schedule = make_schedule(nn.optim.lr_scheduler, self.opt, cfg)
        # --compile replays the forward and backward (the loss and the gradients); clipping, AdamW (its bias
        # correction reads the step count on the host) and the schedule (a new lr every step) stay outside
        gradients = ag.value_and_grad(loss_fn)
        self.value_and_grad = ag.compile(gradients) if cfg.compile else gradients
        self.ddp: nn.parallel.DistributedDataParallel | None = None

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        # on the parameters' tensors: given Variables that require grad, value_and_grad would record its own
        # backward for higher derivatives (and keep that graph)
        loss, grads = self.value_and_grad(ag.tree_map(lambda p: p.data, self.params), x, y, self.model, True)
        for p, g in zip(ag.tree_flatten(self.params)[0], ag.tree_flatten(grads)[0]):
            p.grad = ag.Variable(g)
        if self.ddp is not None:
            self.ddp.reduce_gradients()
        nn.utils.clip_grad_norm_(self.core.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.schedule.step()
        return loss.item()

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        with ag.no_grad():
            return float(loss_fn(self.params, x, y, self.model).item())

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        with ag.no_grad():
            return forward(self.params, idx, self.model).data

    def distribute(self) -> None:
        """Broadcast rank 0's parameters; train_step then averages the gradients (value_and_grad returns them,
        so the wrapper's reduction is called directly rather than from backward hooks)."""
        self.ddp = nn.parallel.DistributedDataParallel(self.core)


class TorchBackend:
    """The torch.nn twin, loaded with the engine's initial parameters."""

    def __init__(self, cfg: TrainConfig, model: GPTConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.core = GPT(model).to(cfg.torch_dtype)
        self.core.load_state_dict(init_state(model, cfg.seed, cfg.torch_dtype))
        self.core.to(device)
        self.trained: Any = self.core
        self.opt = torch.optim.AdamW(
            param_groups(self.core.named_parameters(), cfg.weight_decay), lr=cfg.lr, betas=BETAS
        )
        self.schedule = make_schedule(torch.optim.lr_scheduler, self.opt, cfg)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.core.train()
        self.opt.zero_grad()
        logits = self.trained(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.core.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.schedule.step()
        return loss.item()

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.core.eval()
        with torch.no_grad():
            return float(self.core.loss(x, y).item())

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        self.core.eval()
        with torch.no_grad():
            return self.core(idx)

    def distribute(self) -> None:
        self.trained = torch.nn.parallel.DistributedDataParallel(self.core)


def make_backend(cfg: TrainConfig, model: GPTConfig, device: torch.device) -> Backend:
    return (EngineBackend if cfg.backend == "engine" else TorchBackend)(cfg, model, device)
