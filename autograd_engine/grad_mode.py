"""Whether operations are being recorded: a per-thread switch, like torch's grad mode."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


class _GradMode(threading.local):
    enabled = True
    anomaly = False  # autograd_engine.anomaly: check every op for NaN/inf and remember where it ran


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when new operations on Variables that require grad are recorded (this thread)."""
    return _mode.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns recording on or off for this thread."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(_mode.enabled)
        _mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self.prev.pop()

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """Run without recording: results do not require grad and keep no graph alive."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Turn recording back on inside a `no_grad` block."""

    def __init__(self) -> None:
        super().__init__(True)
