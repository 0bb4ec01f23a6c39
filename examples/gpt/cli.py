"""Command line: train, sample, baseline and graph subcommands.

python -m examples.gpt train --out runs/gpt
python -m examples.gpt train --out runs/gpt-torch --backend torch      # the torch.nn twin, for comparison
python -m examples.gpt sample --checkpoint runs/gpt/checkpoint.pt --prompt "The " --temperature 0.8
python -m examples.gpt baseline                                         # n-gram models, for comparison
python -m examples.gpt graph --out gpt-block.svg

Every option is checked when the command line is parsed (argparse's error format, exit status 2); what
goes wrong later is one line `error: ...` on stderr (exit status 1; 2 when training diverged; 130 after
a Ctrl-C, once the checkpoint is saved).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

import autograd_engine as ag
import nn
from examples.noise2noise import options as shared
from examples.noise2noise.cli import one_line
from examples.noise2noise.config import resolve_device
from examples.noise2noise.training import TrainingDivergedError, run_conflict

from . import checkpoints, options
from .baselines import NGram
from .config import DTYPES, TrainConfig
from .data import DataError, Vocab, builtin_corpus
from .reports import render_block_graph
from .sampling import generate
from .training import Trainer

DEFAULTS = TrainConfig()


MODEL_OPTIONS: list[tuple[str, Callable[[str], Any], str]] = [
    ("--context", shared.positive_int, "characters the model sees"),
    ("--n-layer", shared.positive_int, "transformer blocks"),
    ("--n-head", shared.positive_int, "attention heads"),
    ("--n-embd", shared.positive_int, "width, a multiple of --n-head"),
    ("--dropout", options.dropout, "dropout probability"),
    ("--batch-size", shared.positive_int, "windows per step"),
]
TRAINING_OPTIONS: list[tuple[str, Callable[[str], Any], str]] = [
    ("--steps", shared.positive_int, "optimizer steps"),
    ("--lr", shared.learning_rate, "peak learning rate of AdamW"),
    ("--warmup", options.non_negative_int, "steps of linear warm-up, then cosine decay to lr/10"),
    ("--weight-decay", options.non_negative_float, "AdamW's decoupled weight decay, on the matrices"),
    ("--grad-clip", options.positive_float, "largest gradient norm"),
    ("--eval-every", shared.positive_int, "steps between validations, checkpoints and samples"),
    ("--sample-chars", options.non_negative_int, "characters sampled at each evaluation, 0 for none"),
    ("--seed", shared.seed, "initialisation, batches and dropout"),
    ("--device", shared.device, "auto, cpu, cuda or cuda:N"),
    ("--threads", shared.positive_int, "CPU threads (torch would take every core: a shared machine slows down)"),
]


def _option(p: Any, flag: str, kind: Callable[[str], Any], what: str, unset: bool, **kw: Any) -> None:
    """An option whose default, shown in the help, is TrainConfig's; `unset` leaves it None (train: the run's
    own with --resume, TrainConfig's otherwise)."""
    default = getattr(DEFAULTS, flag.removeprefix("--").replace("-", "_"))
    p.add_argument(flag, type=kind, default=None if unset else default, help=f"{what} (default {default})", **kw)


def _add_model_options(p: argparse.ArgumentParser, training: bool) -> None:
    group = p.add_argument_group("model")
    for flag, kind, what in MODEL_OPTIONS:
        _option(group, flag, kind, what, unset=training)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.gpt", description="A character-level GPT trained with autograd-engine."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on Python's reference topics; writes checkpoint, metrics and samples")
    _add_model_options(t, training=True)
    for flag, kind, what in TRAINING_OPTIONS:
        _option(t, flag, kind, what, unset=True)
    _option(t, "--dtype", str, "floating-point type of the weights", unset=True, choices=list(DTYPES))
    backend = "torch: the torch.nn twin (same init, batches, dropout masks)"
    _option(t, "--backend", str, backend, unset=True, choices=["engine", "torch"])
    t.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="replay each step's forward and backward with ag.compile: the eager run's numbers to the bit, faster "
        f"on the CPU (default {'on' if DEFAULTS.compile else 'off'} for the engine backend, which alone takes it; "
        "with --resume, the run's own)",
    )
    t.add_argument("--out", type=shared.folder, default=DEFAULTS.out, help=f"run folder (default {DEFAULTS.out})")
    t.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out (without it, train refuses)")
    t.set_defaults(check=partial(_check_train, t))

    s = sub.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="a run's checkpoint.pt (either backend's)")
    s.add_argument("--prompt", default="", help="text to continue (default: a new line)")
    s.add_argument("--length", type=shared.positive_int, default=500, help="characters to generate (500)")
    s.add_argument("--temperature", type=options.positive_float, default=0.8, help="softmax temperature (0.8)")
    s.add_argument("--top-k", type=shared.positive_int, help="sample among the k likeliest characters only")
    s.add_argument("--seed", type=shared.seed, default=0)
    s.add_argument("--device", type=shared.device, default="auto")
    s.add_argument("--threads", type=shared.positive_int, default=1, help="CPU threads (1)")
    s.set_defaults(check=lambda args: None)

    b = sub.add_parser("baseline", help="bits per character of n-gram models on the validation text")
    b.add_argument("--max-order", type=shared.positive_int, default=6, help="the longest n-gram (6)")
    b.set_defaults(check=lambda args: None)

    g = sub.add_parser("graph", help="render one transformer block's graph (collapsed, and every op)")
    g.add_argument(
        "--out", type=shared.graph_file, default="gpt-block.svg", help="svg, png, pdf or dot path (gpt-block.svg)"
    )
    _add_model_options(g, training=False)
    g.set_defaults(check=partial(_check_sizes, g))
    return parser


