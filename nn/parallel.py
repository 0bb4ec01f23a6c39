"""Data parallelism on torch.distributed (gloo on CPU, NCCL on CUDA), launched with `torchrun`.

`DistributedDataParallel(module)` broadcasts the parameters from rank 0 when it wraps the module;
after each backward it averages the gradients of all ranks, packed into a few flat buckets (one
all-reduce per bucket, not per parameter). Any optimizer works, since `.grad` is simply the average.
`no_sync()` skips the reduction, for gradient accumulation.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist

from autograd_engine.backward import queue_callback

from .module import Module, Parameter


class DistributedError(RuntimeError):
    """A collective failed: another rank stopped, or it did not answer within the timeout."""


def init_from_env(timeout_s: float = 300.0, backend: str | None = None) -> bool:
    """Join the process group that `torchrun` describes in the environment; False, doing nothing, when
    not launched that way. `backend` defaults to NCCL when CUDA is available and gloo otherwise; pass
    "gloo" for processes that train on the CPU of a machine that has GPUs."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return False
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True


def leave() -> None:
    """Leave the process group that `init_from_env` joined, as a process must before it exits: a gloo
    group left to the interpreter's shutdown can abort the process ("terminate called ...")."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(name: str = "auto") -> torch.device:
    """The device this process trains on: "auto" is CUDA when available, else the CPU; under torchrun
    a plain "cuda" is this process's own GPU, cuda:LOCAL_RANK (one GPU per process, as NCCL needs)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: no CUDA device is available here; use cpu or auto")
    if name != "cuda" or "LOCAL_RANK" not in os.environ:
        return torch.device(name)
    local, count = int(os.environ["LOCAL_RANK"]), torch.cuda.device_count()
    if local >= count:
        raise ValueError(
            f"device 'cuda': process {local} on this host has no GPU of its own ({count} GPU(s)); start at "
            f"most {count} process(es) per host (torchrun --nproc_per_node={count}) or train on the CPU"
        )
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _collective(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except RuntimeError as e:
        raise DistributedError(
            f"DistributedDataParallel: {what} failed on rank {rank()}: another rank stopped or "
            f"did not answer before the timeout ({e})"
        ) from e


class DistributedDataParallel(Module):
    """Wrap `module` so that every rank trains the same model on its own shard of each batch."""

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, group: Any = None) -> None:
        super().__init__()
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "DistributedDataParallel needs an initialised process group: launch with torchrun and "
                "call nn.parallel.init_from_env() (or torch.distributed.init_process_group) first"
            )
        self.module = module
        self.group = group
        self.sync = True
        params = [p for p in module.parameters() if p.requires_grad]
        cap = int(bucket_cap_mb * 2**20)
        self.buckets: list[list[Parameter]] = []
        for p in params:
            key = (p.dtype, p.device)
            last = self.buckets[-1] if self.buckets else None
            if (
                last is None
                or (last[0].dtype, last[0].device) != key
                or sum(q.data.nbytes for q in last) + p.data.nbytes > cap
            ):
                self.buckets.append([p])
            else:
                last.append(p)
        for bucket in self.buckets:  # every rank starts from rank 0's parameters
            flat = torch.cat([p.data.reshape(-1) for p in bucket])
            _collective("broadcasting the parameters", dist.broadcast, flat, 0, group=group)
            self._unflatten(flat, bucket, grads=False)
        self._queued = False
        for p in params:
            p.register_hook(self._on_gradient)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes in this block only accumulate local gradients; the next one outside reduces."""
        previous, self.sync = self.sync, False
        try:
            yield
        finally:
            self.sync = previous

    def _on_gradient(self, grad: Any) -> None:
        if self.sync and not self._queued:
            self._queued = True
            queue_callback(self.reduce_gradients)

    def reduce_gradients(self) -> None:
        """Average `.grad` over all ranks, one all-reduce per bucket (parameters without one count as 0)."""
        self._queued = False
        size = world_size()
        for bucket in self.buckets:
            flat = torch.cat(
                [(p.grad.data if p.grad is not None else torch.zeros_like(p.data)).reshape(-1) for p in bucket]
            )
            _collective("averaging the gradients", dist.all_reduce, flat, group=self.group)
            flat /= size
            self._unflatten(flat, bucket, grads=True)

    @staticmethod
    def _unflatten(flat: torch.Tensor, bucket: list[Parameter], grads: bool) -> None:
        from autograd_engine import Variable

        offset = 0
        for p in bucket:
            part = flat[offset : offset + p.numel()].view_as(p.data)
            offset += p.numel()
            if not grads:
                p.data.copy_(part)
            elif p.grad is None:
                p.grad = Variable(part.clone())
            else:
                p.grad.data.copy_(part)

    def state_dict(self, *, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        """The wrapped module's state dict (keys without a 'module.' prefix)."""
        return self.module.state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load into the wrapped module (keys without a 'module.' prefix); returns its missing and unexpected keys."""
        return self.module.load_state_dict(state_dict, strict, assign)
