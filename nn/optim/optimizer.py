"""The base of the optimizers: parameter groups, per-parameter state and torch.optim's state-dict layout.

A subclass states its hyperparameters (`defaults`) and writes `_update(param, grad, state, group,
scheduled)`: one parameter's update on tensors, as torch's single-tensor (for-loop) implementation does it,
so that trajectories match torch.optim's (or overrides `step`, as LBFGS does). The base runs it under
`torch.no_grad()` for every parameter that has a gradient, and keeps the state torch keeps, with torch's key
names, so state dicts move both ways. The options that schedulers change (`_scheduled`) are read from
`scheduled`: the group itself eagerly, tensors that each replay reads anew inside `ag.compile` (see
`scalars`); `param_groups` is a property that tells a trace when other code gets hold of the groups (those
options then stay checked).

Hooks run as torch.optim's: every `step` (a subclass's own too) runs the global and the optimizer's step
pre-hooks, which may replace its arguments, and then the post-hooks; `state_dict` and `load_state_dict`
run theirs. Handles are nn's `RemovableHandle`.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import torch

import autograd_engine as ag
from autograd_engine import Variable, enable_grad

from ..hooks import RemovableHandle, add_hook
from .scalars import read_scheduled, tracing

__all__ = ["Optimizer"]  # (the hooks registered for all optimizers and `required` live here, as in torch)

StepHook = Callable[["Optimizer", tuple[Any, ...], dict[str, Any]], Any]
_global_step_pre_hooks: OrderedDict[int, StepHook] = OrderedDict()
_global_step_post_hooks: OrderedDict[int, StepHook] = OrderedDict()


class _Required:
    """The default of an option that every parameter group must give (torch.optim.optimizer.required)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def register_optimizer_step_pre_hook(hook: StepHook) -> RemovableHandle:
    """Run `hook(optimizer, args, kwargs)` before every optimizer's step (before its own pre-hooks); it may
    return `(new_args, new_kwargs)`, `args` starting with the optimizer, as in torch."""
    return add_hook(_global_step_pre_hooks, hook, prepend=False)


def register_optimizer_step_post_hook(hook: StepHook) -> RemovableHandle:
    """Run `hook(optimizer, args, kwargs)` after every optimizer's step (after its own post-hooks)."""
    return add_hook(_global_step_post_hooks, hook, prepend=False)


class _Stepping(threading.local):
    def __init__(self) -> None:
        self.ids: set[int] = set()


_stepping = _Stepping()


