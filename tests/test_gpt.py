"""examples/gpt: the functional GPT against its torch.nn twin and torch autograd, training (compiled steps equal
to eager ones to the bit), the command line (option errors at parse time, one-line errors later, exact resume,
atomic and finite checkpoints), sampling, the block graph in the docs, data-parallel runs under torchrun, and
the benchmark rows."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import autograd_engine as ag
import nn
from examples.gpt import baselines, cli, data, model
from examples.gpt.backends import EngineBackend, TorchBackend
from examples.gpt.config import TrainConfig
from examples.gpt.training import Trainer, TrainingDivergedError
from examples.gpt.twin import GPT

from .test_noise2noise_cli import one_error_line  # the CLIs share the one-line error format

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_layer=1, n_embd=16, n_head=2, context=16, batch_size=8, steps=6, eval_every=3, warmup=2, sample_chars=20)
"""A run that trains in about a second."""


def tiny_args(out: Path, **changes: object) -> list[str]:
    values = {**TINY, "device": "cpu", **changes}
    return ["--out", str(out)] + [a for k, v in values.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command line, argparse's exits included."""
    try:
        code = cli.main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run's folder."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert cli.main(["train", *tiny_args(run)]) == 0
    return run


# --- data ----------------------------------------------------------------------------------------------
def test_the_builtin_text_is_split_by_topic_and_fingerprinted():
    corpus = data.builtin_corpus()
    assert not set(corpus.train_topics) & set(corpus.val_topics)
    assert len(corpus.val_topics) >= 8 and 0.05 < len(corpus.val) / len(corpus.train) < 0.25
    assert corpus.fingerprint == data.builtin_corpus().fingerprint and re.fullmatch(r"[0-9a-f]{16}", corpus.fingerprint)
    vocab = data.Vocab.of(corpus.train + corpus.val)
    assert vocab.decode(vocab.encode(corpus.val[:500])) == corpus.val[:500]
    with pytest.raises(data.DataError, match=r"2 character\(s\) the model does not know: '€' '🙂'"):
        vocab.encode("a€🙂")


def test_windows_are_the_text_and_its_next_characters():
    tokens = torch.arange(50)
    x, y = data.random_windows(tokens, 8, 5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8) and torch.equal(y, x + 1)
    x, y = data.all_windows(tokens, 8)
    assert x.shape == (6, 8) and torch.equal(x.flatten(), tokens[:48]) and torch.equal(y.flatten(), tokens[1:49])
    with pytest.raises(data.DataError, match="the text has 8 characters, too few for windows of 8"):
        data.random_windows(tokens[:8], 8, 1, torch.Generator())


def test_the_ngram_baseline_is_a_distribution_and_prefers_what_it_saw(capsys, monkeypatch):
    text = "abracadabra, abracadabra!"
    vocab = data.Vocab.of(text + "z")
    ngram = baselines.NGram(text, 4, len(vocab))
    for context in ("", "abr", "zzz", "a!"):
        assert sum(ngram.probability(context, c) for c in vocab.chars) == pytest.approx(1.0, abs=1e-12)
    unseen = 8 / (25 + 8) / 9  # T / (N + T) of the empty context (8 kinds in 25 characters), times uniform
    assert ngram.probability("abr", "a") > 0.5 and ngram.probability("", "z") == pytest.approx(unseen)
    assert ngram.bits_per_char("abracadabra", 4) < ngram.bits_per_char("abracadabra", 1) < math.log2(len(vocab))
    monkeypatch.setattr(cli, "builtin_corpus", lambda: data.Corpus(text, "abracadabra", ("t",), ("v",)))
    code, out, _ = run_cli(capsys, "baseline", "--max-order", "3")
    expected = baselines.NGram(text, 3, len(data.Vocab.of(text))).bits_per_char("abracadabra")
    assert code == 0 and f"order 3: {expected:.3f} bits per character" in out


# --- the model against its twins -------------------------------------------------------------------------
CFG = model.GPTConfig(vocab_size=40, context=12, n_layer=2, n_head=2, n_embd=16, dropout=0.1)


