"""State-dict hooks and global module hooks against torch.nn: every test builds the same model in both
libraries (`lib` is `nn` or `torch.nn`), registers the same hooks, records what they saw and compares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn
import nn.modules.module as nn_module_hooks

LIBS = (nn, torch.nn)
GLOBALS = {nn: nn_module_hooks, torch.nn: torch.nn.modules.module}


def tree(lib: Any) -> Any:
    """Sequential(Linear, Sequential(Linear, BatchNorm1d)) in float64, the same values in both libraries."""
    torch.manual_seed(0)
    return lib.Sequential(lib.Linear(2, 3), lib.Sequential(lib.Linear(3, 3), lib.BatchNorm1d(3))).double()


def metadata(where: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A module's state-dict metadata, but for BatchNorm's layout version, which torch.nn counts as 2 (for
    checkpoints from before num_batches_tracked) and nn as 1."""
    return {} if where == "1.1" else dict(meta)


def names(model: Any) -> dict[int, str]:
    return {id(m): name or "root" for name, m in model.named_modules()}


def ones_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: torch.ones_like(v) for k, v in model.state_dict().items()}


def plain(value: Any) -> Any:
    """A recorded value as plain data: tensors as lists, dicts with their items."""
    if isinstance(value, ag.Variable):
        value = value.data
    if isinstance(value, torch.Tensor):
        return value.detach().tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def both(fn: Callable[[Any], Any]) -> None:
    """`fn(lib)` gives the same plain record for both libraries."""
    ours, theirs = plain(fn(nn)), plain(fn(torch.nn))
    assert ours == theirs


# --- state_dict hooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keep_vars", [False, True])
def test_state_dict_hooks_run_in_torchs_order_with_torchs_arguments(keep_vars):
    def run(lib):
        model, calls = tree(lib), []
        where = names(model)
        for m in model.modules():
            m.register_state_dict_pre_hook(lambda mod, prefix, kv: calls.append(("pre", where[id(mod)], prefix, kv)))
            m.register_state_dict_post_hook(
                lambda mod, sd, prefix, meta: calls.append(
                    ("post", where[id(mod)], prefix, list(sd), metadata(where[id(mod)], meta))
                )
            )
        state = model.state_dict(keep_vars=keep_vars)
        return calls, list(state), {k: metadata(k, v) for k, v in state._metadata.items()}

    both(run)


def test_state_dict_post_hook_changes_in_place_and_must_return_none():
    def run(lib):
        model = tree(lib)

        def drop(mod, sd, prefix, meta):
            del sd[prefix + "0.bias"]

        model[1].register_state_dict_post_hook(drop)
        keys = list(model.state_dict())
        model[0].register_state_dict_post_hook(lambda mod, sd, prefix, meta: {})
        with pytest.raises(RuntimeError, match="state_dict post-hook must return None") as info:
            model.state_dict()
        return keys, str(info.value)

    both(run)


def test_private_state_dict_hook_replaces_the_dict_only_at_the_root():
    def run(lib):
        model = tree(lib)
        model[1]._register_state_dict_hook(lambda mod, sd, prefix, meta: {"ignored": 1})
        keys = list(model.state_dict())
        handle = model._register_state_dict_hook(lambda mod, sd, prefix, meta: {"only": torch.ones(1)})
        replaced = dict(model.state_dict())
        handle.remove()
        return keys, replaced, list(model.state_dict()) == keys

    both(run)


def test_state_dict_hook_handles_remove_them():
    def run(lib):
        model, calls = tree(lib), []
        pre = model.register_state_dict_pre_hook(lambda *a: calls.append("pre"))
        post = model.register_state_dict_post_hook(lambda *a: calls.append("post"))
        model.state_dict()
        pre.remove()
        with post:
            model.state_dict()
        model.state_dict()
        return calls

    both(run)


# --- load_state_dict hooks ------------------------------------------------------------------------------


@pytest.mark.parametrize("strict", [True, False])
def test_load_hooks_run_per_module_with_torchs_arguments(strict):
    def run(lib):
        model, calls = tree(lib), []
        where = names(model)
        state = torch.nn.Sequential(
            torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
        ).state_dict()  # torch's, with its _metadata
        del state["1.0.bias"]
        state["1.extra"] = torch.ones(1)

        def pre(mod, sd, prefix, meta, strict_arg, missing, unexpected, errors):
            calls.append(
                (
                    "pre",
                    where[id(mod)],
                    prefix,
                    list(sd),
                    metadata(where[id(mod)], meta),
                    strict_arg,
                    list(missing),
                    list(unexpected),
                )
            )

        def post(mod, keys):
            calls.append(("post", where[id(mod)], list(keys.missing_keys), list(keys.unexpected_keys)))

        for m in model.modules():
            m.register_load_state_dict_pre_hook(pre)
            m.register_load_state_dict_post_hook(post)
        if strict:
            with pytest.raises(RuntimeError) as info:
                model.load_state_dict(state)
            return calls, str(info.value)
        return calls, repr(model.load_state_dict(state, strict=False))

    both(run)


