"""Peak memory of one workload, measured in a fresh process (python -m benchmarks.memory NAME ARG).

Linux's VmHWM (peak resident set) is reset after set-up through /proc/self/clear_refs, so the figure
is the peak added by one repetition: what the graph, its saved tensors and the gradients cost. Run it
with MALLOC_MMAP_THRESHOLD_=65536 (the benchmark does) so that freed tensors leave the resident set.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import torch

from . import workloads

VARIANTS = {
    "engine-unfold": lambda arg: workloads.engine_train_step(arg, "unfold"),
    "engine-native": lambda arg: workloads.engine_train_step(arg, "native"),
    "torch-same-graph": lambda arg: workloads.torch_train_step(arg, same_graph=True),
    "torch-native": lambda arg: workloads.torch_train_step(arg, same_graph=False),
    "torch-dncnn": lambda arg: workloads.torch_train_step(arg, same_graph=False, arch="dncnn"),
    "engine-dncnn": lambda arg: workloads.engine_train_step(arg, "native", arch="dncnn"),
    "engine-dncnn-checkpointed": lambda arg: workloads.engine_train_step(
        arg, "native", checkpointed=True, arch="dncnn"
    ),
    "engine-chain": lambda arg: workloads.chain(arg, engine=True),
    "torch-chain": lambda arg: workloads.chain(arg, engine=False),
    "engine-gpt": lambda arg: workloads.gpt_train_step("engine", arg),
    "torch-gpt-functional": lambda arg: workloads.gpt_train_step("torch autograd", arg),
    "torch-gpt-nn": lambda arg: workloads.gpt_train_step("torch.nn", arg),
}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_bytes(name: str, arg: int) -> int:
    """Peak resident bytes added by one repetition of a workload (after a warm-up repetition)."""
    torch.set_num_threads(1)
    run = VARIANTS[name](arg)
    run()  # warm up allocators and caches
    gc.collect()
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current resident size
    run()
    return _status("VmHWM") - before


if __name__ == "__main__":
    print(peak_bytes(sys.argv[1], int(sys.argv[2])))
