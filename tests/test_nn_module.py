"""nn.Module's machinery and the containers against torch.nn: every test builds the same model in both
libraries (`lib` is `nn` or `torch.nn`), does the same thing to both and compares what comes out."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn

from .oracles import assert_no_torch_graph

TOL = dict(rtol=1e-10, atol=1e-12)
LIBS = (nn, torch.nn)


def make_net(lib: Any, seed: int = 0) -> Any:
    """A model with own parameters and buffers (persistent, non-persistent, None), every container and a
    module shared under two names; the same draws in the same order in both libraries."""

    class Net(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = lib.Parameter(torch.linspace(0.5, 1.5, 3))
            self.register_buffer("steps", torch.tensor(0))
            self.register_buffer("cache", torch.full((4,), 0.25), persistent=False)
            self.register_buffer("absent", None)
            self.body = lib.Sequential(lib.Linear(3, 4), lib.BatchNorm1d(4))
            self.blocks = lib.ModuleDict({"a": lib.Linear(4, 4), "b": lib.LayerNorm(4)})
            self.layers = lib.ModuleList([lib.Linear(4, 4), lib.Linear(4, 2)])
            self.shared = self.layers[0]

        def forward(self, x: Any) -> Any:
            h = self.blocks["b"](self.blocks["a"](self.body(x * self.scale))) + self.cache
            for layer in self.layers:
                h = layer(h)
            return h

    torch.manual_seed(seed)
    return Net()


def twins(dtype: torch.dtype = torch.float64) -> tuple[Any, Any]:
    return make_net(nn).to(dtype), make_net(torch.nn).to(dtype)


def names(pairs: Any) -> list[str]:
    return [name for name, _ in pairs]


def structure(m: Any) -> dict[str, Any]:
    """Everything about a module's registration that torch users can see."""
    return {
        "state": [(k, tuple(v.shape), v.dtype) for k, v in m.state_dict().items()],
        "parameters": names(m.named_parameters()),
        "all parameters": names(m.named_parameters(remove_duplicate=False)),
        "buffers": [(k, v.dtype) for k, v in m.named_buffers()],
        "own buffers": names(m.named_buffers(prefix="net", recurse=False)),
        "modules": [(k, type(v).__name__) for k, v in m.named_modules()],
        "all modules": names(m.named_modules(remove_duplicate=False)),
        "children": names(m.named_children()),
    }


def assert_same_state(ours: Any, theirs: Any) -> None:
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for (name, x), (_, y) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert torch.equal(x, y), name


def test_same_seed_gives_torchs_structure_and_values():
    ours, theirs = twins()
    assert structure(ours) == structure(theirs)
    assert "shared.weight" in ours.state_dict() and "shared.weight" not in names(ours.named_parameters())
    assert_same_state(ours, theirs)
    assert all(type(v) is torch.Tensor for v in ours.state_dict().values())
    assert ours.state_dict()["body.1.num_batches_tracked"].dtype == torch.int64


