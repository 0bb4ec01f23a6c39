"""Recurrent layers, as torch.nn's: the cells RNNCell, LSTMCell and GRUCell (one time step) and the
multi-layer, optionally bidirectional RNN, LSTM and GRU over a whole sequence, padded or packed.

Constructor arguments, parameter names and shapes (gates stacked in torch's order: LSTM i, f, g, o; GRU
r, z, n), initialisation (every parameter uniform in +-1/sqrt(hidden_size), in registration order: the
same draws as torch.nn after the same seed), state-dict keys, reprs, shapes of outputs and states and
validation errors are torch's. The forward is written in engine ops (F.linear, sigmoid, tanh, chunk, cat,
stack): each layer projects the whole input sequence with W_ih at once, then steps through time with
W_hh, as torch's CPU kernels do; values match torch to rounding, not to the bit. Dropout between layers
draws from torch's generator as torch does on the CPU (one mask of the layer output's shape), so after
the same seed the masks are torch's.

A packed input (nn.utils.rnn.PackedSequence) runs each direction over the shrinking batch of the
sequences still running at each step: the forward direction sets the state of a finished sequence
aside, the reverse direction starts each sequence from its initial state at its last step.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.utils.rnn as torch_rnn

from .. import functional as F
from ..module import Module, Parameter
from ..utils.rnn import PackedSequence

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

State = tuple[Any, ...]  # (h,) for RNN and GRU, (h, c) for LSTM
Step = Callable[[Any, State, Any, Any, Any], State]


# --- one time step: gi is the input's projection x W_ih^T + b_ih, already computed -----------------------


def _rnn_step(activation: Callable[[Any], Any]) -> Step:
    def step(gi: Any, state: State, w_hh: Any, b_hh: Any, w_hr: Any) -> State:
        return (activation(gi + F.linear(state[0], w_hh, b_hh)),)

    return step


def _lstm_step(gi: Any, state: State, w_hh: Any, b_hh: Any, w_hr: Any) -> State:
    """c' = f c + i g, h' = o tanh(c'), projected by W_hr when the LSTM has proj_size."""
    h, c = state
    gates: Any = gi + F.linear(h, w_hh, b_hh)  # (Any: Variable's tensor methods are added at import)
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return (h if w_hr is None else F.linear(h, w_hr)), c


def _gru_step(gi: Any, state: State, w_hh: Any, b_hh: Any, w_hr: Any) -> State:
    """n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h (written as torch computes it)."""
    (h,) = state
    hidden: Any = F.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = hidden.chunk(3, -1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return ((h - n) * z + n,)


_STEPS: dict[str, Step] = {
    "RNN_TANH": _rnn_step(torch.tanh),
    "RNN_RELU": _rnn_step(torch.relu),
    "LSTM": _lstm_step,
    "GRU": _gru_step,
}
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rows(state: State, start: int, stop: int | None = None) -> State:
    return tuple(s[start:stop] for s in state)


# --- one direction of one layer over time ------------------------------------------------------------------


def _run_forward(step: Step, gates: list[Any], state: State, weights: tuple[Any, ...]) -> tuple[list[Any], State]:
    """Step through time; where the batch shrinks (packed input) the finished sequences' states are set
    aside, to be the final state of those rows."""
    outputs, finished = [], []
    for gi in gates:
        batch = gi.shape[0]
        if batch < state[0].shape[0]:
            finished.append(_rows(state, batch))
            state = _rows(state, 0, batch)
        state = step(gi, state, *weights)
        outputs.append(state[0])
    if finished:
        parts = [state, *reversed(finished)]
        state = tuple(torch.cat(rows) for rows in zip(*parts))
    return outputs, state


def _run_reverse(step: Step, gates: list[Any], initial: State, weights: tuple[Any, ...]) -> tuple[list[Any], State]:
    """Step backwards through time; where the batch grows (packed input) the sequences that end there
    join, starting from their initial state."""
    outputs = []
    state = initial if gates[-1].shape[0] == initial[0].shape[0] else _rows(initial, 0, gates[-1].shape[0])
    for gi in reversed(gates):
        batch, running = gi.shape[0], state[0].shape[0]
        if batch > running:
            state = tuple(torch.cat([s, s0[running:batch]]) for s, s0 in zip(state, initial))
        state = step(gi, state, *weights)
        outputs.append(state[0])
    return outputs[::-1], state


# --- the cells ---------------------------------------------------------------------------------------------


def _reset_uniform(module: Module, hidden_size: int) -> None:
    """torch's reset_parameters of the recurrent layers: every parameter uniform in +-1/sqrt(hidden_size),
    in registration order."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    for p in module.parameters():
        p.data.uniform_(-bound, bound)


def _empty(shape: tuple[int, ...], device: Any, dtype: Any) -> Parameter:
    return Parameter(torch.empty(shape, device=device, dtype=dtype))


class RNNCellBase(Module):
    """What the cells share: weight_ih (gates * hidden, input), weight_hh (gates * hidden, hidden), the
    biases bias_ih and bias_hh (gates * hidden) or None, and their forward's checks."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = num_chunks * hidden_size
        self.weight_ih = _empty((gates, input_size), device, dtype)
        self.weight_hh = _empty((gates, hidden_size), device, dtype)
        for name in ("bias_ih", "bias_hh"):
            self.register_parameter(name, _empty((gates,), device, dtype) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, input_: Any, hx: State | None, labels: tuple[str, ...], step: Step) -> State:
        """One step on a (batch, input_size) or (input_size,) input from the states `hx` (zeros when
        None), with torch's checks; `labels` names the states in the dims error ('hidden' or 'hx[0]', ...)."""
        name = type(self).__name__
        if input_.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input_.ndim}D instead")
        for label, value in zip(labels, hx or ()):
            if value.ndim not in (1, 2):
                raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {value.ndim}D instead")
        batched = input_.ndim == 2
        x = input_ if batched else input_.unsqueeze(0)
        if hx is None:
            zeros = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            hx = (zeros,) * len(labels)
        elif not batched:
            hx = tuple(h.unsqueeze(0) for h in hx)
        if x.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}")
        for i, h in enumerate(hx):
            if h.ndim < 2 or h.shape[0] != x.shape[0]:
                raise RuntimeError(f"Input batch size {x.shape[0]} doesn't match hidden{i} batch size {h.shape[0]}")
            if h.shape[1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.shape[1]}, expected {self.hidden_size}"
                )
        out = step(F.linear(x, self.weight_ih, self.bias_ih), hx, self.weight_hh, self.bias_hh, None)
        return out if batched else tuple(s.squeeze(0) for s in out)


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (relu with nonlinearity='relu')."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Any:  # noqa: A002 (torch's names)
        mode = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(self.nonlinearity)
        if mode is None:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step(input, None if hx is None else (hx,), ("hidden",), _STEPS[mode])[0]


