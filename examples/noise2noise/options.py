"""The command line's option types: each parses one option's text or says, in argparse's own error format
("argument --epochs: must be a positive integer, got -1"), why it cannot be used. They check what can be
checked from the text and the file system without writing anything; checks between options are in cli.py.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

import autograd_engine as ag

from . import images

FLOAT32_MAX = float(torch.finfo(torch.float32).max)
SEED_RANGE = (-(2**63), 2**63 - 1)
GRAPH_SUFFIXES = tuple(f".{f}" for f in ag.graph.FORMATS) + (".gv",)
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")
"""What matplotlib writes a figure to here."""


def integer(text: str) -> int:
    """An option's text as an int, or argparse's error (shared by the examples' option validators)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def number(text: str) -> float:
    """An option's text as a float, or argparse's error."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def kernel_size(text: str) -> int:
    """Odd, so that padding kernel // 2 keeps the image size."""
    value = integer(text)
    if value < 1 or value % 2 == 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive odd integer (so the output keeps the input's size), got {value}"
        )
    return value


def seed(text: str) -> int:
    value = integer(text)
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be an integer from -2**63 to 2**63 - 1, got {value}")
    return value


def learning_rate(text: str) -> float:
    value = number(text)
    if not 0 < value <= FLOAT32_MAX:  # NaN fails too; the weights are float32
        raise argparse.ArgumentTypeError(f"must be a positive finite number (at most {FLOAT32_MAX:.4g}), got {text}")
    return value


def noise_level(text: str) -> float:
    """A number; its range depends on --noise, checked against noise.Noise once both are known."""
    return number(text)


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N, where CUDA (and GPU N) exists here."""
    found = re.fullmatch(r"auto|cpu|cuda(?::(\d+))?", text)
    if not found:
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text}: no CUDA device is available here; use cpu or auto")
        count = torch.cuda.device_count()
        if found.group(1) is not None and int(found.group(1)) >= count:
            raise argparse.ArgumentTypeError(f"{text}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return text


def _file_above(path: Path) -> Path | None:
    """The first existing parent of `path` that is not a folder, or None."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _path_to_write(text: str, folder: bool) -> str:
    """A path to make (a folder) or write (a file): nothing above it is a file, and it is not already the
    other kind."""
    path = Path(text)
    blocking = _file_above(path)
    if blocking is not None:
        raise argparse.ArgumentTypeError(f"cannot {'make' if folder else 'write'} {text}: {blocking} is a file")
    if path.exists() and path.is_dir() != folder:
        raise argparse.ArgumentTypeError(f"{text} is {'a file, not a folder' if folder else 'a folder; name a file'}")
    return text


def folder(text: str) -> str:
    """A folder to create or use (a run folder, a cache): neither a file nor under one."""
    return _path_to_write(text, folder=True)


def output_file(text: str) -> str:
    """A file to write: not a folder, and not under a file."""
    return _path_to_write(text, folder=False)


def graph_file(text: str) -> str:
    """A picture of the graph: .svg, .png, .pdf or .dot (.gv)."""
    if Path(text).suffix.lower() not in GRAPH_SUFFIXES:
        raise argparse.ArgumentTypeError(f"cannot render a graph to {text}: name a .svg, .png, .pdf or .dot file")
    return output_file(text)


def figure_file(text: str) -> str:
    """A figure to save: .png, .jpg, .pdf or .svg."""
    if Path(text).suffix.lower() not in FIGURE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"cannot save a figure as {text}: name a .png, .jpg, .pdf or .svg file")
    return output_file(text)


def image_file(text: str) -> str:
    """An image to write, in a format its extension names."""
    try:
        images.check_writable_format(text)
    except images.ImageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return output_file(text)
