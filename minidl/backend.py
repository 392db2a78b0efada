"""Devices: where a tensor's numbers live, and how they move.

A tensor's device is the type of its array, so no extra state rides on every op:

* ``cpu`` — a NumPy ``ndarray``;
* ``cuda`` — a CuPy ``ndarray`` on the GPU. CuPy implements NumPy's array protocols, so
  ``np.exp(x)`` or ``x @ w`` on CuPy arrays run on the GPU (matmul through cuBLAS), and
  every activation runs minidl's own numba.cuda kernels (``minidl/kernels/cuda.py``).

On Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, how CI tests the GPU code without
a GPU) the ``cuda`` arrays are :class:`SimulatedCudaArray`: host memory that behaves like
CuPy where it matters. The activation kernels run on the simulator, and mixing a host
NumPy array into an operation on a ``cuda`` array raises ``TypeError`` as CuPy does, so
CI catches an op that would fail on a GPU.

>>> import minidl
>>> dev = minidl.device("auto")   # CUDA when a GPU and CuPy are there, else the CPU
>>> x = minidl.randn(3, 4).to(dev)
>>> x.device == dev
True
"""

from __future__ import annotations

import sys
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np


class Device:
    """A device: ``Device('cpu')``, ``Device('cuda')`` or ``Device('cuda:1')``.

    Compares equal to another ``Device`` or to its name (``dev == 'cuda'``); ``'cuda'``
    means GPU 0.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device) -> None:
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got "
                            f"{type(spec).__name__}")
        kind, _, index = spec.strip().lower().partition(":")
        if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
            raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {spec!r}")
        self.type = kind
        self.index = int(index) if index else (0 if kind == "cuda" else None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except ValueError:
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type,
                                                                         other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"


CPU = Device("cpu")


class SimulatedCudaArray(np.ndarray):
    """The ``cuda`` array type on Numba's CUDA simulator: a NumPy array that refuses to be
    mixed with host arrays, as CuPy does, and keeps its type through NumPy functions."""

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out", ())
        _refuse_host(ufunc.__name__, (*inputs, *out))
        kwargs["out"] = tuple(_host_view(a) for a in out) if out else None
        if kwargs["out"] is None:
            del kwargs["out"]
        result = getattr(ufunc, method)(*(_host_view(a) for a in inputs), **kwargs)
        return _simulated(result)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        flat = [b for a in (*args, *kwargs.values())
                for b in (a if isinstance(a, (list, tuple)) else (a,))]
        _refuse_host(func.__name__, flat)
        # On host views, so that NumPy's own inner calls do not come back here.
        args = tuple(_host_views(a) for a in args)
        kwargs = {k: _host_views(v) for k, v in kwargs.items()}
        return _simulated(func(*args, **kwargs))

    def get(self) -> np.ndarray:
        """A host copy (CuPy's spelling)."""
        return np.array(self.view(np.ndarray))


def _refuse_host(name: str, arrays: Any) -> None:
    if any(type(a) is np.ndarray and a.ndim for a in arrays):
        raise TypeError(f"{name}: a cuda array cannot be combined with a host NumPy array "
                        "(as in CuPy); move the data with .to(device) first")


def _host_view(a: Any) -> Any:
    return a.view(np.ndarray) if isinstance(a, SimulatedCudaArray) else a


def _host_views(a: Any) -> Any:
    if isinstance(a, (list, tuple)):
        return type(a)(_host_view(b) for b in a)
    return _host_view(a)


def _simulated(result: Any) -> Any:
    if type(result) is np.ndarray or isinstance(result, np.generic):
        # CuPy gives 0-d device arrays where NumPy gives scalars.
        return np.asarray(result).view(SimulatedCudaArray)
    if isinstance(result, (tuple, list)):
        return type(result)(_simulated(r) for r in result)
    return result


@lru_cache(maxsize=1)
def _cuda_status() -> tuple[ModuleType | None, str | None]:
    """``(array module, None)`` when CUDA can be used, else ``(None, why not)``."""
    try:
        from numba import config, cuda
    except ImportError:  # pragma: no cover - numba always ships numba.cuda or numba-cuda
        return None, "numba.cuda is missing; pip install 'minidl[cuda]'"
    if config.ENABLE_CUDASIM:
        return _SimulatedCupy, None
    try:
        import cupy
    except ImportError:
        return None, ("CuPy is not installed; on a machine with an NVIDIA GPU run "
                      "pip install 'minidl[cuda]'")
    if not cuda.is_available():
        return None, ("numba.cuda.is_available() is False: no NVIDIA GPU or driver was found "
                      "(run nvidia-smi to check)")
    return cupy, None


class _SimulatedCupy:
    """The few CuPy functions minidl calls, for :class:`SimulatedCudaArray`."""

    ndarray = SimulatedCudaArray

    @staticmethod
    def asarray(a: Any, dtype: Any = None) -> SimulatedCudaArray:
        return np.asarray(_host_view(a), dtype=dtype).view(SimulatedCudaArray)

    @staticmethod
    def asnumpy(a: Any) -> np.ndarray:
        return np.array(_host_view(a))


def is_available() -> bool:
    """Whether ``'cuda'`` can be used: numba.cuda sees a GPU and CuPy is installed (or
    Numba's CUDA simulator is on)."""
    return _cuda_status()[0] is not None


def device(spec: str | Device = "auto") -> Device:
    """The device ``spec`` names, checked: ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'auto'``.

    ``'auto'`` picks CUDA when it is available and otherwise the CPU, saying why in one
    line on stderr. Asking for ``'cuda'`` without it raises ``RuntimeError`` naming what to
    install or what is missing.
    """
    if isinstance(spec, str) and spec.strip().lower() == "auto":
        module, reason = _cuda_status()
        if module is None:
            print(f"minidl: using the CPU ({reason})", file=sys.stderr)
            return CPU
        return Device("cuda")
    dev = Device(spec)
    if dev.type == "cuda":
        module, reason = _cuda_status()
        if module is None:
            raise RuntimeError(f"device {str(dev)!r} is not available: {reason}")
        count = _device_count()
        if dev.index >= count:
            raise RuntimeError(f"device {str(dev)!r} is not available: there are {count} "
                               f"CUDA device(s), cuda:0 to cuda:{count - 1}")
    return dev


@lru_cache(maxsize=1)  # asked on every .to('cuda'), e.g. for each batch in fit
def _device_count() -> int:
    from numba import cuda

    return len(cuda.gpus)


def _is_device(value: Any) -> bool:
    if isinstance(value, Device):
        return True
    try:
        return isinstance(value, str) and Device(value) is not None
    except ValueError:
        return False


def to_arguments(who: str, args: tuple, dtype: Any, device: Any) -> tuple[Any, Any]:
    """``(device, dtype)`` from the arguments of ``Tensor.to`` and ``Module.to``: a device
    (``'cuda'``, a :class:`Device`) and/or a dtype, positionally or by keyword."""
    for a in args:
        if _is_device(a) and device is None:
            device = a
        elif dtype is None and not _is_device(a):
            dtype = a
        else:
            raise TypeError(f"{who}: expected a device and/or a dtype, got {args!r}")
    return device, dtype


def device_of(array: Any) -> Device:
    """The device an array lives on."""
    if type(array) is np.ndarray or isinstance(array, np.generic):
        return CPU
    if isinstance(array, SimulatedCudaArray):
        return Device("cuda")
    if type(array).__module__.startswith("cupy"):
        return Device(f"cuda:{array.device.id}")
    return CPU


def array_module(array: Any) -> Any:
    """NumPy for host arrays, CuPy (or its simulated stand-in) for ``cuda`` ones: create
    new arrays with ``array_module(x).zeros(...)`` so they land on ``x``'s device."""
    if type(array) is np.ndarray:
        return np
    return _cuda_status()[0] if device_of(array).type == "cuda" else np


def asarray(a: Any, dtype: Any = None) -> Any:
    """``np.asarray`` that leaves a ``cuda`` array on its device (CuPy refuses the implicit
    copy to the host that ``np.asarray`` would make)."""
    if type(a) is not np.ndarray and device_of(a).type == "cuda":
        return array_module(a).asarray(a, dtype=dtype)
    return np.asarray(a, dtype=dtype)


def host(a: Any) -> np.ndarray:
    """``a`` as a NumPy array in host memory (copied from the GPU if it is there)."""
    return np.asarray(to_device(a, CPU))


def to_device(array: Any, dev: Device) -> Any:
    """``array`` on ``dev`` (itself when it is there already)."""
    here = device_of(array)
    if here == dev:
        return array
    if dev.type == "cpu":
        return _cuda_status()[0].asnumpy(array)
    module = _cuda_status()[0]
    if module is _SimulatedCupy:
        return np.array(array).view(SimulatedCudaArray)
    with module.cuda.Device(dev.index):
        return module.asarray(array)
