"""Nested lists, tuples (named ones too) and dicts of leaves: flatten to a list and rebuild."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TreeSpec = Any  # None for a leaf, else (container type, keys or length, child specs)


def tree_flatten(tree: Any) -> tuple[list[Any], TreeSpec]:
    """Leaves in order (dicts by insertion order) and a spec that `tree_unflatten` rebuilds from."""
    leaves: list[Any] = []

    def walk(node: Any) -> TreeSpec:
        if isinstance(node, dict):
            return (type(node), tuple(node), tuple(walk(v) for v in node.values()))
        if isinstance(node, (list, tuple)):
            return (type(node), len(node), tuple(walk(v) for v in node))
        leaves.append(node)
        return None

    return leaves, walk(tree)


def tree_unflatten(spec: TreeSpec, leaves: list[Any]) -> Any:
    """Inverse of `tree_flatten`."""
    it = iter(leaves)

    def build(s: TreeSpec) -> Any:
        if s is None:
            return next(it)
        kind, keys, children = s
        values = [build(c) for c in children]
        if issubclass(kind, dict):
            return kind(zip(keys, values))
        if issubclass(kind, tuple) and hasattr(kind, "_fields"):
            return kind(*values)
        return kind(values)

    return build(spec)


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, spec = tree_flatten(tree)
    return tree_unflatten(spec, [fn(leaf) for leaf in leaves])