def test_a_pre_hook_renaming_legacy_keys_loads_an_old_checkpoint():
    def rename(mod, sd, prefix, *rest):
        for old, new in (("w", "weight"), ("b", "bias")):
            if prefix + old in sd:
                sd[prefix + new] = sd.pop(prefix + old)

    def run(lib):
        model = tree(lib)
        legacy = {k.replace("0.weight", "0.w").replace("0.bias", "0.b"): v for k, v in ones_state(model).items()}
        model[0].register_load_state_dict_pre_hook(rename)
        model[1][0].register_load_state_dict_pre_hook(rename)
        incompatible = model.load_state_dict(legacy)
        return repr(incompatible), model.state_dict(), list(legacy)[:2]  # the caller's dict is left alone

    both(run)


def test_a_parent_pre_hook_rewrites_what_the_children_read():
    def run(lib):
        model = tree(lib)
        state = ones_state(model)
        state["1.0.weight"] = state["1.0.weight"] * 5

        def halve(mod, sd, prefix, *rest):
            sd[prefix + "1.0.weight"] = sd[prefix + "1.0.weight"] / 2

        model.register_load_state_dict_pre_hook(halve)
        model.load_state_dict(state)
        return model.state_dict()["1.0.weight"]

    both(run)


@pytest.mark.parametrize("change", ["clear", "add_missing", "add_unexpected"])
def test_post_hooks_mutating_incompatible_keys_decide_the_strict_check(change):
    def run(lib):
        model = tree(lib)
        state = ones_state(model)
        del state["0.bias"]
        state["extra"] = torch.ones(1)
        seen = []

        def hook(mod, keys):
            seen.append(mod[0].weight.data.clone() if lib is nn else mod[0].weight.detach().clone())
            if change == "clear":
                keys.missing_keys.clear()
                keys.unexpected_keys.clear()
            elif change == "add_missing":
                keys.missing_keys.clear()
                keys.unexpected_keys.clear()
                keys.missing_keys.append("made.up")
            else:
                keys.unexpected_keys.append("other")

        model.register_load_state_dict_post_hook(hook)
        if change == "clear":
            return repr(model.load_state_dict(state)), seen  # strict, and it passes
        with pytest.raises(RuntimeError) as info:
            model.load_state_dict(state)
        return str(info.value), seen  # the hook saw the loaded weight, as torch's does

    both(run)


