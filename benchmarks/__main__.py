"""Run the benchmarks: python -m benchmarks [--quick] [--device cuda] [--out docs/benchmarks.md]

Each figure is a ratio to PyTorch measured in the same process, interleaved round by round
(medians, with min and max), because the machines are shared and noisy. On CUDA the train step and
inference are timed, synchronising the device after each repetition.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import torch

import autograd_engine as ag

from . import distributed, workloads


@dataclass
class Group:
    """Variants timed together; ratios are to `baseline` (and to `also`, when given)."""

    title: str
    variants: dict[str, Callable[[], object]]
    baseline: str
    also: str | None = None
    setups: dict[str, Callable[[], object]] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)


def time_groups(groups: list[Group], rounds: int, device: str = "cpu") -> None:
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else lambda: None
    for r in range(rounds + 1):  # round 0 warms up and is not recorded
        for g in groups:
            for name, run in g.variants.items():
                if name in g.setups:
                    g.setups[name]()
                sync()
                start = time.perf_counter()
                run()
                sync()
                if r:
                    g.times.setdefault(name, []).append(time.perf_counter() - start)


def chain_backward_group(n: int) -> Group:
    e_setup, e_run = workloads.chain_backward(n, engine=True)
    t_setup, t_run = workloads.chain_backward(n, engine=False)
    return Group(
        f"backward of a {n:,}-op chain",
        {"torch autograd": t_run, "engine": e_run},
        "torch autograd",
        setups={"torch autograd": t_setup, "engine": e_setup},
    )


def first_call_group(batch: int, device: str) -> Group:
    """The first call of a freshly compiled train step (it records the step) against an eager step."""
    setup, first = workloads.compiled_first_call(batch, device=device)
    return Group(
        f"seed-model train step, batch {batch}: the first call of ag.compile (tracing)",
        {"engine, native lowering": workloads.engine_train_step(batch, "native", device=device), "first call": first},
        "engine, native lowering",
        setups={"first call": setup},
    )


def gpt_group(batch: int, device: str) -> Group:
    """The GPT example's train step: the engine eager and compiled, against torch on the same model."""
    return Group(
        f"GPT train step (examples/gpt default model), batch {batch}",
        {
            v: workloads.gpt_train_step(v, batch, device)
            for v in ("torch autograd", "torch.nn", "engine", "engine compiled")
        },
        baseline="torch autograd",
        also="torch.nn",
    )


def build_groups(quick: bool, device: str = "cpu") -> list[Group]:
    """The timed workloads; on CUDA only the train steps and inference (the rest measure Python)."""
    batches = [64] if quick else [64, 256]
    groups = []
    for b in batches:
        groups.append(
            Group(
                f"seed-model train step, batch {b}",
                {
                    "torch autograd, same graph": workloads.torch_train_step(b, same_graph=True, device=device),
                    "torch.nn native conv": workloads.torch_train_step(b, same_graph=False, device=device),
                    "engine, unfold lowering": workloads.engine_train_step(b, "unfold", device=device),
                    "engine, native lowering": workloads.engine_train_step(b, "native", device=device),
                    "engine compiled (ag.compile), native lowering": workloads.engine_train_step(
                        b, "native", device=device, compiled=True
                    ),
                },
                baseline="torch autograd, same graph",
                also="torch.nn native conv",
            )
        )
    groups.append(first_call_group(64, device))
    size = 128 if quick else 512
    groups.append(
        Group(
            f"inference, 1x3x{size}x{size}",
            {
                "torch, same graph": workloads.torch_inference(device, size=size, same_graph=True),
                "torch.nn native conv": workloads.torch_inference(device, size=size),
                "engine, unfold lowering": workloads.engine_inference("unfold", device, size=size),
                "engine, native lowering": workloads.engine_inference("native", device, size=size),
            },
            baseline="torch, same graph",
            also="torch.nn native conv",
        )
    )
    if torch.device(device).type != "cpu":  # a model whose kernels, not launches, set the pace
        groups.append(
            Group(
                "DnCNN train step, batch 64",
                {
                    "torch.nn native conv": workloads.torch_train_step(64, False, device, arch="dncnn"),
                    "engine, native lowering": workloads.engine_train_step(64, "native", device, arch="dncnn"),
                    "engine compiled (ag.compile)": workloads.engine_train_step(
                        64, "native", device, arch="dncnn", compiled=True
                    ),
                },
                baseline="torch.nn native conv",
            )
        )
        groups.append(gpt_group(8 if quick else 32, device))
        return groups
    n = 200 if quick else 2_000
    groups.append(
        Group(
            f"{n:,}-op chain on 16 elements, forward + backward",
            {
                "torch autograd": workloads.chain(n, engine=False),
                "engine": workloads.chain(n, engine=True),
                "engine compiled (ag.compile)": workloads.compiled_chain(n),
            },
            baseline="torch autograd",
        )
    )
    groups.append(
        Group(
            f"{n:,}-op chain spelled torch.add / torch.mul (torch dispatch), forward + backward",
            {
                "torch autograd": workloads.chain(n, engine=False, torch_calls=True),
                "engine": workloads.chain(n, engine=True, torch_calls=True),
            },
            baseline="torch autograd",
        )
    )
    for name in workloads.ACTIVATIONS:
        groups.append(
            Group(
                f"{name} on 256x1024, forward + backward (fused primitive against the composite it replaced)",
                {v: workloads.activation(name, v) for v in ("torch", "fused", "composite")},
                baseline="torch",
            )
        )
    groups.append(gpt_group(8 if quick else 32, device))
    groups.append(chain_backward_group(10_000 if quick else 100_000))
    if not quick:
        groups.append(
            Group(
                "Hessian of an MLP loss, 1,008 parameters",
                {"torch.func.hessian": workloads.hessian(False), "engine ag.hessian": workloads.hessian(True)},
                baseline="torch.func.hessian",
            )
        )
    return groups


