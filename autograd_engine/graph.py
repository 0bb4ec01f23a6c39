"""Reading recorded graphs: export to networkx, render with graphviz, summarise.

Nothing here changes a graph: it walks `Node.parents` from the outputs (iteratively, so 100,000-node
graphs are fine) and reads each node's primitive, output metadata, scope and saved tensors.
Edges go from inputs to outputs.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import networkx as nx

from .node import Node
from .variable import Variable

FORMATS = ("svg", "png", "pdf", "dot")
STYLE = {
    "op": dict(shape="box", style="rounded,filled", fillcolor="#f4f4f5", color="#52525b"),
    "leaf": dict(shape="ellipse", style="filled", fillcolor="#dbeafe", color="#1d4ed8"),
    "param": dict(shape="box", style="filled", fillcolor="#dcfce7", color="#15803d"),
    "module": dict(shape="box3d", style="filled", fillcolor="#fef3c7", color="#b45309"),
}
OUTPUT_STYLE = dict(penwidth="2.5", color="#dc2626")


class GraphvizNotFoundError(RuntimeError):
    """graphviz's `dot` program is needed to render and is not installed."""


# --- export ---------------------------------------------------------------------------------------
def to_networkx(*outputs: Variable, params: Any = None) -> nx.DiGraph:
    """The graph behind `outputs` as a networkx DiGraph with integer nodes, edges from inputs to outputs.

    Node attributes: op (primitive name, 'leaf' or 'param'), shape, dtype, device, requires_grad, name
    (parameter name from `params` — a Module or a pytree of Variables — or the Variable's own name),
    scope (module path when recorded), numel, saved_bytes (what the node keeps alive for backward)
    and output. Edge attribute `args`: the argument positions the value feeds.
    """
    names = _parameter_names(params)
    roots = [_node_of(v) for v in outputs]
    ids: dict[Node, int] = {}
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if node in ids:
            continue
        ids[node] = len(ids)
        stack.extend(p for p in reversed(node.parents) if p is not None and p not in ids)
    graph = nx.DiGraph()
    outs = set(roots)
    for node, i in ids.items():
        graph.add_node(i, **_attributes(node, names, node in outs))
    for node, i in ids.items():
        for pos, p in enumerate(node.parents):
            if p is not None:
                if graph.has_edge(ids[p], i):
                    graph.edges[ids[p], i]["args"] += (pos,)
                else:
                    graph.add_edge(ids[p], i, args=(pos,))
    return graph


def _node_of(v: Variable) -> Node:
    if not isinstance(v, Variable):
        raise TypeError(f"graph: expected Variables as outputs, got {type(v).__name__}")
    return v.node if v.node is not None else Node.leaf(v)


def _parameter_names(params: Any) -> dict[Node, str]:
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        named = list(params.named_parameters())
    else:
        named = _pytree_names(params)
    return {v.node: name for name, v in named if isinstance(v, Variable) and v.node is not None}


