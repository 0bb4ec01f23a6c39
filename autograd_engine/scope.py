"""Module scopes: the path of the nn.Module that is running, recorded on every new graph node.

`nn.Module.__call__` enters `scope(name)`; recording an op reads the current path (`current()`).
Nothing else in the engine knows modules.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Scopes(threading.local):
    path: str | None = None


_scopes = _Scopes()


def current() -> str | None:
    """The module path being run in this thread, such as 'Sequential/0:Conv2d', or None."""
    return _scopes.path


_OP_NAMED = re.compile(r"([A-Za-z_][\w.]*): (.*)", re.DOTALL)  # 'conv2d: ...', the engine's errors


def label(op: str, path: str | None) -> str:
    """How errors name an op run inside a module: 'conv2d in Sequential/2:Conv2d'. Just 'conv2d' outside
    modules, and in a module called on its own (its path is its class name: the caller knows which)."""
    return op if path is None or "/" not in path else f"{op} in {path}"


def in_module(error: Exception, path: str, inputs: str) -> Exception | None:
    """`error` (same type) renamed after the module it came out of: 'conv2d: ...' becomes 'conv2d in
    Sequential/2:Conv2d: ... [inputs: ...]'. None when its message does not start with an op's name
    (a primitive's errors already name the module, and so does an error that an inner module renamed)."""
    match = _OP_NAMED.fullmatch(str(error))
    if match is None:
        return None
    op, detail = match.groups()
    where = label(op, path)
    if where == op:
        return None
    if "[inputs: " not in detail:
        detail += f" [inputs: {inputs}]"
    try:
        return type(error)(f"{where}: {detail}")
    except Exception:  # an exception type that takes other arguments: leave it as it is
        return None


@contextmanager
def scope(name: str) -> Iterator[str]:
    """Record ops inside the block under `name`, nested below the enclosing scope."""
    outer = _scopes.path
    _scopes.path = name if outer is None else f"{outer}/{name}"
    try:
        yield _scopes.path
    finally:
        _scopes.path = outer
