"""Module scopes: the path of the nn.Module that is running, recorded on every new graph node.

`nn.Module.__call__` enters `scope(name)`; recording an op reads the current path (`current()`).
Nothing else in the engine knows modules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Scopes(threading.local):
    path: str | None = None


_scopes = _Scopes()


def current() -> str | None:
    """The module path being run in this thread, such as 'Sequential/0:Conv2d', or None."""
    return _scopes.path


@contextmanager
def scope(name: str) -> Iterator[str]:
    """Record ops inside the block under `name`, nested below the enclosing scope."""
    outer = _scopes.path
    _scopes.path = name if outer is None else f"{outer}/{name}"
    try:
        yield _scopes.path
    finally:
        _scopes.path = outer
