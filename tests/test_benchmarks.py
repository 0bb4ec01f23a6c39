"""The benchmark suite runs (quick mode), so it never rots; its figures are not asserted on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_a_report(tmp_path):
    out = tmp_path / "benchmarks.md"
    result = quick("--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    for row in (
        "seed-model train step, batch 64",
        "engine, native lowering",
        "inference",
        "op chain",
        "engine-dncnn-checkpointed",
        "torch-same-graph",
    ):
        assert row in text
    assert "torch 2" in text and "thread" in text


def quick(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_quick_cuda_benchmark_names_the_device(tmp_path):
    out = tmp_path / "benchmarks-cuda.md"
    result = quick("--device", "cuda", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert torch.cuda.get_device_name() in text and "engine, native lowering" in text and "inference" in text
    assert "op chain" not in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where no GPU exists")
def test_cuda_benchmark_without_a_gpu_says_so():
    result = quick("--device", "cuda")
    assert result.returncode == 2 and "no CUDA device is available here" in result.stderr


def test_profile_prints_where_the_time_goes():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile", "chain", "--repeat", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Primitive.__call__" in result.stdout and "_reverse" in result.stdout
