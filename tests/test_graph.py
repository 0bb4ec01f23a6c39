"""Graph export, rendering and summaries: exact nodes, edges and attributes, real renders with dot."""

from __future__ import annotations

import runpy
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
import torch

import autograd_engine as ag
import nn

from .test_nn_layers import seed_model

ROOT = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(not ag.graph.dot_available(), reason="graphviz's dot is not installed")


def by_op(graph: nx.DiGraph) -> dict[str, list[int]]:
    ops: dict[str, list[int]] = {}
    for n, a in graph.nodes(data=True):
        ops.setdefault(a["op"], []).append(n)
    return ops


def small_graph(device: str = "cpu"):
    x = ag.Variable(torch.ones(2, 3, device=device), requires_grad=True, name="x")
    w = ag.Variable(torch.full((3,), 2.0, device=device), requires_grad=True)
    y = x * w  # broadcasting (2, 3) * (3,)
    z = y + y  # a value used twice
    return x, w, y, z, z.sum()


def test_small_graph_nodes_edges_and_attributes(device):
    x, w, y, z, out = small_graph(device)
    g = ag.graph.to_networkx(out, params={"w": w})
    ops = by_op(g)
    assert sorted(ops) == ["add", "leaf", "mul", "param", "sum"] and all(len(v) == 1 for v in ops.values())
    (leaf,), (param,), (mul,), (add,), (total,) = (ops[k] for k in ["leaf", "param", "mul", "add", "sum"])
    assert set(g.edges) == {(leaf, mul), (param, mul), (mul, add), (add, total)}
    assert g.edges[mul, add]["args"] == (0, 1) and g.edges[param, mul]["args"] == (1,)
    a = g.nodes
    assert a[leaf]["name"] == "x" and a[leaf]["shape"] == (2, 3) and a[leaf]["requires_grad"]
    assert a[param]["name"] == "w" and a[param]["numel"] == 3 and a[param]["shape"] == (3,)
    assert a[mul]["shape"] == (2, 3) and a[mul]["saved_bytes"] == (6 + 3) * 4  # mul keeps both inputs
    assert a[add]["saved_bytes"] == 0 and a[total]["shape"] == () and a[total]["output"]
    assert not any(a[n]["output"] for n in (leaf, param, mul, add))
    assert {a[n]["dtype"] for n in g} == {"float32"} and {a[n]["device"] for n in g} == {str(x.device)}
    assert a[mul]["scope"] == ""


def test_shared_subexpression_is_one_node():
    x = ag.Variable(torch.randn(4), requires_grad=True)
    h = x.exp()
    out = (h * h + h).sum()
    g = ag.graph.to_networkx(out)
    ops = by_op(g)
    assert len(ops["exp"]) == 1 and len(ops["leaf"]) == 1
    (exp,), (mul,), (add,) = ops["exp"], ops["mul"], ops["add"]
    assert set(g.successors(exp)) == {mul, add} and g.edges[exp, mul]["args"] == (0, 1)
    assert g.nodes[exp]["saved_bytes"] == 16  # exp keeps its output


def test_multiple_outputs_and_graph_left_unchanged():
    x = ag.Variable(torch.randn(3), requires_grad=True)
    a, b = x.exp(), x * 2
    g = ag.graph.to_networkx(a, b)
    assert g.number_of_nodes() == 3 and sum(d["output"] for _, d in g.nodes(data=True)) == 2
    (a + b).sum().backward(retain_graph=True)
    torch.testing.assert_close(x.grad.data, x.data.exp() + 2)
    assert nx.utils.graphs_equal(g, ag.graph.to_networkx(a, b))  # reading and backward changed nothing
    (a + b).sum().backward()  # released: each output is a lone node that keeps nothing
    after = ag.graph.to_networkx(a, b)
    assert after.number_of_nodes() == 2 and all(d["saved_bytes"] == 0 for _, d in after.nodes(data=True))


