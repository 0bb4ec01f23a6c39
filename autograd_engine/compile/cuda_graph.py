"""Replaying a program as one `torch.cuda.CUDAGraph`: the launches of a whole step in one call.

As torch documents for whole-network capture: the graph reads its inputs from static buffers (each call
copies the new arguments in), it is captured after a warm-up run on a side stream (here the first
replay, which is the real step of that call), and random kernels draw fresh numbers on every replay (the
default CUDA generator is registered with the graph by torch). The tensors a replay returns are copied
out of the graph's memory; the `.grad` tensors it binds are the graph's own, overwritten in place by the
next replay, as in torch's recipe (clone a gradient to keep it). Where capture is impossible the program
replays kernel by kernel, and `reason` says why.
"""

from __future__ import annotations

from typing import Any

import torch

from .program import Program


def why_not(program: Program) -> str | None:
    """Why `program` cannot be captured, or None."""
    cuda = {d for d in program.trace.devices if d.type == "cuda"}
    if not cuda:
        return "the step runs no CUDA kernels (a CUDA graph captures only those)"
    if len(cuda) > 1:
        return f"the step uses more than one CUDA device ({', '.join(map(str, sorted(cuda, key=str)))})"
    if program.host_kernels:
        kernels = ", ".join(program.host_kernels[:3])
        return f"the step runs kernels on the CPU ({kernels}), which a CUDA graph cannot replay"
    if program.guards:
        return (
            f"the step reads tensor values into Python ({program.guards[0].where}), and a graph cannot stop to "
            "check them"
        )
    return None


class GraphRunner:
    """Runs `program` as a CUDA graph from its second replay on; kernel by kernel if capture fails."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.graph: torch.cuda.CUDAGraph | None = None
        self.reason: str | None = None
        self.static: list[torch.Tensor] = []
        self.static_results: tuple[Any, ...] = ()

    def __call__(self, leaves: list[Any]) -> Any:
        program = self.program
        if self.reason is not None:
            return program.run(leaves)
        inputs = program.enter(leaves)
        if self.graph is None:
            return self._warm_up_and_capture(leaves, inputs)
        for buffer, x in zip(self.static, inputs):
            if buffer is not x:
                buffer.copy_(x, non_blocking=True)
        self.graph.replay()
        return program.finish(leaves, self._results(inputs, self.static_results, copy=True))

    def _results(self, inputs: tuple[Any, ...], results: tuple[Any, ...], copy: bool) -> tuple[Any, ...]:
        """The results as the caller gets them: inputs written in place updated, inputs as they were
        passed, outputs copied out of the graph's memory."""
        program = self.program
        for i in program.written_inputs:
            inputs[i].copy_(self.static[i])
        out = list(results)
        for j in program.result_outputs:
            out[j] = out[j].clone() if copy else out[j]
        for j, i in program.result_inputs.items():
            out[j] = inputs[i]
        return tuple(out)

    def _warm_up_and_capture(self, leaves: list[Any], inputs: tuple[Any, ...]) -> Any:
        program = self.program
        self.static = [x.clone() for x in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch._C._AutoDispatchBelowAutograd():
            results = program.body(*self.static)  # the warm-up is this call's step
        torch.cuda.current_stream().wait_stream(side)
        value = program.finish(leaves, self._results(inputs, results, copy=False))
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph), torch._C._AutoDispatchBelowAutograd():
                self.static_results = program.body(*self.static)
        except Exception as e:  # noqa: BLE001 (any failure to capture: replay kernel by kernel instead)
            self.reason = f"capture failed: {type(e).__name__}: {e}"
            self.static = []
        else:
            self.graph = graph
        return value
