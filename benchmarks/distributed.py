"""Data-parallel scaling on this machine: images/s of seed-model training with 1 and 2 gloo processes.

    python -m benchmarks.distributed          # prints one markdown row per process count

Each process uses one thread and its share of a global batch of 64, as `torchrun` would run it.
"""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import time

import torch
import torch.distributed as dist

import autograd_engine as ag
import nn
from examples.noise2noise.architectures import build

STEPS, BATCH = 30, 64


def worker() -> None:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1:
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
    torch.set_num_threads(1)
    model = build("seed")
    ddp = nn.parallel.DistributedDataParallel(model) if size > 1 else model
    opt = nn.SGD(model.parameters(), lr=5.0)
    x, y = torch.rand(BATCH // size, 3, 32, 32), torch.rand(BATCH // size, 3, 32, 32)

    def step() -> None:
        opt.zero_grad()
        nn.MSE()(ddp(ag.Variable(x)), y).backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(STEPS):
        step()
    if size > 1:
        dist.barrier()
    if int(os.environ.get("RANK", "0")) == 0:
        print(STEPS * BATCH / (time.perf_counter() - start))


def measure(processes: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.distributed", "--worker"],
            stdout=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "RANK": str(r),
                "WORLD_SIZE": str(processes),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": "1",
            },
        )
        for r in range(processes)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    return float(outputs[0].split()[-1])


def rows() -> list[str]:
    one = measure(1)
    lines = [f"| seed-model training, global batch {BATCH} | 1 process | {one:.0f} | 1.00x | |"]
    for n in (2,):
        rate = measure(n)
        lines.append(
            f"| seed-model training, global batch {BATCH} | {n} processes (gloo) | {rate:.0f} | "
            f"{rate / one:.2f}x | {rate / one / n:.0%} |"
        )
    return lines


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        print("| workload | processes | images/s | speed-up | scaling efficiency |\n|---|---|---:|---:|---:|")
        print("\n".join(rows()))
