"""Normalisation: ``batch_norm`` and ``layer_norm``, each one op with a closed-form backward.

Both standardise with a mean ``μ`` and a biased variance ``σ²`` and then apply a learned
affine map::

    x̂ = (x - μ) / √(σ² + ε),    y = γ·x̂ + β

Batch norm takes ``μ, σ²`` per channel over the batch and spatial positions (or, in
evaluation, from running estimates); layer norm per sample over its last dimensions. With
``M`` values per statistic, the backward of the training-mode normalisation is

    ∂L/∂x = (γ / (M·√(σ² + ε))) · (M·g - Σg - x̂·Σ(g·x̂)),    g = ∂L/∂y

(the two sums run over the same ``M`` values), ∂L/∂γ = Σ g·x̂ and ∂L/∂β = Σ g. Writing
it as one op, rather than composing means and divisions, saves memory (nothing but the
input and two numbers per statistic is kept) and several passes over it.

Batch norm runs as Numba kernels over an ``(N, C, L)`` view of the input, parallel over
channels, accumulating in float64 so that float32 statistics stay accurate; for tensors
on a ``cuda`` device, as the float64 array code of ``minidl/kernels/array_ops.py`` (run by
CuPy). Layer norm is NumPy array code, which CuPy runs as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from minidl.autograd import Context, Function
from minidl.kernels import array_ops as _array_ops
from minidl.tensor import Tensor

# ---------------------------------------------------------------------------- kernels


@numba.njit(cache=True, parallel=True)
def _channel_stats(x, mean, var):
    """Per-channel mean and biased variance of ``x`` ``(N, C, L)`` in one pass.

    ``Σ(x - x₀)`` and ``Σ(x - x₀)²`` are summed in float64 with ``x₀`` the channel's first
    value: shifting by a value near the mean keeps ``var = E[d²] - E[d]²`` from cancelling
    catastrophically (plain ``E[x²] - E[x]²`` loses every digit for values like 1e4 ± 1),
    at the cost of one pass over the data instead of two.
    """
    n, channels, length = x.shape
    count = n * length
    for c in numba.prange(channels):
        shift = np.float64(x[0, c, 0])
        s = 0.0
        q = 0.0
        for i in range(n):
            for j in range(length):
                d = x[i, c, j] - shift
                s += d
                q += d * d
        mean[c] = shift + s / count
        var[c] = max(q - s * s / count, 0.0) / count  # rounding can leave a tiny negative


@numba.njit(cache=True, parallel=True)
def _channel_grad_sums(g, x, mean, sum_g, sum_gx):
    """Per channel, ``Σ g`` and ``Σ g·(x - mean)``."""
    n, channels, length = x.shape
    for c in numba.prange(channels):
        s = 0.0
        t = 0.0
        for i in range(n):
            for j in range(length):
                s += g[i, c, j]
                t += g[i, c, j] * (x[i, c, j] - mean[c])
        sum_g[c] = s
        sum_gx[c] = t


@numba.njit(cache=True, parallel=True)
def _channel_affine(x, mean, scale, shift, out):
    """``out = (x - mean)·scale + shift`` with per-channel coefficients."""
    n, channels, length = x.shape
    for k in numba.prange(n * channels):
        i, c = k // channels, k % channels
        for j in range(length):
            out[i, c, j] = (x[i, c, j] - mean[c]) * scale[c] + shift[c]


@numba.njit(cache=True, parallel=True)
def _channel_affine2(g, x, mean, a, b, shift, out):
    """``out = g·a + (x - mean)·b + shift`` with per-channel coefficients."""
    n, channels, length = x.shape
    for k in numba.prange(n * channels):
        i, c = k // channels, k % channels
        for j in range(length):
            out[i, c, j] = g[i, c, j] * a[c] + (x[i, c, j] - mean[c]) * b[c] + shift[c]


# ---------------------------------------------------------------------------- batch norm


def _contiguous(x: Any) -> Any:
    """``x`` C-contiguous; a device array as it is (``np.ascontiguousarray`` would make a
    host array of it, and its ``reshape`` copies when it must)."""
    return x if _array_ops.on_device(x) else np.ascontiguousarray(x)


def _ncl(x: np.ndarray) -> np.ndarray:
    """``x`` (N, C, *) as a C-contiguous ``(N, C, L)`` array."""
    return _contiguous(x).reshape(x.shape[0], x.shape[1], -1)


def _stats(xv: Any) -> tuple[Any, Any]:
    if _array_ops.on_device(xv):
        return _array_ops.channel_stats(xv)
    mean, var = np.empty(xv.shape[1]), np.empty(xv.shape[1])
    _channel_stats(xv, mean, var)
    return mean, var


def _grad_sums(gv: Any, xv: Any, mean: Any) -> tuple[Any, Any]:
    if _array_ops.on_device(gv):
        return _array_ops.channel_grad_sums(gv, xv, mean)
    sum_g, sum_gx = np.empty(xv.shape[1]), np.empty(xv.shape[1])
    _channel_grad_sums(gv, xv, mean, sum_g, sum_gx)
    return sum_g, sum_gx


def _affine(xv: Any, mean: Any, scale: Any, shift: Any) -> Any:
    if _array_ops.on_device(xv):
        return _array_ops.channel_affine(xv, mean, scale, shift)
    out = np.empty(xv.shape, dtype=xv.dtype)
    _channel_affine(xv, mean, scale, shift, out)
    return out


def _affine2(gv: Any, xv: Any, mean: Any, a: Any, b: Any, shift: Any) -> Any:
    if _array_ops.on_device(gv):
        return _array_ops.channel_affine2(gv, xv, mean, a, b, shift)
    out = np.empty(xv.shape, dtype=gv.dtype)
    _channel_affine2(gv, xv, mean, a, b, shift, out)
    return out


class BatchNorm(Function):
    """Batch norm over ``(N, C, L)`` views; the four per-channel passes run as the Numba
    kernels above on the CPU and as their array twins in ``kernels/array_ops`` on a GPU."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: Any, bias: Any, running_mean: Any,
                running_var: Any, training: bool, momentum: float, eps: float) -> np.ndarray:
        xv = _ncl(x)
        ctx.training = training
        ctx.input_shape = x.shape
        if training:
            mean, var = _stats(xv)
            if running_mean is not None:
                count = xv.shape[0] * xv.shape[2]
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean
                running_var[...] = ((1 - momentum) * running_var
                                    + momentum * var * (count / (count - 1)))
        else:
            mean = running_mean.astype(np.float64)
            var = running_var.astype(np.float64)
        invstd = 1.0 / np.sqrt(var + eps)
        w = np.ones_like(mean) if weight is None else weight.astype(np.float64)
        b = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
        ctx.save_for_backward(xv, mean, invstd, w)
        return _affine(xv, mean, w * invstd, b).reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        xv, mean, invstd, w = ctx.saved_tensors
        gv = _ncl(grad)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        sum_g = sum_gx = None
        if need_w or need_b or (need_x and ctx.training):
            sum_g, sum_gx = _grad_sums(gv, xv, mean)
        gx = None
        if need_x:
            a = w * invstd
            if ctx.training:  # the closed form in the module docstring
                count = xv.shape[0] * xv.shape[2]
                b = -a * invstd ** 2 * sum_gx / count
                shift = -a * sum_g / count
            else:  # running statistics are constants: y is affine in x
                b, shift = np.zeros_like(a), np.zeros_like(a)
            gx = _affine2(gv, xv, mean, a, b, shift).reshape(ctx.input_shape)
        gw = sum_gx * invstd if need_w else None
        gb = sum_g if need_b else None
        return gx, gw, gb, None, None, None, None, None


