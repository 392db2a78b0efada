"""Kernels: the numeric work under minidl's ops, in one readable and one fast form.

``activations`` holds each activation as scalar math; ``reference`` the plain NumPy
versions; ``cpu`` the Numba kernels generated from the scalar math; ``cuda`` the
numba.cuda kernels generated from the same source.

``set_kernel_backend('numpy')`` runs every activation through the NumPy references instead
of the generated kernels (the environment variable ``MINIDL_KERNEL_BACKEND`` sets the
starting value), so a notebook can show both and time them side by side.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import backend as _backend
from minidl.kernels import fastmath, reference
from minidl.kernels.activations import REGISTRY, Activation

BACKENDS = ("numba", "numpy")


def _initial_backend() -> str:
    name = os.environ.get("MINIDL_KERNEL_BACKEND", "numba")
    if name not in BACKENDS:
        raise ValueError(f"MINIDL_KERNEL_BACKEND must be one of {', '.join(BACKENDS)}, "
                         f"got {name!r}")
    return name


_state = {"backend": _initial_backend()}


def set_kernel_backend(name: str) -> None:
    """Run activations through ``'numba'`` (generated kernels, the default) or ``'numpy'``
    (the NumPy references)."""
    if name not in BACKENDS:
        raise ValueError(f"set_kernel_backend: backend must be one of {', '.join(BACKENDS)}, "
                         f"got {name!r}")
    _state["backend"] = name


def get_kernel_backend() -> str:
    """The backend activations run on: ``'numba'`` or ``'numpy'``."""
    return _state["backend"]


def _reference(act: Activation, dtype: np.dtype, suffix: str = "") -> Any:
    """The NumPy reference ``reference.<name><suffix>``, or, for a user-registered
    activation that brings none, its scalar function vectorised with ``np.vectorize``
    (with ``fm`` bound to fastmath for float32 and to ``math`` otherwise, as in the
    kernels)."""
    fn = getattr(reference, act.name + suffix, None)
    if fn is not None and _BUILTIN.get(act.name) is act:
        return fn
    from minidl.kernels import cpu
    scalar = {"": act.f, "_grad": act.df}.get(suffix)
    if scalar is None:
        scalar = act.dparams[suffix.removeprefix("_grad_")]
    fm = fastmath if dtype == np.float32 else math
    return np.vectorize(cpu._retarget(scalar, fm, {}, compile=False), otypes=[dtype])


def forward(act: Activation, x: np.ndarray, params: Sequence[Any],
            out: np.ndarray | None = None, backend: str | None = None) -> np.ndarray:
    """``f(x, *params)`` elementwise, keeping ``x``'s dtype; by ``backend`` (default: the
    current one). The numba backend runs arrays on a GPU through the numba.cuda kernels."""
    if (backend or _state["backend"]) == "numba" and _on_gpu(x):
        y = _gpu_forward(act, x, params)
        if out is None:
            return y
        out[...] = y
        return out
    if (backend or _state["backend"]) == "numba":
        from minidl.kernels import cpu
        return cpu.forward(act, x, params, out)
    y = np.asarray(_reference(act, x.dtype)(x, *params), dtype=x.dtype)
    if out is None:
        return y
    out[...] = y
    return out


def backward(act: Activation, x: np.ndarray | None, y: np.ndarray | None, grad: np.ndarray,
             params: Sequence[Any], backend: str | None = None,
             ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``grad · f'(x)`` and the learnable parameters' gradients, summed to their shapes.

    The numba backend reads only what the derivative uses (``act.uses``), so ``x`` or ``y``
    may be None there; the numpy backend needs both.
    """
    from minidl.kernels import cpu
    if (backend or _state["backend"]) == "numba" and _on_gpu(grad):
        return _gpu_backward(act, x, y, grad, params)
    if (backend or _state["backend"]) == "numba":
        return cpu.backward(act, x, y, grad, params)
    gx = grad * np.asarray(_reference(act, grad.dtype, "_grad")(x, y, *params), dtype=grad.dtype)
    learnable = [k for k, name in enumerate(act.params) if name in act.dparams]
    gps = [grad * np.asarray(_reference(act, grad.dtype, "_grad_" + name)(x, y, *params),
                             dtype=grad.dtype) for name in act.dparams]
    layouts = [cpu.layout_of(grad, params[k]) for k in learnable]
    return gx, cpu.reduce_param_grads(gps, layouts, [params[k] for k in learnable], grad.shape)


def _on_gpu(a: Any) -> bool:
    return type(a) is not np.ndarray and _backend.device_of(a).type == "cuda"


def _unwrap(a: Any) -> Any:
    """The simulator's kernels take numba device arrays, not SimulatedCudaArray."""
    if isinstance(a, _backend.SimulatedCudaArray):
        from numba import cuda
        return cuda.to_device(np.ascontiguousarray(a.view(np.ndarray)))
    return a


def _rewrap(a: Any, like: Any) -> Any:
    if isinstance(like, _backend.SimulatedCudaArray):
        return a.copy_to_host().view(_backend.SimulatedCudaArray)
    return a


def _gpu_forward(act: Activation, x: Any, params: Sequence[Any]) -> Any:
    from minidl.kernels import cuda
    return _rewrap(cuda.forward(act, _unwrap(x), [_unwrap(p) for p in params]), x)


def _gpu_backward(act: Activation, x: Any, y: Any, grad: Any,
                  params: Sequence[Any]) -> tuple[Any, list[Any]]:
    from minidl.kernels import cuda
    gx, param_grads = cuda.backward(act, _unwrap(x), _unwrap(y), _unwrap(grad),
                                    [_unwrap(p) for p in params])
    device = _backend.device_of(grad)
    return _rewrap(gx, grad), [_backend.to_device(g, device) for g in param_grads]


_BUILTIN = dict(REGISTRY)  # user activations, even ones reusing a name, have no reference