def _with_step_hooks(step: Callable[..., Any]) -> Callable[..., Any]:
    """`step` between the step hooks, as torch's `profile_hook_step`: the global pre-hooks and the
    optimizer's, each of which may return `(args, kwargs)` replacing the call's, then the step, then the
    optimizer's post-hooks and the global ones. A step called from inside another (a subclass's step calling
    `super().step()`) runs the hooks once, with the outer call."""

    @functools.wraps(step)
    def hooked(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        if id(self) in _stepping.ids:
            return step(*args, **kwargs)
        _stepping.ids.add(id(self))
        try:
            for pre_hook in chain(_global_step_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
                result = pre_hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            out = step(*args, **kwargs)
            for post_hook in chain(self._optimizer_step_post_hooks.values(), _global_step_post_hooks.values()):
                post_hook(self, args, kwargs)
            return out
        finally:
            _stepping.ids.discard(id(self))

    hooked._step_hooked = True  # type: ignore[attr-defined]
    return hooked


class Optimizer:
    """Parameter groups (dicts with 'params' and hyperparameters) and per-parameter state, as in torch."""

    defaults: dict[str, Any]
    _scheduled: tuple[str, ...] = ("lr",)
    """The options that schedulers change between steps: `_update` reads them from its `scheduled` argument."""
    _traceable: bool = True
    """Whether `step` may run inside `ag.compile` (False: its update reads tensors into Python as it goes)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_step_hooked", False):
            cls.step = _with_step_hooks(step)  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict[int, StepHook] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, StepHook] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable[[Optimizer], None]] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable[[Optimizer], None]] = OrderedDict()
        if isinstance(params, (Variable, torch.Tensor)):  # one parameter: iterating it would yield its rows
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        self.state: defaultdict[Variable, dict[str, Any]] = defaultdict(dict)
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The parameter groups, torch's attribute. Read inside a traced step by code other than the
        optimizer's own (`opt.param_groups[0]['lr']` in fn), they may hand a scheduled option to Python, so
        those options then stay checked in that trace: a scheduler's change retraces instead of replaying
        a stale value (`ag.compile.exposed`)."""
        if tracing():
            ag.compile.exposed(self)
        return self._groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        self.__dict__["param_groups"] = groups

    @property
    def _groups(self) -> list[dict[str, Any]]:
        """The parameter groups, as the optimizer's own steps read them (not an exposure while traced)."""
        groups: list[dict[str, Any]] = self.__dict__["param_groups"]
        return groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with 'params' and hyperparameters that override the defaults), as torch does:
        the dict itself is kept (missing options filled in), a parameter may appear in one group only and
        must be a leaf; `(name, parameter)` pairs (from `named_parameters()`) also record 'param_names'."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors "
                "in sets will change between runs. Please use a list instead."
            )
        params = [params] if isinstance(params, (Variable, torch.Tensor)) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError("all optimizer params should be with/without names. Some param names are missing")
        if names:
            param_group["param_names"] = names
        for p in params:
            _check_param(p)
        param_group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = {id(p) for p in params}  # (Variables compare elementwise: identity says which are the same)
        if len(ids) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an "
                "error; see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                with_names = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {with_names} to the optimizer"
                )
        if any(id(p) in ids for group in self.param_groups for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget gradients: set them to None (torch's default), or zero them in place (set_to_none=False,
        cut from any graph a create_graph backward gave them)."""
        for group in self._groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.requires_grad:
                        p.grad = p.grad.detach()
                    p.grad.data.zero_()

    def register_step_pre_hook(self, hook: StepHook) -> RemovableHandle:
        """Run `hook(optimizer, args, kwargs)` before each step; it may return `(new_args, new_kwargs)` to
        replace the step's arguments (`args` starts with the optimizer itself, as in torch)."""
        return add_hook(self._optimizer_step_pre_hooks, hook, prepend=False)

    def register_step_post_hook(self, hook: StepHook) -> RemovableHandle:
        """Run `hook(optimizer, args, kwargs)` after each step (its return value is ignored)."""
        return add_hook(self._optimizer_step_post_hooks, hook, prepend=False)

    def register_state_dict_pre_hook(self, hook: Callable[[Optimizer], None], prepend: bool = False) -> RemovableHandle:
        """Run `hook(optimizer)` before `state_dict()` packs the state (first of all with `prepend`)."""
        return add_hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(
        self, hook: Callable[[Optimizer, dict[str, Any]], dict[str, Any] | None], prepend: bool = False
    ) -> RemovableHandle:
        """Run `hook(optimizer, state_dict)` on the packed state dict; a dict it returns replaces it."""
        return add_hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(
        self, hook: Callable[[Optimizer, dict[str, Any]], dict[str, Any] | None], prepend: bool = False
    ) -> RemovableHandle:
        """Run `hook(optimizer, state_dict)` on a shallow copy of what `load_state_dict` was given; a dict it
        returns is loaded instead."""
        return add_hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(
        self, hook: Callable[[Optimizer], None], prepend: bool = False
    ) -> RemovableHandle:
        """Run `hook(optimizer)` after `load_state_dict` has loaded."""
        return add_hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def _refuse_tracing(self) -> None:
        """An optimizer whose update reads tensors into Python cannot be replayed by ag.compile: say so."""
        if not self._traceable and tracing():
            raise NotImplementedError(
                f"{type(self).__name__} cannot step inside ag.compile: its update reads state tensors into Python "
                "(a replay would reuse stale values); step it outside the compiled function"
            )

    @_with_step_hooks
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; `closure` (re-evaluating the model and
        returning the loss) runs first with recording on, and its loss is returned, as in torch."""
        self._refuse_tracing()
        loss = None
        if closure is not None:
            with torch.enable_grad(), enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self._groups:
                values = read_scheduled(group, self._scheduled, owner=self)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state.get(p, {})  # (created only if the update keeps something, as torch)
                    self._update(p.data, p.grad.data, state, group, values)
                    if state:
                        self.state[p] = state
        return loss

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        state: dict[str, Any],
        group: dict[str, Any],
        scheduled: dict[str, Any],
    ) -> None:
        """Update `param` in place from `grad`, reading and writing its `state` (torch's keys), with the
        options of `group`, those in `_scheduled` read from `scheduled`."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters referred to by their index across groups (a duplicate by its
        first), the state by those indices; tensors are shared with the optimizer, as in torch. The state
        dict hooks run before and after."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        index: dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            index.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in index})
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {index[id(p)] if isinstance(p, Variable) else p: s for p, s in self.state.items()}
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            state_dict = _replaced(state_dict, post_hook(self, state_dict))
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this optimizer or of its torch.optim twin: the groups' options replace ours,
        state tensors move to their parameter's device (and floating dtype; `step` stays as saved), and
        options an older state dict lacks get the constructor's defaults. The load hooks run before (on a
        shallow copy) and after."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            state_dict = _replaced(state_dict, pre_hook(self, state_dict))
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(a["params"]) != len(b["params"]) for a, b in zip(saved_groups, self.param_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        for group in saved_groups:
            refuse_unsupported(group)
        params = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in self.param_groups),
            )
        )
        flags = {i: g for g in saved_groups for i in g["params"]}
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for i, s in state_dict["state"].items():
            if i in params:
                state[params[i]] = _cast(params[i], s, steps_on_device=_steps_on_device(flags[i]))
            else:
                state[i] = s
        fill = self._option_defaults()
        for saved, group in zip(saved_groups, self.param_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for key, value in fill.items():
                saved.setdefault(key, value)
        for s in state.values():
            if "step" in s and not isinstance(s["step"], torch.Tensor):  # (an int from an older version)
                s["step"] = torch.tensor(float(s["step"]), dtype=scalar_dtype())
        self.state, self.param_groups = state, saved_groups
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def _option_defaults(self) -> dict[str, Any]:
        """What an option missing from an older state dict means: the constructor's default for it (as
        torch's `__setstate__` fills them), else this optimizer's own value."""
        signature = inspect.signature(type(self).__init__).parameters
        return {
            k: signature[k].default if k in signature and signature[k].default is not inspect.Parameter.empty else v
            for k, v in self.defaults.items()
        }


def _replaced(state_dict: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    """What a state-dict hook leaves: the dict it returned, else the one it was given."""
    return state_dict if result is None else result


def check_options(
    *, foreach: bool | None = None, fused: bool | None = None, differentiable: bool = False, **values: Any
) -> None:
    """torch.optim's constructor checks, in the order given: each hyperparameter >= 0 (ValueError with
    torch's message), a tensor lr of one element, and the flags: differentiable is refused (updates run
    under no_grad); foreach and fused are accepted (the for-loop update always runs; its values are
    torch's for-loop ones), but not together, as in torch."""
    for name, value in values.items():
        if name == "lr" and isinstance(value, torch.Tensor) and value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_PHRASES.get(name, name + ' value')}: {value}")
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    refuse_unsupported({"differentiable": differentiable})


def check_betas(betas: tuple[Any, ...]) -> None:
    """Each beta in [0, 1), with torch's message naming its index."""
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def refuse_unsupported(group: dict[str, Any]) -> None:
    """Refuse what would give the options a meaning other than torch's: differentiable=True."""
    if group.get("differentiable"):
        raise NotImplementedError(
            "differentiable=True is not supported: the optimizers update tensors in place under no_grad "
            "(differentiate through an update by writing it with autograd_engine ops on Variables)"
        )


_PHRASES = {"lr": "learning rate", "eps": "epsilon value"}


def to_scalar(x: Any) -> Any:
    """A hyperparameter given as a one-element tensor, as a 0-d tensor (torch's `_to_scalar`)."""
    return x.squeeze() if isinstance(x, torch.Tensor) and x.dim() != 0 else x


def scalar_dtype(fused: bool | None = None) -> torch.dtype:
    """The dtype of the `step` counter: float32, or float64 when that is torch's default dtype (not fused)."""
    return torch.float64 if not fused and torch.get_default_dtype() == torch.float64 else torch.float32


def new_step(param: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
    """A zero `step` counter where torch keeps it: on the CPU, or beside the parameter when capturable/fused."""
    if _steps_on_device(group):
        return torch.zeros((), dtype=scalar_dtype(group.get("fused")), device=param.device)
    return torch.tensor(0.0, dtype=scalar_dtype())


def _steps_on_device(group: dict[str, Any]) -> bool:
    return bool(group.get("capturable") or group.get("fused"))


def _cast(param: Variable, value: Any, steps_on_device: bool, key: str | None = None) -> Any:
    """A loaded state value for `param`: tensors on its device, floating ones in its dtype, except `step`
    (kept as saved, or float32 on the device when capturable/fused); containers copied, as torch does."""
    if isinstance(value, torch.Tensor):
        if key == "step":
            return value.to(dtype=torch.float32, device=param.device) if steps_on_device else value
        if param.data.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device)
        return value.to(device=param.device)
    if isinstance(value, dict):
        return {k: _cast(param, v, steps_on_device, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v, steps_on_device) for v in value)
    return value


def _check_param(p: Any) -> None:
    if isinstance(p, torch.Tensor):  # (torch would take it; here only Variables get a .grad)
        raise TypeError(
            f"optimizer can only optimize Variables (nn.Parameter), but one of the params is a plain "
            f"{_typename(p)}, which never gets a gradient: wrap it, nn.Parameter(tensor)"
        )
    if not isinstance(p, Variable):
        raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(p)}")
    if not p.is_leaf:
        raise ValueError(
            f"can't optimize a non-leaf Tensor (a Variable computed by {p.op}: an update of it would not "
            "reach the parameters it came from; pass those)"
        )


def _typename(x: Any) -> str:
    """torch's name for what was passed ('torch.FloatTensor' for a float32 Variable, as for its tensor)."""
    return torch.typename(x.data if isinstance(x, Variable) else x)
