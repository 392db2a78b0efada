"""minidl: a small deep-learning library for learning how neural networks train.

>>> import minidl
>>> x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
array([2., 4., 6.], dtype=float32)
"""

from minidl import (
    _openmp,  # noqa: F401  (first of all: the OpenMP wait policy, before Numba's threads)
    activations,
    autograd,  # before tensor.py and functional.py, which build on it
    backend,
    data,
    diagnostics,
    experiments,
    functional,
    homework,
    models,
    nn,
    optim,
    plot,
    train,
)
from minidl.autograd import (
    Function,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from minidl.backend import Device, device
from minidl.creation import (
    arange,
    eye,
    full,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from minidl.functional import cat, stack, where
from minidl.gradcheck import GradcheckError, gradcheck
from minidl.kernels import get_kernel_backend, set_kernel_backend
from minidl.random import get_rng_state, initial_seed, manual_seed, set_rng_state
from minidl.tensor import (
    Tensor,
    bool_,
    float32,
    float64,
    get_default_dtype,
    int64,
    set_default_dtype,
)

__version__ = "0.1.0"

__all__ = [
    "activations", "arange", "autograd", "backend", "bool_", "cat", "data", "detect_anomaly",
    "Device", "device", "diagnostics", "experiments", "homework",
    "enable_grad", "eye", "float32", "float64", "full", "Function", "functional",
    "get_default_dtype",
    "get_kernel_backend", "get_rng_state", "gradcheck", "GradcheckError", "initial_seed", "int64",
    "is_grad_enabled", "linspace", "manual_seed", "models", "nn", "no_grad", "ones", "ones_like",
    "optim", "plot", "rand", "randint", "randn", "randperm", "set_default_dtype",
    "set_grad_enabled", "set_kernel_backend", "set_rng_state", "stack", "Tensor", "tensor",
    "train", "where", "zeros", "zeros_like",
]
