"""The differentiable op library, PyTorch-named (``import minidl.functional as F``).

Each op is a ``Function`` whose ``forward`` and ``backward`` sit side by side, so the
derivative can be read next to the formula it differentiates. Public functions validate
their arguments (with errors naming the op and the shapes) and call ``Op.apply``.
"""

from __future__ import annotations

import builtins
import inspect
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import backend, kernels
from minidl import random as _random
from minidl.autograd import Context, Function, is_grad_enabled
from minidl.kernels.activations import REGISTRY as _ACTIVATIONS
from minidl.kernels.activations import Activation
from minidl.tensor import Tensor, _data, get_default_dtype

Operand = Any  # a Tensor, a Python number, or array-like data

# ---------------------------------------------------------------------------- helpers


def _sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to the operand's ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _operand(x: Operand) -> Tensor | int | float:
    """Tensors and Python numbers pass through; NumPy scalars and arrays become tensors."""
    if isinstance(x, np.generic):  # first: np.float64 is a subclass of float
        return x.item()
    if isinstance(x, (Tensor, bool, int, float)):
        return x
    return Tensor(x)


def _operands(a: Operand, b: Operand, true_division: bool = False) -> tuple[Any, Any]:
    """Both operands of a binary op, with PyTorch's dtype rules.

    Integer tensors meeting a float (or divided) become the default float dtype (float32),
    not NumPy's float64. A number beside a float tensor takes the tensor's dtype: NumPy 2
    already lets the array win, but NumPy 1 promotes a 0-d float32 array times a Python
    float to float64.
    """
    a, b = _operand(a), _operand(b)
    pair = (a, b)
    if true_division or any(isinstance(x, float) for x in pair):
        pair = tuple(cast(x, get_default_dtype())
                     if isinstance(x, Tensor) and x.dtype.kind in "iub" else x for x in pair)
    a, b = pair
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and a.dtype.kind == "f":
        b = a.dtype.type(b)
    elif isinstance(b, Tensor) and not isinstance(a, Tensor) and b.dtype.kind == "f":
        a = b.dtype.type(a)
    return a, b


def _axis(name: str, dim: int, ndim: int) -> int:
    """Normalise one (possibly negative) ``dim``; a 0-d tensor accepts 0 and -1."""
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{name}: dim {dim} is out of range for a tensor with {ndim} dimensions "
            f"(expected {-n}..{n - 1})"
        )
    return int(dim) % n


