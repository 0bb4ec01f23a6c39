"""Where the time goes: a pyinstrument profile of one workload.

    python -m benchmarks.profile [train|inference|chain|gpt] [--repeat N] [--html PATH]

`train` is the seed model's step at batch 64 (native lowering), `inference` a 512x512 image, `chain`
the 2,000-op chain of tiny ops, `gpt` a train step of examples/gpt's default model (batch 32). The call
tree is printed (and written as HTML with --html); frames under 2% of the time are left out.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from pyinstrument import Profiler

from . import workloads

WORKLOADS: dict[str, Callable[[], Callable[[], object]]] = {
    "train": lambda: workloads.engine_train_step(64, "native"),
    "inference": lambda: workloads.engine_inference("native"),
    "chain": lambda: workloads.chain(2_000, engine=True),
    "gpt": lambda: workloads.gpt_train_step("engine"),
}


def profile(name: str, repeat: int) -> Profiler:
    """Profile `repeat` repetitions of a workload, after one that warms up."""
    torch.set_num_threads(1)
    run = WORKLOADS[name]()
    run()
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(repeat):
            run()
    return profiler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="train", choices=sorted(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--html", type=Path, help="also write the interactive profile here")
    args = parser.parse_args(argv)
    profiler = profile(args.workload, args.repeat)
    print(profiler.output_text(unicode=False, color=False, show_all=False, time="percent_of_total"))
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