BASELINES = ("torch-same-graph", "torch-chain", "torch-dncnn", "torch-gpt-functional")
"""The torch row each memory ratio divides by."""
DNCNN_MEMORY = ("torch-dncnn", "engine-dncnn", "engine-dncnn-checkpointed")  # checkpointing pays on a deep stack


def memory_rows(quick: bool) -> list[tuple[str, str, int]]:
    """(workload, variant, peak bytes), each measured in its own process."""
    cases = [
        ("train step, batch 64" if quick else "train step, batch 256", v, 64 if quick else 256)
        for v in ("torch-same-graph", "torch-native", "engine-unfold", "engine-native")
    ]
    b = 16 if quick else 64
    cases += [(f"DnCNN train step, batch {b}", v, b) for v in DNCNN_MEMORY]
    n = 10_000 if quick else 100_000
    cases += [(f"{n:,}-op chain", v, n) for v in ("torch-chain", "engine-chain")]
    b = 8 if quick else 32
    cases += [(f"GPT train step, batch {b}", v, b) for v in ("torch-gpt-functional", "torch-gpt-nn", "engine-gpt")]
    # glibc then maps each tensor on its own and unmaps it when freed: resident memory follows live memory
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    rows = []
    for workload, variant, arg in cases:
        command = [sys.executable, "-m", "benchmarks.memory", variant, str(arg)]
        out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        rows.append((workload, variant, int(out.stdout.strip().splitlines()[-1])))
    return rows


def soak_rows() -> list[tuple[int, float]]:
    """Resident memory during 1,000 training steps, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "1000"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return [(int(a), float(b)) for a, b in (line.split() for line in out.stdout.splitlines())]


def report(
    groups: list[Group],
    *,
    rounds: int,
    device: str = "cpu",
    memory: Sequence[tuple[str, str, int]] = (),
    soak: Sequence[tuple[int, float]] = (),
    scaling: Sequence[str] = (),
) -> str:
    """The markdown page: timing groups, then whichever of memory, soak and scaling rows were measured."""
    on_cuda = torch.device(device).type == "cuda"
    hardware = torch.cuda.get_device_name(device) if on_cuda else platform.processor() or platform.machine()
    lines = [
        "# Benchmarks on CUDA" if on_cuda else "# Benchmarks",
        "",
        f"Measured {date.today().isoformat()} by `python -m benchmarks` on {platform.system()} {platform.machine()} "
        f"({hardware}), Python {platform.python_version()}, torch {torch.__version__}, autograd-engine "
        f"{ag.__version__}, {torch.get_num_threads()} thread(s), {rounds} interleaved rounds. Times are medians "
        "(min-max) in ms; ratios divide medians measured in the same run (lower is better for the engine).",
        "",
        "| workload | variant | median ms | min-max ms | ratio | ratio to native |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for g in groups:
        base = statistics.median(g.times[g.baseline])
        also = statistics.median(g.times[g.also]) if g.also else None
        for name, ts in g.times.items():
            med = statistics.median(ts)
            ratio = "" if name == g.baseline else f"{med / base:.2f}x"
            native = f"{med / also:.2f}x" if also and name not in (g.also, g.baseline) else ""
            lines.append(
                f"| {g.title} | {name} | {med * 1e3:.2f} | {min(ts) * 1e3:.2f}-{max(ts) * 1e3:.2f} | "
                f"{ratio} | {native} |"
            )
    if memory:
        lines += [
            "",
            "Peak memory added by one repetition (each in a fresh process; Linux peak RSS):",
            "",
            "| workload | variant | peak MiB | ratio to torch on the same graph |",
            "|---|---|---:|---:|",
        ]
    for workload, variant, peak in memory:
        base = next(p for w, v, p in memory if w == workload and v in BASELINES)
        lines.append(f"| {workload} | {variant} | {peak / 2**20:.1f} | {peak / base:.2f}x |")
    if soak:
        lines += [
            "",
            "Resident memory over 1,000 training steps of the seed model (batch 16, `python -m benchmarks.soak`):",
            "",
            "| step | resident MiB |",
            "|---:|---:|",
            *[f"| {step} | {mib:.1f} |" for step, mib in soak],
        ]
    if scaling:
        lines += [
            "",
            "Data parallelism on this machine (`python -m benchmarks.distributed`, one thread per process):",
            "",
            "| workload | processes | images/s | speed-up | scaling efficiency |",
            "|---|---|---:|---:|---:|",
            *scaling,
        ]
    notes = Path(__file__).with_name("notes-cuda.md" if on_cuda else "notes.md")
    if notes.exists():  # the analysis that goes with the figures (kept by hand, next to this script)
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (what the tests run)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 7, quick 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: the train step and inference there")
    parser.add_argument("--out", help="also write the markdown report here (e.g. docs/benchmarks.md)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = args.rounds or (2 if args.quick else 7)
    on_cpu = torch.device(args.device).type == "cpu"
    if not on_cpu and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is available here")
    groups = build_groups(args.quick, args.device)
    time_groups(groups, rounds, args.device)
    long_runs = on_cpu and not args.quick
    text = report(
        groups,
        rounds=rounds,
        device=args.device,
        memory=memory_rows(args.quick) if on_cpu else (),
        soak=soak_rows() if long_runs else (),
        scaling=distributed.rows() if long_runs else (),
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
