"""Anomaly mode: find the op that first produced a NaN or inf, in the forward or the backward pass.

While it is on (this thread only), every op checks its result, every VJP checks the gradient it
produced, and each recorded node remembers the user code line that created it. Off (the default),
nothing is checked and no stack is captured, so normal runs pay nothing.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import torch

from .grad_mode import SavedPerThread, _mode

_F = TypeVar("_F", bound=Callable[..., Any])
_OWN = (str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "nn"))


class AnomalyError(RuntimeError):
    """A NaN or inf appeared; the message names the op, its inputs and where it was recorded."""


class detect_anomaly(SavedPerThread):  # noqa: N801 (torch's name)
    """Context manager and decorator: raise `AnomalyError` at the first NaN/inf in forward or backward."""

    def __enter__(self) -> None:
        self._save(_mode.anomaly)
        _mode.anomaly = True

    def __exit__(self, *exc: object) -> None:
        _mode.anomaly = self._restore()

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def is_anomaly_enabled() -> bool:
    return _mode.anomaly


def user_frame() -> str:
    """'file:line in function' of the innermost caller outside autograd_engine and nn."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_OWN):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _bad(t: Any) -> str | None:
    if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
        return "nan" if bool(torch.isnan(t).any()) else "inf"
    return None


def _inputs(args: Sequence[Any]) -> str:
    parts = [f"{tuple(a.shape)} {str(a.dtype).removeprefix('torch.')}" for a in args if hasattr(a, "shape")]
    return ", ".join(parts) or "no tensor inputs"


def check_forward(name: str, raw: Sequence[Any], out: torch.Tensor, where: str) -> None:
    kind = _bad(out)
    if kind is not None:
        raise AnomalyError(f"{name} produced {kind} in the forward pass (inputs: {_inputs(raw)}); recorded at {where}")


def check_backward(name: str, index: int, grad: Any, args: Sequence[Any], where: str | None) -> None:
    kind = _bad(grad.data if hasattr(grad, "data") and not isinstance(grad, torch.Tensor) else grad)
    if kind is not None:
        raise AnomalyError(
            f"the gradient of {name} for its input {index} is {kind} in the backward pass (inputs: "
            f"{_inputs(args)}); the op was recorded at {where or '<recorded outside anomaly mode>'}"
        )
