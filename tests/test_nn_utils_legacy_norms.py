"""The old-style nn.utils.weight_norm / spectral_norm (forward pre-hooks, `weight_g`/`weight_v` and
`weight_orig`/`weight_u`/`weight_v`) against torch.nn.utils' in float64: forward, backward, buffers and
state dicts, from the same seed; legacy checkpoints loading; torch's errors."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
from nn.utils import parametrizations
from nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from nn.utils.weight_norm import remove_weight_norm, weight_norm

TOL = dict(rtol=1e-10, atol=1e-12)
OURS = dict(weight_norm=weight_norm, remove_weight_norm=remove_weight_norm)
OURS.update(spectral_norm=spectral_norm, remove_spectral_norm=remove_spectral_norm)


def fn(lib: Any, name: str) -> Any:
    return OURS[name] if lib is nn else getattr(torch.nn.utils, name)


def layer(lib: Any, kind: str) -> Any:
    torch.manual_seed(0)
    make = {
        "linear": lambda: lib.Linear(4, 3),
        "conv": lambda: lib.Conv2d(2, 3, 3),
        "convT": lambda: lib.ConvTranspose2d(2, 3, 3),
    }[kind]
    return make().double()


def data(kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    shape = (2, 4) if kind == "linear" else (2, 2, 5, 5)
    return torch.randn(shape, generator=g, dtype=torch.float64)


def tensor(x: Any) -> torch.Tensor:
    return (x.data if isinstance(x, ag.Variable) else x).detach()


def step(lib: Any, m: Any, x: torch.Tensor) -> torch.Tensor:
    """One forward and backward (gradients accumulate in the parameters); returns the output."""
    out = m(ag.Variable(x) if lib is nn else x)
    (out**2).sum().backward()
    return tensor(out)


def assert_same_state(ours: Any, theirs: Any, grads: bool = True) -> None:
    """Equal state dicts (keys, order, values) and, with `grads`, equal parameter gradients."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in b:
        torch.testing.assert_close(a[k], b[k], **TOL)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()) if grads else ():
        assert name == tname
        torch.testing.assert_close(tensor(p.grad), tp.grad, **TOL)


# --- weight_norm ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_matches_torch(kind, dim):
    models = []
    for lib in (nn, torch.nn):
        with pytest.warns(FutureWarning, match="weight_norm` is deprecated"):
            models.append(fn(lib, "weight_norm")(layer(lib, kind), dim=dim))
    ours, theirs = models
    assert ours.weight_g.shape == theirs.weight_g.shape
    x = data(kind)
    for _ in range(2):
        torch.testing.assert_close(step(nn, ours, x), step(torch.nn, theirs, x), **TOL)
    assert_same_state(ours, theirs)
    ours.load_state_dict(theirs.state_dict())  # the layouts are the same both ways
    theirs.load_state_dict(ours.state_dict())
    for lib, m in ((nn, ours), (torch.nn, theirs)):
        fn(lib, "remove_weight_norm")(m)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    torch.testing.assert_close(ours.weight.data, theirs.weight.detach(), **TOL)
    assert isinstance(ours.weight, nn.Parameter)


def test_weight_norm_errors_as_torch():
    for lib in (nn, torch.nn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            m = fn(lib, "weight_norm")(layer(lib, "linear"))
            with pytest.raises(
                RuntimeError, match="Cannot register two weight_norm hooks on the same parameter weight"
            ):
                fn(lib, "weight_norm")(m)
        with pytest.raises(ValueError, match="weight_norm of 'bias' not found in Linear"):
            fn(lib, "remove_weight_norm")(m, "bias")


def test_new_weight_norm_loads_an_old_weight_norm_state_dict():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        legacy = torch.nn.utils.weight_norm(layer(torch.nn, "linear"))
    with torch.no_grad():
        legacy.weight_v.mul_(3)
    ours = parametrizations.weight_norm(nn.Linear(4, 3).double())
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(4, 3).double())
    assert repr(ours.load_state_dict(legacy.state_dict())) == repr(theirs.load_state_dict(legacy.state_dict()))
    assert_same_state(ours, theirs, grads=False)
    x = data("linear")
    torch.testing.assert_close(tensor(ours(ag.Variable(x))), legacy(x).detach(), **TOL)


# --- spectral_norm ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_matches_torch(kind, n_power_iterations):
    ours, theirs = (
        fn(lib, "spectral_norm")(layer(lib, kind), n_power_iterations=n_power_iterations) for lib in (nn, torch.nn)
    )
    for name in ("weight_u", "weight_v"):  # the same draws, in torch's order
        assert torch.equal(getattr(ours, name), getattr(theirs, name))
    x = data(kind)
    for training in (True, True, False):
        ours.train(training), theirs.train(training)
        torch.testing.assert_close(step(nn, ours, x), step(torch.nn, theirs, x), **TOL)
    assert_same_state(ours, theirs)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a._metadata == b._metadata  # {'': {'version': 1, 'spectral_norm': {'weight.version': 1}}}
    fresh = fn(nn, "spectral_norm")(layer(nn, kind), n_power_iterations=n_power_iterations)
    assert repr(fresh.load_state_dict(b)) == "<All keys matched successfully>"
    for lib, m in ((nn, ours), (torch.nn, theirs)):
        fn(lib, "remove_spectral_norm")(m)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    torch.testing.assert_close(ours.weight.data, theirs.weight.detach(), **TOL)
    assert not ours._state_dict_hooks and not ours._load_state_dict_pre_hooks


def test_spectral_norm_loads_a_checkpoint_from_before_version_1():
    """Such checkpoints saved the normalized weight and no weight_v: v is solved for, as torch does."""
    source = torch.nn.utils.spectral_norm(layer(torch.nn, "linear"))
    source(data("linear"))
    state = source.state_dict()
    del state["weight_v"]
    state["weight"] = source.weight.detach().clone()
    state._metadata[""]["spectral_norm"]["weight.version"] = 0
    ours, theirs = (fn(lib, "spectral_norm")(layer(lib, "linear")) for lib in (nn, torch.nn))
    assert repr(ours.load_state_dict(state)) == repr(theirs.load_state_dict(state))
    for name in ("weight_orig", "weight_u", "weight_v"):
        torch.testing.assert_close(tensor(getattr(ours, name)), tensor(getattr(theirs, name)), **TOL)
    ours.eval(), theirs.eval()
    x = data("linear")
    torch.testing.assert_close(tensor(ours(ag.Variable(x))), theirs(x).detach(), **TOL)
    del state["weight_u"]
    for m in (ours, theirs):
        with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "weight_u"'):
            m.load_state_dict(state)


def test_spectral_norm_errors_as_torch():
    for lib in (nn, torch.nn):
        with pytest.raises(
            ValueError, match="Expected n_power_iterations to be positive, but got n_power_iterations=0"
        ):
            fn(lib, "spectral_norm")(layer(lib, "linear"), n_power_iterations=0)
        m = fn(lib, "spectral_norm")(layer(lib, "linear"))
        with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter weight"):
            fn(lib, "spectral_norm")(m)
        with pytest.raises(ValueError, match="spectral_norm of 'bias' not found in Linear"):
            fn(lib, "remove_spectral_norm")(m, "bias")
        m.bias = None
        with pytest.raises(ValueError, match="`SpectralNorm` cannot be applied as parameter `bias` is None"):
            fn(lib, "spectral_norm")(m, "bias")
