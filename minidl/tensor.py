"""``Tensor``: a NumPy array that remembers how it was computed.

A tensor holds ``data`` (an ``np.ndarray``), and, when it takes part in a computation
that needs gradients, ``grad_fn`` (the graph node that made it) and ``grad`` (filled in by
``backward``). Its operators and methods are thin aliases of ``minidl.functional``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl import autograd, backend

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

_default_dtype = [float32]


def get_default_dtype() -> np.dtype:
    """The dtype of floating-point tensors made from Python numbers (float32 at start)."""
    return _default_dtype[0]


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats become: ``float32`` or ``float64``."""
    dtype = np.dtype(dtype)
    if dtype not in (float32, float64):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dtype}")
    _default_dtype[0] = dtype


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if backend.device_of(data).type == "cuda":
        return backend.array_module(data).asarray(data, dtype=dtype).copy()
    if dtype is not None:
        return np.array(data, dtype=dtype)
    arr = np.array(data)
    from_python = not isinstance(data, (np.ndarray, np.generic))
    if from_python and arr.dtype.kind == "f":
        arr = arr.astype(get_default_dtype())
    elif from_python and arr.dtype.kind in "iu":
        arr = arr.astype(int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : array_like
        Numbers, nested lists, or an array. Python floats become the default dtype
        (float32) and Python ints int64; an ``np.ndarray`` keeps its dtype (so float64
        arrays stay float64). The data is copied.
    requires_grad : bool
        Record operations on this tensor so that ``backward`` can fill ``.grad``.
    dtype : dtype, optional
        Convert the data to this dtype.
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "_hooks", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.grad_fn: autograd.Context | None = None
        self._hooks: list[Callable] = []
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _make(cls, data: np.ndarray, grad_fn: autograd.Context | None = None) -> Tensor:
        """Wrap an op's result without copying or checking (the hot path)."""
        t = object.__new__(Tensor)
        # NumPy returns scalars, not 0-d arrays, from ops on 0-d arrays; CuPy arrays stay.
        t.data = data if type(data) is np.ndarray or backend.device_of(data).type == "cuda" \
            else np.asarray(data)
        t.grad = None
        t.grad_fn = grad_fn
        t._hooks = []
        t._requires_grad = grad_fn is not None
        return t

    # ----------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use .detach() to "
                "get a tensor outside the graph"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op that records a graph."""
        return self.grad_fn is None

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires it.

        Parameters
        ----------
        gradient : array_like, optional
            d(loss)/d(self). May be omitted only for a tensor with one element
            (typically the loss), where it is 1.
        retain_graph : bool
            Keep the saved values so that backward can run through this graph again.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn; did you "
                "create it under no_grad() or from tensors with requires_grad=False?"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: gradient can be implicitly created only for a tensor with "
                    f"one element, but this one has shape {self.shape}; pass "
                    f"gradient= (same shape) or reduce it first, e.g. loss.sum()"
                )
            grad = np.ones_like(self.data)
        else:
            # A view, so that a leaf receiving it unchanged copies it rather than adopting
            # the caller's array as its .grad (see run_backward).
            grad = backend.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                                   dtype=self.data.dtype).view()
            if grad.shape != self.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {grad.shape} but the tensor has shape "
                    f"{self.shape}; they must match"
                )
        autograd.run_backward(self, grad, retain_graph)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a new gradient to use instead. Returns a handle whose
        ``remove()`` unregisters it.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook: the tensor does not require grad")
        hooks = self._hooks if self.grad_fn is None else self.grad_fn.tensor_hooks
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too (leaves always keep theirs)."""
        if self.grad_fn is None:
            return

        def store(grad: Tensor) -> None:
            self.grad = grad.data.copy() if self.grad is None else self.grad + grad.data

        self.register_hook(store)

    def detach(self) -> Tensor:
        """The same data, cut off from the graph (shares memory)."""
        return Tensor._make(self.data)

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def _check_inplace(self, op: str) -> None:
        if self._requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                f"{op}: in-place change of a tensor that requires grad would corrupt its "
                "gradient; do it under minidl.no_grad() or on .detach()"
            )

    # ----------------------------------------------------------------- array facts
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> backend.Device:
        """Where the data lives: ``device('cpu')`` (NumPy) or ``device('cuda:0')`` (CuPy)."""
        return backend.device_of(self.data)

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to a Python number, "
                f"got shape {self.shape}"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The data as an ``np.ndarray`` (shares memory); CPU tensors only."""
        if self._requires_grad:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; use "
                "tensor.detach().numpy()"
            )
        if type(self.data) is not np.ndarray:
            raise TypeError(f"numpy: the tensor is on {self.device}; copy it to the host "
                            "first with tensor.cpu()")
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self.numpy()
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Tensor:
        """This tensor on another device and/or with another dtype (differentiable).

        ``t.to('cuda')``, ``t.to(minidl.float64)``, ``t.to('cuda', minidl.float64)`` or
        by keyword, as in PyTorch. Returns ``self`` when nothing changes; gradients flow
        back to this tensor's device and dtype.
        """
        device, dtype = backend.to_arguments("to", args, dtype, device)
        out = self
        if device is not None and (device := backend.device(device)) != self.device:
            out = F.to_device(out, device)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = F.cast(out, dtype)
        return out

    def cpu(self) -> Tensor:
        """This tensor on the CPU (``self`` if it is there)."""
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        """This tensor on GPU ``index`` (``self`` if it is there)."""
        return self.to(f"cuda:{index}")

    def float(self) -> Tensor:
        return self.to(float32)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def clone(self) -> Tensor:
        return F.clone(self)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __repr__(self) -> str:
        host = self.data if type(self.data) is np.ndarray else backend.to_device(self.data,
                                                                               backend.CPU)
        body = np.array2string(host, separator=", ", prefix="tensor(", precision=4)
        extras = [] if host is self.data else [f"device='{self.device}'"]
        if self.data.dtype not in (get_default_dtype(), int64, bool_):
            extras.append(f"dtype=minidl.{self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        return F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return F.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return F.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __neg__(self) -> Tensor:
        return F.neg(self)

    def __pow__(self, exponent: Any) -> Tensor:
        return F.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return F.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return F.index(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        self.data[_unwrap_index(index)] = value.data if isinstance(value, Tensor) else value

    def __lt__(self, other: Any) -> Tensor:
        return Tensor._make(self.data < _data(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor._make(self.data <= _data(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor._make(self.data > _data(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor._make(self.data >= _data(other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._make(np.asarray(self.data == _data(other)))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._make(np.asarray(self.data != _data(other)))

    # ----------------------------------------------------------------- methods
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return F.sum(self, dim, keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return F.mean(self, dim, keepdim)

    def var(self, dim: int | Sequence[int] | None = None, correction: int = 1,
            keepdim: bool = False) -> Tensor:
        return F.var(self, dim, correction=correction, keepdim=keepdim)

    def std(self, dim: int | Sequence[int] | None = None, correction: int = 1,
            keepdim: bool = False) -> Tensor:
        return F.std(self, dim, correction=correction, keepdim=keepdim)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return F.max(self, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return F.min(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return F.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return F.argmin(self, dim, keepdim)

    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> Tensor:
        return F.view(self, _shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return F.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return F.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return F.permute(self, _shape_args(dims))

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got {self.ndim}")
        return F.transpose(self, 0, 1) if self.ndim == 2 else self

    @property
    def T(self) -> Tensor:
        return F.permute(self, tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        return F.unsqueeze(self, dim)

    def squeeze(self, dim: int | None = None) -> Tensor:
        return F.squeeze(self, dim)

    def exp(self) -> Tensor:
        return F.exp(self)

    def log(self) -> Tensor:
        return F.log(self)

    def sqrt(self) -> Tensor:
        return F.sqrt(self)

    def abs(self) -> Tensor:
        return F.abs(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        return F.clamp(self, min, max)

    def sigmoid(self) -> Tensor:
        return F.sigmoid(self)

    def tanh(self) -> Tensor:
        return F.tanh(self)

    def relu(self) -> Tensor:
        return F.relu(self)

    def softmax(self, dim: int) -> Tensor:
        return F.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        return F.log_softmax(self, dim)


class _RemovableHandle:
    """Returned by ``register_*hook``; ``remove()`` unregisters the hook."""

    def __init__(self, container: list | dict, key: Any) -> None:
        self.container = container
        self.key = key

    def remove(self) -> None:
        if isinstance(self.container, dict):
            self.container.pop(self.key, None)
        elif self.key in self.container:
            self.container.remove(self.key)

    def __enter__(self) -> _RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


def _shape_args(args: tuple) -> tuple:
    """Accept both ``t.reshape(2, 3)`` and ``t.reshape((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return args


# The operator methods above call into the op library, which itself builds on Tensor.
from minidl import functional as F  # noqa: E402