def perturb(m: Any, seed: int) -> None:
    """Give every parameter and floating-point buffer new positive values (running_var too), and
    num_batches_tracked a count."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in m.state_dict().values():
            t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5 if t.is_floating_point() else 7)


def test_state_dict_loads_both_ways_strictly():
    ours, theirs = twins()
    perturb(theirs, 1)
    assert repr(ours.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    assert_same_state(ours, theirs)
    perturb(ours, 2)
    theirs.load_state_dict(ours.state_dict())
    assert_same_state(ours, theirs)
    state = ours.state_dict(keep_vars=True)
    assert state["scale"] is ours.scale and state["steps"] is ours.steps
    assert list(ours.state_dict(prefix="model.")) == list(theirs.state_dict(prefix="model."))


def run_both(ours: Any, theirs: Any, x: torch.Tensor) -> None:
    """One forward and backward of both on `x`: outputs, input and parameter gradients and buffers equal."""
    xt = x.clone().requires_grad_()
    xe = ag.Variable(x.clone(), requires_grad=True)
    yt, ye = theirs(xt), ours(xe)
    torch.testing.assert_close(ye.data, yt.detach(), **TOL)
    v = torch.randn(yt.shape, dtype=yt.dtype, generator=torch.Generator().manual_seed(3))
    yt.backward(v)
    ye.backward(v)
    torch.testing.assert_close(xe.grad.data, xt.grad, **TOL)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(p.grad.data, q.grad, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    for (name, a), (_, b) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert torch.equal(a, b), name  # torch's own kernel updates the running statistics: bitwise
    assert_no_torch_graph(ye, xe.grad, *ours.buffers())


@pytest.mark.parametrize("training", [True, False])
def test_forward_and_gradients_match_torch(training):
    ours, theirs = twins()
    perturb(theirs, 4)
    ours.load_state_dict(theirs.state_dict())
    ours.train(training), theirs.train(training)
    for step in range(3):
        run_both(ours, theirs, torch.randn(5, 3, dtype=torch.float64) + step)


def test_repr_matches_torch():
    ours, theirs = twins()
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])) == repr(
        torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU()])
    )
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"


CASTS = {
    "double": lambda m: m.double(),
    "float": lambda m: m.float(),
    "half": lambda m: m.half(),
    "bfloat16": lambda m: m.bfloat16(),
    "cpu": lambda m: m.cpu(),
    "to(dtype)": lambda m: m.to(torch.float16),
    "to(dtype=, non_blocking=)": lambda m: m.to(dtype=torch.float64, non_blocking=True),
    "to(device, dtype)": lambda m: m.to("cpu", torch.float64),
    "to(tensor)": lambda m: m.to(torch.ones(1, dtype=torch.float64)),
    "to(memory_format)": lambda m: m.to(memory_format=torch.channels_last),
}


@pytest.mark.parametrize("cast", CASTS.values(), ids=CASTS.keys())
def test_casts_change_dtypes_as_torch(cast):
    ours, theirs = twins(torch.float32)
    ours(ag.Variable(torch.randn(5, 3))).sum().backward()
    theirs.load_state_dict(ours.state_dict())  # the running statistics that this step updated
    for p, q in zip(ours.parameters(), theirs.parameters()):
        q.grad = p.grad.data.clone()
    assert cast(ours) is ours and cast(theirs) is theirs
    assert structure(ours) == structure(theirs)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.dtype == q.dtype and p.grad.dtype == q.grad.dtype and p.requires_grad, name
        assert torch.equal(p.grad.data, q.grad), name
    assert_same_state(ours, theirs)


def test_to_takes_a_variable_and_rejects_integer_dtypes_as_torch():
    ours, theirs = twins(torch.float32)
    assert ours.to(ag.Variable(torch.ones(1, dtype=torch.float64))).scale.dtype == torch.float64
    for m in (ours, theirs):
        with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes, but got"):
            m.to(torch.int64)


def test_apply_visits_children_first_as_torch():
    visits: dict[Any, list[str]] = {nn: [], torch.nn: []}
    for lib in LIBS:
        net = make_net(lib)
        assert net.apply(lambda m, lib=lib: visits[lib].append(type(m).__name__)) is net
    assert visits[nn] == visits[torch.nn] and visits[nn][-1] == "Net"


def test_requires_grad_and_zero_grad_as_torch():
    ours, theirs = twins()
    run_both(ours, theirs, torch.randn(5, 3, dtype=torch.float64))
    held = ours.scale.grad.data
    for m in (ours, theirs):
        m.zero_grad(set_to_none=False)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert torch.equal(p.grad.data, q.grad) and not p.grad.requires_grad, name
    assert torch.equal(held, torch.zeros(3))  # zeroed in place, as torch
    for m in (ours, theirs):
        m.zero_grad()
        assert m.requires_grad_(False) is m
    assert all(p.grad is None and not p.requires_grad for p in ours.parameters())
    assert [p.requires_grad for p in ours.requires_grad_().parameters()] == [
        p.requires_grad for p in theirs.requires_grad_().parameters()
    ]


def test_train_and_eval_reach_every_child_through_train():
    calls = []

    class Child(nn.Linear):
        def train(self, mode: bool = True) -> nn.Module:
            calls.append(mode)
            return super().train(mode)

    ours = nn.Sequential(nn.ReLU(), nn.Sequential(Child(1, 1)))
    assert ours.eval() is ours and not any(m.training for m in ours.modules()) and calls == [False]
    assert ours.train() is ours and all(m.training for m in ours.modules()) and calls == [False, True]
    for m in (ours, torch.nn.ReLU()):
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            m.train("yes")


def test_get_submodule_parameter_buffer_and_dir():
    ours, _ = twins()
    assert ours.get_submodule("") is ours and ours.get_submodule("body.1") is ours.body[1]
    assert ours.get_parameter("blocks.a.bias") is ours.blocks["a"].bias and ours.get_parameter("scale") is ours.scale
    assert ours.get_buffer("body.1.running_var") is ours.body[1].running_var
    listed = dir(ours)
    assert {"scale", "steps", "cache", "body", "layers", "forward", "training"} <= set(listed)
    assert listed == sorted(listed) and "0" not in dir(ours.body)


EDITS = {
    "assign a buffer": lambda lib, m: setattr(m, "steps", torch.tensor(5)),
    "assign None to a buffer": lambda lib, m: setattr(m, "steps", None),
    "delete a buffer": lambda lib, m: delattr(m, "steps"),
    "make a buffer persistent": lambda lib, m: m.register_buffer("cache", torch.ones(4)),
    "non-persistent buffer": lambda lib, m: m.register_buffer("extra", torch.ones(1), persistent=False),
    "assign a Parameter": lambda lib, m: setattr(m, "scale", lib.Parameter(torch.zeros(2))),
    "assign None to a parameter": lambda lib, m: setattr(m, "scale", None),
    "delete a parameter": lambda lib, m: delattr(m, "scale"),
    "register None parameter": lambda lib, m: m.register_parameter("p", None),
    "parameter replaces a buffer": lambda lib, m: setattr(m, "cache", lib.Parameter(torch.ones(4))),
    "module replaces an attribute": lambda lib, m: (setattr(m, "note", 3), setattr(m, "note", lib.ReLU())),
    "add_module": lambda lib, m: m.add_module("extra", lib.Linear(1, 1)),
    "register_module None": lambda lib, m: m.register_module("extra", None),
    "assign None to a module": lambda lib, m: setattr(m, "body", None),
    "delete a module": lambda lib, m: delattr(m, "body"),
    "replace in a ModuleList": lambda lib, m: m.layers.__setitem__(-1, lib.Linear(4, 3)),
    "Linear without bias": lambda lib, m: setattr(m, "extra", lib.Linear(2, 2, bias=False)),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_registration_edits_as_torch(edit):
    ours, theirs = twins()
    for lib, m in ((nn, ours), (torch.nn, theirs)):
        torch.manual_seed(5)
        edit(lib, m)
    assert structure(ours) == structure(theirs)
    assert_same_state(ours, theirs)
    assert own_names(ours) == own_names(theirs)


def own_names(m: Any) -> set[str]:
    """The public names that dir() lists for this instance beyond its class's: attributes, parameters,
    buffers and children."""
    return {name for name in dir(m) if not name.startswith("_")} - set(dir(type(m)))


ERRORS = [
    (lambda lib, m: m.register_buffer("a.b", torch.ones(1)), KeyError, 'buffer name can.{1,2}t contain "\\."'),
    (lambda lib, m: m.register_buffer("", torch.ones(1)), KeyError, 'buffer name can.{1,2}t be empty string ""'),
    (lambda lib, m: m.register_buffer("forward", torch.ones(1)), KeyError, "attribute 'forward' already exists"),
    (lambda lib, m: m.register_buffer("scale", torch.ones(1)), KeyError, "attribute 'scale' already exists"),
    (lambda lib, m: m.register_buffer("x", 3), TypeError, "cannot assign 'int' object to buffer 'x'"),
    (lambda lib, m: m.register_buffer(1, torch.ones(1)), TypeError, "buffer name should be a string. Got int"),
    (lambda lib, m: m.register_parameter("w", torch.ones(1)), TypeError, "'torch.FloatTensor' object to parameter 'w'"),
    (lambda lib, m: m.register_parameter("a.b", None), KeyError, 'parameter name can.{1,2}t contain "\\."'),
    (lambda lib, m: m.register_parameter("steps", None), KeyError, "attribute 'steps' already exists"),
    (lambda lib, m: m.add_module("x", 3), TypeError, "int is not a Module subclass"),
    (lambda lib, m: m.add_module("a.b", lib.ReLU()), KeyError, 'module name can.{1,2}t contain "\\.", got: a.b'),
    (lambda lib, m: m.add_module("", lib.ReLU()), KeyError, 'module name can.{1,2}t be empty string ""'),
    (lambda lib, m: m.add_module("scale", lib.ReLU()), KeyError, "attribute 'scale' already exists"),
    (lambda lib, m: setattr(m, "scale", torch.ones(3)), TypeError, "'torch.FloatTensor' as parameter 'scale'"),
    (lambda lib, m: setattr(m.layers[0], "bias", torch.ones(4)), TypeError, "as parameter 'bias'"),
    (lambda lib, m: setattr(m, "body", 3), TypeError, "cannot assign 'int' as child module 'body'"),
    (lambda lib, m: setattr(m, "steps", 3), TypeError, "cannot assign 'int' .*buffer 'steps'"),
    (lambda lib, m: delattr(m, "nothing"), AttributeError, "nothing"),
    (lambda lib, m: m.get_submodule("body.5"), AttributeError, "Sequential has no attribute `5`"),
    (lambda lib, m: m.get_submodule("scale"), AttributeError, "`scale` is not an nn.Module"),
    (lambda lib, m: m.get_parameter("body.0.nothing"), AttributeError, "Linear has no attribute `nothing`"),
    (lambda lib, m: m.get_parameter("steps"), AttributeError, "`steps` is not an nn.Parameter"),
    (lambda lib, m: m.get_buffer("scale"), AttributeError, "`scale` is not a buffer"),
    (lambda lib, m: m.body[2], IndexError, "index 2 is out of range"),
    (lambda lib, m: m.layers[-3], IndexError, "index -3 is out of range"),
    (lambda lib, m: m.body.insert(3, lib.ReLU()), IndexError, "Index out of range: 3"),
    (lambda lib, m: m.body.insert(0, 3), AssertionError, "module should be of type"),
    (lambda lib, m: m.body + [lib.ReLU()], ValueError, "add operator supports only objects of Sequential class"),
    (lambda lib, m: m.layers.extend(3), TypeError, "ModuleList.extend should be called with an iterable, but got int"),
    (lambda lib, m: m.blocks.update(3), TypeError, "ModuleDict.update should be called with an iterable"),
    (lambda lib, m: m.blocks.update([3]), TypeError, "ModuleDict update sequence element #0 should be Iterable"),
    (lambda lib, m: m.blocks.update([("c",)]), ValueError, "element #0 has length 1; 2 is required"),
    (lambda lib, m: m.blocks["c"], KeyError, "c"),
    (lambda lib, m: m.blocks(torch.ones(1)), NotImplementedError, "forward"),
    (lambda lib, m: lib.Sequential("x"), TypeError, "str is not a Module subclass"),
]


@pytest.mark.parametrize("action,error,match", ERRORS)
def test_bad_registrations_raise_torchs_errors(action, error, match):
    ours, theirs = twins()
    before = structure(ours)
    for lib, m in ((nn, ours), (torch.nn, theirs)):
        with pytest.raises(error, match=match if lib is nn else None):
            action(lib, m)
    assert structure(ours) == before


def test_a_variable_is_not_a_buffer():
    with pytest.raises(TypeError, match=r"object to buffer 'x' \(torch Tensor or None required; .* pass its .data\)"):
        nn.Linear(1, 1).register_buffer("x", ag.Variable(torch.ones(1)))


def test_parameters_before_init_are_refused():
    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(torch.ones(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Early()


def state_with(m: Any, drop: str = "", add: str = "", resize: str = "") -> dict[str, torch.Tensor]:
    """m's state dict, changed, keeping torch's `_metadata` (without it torch takes the dict for a checkpoint
    from before torch 0.4.1 and fills in a missing num_batches_tracked)."""
    source = m.state_dict()
    state = OrderedDict((k, v.clone()) for k, v in source.items() if k != drop)
    state._metadata = source._metadata  # type: ignore[attr-defined]
    if add:
        state[add] = torch.ones(1)
    if resize:
        state[resize] = torch.ones(7)
    return state


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "change",
    [dict(drop="body.1.running_mean"), dict(drop="body.1.num_batches_tracked"), dict(add="body.1.extra")],
)
def test_load_state_dict_reports_buffer_keys_as_torch(change, strict):
    ours, theirs = twins()
    source = make_net(torch.nn).double()
    perturb(source, 6)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    state = state_with(source, **change)
    if strict:
        for m in (ours, theirs):
            with pytest.raises(RuntimeError, match=r"(Missing|Unexpected) key\(s\) in state_dict: \"body.1."):
                m.load_state_dict(state)
        assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())  # nothing loaded
    else:
        assert repr(ours.load_state_dict(state, strict=False)) == repr(theirs.load_state_dict(state, strict=False))
        assert_same_state(ours, theirs)


def test_load_state_dict_size_mismatch_of_a_buffer():
    ours, theirs = twins()
    state = state_with(theirs, resize="body.1.running_var")
    for m in (ours, theirs):
        with pytest.raises(RuntimeError, match=r"size mismatch for body.1.running_var: copying a param with shape"):
            m.load_state_dict(state, strict=False)


# --- containers ------------------------------------------------------------------------------------


def numbered(lib: Any, kind: str = "Sequential", n: int = 4) -> Any:
    """A container of Linear(i, 1) for i = 1..n: each child is known by its in_features."""
    torch.manual_seed(0)
    layers = [lib.Linear(i, 1) for i in range(1, n + 1)]
    return lib.Sequential(*layers) if kind == "Sequential" else lib.ModuleList(layers)


def seen(value: Any) -> Any:
    """What a user sees of a result: a container's names and children, a layer's in_features."""
    if isinstance(value, (nn.Module, torch.nn.Module)) and not hasattr(value, "in_features"):
        return type(value).__name__, [(k, seen(m)) for k, m in value._modules.items()]
    return getattr(value, "in_features", value)


def pairs(lib: Any) -> OrderedDict[str, Any]:
    return OrderedDict(a=lib.Linear(5, 1), b=lib.Linear(6, 1))


LIST_OPS = {
    "slice": lambda lib, s: s[1:3],
    "step slice": lambda lib, s: s[::2],
    "negative slice": lambda lib, s: s[-3:],
    "negative index": lambda lib, s: s[-1],
    "len": lambda lib, s: len(s),
    "iter": lambda lib, s: [m.in_features for m in s],
    "setitem": lambda lib, s: s.__setitem__(-2, lib.Linear(9, 1)),
    "delitem": lambda lib, s: s.__delitem__(1),
    "delitem slice": lambda lib, s: s.__delitem__(slice(1, 3)),
    "delitem negative": lambda lib, s: s.__delitem__(-1),
    "insert": lambda lib, s: s.insert(1, lib.Linear(9, 1)),
    "insert at end": lambda lib, s: s.insert(4, lib.Linear(9, 1)),
    "append": lambda lib, s: s.append(lib.Linear(9, 1)),
    "extend": lambda lib, s: s.extend(numbered(lib, "Sequential", 2)),
    "pop": lambda lib, s: s.pop(0),
    "pop slice": lambda lib, s: s.pop(slice(1, 3)),
    "add": lambda lib, s: (
        s + (lib.Sequential(lib.Linear(9, 1)) if isinstance(s, lib.Sequential) else [lib.Linear(9, 1)])
    ),
}


@pytest.mark.parametrize("kind", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("op", LIST_OPS.values(), ids=LIST_OPS.keys())
def test_numbered_containers_behave_as_torchs(op, kind):
    results = []
    for lib in LIBS:
        container = numbered(lib, kind)
        torch.manual_seed(1)
        results.append((seen(op(lib, container)), seen(container), list(container.state_dict())))
    assert results[0] == results[1]


ORDERED_OPS = {
    "names kept": lambda lib: lib.Sequential(pairs(lib)),
    "slice keeps names": lambda lib: lib.Sequential(pairs(lib))[1:],
    "delete renumbers": lambda lib: (s := lib.Sequential(pairs(lib)), s.__delitem__(0))[0],
    "iadd Sequential": lambda lib: (s := lib.Sequential(lib.Linear(2, 1)), s.__iadd__(lib.Sequential(pairs(lib))))[1],
    "iadd ModuleList": lambda lib: (s := lib.ModuleList(), s.__iadd__(pairs(lib).values()))[1],
    "ModuleList + list": lambda lib: lib.ModuleList([lib.Linear(2, 1)]) + list(pairs(lib).values()),
}


@pytest.mark.parametrize("build", ORDERED_OPS.values(), ids=ORDERED_OPS.keys())
def test_container_construction_and_renumbering_as_torch(build):
    results = []
    for lib in LIBS:
        torch.manual_seed(0)
        results.append(seen(build(lib)))
    assert results[0] == results[1]


def test_insert_and_extend_where_torch_breaks():
    """torch.nn.ModuleList.insert(-1, m) stores m under the key '-1', torch.nn.Sequential.insert fails on
    named children and `extend(itself)` on both fails: here they act as list.insert and list.extend."""
    theirs = numbered(torch.nn, "Sequential")
    theirs.insert(-1, torch.nn.Linear(9, 1))
    for kind in ("Sequential", "ModuleList"):
        ours = numbered(nn, kind)
        assert ours.insert(-1, nn.Linear(9, 1)) is (ours if kind == "Sequential" else None)
        assert seen(ours)[1] == seen(theirs)[1]
        ours.extend(ours)
        assert [m.in_features for m in ours] == [1, 2, 3, 9, 4] * 2
    named = nn.Sequential(pairs(nn))
    named.insert(1, nn.ReLU())
    assert seen(named) == ("Sequential", [("0", 5), ("1", ("ReLU", [])), ("2", 6)])


DICT_OPS = {
    "update dict": lambda lib, d: d.update({"c": lib.Linear(7, 1), "a": lib.Linear(8, 1)}),
    "update pairs": lambda lib, d: d.update([("c", lib.Linear(7, 1)), ["d", lib.Linear(8, 1)]]),
    "update ModuleDict": lambda lib, d: d.update(lib.ModuleDict({"c": lib.Linear(7, 1)})),
    "setitem replaces in place": lambda lib, d: d.__setitem__("a", lib.Linear(9, 1)),
    "setitem adds": lambda lib, d: d.__setitem__("z", lib.Linear(9, 1)),
    "delitem": lambda lib, d: d.__delitem__("a"),
    "pop": lambda lib, d: d.pop("b"),
    "clear": lambda lib, d: d.clear(),
    "views": lambda lib, d: (list(d.keys()), [seen(m) for m in d.values()], [(k, seen(m)) for k, m in d.items()]),
    "len, iter, contains": lambda lib, d: (len(d), list(d), "a" in d, "z" in d),
    "getitem": lambda lib, d: d["b"],
}


@pytest.mark.parametrize("op", DICT_OPS.values(), ids=DICT_OPS.keys())
def test_module_dict_behaves_as_torchs(op):
    results = []
    for lib in LIBS:
        torch.manual_seed(0)
        d = lib.ModuleDict(pairs(lib))
        results.append((seen(op(lib, d)), seen(d), list(d.state_dict())))
    assert results[0] == results[1]


def test_sequential_forward_and_keys_as_torch():
    ours, theirs = numbered(nn, "Sequential", 1), numbered(torch.nn, "Sequential", 1)
    for lib, s in ((nn, ours), (torch.nn, theirs)):
        torch.manual_seed(2)
        s.extend([lib.Tanh(), lib.Linear(1, 3)])
    ours.double(), theirs.double()
    run_both(ours, theirs, torch.randn(4, 1, dtype=torch.float64))
    assert list(ours.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_renumbered_children_name_their_new_place_in_errors():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(4, 4))
    model.insert(0, nn.Linear(3, 3))
    with pytest.raises(ValueError, match=r"linear in Sequential/2:Linear: expected input with last dim 4"):
        model(ag.Variable(torch.ones(2, 3)))
    del model[0]
    with pytest.raises(ValueError, match=r"linear in Sequential/1:Linear: expected input with last dim 4"):
        model(ag.Variable(torch.ones(2, 3)))