def test_sequential_scopes_and_parameter_names():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    loss = nn.MSE()(model(ag.Variable(torch.randn(5, 4))), torch.zeros(5, 2))
    g = ag.graph.to_networkx(loss, params=model)
    params = {d["name"]: d for _, d in g.nodes(data=True) if d["op"] == "param"}
    assert set(params) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert params["0.weight"]["scope"] == "Sequential/0:Linear" and params["0.weight"]["numel"] == 12
    scopes = {d["scope"] for _, d in g.nodes(data=True)}
    assert scopes == {"Sequential/0:Linear", "Sequential/1:ReLU", "Sequential/2:Linear", "MSE", ""} - {""}
    unnamed = ag.graph.to_networkx(loss)  # without params: the attribute names
    assert {d["name"] for _, d in unnamed.nodes(data=True) if d["op"] == "param"} == {"weight", "bias"}


def test_functional_graph_names_from_a_params_pytree():
    params = {
        "layer": {"w": ag.Variable(torch.randn(3, 2), requires_grad=True)},
        "b": [ag.Variable(torch.zeros(2), requires_grad=True)],
    }
    out = ag.tanh(torch.randn(4, 3) @ params["layer"]["w"] + params["b"][0]).sum()
    g = ag.graph.to_networkx(out, params=params)
    names = {d["name"] for _, d in g.nodes(data=True) if d["op"] == "param"}
    assert names == {"layer.w", "b.0"}


def seed_loss(batch: int = 2):
    model, _ = seed_model()
    x = ag.Variable(torch.rand(batch, 3, 32, 32), requires_grad=True)
    return model, nn.MSE()(model(x), torch.rand(batch, 3, 32, 32))


def test_collapse_on_the_seed_model():
    model, loss = seed_loss()
    g = ag.graph.collapse_modules(ag.graph.to_networkx(loss, params=model), 1)
    modules = {d["scope"]: d for _, d in g.nodes(data=True) if d["op"] == "module"}
    expected = [
        "Sequential/0:Conv2d",
        "Sequential/1:ReLU",
        "Sequential/2:Conv2d",
        "Sequential/3:ReLU",
        "Sequential/4:ConvTranspose2d",
        "Sequential/5:ReLU",
        "Sequential/6:ConvTranspose2d",
        "Sequential/7:Sigmoid",
        "MSE",
    ]
    assert sorted(modules) == sorted(expected)
    assert [modules[p]["params"] for p in expected] == [672, 0, 41664, 0, 41496, 0, 651, 0, 0]
    assert modules["Sequential/2:Conv2d"]["shape"] == (2, 192, 8, 8) and modules["MSE"]["output"]
    assert g.number_of_nodes() == 10  # 9 modules and the input
    chain = nx.dag_longest_path(g)
    assert [g.nodes[n].get("scope") for n in chain[1:]] == expected
    whole = ag.graph.collapse_modules(ag.graph.to_networkx(loss, params=model), 0)
    assert sorted(d["scope"] for _, d in whole.nodes(data=True) if d["op"] == "module") == ["MSE", "Sequential"]


def test_dot_options_scopes_rankdir_and_max_nodes():
    model, loss = seed_loss()
    source = ag.graph.to_dot(loss, params=model, scopes=True, rankdir="LR").source
    assert "subgraph cluster_Sequential {" in source and 'subgraph "cluster_Sequential/0:Conv2d"' in source
    assert "rankdir=LR" in source and "0.weight" in source and "648 params" in source
    with pytest.raises(ValueError, match=r"more than max_nodes=10 .* collapse=1"):
        ag.graph.to_dot(loss, max_nodes=10)
    assert ag.graph.to_dot(loss, collapse=1, max_nodes=10).source.count("box3d") == 9


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@needs_dot
def test_render_svg_png_pdf_and_dot(tmp_path):
    model, loss = seed_loss()
    svg = ag.graph.render(loss, path=tmp_path / "g.svg", params=model, scopes=True)
    texts = svg_texts(svg)
    assert "0.weight" in texts and "(24, 3, 3, 3)" in texts and "648 params" in texts and "loss" in texts
    assert "conv2d" in texts and "conv_transpose2d" in texts and "0:Conv2d" in texts
    collapsed = svg_texts(ag.graph.render(loss, path=tmp_path / "c.svg", params=model, collapse=1))
    assert "4:ConvTranspose2d" in collapsed and "41,496 params" in collapsed
    png = ag.graph.render(loss, path=tmp_path / "g.png", collapse=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ag.graph.render(loss, path=tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"
    assert ag.graph.render(loss, path=tmp_path / "g.any", format="dot").read_text().startswith("digraph")


def test_render_without_dot_says_how_to_install(tmp_path, monkeypatch):
    _, loss = seed_loss()
    monkeypatch.setattr(ag.graph.shutil, "which", lambda name: None)
    with pytest.raises(ag.graph.GraphvizNotFoundError, match="apt-get install graphviz"):
        ag.graph.render(loss, path=tmp_path / "g.svg")
    assert ag.graph.render(loss, path=tmp_path / "g.dot").exists()  # dot source needs no program
    assert ag.graph.to_dot(loss).source and ag.graph.to_networkx(loss).number_of_nodes() > 0
    with pytest.raises(ValueError, match="unknown format 'jpg'"):
        ag.graph.render(loss, path=tmp_path / "g.jpg")


def test_summary_numbers():
    x, w, y, z, out = small_graph()
    s = ag.graph.summary(out, params={"w": w})
    rows = {r["op"]: r for r in s.by_op}
    assert {k: r["count"] for k, r in rows.items()} == {"leaf": 1, "param": 1, "mul": 1, "add": 1, "sum": 1}
    assert rows["param"]["params"] == 3 and rows["mul"]["saved_bytes"] == 36 and rows["mul"]["shapes"] == [(2, 3)]
    assert s.nodes == 5 and s.edges == 4 and s.depth == 3 and s.params == 3 and s.saved_bytes == 36
    text = str(s)
    assert "mul" in text and "depth 3" in text and "params 3" in text

    model, loss = seed_loss()
    s = ag.graph.summary(loss, params=model)
    modules = {r["module"]: r for r in s.by_module}
    assert modules["Sequential/0:Conv2d"]["params"] == 672 and s.params == model.num_parameters()
    assert modules["Sequential/2:Conv2d"]["shapes"] == [(2, 192, 8, 8)]
    assert modules["MSE"]["shapes"] == [()] and s.depth == nx.dag_longest_path_length(ag.graph.to_networkx(loss))


def test_long_chain_exports_in_seconds():
    x = ag.Variable(torch.ones(1), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    start = time.perf_counter()
    g = ag.graph.to_networkx(y)
    assert g.number_of_nodes() == 100_001 and g.number_of_edges() == 100_000
    assert time.perf_counter() - start < 30  # generous: a recursion error or quadratic walk would fail


def test_graph_of_gradients():
    x = ag.Variable(torch.randn(3), requires_grad=True)
    (ag.sigmoid(x) * x).sum().backward(create_graph=True)
    g = ag.graph.to_networkx(x.grad)
    assert nx.is_directed_acyclic_graph(g) and g.number_of_nodes() > 5
    assert {"leaf", "sigmoid", "mul"} <= {d["op"] for _, d in g.nodes(data=True)}


@needs_dot
def test_notebook_display():
    x = ag.Variable(torch.randn(3), requires_grad=True)
    bundle = (x * 2).sum()._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg")) and "text/plain" in bundle
    assert "image/svg+xml" not in x._repr_mimebundle_()  # a lone leaf has no graph to draw
    model, _ = seed_model(factor=2)
    assert set(model._repr_mimebundle_()) == {"text/plain"}  # never called: nothing to trace
    model(ag.Variable(torch.rand(1, 3, 16, 16)))
    assert "Conv2d" in model._repr_mimebundle_()["image/svg+xml"]


@needs_dot
def test_docs_pictures_script(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["make_graphs.py", str(tmp_path)])
    runpy.run_path(str(ROOT / "docs" / "make_graphs.py"), run_name="__main__")
    for name in ("seed_expanded", "seed_scopes", "seed_collapsed"):
        assert svg_texts(tmp_path / f"{name}.svg")
    assert "7:Sigmoid" in svg_texts(tmp_path / "seed_collapsed.svg")
