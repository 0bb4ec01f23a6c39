"""Module scopes: the path of the nn.Module that is running, recorded on every new graph node.

`nn.Module.__call__` enters `scope(name)`; recording an op reads the current path (`current()`).
Nothing else in the engine knows modules.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch


class _Scopes(threading.local):
    path: str | None = None


_scopes = _Scopes()


def current() -> str | None:
    """The module path being run in this thread, such as 'Sequential/0:Conv2d', or None."""
    return _scopes.path


_OP_NAMED = re.compile(r"([A-Za-z_][\w.]*): (.*)", re.DOTALL)  # 'conv2d: ...', the engine's errors
_IN_SCOPE = re.compile(r"([A-Za-z_][\w.]*) in (\S+): (.*)", re.DOTALL)  # 'conv2d in Sequential/2:Conv2d: ...'
_SHAPE = re.compile(r"\(([\d, ]*?),?\) ")  # a shape in describe()'s text: '(2, 5) float32 on cpu'
_LIBRARIES = {"autograd_engine", "nn", "torch"}  # errors raised in their code are renamed; users' are not


def label(op: str, path: str | None) -> str:
    """How errors name an op run inside a module: 'conv2d in Sequential/2:Conv2d'. Just 'conv2d' outside
    modules, and in a module called on its own (its path is its class name: the caller knows which)."""
    return op if path is None or "/" not in path else f"{op} in {path}"


def in_module(error: Exception, path: str, inputs: str) -> Exception | None:
    """`error` (same type, torch's words kept verbatim) renamed after the module at `path` it came out of,
    with the module's inputs (`inputs`, as describe() writes them) unless the message shows them already:
    - 'conv2d: ...' becomes 'conv2d in Sequential/2:Conv2d: ... [inputs: ...]'; a module called on its own
      keeps 'conv2d: ...';
    - a message naming nothing ('running_mean should contain 5 elements not 3') becomes 'BatchNorm1d: ...'
      ('BatchNorm1d in Sequential/1:BatchNorm1d: ...'), and an internal primitive's name ('pad_edges',
      with its internal inputs) the layer's, when the engine's, nn's or torch's code raised it.
    None to leave `error` as it is: it names the module already (a primitive, an inner module or a hook's
    check named it), it is the user's own error, or its type takes other arguments."""
    message, ours = str(error), _raised_by_library(error)
    named = _IN_SCOPE.fullmatch(message)
    if named is not None:  # by a primitive or an inner module: only an internal op's name is replaced
        op, where, detail = named.groups()
        if where != path or not ours or _is_public(op):
            return None
    else:
        match = _OP_NAMED.fullmatch(message)
        if match is None and (not ours or path in message):  # the user's, or one naming the module (a hook's)
            return None
        op, detail = match.groups() if match is not None else ("", message)
    if ours and not _is_public(op):
        op, detail = path.rpartition("/")[2].rpartition(":")[2], detail.partition(" [inputs: ")[0]
    where = label(op, path)
    if where == op and (not ours or message.startswith(f"{op}: ") and _shows_shapes(detail, inputs)):
        return None
    if inputs and "[inputs: " not in detail and (where != op or not _shows_shapes(detail, inputs)):
        detail += f" [inputs: {inputs}]"
    try:
        return type(error)(f"{where}: {detail}")
    except Exception:  # an exception type that takes other arguments: leave it as it is
        return None


def _is_public(op: str) -> bool:
    """Whether `op` is a name users know (torch's functions and methods), not an internal primitive's."""
    return any(hasattr(space, op) for space in (torch, torch.nn.functional, torch.Tensor))


def _raised_by_library(error: Exception) -> bool:
    """Whether the innermost frame that raised `error` is the engine's, nn's or torch's code."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__", "").split(".")[0] in _LIBRARIES


def _shows_shapes(message: str, inputs: str) -> bool:
    """Whether `message` shows an input's shape, as (2, 5) or [2, 5], or lists the inputs already."""
    if "[inputs: " in message:
        return True
    return any(f"({dims})" in message or f"[{dims}]" in message for dims in _SHAPE.findall(inputs) if dims)


@contextmanager
def scope(name: str) -> Iterator[str]:
    """Record ops inside the block under `name`, nested below the enclosing scope."""
    outer = _scopes.path
    _scopes.path = name if outer is None else f"{outer}/{name}"
    try:
        yield _scopes.path
    finally:
        _scopes.path = outer
