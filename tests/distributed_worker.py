"""One rank of the distributed tests (started twice by tests/test_distributed.py, or once alone)."""

from __future__ import annotations

import datetime
import os
import sys

import torch
import torch.distributed as dist

import autograd_engine as ag
import nn


def model_and_data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.Tanh(), nn.Conv2d(4, 1, 3, 1, 1)).to(torch.float64)
    g = torch.Generator().manual_seed(1)
    return (
        model,
        torch.randn(8, 2, 6, 6, generator=g, dtype=torch.float64),
        torch.randn(8, 1, 6, 6, generator=g, dtype=torch.float64),
    )


def train(model: nn.Module, opt: nn.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, ddp: object = None) -> None:
    for step in range(4):
        opt.zero_grad()
        if step % 2 == 0 and ddp is not None:  # gradient accumulation: two halves, the first without sync
            half = len(x) // 2
            with ddp.no_sync():
                (nn.MSE()(model(ag.Variable(x[:half])), y[:half]) / 2).backward()
            (nn.MSE()(model(ag.Variable(x[half:])), y[half:]) / 2).backward()
        else:
            nn.MSE()(model(ag.Variable(x)), y).backward()
        opt.step()


def main(mode: str, out: str) -> None:
    if mode == "single":
        model, x, y = model_and_data()
        train(model, nn.SGD(model.parameters(), lr=0.1, momentum=0.9), x, y)
        torch.save(model.state_dict(), out)
        return
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=float(os.environ.get("TIMEOUT", "30"))))
    rank, size = dist.get_rank(), dist.get_world_size()
    model, x, y = model_and_data()
    if rank == 1:
        for p in model.parameters():  # a different start: the wrapper must broadcast rank 0's
            p.data.add_(1.0)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.001)
    if mode == "fail" and rank == 1:
        os._exit(3)  # a rank dying without any clean-up
    shard = slice(rank * len(x) // size, (rank + 1) * len(x) // size)
    train(ddp, nn.SGD(model.parameters(), lr=0.1, momentum=0.9), x[shard], y[shard], ddp)
    if rank == 0:
        torch.save(model.state_dict(), out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