def _axes(name: str, dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Normalise ``dim`` (None, an int or a sequence) to a tuple of distinct axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = tuple(_axis(name, d, ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: dim {dim} names a dimension twice")
    return axes if ndim else ()


def _broadcast_error(name: str, a: Any, b: Any) -> ValueError:
    return ValueError(
        f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together "
        "(trailing dimensions must be equal or 1)"
    )


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )


# ---------------------------------------------------------------------------- arithmetic


class Add(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.shapes = (np.shape(a), np.shape(b))
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        need_a, need_b = ctx.needs_input_grad
        sa, sb = ctx.shapes
        return (_sum_to(grad, sa) if need_a else None, _sum_to(grad, sb) if need_b else None)


class Sub(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.shapes = (np.shape(a), np.shape(b))
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        need_a, need_b = ctx.needs_input_grad
        sa, sb = ctx.shapes
        return (_sum_to(grad, sa) if need_a else None, _sum_to(-grad, sb) if need_b else None)


class Mul(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            _sum_to(grad * b, np.shape(a)) if need_a else None,
            _sum_to(grad * a, np.shape(b)) if need_b else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            _sum_to(grad / b, np.shape(a)) if need_a else None,
            _sum_to(-grad * a / (b * b), np.shape(b)) if need_b else None,
        )


class Neg(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return -grad


class Pow(Function):
    """``y = a ** b``; dy/da = b a^(b-1), dy/db = y ln a (0 where a = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        try:
            y = np.power(a, b)
        except ValueError as e:  # not only broadcasting: integers to negative powers too
            if "broadcast" in str(e):
                raise _broadcast_error("pow", a, b) from None
            raise ValueError(f"pow: {e}") from None
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b, y = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            # b a^(b-1) is 0·0^-1 = NaN at a = b = 0, where the true derivative of a^0 is 0.
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = _sum_to(grad * np.where(b == 0, 0, b * np.power(a, b - 1)), np.shape(a))
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a == 0, 0, np.log(np.where(a == 0, 1, a)))
            gb = _sum_to(grad * y * log_a, np.shape(b))
        return ga, gb


def add(a: Operand, b: Operand) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    return Add.apply(*_operands(a, b))


def sub(a: Operand, b: Operand) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    return Sub.apply(*_operands(a, b))


def mul(a: Operand, b: Operand) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    return Mul.apply(*_operands(a, b))


def div(a: Operand, b: Operand) -> Tensor:
    """Elementwise ``a / b`` with broadcasting."""
    return Div.apply(*_operands(a, b, true_division=True))


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    return Neg.apply(a)


def pow(a: Operand, b: Operand) -> Tensor:  # noqa: A001 - PyTorch's name
    """Elementwise ``a ** b``; either may be a tensor or a number."""
    return Pow.apply(*_operands(a, b))


# ---------------------------------------------------------------------------- matmul


def _matmul_error(a: np.ndarray, b: np.ndarray) -> ValueError:
    if a.ndim == 0 or b.ndim == 0:
        return ValueError(
            f"matmul: both operands need at least 1 dimension, got {a.shape} @ {b.shape}"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        return ValueError(
            f"matmul: {a.shape} @ {b.shape}: inner dimensions {k_a} and {k_b} differ"
        )
    return ValueError(
        f"matmul: {a.shape} @ {b.shape}: batch dimensions {a.shape[:-2]} and "
        f"{b.shape[:-2]} cannot be broadcast together"
    )


class MatMul(Function):
    """``y = a @ b`` (NumPy/PyTorch matmul rules); dy/da = g bᵀ, dy/db = aᵀ g."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return np.matmul(a, b)
        except ValueError:
            raise _matmul_error(a, b) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:
            return (grad @ b.T if need_a else None, a.T @ grad if need_b else None)
        # Promote 1-D operands to matrices (as matmul does), then undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if b.ndim == 1:  # first, so that vector @ vector (a 0-d grad) works too
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if need_a:
            ga = _sum_to(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            gb = _sum_to(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Operand, b: Operand) -> Tensor:
    """Matrix product with NumPy's rules: 1-D vectors, 2-D matrices, batched N-D stacks."""
    a, b = _operands(a, b)
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if not isinstance(b, Tensor):
        b = Tensor(b)
    return MatMul.apply(a, b)


class Linear(Function):
    """``y = x Wᵀ + b``; dy/dx = g W, dy/dW = gᵀ x, dy/db = Σ_batch g (one fused op)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray, bias: Any) -> np.ndarray:
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = grad.reshape(-1, grad.shape[-1])
        gx = grad @ weight if need_x else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if need_w else None
        gb = g2.sum(axis=0) if need_b else None
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``y = x Wᵀ + b`` for ``x`` of shape (..., in) and ``W`` of shape (out, in)."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"linear: input must be a minidl Tensor, got {type(input).__name__}; wrap the "
            "data with minidl.tensor(...)"
        )
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: expected input with {weight.shape[-1]} features in its last dimension "
            f"(weight {weight.shape}), got shape {input.shape}"
        )
    if input.dtype != weight.dtype:
        raise TypeError(
            f"linear: input dtype {input.dtype} differs from weight dtype {weight.dtype}; "
            f"convert the input (e.g. x.float()) or the layer (e.g. layer.double())"
        )
    return Linear.apply(input, weight, bias)


# ---------------------------------------------------------------------------- reductions


class Sum(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple, keepdim: bool) -> np.ndarray:
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return np.sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if not ctx.keepdim:
            grad = np.expand_dims(grad, ctx.axes)
        return np.broadcast_to(grad, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple, keepdim: bool) -> np.ndarray:
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if not ctx.keepdim:
            grad = np.expand_dims(grad, ctx.axes)
        return np.broadcast_to(grad / ctx.count, ctx.shape)


class Var(Function):
    """``y = Σ (x - x̄)² / (N - correction)``; dy/dx = 2 (x - x̄) / (N - correction)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple, correction: int,
                keepdim: bool) -> np.ndarray:
        n = int(np.prod([x.shape[a] for a in axes]))
        centred = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centred)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, builtins.max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(centred * centred, axis=axes, keepdims=keepdim) / x.dtype.type(ctx.denom)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (centred,) = ctx.saved_tensors
        if not ctx.keepdim:
            grad = np.expand_dims(grad, ctx.axes)
        with np.errstate(divide="ignore", invalid="ignore"):  # denom 0 gives NaN, as in PyTorch
            return grad * (2 / ctx.denom if ctx.denom else np.inf) * centred


class Std(Function):
    """``y = √var(x)``; dy/dx = (x - x̄) / ((N - correction) y), taken as 0 where y = 0
    (a constant input), as in PyTorch."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple, correction: int,
                keepdim: bool) -> np.ndarray:
        y = np.sqrt(Var.forward(ctx, x, axes, correction, keepdim))
        (centred,) = ctx.saved_tensors
        ctx.save_for_backward(centred, y)
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        centred, y = ctx.saved_tensors
        if not ctx.keepdim:
            grad, y = np.expand_dims(grad, ctx.axes), np.expand_dims(y, ctx.axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y == 0, 0, grad / (ctx.denom * y)) * centred


class MaxAll(Function):
    """Max (or min) over all elements; ties share the gradient equally, as in PyTorch."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, largest: bool) -> np.ndarray:
        y = x.max() if largest else x.min()
        ctx.save_for_backward(x, y)
        return backend.asarray(y)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        x, y = ctx.saved_tensors
        mask = x == y
        return mask * (grad / mask.sum())


class TakeAlong(Function):
    """Pick one element along ``dim`` at ``index`` (max/min with a dim); scatter back."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, index: np.ndarray, dim: int,
                keepdim: bool) -> np.ndarray:
        ctx.shape, ctx.index, ctx.dim = x.shape, index, dim
        y = np.take_along_axis(x, index, axis=dim)
        return y if keepdim else np.squeeze(y, axis=dim)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        gx = np.zeros(ctx.shape, dtype=grad.dtype)
        g = grad.reshape(ctx.index.shape)
        np.put_along_axis(gx, ctx.index, g, axis=ctx.dim)
        return gx, None


def sum(input: Tensor, dim: int | Sequence[int] | None = None,  # noqa: A001
        keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (all dimensions when None)."""
    return Sum.apply(input, _axes("sum", dim, input.ndim), keepdim)


def mean(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (all dimensions when None)."""
    return Mean.apply(input, _axes("mean", dim, input.ndim), keepdim)


def var(input: Tensor, dim: int | Sequence[int] | None = None, *, correction: int = 1,
        keepdim: bool = False) -> Tensor:
    """Variance ``Σ (x - x̄)² / (N - correction)``; ``correction=1`` is the unbiased one."""
    return Var.apply(input, _axes("var", dim, input.ndim), correction, keepdim)


def std(input: Tensor, dim: int | Sequence[int] | None = None, *, correction: int = 1,
        keepdim: bool = False) -> Tensor:
    """Standard deviation, ``sqrt(var(...))``."""
    return Std.apply(input, _axes("std", dim, input.ndim), correction, keepdim)


MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _extreme(name: str, input: Tensor, dim: int | None, keepdim: bool, largest: bool) -> Any:
    if input.data.size == 0:
        raise ValueError(f"{name}: the tensor is empty (shape {input.shape})")
    if dim is None:
        return MaxAll.apply(input, largest)
    if input.ndim == 0:  # PyTorch returns 0-d values and indices, keepdim or not
        input, keepdim = reshape(input, (1,)), False
    axis = _axis(name, dim, input.ndim)
    pick = np.argmax if largest else np.argmin
    index = np.expand_dims(pick(input.data, axis=axis), axis)
    values = TakeAlong.apply(input, index, axis, keepdim)
    return MaxMin(values, Tensor._make(index if keepdim else np.squeeze(index, axis)))


def max(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The largest element; with ``dim``, the named tuple ``(values, indices)`` along it."""
    return _extreme("max", input, dim, keepdim, largest=True)


def min(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The smallest element; with ``dim``, the named tuple ``(values, indices)`` along it."""
    return _extreme("min", input, dim, keepdim, largest=False)


def _arg_extreme(name: str, input: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    pick = np.argmax if name == "argmax" else np.argmin
    if dim is None:
        return Tensor._make(backend.asarray(pick(input.data)))
    return Tensor._make(pick(input.data, axis=_axis(name, dim, input.ndim), keepdims=keepdim))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor when ``dim`` is None)."""
    return _arg_extreme("argmax", input, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (of the flattened tensor when ``dim`` is None)."""
    return _arg_extreme("argmin", input, dim, keepdim)


# ---------------------------------------------------------------------------- shapes


class Reshape(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, shape: tuple) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into shape {shape}"
            ) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return grad.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dims: tuple) -> np.ndarray:
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return grad.transpose(ctx.inverse), None


def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    """The same elements in a new shape (one entry may be -1). Copies only if needed."""
    return Reshape.apply(input, tuple(int(s) for s in shape))


# Views and reshapes are the same thing over NumPy: both share memory when they can.
view = reshape


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` into one."""
    if input.ndim == 0:
        return reshape(input, (1,))
    start = _axis("flatten", start_dim, input.ndim)
    end = _axis("flatten", end_dim, input.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(input.shape[start:end + 1]))
    return reshape(input, input.shape[:start] + (merged,) + input.shape[end + 1:])


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Reorder dimensions: output dim i is input dim ``dims[i]``."""
    axes = _axes("permute", dims, input.ndim)
    if len(axes) != input.ndim:
        raise ValueError(
            f"permute: dims {tuple(dims)} must name each of the {input.ndim} dimensions once"
        )
    return Permute.apply(input, axes)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    dims = list(range(input.ndim))
    if input.ndim:
        a, b = _axis("transpose", dim0, input.ndim), _axis("transpose", dim1, input.ndim)
        dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(input, tuple(dims))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim`` (-ndim-1 <= dim <= ndim)."""
    n = input.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"unsqueeze: dim {dim} is out of range (expected {-n}..{n - 1})")
    d = dim % n
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def squeeze(input: Tensor, dim: int | None = None) -> Tensor:
    """Remove dimensions of size 1 (only ``dim``, if given and of size 1)."""
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        d = _axis("squeeze", dim, input.ndim)
        if input.ndim == 0 or input.shape[d] != 1:
            return reshape(input, input.shape)
        shape = input.shape[:d] + input.shape[d + 1:]
    return reshape(input, shape)


class Index(Function):
    """``y = x[index]``; the gradient is scattered back (summed where indices repeat)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, index: Any) -> np.ndarray:
        ctx.shape, ctx.index = x.shape, index
        parts = index if isinstance(index, tuple) else (index,)
        # Only integer arrays can repeat an element; other indices may simply assign.
        ctx.repeats = any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)
        return x[index]

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        gx = np.zeros(ctx.shape, dtype=grad.dtype)
        if ctx.repeats:
            np.add.at(gx, ctx.index, grad)
        else:
            gx[ctx.index] = grad
        return gx, None


def index(input: Tensor, idx: Any) -> Tensor:
    """``input[idx]`` with ints, slices, None, Ellipsis, integer and boolean arrays."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    parts = tuple(backend.asarray(p.data if isinstance(p, Tensor) else p)
                  if isinstance(p, (Tensor, list, np.ndarray)) else p for p in parts)
    # An empty list selects nothing; np.asarray([]) is float64, so give it an index dtype.
    parts = tuple(np.zeros(0, np.int64) if isinstance(p, np.ndarray) and p.size == 0
                  and p.dtype.kind == "f" else p for p in parts)
    for p in parts:
        if isinstance(p, np.ndarray) and p.dtype.kind not in "iub":
            raise IndexError(f"index: index arrays must be integer or boolean, got {p.dtype}")
    key = parts if isinstance(idx, tuple) else parts[0]
    try:
        input.data[key]
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {input.shape})") from None
    return Index.apply(input, key)


class Concat(Function):
    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, dim: int) -> np.ndarray:
        ctx.dim = dim
        ctx.splits = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return tuple(np.split(grad, ctx.splits, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, dim: int) -> np.ndarray:
        ctx.dim = dim
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return tuple(np.moveaxis(grad, ctx.dim, 0))


def _same_shapes_error(name: str, tensors: Sequence[Tensor], dim: int | None) -> ValueError:
    shapes = ", ".join(str(t.shape) for t in tensors)
    where = "all dimensions" if dim is None else f"every dimension except {dim}"
    return ValueError(f"{name}: tensors must match in {where}; got shapes {shapes}")


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    axis = _axis("cat", dim, tensors[0].ndim)
    def others(shape: tuple) -> tuple:
        return shape[:axis] + shape[axis + 1:]

    for t in tensors:
        if t.ndim != tensors[0].ndim or others(t.shape) != others(tensors[0].shape):
            raise _same_shapes_error("cat", tensors, dim)
    return Concat.apply(*tensors, dim=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise _same_shapes_error("stack", tensors, None)
    n = tensors[0].ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"stack: dim {dim} is out of range (expected {-n}..{n - 1})")
    return Stack.apply(*tensors, dim=dim % n)


# ---------------------------------------------------------------------------- elementwise


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (y,) = ctx.saved_tensors
        return grad * y  # d/dx e^x = e^x


class Log(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad / x  # d/dx ln x = 1/x


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (y,) = ctx.saved_tensors
        return grad / (2 * y)  # d/dx √x = 1 / (2√x)


class Abs(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad * np.sign(x)  # sign(0) = 0, as in PyTorch


class Clamp(Function):
    """``y = min(max(x, lo), hi)``; gradient 1 where lo <= x <= hi, else 0."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        keep = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            keep &= x >= ctx.lo
        if ctx.hi is not None:
            keep &= x <= ctx.hi
        return grad * keep, None, None


class Where(Function):
    @staticmethod
    def forward(ctx: Context, cond: np.ndarray, a: Any, b: Any) -> np.ndarray:
        ctx.cond, ctx.shapes = cond, (np.shape(a), np.shape(b))
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise ValueError(
                f"where: condition {np.shape(cond)}, input {np.shape(a)} and other "
                f"{np.shape(b)} cannot be broadcast together"
            ) from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        _, need_a, need_b = ctx.needs_input_grad
        zero = np.zeros((), dtype=grad.dtype)
        return (
            None,
            _sum_to(np.where(ctx.cond, grad, zero), ctx.shapes[0]) if need_a else None,
            _sum_to(np.where(ctx.cond, zero, grad), ctx.shapes[1]) if need_b else None,
        )


class Cast(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return grad.astype(ctx.dtype), None


class ToDevice(Function):
    @staticmethod
    def forward(ctx: Context, x: Any, device: backend.Device) -> Any:
        ctx.source = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return backend.to_device(grad, ctx.source), None


class Clone(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return x.copy()

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return grad


def exp(input: Tensor) -> Tensor:
    """Elementwise ``e^x``."""
    return Exp.apply(input)


def log(input: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return Log.apply(input)


def sqrt(input: Tensor) -> Tensor:
    """Elementwise square root."""
    return Sqrt.apply(input)


def abs(input: Tensor) -> Tensor:  # noqa: A001
    """Elementwise ``|x|``."""
    return Abs.apply(input)


def clamp(input: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clip values into ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min {min} is greater than max {max}")
    return Clamp.apply(input, min, max)


def where(condition: Any, input: Operand, other: Operand) -> Tensor:
    """Elementwise ``input if condition else other``, with broadcasting."""
    cond = backend.asarray(_data(condition))
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {cond.dtype}")
    return Where.apply(cond, *_operands(input, other))


def cast(input: Tensor, dtype: Any) -> Tensor:
    """Convert to ``dtype``; gradients flow back in the input's dtype."""
    dtype = np.dtype(dtype)
    if input.requires_grad and dtype.kind != "f":
        return Tensor._make(input.data.astype(dtype))
    return Cast.apply(input, dtype)


def to_device(input: Tensor, device: str | backend.Device) -> Tensor:
    """A copy on ``device`` (``'cpu'``, ``'cuda'``, ``'cuda:N'``) that stays in the graph:
    its gradient flows back to ``input``'s device. ``Tensor.to`` is the usual spelling."""
    return ToDevice.apply(input, backend.device(device))


def clone(input: Tensor) -> Tensor:
    """A copy that stays in the graph."""
    return Clone.apply(input)


# ---------------------------------------------------------------------------- activations
# Every elementwise activation is one generic autograd function over the kernel library
# (minidl/kernels): the formulas live, once, in minidl/kernels/activations.py.


class ActivationFunction(Function):
    """``y = f(x, *params)`` elementwise; backward ``gx = grad · f'(x)``.

    Both directions are single fused passes of the generated kernels (or of the NumPy
    references under ``set_kernel_backend('numpy')``). A learnable parameter (PReLU's
    slope) arrives as a tensor and gets ``Σ grad · ∂f/∂p`` over the axes it is shared on.
    Each activation gets a subclass named after its module, so graphs and anomaly reports
    say ``ELUBackward``.
    """

    activation: Activation

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, act: Activation, *params: Any) -> np.ndarray:
        backend = kernels.get_kernel_backend()
        y = kernels.forward(act, x, params, backend=backend)
        uses_x, uses_y = act.uses if backend == "numba" else (True, True)
        ctx.save_for_backward(x if uses_x else None, y if uses_y else None, *params)
        ctx.activation, ctx.backend = act, backend
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, y, *params = ctx.saved_tensors
        act = ctx.activation
        gx, param_grads = kernels.backward(act, x, y, grad, params, backend=ctx.backend)
        grads: list[Any] = [None] * len(params)
        learnable = [k for k, name in enumerate(act.params) if name in act.dparams]
        for k, g in zip(learnable, param_grads, strict=True):
            grads[k] = g
        return (gx, None, *grads)


_FUNCTIONS: dict[int, tuple[Activation, type[ActivationFunction]]] = {}


def _function_for(act: Activation) -> type[ActivationFunction]:
    entry = _FUNCTIONS.get(id(act))
    if entry is None or entry[0] is not act:
        cls = type(act.module, (ActivationFunction,), {"__doc__": f"{act.module}: {act.formula}"})
        entry = _FUNCTIONS[id(act)] = (act, cls)
    return entry[1]


def apply_activation(act: Activation, input: Tensor, params: Sequence[Any] = (),
                     inplace: bool = False) -> Tensor:
    """Run a registered activation on ``input`` with its parameters in registry order.

    Integer and boolean inputs are promoted to the default float dtype first (as
    ``torch.sigmoid`` does). ``inplace=True`` writes the result into ``input``'s memory
    and returns ``input`` when no gradient flows through it. When ``input`` takes part in a
    graph (it requires grad), the op runs out of place instead: minidl has no version
    counters to notice a saved array being overwritten, so writing in place could silently
    corrupt another op's backward. Always use the returned tensor, as in PyTorch.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"{act.name}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        input = cast(input, get_default_dtype())
        inplace = False
    if inplace and not (input.requires_grad and is_grad_enabled()):
        kernels.forward(act, input.data, params, out=input.data)
        return input
    return _function_for(act).apply(input, act, *params)


def _number(fn: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__} "
                        f"{value!r}")
    return float(value)


def _functional(act: Activation) -> Any:
    """``F.<name>(input, *params, inplace=False)`` for a registered activation."""
    parameters = [inspect.Parameter("input", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
                   for p, d in act.params.items()]
    if act.inplace:
        parameters.append(inspect.Parameter("inplace", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=False))
    signature = inspect.Signature(parameters)
    defaults = tuple(_number(act.name, p, d) for p, d in act.params.items())
    if act.validate is not None:
        act.validate(**dict(zip(act.params, defaults, strict=True)))

    def activation(*args: Any, **kwargs: Any) -> Tensor:
        if len(args) == 1 and not kwargs:  # F.relu(x): skip binding, the costlier part
            return apply_activation(act, args[0], defaults)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{act.name}{signature}: {e}") from None
        bound.apply_defaults()
        values = {p: _number(act.name, p, bound.arguments[p]) for p in act.params}
        if act.validate is not None:
            act.validate(**values)
        return apply_activation(act, bound.arguments["input"], tuple(values.values()),
                                bool(bound.arguments.get("inplace", False)))

    activation.__name__ = activation.__qualname__ = act.name
    activation.__module__ = __name__
    activation.__signature__ = signature
    lines = [f"{act.module}, elementwise: ``{act.formula}``.", "", "Parameters", "----------",
             "input : Tensor", "    A floating-point tensor of any shape."]
    for p, d in act.params.items():
        lines += [f"{p} : float, default {d!r}"]
    if act.inplace:
        lines += ["inplace : bool, default False",
                  "    Write the result into ``input`` (see ``apply_activation`` for what that",
                  "    means under autograd)."]
    lines += ["", "Returns", "-------", "Tensor", "    Same shape and dtype as ``input``."]
    activation.__doc__ = "\n".join(lines)
    return activation


def install_activation(act: Activation) -> Any:
    """Make ``F.<act.name>`` (unless it is one of the hand-written ones below)."""
    fn = _functional(act)
    globals()[act.name] = fn
    return fn


_HAND_WRITTEN = {"prelu", "rrelu", "gelu", "gelu_tanh"}
for _act in _ACTIVATIONS.values():
    if _act.name not in _HAND_WRITTEN:
        install_activation(_act)
del _act


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """PReLU: ``x if x > 0 else a·x`` with a learnable slope ``a = weight``.

    Parameters
    ----------
    input : Tensor
        Floating-point input; axis 1 is the channel axis (inputs with fewer than two
        dimensions have one channel).
    weight : Tensor
        Shape ``(1,)`` (one slope shared by all channels) or ``(C,)`` (one per channel).
        Its gradient is ``Σ grad · (x if x <= 0 else 0)`` over every axis but the channel.
    """
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("prelu: input and weight must be Tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.ndim != 1 or weight.shape[0] not in (1, channels):
        raise ValueError(f"prelu: weight of shape {weight.shape} does not fit an input of shape "
                         f"{input.shape}: expected (1,) or ({channels},), one slope per "
                         "channel (axis 1)")
    if input.dtype.kind != "f":
        input = cast(input, get_default_dtype())
    if weight.dtype != input.dtype:
        weight = cast(weight, input.dtype)
    return apply_activation(_ACTIVATIONS["prelu"], input, (weight,))


def rrelu(input: Tensor, lower: float = 1 / 8, upper: float = 1 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: ``x if x > 0 else a·x``.

    In training each element draws its own slope ``a ~ U(lower, upper)`` at every call,
    from minidl's seeded generator (so ``manual_seed`` reproduces it); in evaluation the
    slope is the mean ``(lower + upper) / 2``. As in PyTorch, the functional form defaults
    to ``training=False``; ``nn.RReLU`` follows ``module.training``.

    The 2015 paper (Xu et al.) writes the slope as ``1/a`` with ``a ~ U(3, 8)`` and divides
    by ``(3 + 8)/2`` at test time (slope 2/11); PyTorch's and minidl's ``lower``/``upper``
    are bounds on the slope itself: ``rrelu(x, 1/8, 1/3)`` is the PyTorch default.
    """
    lower, upper = _number("rrelu", "lower", lower), _number("rrelu", "upper", upper)
    if lower > upper:
        raise ValueError(f"rrelu: lower ({lower}) must be <= upper ({upper})")
    act = _ACTIVATIONS["rrelu"]
    if not training:
        return apply_activation(act, input, ((lower + upper) / 2,), inplace)
    if not isinstance(input, Tensor):
        raise TypeError(f"rrelu: input must be a Tensor, got {type(input).__name__}")
    dtype = np.dtype(input.dtype if input.dtype.kind == "f" else get_default_dtype())
    # Drawn in the input's dtype (float32 draws cost half of float64 ones), then scaled
    # in place: the draw is most of what RReLU costs.
    draw = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    slope = _random.generator().random(input.shape, dtype=draw)
    slope *= upper - lower
    slope += lower
    slope = slope.astype(dtype, copy=False)
    return apply_activation(act, input, (slope,), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: ``x·Φ(x) = ½x(1 + erf(x/√2))``, or with ``approximate='tanh'``
    ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply_activation(_ACTIVATIONS["gelu" if approximate == "none" else "gelu_tanh"],
                            input)


def _log_softmax(x: np.ndarray, axis: int | None) -> np.ndarray:
    """``x - log Σ e^x``, shifted by the max so that e^x never overflows."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """``y = x - logΣe^x`` along ``dim`` (max-shifted); dy/dx·g = g - softmax·Σg."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dim: int) -> np.ndarray:
        y = _log_softmax(x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (y,) = ctx.saved_tensors
        return grad - np.exp(y) * grad.sum(axis=ctx.dim, keepdims=True), None


class Softmax(Function):
    """``y = e^x / Σe^x`` along ``dim`` (max-shifted); dy/dx·g = y (g - Σ g y)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dim: int) -> np.ndarray:
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.dim, keepdims=True)), None


def softmax(input: Tensor, dim: int) -> Tensor:
    """``e^x / Σ e^x`` along ``dim``, stable for large inputs."""
    return Softmax.apply(input, _axis("softmax", dim, input.ndim) if input.ndim else None)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """``x - log Σ e^x`` along ``dim``, stable for large inputs."""
    return LogSoftmax.apply(input, _axis("log_softmax", dim, input.ndim) if input.ndim else None)


class Dropout(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    The mask comes from minidl's seeded generator, so ``manual_seed`` reproduces it.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return mul(input, 0.0)
    keep = _random.generator().random(input.shape, dtype=np.float32) >= p
    mask = keep.astype(input.dtype) * input.dtype.type(1 / (1 - p))
    return Dropout.apply(input, mask)


# ---------------------------------------------------------------------------- losses


def _reduce(per_sample: np.ndarray, reduction: str, denom: float) -> np.ndarray:
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    return backend.asarray(total / denom if reduction == "mean" else total, dtype=per_sample.dtype)


def _reduced_grad(grad: np.ndarray, reduction: str, denom: float, ndim: int) -> Any:
    """The upstream gradient, shaped to broadcast against per-sample terms."""
    if reduction == "none":
        return grad.reshape(grad.shape + (1,) * (ndim - grad.ndim))
    return grad / denom if reduction == "mean" else grad


class WeightedNLL(Function):
    """``loss_i = -Σ_c A_ic logp_ic``, where ``A`` holds the (weighted, smoothed) targets.

    With ``logits=True`` the input holds logits and ``logp = log_softmax(x)``; then
    d loss_i / d x_i = (Σ_c A_ic) softmax(x_i) - A_i. Otherwise d loss_i / d logp_i = -A_i.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, targets: np.ndarray, denom: float,
                reduction: str, logits: bool) -> np.ndarray:
        if logits:
            logp = _log_softmax(x, 1)
        else:
            logp = x
        ctx.save_for_backward(logp, targets)
        ctx.denom, ctx.reduction, ctx.logits = denom, reduction, logits
        per_sample = -np.einsum("nc,nc->n", targets, logp)
        return _reduce(per_sample, reduction, denom)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        logp, targets = ctx.saved_tensors
        g = _reduced_grad(grad, ctx.reduction, ctx.denom, 2)
        if ctx.logits:
            gx = (targets.sum(axis=1, keepdims=True) * np.exp(logp) - targets) * g
        else:
            gx = -targets * g
        return gx, None, None, None, None


def _class_targets(name: str, input: Tensor, target: Any, weight: Any, ignore_index: int,
                   label_smoothing: float) -> tuple[np.ndarray, float]:
    """The matrix ``A`` of WeightedNLL and the 'mean' denominator, as PyTorch defines them."""
    if input.ndim != 2:
        raise ValueError(
            f"{name}: input must have shape (N, C) (a batch of class scores), got {input.shape}"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    n, c = input.shape
    t = backend.host(_data(target))
    w = None
    if weight is not None:
        w = backend.host(_data(weight)).astype(input.dtype)
        if w.shape != (c,):
            raise ValueError(
                f"{name}: weight must have shape ({c},) (one per class), got {w.shape}"
            )
    if t.dtype.kind == "f":
        if t.shape == (n,):
            raise TypeError(
                f"{name}: target of shape {t.shape} and dtype {t.dtype} looks like class "
                "indices stored as floats; class indices must be integers (use target.long())"
            )
        if t.shape != input.shape:
            raise ValueError(
                f"{name}: class-probability target of shape {t.shape} must match input "
                f"{input.shape}"
            )
        a = t.astype(input.dtype) * (1 - label_smoothing) + label_smoothing / c
        return (a * w if w is not None else a), float(n)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: target must hold integer class indices (int64) or class probabilities "
            f"(float), got dtype {t.dtype}"
        )
    if t.shape != (n,):
        raise ValueError(
            f"{name}: target of shape {t.shape} does not match input {input.shape}: expected "
            f"({n},) class indices"
        )
    valid = t != ignore_index
    tv = t[valid]
    bad = tv[(tv < 0) | (tv >= c)]
    if bad.size:
        raise IndexError(
            f"{name}: target contains class index {bad[0]}, but input has {c} classes "
            f"(valid indices are 0..{c - 1})"
        )
    rows = np.flatnonzero(valid)
    w_t = w[tv] if w is not None else np.ones(len(tv), dtype=input.dtype)
    a = np.zeros(input.shape, dtype=input.dtype)
    a[rows, tv] = (1 - label_smoothing) * w_t
    if label_smoothing:
        a[rows] += label_smoothing / c * (w if w is not None else 1)
    return a, float(w_t.sum())


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits ``input`` (N, C) against ``target``.

    ``target`` holds class indices (N,) of integer dtype, or class probabilities (N, C).
    With ``label_smoothing`` ε the target becomes ``(1-ε)·onehot + ε/C``. ``weight``
    rescales each class; with ``reduction='mean'`` the sum is divided by the total weight
    of the (non-ignored) targets, as in PyTorch.
    """
    _check_reduction("cross_entropy", reduction)
    a, denom = _class_targets("cross_entropy", input, target, weight, ignore_index, label_smoothing)
    return WeightedNLL.apply(input, a, denom, reduction, True)


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood ``-input[i, target[i]]`` of log-probabilities (N, C)."""
    _check_reduction("nll_loss", reduction)
    t = backend.host(_data(target))
    if t.dtype.kind == "f":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {t.dtype}")
    a, denom = _class_targets("nll_loss", input, t, weight, ignore_index, 0.0)
    return WeightedNLL.apply(input, a, denom, reduction, False)


class MSELoss(Function):
    """``(x - t)²`` reduced; d/dx = 2 (x - t), d/dt = -2 (x - t)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, t: np.ndarray, reduction: str) -> np.ndarray:
        diff = x - t
        ctx.save_for_backward(diff)
        ctx.reduction = reduction
        return _reduce(diff * diff, reduction, float(diff.size))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (diff,) = ctx.saved_tensors
        g = 2 * diff * _reduced_grad(grad, ctx.reduction, float(diff.size), diff.ndim)
        need_x, need_t, _ = ctx.needs_input_grad
        return (g if need_x else None, -g if need_t else None, None)


def _same_shape(name: str, input: Tensor, target: Any) -> None:
    if np.shape(_data(target)) != input.shape:
        raise ValueError(
            f"{name}: input shape {input.shape} and target shape {np.shape(_data(target))} "
            "differ; they must be equal (reshape one of them rather than rely on broadcasting)"
        )


def _float_target(target: Operand, input: Tensor) -> Tensor:
    """The target as a tensor of the input's dtype (integer targets are converted)."""
    if isinstance(target, Tensor):
        return target if target.dtype == input.dtype else cast(target, input.dtype)
    return Tensor(np.asarray(target, dtype=input.dtype))


def mse_loss(input: Tensor, target: Operand, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((input - target)²)``."""
    _check_reduction("mse_loss", reduction)
    _same_shape("mse_loss", input, target)
    target = _float_target(target, input)
    return MSELoss.apply(input, target, reduction)


class BCEWithLogits(Function):
    """``ℓ = -w [p t log σ(x) + (1 - t) log(1 - σ(x))]``, computed with softplus:
    ``ℓ = w [(1 - t) x + (1 + (p - 1) t) softplus(-x)]``;
    dℓ/dx = w [σ(x)(p t + 1 - t) - p t], dℓ/dt = w [p softplus(-x) - softplus(x)]."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, t: np.ndarray, w: Any, p: Any,
                reduction: str) -> np.ndarray:
        sp_neg = np.logaddexp(0, -x)  # softplus(-x) = -log σ(x)
        coef = 1 + (p - 1) * t if p is not None else 1
        loss = (1 - t) * x + coef * sp_neg
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w, p, sp_neg)
        ctx.reduction = reduction
        return _reduce(loss, reduction, float(loss.size))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, t, w, p, sp_neg = ctx.saved_tensors
        g = _reduced_grad(grad, ctx.reduction, float(x.size), x.ndim)
        if w is not None:
            g = g * w
        pw = 1 if p is None else p
        s = np.exp(-sp_neg)  # σ(x)
        need_x, need_t = ctx.needs_input_grad[:2]
        gx = g * (s * (pw * t + 1 - t) - pw * t) if need_x else None
        gt = g * (pw * sp_neg - (sp_neg + x)) if need_t else None  # softplus(x) = softplus(-x) + x
        return gx, gt, None, None, None


def binary_cross_entropy_with_logits(input: Tensor, target: Operand, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` in [0, 1], stable for
    any logit. ``weight`` rescales each element, ``pos_weight`` the positive term."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    target = _float_target(target, input)
    w = None if weight is None else backend.asarray(_data(weight), dtype=input.dtype)
    p = None if pos_weight is None else backend.asarray(_data(pos_weight), dtype=input.dtype)
    for label, arr in (("weight", w), ("pos_weight", p)):
        if arr is not None:
            try:
                np.broadcast_shapes(arr.shape, input.shape)
            except ValueError:
                raise _broadcast_error(f"binary_cross_entropy_with_logits {label}", arr,
                                       input.data) from None
    return BCEWithLogits.apply(input, target, w, p, reduction)


# The convolutional-network ops live in minidl/ops/ (they import autograd, not this module).
from minidl.ops.conv import conv2d  # noqa: E402,F401
from minidl.ops.dropout import alpha_dropout, dropout2d, feature_alpha_dropout  # noqa: E402,F401
from minidl.ops.normalization import batch_norm, layer_norm  # noqa: E402,F401
from minidl.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: E402,F401
