"""How Numba's OpenMP threads wait between parallel kernels; imported before anything else.

By default GNU OpenMP threads busy-wait for a while after each parallel region. A training
step alternates Numba ``prange`` kernels (activations, pooling) with BLAS calls (linear and
convolution GEMMs), so the spinning OpenMP threads take the cores from OpenBLAS's threads
and the other way round. Passive waiting made the MNIST CNN's training step 1.6x faster on
a 2-core machine (``benchmarks/README.md``). A value already in the environment is kept,
and the variable must be set before Numba starts its thread pool, which it does on the
first parallel kernel.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
