"""Command line: train, evaluate, denoise and graph subcommands.

python -m examples.noise2noise train --epochs 10 --out runs/seed
python -m examples.noise2noise evaluate --checkpoint runs/seed/checkpoint.pt --baselines
python -m examples.noise2noise denoise --checkpoint runs/seed/checkpoint.pt --input in.jpg --output out.png
python -m examples.noise2noise graph --out graphs/train.svg
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import torch

import autograd_engine as ag
import nn

from . import architectures, baselines, data
from .metrics import psnr
from .noise import DEFAULT_LEVELS, Noise
from .train import TrainConfig, Trainer, TrainingDivergedError, denoise, make_backend, render_graph, resolve_device


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (default: the built-in photo crops, made and cached on first use)")
    g.add_argument("--noise", choices=list(DEFAULT_LEVELS), default="gaussian", help="noise model (default gaussian)")
    g.add_argument(
        "--noise-level",
        type=float,
        help="gaussian sigma (25), poisson lambda (30), bernoulli drop probability (0.5) or text coverage (0.25)",
    )
    g.add_argument("--train-size", type=int, default=50_000, help="built-in training pairs (default 50000)")
    g.add_argument("--val-size", type=int, default=1_000, help="built-in validation pairs (default 1000)")
    g.add_argument("--data-dir", help="cache folder for the built-in set (default ~/.cache/autograd-engine)")
    g.add_argument("--train-data", help="course file train_data.pkl: a pair of Nx3x32x32 uint8 tensors")
    g.add_argument("--val-data", help="course file val_data.pkl: (noisy, clean) Nx3xHxW uint8 tensors")
    g.add_argument("--images", help="folder of your own photos to crop pairs from (the last one validates)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.noise2noise", description="Noise2Noise denoising trained with autograd-engine."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a denoiser; writes checkpoint, metrics.csv and pictures to --out")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, help="learning rate (default 5.0 for SGD, 1e-3 for Adam)")
    t.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    t.add_argument("--arch", "--model", dest="arch", choices=architectures.ARCHS, default="seed")
    t.add_argument("--factor", type=int, default=8, help="channel factor of the seed model (default 8)")
    t.add_argument("--kernel", type=int, default=3, help="kernel size (default 3)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument(
        "--schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="learning rate: constant (the seed recipe) or cosine decay to 0 over the run",
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
    t.add_argument("--out", default="runs/n2n", help="run folder (default runs/n2n)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    t.add_argument("--graph", metavar="PATH", help="also render the training graph to PATH (and PATH-collapsed)")
    _add_data_options(t)

    e = sub.add_parser("evaluate", help="PSNR of a checkpoint on the validation data (or --val-data)")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--baselines", action="store_true", help="also the noisy input and tuned classical denoisers")
    e.add_argument("--device", default="auto")
    _add_data_options(e)

    d = sub.add_parser("denoise", help="denoise a PNG/JPEG of any size into a PNG")
    d.add_argument("--checkpoint", required=True)
    d.add_argument("--input", required=True)
    d.add_argument("--output", required=True)
    d.add_argument("--add-noise", action="store_true", help="corrupt the input with the checkpoint's noise first")
    d.add_argument("--noisy-output", help="where to save the corrupted input (with --add-noise)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", default="auto")

    g = sub.add_parser("graph", help="render the training graph of a model (expanded and collapsed)")
    g.add_argument("--out", default="n2n-graph.svg", help="svg, png, pdf or dot path (default n2n-graph.svg)")
    g.add_argument("--arch", "--model", dest="arch", choices=architectures.ARCHS, default="seed")
    g.add_argument("--factor", type=int, default=8)
    g.add_argument("--kernel", type=int, default=3)
    g.add_argument("--batch-size", type=int, default=64)
    return parser


def config_from(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    if values.get("lr") is None:
        values["lr"] = 5.0 if getattr(args, "optimizer", "sgd") == "sgd" else 1e-3
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
    if nn.parallel.rank() != 0:
        args.graph = None  # only rank 0 writes files
    if args.graph:
        try:
            for p in render_graph(cfg, Path(args.graph)):
                print(f"wrote {p}")
        except ag.graph.GraphvizNotFoundError as e:  # a missing picture should not stop the training
            print(f"warning: {e}", file=sys.stderr)
    trainer = Trainer(cfg, resume=args.resume)
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
    if history and trainer.rank == 0:
        last = history[-1]
        epochs = f"{last['epoch']} epoch" + ("s" if last["epoch"] != 1 else "")
        print(f"final validation PSNR {last['val_psnr']:.2f} dB after {epochs}; metrics in {Path(cfg.out)}/metrics.csv")
    return 0


def load_checkpoint(path: str, device: torch.device) -> tuple[TrainConfig, object]:
    ckpt = nn.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise data.DataError(f"{path}: not a Noise2Noise checkpoint (expected the checkpoint.pt of a train run)")
    cfg = TrainConfig.from_dict({**ckpt["config"], "device": str(device)})
    backend = make_backend(
        TrainConfig.from_dict({**ckpt["config"], "device": str(device), "backend": "engine"}), device
    )
    backend.core.load_state_dict(ckpt["model"])  # a torch-twin checkpoint has the same keys and layouts
    return cfg, backend


def cmd_evaluate(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    cfg, backend = load_checkpoint(args.checkpoint, device)
    noise = Noise(args.noise, args.noise_level)
    if args.val_data:
        val = data.load_pair_file(args.val_data)
        train_clean = None
    else:
        train_clean, val_clean = data.builtin_clean(
            args.data_dir and Path(args.data_dir), args.train_size, args.val_size, cfg.seed
        )
        val = data.make_pairs(val_clean, noise, cfg.seed + 2, "clean")
    noisy, clean = val.input.float() / 255, val.target.float() / 255
    rows = [
        dict(
            method=f"{cfg.arch} model ({Path(args.checkpoint).name})",
            parameter="",
            psnr=psnr(denoise(backend, noisy, architectures.size_multiple(cfg.arch)), clean),
        )
    ]
    if args.baselines:
        if train_clean is None:
            raise data.DataError(
                "--baselines tunes the classical denoisers on the built-in training crops; drop --val-data to use it"
            )
        tuning = data.make_pairs(train_clean[:1000], noise, cfg.seed + 3, "clean")
        rows = baselines.evaluate(noisy, clean, tuning.input.float() / 255, tuning.target.float() / 255) + rows
    print(f"PSNR on {len(val)} validation pairs ({noise.kind}, level {noise.level:g}):")
    for r in rows:
        param = f" ({r['parameter']})" if r["parameter"] != "" else ""
        print(f"  {r['method'] + param:<40} {r['psnr']:6.2f} dB")
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    cfg, backend = load_checkpoint(args.checkpoint, device)
    image = data.load_image(args.input).unsqueeze(0)
    if args.add_noise:
        image = Noise(cfg.noise, cfg.noise_level).apply(image, torch.Generator().manual_seed(args.seed))
        if args.noisy_output:
            _save_png(image[0].float() / 255, args.noisy_output)
    out = denoise(backend, image.float() / 255, architectures.size_multiple(cfg.arch))
    _save_png(out[0], args.output)
    print(f"wrote {args.output} ({image.shape[-1]} x {image.shape[-2]})")
    return 0


def _save_png(img: torch.Tensor, path: str) -> None:
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()).save(path, "PNG")


def cmd_graph(args: argparse.Namespace) -> int:
    cfg = TrainConfig(arch=args.arch, factor=args.factor, kernel=args.kernel, batch_size=args.batch_size)
    for p in render_graph(cfg, Path(args.out)):
        print(f"wrote {p}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {"train": cmd_train, "evaluate": cmd_evaluate, "denoise": cmd_denoise, "graph": cmd_graph}
    try:
        return command[args.command](args)
    except (data.DataError, FileNotFoundError, ValueError, ag.graph.GraphvizNotFoundError) as e:  # one clear line
        print(f"error: {e}", file=sys.stderr)
        return 1
