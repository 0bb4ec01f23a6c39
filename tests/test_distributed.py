"""Data parallelism on loopback: 2 gloo processes against 1 process on the combined batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nn

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(mode: str, out: Path, timeout_s: float = 30) -> list[subprocess.CompletedProcess]:
    port = free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "TIMEOUT": str(timeout_s),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.distributed_worker", mode, str(out)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return results


def test_two_processes_equal_one_process_on_the_combined_batch(tmp_path):
    results = launch("train", tmp_path / "ddp.pt")
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    subprocess.run(
        [sys.executable, "-m", "tests.distributed_worker", "single", str(tmp_path / "single.pt")],
        cwd=ROOT,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    ddp, single = torch.load(tmp_path / "ddp.pt"), torch.load(tmp_path / "single.pt")
    assert set(ddp) == set(single) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=1e-10, atol=1e-12)


def test_a_failing_rank_stops_the_others_with_a_clear_error(tmp_path):
    results = launch("fail", tmp_path / "never.pt", timeout_s=5)
    assert results[1].returncode == 3
    assert results[0].returncode != 0
    assert "DistributedError" in results[0].stderr and "another rank stopped" in results[0].stderr


def test_the_noise2noise_cli_trains_under_torchrun(tmp_path):
    port = free_port()
    run = tmp_path / "run"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1"]
    train = ["-m", "examples.noise2noise", "train", "--factor", "2", "--train-size", "256", "--val-size", "32",
             "--data-dir", str(tmp_path / "cache"), "--out", str(run), "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, f"--master_port={port}", *train, "--epochs", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes" in result.stdout and "final validation PSNR" in result.stdout
    assert {"checkpoint.pt", "metrics.csv", "samples.png"} <= {p.name for p in run.iterdir()}
    # --resume continues the same run to a second epoch, under the launcher too
    result = subprocess.run([*launcher, f"--master_port={free_port()}", *train, "--epochs", "2", "--resume"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 2:" in result.stdout and "epoch 1:" not in result.stdout
    assert len((run / "metrics.csv").read_text().splitlines()) == 3


def test_each_process_trains_on_its_own_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert nn.parallel.local_device("cuda") == torch.device("cuda", 1)
    assert nn.parallel.local_device("auto") == torch.device("cuda", 1)
    assert (
        nn.parallel.local_device("cuda:0") == torch.device("cuda", 0) and nn.parallel.local_device("cpu").type == "cpu"
    )
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(
        ValueError, match=r"process 2 on this host has no GPU of its own \(2 GPU\(s\)\).*nproc_per_node=2"
    ):
        nn.parallel.local_device("auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device is available here"):
        nn.parallel.local_device("cuda")
