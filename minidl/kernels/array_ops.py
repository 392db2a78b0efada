"""The device path of the CNN ops: convolution, pooling and batch norm as array code.

The CPU versions of these ops are Numba kernels (``minidl/kernels/conv.py``,
``minidl/ops/pooling.py``, ``minidl/ops/normalization.py``), which only take NumPy arrays.
For a tensor on a ``cuda`` device the ops call the functions here instead. They are
written with NumPy functions that CuPy implements too (slicing, ``np.pad``, ``np.stack``,
``@`` (matmul), ``np.where``, reductions) and make every new array with ``np.*_like`` or
by moving a small host array with ``backend.to_device``, so on a GPU each call runs as
CuPy on the input's device: the convolution's matrix products are cuBLAS batched GEMMs,
the rest are CuPy's elementwise and reduction kernels. They compute the same results as
the CPU path (same saved values, same max-pool tie rule, same float64 statistics in
batch norm); only the order of floating-point additions may differ.

The Python loops below run over the taps of a kernel window (``KH·KW``, 9 for a 3x3
kernel), never over pixels or samples: each step is one array operation on the whole
batch, which is how GPU array code is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend

Pair = tuple[int, int]
Padding = tuple[int, int, int, int]  # top, bottom, left, right


def on_device(a: Any) -> bool:
    """Whether ``a`` is a ``cuda`` array (CuPy, or SimulatedCudaArray on the simulator)."""
    return type(a) is not np.ndarray and backend.device_of(a).type == "cuda"


def _like(host: np.ndarray, x: Any) -> Any:
    """The small host array ``host`` on ``x``'s device."""
    return backend.to_device(host, backend.device_of(x))


def _host(a: Any) -> np.ndarray:
    return backend.to_device(a, backend.CPU)


def _tap_slices(tap: Pair, step: Pair, dilation: Pair, out_hw: Pair) -> tuple[slice, slice]:
    """Where kernel tap ``(p, q)`` reads a padded plane for every output pixel ``(i, j)``:
    rows ``i·sh + p·dh``, columns ``j·sw + q·dw``."""
    (p, q), (sh, sw), (dh, dw), (oh, ow) = tap, step, dilation, out_hw
    return (slice(p * dh, p * dh + sh * (oh - 1) + 1, sh),
            slice(q * dw, q * dw + sw * (ow - 1) + 1, sw))


def _pad(x: Any, padding: Padding) -> Any:
    """``x`` ``(N, C, H, W)`` zero-padded by ``(top, bottom, left, right)``."""
    if not any(padding):
        return x
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def _taps(kh: int, kw: int) -> list[Pair]:
    """Kernel taps in row-major window order."""
    return [(p, q) for p in range(kh) for q in range(kw)]


# ---------------------------------------------------------------------------- convolution


def _im2col(xp: Any, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> Any:
    """Patch matrix of the padded batch ``xp``: ``(N, C, KH·KW, OH, OW)``, where
    ``[n, c, p·KW + q, i, j] = xp[n, c, i·sh + p·dh, j·sw + q·dw]``."""
    return np.stack([xp[:, :, rows, cols] for rows, cols in
                     (_tap_slices(t, stride, dilation, out_hw) for t in _taps(*kernel))],
                    axis=2)


def conv2d_forward(x: Any, weight: Any, bias: Any, stride: Pair, padding: Padding,
                   dilation: Pair, groups: int) -> Any:
    """``minidl.kernels.conv.conv2d_forward`` for device arrays: im2col on the whole batch,
    then one batched matrix product ``y[n, g] = W_g · cols[n, g]``."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    top, bottom, left, right = padding
    xp = _pad(x, padding)
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    cols = _im2col(xp, (kh, kw), stride, dilation, (oh, ow))
    cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
    y = weight.reshape(groups, o // groups, cg * kh * kw) @ cols
    y = y.reshape(n, o, oh, ow)
    if bias is not None:
        y += bias.reshape(o, 1, 1)
    return y


def conv2d_backward(grad: Any, x: Any, weight: Any, stride: Pair, padding: Padding,
                    dilation: Pair, groups: int, need_input: bool = True,
                    need_weight: bool = True, need_bias: bool = True) -> tuple:
    """``minidl.kernels.conv.conv2d_backward`` for device arrays (only ``x`` was saved, so
    the patch matrix is rebuilt): ``∂L/∂W_g = Σ_n G[n, g] · cols[n, g]ᵀ``,
    ``∂L/∂cols = W_gᵀ · G[n, g]``, added back tap by tap onto the padded input (col2im)."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    oh, ow = grad.shape[2:]
    top, bottom, left, right = padding
    gb = grad.sum(axis=(0, 2, 3)) if need_bias else None
    gx = gw = None
    g = grad.reshape(n, groups, o // groups, oh * ow)
    if need_weight:
        cols = _im2col(_pad(x, padding), (kh, kw), stride, dilation, (oh, ow))
        cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
        gw = (g @ cols.swapaxes(2, 3)).sum(axis=0).reshape(weight.shape)
    if need_input:
        w_t = weight.reshape(groups, o // groups, cg * kh * kw).swapaxes(1, 2)
        gcols = (w_t @ g).reshape(n, c, kh * kw, oh, ow)
        gxp = np.zeros_like(x, shape=(n, c, h + top + bottom, w + left + right))
        for k, tap in enumerate(_taps(kh, kw)):
            rows, cols_ = _tap_slices(tap, stride, dilation, (oh, ow))
            gxp[:, :, rows, cols_] += gcols[:, :, k]
        gx = gxp[:, :, top: top + h, left: left + w].copy()
    return gx, gw, gb


# ---------------------------------------------------------------------------- max pooling


class MaxPoolGeometry:
    """Where the taps of max-pooling windows read, per tap ``k = p·KW + q`` (row-major
    window order), built once in the forward and kept for the backward:

    ``slices[k]`` the tap's rows and columns in the padded planes; ``inside[k]``
    ``(OH, OW)`` whether it falls inside the input (padding never wins); ``index[k]``
    ``(OH, OW)`` the flat index ``h·W + w`` it reads; ``first`` the index of each window's
    first tap inside the input (where the CPU kernel starts); ``pad`` the padding
    ``(top, bottom, left, right)`` that makes every slice fit (``ceil_mode`` windows may
    reach past ``padding``). Computed on the host from ``rows``/``cols`` (``_max_taps`` in
    ``minidl/ops/pooling.py``), then moved to ``like``'s device in one go.
    """

    def __init__(self, rows: tuple, cols: tuple, window: tuple[int, ...], in_hw: Pair,
                 like: Any):
        kh, kw, sh, sw, ph, pw, dh, dw = window
        (h, w), (oh, ow) = in_hw, (rows[0].size, cols[0].size)
        (lo_r, hi_r), (lo_c, hi_c) = [[_host(a)[:, None] for a in rows],
                                      [_host(a)[None, :] for a in cols]]
        r0 = np.arange(oh)[:, None] * sh - ph  # input row of tap p = 0
        c0 = np.arange(ow)[None, :] * sw - pw
        taps = _taps(kh, kw)
        self.in_hw = in_hw
        self.slices = [_tap_slices(t, (sh, sw), (dh, dw), (oh, ow)) for t in taps]
        self.inside = _like(np.stack([(lo_r <= p) & (p < hi_r) & (lo_c <= q) & (q < hi_c)
                                      for p, q in taps]), like)
        self.index = _like(np.stack([(r0 + p * dh) * w + c0 + q * dw for p, q in taps]), like)
        self.first = _like((r0 + lo_r * dh) * w + c0 + lo_c * dw, like)
        self.pad = (ph, max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - ph),
                    pw, max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - pw))


def max_pool2d_forward(planes: Any, rows: tuple, cols: tuple, window: tuple[int, ...],
                       ) -> tuple[Any, Any, MaxPoolGeometry]:
    """Max pooling of ``planes`` ``(P, H, W)``: the output ``(P, OH, OW)``, the flat index
    ``h·W + w`` of each chosen input (int64) and the geometry for the backward.

    As the CPU kernel does it: taps are visited in row-major window order and one replaces
    the best so far when it is larger or NaN, so the first maximum wins a tie and a NaN
    (the last one) beats everything."""
    geo = MaxPoolGeometry(rows, cols, window, planes.shape[1:], planes)
    top, bottom, left, right = geo.pad
    xp = np.pad(planes, ((0, 0), (top, bottom), (left, right)), constant_values=-np.inf)
    shape = (planes.shape[0], *geo.first.shape)
    best = np.full_like(planes, -np.inf, shape=shape)
    idx = np.zeros_like(planes, dtype=np.int64, shape=shape) + geo.first
    for k, (r, c) in enumerate(geo.slices):
        v = xp[:, r, c]
        take = geo.inside[k] & ((v > best) | (v != v))
        best = np.where(take, v, best)
        idx = np.where(take, geo.index[k], idx)
    return best, idx, geo


def max_pool2d_backward(grad: Any, idx: Any, geo: MaxPoolGeometry) -> Any:
    """Gradient of ``max_pool2d_forward`` for ``grad`` ``(P, OH, OW)``: each output's
    gradient goes to the input it chose, added tap by tap (windows may overlap, so one
    input can receive several). Returns ``(P, H, W)``."""
    top, bottom, left, right = geo.pad
    h, w = geo.in_hw
    gxp = np.zeros_like(grad, shape=(grad.shape[0], h + top + bottom, w + left + right))
    for k, (r, c) in enumerate(geo.slices):
        gxp[:, r, c] += np.where(geo.inside[k] & (idx == geo.index[k]), grad, 0)
    return gxp[:, top: top + h, left: left + w]


# ---------------------------------------------------------------------------- average pooling


def _window_matrix(start: Any, end: Any, size: int, like: Any) -> Any:
    """``(n_out, size)`` matrix, 1 where input position ``s`` is in window ``i``
    (``start[i] <= s < end[i]``), in ``like``'s dtype and on its device."""
    start, end = _host(start), _host(end)
    s = np.arange(size)
    m = (start[:, None] <= s) & (s < end[:, None])
    return _like(m.astype(like.dtype), like)


def window_mean_forward(planes: Any, h0: Any, h1: Any, w0: Any, w1: Any,
                        divisor: Any) -> tuple[Any, tuple[Any, Any]]:
    """Average pooling of ``planes`` ``(P, H, W)`` over windows ``h0[i]:h1[i]`` ×
    ``w0[j]:w1[j]``, divided by ``divisor[i, j]``: window sums as two matrix products
    ``R_h · x · R_wᵀ``. Returns the output and ``(R_h, R_w)`` for the backward."""
    rh = _window_matrix(h0, h1, planes.shape[1], planes)
    rw = _window_matrix(w0, w1, planes.shape[2], planes)
    sums = rh @ planes @ rw.T
    return sums / divisor.astype(planes.dtype), (rh, rw)


def window_mean_backward(grad: Any, mats: tuple[Any, Any], divisor: Any) -> Any:
    """Gradient of ``window_mean_forward``: ``R_hᵀ · (grad / divisor) · R_w``."""
    rh, rw = mats
    return rh.T @ (grad / divisor.astype(grad.dtype)) @ rw


# ---------------------------------------------------------------------------- batch norm


def channel_stats(x: Any) -> tuple[Any, Any]:
    """Per-channel mean and biased variance of ``x`` ``(N, C, L)``, in float64 (the twin
    of ``ops.normalization._channel_stats``)."""
    return x.mean(axis=(0, 2), dtype=np.float64), x.var(axis=(0, 2), dtype=np.float64)


def channel_grad_sums(g: Any, x: Any, mean: Any) -> tuple[Any, Any]:
    """Per channel, ``Σ g`` and ``Σ g·(x - mean)``, in float64."""
    return (g.sum(axis=(0, 2), dtype=np.float64),
            (g * (x - mean[:, None])).sum(axis=(0, 2), dtype=np.float64))


def channel_affine(x: Any, mean: Any, scale: Any, shift: Any) -> Any:
    """``(x - mean)·scale + shift`` with per-channel coefficients, in ``x``'s dtype."""
    return ((x - mean[:, None]) * scale[:, None] + shift[:, None]).astype(x.dtype)


def channel_affine2(g: Any, x: Any, mean: Any, a: Any, b: Any, shift: Any) -> Any:
    """``g·a + (x - mean)·b + shift`` with per-channel coefficients, in ``g``'s dtype."""
    return (g * a[:, None] + (x - mean[:, None]) * b[:, None] + shift[:, None]).astype(g.dtype)
