"""Command line: train, evaluate, denoise and graph subcommands.

python -m examples.noise2noise train --epochs 10 --out runs/seed
python -m examples.noise2noise evaluate --checkpoint runs/seed/checkpoint.pt --baselines
python -m examples.noise2noise denoise --checkpoint runs/seed/checkpoint.pt --input in.jpg --output out.png
python -m examples.noise2noise graph --out graphs/train.svg

Every option is checked when the command line is parsed (argparse's error format, exit status 2); what
goes wrong later is one line `error: ...` on stderr (exit status 1; 2 when training diverged; 130 after
a Ctrl-C, once the checkpoint is saved).
"""

from __future__ import annotations

import argparse
import errno
import sys
from dataclasses import asdict, fields
from functools import partial
from pathlib import Path

import torch

import autograd_engine as ag
import nn

from . import architectures, baselines, checkpoints, data, images, metrics, options
from .backends import denoise
from .checkpoints import load_model as load_checkpoint
from .config import TrainConfig, recipe, resolve_device
from .model import shipped_weights
from .noise import DEFAULT_LEVELS, Noise
from .reports import render_graph, save_comparison
from .training import Trainer, TrainingDivergedError, check_pairs, run_conflict


def _add_data_options(p: argparse.ArgumentParser, training: bool = True) -> None:
    g = p.add_argument_group("data (default: the built-in photo crops, made and cached on first use)")
    g.add_argument("--noise", choices=list(DEFAULT_LEVELS), default="gaussian", help="noise model (default gaussian)")
    g.add_argument(
        "--noise-level",
        type=options.noise_level,
        help="gaussian sigma >= 0 (25), poisson lambda > 0 (30), bernoulli drop probability in [0, 1) (0.5) or "
        "text coverage in [0, 1] (0.25)",
    )
    g.add_argument("--train-size", type=options.positive_int, default=50_000, help="built-in training pairs (50000)")
    g.add_argument("--val-size", type=options.positive_int, default=1_000, help="built-in validation pairs (1000)")
    g.add_argument(
        "--data-dir", type=options.folder, help="cache folder for the built-in set (default ~/.cache/autograd-engine)"
    )
    if training:
        g.add_argument("--train-data", help="course file train_data.pkl: a pair of Nx3x32x32 uint8 tensors")
    g.add_argument("--val-data", help="course file val_data.pkl: (noisy, clean) Nx3xHxW uint8 tensors")
    if training:
        g.add_argument("--images", help="folder of your own photos to crop pairs from (the last one validates)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.noise2noise", description="Noise2Noise denoising trained with autograd-engine."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a denoiser; writes checkpoint, metrics.csv and pictures to --out")
    t.add_argument("--epochs", type=options.positive_int, default=10)
    t.add_argument("--batch-size", type=options.positive_int, default=64)
    t.add_argument(
        "--lr",
        type=options.learning_rate,
        help="learning rate (default: the architecture's, 5.0 for seed, 1e-3 for dncnn and unet; 5.0 for SGD and "
        "1e-3 for Adam if --optimizer differs from it; with --resume, the run's own)",
    )
    t.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        help="default: the architecture's (sgd for seed, adam for dncnn and unet); with --resume, the run's own",
    )
    t.add_argument("--arch", "--model", dest="arch", choices=architectures.ARCHS, default="seed")
    t.add_argument("--factor", type=options.positive_int, default=8, help="channel factor of the seed model (8)")
    t.add_argument(
        "--width",
        type=options.positive_int,
        help="channels of the unet (48, the paper's) or dncnn (32); with --resume, the run's own",
    )
    t.add_argument(
        "--crop",
        type=options.positive_int,
        help="side of the built-in (or --images) training and validation crops, a multiple of the model's "
        "(4 for seed, 32 for unet); default 32; with --resume, the run's own",
    )
    t.add_argument("--kernel", type=options.kernel_size, default=3, help="kernel size, odd (default 3)")
    t.add_argument("--seed", type=options.seed, default=0)
    t.add_argument("--device", type=options.device, default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument(
        "--schedule",
        choices=["constant", "cosine"],
        help="learning rate: constant or cosine decay to 0 over the run (default: the architecture's, cosine for "
        "unet, constant for the others; with --resume, the run's own)",
    )
    t.add_argument(
        "--target",
        choices=["noisy", "clean"],
        default="noisy",
        help="noisy: Noise2Noise (default); clean: Noise2Clean, for comparison",
    )
    t.add_argument(
        "--backend",
        choices=["engine", "torch"],
        default="engine",
        help="torch trains the torch.nn twin (same init, same data order) for comparison",
    )
    t.add_argument(
        "--compile",
        action="store_true",
        help="replay each training step's kernels with ag.compile (the same numbers as eager; engine backend only)",
    )
    t.add_argument("--out", type=options.folder, default="runs/n2n", help="run folder (default runs/n2n)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out (without it, train refuses)")
    t.add_argument(
        "--graph",
        type=options.graph_file,
        metavar="PATH",
        help="also render the training graph to PATH (and PATH-collapsed)",
    )
    _add_data_options(t)
    t.set_defaults(check=partial(_check_train, t))

    e = sub.add_parser(
        "evaluate", help="PSNR and SSIM of checkpoints on the validation data (or --val-data), overall and per photo"
    )
    e.add_argument("--checkpoint", required=True, nargs="+", help="model files, compared on the same images")
    e.add_argument(
        "--baselines",
        action="store_true",
        help="also the noisy input, blur and total variation tuned on training crops, and BM3D (the bm3d extra; "
        "about a second per crop and core)",
    )
    e.add_argument("--device", type=options.device, default="auto", help="auto, cpu, cuda or cuda:N")
    e.add_argument("--seed", type=options.seed, help="seed of the noise drawn on the crops (the first checkpoint's)")
    _add_data_options(e, training=False)
    e.add_argument("--crop", type=options.positive_int, help=f"size of the built-in crops, pixels ({data.CROP})")
    e.add_argument(
        "--samples",
        type=options.figure_file,
        help="also save a figure of some validation crops: noisy, each method's output, clean (.png, .jpg, .pdf, .svg)",
    )
    e.add_argument(
        "--sample-count",
        type=options.positive_int,
        help="crops in that figure, one per validation photo at most (default 6)",
    )
    e.set_defaults(check=partial(_check_evaluate, e))

    d = sub.add_parser("denoise", help="denoise an image of any size (PNG, JPEG, ...)")
    weights = d.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="a model file: a run's best.pt or checkpoint.pt, a shipped one")
    weights.add_argument(
        "--arch", choices=architectures.ARCHS, help="the shipped model of this architecture (pretrained/ARCH.pt)"
    )
    d.add_argument("--input", required=True)
    d.add_argument("--output", type=options.image_file, required=True)
    d.add_argument("--add-noise", action="store_true", help="corrupt the input with the checkpoint's noise first")
    d.add_argument("--noisy-output", type=options.image_file, help="where to save the corrupted input (--add-noise)")
    d.add_argument("--seed", type=options.seed, default=0)
    d.add_argument("--device", type=options.device, default="auto")
    d.set_defaults(check=partial(_check_denoise, d))

    g = sub.add_parser("graph", help="render the training graph of a model (expanded and collapsed)")
    g.add_argument(
        "--out", type=options.graph_file, default="n2n-graph.svg", help="svg, png, pdf or dot path (n2n-graph.svg)"
    )
    g.add_argument("--arch", "--model", dest="arch", choices=architectures.ARCHS, default="seed")
    g.add_argument("--factor", type=options.positive_int, default=8)
    g.add_argument("--kernel", type=options.kernel_size, default=3)
    g.add_argument("--batch-size", type=options.positive_int, default=64)
    g.set_defaults(check=lambda args: None)
    return parser


