"""Anomaly mode: NaN and infinity named with the op, its shapes and the user's line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import autograd_engine as ag

ROOT = Path(__file__).resolve().parents[1]


def test_anomaly_in_forward_names_op_shapes_and_line():
    x = ag.Variable(torch.tensor([1.0, -1.0]), requires_grad=True)
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError) as info:
        ag.log(x)  # log(-1) = nan
    message = str(info.value)
    assert "log produced nan in the forward pass" in message and "(2,) float32" in message
    assert f"{__file__}:" in message and "test_anomaly_in_forward_names_op_shapes_and_line" in message
    ag.log(x)  # outside anomaly mode nothing is checked


def test_anomaly_in_backward_names_the_op_that_recorded_it():
    x = ag.Variable(torch.tensor([0.0, 1.0]), requires_grad=True)

    @ag.detect_anomaly()
    def run():
        y = ag.sqrt(x)  # finite forward, infinite derivative at 0
        y.sum().backward()

    with pytest.raises(ag.AnomalyError, match=r"gradient of pow for its input 0 is inf .* recorded at .*test_anomaly"):
        run()
    assert not ag.is_anomaly_enabled()


def test_anomaly_mode_records_nothing_when_off():
    x = ag.Variable(torch.ones(2), requires_grad=True)
    assert (x * 2).node.trace is None
    with ag.detect_anomaly():
        assert "test_anomaly.py" in (x * 2).node.trace


# --- hooks ----------------------------------------------------------------------------------------
