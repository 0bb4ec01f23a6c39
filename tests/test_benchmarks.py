"""The benchmark suite runs (quick mode), so it never rots; its figures are not asserted on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_a_report(tmp_path):
    out = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    for row in (
        "seed-model train step, batch 64",
        "engine, native lowering",
        "inference",
        "op chain",
        "engine-checkpointed",
        "torch-same-graph",
    ):
        assert row in text
    assert "torch 2" in text and "thread" in text