# --- checks between options, still at parse time ---------------------------------------------------
def _check_data(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        Noise(args.noise, args.noise_level)
    except ValueError as e:
        p.error(f"argument --noise-level: {e}")
    train_data = getattr(args, "train_data", None)
    if train_data and not args.val_data:
        p.error("argument --train-data: needs --val-data too (course files: train_data.pkl, val_data.pkl)")
    if args.val_data and getattr(args, "images", None):
        p.error("argument --images: not with --train-data/--val-data (one source of data)")


def _check_train(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    _check_data(p, args)
    if args.val_data and not args.train_data:
        p.error("argument --val-data: needs --train-data too (course files: train_data.pkl, val_data.pkl)")
    if args.resume and args.overwrite:
        p.error("argument --overwrite: not with --resume (one continues the run in --out, the other replaces it)")
    if args.compile and args.backend != "engine":
        p.error("argument --compile: compiles the engine's step; not with --backend torch")
    try:
        architectures.check_width(args.arch, args.width)
    except ValueError as e:
        p.error(f"argument --width: {e}")
    multiple = architectures.size_multiple(args.arch)
    if args.crop is not None and args.train_data:
        p.error("argument --crop: not with --train-data/--val-data (their images have their own size)")
    if args.crop is not None and args.crop % multiple:
        p.error(f"argument --crop: the {args.arch} model needs a multiple of {multiple}, got {args.crop}")
    conflict = None if args.resume or args.overwrite else run_conflict(Path(args.out))
    if conflict:
        p.error(f"argument --out: {conflict}")


def _check_evaluate(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    _check_data(p, args)
    if args.baselines and args.val_data:
        p.error("argument --baselines: not with --val-data (the baselines are tuned on the built-in training crops)")
    if args.crop and args.val_data:
        p.error("argument --crop: not with --val-data (it sizes the built-in crops)")
    if args.sample_count and not args.samples:
        p.error("argument --sample-count: only with --samples (it sizes that figure)")


def _check_denoise(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.noisy_output and not args.add_noise:
        p.error("argument --noisy-output: only with --add-noise (it is the corrupted input)")
    written = {"--output": args.output, "--noisy-output": args.noisy_output}
    for option, path in written.items():
        if path and Path(path).resolve() == Path(args.input).resolve():
            p.error(f"argument {option}: {path} is the --input photo, which it would overwrite; name another file")
    if args.noisy_output and Path(args.noisy_output).resolve() == Path(args.output).resolve():
        p.error(f"argument --noisy-output: {args.noisy_output} is also --output; name another file")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, every option checked (argparse's error format and exit status 2 otherwise)."""
    args = build_parser().parse_args(argv)
    args.check(args)
    return args


# --- the commands ----------------------------------------------------------------------------------
RUN_OWN = ("optimizer", "lr", "schedule", "width", "crop")
"""train options that, when not given, take the run's own values with --resume, else the architecture's recipe
(or the config's default)."""


def config_from(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    if args.resume:
        own = asdict(TrainConfig.from_dict(checkpoints.read(Path(args.out) / "checkpoint.pt", resume=True)["config"]))
    else:
        own = asdict(TrainConfig()) | recipe(args.arch, args.optimizer)
    values.update({name: own[name] for name in RUN_OWN if values[name] is None})
    return TrainConfig(**values)


def cmd_train(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    on_gpu = resolve_device(cfg.device).type == "cuda"
    nn.parallel.init_from_env(backend="nccl" if on_gpu else "gloo")  # under torchrun: join the group
    try:
        return _train(cfg, args)
    finally:
        nn.parallel.leave()  # nothing to leave in a plain run


def _train(cfg: TrainConfig, args: argparse.Namespace) -> int:
    trainer = Trainer(cfg, resume=args.resume, overwrite=args.overwrite)  # checks the run folder, then loads data
    if args.graph and trainer.rank == 0:  # only rank 0 writes files
        try:
            for p in render_graph(cfg, Path(args.graph)):
                print(f"wrote {p}")
        except ag.graph.GraphvizNotFoundError as e:  # a missing picture should not stop the training
            print(f"warning: {e}", file=sys.stderr)
    count = sum(p.numel() for p in trainer.backend.core.parameters())
    print(
        f"training {cfg.arch} ({count:,} parameters) on {len(trainer.train_data):,} pairs, {cfg.backend} backend, "
        f"{trainer.device}" + (f", {trainer.world} processes" if trainer.world > 1 else "") + f"; run folder {cfg.out}"
    )
    try:
        history = trainer.run()
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trainer.stop_requested:
        return 130  # Ctrl-C: the checkpoint is saved; shells expect 128 + SIGINT
    if history and trainer.rank == 0:
        last = history[-1]
        epochs = f"{last['epoch']} epoch" + ("s" if last["epoch"] != 1 else "")
        print(
            f"final validation PSNR {last['val_psnr']:.2f} dB after {epochs}; the best, {trainer.best_psnr:.2f} dB, "
            f"is in {trainer.best_path}; metrics in {Path(cfg.out)}/metrics.csv"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    models = [(path, *load_checkpoint(path, device)) for path in args.checkpoint]
    seed = models[0][1].seed if args.seed is None else args.seed  # the first one's validation noise, as in training
    noise = Noise(args.noise, args.noise_level)
    groups: list[tuple[str, torch.Tensor]] = []
    if args.val_data:
        val = check_pairs(data.load_pair_file(args.val_data), args.val_data)
        train_clean, what = None, f"{len(val)} (noisy, clean) pairs of {args.val_data}"
    else:
        data_dir = Path(args.data_dir) if args.data_dir else None
        crop = args.crop or data.CROP
        train_clean, val_clean = data.builtin_clean(data_dir, args.train_size, args.val_size, seed, crop)
        val = data.make_pairs(val_clean, noise, seed + 2, "clean")
        groups = [(str(photo), index) for photo, index in data.val_groups(len(val))]
        what = (
            f"{len(val)} validation crops ({crop} x {crop}) of {len(groups)} photos; {noise.kind} noise, level "
            f"{noise.level:g}, drawn with seed {seed}"
        )
    noisy, clean = val.input.float() / 255, val.target.float() / 255
    rows = [
        metrics.Scores.of(
            f"{cfg.arch} ({Path(*Path(path).parts[-2:])})",
            denoise(backend, noisy, architectures.size_multiple(cfg.arch)),
            clean,
        )
        for path, cfg, backend in models
    ]
    if args.baselines and train_clean is not None:  # not with --val-data: refused at parse time
        tuning = data.make_pairs(train_clean[:1000], noise, seed + 3, "clean")
        tuning_pairs = tuning.input.float() / 255, tuning.target.float() / 255
        rows = baselines.evaluate(noisy, clean, *tuning_pairs, noise) + rows
    print(f"{what}:")
    print(metrics.report(rows, groups))
    if args.samples:
        picks = _sample_picks(groups, len(val), args.sample_count or 6)
        save_comparison(Path(args.samples), rows, noisy, clean, picks)
        print(f"samples saved to {args.samples}")
    return 0


def _sample_picks(groups: list[tuple[str, torch.Tensor]], count: int, n: int) -> list[tuple[str, int]]:
    """n crops for the sample figure: the first crop of n photos spread over the validation set (or, with
    --val-data, n pairs spread over it)."""
    if not groups:
        return [(f"pair {i}", i) for i in torch.linspace(0, count - 1, min(n, count)).round().long().tolist()]
    chosen = torch.linspace(0, len(groups) - 1, min(n, len(groups))).round().long().tolist()
    return [(groups[j][0], int(groups[j][1][0])) for j in chosen]


def cmd_denoise(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    cfg, backend = load_checkpoint(args.checkpoint or shipped_weights(args.arch), device)
    image = images.read_image(args.input).unsqueeze(0)
    if args.add_noise:
        image = Noise(cfg.noise, cfg.noise_level).apply(image, torch.Generator().manual_seed(args.seed))
        if args.noisy_output:
            images.write_image(args.noisy_output, image[0])
    out = denoise(backend, image.float() / 255, architectures.size_multiple(cfg.arch))
    images.write_image(args.output, out[0])
    print(f"wrote {args.output} ({image.shape[-1]} x {image.shape[-2]})")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    cfg = TrainConfig(arch=args.arch, factor=args.factor, kernel=args.kernel, batch_size=args.batch_size)
    for p in render_graph(cfg, Path(args.out)):
        print(f"wrote {p}")
    return 0


def one_line(e: BaseException) -> str:
    """What went wrong, on one line: an OSError as 'path: reason', a full disk as 'disk full: path'."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"disk full: could not write {e.filename or 'a file'}"
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    return " ".join(str(e).split())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = {"train": cmd_train, "evaluate": cmd_evaluate, "denoise": cmd_denoise, "graph": cmd_graph}
    try:
        return command[args.command](args)
    except KeyboardInterrupt:  # a second Ctrl-C during training, or one before it started
        print("error: interrupted", file=sys.stderr)
        return 130
    except (data.DataError, ValueError, OSError, ag.graph.GraphvizNotFoundError) as e:  # one clear line
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
