"""The base of the optimizers: parameter groups, per-parameter state and torch.optim's state-dict layout."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch

from autograd_engine import Variable


class Optimizer:
    """Parameter groups (dicts with 'params' and hyperparameters) and per-parameter state, as in torch."""

    defaults: dict[str, Any]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, (Variable, torch.Tensor)):  # one parameter: iterating it would yield its rows
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        self.state: dict[Variable, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with 'params' and hyperparameters that override the defaults), as torch does:
        a parameter may appear in one group only, and must be a leaf."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors "
                "in sets will change between runs. Please use a list instead."
            )
        params = [params] if isinstance(params, (Variable, torch.Tensor)) else list(params)
        for p in params:
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
        ids = {id(p) for p in params}  # (Variables compare elementwise: identity says which are the same)
        if len(ids) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an "
                "error; see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        if any(id(p) in ids for group in self.param_groups for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append({**self.defaults, **param_group, "params": params})

    def zero_grad(self) -> None:
        """Forget gradients (set to None, torch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.data, p.grad.data, self.state.setdefault(p, {}), group)

    def _update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters referred to by their index across groups."""
        index = {p: i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        groups = [
            {**{k: v for k, v in g.items() if k != "params"}, "params": [index[p] for p in g["params"]]}
            for g in self.param_groups
        ]
        return {"state": {index[p]: dict(s) for p, s in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)
        ):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved parameter groups do not match this optimizer's"
            )
        params = [p for g in self.param_groups for p in g["params"]]
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {
            params[int(i)]: {k: v.to(params[int(i)].device) if isinstance(v, torch.Tensor) else v for k, v in s.items()}
            for i, s in state_dict["state"].items()
        }


__all__ = ["Optimizer"]


def _typename(x: Any) -> str:
    """torch's name for what was passed ('torch.FloatTensor' for a float32 Variable, as for its tensor)."""
    return torch.typename(x.data if isinstance(x, Variable) else x)
