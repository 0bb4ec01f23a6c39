"""Every Python code block in the README and docs/ runs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    (doc, i, code) for doc in DOCS for i, code in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S))
]


@pytest.mark.parametrize("doc,index,code", BLOCKS, ids=[f"{d.name}:{i}" for d, i, _ in BLOCKS])
def test_code_block_runs(doc, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{doc.name}[{index}]", "exec"), {"__name__": "__docs__"})


def _regenerated(script: str, page: str, tmp_path: Path) -> str:
    """What docs/`script` writes now, checked equal to the committed docs/`page`."""
    import runpy
    import sys

    out = tmp_path / page
    argv, sys.argv = sys.argv, [script, str(out)]
    try:
        runpy.run_path(str(ROOT / "docs" / script), run_name="__main__")
    finally:
        sys.argv = argv
    assert out.read_text() == (ROOT / "docs" / page).read_text(), f"run python docs/{script}"
    return out.read_text()


def test_primitive_table_is_current(tmp_path):
    import autograd_engine as ag

    table = _regenerated("make_primitives.py", "primitives.md", tmp_path)
    assert all(f"| `{p.name}` |" in table for p in ag.PRIMITIVES.values() if p.builtin)


def test_torch_function_list_is_current(tmp_path):
    _regenerated("make_dispatch.py", "torch-functions.md", tmp_path)


def test_python_m_autograd_engine_reports_the_installation():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "autograd_engine"], capture_output=True, text=True, check=True).stdout
    assert "autograd-engine 0.1.0" in out and "device:" in out and "graph rendering" in out


def test_documentation_site_builds_without_warnings(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "value_and_grad" in api and "DistributedDataParallel" in api and "register_hook" in api


def test_a_wheel_builds_with_the_library_only(tmp_path):
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"  # a clean copy: a stale build/ folder would put old files into the wheel
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "runs", "site", "*.egg-info", "__pycache__"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("autograd_engine-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograd_engine/ops/core.py" in names and "nn/layers/conv.py" in names and "nn/parallel.py" in names
    assert {n.split("/")[0] for n in names} == {"autograd_engine", "nn", "autograd_engine-0.1.0.dist-info"}
    assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names)

    # installed (beside this environment's torch), it works from anywhere; the example's shipped weights,
    # files in the repository, load from their path into nn (no example code installed) ...
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    weights = shutil.copy(ROOT / "examples" / "noise2noise" / "pretrained" / "seed.pt", tmp_path / "seed.pt")
    code = (
        "import sys, autograd_engine, nn; "
        "seed = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1), nn.ReLU(), nn.Conv2d(24, 192, 3, 2, 1), nn.ReLU(), "
        "nn.ConvTranspose2d(192, 24, 3, 2, 1, 1), nn.ReLU(), nn.ConvTranspose2d(24, 3, 3, 2, 1, 1), nn.Sigmoid()); "
        "seed.load_state_dict(nn.load(sys.argv[1])['model']); "
        "print(autograd_engine.__file__, nn.__file__, sum(p.numel() for p in seed.parameters()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(weights)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert out[0].startswith(str(site)) and out[1].startswith(str(site)) and out[2] == "84483"
    # ... and into the example's Model, from a checkout, by path
    code = "import sys; from examples.noise2noise.model import Model; print(Model(weights=sys.argv[1]).arch)"
    out = subprocess.run(
        [sys.executable, "-c", code, str(weights)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert out == ["seed"]


def test_ci_runs_the_readme_commands_which_exist():
    first_block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    train, test = (line.split("#")[0].strip() for line in first_block.strip().splitlines())
    assert train == "./dev train" and test == "./dev test"
    assert test in (ROOT / ".ci" / "run").read_text()
    import os
    import subprocess

    assert os.access(ROOT / "dev", os.X_OK)
    usage = subprocess.run([str(ROOT / "dev"), "help"], capture_output=True, text=True)
    assert usage.returncode == 2 and "./dev test" in usage.stderr and "./dev train" in usage.stderr


def test_the_per_photo_figure_reads_the_noise2noise_table(tmp_path):
    """docs/make_n2n_figures.py parses docs/noise2noise.md's per-photo table (every photo, every method) and
    draws it."""
    import runpy

    script = runpy.run_path(str(ROOT / "docs" / "make_n2n_figures.py"))
    methods, rows = script["per_photo_table"]((ROOT / "docs" / "noise2noise.md").read_text())
    assert {"noisy", "TV", "BM3D"} <= set(methods) and len(rows) == 26
    assert all(len(values) == len(methods) for values in rows.values())
    script["draw"](methods, rows, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 10_000
