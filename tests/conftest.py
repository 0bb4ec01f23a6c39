"""Fixtures shared by the tests."""

from __future__ import annotations

import pytest

from .oracles import DEVICES


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every device torch can use here: CUDA tests run where a GPU exists and are absent elsewhere."""
    return request.param