def _pytree_names(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        items: Iterable[tuple[Any, Any]] = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return [(prefix or "param", tree)]
    out = []
    for key, value in items:
        out.extend(_pytree_names(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _attributes(node: Node, names: dict[Node, str], is_output: bool) -> dict[str, Any]:
    var = node.variable() if node.variable is not None else None
    name = names.get(node) or (var.name if var is not None else None) or ""
    if node.prim is not None:
        op = node.prim.name
    else:
        op = "param" if node in names or getattr(var, "is_parameter", False) else "leaf"
    return dict(
        op=op,
        shape=tuple(node.shape),
        dtype=str(node.dtype).removeprefix("torch."),
        device=str(node.device),
        requires_grad=node.prim is not None or bool(var is not None and var.requires_grad),
        name=name,
        scope=node.scope or "",
        numel=math.prod(node.shape),
        saved_bytes=node.saved_bytes(),
        output=is_output,
    )


# --- collapsing modules ---------------------------------------------------------------------------
def collapse_modules(graph: nx.DiGraph, depth: int) -> nx.DiGraph:
    """Merge every module at `depth` (0: the outermost module) into one node of op 'module'.

    Ops recorded in a shallower module without children at that depth (a loss module beside the
    model, say) merge into that module. A merged node carries the module's path (`scope`), its
    parameter count (`params`), the shape of what leaves it (`shape`), its op count and saved bytes.
    Nodes recorded outside any module stay as they are.
    """

    def group(attrs: dict[str, Any]) -> str | None:
        return "/".join(attrs["scope"].split("/")[: depth + 1]) if attrs["scope"] else None

    members: dict[str, list[int]] = defaultdict(list)
    key_of: dict[int, Any] = {}
    for n, attrs in graph.nodes(data=True):
        g = group(attrs)
        key_of[n] = ("module", g) if g is not None else n
        if g is not None:
            members[g].append(n)
    out = nx.DiGraph()
    for n, attrs in graph.nodes(data=True):
        if key_of[n] == n:
            out.add_node(n, **attrs)
    for path, nodes in members.items():
        leaving = [n for n in nodes if graph.nodes[n]["output"] or any(key_of[s] != key_of[n] for s in graph.succ[n])]
        shapes = list(dict.fromkeys(graph.nodes[n]["shape"] for n in leaving))
        out.add_node(
            ("module", path),
            op="module",
            name=path.rsplit("/", 1)[-1],
            scope=path,
            shape=shapes[0] if len(shapes) == 1 else tuple(shapes),
            params=sum(graph.nodes[n]["numel"] for n in nodes if graph.nodes[n]["op"] == "param"),
            ops=sum(1 for n in nodes if graph.nodes[n]["op"] not in ("param", "leaf")),
            saved_bytes=sum(graph.nodes[n]["saved_bytes"] for n in nodes),
            output=any(graph.nodes[n]["output"] for n in nodes),
            requires_grad=True,
        )
    for a, b in graph.edges:
        if key_of[a] != key_of[b]:
            out.add_edge(key_of[a], key_of[b])
    return nx.convert_node_labels_to_integers(out, label_attribute="key")


# --- drawing --------------------------------------------------------------------------------------
def to_dot(
    *outputs: Variable,
    params: Any = None,
    scopes: bool = False,
    collapse: int | None = None,
    max_nodes: int = 500,
    rankdir: str = "TB",
) -> graphviz.Digraph:
    """A graphviz Digraph of the graph behind `outputs`.

    Ops show their name and output shape; parameters their name, shape and element count; leaves,
    parameters, ops and collapsed modules have distinct shapes and colours; outputs (the loss when
    scalar) are outlined in red. `scopes=True` draws each module as a cluster; `collapse=depth` draws
    every module at that depth as a single node; a graph of more than `max_nodes` nodes is refused.
    """
    graph = to_networkx(*outputs, params=params)
    if collapse is not None:
        graph = collapse_modules(graph, collapse)
    if graph.number_of_nodes() > max_nodes:
        raise ValueError(
            f"graph: {graph.number_of_nodes()} nodes is more than max_nodes={max_nodes} can lay out "
            "readably; pass collapse=1 (or a smaller depth) to draw modules as single nodes, or raise "
            "max_nodes"
        )
    dot = graphviz.Digraph(
        graph_attr=dict(rankdir=rankdir, fontname="Helvetica", fontsize="11"),
        node_attr=dict(fontname="Helvetica", fontsize="10"),
        edge_attr=dict(color="#71717a"),
    )
    clusters = _cluster_tree(graph) if scopes else {"": ([*graph.nodes], {})}
    _draw_cluster(dot, graph, "", clusters)
    for a, b in graph.edges:
        dot.edge(str(a), str(b))
    return dot


def _cluster_tree(graph: nx.DiGraph) -> dict[str, Any]:
    """Nested clusters: path -> (nodes drawn directly in it, child paths)."""
    tree: dict[str, tuple[list[int], dict[str, None]]] = {"": ([], {})}

    def ensure(path: str) -> None:
        if path not in tree:
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            ensure(parent)
            tree[path] = ([], {})
            tree[parent][1][path] = None

    for n, attrs in graph.nodes(data=True):
        path = attrs["scope"]
        if attrs["op"] == "module":
            path = path.rsplit("/", 1)[0] if "/" in path else ""
        ensure(path)
        tree[path][0].append(n)
    return tree


def _draw_cluster(dot: graphviz.Digraph, graph: nx.DiGraph, path: str, tree: dict[str, Any]) -> None:
    nodes, children = tree[path]
    for n in nodes:
        attrs = graph.nodes[n]
        kind = attrs["op"] if attrs["op"] in STYLE else "op"
        dot.node(str(n), label=_label(attrs), **{**STYLE[kind], **(OUTPUT_STYLE if attrs["output"] else {})})
    for child in children:
        with dot.subgraph(name=f"cluster_{child}") as sub:
            sub.attr(label=child.rsplit("/", 1)[-1], style="rounded,dashed", color="#a1a1aa", fontsize="10")
            _draw_cluster(sub, graph, child, tree)


def _label(attrs: dict[str, Any]) -> str:
    shape = _shape_text(attrs["shape"])
    op = attrs["op"]
    if op == "param":
        lines = [attrs["name"] or "param", shape, f"{attrs['numel']:,} params"]
    elif op == "leaf":
        lines = [attrs["name"] or "input", shape]
    elif op == "module":
        lines = [attrs["name"], f"{attrs['params']:,} params", f"-> {shape}"]
    else:
        lines = [op, shape]
    if attrs["output"]:
        lines.insert(0, "loss" if attrs.get("numel", 0) == 1 and op != "module" else "output")
    return "\n".join(lines)


def _shape_text(shape: Any) -> str:
    if shape and isinstance(shape[0], tuple):
        return " | ".join(_shape_text(s) for s in shape)
    return "scalar" if shape == () else "(" + ", ".join(str(s) for s in shape) + ")"


def render(*outputs: Variable, path: str | Path, format: str | None = None, **options: Any) -> Path:  # noqa: A002
    """Draw the graph behind `outputs` to `path` as svg, png, pdf or dot (format from the extension by
    default); options as for `to_dot`. Returns the path."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt == "gv":
        fmt = "dot"
    if fmt not in FORMATS:
        raise ValueError(f"render: unknown format {fmt!r} for {path}; use one of {', '.join(FORMATS)}")
    dot = to_dot(*outputs, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        path.write_text(dot.source)
        return path
    if not dot_available():
        raise GraphvizNotFoundError(
            f"render: writing {fmt} needs graphviz's `dot` program, which is not installed; install it with "
            "`apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS), or write .dot instead "
            "(to_dot() and to_networkx() work without it)"
        )
    path.write_bytes(dot.pipe(format=fmt))
    return path


def dot_available() -> bool:
    """Whether graphviz's `dot` program can be run."""
    return shutil.which("dot") is not None


def svg_for_notebook(*outputs: Variable, params: Any = None, max_nodes: int = 300) -> str | None:
    """SVG for Jupyter display: the full graph, else modules collapsed, else None (too big or no dot)."""
    if not dot_available():
        return None
    for depth in (None, 1, 0):
        try:
            dot = to_dot(*outputs, params=params, scopes=depth is None, collapse=depth, max_nodes=max_nodes)
        except ValueError:
            continue
        return dot.pipe(format="svg").decode()
    return None


# --- summaries ------------------------------------------------------------------------------------
@dataclass
class GraphSummary:
    """Per-op and per-module tables of a graph, plus its depth (longest path) and totals."""

    by_op: list[dict[str, Any]] = field(default_factory=list)
    by_module: list[dict[str, Any]] = field(default_factory=list)
    depth: int = 0
    nodes: int = 0
    edges: int = 0
    params: int = 0
    saved_bytes: int = 0

    def __str__(self) -> str:
        return "\n".join(
            [
                _table(
                    ["op", "count", "params", "output shapes", "saved bytes"],
                    [
                        [r["op"], r["count"], r["params"], _shapes_text(r["shapes"]), r["saved_bytes"]]
                        for r in self.by_op
                    ],
                ),
                "",
                _table(
                    ["module", "ops", "params", "output shape", "saved bytes"],
                    [
                        [r["module"], r["ops"], r["params"], _shapes_text(r["shapes"]), r["saved_bytes"]]
                        for r in self.by_module
                    ],
                ),
                "",
                f"nodes {self.nodes:,}  edges {self.edges:,}  depth {self.depth:,}  params {self.params:,}  "
                f"saved {self.saved_bytes:,} bytes",
            ]
        )


def summary(*outputs: Variable, params: Any = None) -> GraphSummary:
    """Count, parameters, output shapes and saved bytes per op type and per module scope."""
    graph = to_networkx(*outputs, params=params)
    ops: dict[str, dict[str, Any]] = {}
    modules: dict[str, dict[str, Any]] = {}
    for n, a in graph.nodes(data=True):
        row = ops.setdefault(a["op"], dict(op=a["op"], count=0, params=0, shapes=[], saved_bytes=0))
        row["count"] += 1
        row["params"] += a["numel"] if a["op"] == "param" else 0
        row["saved_bytes"] += a["saved_bytes"]
        if a["shape"] not in row["shapes"]:
            row["shapes"].append(a["shape"])
        scope = a["scope"] or "(none)"
        mod = modules.setdefault(scope, dict(module=scope, ops=0, params=0, shapes=[], saved_bytes=0))
        mod["ops"] += a["op"] not in ("param", "leaf")
        mod["params"] += a["numel"] if a["op"] == "param" else 0
        mod["saved_bytes"] += a["saved_bytes"]
        if (a["output"] or any(graph.nodes[s]["scope"] != a["scope"] for s in graph.succ[n])) and a["shape"] not in mod[
            "shapes"
        ]:
            mod["shapes"].append(a["shape"])
    params_total = sum(r["params"] for r in ops.values())
    return GraphSummary(
        by_op=sorted(ops.values(), key=lambda r: (-r["count"], r["op"])),
        by_module=list(modules.values()),
        depth=nx.dag_longest_path_length(graph),
        nodes=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        params=params_total,
        saved_bytes=sum(r["saved_bytes"] for r in ops.values()),
    )


def _shapes_text(shapes: list[tuple[int, ...]]) -> str:
    text = ", ".join(_shape_text(s) for s in shapes[:3])
    return text + (f" (+{len(shapes) - 3} more)" if len(shapes) > 3 else "")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])
