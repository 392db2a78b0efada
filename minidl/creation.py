"""Functions that make new tensors: from data, constants, ranges and random draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor, get_default_dtype


def _shape(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _float_dtype(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become the default dtype (float32), Python ints int64; NumPy arrays
    keep their dtype unless ``dtype`` is given.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of shape ``size``."""
    return Tensor(np.zeros(_shape(size), _float_dtype(dtype)), requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of shape ``size``."""
    return Tensor(np.ones(_shape(size), _float_dtype(dtype)), requires_grad=requires_grad)


def full(size: Sequence[int], fill_value: float, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``."""
    return Tensor(np.full(tuple(size), fill_value, _float_dtype(dtype)),
                  requires_grad=requires_grad)


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(input.shape, dtype or input.dtype), requires_grad=requires_grad)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(input.shape, dtype or input.dtype), requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in ``[start, end)`` (int64 for integer arguments)."""
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    return Tensor(arr if dtype is None and arr.dtype.kind == "i" else
                  arr.astype(_float_dtype(dtype)), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    return Tensor(np.linspace(start, end, steps, dtype=_float_dtype(dtype)),
                  requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity matrix."""
    return Tensor(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad=requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples from [0, 1), drawn from minidl's seeded generator."""
    dtype = _float_dtype(dtype)
    return Tensor(_random.generator().random(_shape(size), dtype=dtype),
                  requires_grad=requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, drawn from minidl's seeded generator."""
    dtype = _float_dtype(dtype)
    return Tensor(_random.generator().standard_normal(_shape(size), dtype=dtype),
                  requires_grad=requires_grad)


def randint(low: int, high: int, size: Sequence[int]) -> Tensor:
    """Integers uniform in ``[low, high)`` (int64), from minidl's seeded generator."""
    return Tensor(_random.generator().integers(low, high, size=tuple(size), dtype=np.int64))


def randperm(n: int) -> Tensor:
    """A random permutation of ``0..n-1`` (int64), from minidl's seeded generator."""
    return Tensor(_random.generator().permutation(n).astype(np.int64))