def _vector(fn: str, label: str, t: Any, channels: int) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {label} must be a Tensor or None, got {type(t).__name__}")
    if t.shape != (channels,):
        raise ValueError(
            f"{fn}: {label} must have shape ({channels},), one value per channel of the "
            f"input, got shape {t.shape}"
        )


def check_batch_norm(fn: str, input: Any, running_mean: Any, running_var: Any, weight: Any,
                     bias: Any, training: bool) -> None:
    """Raise the error ``batch_norm`` would raise, naming ``fn`` (so a layer can check
    before it changes any state)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got dtype {input.dtype}")
    if input.ndim < 2:
        raise ValueError(
            f"{fn}: expected an input of shape (N, C) or (N, C, *), got shape {input.shape}"
        )
    channels = input.shape[1]
    for label, t in (("running_mean", running_mean), ("running_var", running_var),
                     ("weight", weight), ("bias", bias)):
        _vector(fn, label, t, channels)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError(
            f"{fn}: running_mean and running_var are required in evaluation mode "
            "(training=False)"
        )
    if training and input.data.size // channels <= 1:
        raise ValueError(
            f"{fn}: expected more than 1 value per channel when training, got input of "
            f"shape {input.shape}"
        )


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over channel dimension 1 of ``(N, C)``, ``(N, C, L)`` or
    ``(N, C, H, W)`` input.

    ``y = γ·(x - μ)/√(σ² + ε) + β`` per channel ``c``, where in training ``μ`` and ``σ²``
    are the mean and biased variance over the batch and spatial positions (``M`` values),
    and the running estimates are updated in place with the unbiased variance::

        running_mean ← (1 - momentum)·running_mean + momentum·μ
        running_var  ← (1 - momentum)·running_var  + momentum·σ²·M/(M - 1)

    In evaluation ``μ, σ²`` are ``running_mean, running_var``.

    Parameters
    ----------
    input : Tensor
        Floating point, ``(N, C, *)``.
    running_mean, running_var : Tensor or None
        ``(C,)`` running estimates; updated in training, used in evaluation. None in
        training means: do not track.
    weight, bias : Tensor, optional
        ``γ`` and ``β``, shape ``(C,)`` (1 and 0 when None).
    training : bool
        Use batch statistics (and update the running ones) rather than running ones.
    momentum : float
        Weight of the new batch in the running estimates.
    eps : float
        Added to the variance for numerical stability.
    """
    check_batch_norm("batch_norm", input, running_mean, running_var, weight, bias, training)
    return BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training),
                           float(momentum), float(eps))


