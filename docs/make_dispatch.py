"""Write docs/torch-functions.md: every torch function and torch.Tensor method that records on
Variables, with the engine function that does it, read from the dispatch table itself.

    python docs/make_dispatch.py [OUT]      # default: docs/torch-functions.md
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import nn  # noqa: F401  (registers torch.nn.functional's rules)
from autograd_engine.dispatch import HANDLED, torch_name


def namespace(name: str) -> str:
    """torch.Tensor, torch.nn.functional, torch.linalg or torch: where users find the function."""
    for prefix in ("torch.Tensor.", "torch.nn.functional.", "torch.linalg.", "torch.special.", "torch.fft."):
        if name.startswith(prefix):
            return prefix.rstrip(".")
    return "torch"


def render() -> str:
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for func, rule in HANDLED.items():
        name = torch_name(func)
        fn = getattr(rule, "forward", rule)  # a primitive: where its forward is defined
        if not fn.__module__.startswith(("autograd_engine.", "nn.")) or "._" in name:
            continue  # a user's rule
        rows[namespace(name)].append((name, f"{fn.__module__}.{fn.__name__}"))
    lines = [
        "# Torch functions that record on Variables",
        "",
        "Generated from the dispatch table by `python docs/make_dispatch.py` (the tests check that it is",
        "current). Each of these, called with a Variable among its arguments, records on the tape through",
        "the engine function beside it; any other raises `ag.NoRuleError` naming it ([how it works](dispatch.md)).",
        f"{sum(len(r) for r in rows.values())} functions and methods in all.",
    ]
    for space in sorted(rows, key=lambda s: (s != "torch", s)):
        lines += ["", f"## {space}", "", "| function | recorded by |", "|---|---|"]
        for name, rule in sorted(rows[space]):
            lines.append(f"| `{name}` | `{rule}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "torch-functions.md"
    out.write_text(render())
