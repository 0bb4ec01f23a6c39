"""Saving and loading state dicts: torch.save through a temporary file and an atomic rename, and
torch.load(weights_only=True), so a crash never leaves half a file and loading never runs code.

`save` takes only what `load` reads back: tensors (nn.Parameter's .data, torch.nn.Parameter), state dicts,
and dict / OrderedDict / list / tuple / set of those and of str, bytes, int, float, complex, bool, None,
torch.dtype, torch.device, torch.Size; anything else is refused before a byte is written, with what to
pass instead. `load` checks the CRC-32 that the zip archive (torch's format) stores for every record,
so a byte changed or damaged anywhere in the data is an error rather than wrong weights; files from
torch.save and from earlier versions load the same way.
"""

from __future__ import annotations

import collections
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from autograd_engine import Variable

from .module import Module

_LEAVES = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    torch.dtype,
    torch.device,
    torch.Tensor,
    torch.nn.Parameter,
)
_CONTAINERS = (dict, collections.OrderedDict, list, tuple, set, torch.Size)


def save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write `obj` (a state dict, or a dict of them) to `path` atomically; returns the path."""
    _check_saveable(obj)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions a plain open() would give, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_saveable(obj: Any) -> None:
    """Raise TypeError naming the first value (and where it sits) that torch.load(weights_only=True) refuses."""
    todo: list[tuple[Any, str, bool]] = [(obj, "", False)]  # (value, where, is a dict key)
    seen: set[int] = set()
    while todo:
        value, where, is_key = todo.pop()
        kind = type(value)
        if kind in _LEAVES:
            continue
        if kind not in _CONTAINERS:
            place = f" as a key in {where or 'the dict'}" if is_key else where and f" at {where}"
            raise TypeError(f"nn.save: got {_what(value)}{place}; {_instead(value)}")
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            inside = [x for k, v in value.items() for x in ((k, where, True), (v, f"{where}[{k!r}]", False))]
        else:
            inside = [(v, f"{where}[{i}]", False) for i, v in enumerate(value)]
        todo += reversed(inside)  # the first problem in order is the one reported


def _what(value: Any) -> str:
    name = type(value).__name__
    article = "an" if name[0].lower() in "aeiou" else "a"
    for base in (Module, Variable):
        if isinstance(value, base) and type(value) is not base:
            return f"{article} {name} (a {base.__name__})"
    return f"{article} {name}"


def _instead(value: Any) -> str:
    if isinstance(value, Module):
        return "save module.state_dict() (and restore it with module.load_state_dict(nn.load(path)))"
    if isinstance(value, Variable):
        return "save its tensor (.data) or a module's state_dict()"
    if callable(getattr(value, "state_dict", None)):
        return "save its state_dict() (and restore it with load_state_dict(nn.load(path)))"
    if isinstance(value, torch.Tensor):
        return "save a plain tensor (x.as_subclass(torch.Tensor))"
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return "save torch.as_tensor(x) (or x.item() for a scalar)"
    return (
        "nn.save writes what nn.load reads back: tensors, state dicts, and dicts, lists and tuples of them "
        "and of str, int, float, bool and None"
    )


def load(path: str | os.PathLike[str], map_location: Any = None) -> Any:
    """Read what `save` wrote (weights only); a missing, truncated, damaged or altered file raises one clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    is_zip = zipfile.is_zipfile(path)  # torch's format since 1.6; the legacy one is still tried
    try:
        damaged = _damaged_record(path) if is_zip else None
        if damaged is None:
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types, some with pages of advice, for corrupt archives
        first_line = str(e).strip().split("\n", 1)[0]
        why = f"{type(e).__name__}: {first_line}" if is_zip else "not a zip archive, the format torch.save writes"
        raise ValueError(
            f"{path} is not a readable checkpoint (truncated, corrupted or not saved with nn.save): {why}"
        ) from e
    raise ValueError(
        f"{path} is not a readable checkpoint: its record {damaged} does not match the CRC-32 stored when it "
        f"was saved (the file was damaged or changed after saving)"
    )


def _damaged_record(path: Path) -> str | None:
    """The first record of a zip checkpoint whose data does not match its stored CRC-32 (torch.load does not
    check them), or None."""
    with zipfile.ZipFile(path) as archive:
        return archive.testzip()
