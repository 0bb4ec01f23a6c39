"""Saving and loading state dicts: torch.save through a temporary file and an atomic rename, and
torch.load(weights_only=True), so a crash never leaves half a file and loading never runs code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write `obj` (a state dict, or a dict of them) to `path` atomically; returns the path."""
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


def load(path: str | os.PathLike[str], map_location: Any = None) -> Any:
    """Read what `save` wrote (weights only); a missing, truncated or tampered file raises one clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for corrupt archives
        raise ValueError(
            f"{path} is not a readable checkpoint (truncated, corrupted or not saved with "
            f"nn.save): {type(e).__name__}: {e}"
        ) from e