# ---------------------------------------------------------------------------- layer norm


class LayerNorm(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: Any, bias: Any, size: int,
                eps: float) -> np.ndarray:
        rows = _contiguous(x).reshape(-1, size)
        # Statistics in float64: a float32 mean of values far from 0 (say 1e4 ± 1) is off
        # by its rounding error, which every normalised value would inherit.
        centred = rows - rows.mean(axis=1, keepdims=True, dtype=np.float64)
        rstd = 1 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + eps)
        xhat = (centred * rstd).astype(x.dtype, copy=False)
        rstd = rstd.astype(x.dtype, copy=False)
        w = None if weight is None else weight.reshape(-1)
        y = xhat if w is None else xhat * w
        if bias is not None:
            y = y + bias.reshape(-1)
        ctx.save_for_backward(xhat, rstd, w)
        ctx.shapes = (x.shape, None if weight is None else weight.shape)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        xhat, rstd, w = ctx.saved_tensors
        x_shape, w_shape = ctx.shapes
        g = _contiguous(grad).reshape(xhat.shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            gxhat = g if w is None else g * w
            gx = rstd * (gxhat - gxhat.mean(axis=1, keepdims=True)
                         - xhat * (gxhat * xhat).mean(axis=1, keepdims=True))
            gx = gx.reshape(x_shape)
        if need_w:
            gw = (g * xhat).sum(axis=0).reshape(w_shape)
        if need_b:
            gb = g.sum(axis=0).reshape(w_shape)
        return gx, gw, gb, None, None


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` dimensions.

    ``y = γ·(x - μ)/√(σ² + ε) + β`` where ``μ`` and the biased ``σ²`` are taken over the
    trailing ``normalized_shape`` dimensions of each sample, and ``γ, β`` have shape
    ``normalized_shape`` (elementwise affine).

    Parameters
    ----------
    input : Tensor
        Floating point, ``(*, *normalized_shape)``.
    normalized_shape : int or sequence of int
        The trailing shape to normalise over.
    weight, bias : Tensor, optional
        ``γ`` and ``β``, shape ``normalized_shape`` (1 and 0 when None).
    eps : float
        Added to the variance for numerical stability.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    if not isinstance(input, Tensor):
        raise TypeError(f"layer_norm: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"layer_norm: input must be floating point, got dtype {input.dtype}")
    if not shape or len(shape) > input.ndim or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(
            f"layer_norm: normalized_shape={shape} must be non-empty and equal the input's "
            f"last dimensions, but the input has shape {input.shape}"
        )
    for label, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != shape):
            got = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(
                f"layer_norm: {label} must be a Tensor of shape normalized_shape={shape}, "
                f"got {got}"
            )
    return LayerNorm.apply(input, weight, bias, int(np.prod(shape)), float(eps))
