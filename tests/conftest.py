"""Shared test configuration.

Hypothesis profiles: ``minidl`` (the default) keeps the number of examples small so the
whole suite stays fast on a laptop; ``thorough`` runs many more. Pick one with
``HYPOTHESIS_PROFILE=thorough pytest``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minidl
from minidl import autograd

settings.register_profile(
    "minidl", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "minidl"))


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Undo changes a failing test may leave behind: default dtype, grad and anomaly mode."""
    dtype = minidl.get_default_dtype()
    grad_mode = autograd._GradMode.enabled
    anomaly = autograd._Anomaly.enabled
    yield
    minidl.set_default_dtype(dtype)
    autograd._GradMode.enabled = grad_mode
    autograd._Anomaly.enabled = anomaly


@pytest.fixture
def rng() -> np.random.Generator:
    """A NumPy generator with a fixed seed, for test data."""
    return np.random.default_rng(1234)
