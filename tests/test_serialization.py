"""nn.save / nn.load: save takes only what load reads back, load rejects damaged files, saves are atomic."""

from __future__ import annotations

import collections
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import autograd_engine as ag
import nn

PRETRAINED = Path(__file__).parents[1] / "examples" / "noise2noise" / "pretrained"


def test_everything_load_reads_back_saves_and_round_trips(tmp_path):
    obj = {
        "model": collections.OrderedDict(w=torch.arange(6.0).reshape(2, 3), b=torch.nn.Parameter(torch.ones(2))),
        "optim": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99)}]},
        "misc": [
            None,
            True,
            7,
            2.5,
            1 + 2j,
            "s",
            b"raw",
            {1, 2},
            torch.Size([2, 3]),
            torch.float16,
            torch.device("cpu"),
        ],
    }
    back = nn.load(nn.save(obj, tmp_path / "all.pt"))
    assert torch.equal(back["model"]["w"], obj["model"]["w"]) and torch.equal(back["model"]["b"], torch.ones(2))
    assert back["optim"]["param_groups"] == obj["optim"]["param_groups"]
    assert back["misc"] == obj["misc"] and torch.equal(back["optim"]["state"][0]["step"], torch.tensor(3.0))


REFUSED = {
    "module": (lambda m: m, r"got a Sequential \(a Module\); save module.state_dict\(\)"),
    "variable": (lambda m: {"w": ag.Variable(torch.ones(2))}, r"got a Variable at \['w'\]; save its tensor \(.data\)"),
    "parameters": (lambda m: {"p": list(m.parameters())}, r"got a Parameter \(a Variable\) at \['p'\]\[0\]; save its"),
    "optimizer": (lambda m: nn.SGD(list(m.parameters()), lr=0.1), r"got a SGD; save its state_dict\(\)"),
    "numpy": (lambda m: {"loss": np.float64(0.5)}, r"got a float64 at \['loss'\]; save torch.as_tensor\(x\)"),
    "key": (lambda m: {"state": {next(m.parameters()): 1}}, r"got a Parameter \(a Variable\) as a key in \['state'\]"),
    "other": (lambda m: [range(3)], r"got a range at \[0\]; nn.save writes what nn.load reads back: tensors"),
}


@pytest.mark.parametrize("make, message", list(REFUSED.values()), ids=list(REFUSED))
def test_save_refuses_what_load_cannot_read_and_writes_nothing(tmp_path, make, message):
    model = nn.Sequential(nn.Linear(2, 2))
    path = nn.save({"old": torch.ones(3)}, tmp_path / "c.pt")
    with pytest.raises(TypeError, match=f"^nn.save: {message}"):
        nn.save(make(model), path)
    assert torch.equal(nn.load(path)["old"], torch.ones(3)) and [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def _flip_byte_in_the_middle_of(path: Path, record_suffix: str) -> None:
    """Invert one byte halfway through the first zip record whose name ends with `record_suffix`."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(record_suffix))
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_byte_flipped_in_a_weight_tensor_is_refused(tmp_path):
    path = nn.save({"w": torch.arange(1000, dtype=torch.float32)}, tmp_path / "c.pt")
    _flip_byte_in_the_middle_of(path, "data/0")
    assert not torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(1000.0))  # torch loads it silently
    with pytest.raises(
        ValueError, match=r"c.pt is not a readable checkpoint: its record \S+/data/0 does not match the CRC"
    ):
        nn.load(path)


def test_checkpoints_from_before_load_and_are_checked_too(tmp_path):
    for name in ("seed.pt", "dncnn.pt"):
        assert "model" in nn.load(PRETRAINED / name)
    copy = Path(shutil.copy(PRETRAINED / "seed.pt", tmp_path / "seed.pt"))
    _flip_byte_in_the_middle_of(copy, "data/0")
    with pytest.raises(ValueError, match=r"seed.pt is not a readable checkpoint: its record .* CRC-32"):
        nn.load(copy)


def test_missing_truncated_and_random_files_give_one_clear_line(tmp_path):
    path = nn.save({"w": torch.ones(100)}, tmp_path / "c.pt")
    whole = path.read_bytes()
    rng = np.random.default_rng(0)
    for name, content in [("cut.pt", whole[: len(whole) // 2]), ("noise.pt", rng.bytes(4096)), ("empty.pt", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name} is not a readable checkpoint") as info:
            nn.load(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*missing.pt"):
        nn.load(tmp_path / "missing.pt")


def test_a_save_killed_mid_write_leaves_the_old_file_whole(tmp_path):
    path = nn.save({"w": torch.zeros(10)}, tmp_path / "c.pt")
    script = f"""
import os, signal, torch, nn, nn.serialization as s
real = torch.save
def half_then_die(obj, f):
    real(obj, f); f.flush(); f.truncate(f.tell() // 2); os.fsync(f.fileno()); os.kill(os.getpid(), signal.SIGKILL)
s.torch.save = half_then_die
nn.save({{"w": torch.ones(1_000_000)}}, {str(path)!r})
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    assert torch.equal(nn.load(path)["w"], torch.zeros(10))
