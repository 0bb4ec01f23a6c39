"""nn.ParameterList and nn.ParameterDict against torch.nn's: each test builds the same container in both
libraries (`lib` is `nn` or `torch.nn`) from equal tensors, does the same thing to both and compares
what a torch user can see (entries, state dicts, parameters, reprs, gradients, errors)."""

from __future__ import annotations

import operator
import types
from collections import OrderedDict
from typing import Any

import pytest
import torch

import autograd_engine as ag
import nn

LIBS = (nn, torch.nn)
OPTIM = {nn: nn.optim, torch.nn: torch.optim}
TOL = dict(rtol=1e-12, atol=1e-14)


def values(seed: int = 0) -> list[torch.Tensor]:
    """Fresh float64 tensors of different shapes (a new copy per call: Parameters share their data)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for shape in ((3, 4), (4,), (4, 2), (2,))]


def describe(x: Any) -> Any:
    """What a torch user sees of `x`, in terms equal between the two libraries."""
    if isinstance(x, (ag.Variable, torch.Tensor)):
        kind = "Parameter" if isinstance(x, (nn.Parameter, torch.nn.Parameter)) else "Tensor"
        data = x.data
        return (kind, tuple(data.shape), data.dtype, data.tolist(), x.requires_grad, x.is_leaf)
    if isinstance(x, (nn.ParameterList, torch.nn.ParameterList)):
        return ("ParameterList", len(x), [describe(v) for v in x], *registration(x))
    if isinstance(x, (nn.ParameterDict, torch.nn.ParameterDict)):
        return ("ParameterDict", len(x), [(k, describe(v)) for k, v in x.items()], *registration(x))
    if isinstance(x, (nn.Module, torch.nn.Module)):
        return ("Module", type(x).__name__, [describe(v) for v in x.state_dict().values()])
    if isinstance(x, (list, tuple, types.GeneratorType)):
        return (type(x).__name__, [describe(v) for v in x])
    if isinstance(x, dict):
        return ("dict", [(k, describe(v)) for k, v in x.items()])
    return x


def registration(m: Any) -> tuple[Any, ...]:
    """Names a module registers: state-dict keys, parameters (each once, and all), children."""
    return (
        list(m.state_dict()),
        [n for n, _ in m.named_parameters()],
        [n for n, _ in m.named_parameters(remove_duplicate=False)],
        [n for n, _ in m.named_children()],
    )


def plist(lib: Any, seed: int = 0) -> Any:
    """A ParameterList of a tensor, a Parameter, an int and a string, as the tests start from."""
    a, b, _, _ = values(seed)
    return lib.ParameterList([a, lib.Parameter(b), 7, "s"])


def pdict(lib: Any, seed: int = 0) -> Any:
    """A ParameterDict built from a plain dict (added in sorted key order) of tensors and objects."""
    a, b, c, _ = values(seed)
    return lib.ParameterDict({"w": a, "b": lib.Parameter(b), "k": 3, "a": c})


def same(fn: Any) -> Any:
    """`fn(lib)` in both libraries, described; asserted equal and returned."""
    ours, theirs = (describe(fn(lib)) for lib in LIBS)
    assert ours == theirs
    return ours


# --- ParameterList ------------------------------------------------------------------------------
LIST_OPS = {
    "construct": lambda lib, pl: pl,
    "construct empty": lambda lib, pl: lib.ParameterList(),
    "construct None": lambda lib, pl: lib.ParameterList(None),
    "construct generator": lambda lib, pl: lib.ParameterList(t for t in values(1)),
    "index": lambda lib, pl: [pl[0], pl[1], pl[2], pl[3]],
    "negative index": lambda lib, pl: [pl[-1], pl[-4]],
    "index of a tensor": lambda lib, pl: pl[torch.tensor(1)],
    "slice": lambda lib, pl: pl[1:3],
    "reversed slice": lambda lib, pl: pl[::-2],
    "empty slice": lambda lib, pl: pl[5:],
    "iter": lambda lib, pl: list(pl),
    "reversed": lambda lib, pl: list(reversed(pl)),
    "len": lambda lib, pl: len(pl),
    "contains": lambda lib, pl: pl[0] in pl,
    "set a tensor": lambda lib, pl: pl.__setitem__(1, values(1)[1]) or pl,
    "set a Parameter": lambda lib, pl: pl.__setitem__(-4, lib.Parameter(values(1)[0])) or pl,
    "set a tensor in an object's place": lambda lib, pl: pl.__setitem__(2, values(1)[2]) or pl,
    "set None": lambda lib, pl: pl.__setitem__(0, None) or pl,
    "set an object": lambda lib, pl: pl.__setitem__(3, 2.5) or pl,
    "append": lambda lib, pl: pl.append(values(1)[3]) is pl and pl,
    "append a module": lambda lib, pl: pl.append(lib.Linear(2, 1).double()) is pl and pl,
    "append None": lambda lib, pl: pl.append(None) is pl and pl,
    "extend": lambda lib, pl: pl.extend(values(1)[:2]) is pl and pl,
    "extend a generator": lambda lib, pl: pl.extend(t for t in values(1)) and pl,
    "extend itself": lambda lib, pl: pl.extend(pl),
    "iadd": lambda lib, pl: pl.__iadd__([values(1)[0], 4]) is pl and pl,
    "dir has no indices": lambda lib, pl: [k for k in dir(pl) if k[0].isdigit()],
}


@pytest.mark.parametrize("op", LIST_OPS.values(), ids=LIST_OPS.keys())
def test_list_behaves_as_torchs(op):
    def run(lib: Any) -> Any:
        torch.manual_seed(0)
        pl = plist(lib)
        return (op(lib, pl), pl)

    same(run)


def test_list_slices_and_iteration_hold_the_same_parameter_objects():
    pl = plist(nn)
    assert pl[0:2][1] is pl[1] and list(pl)[0] is pl[0] and pl[-1] == "s"
    a = values()[0]
    pl[0] = a
    assert torch.equal(pl[0].data, a) and pl[0].data.data_ptr() == a.data_ptr(), "a Parameter on the tensor's data"


LIST_ERRORS = [
    (lambda lib, pl: pl[4], IndexError, "index 4 is out of range"),
    (lambda lib, pl: pl[-5], IndexError, "index -5 is out of range"),
    (lambda lib, pl: pl["0"], TypeError, "'str' object cannot be interpreted as an integer"),
    (lambda lib, pl: pl[1.0], TypeError, "'float' object cannot be interpreted as an integer"),
    (lambda lib, pl: pl.__setitem__(4, values()[0]), IndexError, "index 4 is out of range"),
    (lambda lib, pl: pl.__setitem__(0, 5), TypeError, r"cannot assign 'int' as parameter '0' \((torch\.)?nn\.Param"),
    (lambda lib, pl: pl.extend(3), TypeError, "ParameterList.extend should be called with an iterable, but got int"),
    (lambda lib, pl: pl.extend(values()[0]), TypeError, "ParameterList.extend should be .* but got Tensor"),
    (lambda lib, pl: pl + pl, TypeError, "unsupported operand type"),
    (lambda lib, pl: operator.delitem(pl, 0), AttributeError, "__delitem__"),
    (lambda lib, pl: pl(values()[0]), RuntimeError, "ParameterList should not be called."),
    (lambda lib, pl: values()[2] in pl, RuntimeError, "must match the size of tensor b"),
]


@pytest.mark.parametrize("lib", LIBS, ids=["nn", "torch.nn"])
@pytest.mark.parametrize("op, error, match", LIST_ERRORS)
def test_list_errors_are_torchs(lib, op, error, match):
    pl = plist(lib)
    with pytest.raises(error, match=match):
        op(lib, pl)
    assert describe(pl) == describe(plist(lib)), "nothing changed"


# --- ParameterDict ------------------------------------------------------------------------------
DICT_OPS = {
    "construct": lambda lib, pd: pd,
    "construct empty": lambda lib, pd: lib.ParameterDict(),
    "construct OrderedDict keeps order": lambda lib, pd: lib.ParameterDict(OrderedDict(z=values()[0], a=1)),
    "construct pairs keep order": lambda lib, pd: lib.ParameterDict([("z", values()[0]), ["a", values()[1]]]),
    "construct generator": lambda lib, pd: lib.ParameterDict((str(i), t) for i, t in enumerate(values())),
    "construct ParameterDict": lambda lib, pd: lib.ParameterDict(pd),
    "getitem": lambda lib, pd: [pd["w"], pd["k"]],
    "setitem new": lambda lib, pd: pd.__setitem__("new", values(1)[0]) or pd,
    "setitem replace": lambda lib, pd: pd.__setitem__("b", values(1)[1]) or pd,
    "setitem object in a Parameter's place": lambda lib, pd: pd.__setitem__("b", None) or pd,
    "setitem tensor in an object's place": lambda lib, pd: pd.__setitem__("k", values(1)[2]) or pd,
    "setitem a key with a dot": lambda lib, pd: pd.__setitem__("x.y", 4) or pd,
    "delitem": lambda lib, pd: pd.__delitem__("b") or pd,
    "delitem an object": lambda lib, pd: pd.__delitem__("k") or pd,
    "len iter reversed": lambda lib, pd: (len(pd), list(pd), list(reversed(pd))),
    "contains": lambda lib, pd: ("w" in pd, "zz" in pd, 1 in pd),
    "keys": lambda lib, pd: (type(pd.keys()).__name__, list(pd.keys())),
    "values": lambda lib, pd: pd.values(),
    "items": lambda lib, pd: pd.items(),
    "get": lambda lib, pd: (pd.get("w"), pd.get("zz"), pd.get("zz", 5), pd.get(1)),
    "pop": lambda lib, pd: (pd.pop("w"), pd),
    "popitem": lambda lib, pd: (pd.popitem(), pd.popitem(), pd),
    "setdefault present": lambda lib, pd: (pd.setdefault("w", 1), pd),
    "setdefault absent": lambda lib, pd: (pd.setdefault("new"), pd),
    "setdefault a tensor": lambda lib, pd: (pd.setdefault("new", values(1)[0]), pd),
    "update dict sorts": lambda lib, pd: pd.update({"z": values(1)[0], "c": 2, "b": values(1)[1]}) or pd,
    "update OrderedDict": lambda lib, pd: pd.update(OrderedDict(z=values(1)[0], c=2)) or pd,
    "update pairs": lambda lib, pd: pd.update([("z", values(1)[0]), ("c", 2)]) or pd,
    "update ParameterDict": lambda lib, pd: pd.update(lib.ParameterDict(OrderedDict(z=values(1)[0], k=2))) or pd,
    "clear": lambda lib, pd: pd.clear() or pd,
    "copy": lambda lib, pd: (pd.copy(), pd),
    "fromkeys": lambda lib, pd: pd.fromkeys(["x", "y"], values(1)[0]),
    "fromkeys without default": lambda lib, pd: pd.fromkeys("xy"),
    "or": lambda lib, pd: (pd | lib.ParameterDict({"z": values(1)[0], "k": 5}), pd),
    "or a dict": lambda lib, pd: (pd | {"z": 1}, pd),
    "ror a dict": lambda lib, pd: ({"z": 1} | pd, pd),
    "ior": lambda lib, pd: ((pd.__ior__({"z": values(1)[0]})) is pd, pd),
    "a module inside": lambda lib, pd: lib.ParameterDict({"m": lib.Linear(2, 1).double(), "p": values()[0]}),
}


@pytest.mark.parametrize("op", DICT_OPS.values(), ids=DICT_OPS.keys())
def test_dict_behaves_as_torchs(op):
    def run(lib: Any) -> Any:
        torch.manual_seed(0)
        pd = pdict(lib)
        return (op(lib, pd), pd)

    same(run)


def test_dict_copies_and_fromkeys_hold_parameters_as_torch():
    for lib in LIBS:
        pd = pdict(lib)
        copied = pd.copy()
        assert copied is not pd and copied["w"] is pd["w"]
        assert (pd | {})["b"] is pd["b"]
        made = pd.fromkeys("xy", values()[0])
        assert made["x"] is not made["y"] and made["x"].data.data_ptr() == made["y"].data.data_ptr()


DICT_ERRORS = [
    (lambda lib, pd: pd["zz"], AttributeError, "'ParameterDict' object has no attribute 'zz'"),
    (lambda lib, pd: pd[1], TypeError, r"not a string \(type is 'int'\)"),
    (lambda lib, pd: pd.__delitem__("zz"), KeyError, "zz"),
    (lambda lib, pd: pd.pop("zz"), AttributeError, "no attribute 'zz'"),
    (lambda lib, pd: lib.ParameterDict().popitem(), KeyError, r"popitem\(\): dictionary is empty"),
    (
        lambda lib, pd: pd.update(3),
        TypeError,
        "update should be called with an iterable of key/value pairs, but got int",
    ),
    (
        lambda lib, pd: pd.update([3]),
        TypeError,
        "ParameterDict update sequence element #0 should be Iterable; ?is ?int",
    ),
    (lambda lib, pd: pd.update([("z", 1, 2)]), ValueError, "element #0 has length 3; 2 is required"),
    (lambda lib, pd: pd.update("ab"), ValueError, "element #0 has length 1; 2 is required"),
    (lambda lib, pd: pd.__setitem__("a.b", values()[0]), KeyError, "parameter name can.{1,2}t contain"),
    (lambda lib, pd: pd.__setitem__("", values()[0]), KeyError, "parameter name can.{1,2}t be empty string"),
    (lambda lib, pd: pd.__setitem__("update", values()[0]), KeyError, "attribute 'update' already exists"),
    (lambda lib, pd: pd.__setitem__("w", 5), TypeError, "cannot assign 'int' as parameter 'w'"),
    (lambda lib, pd: pd(values()[0]), RuntimeError, "ParameterDict should not be called."),
]


@pytest.mark.parametrize("lib", LIBS, ids=["nn", "torch.nn"])
@pytest.mark.parametrize("op, error, match", DICT_ERRORS)
def test_dict_errors_are_torchs(lib, op, error, match):
    pd = pdict(lib)
    with pytest.raises(error, match=match):
        op(lib, pd)
    if lib is nn:  # torch keeps the key of a failed assignment (test_a_failed_addition_leaves_no_phantom_entry)
        assert describe(pd) == describe(pdict(lib)), "nothing changed"


# --- deliberate differences -----------------------------------------------------------------------
VARIABLES = {
    "constant": (lambda x: ag.Variable(x), lambda x: x),
    "leaf": (lambda x: ag.Variable(x, requires_grad=True), lambda x: x.requires_grad_()),
    "result of an op": (lambda x: ag.Variable(x, requires_grad=True) * 2, lambda x: x.requires_grad_() * 2),
}


@pytest.mark.parametrize("build", [lambda lib, v: lib.ParameterList([v]), lambda lib, v: lib.ParameterDict({"a": v})])
@pytest.mark.parametrize("ours, theirs", VARIABLES.values(), ids=VARIABLES.keys())
def test_a_variable_becomes_a_parameter_as_a_tensor_does_in_torch(build, ours, theirs):
    """torch wraps a tensor that is not a Parameter (leaf or not) in a new leaf Parameter on its data; a
    Variable is the engine's tensor, so it is wrapped the same way."""
    made = ours(values()[0])
    container = build(nn, made)
    assert describe(container) == describe(build(torch.nn, theirs(values()[0])))
    assert next(iter(container.parameters())).data.data_ptr() == made.data.data_ptr()


