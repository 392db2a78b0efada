"""Shared test configuration.

Hypothesis profiles: ``minidl`` (the default) keeps the number of examples small so the
whole suite stays fast on a laptop; ``thorough`` runs many more. Pick one with
``HYPOTHESIS_PROFILE=thorough pytest``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads it: the suite's matrices are small, and two BLAS
# threads competing with other processes for two cores made experiment tests 10-20x slower.
# (The notebooks' kernels inherit it.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import minidl  # noqa: E402
from minidl import autograd  # noqa: E402

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
