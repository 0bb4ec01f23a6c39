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


class SavedPerThread:
    """What a context manager restores on exit, kept per thread and per entry: one object may be
    entered from several threads at once (and re-entered in one), and each gets back its own state."""

    def __init__(self) -> None:
        self._saved: dict[int, list[Any]] = {}

    def _save(self, state: Any) -> None:
        self._saved.setdefault(threading.get_ident(), []).append(state)

    def _restore(self) -> Any:
        thread = threading.get_ident()
        saved = self._saved[thread]
        state = saved.pop()
        if not saved:
            del self._saved[thread]
        return state


class _Switch(SavedPerThread):
    """Recording on or off for this thread inside a `with` block or a decorated function."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self._save(_mode.enabled)
        _mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._restore()

    def __call__(self, fn: _F) -> _F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _Switch(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class set_grad_enabled(_Switch):
    """Turn recording on or off for this thread: at once when called (as torch's), until the `with`
    block it opens ends; also a decorator (which leaves the mode as it was)."""

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self._before: tuple[int, bool | None] = (threading.get_ident(), _mode.enabled)
        _mode.enabled = self.mode

    def __enter__(self) -> None:
        thread, before = self._before
        if thread == threading.get_ident() and before is not None:  # the switch already happened in __init__
            self._before = (thread, None)
            self._save(before)
        else:
            super().__enter__()

    def __call__(self, fn: _F) -> _F:
        thread, before = self._before
        if thread == threading.get_ident() and before is not None:  # decorating: undo the switch
            _mode.enabled, self._before = before, (thread, None)
        return super().__call__(fn)


class no_grad(_Switch):
    """Run without recording: results do not require grad and keep no graph alive."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_Switch):
    """Turn recording back on inside a `no_grad` block."""

    def __init__(self) -> None:
        super().__init__(True)
