"""Write docs/primitives.md: every built-in primitive of the registry, by family, with its forward,
what it keeps for backward, and its vector-Jacobian products, read from autograd_engine/ops/ itself.

    python docs/make_primitives.py [OUT]      # default: docs/primitives.md
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from pathlib import Path

import autograd_engine as ag


def _lambdas(source: str) -> list[ast.Lambda]:
    """The lambdas in the source lines that inspect returns for a lambda (a whole statement, or one
    argument line of a longer call, which parses once its trailing comma is dropped)."""
    text = textwrap.dedent(source).strip()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        tree = ast.parse(text.rstrip(","))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]


def vjp_texts(prim: ag.Primitive) -> list[str]:
    """The VJP expressions as written: a lambda's body, or the name of the function that computes it."""
    vjps = list(prim.vjps) if isinstance(prim.vjps, tuple) else [prim.vjps.vjp]  # type: ignore[attr-defined]
    texts = []
    for i, fn in enumerate(vjps):
        if fn is None:
            texts.append("(not differentiable)")
        elif prim.joint is not None:
            texts.append(f"`{fn.__name__}` (joint: one call gives every input's; see {family(prim)}.py)")
        elif fn.__name__ != "<lambda>":
            texts.append(f"`{fn.__name__}` (see {family(prim)}.py)")
        else:
            source = inspect.getsource(fn)
            earlier = sum(
                1 for f in vjps[:i] if f is not None and f.__name__ == "<lambda>" and inspect.getsource(f) == source
            )  # lambdas sharing a line, in order
            texts.append(f"`{ast.unparse(_lambdas(source)[earlier].body)}`")
    return texts


def family(prim: ag.Primitive) -> str:
    """Where a primitive is defined, as a path below autograd_engine (ops/core, ops/conv, checkpoint...)."""
    return prim.forward.__module__.removeprefix("autograd_engine.").replace(".", "/")


def saves_text(prim: ag.Primitive) -> str:
    residuals = f"; residuals: {' '.join(prim.residuals)}" if prim.residuals else ""
    return _inputs_kept(prim) + residuals


def _inputs_kept(prim: ag.Primitive) -> str:
    names = [p for p in inspect.signature(prim.forward).parameters if p not in ("self",)]
    if prim.needs is not None:
        parts = []
        for name, (need, out) in zip(names, prim.needs):
            kept = [names[i] for i in sorted(need)] + (["ans"] if out else [])
            parts.append(f"{name}: {' '.join(kept) or '-'}")
        return "; ".join(parts)
    if isinstance(prim.saved_args, range):
        return "all inputs"
    kept = [names[i] for i in sorted(prim.saved_args)] + (["ans"] if prim.saves_out else [])
    return " ".join(kept) or "nothing"


def render() -> str:
    lines = [
        "# Primitives and their derivatives",
        "",
        "Generated from `autograd_engine.PRIMITIVES` by `python docs/make_primitives.py` (the tests check that it",
        "is current). `g` is the gradient of the output, `ans` the output; `unbroadcast(g, x)` sums `g` over the",
        "dimensions broadcasting added to `x`. 'Keeps' lists what a node holds for backward, per input that",
        "requires grad where it differs. One table per file that defines primitives.",
    ]
    builtins = [p for p in ag.PRIMITIVES.values() if p.builtin]
    for where in sorted({family(p) for p in builtins}):
        lines += [
            "",
            f"## {where}.py",
            "",
            "| primitive | computes | keeps | vector-Jacobian products, one per input |",
            "|---|---|---|---|",
        ]
        for prim in sorted((p for p in builtins if family(p) == where), key=lambda p: p.name):
            doc = " ".join(prim.doc.split()).replace("|", "\\|")
            vjps = "<br>".join(t.replace("|", "\\|") for t in vjp_texts(prim))
            lines.append(f"| `{prim.name}` | {doc} | {saves_text(prim)} | {vjps} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "primitives.md"
    out.write_text(render())