def test_a_variable_is_one_value_to_extend():
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Variable"):
        nn.ParameterList().extend(ag.Variable(values()[0]))


@pytest.mark.parametrize(
    "container, add, kept",
    [
        (nn.ParameterList, lambda c: c.append(torch.tensor([1, 2])), 0),
        (nn.ParameterList, lambda c: c.extend([values()[0], torch.tensor([1, 2])]), 1),
        (nn.ParameterDict, lambda c: c.__setitem__("a", torch.tensor([1, 2])), 0),
        (nn.ParameterDict, lambda c: c.__setitem__("a.b", values()[0]), 0),
        (nn.ParameterDict, lambda c: c.update([("a", values()[0]), (1, values()[1])]), 1),
    ],
)
def test_a_failed_addition_leaves_no_phantom_entry(container, add, kept):
    """torch counts an entry before storing it, so after the error its list is longer than its entries and
    its dict has a key without a value; here the container holds what was stored."""
    c = container()
    with pytest.raises((RuntimeError, TypeError, KeyError), match="floating point|not a string|contain"):
        add(c)
    assert len(c) == len(list(c)) == len(list(c.parameters())) == len(c.state_dict()) == kept


def test_a_dict_key_is_never_a_method():
    """torch's `pd['keys']` returns the bound method; here a name that is not a key is torch's AttributeError."""
    pd = pdict(nn)
    with pytest.raises(AttributeError, match="'ParameterDict' object has no attribute 'keys'"):
        pd["keys"]


# --- reprs ----------------------------------------------------------------------------------------
REPRS = {
    "empty list": lambda lib: lib.ParameterList(),
    "one entry": lambda lib: lib.ParameterList([values()[0]]),
    "list": plist,
    "float32 list": lambda lib: lib.ParameterList([values()[0].float(), torch.zeros(2, 0, 3)]),
    "list with a module": lambda lib: lib.ParameterList([lib.Linear(2, 1), values()[0]]),
    "empty dict": lambda lib: lib.ParameterDict(),
    "dict": pdict,
    "float32 dict": lambda lib: lib.ParameterDict({"a": values()[0].float(), "s": torch.tensor(1.0)}),
    "dict with None and a module": lambda lib: lib.ParameterDict({"n": None, "m": lib.Linear(2, 1)}),
    "nested in a model": lambda lib: make_model(lib),
}


@pytest.mark.parametrize("make", REPRS.values(), ids=REPRS.keys())
def test_repr_is_torchs(make):
    torch.manual_seed(0)
    ours = repr(make(nn))
    torch.manual_seed(0)
    assert ours == repr(make(torch.nn))


# --- in a model: state dicts, gradients, optimizers, casts --------------------------------------
def make_model(lib: Any, seed: int = 0) -> Any:
    class Model(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            a, b, c, d = values(seed)
            self.params = lib.ParameterList([a, b])
            self.table = lib.ParameterDict({"proj": c, "shift": lib.Parameter(d), "note": "kept"})
            self.params.append(self.table["shift"])  # shared: one parameter, two state-dict keys

        def forward(self, x: Any) -> Any:
            h = torch.tanh(x @ self.params[0] + self.params[1])
            return torch.sigmoid(h @ self.table["proj"] + self.params[2] * self.table["shift"])

    return Model()


def test_model_registers_as_torch():
    ours, theirs = make_model(nn), make_model(torch.nn)
    assert registration(ours) == registration(theirs)
    assert list(ours.state_dict()) == ["params.0", "params.1", "params.2", "table.proj", "table.shift"]
    for (key, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), key


@pytest.mark.parametrize("direction", ["torch into ours", "ours into torch"])
def test_state_dict_loads_both_ways(direction):
    ours, theirs = make_model(nn), make_model(torch.nn, seed=1)
    source, target = (theirs, ours) if direction == "torch into ours" else (ours, theirs)
    before = list(target.parameters())
    assert repr(target.load_state_dict(source.state_dict())) == "<All keys matched successfully>"
    assert all(a is b for a, b in zip(target.parameters(), before)), "loaded in place"
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_gradients_and_optimizer_steps_are_torchs():
    """The same float64 model in both libraries: equal losses, gradients of every parameter (the shared one
    summed over its two uses), and parameters after SGD steps with momentum, built before a cast."""
    ours, theirs = make_model(nn).float(), make_model(torch.nn).float()
    optimizers = [OPTIM[lib].SGD(m.parameters(), lr=0.1, momentum=0.9) for lib, m in zip(LIBS, (ours, theirs))]
    kept = [list(m.parameters()) for m in (ours, theirs)]
    for m in (ours, theirs):
        m.double()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for _ in range(2):
        losses = []
        for m, opt in zip((ours, theirs), optimizers):
            opt.zero_grad()
            loss = m(ag.Variable(x) if m is ours else x).pow(2).sum()
            loss.backward()
            losses.append(loss)
        torch.testing.assert_close(losses[0].data, losses[1].detach(), **TOL)
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            torch.testing.assert_close(p.grad.data, q.grad, **TOL, msg=name)
        for opt in optimizers:
            opt.step()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert p.dtype == torch.float64
        torch.testing.assert_close(p.data, q.detach(), **TOL, msg=name)
    assert all(a is b for a, b in zip(ours.parameters(), kept[0])), "casting keeps the Parameter objects"
    assert ours.params[2] is ours.table["shift"] and ours.table["note"] == "kept"


@pytest.mark.parametrize("cast", [lambda m: m.to(torch.float32), lambda m: m.float(), lambda m: m.half()])
def test_casts_keep_parameter_objects_and_objects(cast):
    for lib in LIBS:
        m = make_model(lib)
        before = list(m.parameters())
        assert cast(m) is m
        assert [p is q for p, q in zip(m.parameters(), before)] == [True] * 4
        assert {p.dtype for p in m.parameters()} == {cast(torch.zeros(1, dtype=torch.float64)).dtype}
        assert m.table["note"] == "kept"