# --- checks between options, still at parse time ---------------------------------------------------
def _check_sizes(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    n_embd, n_head = (getattr(args, k) or getattr(DEFAULTS, k) for k in ("n_embd", "n_head"))
    if n_embd % n_head:
        p.error(f"argument --n-embd: must be a multiple of --n-head ({n_head}), got {n_embd}")


def _check_train(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.resume and args.overwrite:
        p.error("argument --overwrite: not with --resume (one continues the run in --out, the other replaces it)")
    if args.compile and args.backend == "torch":
        p.error("argument --compile: compiles the engine's step; not with --backend torch")
    if args.resume:  # unset options are the run's own, checked against it once it is read
        return
    _check_sizes(p, args)
    warmup, steps = (DEFAULTS.warmup if args.warmup is None else args.warmup), (args.steps or DEFAULTS.steps)
    if warmup >= steps:
        p.error(f"argument --warmup: must be fewer than the --steps ({steps}), got {warmup}")
    conflict = run_conflict(Path(args.out)) if not args.overwrite else None
    if conflict:
        p.error(f"argument --out: {conflict}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, every option checked (argparse's error format and exit status 2 otherwise)."""
    args = build_parser().parse_args(argv)
    args.check(args)
    return args


# --- the commands ----------------------------------------------------------------------------------
def config_from(args: argparse.Namespace) -> TrainConfig:
    """The options given, over the run's own config with --resume, else over TrainConfig's defaults; compile
    is off for the torch backend (asked for on a resumed torch run, whose backend only the checkpoint says: an
    error)."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if args.resume:
        saved = checkpoints.read(Path(args.out) / "checkpoint.pt", resume=True)
        cfg = replace(TrainConfig.from_dict(saved["config"]), **given)
    else:
        cfg = TrainConfig(**given)
    if cfg.backend == "torch" and cfg.compile:
        if args.compile:
            raise ValueError(f"--compile: compiles the engine's step; the run in {args.out} trains the torch.nn twin")
        cfg = replace(cfg, compile=False)
    return cfg


@contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to `count` for the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cmd_train(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    on_gpu = resolve_device(cfg.device).type == "cuda"
    nn.parallel.init_from_env(backend="nccl" if on_gpu else "gloo")  # under torchrun: join the group
    try:
        with cpu_threads(cfg.threads):
            return _train(cfg, args)
    finally:
        nn.parallel.leave()  # nothing to leave in a plain run


def _many(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _train(cfg: TrainConfig, args: argparse.Namespace) -> int:
    trainer = Trainer(cfg, resume=args.resume, overwrite=args.overwrite)
    count = sum(p.numel() for p in trainer.backend.core.parameters())
    backend = f"{cfg.backend} backend" + (" (compiled)" if cfg.compile else "")
    print(
        f"training a GPT ({count:,} parameters: {_many(cfg.n_layer, 'block')}, {_many(cfg.n_head, 'head')}, "
        f"width {cfg.n_embd}, "
        f"context {cfg.context}) on {len(trainer.corpus.train):,} characters of Python's reference topics "
        f"({len(trainer.vocab)} distinct), {backend}, {trainer.device}"
        + (f", {trainer.world} processes" if trainer.world > 1 else "")
        + f"; run folder {cfg.out}"
    )
    try:
        history = trainer.run()
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.stop_requested and trainer.step < cfg.steps:
        return 130  # Ctrl-C: the checkpoint is saved; shells expect 128 + SIGINT
    if history and trainer.rank == 0:
        print(
            f"final validation loss {history[-1]['val_bpc']:.3f} bits per character after {history[-1]['step']} "
            f"steps; metrics in {Path(cfg.out)}/metrics.csv"
        )
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    cfg, vocab, backend = checkpoints.load_model(args.checkpoint, device)
    with cpu_threads(args.threads):
        text = generate(backend.logits, vocab, args.prompt, args.length, cfg.context, args.temperature,
                        args.top_k, args.seed, device)  # fmt: skip
    print(args.prompt + text)
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    corpus = builtin_corpus()
    model = NGram(corpus.train, args.max_order, len(Vocab.of(corpus.train + corpus.val)))
    print(f"Witten-Bell n-gram models on the {len(corpus.val):,} validation characters:")
    for order in range(1, args.max_order + 1):
        print(f"  order {order}: {model.bits_per_char(corpus.val, order):.3f} bits per character")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    names = ("context", "n_layer", "n_head", "n_embd", "dropout", "batch_size")
    cfg = TrainConfig(**{k: getattr(args, k) for k in names})
    for path in render_block_graph(cfg, Path(args.out)):
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = {"train": cmd_train, "sample": cmd_sample, "baseline": cmd_baseline, "graph": cmd_graph}
    try:
        return command[args.command](args)
    except KeyboardInterrupt:  # a second Ctrl-C during training, or one before it started
        print("error: interrupted", file=sys.stderr)
        return 130
    except (DataError, ValueError, OSError, ag.graph.GraphvizNotFoundError) as e:  # one clear line
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