def test_parameters_have_the_twins_keys_and_shapes_and_load_both_ways():
    state = model.init_state(CFG, seed=3)
    twin = GPT(CFG)
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in twin.state_dict().items()}
    assert list(state) == [k for k, _ in twin.named_parameters()]
    params = model.init_params(CFG, seed=3)
    tree = model.ParameterTree(params)
    assert list(tree.state_dict()) == list(state) and all(torch.equal(tree.state_dict()[k], state[k]) for k in state)
    assert [k for k, _ in model.named_leaves(params)] == list(state)
    twin.load_state_dict(tree.state_dict())
    tree.load_state_dict({k: v + 1 for k, v in twin.state_dict().items()})
    assert torch.equal(params["h"][1]["mlp"]["c_fc"]["bias"].data, torch.ones(4 * CFG.n_embd))
    with pytest.raises(RuntimeError, match=r"size mismatch for wte.weight: copying a param with shape"):
        tree.load_state_dict(model.init_state(replace(CFG, vocab_size=41)))


@pytest.mark.parametrize("training", [False, True], ids=["eval", "dropout"])
def test_loss_and_gradients_equal_the_twin_and_torch_autograd(training):
    """float64: the engine, the torch.nn twin and torch autograd on the same functional model give the same
    loss and gradients, dropout masks included (drawn from torch's generator in the same order)."""
    state = model.init_state(CFG, seed=1, dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randint(0, 40, (3, 12), generator=g), torch.randint(0, 40, (3, 12), generator=g)
    torch.manual_seed(7)
    loss, grads = ag.value_and_grad(model.loss_fn)(model.tree_of(state), x, y, CFG, training)
    twin = GPT(CFG).double()
    twin.load_state_dict(state)
    twin.train(training)
    torch.manual_seed(7)
    twin_loss = twin.loss(x, y)
    twin_loss.backward()
    leaves = {k: v.clone().requires_grad_() for k, v in state.items()}
    torch.manual_seed(7)
    functional = model.loss_fn(model.tree_of(leaves), x, y, CFG, training, torch.nn.functional)
    functional.backward()
    for other in (twin_loss, functional):
        torch.testing.assert_close(loss, other.detach(), rtol=1e-13, atol=0)
    for (key, grad), (name, p) in zip(model.named_leaves(grads), twin.named_parameters()):
        assert key == name
        torch.testing.assert_close(grad, p.grad, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(grad, leaves[key].grad, rtol=1e-10, atol=1e-12)


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="n_embd a multiple of n_head, got n_embd=10, n_head=4"):
        model.GPTConfig(vocab_size=5, context=8, n_layer=1, n_head=4, n_embd=10)
    with pytest.raises(ValueError, match=r"sizes must be positive .* got context=0, n_embd=8"):
        model.GPTConfig(vocab_size=5, context=0, n_layer=1, n_head=4, n_embd=8)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        replace(CFG, dropout=1.0)
    params = model.init_params(CFG)
    with pytest.raises(ValueError, match="a sequence of 13 tokens is longer than the context, 12"):
        model.forward(params, torch.zeros(1, 13, dtype=torch.int64), CFG)
    with pytest.raises(ValueError, match=r"expected token ids of shape \(batch, time\) and dtype int64, got \(12,\)"):
        model.forward(params, torch.zeros(12, dtype=torch.int64), CFG)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_engine_and_twin_train_to_the_same_weights(device, dropout):
    """float64, AdamW with weight decay, warm-up and cosine schedule, clipping: 8 steps on the same batches
    (and dropout masks) give the same weights."""
    if dropout and device != "cpu":
        pytest.skip("torch's CUDA attention kernels draw dropout masks of their own")
    cfg = TrainConfig(**{**TINY, "n_layer": 2, "steps": 8}, dropout=dropout, dtype="float64", grad_clip=0.5)
    arch = cfg.model(30)
    backends = [make(cfg, arch, torch.device(device)) for make in (EngineBackend, TorchBackend)]
    g = torch.Generator().manual_seed(0)
    for _ in range(cfg.steps):
        x, y = (torch.randint(0, 30, (8, 16), generator=g).to(device) for _ in range(2))
        losses = []
        for backend in backends:
            torch.manual_seed(11)
            losses.append(backend.train_step(x, y))
        assert losses[0] == pytest.approx(losses[1], rel=1e-12)
    engine, twin = (b.core.state_dict() for b in backends)
    for k in engine:
        torch.testing.assert_close(engine[k], twin[k], rtol=1e-10, atol=1e-10)
    assert backends[0].opt.param_groups[0]["lr"] == pytest.approx(backends[1].opt.param_groups[0]["lr"], rel=1e-15)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_in_float32_engine_and_twin_are_the_same_run_to_the_bit(dropout):
    """float32 on the CPU: the engine's matrix products follow torch's kernels and summation order, so 8 steps
    of AdamW with clipping and the schedule give bitwise the twin's losses and weights."""
    cfg = TrainConfig(**{**TINY, "n_layer": 2, "steps": 8}, dropout=dropout, grad_clip=0.5)
    arch = cfg.model(30)
    backends = [make(cfg, arch, torch.device("cpu")) for make in (EngineBackend, TorchBackend)]
    g = torch.Generator().manual_seed(0)
    with cli.cpu_threads(1):
        for _ in range(cfg.steps):
            x, y = (torch.randint(0, 30, (8, 16), generator=g) for _ in range(2))
            losses = []
            for backend in backends:
                torch.manual_seed(11)
                losses.append(backend.train_step(x, y))
            assert losses[0] == losses[1]
    engine, twin = (b.core.state_dict() for b in backends)
    assert all(torch.equal(engine[k], twin[k]) for k in engine)


def test_the_twin_reaches_the_engines_validation_loss_within_one_percent(tmp_path):
    """float32 with dropout, a short real run of each backend from the same initialisation and batches."""
    histories = []
    for backend in ("engine", "torch"):
        changes = {"steps": 40, "eval_every": 40, "n_embd": 32, "sample_chars": 0}
        cfg = TrainConfig(**{**TINY, **changes}, backend=backend, device="cpu", out=str(tmp_path / backend))
        histories.append(Trainer(cfg).run(log=lambda s: None))
    engine, twin = (h[-1]["val_bpc"] for h in histories)
    assert engine < math.log2(len(data.Vocab.of(data.builtin_corpus().train))) - 1  # it learned something
    assert abs(engine - twin) / engine < 0.01


# --- the command line ------------------------------------------------------------------------------------
PARSE_ERRORS = [
    (["--steps", "0"], "argument --steps: must be a positive integer, got 0"),
    (["--n-layer", "-1"], "argument --n-layer: must be a positive integer, got -1"),
    (["--n-embd", "31"], "argument --n-embd: must be a multiple of --n-head (2), got 31"),
    (["--dropout", "1"], "argument --dropout: must be a probability from 0 up to (not including) 1, got 1"),
    (["--dropout", "nan"], "argument --dropout: must be a probability"),
    (["--lr", "-1"], "argument --lr: must be a positive finite number"),
    (["--warmup", "-1"], "argument --warmup: must be an integer >= 0, got -1"),
    (["--warmup", "6"], "argument --warmup: must be fewer than the --steps (6), got 6"),
    (["--weight-decay", "inf"], "argument --weight-decay: must be a finite number >= 0, got inf"),
    (["--grad-clip", "0"], "argument --grad-clip: must be a finite number > 0, got 0"),
    (["--sample-chars", "x"], "argument --sample-chars: must be an integer, got 'x'"),
    (["--device", "tpu"], "argument --device: must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    (["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (["--resume", "--overwrite"], "argument --overwrite: not with --resume"),
    (["--compile", "--backend", "torch"], "argument --compile: compiles the engine's step; not with --backend torch"),
]


@pytest.mark.parametrize("option,message", PARSE_ERRORS, ids=[" ".join(o) for o, _ in PARSE_ERRORS])
def test_train_options_are_checked_at_parse_time(tmp_path, capsys, option, message):
    code, _, err = run_cli(capsys, "train", *tiny_args(tmp_path / "run"), *option)
    assert code == 2 and err.startswith("usage: python -m examples.gpt train") and message in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sample", "--checkpoint", "c.pt", "--temperature", "0"], "argument --temperature: must be a finite number"),
        (["sample", "--checkpoint", "c.pt", "--top-k", "0"], "argument --top-k: must be a positive integer, got 0"),
        (["sample", "--checkpoint", "c.pt", "--length", "-3"], "argument --length: must be a positive integer"),
        (["graph", "--out", "block.txt"], "argument --out: cannot render a graph to block.txt"),
        (["graph", "--n-head", "5"], "argument --n-embd: must be a multiple of --n-head (5), got 96"),
    ],
)  # fmt: skip
def test_sample_and_graph_options_are_checked_at_parse_time(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # (where a graph would go, were the options taken)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.startswith("usage: ") and message in err, err
    assert not list(tmp_path.iterdir())


def test_a_run_writes_metrics_samples_and_a_checkpoint_that_loads_into_the_twin(trained, capsys):
    history = [line.split(",") for line in (trained / "metrics.csv").read_text().splitlines()]
    assert history[0] == ["step", "train_loss", "val_loss", "val_bpc", "lr", "seconds", "chars_per_s"]
    assert [row[0] for row in history[1:]] == ["3", "6"]
    assert float(history[2][3]) == pytest.approx(float(history[2][2]) / math.log(2))
    assert (trained / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert (trained / "samples.txt").read_text().count("--- step ") == 2
    ckpt = nn.load(trained / "checkpoint.pt")
    assert ckpt["step"] == 6 and ckpt["data"] == data.builtin_corpus().fingerprint
    twin = GPT(TrainConfig.from_dict(ckpt["config"]).model(len(ckpt["vocab"])))
    twin.load_state_dict(ckpt["model"])  # the twin's keys: no translation


def test_train_refuses_to_replace_a_run_unless_asked(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = run_cli(capsys, "train", *tiny_args(run))
    assert code == 2 and f"argument --out: {run} already holds a run (checkpoint.pt and metrics.csv)" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    code, _, _ = run_cli(capsys, "train", *tiny_args(run, seed=1, steps=3), "--overwrite")
    assert code == 0 and nn.load(run / "checkpoint.pt")["config"]["seed"] == 1
    assert (run / "samples.txt").read_text().count("--- step ") == 1  # the old run's samples are gone


def test_resume_after_a_stop_equals_an_uninterrupted_run(trained, tmp_path, capsys):
    cfg = TrainConfig(**TINY, device="cpu", out=str(tmp_path / "run"))
    messages: list[str] = []
    with cli.cpu_threads(cfg.threads):  # as the command line trains (torch's kernels split sums by thread count)
        Trainer(cfg, on_step=lambda t, step: t.request_stop() if step == 4 else None).run(log=messages.append)
    assert f"stopped at step 4; checkpoint saved to {tmp_path / 'run' / 'checkpoint.pt'}" in messages[-1]
    code, out, _ = run_cli(capsys, "train", "--out", str(tmp_path / "run"), "--resume")  # the run's own options
    assert code == 0 and "step 6:" in out and "step 3:" not in out
    resumed, full = nn.load(tmp_path / "run" / "checkpoint.pt"), nn.load(trained / "checkpoint.pt")
    assert all(torch.equal(resumed["model"][k], full["model"][k]) for k in full["model"])
    for key in ("step", "train_loss", "val_loss", "lr"):
        assert [r[key] for r in resumed["history"]] == [r[key] for r in full["history"]]


def equal_states(a: object, b: object) -> bool:
    """Bitwise equality of nested dicts, lists and tensors (state dicts, optimizer states)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal_states(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(equal_states(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.equal(a, b)
    return type(a) is type(b) and a == b


@pytest.fixture
def one_thread():
    """Trainers run as the command line runs them, on one thread (several are much slower on a shared machine)."""
    with cli.cpu_threads(1):
        yield


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_compiled_training_equals_eager_to_the_bit(tmp_path, dropout):
    """--compile replays each step's forward and backward (dropout masks drawn afresh from torch's generator):
    every step's loss, the weights, AdamW's state, the schedule, the validation losses and the generators
    come out as the eager run's, bit for bit."""
    runs = {}
    for compiled in (False, True):
        cfg = TrainConfig(**TINY, dropout=dropout, compile=compiled, device="cpu", out=str(tmp_path / str(compiled)))
        sums: list[float] = []
        trainer = Trainer(cfg, on_step=lambda t, step, sums=sums: sums.append(t.loss_sum))
        trainer.run(log=lambda s: None)
        runs[compiled] = (sums, nn.load(trainer.checkpoint_path))
    (eager_sums, eager), (compiled_sums, compiled) = runs[False], runs[True]
    gradients = trainer.backend.value_and_grad
    assert gradients.traces <= 2 and gradients.traces + gradients.replays == TINY["steps"]  # (a first call may warm up)
    assert gradients.replays >= TINY["steps"] - 2
    assert compiled_sums == eager_sums and len(set(compiled_sums)) == TINY["steps"]  # every step's loss
    assert [r["val_loss"] for r in compiled["history"]] == [r["val_loss"] for r in eager["history"]]
    for key in ("model", "optimizer", "schedule", "rng"):
        assert equal_states(compiled[key], eager[key]), key
    assert compiled["config"]["compile"] and not eager["config"]["compile"]


@pytest.mark.usefixtures("one_thread")
def test_compile_is_the_default_kept_by_resume_and_refused_for_the_torch_backend(trained, tmp_path, capsys):
    """The full (compiled, the default) run equals one that ran its first steps eagerly and resumed with the
    run's own --no-compile; --compile may change on resume; the torch backend runs without it."""
    assert nn.load(trained / "checkpoint.pt")["config"]["compile"]
    run = tmp_path / "run"
    cfg = TrainConfig(**TINY, compile=False, device="cpu", out=str(run))
    Trainer(cfg, on_step=lambda t, step: t.request_stop() if step == 4 else None).run(log=lambda s: None)

    def resumed(*options: str) -> TrainConfig:
        return cli.config_from(cli.parse_args(["train", "--out", str(run), "--resume", *options]))

    assert not resumed().compile and resumed("--compile").compile
    code, out, _ = run_cli(capsys, "train", "--out", str(run), "--resume")
    assert code == 0 and "engine backend, cpu" in out
    ckpt, full = nn.load(run / "checkpoint.pt"), nn.load(trained / "checkpoint.pt")
    assert not ckpt["config"]["compile"] and equal_states(ckpt["model"], full["model"])
    torch_run = cli.config_from(cli.parse_args(["train", *tiny_args(tmp_path / "twin"), "--backend", "torch"]))
    assert not torch_run.compile
    twin = replace(torch_run, out=str(run))
    Trainer(twin, overwrite=True, on_step=lambda t, step: t.request_stop()).run(log=lambda s: None)
    code, _, err = run_cli(capsys, "train", "--out", str(run), "--resume", "--compile")
    assert code == 1 and one_error_line(err) == (
        f"error: --compile: compiles the engine's step; the run in {run} trains the torch.nn twin"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_a_full_disk_is_one_error_naming_the_file_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    cfg = TrainConfig(**TINY, device="cpu", out=str(run))
    Trainer(cfg, on_step=lambda t, step: t.request_stop()).run(log=lambda s: None)  # saved at step 1
    before = (run / "checkpoint.pt").read_bytes()

    def full_disk_file(prefix: str, suffix: str, dir: Path) -> tuple[int, str]:  # noqa: A002
        return os.open("/dev/full", os.O_WRONLY), str(Path(dir) / f"{prefix}full{suffix}")

    monkeypatch.setattr(nn.serialization, "tempfile", SimpleNamespace(mkstemp=full_disk_file))
    code, _, err = run_cli(capsys, "train", "--out", str(run), "--resume")
    line = one_error_line(err)
    assert code == 1 and line.startswith(f"error: disk full: could not write {run / 'checkpoint.pt'}; ")
    assert f"the last good checkpoint (step 1) is kept in {run / 'checkpoint.pt'}" in line
    assert (run / "checkpoint.pt").read_bytes() == before and not list(run.glob("*.tmp"))


def test_ctrl_c_saves_and_exits_130(tmp_path):
    run = tmp_path / "run"
    argv = ["-m", "examples.gpt", "train", *tiny_args(run, steps=100_000, eval_every=50_000)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the handler is installed as training starts, right after this line
            if line.startswith("training "):
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "stopped at step " in out and "checkpoint saved to" in out and "final validation" not in out
    ckpt = nn.load(run / "checkpoint.pt")
    assert 0 < ckpt["step"] < 100_000 and ckpt["history"] == []


def test_resume_refuses_another_run_s_options(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    code, _, err = run_cli(capsys, "train", "--out", str(run), "--resume", "--n-embd", "32")
    line = one_error_line(err)
    assert (
        code == 1
        and "was trained with n_embd=16, not 32 (only --device, --threads, --eval-every, --sample-chars" in line
    )


def test_a_diverging_run_stops_with_exit_2_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    real, calls = EngineBackend.train_step, []

    def step(self: EngineBackend, x: torch.Tensor, y: torch.Tensor) -> float:
        calls.append(real(self, x, y))
        return math.nan if len(calls) == 5 else calls[-1]

    monkeypatch.setattr(EngineBackend, "train_step", step)
    code, _, err = run_cli(capsys, "train", *tiny_args(tmp_path / "run"))
    line = one_error_line(err)
    assert code == 2 and "the training loss became nan at step 5; stopped;" in line
    assert f"the last good checkpoint (step 3) is kept in {tmp_path / 'run' / 'checkpoint.pt'}" in line
    assert nn.load(tmp_path / "run" / "checkpoint.pt")["step"] == 3


def test_an_update_that_overflows_stops_with_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *tiny_args(tmp_path / "run"), "--lr", "3e38")
    line = one_error_line(err)
    assert code == 2 and "the update overflowed at step 1 (value cannot be converted" in line


def test_weights_made_non_finite_by_a_step_are_never_saved(tmp_path):
    trainer = Trainer(TrainConfig(**TINY, device="cpu", out=str(tmp_path / "run")))
    real = trainer.backend.train_step

    def step(x: torch.Tensor, y: torch.Tensor) -> float:  # the 6th (last) step: a finite loss, an inf weight
        loss = real(x, y)
        if trainer.step == 5:
            trainer.backend.params["ln_f"]["bias"].data[0] = math.inf
        return loss

    trainer.backend.train_step = step  # type: ignore[method-assign]
    with pytest.raises(TrainingDivergedError, match=r"\(model ln_f.bias holds inf\) at step 6; they were not saved"):
        trainer.run(log=lambda s: None)
    assert nn.load(trainer.checkpoint_path)["step"] == 3


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda c: c.pop("vocab"), "has no 'vocab' entry ("),
        (lambda c: c.pop("schedule"), "has no 'schedule' entry to resume from"),
        (lambda c: c["config"].update(n_head=3), "its 'config' or 'vocab' is not usable: GPTConfig: sizes must be"),
        (lambda c: c["config"].update(steps="many"), "config entry 'steps' is 'many', expected int"),
        (lambda c: c["model"].pop("ln_f.bias"), 'its weights do not fit the model: Error(s) in loading state_dict'),
        (lambda c: c.update(data="0123456789abcdef"), "was trained on other text (fingerprint 0123456789abcdef"),
        (lambda c: c["rng"].update(data=torch.zeros(3)), "its position (step, rng) is not one a run saves"),
    ],
    ids=["vocab", "schedule", "config", "type", "weights", "text", "rng"],
)  # fmt: skip
def test_a_damaged_checkpoint_is_one_error_naming_it(trained, tmp_path, capsys, damage, message):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    ckpt = nn.load(run / "checkpoint.pt")
    damage(ckpt)
    nn.save(ckpt, run / "checkpoint.pt")
    code, _, err = run_cli(capsys, "train", "--out", str(run), "--resume")
    assert code == 1 and one_error_line(err).startswith(f"error: {run / 'checkpoint.pt'}: ") and message in err, err


def test_sample_continues_a_prompt_reproducibly(trained, capsys):
    argv = ["sample", "--checkpoint", str(trained / "checkpoint.pt"), "--prompt", "if x", "--length", "40"]
    code, out, _ = run_cli(capsys, *argv, "--top-k", "5", "--device", "cpu")
    assert code == 0 and out.startswith("if x") and len(out) == len("if x") + 40 + 1
    assert run_cli(capsys, *argv, "--top-k", "5", "--device", "cpu")[1] == out
    assert run_cli(capsys, *argv, "--top-k", "5", "--seed", "1", "--device", "cpu")[1] != out
    code, _, err = run_cli(capsys, *argv[:3], "--prompt", "€")
    assert code == 1 and "the text holds 1 character(s) the model does not know: '€'" in one_error_line(err)
    code, _, err = run_cli(capsys, "sample", "--checkpoint", str(trained / "missing.pt"))
    assert code == 1 and "missing.pt" in one_error_line(err)


@pytest.mark.skipif(not ag.graph.dot_available(), reason="needs graphviz's dot")
def test_the_block_graph_in_the_docs_is_current(tmp_path, capsys):
    """docs/images/gpt-block.svg comes from `python -m examples.gpt graph --out docs/images/gpt-block.svg`:
    the same nodes and labels (graphviz versions may lay them out differently)."""
    code, out, _ = run_cli(capsys, "graph", "--out", str(tmp_path / "gpt-block.svg"))
    assert code == 0 and out.count("wrote ") == 2
    for name in ("gpt-block.svg", "gpt-block-expanded.svg"):
        made, shipped = ((folder / name).read_text() for folder in (tmp_path, ROOT / "docs" / "images"))
        labels = [re.findall(r"<text[^>]*>([^<]*)</text>", svg) for svg in (made, shipped)]
        assert sorted(labels[0]) == sorted(labels[1]), f"run python -m examples.gpt graph --out docs/images/{name}"
    collapsed = (tmp_path / "gpt-block.svg").read_text()
    assert "attn:CausalSelfAttention" in collapsed and "37,248 params" in collapsed and "scaled" not in collapsed


# --- data parallel ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_processes_under_torchrun_train_like_one_on_the_whole_batch(tmp_path):
    from .test_distributed import free_port

    exact = tiny_args(tmp_path / "one", dropout=0.0, dtype="float64", steps=4, eval_every=4, sample_chars=0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                f"--master_port={free_port()}", "-m", "examples.gpt", "train"]  # fmt: skip
    result = subprocess.run([*launcher, *exact[2:], "--out", str(tmp_path / "two")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes" in result.stdout and "final validation loss" in result.stdout
    assert cli.main(["train", *exact]) == 0
    two, one = (nn.load(tmp_path / name / "checkpoint.pt") for name in ("two", "one"))
    for k in one["model"]:
        torch.testing.assert_close(two["model"][k], one["model"][k], rtol=1e-10, atol=1e-12)


# --- the benchmark rows ----------------------------------------------------------------------------------
def test_the_benchmark_times_the_gpt_step_four_ways():
    from benchmarks import memory
    from benchmarks.__main__ import build_groups

    group = next(g for g in build_groups(quick=True) if g.title.startswith("GPT train step"))
    assert set(group.variants) == {"torch autograd", "torch.nn", "engine", "engine compiled"}
    assert group.also == "torch.nn"
    losses = {}
    for name, step in group.variants.items():
        torch.manual_seed(0)  # the same dropout masks
        losses[name] = step()
    assert losses["engine"] == pytest.approx(losses["torch autograd"], rel=1e-5)
    assert losses["engine"] == pytest.approx(losses["torch.nn"], rel=1e-5)
    assert losses["engine compiled"] == losses["engine"]  # the first call traces: eager's numbers
    assert {"engine-gpt", "torch-gpt-functional", "torch-gpt-nn"} <= set(memory.VARIANTS)