class LSTMCell(RNNCellBase):
    """(h', c') from (h, c): gates i, f, g, o stacked in that order in weight_ih and weight_hh."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Any, hx: tuple[Any, Any] | None = None) -> tuple[Any, Any]:  # noqa: A002
        h, c = self._step(input, None if hx is None else tuple(hx), ("hx[0]", "hx[1]"), _lstm_step)
        return h, c


class GRUCell(RNNCellBase):
    """h' from h: gates r, z, n stacked in that order, n = tanh(W_in x + b_in + r (W_hn h + b_hn))."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> Any:  # noqa: A002 (torch's names)
        return self._step(input, None if hx is None else (hx,), ("hidden",), _gru_step)[0]


# --- the multi-layer modules -------------------------------------------------------------------------------


def _check_arguments(
    input_size: Any, hidden_size: Any, num_layers: int, bias: Any, batch_first: Any, dropout: Any, proj_size: int
) -> None:
    """torch's checks of RNNBase's constructor arguments, in its order, with its messages and types."""
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:  # type: ignore[operator]
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
        )
    if dropout > 0 and num_layers == 1:  # type: ignore[operator]
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
            f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
            stacklevel=4,
        )
    typed = (("bias", bias, bool), ("batch_first", batch_first, bool), ("input_size", input_size, int))
    for name, value, kind in typed:
        if not isinstance(value, kind):
            raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
    if input_size <= 0:
        raise ValueError("input_size must be greater than zero")
    if not isinstance(hidden_size, int):
        raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNNBase(Module):
    """What RNN, LSTM and GRU share: torch's constructor (mode 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'),
    parameters weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k} (LSTM with
    proj_size), each with a '_reverse' twin when bidirectional, and the forward over layers, directions
    and time."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        directions = 2 if bidirectional else 1
        out_size = proj_size or hidden_size
        gates = _GATES[mode] * hidden_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(directions):
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (gates, input_size if layer == 0 else out_size * directions),
                    "weight_hh": (gates, out_size),
                }
                if bias:
                    shapes |= {"bias_ih": (gates,), "bias_hh": (gates,)}
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = []
                for kind, shape in shapes.items():
                    names.append(f"{kind}_l{layer}{'_reverse' if direction else ''}")
                    setattr(self, names[-1], _empty(shape, device, dtype))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, as torch's all_weights."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op, as torch's is off cuDNN (there is no fused weight buffer here)."""

    def reset_parameters(self) -> None:
        _reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _state_sizes(self) -> tuple[int, ...]:
        """The feature size of each state: (h,) or, for LSTM, (h, c) (h is proj_size wide with projections)."""
        h = self.proj_size or self.hidden_size
        return (h, self.hidden_size) if self.mode == "LSTM" else (h,)

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:  # noqa: A002 (torch's names)
        """(output, h_n), or for LSTM (output, (h_n, c_n)); a PackedSequence input gives a packed output."""
        lstm = self.mode == "LSTM"
        states = None if hx is None else (tuple(hx) if lstm else (hx,))
        packed = isinstance(input, torch_rnn.PackedSequence)
        batched = True
        if packed:
            x, batch_sizes, sorted_indices, unsorted_indices = input
            sizes = batch_sizes.tolist()
            batch = sizes[0]
            if states is not None and sorted_indices is not None:
                states = tuple(s.index_select(1, sorted_indices) for s in states)
        else:
            x, sizes = input, None
            self._check_dims(x, states)
            batched = x.ndim == 3
            if not batched:
                x = x.unsqueeze(0 if self.batch_first else 1)
                states = None if states is None else tuple(s.unsqueeze(1) for s in states)
            if self.batch_first:
                x = x.transpose(0, 1)
            batch = x.shape[1]
        directions = 2 if self.bidirectional else 1
        if states is None:
            states = tuple(
                torch.zeros(self.num_layers * directions, batch, n, dtype=x.dtype, device=x.device)
                for n in self._state_sizes()
            )
        self._check_forward_args(x, states, batch, packed)
        output, final = self._layers(x, sizes, states)
        if packed:
            if unsorted_indices is not None:
                final = tuple(s.index_select(1, unsorted_indices) for s in final)
            return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), final if lstm else final[0]
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            final = tuple(s.squeeze(1) for s in final)
        return output, final if lstm else final[0]

    def _check_dims(self, x: Any, states: State | None) -> None:
        """torch's checks of the dims of a padded input and of the given states."""
        name = "RNN" if self.mode.startswith("RNN") else self.mode
        if x.ndim not in (2, 3):
            kind = " tensor" if name == "RNN" else ""
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.ndim}D{kind} instead")
        if states is None:
            return
        want, kind = (3, "batched 3-D") if x.ndim == 3 else (2, "unbatched 2-D")
        if any(s.ndim != want for s in states):
            if len(states) == 1:
                got = f"{states[0].ndim}-D tensor"
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {got}")
            got = f"({states[0].ndim}-D, {states[1].ndim}-D) tensors"
            raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got {got}")

    def _check_forward_args(self, x: Any, states: State, batch: int, packed: bool) -> None:
        """torch's check_forward_args: dtype, dims and size of the (time-major or packed) input, shapes of
        the states."""
        weight = self._flat_weights[0]
        if x.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). Convert input: "
                f"input.to({weight.dtype}), or convert model: model.to({x.dtype})"
            )
        dims = 2 if packed else 3
        if x.ndim != dims:
            raise RuntimeError(f"input must have {dims} dimensions, got {x.ndim}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[-1]}"
            )
        directions = 2 if self.bidirectional else 1
        for i, (s, size) in enumerate(zip(states, self._state_sizes())):
            expected = (self.num_layers * directions, batch, size)
            if tuple(s.shape) != expected:
                label = "hidden" if len(states) == 1 else f"hidden[{i}]"
                raise RuntimeError(f"Expected {label} size {expected}, got {list(s.shape)}")
        if not packed and x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")

    def _layers(self, x: Any, sizes: list[int] | None, states: State) -> tuple[Any, State]:
        """Every layer and direction over the time-major input (T, B, I) or the packed data (N, I) whose
        steps have batch `sizes`: the last layer's output and the final states (layers * directions, B, H)."""
        step = _STEPS[self.mode]
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                suffix = f"_l{layer}{'_reverse' if direction else ''}"
                w_ih, w_hh, b_ih, b_hh, w_hr = (
                    getattr(self, kind + suffix, None)
                    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
                )
                projected: Any = F.linear(x, w_ih, b_ih)
                gates = list(projected.unbind(0) if sizes is None else projected.split(sizes))
                run = _run_reverse if direction else _run_forward
                initial = tuple(s[layer * directions + direction] for s in states)
                steps, final = run(step, gates, initial, (w_hh, b_hh, w_hr))
                outputs.append(torch.stack(steps) if sizes is None else torch.cat(steps))
                finals.append(final)
            x = outputs[0] if directions == 1 else torch.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, tuple(torch.stack(parts) for parts in zip(*finals))


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (relu with nonlinearity='relu')
    per layer; forward(input, h_0=None) -> (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        _reject_projections(kwargs)
        self.nonlinearity = nonlinearity
        mode = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(nonlinearity)
        if mode is None:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )


def _reject_projections(kwargs: dict[str, Any]) -> None:
    """torch's RNN and GRU take no proj_size (ValueError) and no other extra keyword (TypeError)."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"unexpected keyword argument {next(iter(kwargs))!r}")


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; c_t = f c_{t-1} + i g, h_t = o tanh(c_t) (projected to
    proj_size by weight_hr when proj_size > 0); forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
    h_t = (1 - z) n + z h_{t-1}; forward(input, h_0=None) -> (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        _reject_projections(kwargs)
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )
