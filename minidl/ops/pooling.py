"""2-D pooling: ``max_pool2d``, ``avg_pool2d`` and ``adaptive_avg_pool2d``.

A pooling layer slides a window over each channel plane of an ``(N, C, H, W)`` (or
unbatched ``(C, H, W)``) input and summarises the window by one number. Output sizes
follow PyTorch::

    OH = floor((H + 2·padding - dilation·(kernel_size - 1) - 1) / stride) + 1

(``ceil`` instead of ``floor`` with ``ceil_mode=True``, where a last window that would
start in the right padding is dropped); the same for ``OW``.

The loops run over channel planes in parallel as Numba kernels. Every plane is
independent, so the backward scatter needs no locking. The kernels are module-level
functions with ``cache=True`` so that they compile once, not in every process. Tensors on
a ``cuda`` device go through the array versions in ``minidl/kernels/array_ops.py``
instead (same results, run by CuPy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from minidl.autograd import Context, Function
from minidl.kernels import array_ops as _array_ops
from minidl.ops.arguments import int_pair
from minidl.tensor import Tensor

IntPair = int | tuple[int, int]

# ---------------------------------------------------------------------------- kernels


@numba.njit(cache=True)
def _max_pool_plane(x, rows, cols, sh, sw, ph, pw, dh, dw, out, idx):
    """Max pooling of one plane, any window geometry.

    ``rows[0][i] <= tap < rows[1][i]`` are the taps of output row ``i`` that fall inside
    the input (``cols`` likewise), precomputed so the loops need no bounds checks.
    PyTorch's rule: the first maximum in row-major window order wins a tie, and a NaN
    beats everything (so it propagates).
    """
    width = x.shape[1]
    for oh in range(out.shape[0]):
        h0 = oh * sh - ph
        for ow in range(out.shape[1]):
            w0 = ow * sw - pw
            best = -np.inf
            where = (h0 + rows[0][oh] * dh) * width + w0 + cols[0][ow] * dw  # first tap
            for i in range(rows[0][oh], rows[1][oh]):
                h = h0 + i * dh
                for j in range(cols[0][ow], cols[1][ow]):
                    w = w0 + j * dw
                    v = x[h, w]
                    if v > best or v != v:
                        best = v
                        where = h * width + w
            out[oh, ow] = best
            idx[oh, ow] = where


@numba.njit(cache=True, parallel=True)
def _max_pool_forward(x, rows, cols, sh, sw, ph, pw, dh, dw, out, idx):
    for p in numba.prange(x.shape[0]):
        _max_pool_plane(x[p], rows, cols, sh, sw, ph, pw, dh, dw, out[p], idx[p])


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _max_pool_tiles_forward(x, rows, cols, kh, kw, out, idx):
    """The common case, windows that tile the input (stride = kernel_size, no padding or
    dilation), about 4x faster than ``_max_pool_plane``.

    The NaN test there is a branch per tap that the CPU mispredicts on random data; here
    ``take`` is a plain comparison that compiles to a conditional move, and a plane that
    holds a NaN is redone by ``_max_pool_plane`` (NaN never wins a ``>``).
    """
    width = x.shape[2]
    for p in numba.prange(x.shape[0]):
        nans = 0
        for oh in range(out.shape[1]):
            for ow in range(out.shape[2]):
                h0, w0 = oh * kh, ow * kw
                best = x[p, h0, w0]
                where = h0 * width + w0
                for h in range(h0, h0 + kh):
                    for w in range(w0, w0 + kw):
                        v = x[p, h, w]
                        nans += v != v
                        take = v > best
                        best = v if take else best
                        where = h * width + w if take else where
                out[p, oh, ow] = best
                idx[p, oh, ow] = where
        if nans:
            _max_pool_plane(x[p], rows, cols, kh, kw, 0, 0, 1, 1, out[p], idx[p])


@numba.njit(cache=True, parallel=True)
def _max_pool_backward(grad, idx, gx):
    planes, n_out = grad.shape
    for p in numba.prange(planes):
        gx[p, :] = 0
        for o in range(n_out):
            gx[p, idx[p, o]] += grad[p, o]


@numba.njit(cache=True, parallel=True)
def _window_mean_forward(x, h0, h1, w0, w1, divisor, out):
    planes = x.shape[0]
    out_h, out_w = out.shape[1], out.shape[2]
    for p in numba.prange(planes):
        for oh in range(out_h):
            for ow in range(out_w):
                s = 0.0  # float64 accumulator, also for float32 input
                for h in range(h0[oh], h1[oh]):
                    for w in range(w0[ow], w1[ow]):
                        s += x[p, h, w]
                out[p, oh, ow] = s / divisor[oh, ow]


@numba.njit(cache=True, parallel=True)
def _window_mean_backward(grad, h0, h1, w0, w1, divisor, gx):
    planes = grad.shape[0]
    out_h, out_w = grad.shape[1], grad.shape[2]
    for p in numba.prange(planes):
        gx[p] = 0
        for oh in range(out_h):
            for ow in range(out_w):
                g = grad[p, oh, ow] / divisor[oh, ow]
                for h in range(h0[oh], h1[oh]):
                    for w in range(w0[ow], w1[ow]):
                        gx[p, h, w] += g


# ---------------------------------------------------------------------------- argument checks


def _check_input(fn: str, input: Any) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got dtype {input.dtype}")
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(
            f"{fn}: expected a non-empty 3-D (C, H, W) or 4-D (N, C, H, W) input, "
            f"got shape {input.shape}"
        )


def _output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``."""
    n = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1  # the last window would start in the right padding
    return n


def check_pool_args(fn: str, kernel_size: IntPair, stride: IntPair | None, padding: IntPair,
                    dilation: IntPair) -> tuple[tuple[int, int], ...]:
    """Checked ``kernel_size, stride, padding, dilation`` as pairs (``fn`` names the caller in
    errors); ``stride`` None (or empty) means ``kernel_size``."""
    k = int_pair(fn, "kernel_size", kernel_size, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        int_pair(fn, "stride", stride, 1)
    p = int_pair(fn, "padding", padding, 0)
    d = int_pair(fn, "dilation", dilation, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{fn}: padding {padding} must be at most half of kernel_size {kernel_size} "
            "(padding <= kernel_size // 2 in each dimension)"
        )
    return k, s, p, d


def check_divisor_override(fn: str, divisor_override: Any) -> None:
    if divisor_override is not None and (
            not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(
            f"{fn}: divisor_override must be a non-zero int or None, got {divisor_override!r}"
        )


def check_output_size(fn: str, output_size: Any) -> tuple[int | None, int | None]:
    """``output_size`` of adaptive pooling as a checked pair."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2 or not all(v is None or (isinstance(v, (int, np.integer))
                                                and not isinstance(v, bool) and v >= 1)
                                  for v in sizes):
        raise ValueError(
            f"{fn}: output_size must be a positive int or a pair of positive ints (or None), "
            f"got {output_size!r}"
        )
    return sizes


def _window(fn: str, input: Tensor, kernel_size: IntPair, stride: IntPair | None,
            padding: IntPair, dilation: IntPair,
            ceil_mode: bool) -> tuple[tuple[int, ...], tuple[int, int]]:
    """Checked ``(kh, kw, sh, sw, ph, pw, dh, dw)`` and the output's ``(OH, OW)``."""
    k, s, p, d = check_pool_args(fn, kernel_size, stride, padding, dilation)
    height, width = input.shape[-2:]
    out = tuple(_output_size(n, k[i], s[i], p[i], d[i], ceil_mode)
                for i, n in enumerate((height, width)))
    if min(out) < 1:
        raise ValueError(
            f"{fn}: input of spatial size {height}x{width} gives an output of size "
            f"{out[0]}x{out[1]} with kernel_size={kernel_size}, stride={s}, "
            f"padding={padding}, dilation={dilation}; the output must be at least 1x1"
        )
    return (k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]), out


def _planes(x: np.ndarray) -> np.ndarray:
    """``x`` as a C-contiguous stack of channel planes ``(N·C, H, W)``."""
    if _array_ops.on_device(x):  # np.ascontiguousarray would make a host array
        return x.reshape(-1, *x.shape[-2:])
    return np.ascontiguousarray(x).reshape(-1, *x.shape[-2:])


# ---------------------------------------------------------------------------- max pooling


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, rows: tuple, cols: tuple, window: tuple[int, ...],
                sink: list | None) -> np.ndarray:
        planes = _planes(x)
        out_hw = (rows[0].size, cols[0].size)
        if _array_ops.on_device(x):
            out, idx, ctx.geometry = _array_ops.max_pool2d_forward(planes, rows, cols, window)
            return MaxPool2d._finish(ctx, x, out, idx, out_hw, sink)
        out = np.empty((planes.shape[0], *out_hw), dtype=x.dtype)
        idx = np.empty(out.shape, dtype=np.int64)
        kh, kw, sh, sw, ph, pw, dh, dw = window
        tiles = (sh, sw, ph, pw, dh, dw) == (kh, kw, 0, 0, 1, 1) and \
            out_hw[0] * kh <= x.shape[-2] and out_hw[1] * kw <= x.shape[-1]
        if tiles:
            _max_pool_tiles_forward(planes, rows, cols, kh, kw, out, idx)
        else:
            _max_pool_forward(planes, rows, cols, sh, sw, ph, pw, dh, dw, out, idx)
        return MaxPool2d._finish(ctx, x, out, idx, out_hw, sink)

    @staticmethod
    def _finish(ctx: Context, x: np.ndarray, out: np.ndarray, idx: np.ndarray,
                out_hw: tuple[int, int], sink: list | None) -> np.ndarray:
        ctx.save_for_backward(idx)
        ctx.input_shape = x.shape
        if sink is not None:  # apply returns one tensor; the indices leave through here
            sink.append(idx.reshape(*x.shape[:-2], *out_hw))
        return out.reshape(*x.shape[:-2], *out_hw)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (idx,) = ctx.saved_tensors
        shape = ctx.input_shape
        planes = idx.shape[0]
        if _array_ops.on_device(grad):
            gx = _array_ops.max_pool2d_backward(grad.reshape(idx.shape), idx, ctx.geometry)
            return gx.reshape(shape), None, None, None, None
        gx = np.empty((planes, shape[-2] * shape[-1]), dtype=grad.dtype)
        _max_pool_backward(np.ascontiguousarray(grad).reshape(planes, -1),
                           idx.reshape(planes, -1), gx)
        return gx.reshape(shape), None, None, None, None


def _max_taps(n_out: int, size: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, ...]:
    """For each output position, the range ``lo <= i < hi`` of window taps inside the input
    (tap ``i`` reads input position ``o·s - p + i·d``)."""
    start = np.arange(n_out, dtype=np.int64) * s - p
    lo = (np.maximum(-start, 0) + d - 1) // d
    hi = np.minimum(k, (size - start + d - 1) // d)
    return lo, hi


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)`` input.

    ``out[n, c, i, j] = max_{a < kh, b < kw} x[n, c, i·sh - ph + a·dh, j·sw - pw + b·dw]``,
    where positions in the (implicit, -inf) padding never win.

    Parameters
    ----------
    input : Tensor
        Floating-point ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Step between windows; ``kernel_size`` when None (non-overlapping windows).
    padding : int or (int, int)
        Implicit -inf padding on both sides; at most ``kernel_size // 2``.
    dilation : int or (int, int)
        Spacing between the window's taps.
    ceil_mode : bool
        Round the output size up (a partial last window), as described in the module
        docstring.
    return_indices : bool
        Also return, for every output, the flat index ``h·W + w`` of the chosen input in
        its plane (int64, as ``nn.MaxUnpool2d`` in PyTorch expects).

    Returns
    -------
    Tensor or (Tensor, Tensor)
        The pooled tensor, and the indices when ``return_indices``.

    Notes
    -----
    The gradient flows only to the chosen element of each window: on a tie, the first
    maximum in row-major window order (PyTorch's choice); a NaN always wins.
    """
    _check_input("max_pool2d", input)
    (kh, kw, sh, sw, ph, pw, dh, dw), (out_h, out_w) = _window(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    rows = _max_taps(out_h, input.shape[-2], kh, sh, ph, dh)
    cols = _max_taps(out_w, input.shape[-1], kw, sw, pw, dw)
    if (rows[0] >= rows[1]).any() or (cols[0] >= cols[1]).any():
        # PyTorch returns -inf with an index outside the plane here.
        raise ValueError(
            f"max_pool2d: with kernel_size={kernel_size}, stride={stride}, padding={padding} "
            f"and dilation={dilation}, some windows over the {input.shape[-2]}x"
            f"{input.shape[-1]} input hold only padding; use a smaller dilation or padding"
        )
    window = (kh, kw, sh, sw, ph, pw, dh, dw)
    if not return_indices:
        return MaxPool2d.apply(input, rows, cols, window, None)
    sink: list = []
    out = MaxPool2d.apply(input, rows, cols, window, sink)
    return out, Tensor._make(sink[0])


# ---------------------------------------------------------------------------- average pooling


class AvgPool2d(Function):
    """Mean over rectangular windows: rows ``h0[i]:h1[i]``, columns ``w0[j]:w1[j]``,
    divided by ``divisor[i, j]`` (which need not be the window's size)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, h0: np.ndarray, h1: np.ndarray, w0: np.ndarray,
                w1: np.ndarray, divisor: np.ndarray) -> np.ndarray:
        planes = _planes(x)
        ctx.input_shape = x.shape
        if _array_ops.on_device(x):
            out, (rh, rw) = _array_ops.window_mean_forward(planes, h0, h1, w0, w1, divisor)
            ctx.save_for_backward(rh, rw, divisor)
            return out.reshape(*x.shape[:-2], h0.size, w0.size)
        out = np.empty((planes.shape[0], h0.size, w0.size), dtype=x.dtype)
        _window_mean_forward(planes, h0, h1, w0, w1, divisor, out)
        ctx.save_for_backward(h0, h1, w0, w1, divisor)
        return out.reshape(*x.shape[:-2], h0.size, w0.size)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        shape = ctx.input_shape
        if _array_ops.on_device(grad):
            rh, rw, divisor = ctx.saved_tensors
            gx = _array_ops.window_mean_backward(_planes(grad), (rh, rw), divisor)
            return gx.reshape(shape), None, None, None, None, None
        h0, h1, w0, w1, divisor = ctx.saved_tensors
        gx = np.empty((int(np.prod(shape[:-2])), *shape[-2:]), dtype=grad.dtype)
        _window_mean_backward(_planes(grad), h0, h1, w0, w1, divisor, gx)
        return gx.reshape(shape), None, None, None, None, None


class AdaptiveAvgPool2d(AvgPool2d):
    """``AvgPool2d`` with windows chosen from the output size (its own name in the graph)."""


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over ``(N, C, H, W)`` or ``(C, H, W)`` input.

    ``out[n, c, i, j] = (1 / D) Σ x[n, c, h, w]`` over the window rows
    ``i·sh - ph ≤ h < i·sh - ph + kh`` and columns likewise, clipped to the input. The
    zero padding adds nothing to the sum; the divisor ``D`` is

    - ``divisor_override`` when given;
    - else with ``count_include_pad``: the window's size counting padding (but not the
      part of a ``ceil_mode`` window beyond the right padding), as PyTorch does;
    - else the number of input elements in the window.

    Parameters
    ----------
    input : Tensor
        Floating-point ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
    kernel_size, stride, padding : int or (int, int)
        As for ``max_pool2d`` (``stride`` defaults to ``kernel_size``).
    ceil_mode : bool
        Round the output size up.
    count_include_pad : bool
        Count padded positions in the divisor.
    divisor_override : int, optional
        A fixed non-zero divisor.
    """
    _check_input("avg_pool2d", input)
    check_divisor_override("avg_pool2d", divisor_override)
    (kh, kw, sh, sw, ph, pw, _, _), (out_h, out_w) = _window(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    rows = _avg_windows(out_h, input.shape[-2], kh, sh, ph)
    cols = _avg_windows(out_w, input.shape[-1], kw, sw, pw)
    if divisor_override is not None:
        divisor = np.full((out_h, out_w), float(divisor_override))
    else:
        size = 2 if count_include_pad else 3  # padded or clipped window lengths
        divisor = np.outer(rows[size], cols[size]).astype(np.float64)
    return AvgPool2d.apply(input, rows[0], rows[1], cols[0], cols[1], divisor)


def _avg_windows(n_out: int, size: int, k: int, s: int, p: int) -> tuple[np.ndarray, ...]:
    """Window starts and ends clipped to the input, and lengths with and without padding."""
    start = np.arange(n_out, dtype=np.int64) * s - p
    end = np.minimum(start + k, size + p)
    padded = end - start
    start, end = np.maximum(start, 0), np.minimum(end, size)
    return start, end, padded, end - start


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size, whatever the input size.

    Output row ``i`` of ``OH`` averages input rows ``floor(i·H/OH) ≤ h < ceil((i+1)·H/OH)``
    (columns likewise), so windows may differ in size by one and may overlap.

    Parameters
    ----------
    input : Tensor
        Floating-point ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
    output_size : int or (int or None, int or None)
        ``(OH, OW)``; an int means a square output and None keeps that input size.
    """
    _check_input("adaptive_avg_pool2d", input)
    sizes = check_output_size("adaptive_avg_pool2d", output_size)
    in_hw = input.shape[-2:]
    out_h, out_w = (n if v is None else int(v) for v, n in zip(sizes, in_hw, strict=True))
    h0, h1 = _adaptive_windows(out_h, in_hw[0])
    w0, w1 = _adaptive_windows(out_w, in_hw[1])
    divisor = np.outer(h1 - h0, w1 - w0).astype(np.float64)
    return AdaptiveAvgPool2d.apply(input, h0, h1, w0, w1, divisor)


def _adaptive_windows(n_out: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n_out, dtype=np.int64)
    return i * size // n_out, -(-(i + 1) * size // n_out)
