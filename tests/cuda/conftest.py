"""The GPU kernel tests run on a real GPU, or on Numba's CUDA simulator in a process of
their own (the simulator must be chosen before numba is imported):

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

Without either, they are skipped.
"""

import pytest
from numba import cuda


def pytest_collection_modifyitems(config, items):
    if cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no GPU: run with NUMBA_ENABLE_CUDASIM=1 in its own process")
    for item in items:
        if "tests/cuda" in str(item.fspath):
            item.add_marker(skip)