def test_a_load_failing_after_a_post_hook_restores_what_was_loaded():
    model = tree(nn)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = ones_state(model)
    state["0.weight"] = torch.ones(5)  # a size mismatch: the load fails
    model[1].register_load_state_dict_post_hook(lambda mod, keys: None)  # copies 1.* before the failure is known
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight"):
        model.load_state_dict(state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    state = ones_state(model)
    model.register_load_state_dict_post_hook(lambda mod, keys: keys.missing_keys.append("x"))
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "x"'):
        model.load_state_dict(state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_post_hook_returning_a_value_is_an_error():
    def run(lib):
        model = tree(lib)
        model[0].register_load_state_dict_post_hook(lambda mod, keys: keys)
        with pytest.raises(AssertionError, match="not expected to return new values") as info:
            model.load_state_dict(ones_state(model))
        return str(info.value)

    both(run)


def test_load_hook_handles_remove_them():
    def run(lib):
        model, calls = tree(lib), []
        pre = model.register_load_state_dict_pre_hook(lambda *a: calls.append("pre"))
        post = model.register_load_state_dict_post_hook(lambda *a: calls.append("post"))
        model.load_state_dict(ones_state(model))
        pre.remove()
        model.load_state_dict(ones_state(model))
        post.remove()
        model.load_state_dict(ones_state(model))
        return calls

    both(run)


def test_unexpected_keys_are_reported_module_by_module_as_torch():
    def run(lib):
        model = tree(lib)
        state = dict(ones_state(model), **{"1.0.extra": torch.ones(1), "extra": torch.ones(1), "1.9.x": torch.ones(1)})
        return repr(model.load_state_dict(state, strict=False))

    both(run)


def test_a_scalar_saved_as_a_one_element_vector_loads_as_torch():
    def run(lib):
        model = lib.Module()
        model.register_buffer("step", torch.tensor(0.0))
        model.load_state_dict({"step": torch.tensor([3.0])})
        return model.step

    both(run)


# --- global module hooks --------------------------------------------------------------------------------


def test_global_forward_and_backward_hooks_run_before_the_modules_own():
    def run(lib):
        torch.manual_seed(0)
        model, calls = lib.Sequential(lib.Linear(2, 2)).double(), []
        g = GLOBALS[lib]
        where = names(model)

        def rec(tag):
            return lambda mod, *args: calls.append((tag, where[id(mod)]))

        handles = [
            g.register_module_forward_pre_hook(rec("global pre")),
            g.register_module_forward_hook(rec("global fwd")),
            g.register_module_full_backward_pre_hook(rec("global bwd pre")),
            g.register_module_full_backward_hook(rec("global bwd")),
        ]
        try:
            for m in model.modules():
                m.register_forward_pre_hook(rec("pre"))
                m.register_forward_hook(rec("fwd"))
                m.register_full_backward_pre_hook(rec("bwd pre"))
                m.register_full_backward_hook(rec("bwd"))
            x = torch.randn(3, 2, dtype=torch.float64)
            model(ag.Variable(x, requires_grad=True) if lib is nn else x.requires_grad_()).sum().backward()
        finally:
            for h in handles:
                h.remove()
        model(torch.ones(1, 2, dtype=torch.float64) if lib is torch.nn else ag.Variable(torch.ones(1, 2).double()))
        return calls

    both(run)


def test_global_forward_hooks_replace_values_and_take_kwargs():
    class Scale:
        def __init__(self, lib):
            class M(lib.Module):
                def forward(self, x, *, factor=1.0):
                    return x * factor

            self.module = M()

    def run(lib):
        g, m, seen = GLOBALS[lib], Scale(lib).module, []
        pre = g.register_module_forward_pre_hook(lambda mod, args: (args[0] + 1,))
        fwd = g.register_module_forward_hook(
            lambda mod, args, kwargs, out: (seen.append(dict(kwargs)), out * 10)[1], with_kwargs=True
        )
        local = m.register_forward_hook(lambda mod, args, out: out + 0.5)  # after the global one
        try:
            out = m(torch.ones(2) if lib is torch.nn else ag.Variable(torch.ones(2)), factor=3.0)
        finally:
            pre.remove(), fwd.remove(), local.remove()
        return out, seen, m(torch.ones(2) if lib is torch.nn else ag.Variable(torch.ones(2)))

    both(run)


def test_global_always_call_hook_runs_when_forward_raises():
    def run(lib):
        class Boom(lib.Module):
            def forward(self, x):
                raise ValueError("boom")

        calls = []
        g = GLOBALS[lib]
        handle = g.register_module_forward_hook(lambda mod, args, out: calls.append(out), always_call=True)
        local = Boom()
        local.register_forward_hook(lambda mod, args, out: calls.append("local"), always_call=True)
        try:
            with pytest.raises(ValueError, match="boom"):
                local(torch.ones(1))
        finally:
            handle.remove()
        return calls

    both(run)


def test_global_registration_hooks_see_and_replace_what_modules_register():
    def run(lib):
        g, calls = GLOBALS[lib], []

        def rec(kind, replace=None):
            def hook(mod, name, value):
                calls.append((kind, type(mod).__name__, name, None if value is None else type(value).__name__))
                return replace(value) if replace is not None and value is not None else None

            return hook

        handles = [
            g.register_module_parameter_registration_hook(rec("param")),
            g.register_module_buffer_registration_hook(rec("buffer", lambda t: t + 1)),
            g.register_module_module_registration_hook(rec("module")),
        ]
        try:
            torch.manual_seed(0)
            m = lib.Module()
            m.register_buffer("b", torch.zeros(2))
            m.lin = lib.Linear(2, 2)
            m.lin.bias = None
            m.lin = None
            m.p = lib.Parameter(torch.ones(1))
            m.p = None
        finally:
            for h in handles:
                h.remove()
        m.register_buffer("after", torch.zeros(1))
        return calls, m.b

    both(run)


def test_global_hooks_stop_after_removal():
    handle = nn_module_hooks.register_module_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    lin = nn.Identity()
    assert torch.equal(lin(ag.Variable(torch.ones(2))).data, torch.zeros(2))
    handle.remove()
    assert torch.equal(lin(ag.Variable(torch.ones(2))).data, torch.ones(2))
    assert nn.module.register_module_forward_hook is nn_module_hooks.register_module_forward_hook
