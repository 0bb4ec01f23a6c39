"""Draw docs/images/n2n-per-photo.png from the per-photo table of docs/noise2noise.md: each validation
photo's PSNR for every method in that table, the photos sorted by BM3D's, so that where each model wins or
loses against the classical denoisers shows at a glance.

    python docs/make_n2n_figures.py [OUT]      # default: docs/images/n2n-per-photo.png
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
HEADER = "| photo (package) |"


def per_photo_table(text: str) -> tuple[list[str], dict[str, list[float]]]:
    """The methods (columns) and each photo's PSNR per method, from the first table whose header is HEADER."""
    lines = text[text.index(HEADER) :].splitlines()
    methods = [c.strip() for c in lines[0].strip("|").split("|")[1:]]
    rows: dict[str, list[float]] = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [float(c) for c in cells[1:]]
    return methods, rows


def draw(methods: list[str], rows: dict[str, list[float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(rows, key=lambda photo: rows[photo][methods.index("BM3D")])
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(order) + 1.2))
    for j, method in enumerate(methods):
        if method in ("noisy", "blur"):
            continue
        ax.plot([rows[p][j] for p in order], range(len(order)), "o", markersize=4, label=method)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.set_xlabel("PSNR (dB), 32 x 32 crops, Gaussian noise sigma 25")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "images" / "n2n-per-photo.png"
    draw(*per_photo_table((DOCS / "noise2noise.md").read_text()), target)
    print(f"wrote {target}")
