"""ag.compile and state a replay must not get wrong: running statistics that a kernel updates without
saying so in its schema, shapes that depend on values, an argument that is also state fn writes, and the
cache's eviction order."""

import sys
import types

import pytest
import torch

import autograd_engine as ag
import nn


def _running_stats(layer: nn.Module, compiled: bool) -> list[torch.Tensor]:
    fn = lambda x: layer(ag.Variable(x)).detach()  # noqa: E731
    step = ag.compile(fn) if compiled else fn
    for i in range(5):
        step(torch.arange(24.0).reshape(4, 2, 3) + i * torch.arange(3.0))
    return [b.clone() for b in layer.buffers()]


@pytest.mark.parametrize(
    "make",
    [lambda: nn.BatchNorm1d(2), lambda: nn.InstanceNorm1d(2, track_running_stats=True)],
    ids=["BatchNorm1d", "InstanceNorm1d"],
)
def test_replays_update_running_statistics_as_eager_does(make):
    torch.manual_seed(0)
    eager = _running_stats(make(), compiled=False)
    torch.manual_seed(0)
    replayed = _running_stats(make(), compiled=True)
    assert all(torch.equal(a, b) for a, b in zip(replayed, eager))
    assert not torch.equal(eager[0], torch.zeros(2))


def test_check_compares_the_running_statistics():
    """A replay that left them as they were would be caught: they are among the tensors the call writes."""
    bn = nn.BatchNorm1d(2)
    step = ag.compile(lambda x: bn(ag.Variable(x)).detach(), check=3)
    for i in range(4):
        step(torch.randn(4, 2) + i)
    assert step.replays >= 1 and any("running_mean" in k or "native_batch_norm" in k for k in step.kernels)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x[x > 0].sum() / x[x > 0].shape[0],
        lambda x: torch.nonzero(x > 0).shape[0] * x.sum(),
        lambda x: torch.masked_select(x, x > 0).mean(),
    ],
    ids=["boolean index", "nonzero", "masked_select"],
)
def test_a_shape_that_depends_on_values_is_checked_at_every_replay(fn):
    compiled = ag.compile(fn)
    for x in ([1.0, 2, -1, -2], [1.0, 2, 3, -2], [4.0, -2, 3, -2], [1.0, 2, 3, 4]):
        x = torch.tensor(x)
        assert torch.equal(compiled(x), fn(x))
    assert compiled.traces == 3 and compiled.replays == 1  # (shapes 2, 3, 2 again: a replay; 4: a trace)


def test_a_gradient_through_a_boolean_index_follows_the_shape():
    loss = ag.value_and_grad(lambda x: x[x > 0].mean())
    compiled = ag.compile(loss)
    for x in ([1.0, 2, -1, -2], [1.0, 2, 3, -2], [5.0, 1, -1, -2]):
        x = torch.tensor(x)
        (value, grad), (want_value, want_grad) = compiled(x), loss(x)
        assert torch.equal(ag.variable.unwrap(value), ag.variable.unwrap(want_value))
        assert torch.equal(ag.variable.unwrap(grad), ag.variable.unwrap(want_grad))


def test_integer_indices_need_no_shape_check():
    compiled = ag.compile(lambda x, i: x[i] * 2)
    for k in range(3):
        compiled(torch.arange(5.0) + k, torch.tensor([k, 4]))
    assert compiled.traces == 1 and compiled.replays == 2


def test_an_argument_that_is_also_state_fn_writes_is_not_replayed_for_another_tensor():
    buf = torch.zeros(2)

    def fn(x):
        buf.add_(1)
        return x * 2

    compiled = ag.compile(fn)
    compiled(buf)  # traced with the state itself as the argument
    y = torch.full((2,), 10.0)
    assert torch.equal(compiled(y), torch.full((2,), 20.0))
    assert torch.equal(buf, torch.full((2,), 2.0)) and torch.equal(y, torch.full((2,), 10.0))
    compiled(y)
    assert compiled.replays == 1 and torch.equal(buf, torch.full((2,), 3.0))


def test_the_least_recently_used_signature_is_dropped():
    compiled = ag.compile(lambda x: x * 2, cache_size=2)
    a, b, c = torch.ones(1), torch.ones(2), torch.ones(3)
    for x in (a, b, a, c, a):
        compiled(x)
    assert (compiled.traces, compiled.replays) == (3, 2)


class Settings:
    scale = 2.0


def test_a_setting_in_a_user_class_or_module_is_checked_at_every_replay(monkeypatch):
    config = types.ModuleType("experiment_config")  # a config.py of the user's
    config.SHIFT = 1.0
    monkeypatch.setitem(sys.modules, "experiment_config", config)
    compiled = ag.compile(lambda x: x * Settings.scale + config.SHIFT)
    x = torch.ones(2)
    assert torch.equal(compiled(x), torch.full((2,), 3.0))
    monkeypatch.setattr(Settings, "scale", 7.0)
    assert torch.equal(compiled(x), torch.full((2,), 8.0))
    config.SHIFT = -1.0
    assert torch.equal(compiled(x), torch.full((2,), 6.0))
    assert torch.equal(compiled(x), torch.full((2,), 6.0))
    assert (compiled.traces, compiled.replays) == (3, 1)
