"""2-D convolution on arrays (no autograd): a readable reference and a fast path.

A convolution layer with weight ``w`` of shape ``(O, C/groups, KH, KW)`` computes, for
every sample ``n``, output channel ``o`` and output pixel ``(i, j)``::

    y[n, o, i, j] = b[o] + Σ_c Σ_p Σ_q  w[o, c, p, q] · xp[n, g·Cg + c, i·sh + p·dh, j·sw + q·dw]

where ``xp`` is the input zero-padded by ``padding``, ``g = o // (O/groups)`` is the group
of output channel ``o``, ``Cg = C/groups`` its number of input channels, ``(sh, sw)`` the
stride and ``(dh, dw)`` the dilation. The output has ``OH × OW`` pixels::

    OH = (H + pad_top + pad_bottom - dh·(KH - 1) - 1) // sh + 1      (OW alike)

Its gradients (``gy = ∂L/∂y``) are the same sums read the other way round::

    ∂L/∂w[o, c, p, q] = Σ_n Σ_i Σ_j  gy[n, o, i, j] · xp[n, g·Cg + c, i·sh + p·dh, j·sw + q·dw]
    ∂L/∂xp[n, g·Cg + c, i·sh + p·dh, j·sw + q·dw] += Σ_{o in g} gy[n, o, i, j] · w[o, c, p, q]
    ∂L/∂b[o] = Σ_n Σ_i Σ_j  gy[n, o, i, j]

``conv2d_reference`` and ``conv2d_backward_reference`` write these sums as one loop over
the kernel offsets ``(p, q)``; read them first.

The fast path (``conv2d_forward``, ``conv2d_backward``) turns the sums into matrix
products (im2col): the patches of a few samples are copied into a matrix ``cols`` with one
row per (input channel, p, q) and one column per output pixel, so that

    y = W · cols,        ∂L/∂W = ∂L/∂y · colsᵀ,        ∂L/∂cols = Wᵀ · ∂L/∂y

are single BLAS calls (``W`` is the weight as an ``(O, Cg·KH·KW)`` matrix), and
``∂L/∂cols`` is added back onto the input pixels it came from (col2im). Why it is fast:

- The batch is processed a few samples at a time, so ``cols`` (``CHUNK_BYTES``) stays in
  the CPU's last-level cache between being written and being read by the matrix product;
  the whole batch's ``cols`` (9x the input for a 3x3 kernel) would make every pass a trip
  to main memory.
- The patch copy is a NumPy copy from a strided *view* of the input (no Python loop over
  pixels). With stride 1 each patch row is a single contiguous run of the input plane,
  taken across its full padded width (see ``_Geometry``): long runs copy several times
  faster than the 20-odd pixels of one output row, and the few extra columns cost ~8% more
  matrix-product work.
- Nothing is materialised for the whole batch and nothing is saved for backward except the
  input: backward rebuilds each chunk's ``cols`` (a cheap in-cache copy) instead of
  keeping 9x the input alive between forward and backward.
- The loops NumPy does badly (col2im's adds, moving output rows between the patch-column
  and NCHW layouts: rows of ~24 pixels, where NumPy's per-row overhead costs 3-6x) are
  small serial Numba kernels. Parallel Numba kernels were tried for im2col/col2im and
  lost: with Numba's default OpenMP threading layer, each switch between a ``prange``
  region and a BLAS call leaves one library's idle threads spinning while the other
  works; 128 alternations of a parallel im2col and a GEMM took 1.1 s instead of 0.06 s
  on the 2-core machine.

Measured (benchmarks/conv.py, MNIST CNN convolutions at batch 128, forward + backward,
2 threads): about 0.5-0.65x PyTorch's time on an idle 2-core machine.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numpy.lib.stride_tricks import as_strided

Pair = tuple[int, int]
Padding = tuple[int, int, int, int]  # top, bottom, left, right

# Bytes of one chunk's patch matrix plus its output columns. Measured on the MNIST CNN's
# convolutions (benchmarks/conv.py, 2 cores, conv2 forward + backward): on an idle machine
# 4-8 MiB are fastest (~90 ms), 16 MiB ~10% slower, the whole batch at once ~50% slower.
# But every BLAS call waits for both of its threads, so when another process holds a core
# each call can lose a scheduler time slice: there 16 MiB took ~300 ms against ~600 ms for
# 8 MiB (PyTorch ~260 ms). 16 MiB is fast on an idle machine and robust on a busy one.
CHUNK_BYTES = 16 << 20


def pair(value: int | tuple[int, int]) -> Pair:
    """``3 -> (3, 3)``; a pair is returned as a tuple of two ints."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def padding_amounts(padding: int | tuple[int, int] | str, kernel_size: Pair,
                    dilation: Pair) -> Padding:
    """Zero padding ``(top, bottom, left, right)`` for PyTorch's ``padding`` argument.

    ``'valid'`` is no padding. ``'same'`` (stride 1 only) pads a total of
    ``d·(k - 1)`` along each axis, ``total // 2`` before and the rest after, as PyTorch
    does: an even kernel gets one more row/column of padding at the bottom/right.
    """
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        out: list[int] = []
        for k, d in zip(kernel_size, dilation, strict=True):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return out[0], out[1], out[2], out[3]
    ph, pw = pair(padding)
    return ph, ph, pw, pw


def output_size(height: int, width: int, kernel_size: Pair, stride: Pair, padding: Padding,
                dilation: Pair) -> Pair:
    """``(OH, OW)``: how many kernel positions fit in the padded input (may be < 1)."""
    top, bottom, left, right = padding
    oh = (height + top + bottom - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1
    ow = (width + left + right - dilation[1] * (kernel_size[1] - 1) - 1) // stride[1] + 1
    return oh, ow


# ---------------------------------------------------------------------------- reference


def _pad(x: np.ndarray, padding: Padding) -> np.ndarray:
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def _tap(xp: np.ndarray, p: int, q: int, stride: Pair, dilation: Pair,
         out_hw: Pair) -> np.ndarray:
    """The input pixels that kernel offset ``(p, q)`` meets, one per output pixel:
    ``xp[:, :, i·sh + p·dh, j·sw + q·dw]`` for all ``(i, j)`` (a view)."""
    (sh, sw), (dh, dw), (oh, ow) = stride, dilation, out_hw
    return xp[:, :, p * dh: p * dh + sh * (oh - 1) + 1: sh, q * dw: q * dw + sw * (ow - 1) + 1: sw]


def conv2d_reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                     stride: int | Pair = 1, padding: int | Pair | str = 0,
                     dilation: int | Pair = 1, groups: int = 1) -> np.ndarray:
    """Readable 2-D convolution (cross-correlation, as in PyTorch) of an NCHW batch.

    ``y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · xp[n, g·Cg + c, i·sh + p·dh, j·sw + q·dw]``
    (see the module docstring), computed as one loop over groups and kernel offsets
    ``(p, q)``: each offset multiplies the input pixels it meets by its ``(O, Cg)`` slice of
    the weight.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C/groups, KH, KW)
    bias : ndarray, shape (O,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
    groups : int
        Input and output channels are split into ``groups`` blocks; output block ``g``
        sees only input block ``g``.

    Returns
    -------
    ndarray, shape (N, O, OH, OW), in the dtype of ``x``.
    """
    stride, dilation = pair(stride), pair(dilation)
    n, _, h, w = x.shape
    o, cg, kh, kw = weight.shape
    pad = padding_amounts(padding, (kh, kw), dilation)
    out_hw = output_size(h, w, (kh, kw), stride, pad, dilation)
    xp = _pad(x, pad)
    og = o // groups
    y = np.zeros((n, o, *out_hw), dtype=x.dtype)
    for g in range(groups):
        ins, outs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for p in range(kh):
            for q in range(kw):
                tap = _tap(xp[:, ins], p, q, stride, dilation, out_hw)  # (N, Cg, OH, OW)
                y[:, outs] += np.einsum("nchw,oc->nohw", tap, weight[outs, :, p, q])
    if bias is not None:
        y += bias[:, None, None]
    return y


def conv2d_backward_reference(grad: np.ndarray, x: np.ndarray, weight: np.ndarray,
                              stride: int | Pair = 1, padding: int | Pair | str = 0,
                              dilation: int | Pair = 1, groups: int = 1,
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readable gradients of ``conv2d_reference``: ``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` for
    ``grad = ∂L/∂y``.

    The same loop over kernel offsets: offset ``(p, q)`` sent ``xp`` pixel
    ``(i·sh + p·dh, j·sw + q·dw)`` to output pixel ``(i, j)`` through ``w[:, :, p, q]``, so

    - its weight slice gets ``Σ_{n,i,j} g[n, :, i, j] ⊗ xp[n, :, i·sh + p·dh, j·sw + q·dw]``,
    - those input pixels get ``Σ_o g[n, o, i, j] · w[o, :, p, q]`` added,

    and the bias gets ``Σ_{n,i,j} g[n, o, i, j]``. Padding pixels receive gradient too;
    cropping them off gives ``∂L/∂x``.
    """
    stride, dilation = pair(stride), pair(dilation)
    _, _, h, w = x.shape
    o, cg, kh, kw = weight.shape
    pad = padding_amounts(padding, (kh, kw), dilation)
    out_hw = grad.shape[2:]
    xp = _pad(x, pad)
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(weight)
    og = o // groups
    for g in range(groups):
        ins, outs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for p in range(kh):
            for q in range(kw):
                tap = _tap(xp[:, ins], p, q, stride, dilation, out_hw)
                gw[outs, :, p, q] = np.einsum("nohw,nchw->oc", grad[:, outs], tap)
                _tap(gxp[:, ins], p, q, stride, dilation, out_hw)[...] += np.einsum(
                    "nohw,oc->nchw", grad[:, outs], weight[outs, :, p, q])
    top, bottom, left, right = pad
    gx = gxp[:, :, top: top + h, left: left + w]
    return np.ascontiguousarray(gx), gw, grad.sum(axis=(0, 2, 3))


# ---------------------------------------------------------------------------- fast path


class _Geometry(NamedTuple):
    """How one chunk of samples is laid out as patch-matrix columns.

    Each sample owns ``span`` consecutive columns; output pixel ``(i, j)`` is column
    ``i·pitch + j`` of its sample. In general ``pitch = OW`` and ``span = OH·OW``. With
    stride 1 ("wide" layout) ``pitch`` is the padded input width ``Wp``: the patch row of
    kernel offset ``(p, q)`` is then the contiguous run of the padded plane starting at
    ``p·dh·Wp + q·dw``, and ``span = (OH - 1)·Wp + OW`` columns. The ``Wp - OW`` extra
    columns at the end of each output row are patches that wrap around the row edge: their
    outputs are computed and ignored, and their gradients are zeros.
    """

    kernel: Pair
    stride: Pair
    padding: Padding
    dilation: Pair
    out: Pair  # (OH, OW)
    padded: Pair  # (Hp, Wp)
    wide: bool
    pitch: int
    span: int


def _geometry(x_shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Padding,
              dilation: Pair) -> _Geometry:
    h, w = x_shape[2:]
    top, bottom, left, right = padding
    hp, wp = h + top + bottom, w + left + right
    oh, ow = output_size(h, w, kernel, stride, padding, dilation)
    wide = stride == (1, 1)
    pitch = wp if wide else ow
    span = (oh - 1) * wp + ow if wide else oh * ow
    return _Geometry(kernel, stride, padding, dilation, (oh, ow), (hp, wp), wide, pitch, span)


def _chunk_size(n: int, rows: int, geo: _Geometry, itemsize: int) -> int:
    """Samples per chunk: the patch matrix and the output columns fill ``CHUNK_BYTES``."""
    return max(1, min(n, CHUNK_BYTES // max(1, rows * geo.span * itemsize)))


def _padded_source(x: np.ndarray, n0: int, m: int, geo: _Geometry,
                   buf: np.ndarray | None) -> np.ndarray:
    """Samples ``n0 .. n0+m`` of ``x`` with zero padding: a view when no copy is needed,
    else copied into ``buf`` (whose border stays zero)."""
    chunk = x[n0: n0 + m]
    if buf is None:
        return chunk
    top, _, left, _ = geo.padding
    h, w = x.shape[2:]
    buf[:m, :, top: top + h, left: left + w] = chunk
    return buf[:m]


def _needs_buffer(x: np.ndarray, geo: _Geometry) -> bool:
    # The wide layout reads each padded plane as one flat run, so rows must be contiguous.
    rows_contiguous = x.strides[3] == x.itemsize and x.strides[2] == x.shape[3] * x.itemsize
    return any(geo.padding) or (geo.wide and not rows_contiguous)


def _patches(src: np.ndarray, geo: _Geometry) -> np.ndarray:
    """Read-only view of the patch matrix of ``src`` (m samples): ``(C, KH, KW, m, span)``
    in the wide layout, ``(C, KH, KW, m, OH, OW)`` otherwise.

    Element ``[c, p, q, n, i·pitch + j]`` (or ``[c, p, q, n, i, j]``) is
    ``src[n, c, i·sh + p·dh, j·sw + q·dw]``. In the wide layout ``src`` must have
    contiguous planes (``_needs_buffer``).
    """
    m, c = src.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    sn, sc, srow, scol = src.strides
    if geo.wide:
        return as_strided(src, shape=(c, kh, kw, m, geo.span),
                          strides=(sc, dh * srow, dw * scol, sn, scol), writeable=False)
    oh, ow = geo.out
    return as_strided(src, shape=(c, kh, kw, m, oh, ow),
                      strides=(sc, dh * srow, dw * scol, sn, sh * srow, sw * scol),
                      writeable=False)


def _im2col(src: np.ndarray, geo: _Geometry, cols: np.ndarray) -> None:
    """Copy the patches of ``src`` into ``cols`` of shape ``(C, KH, KW, m, span)``."""
    view = _patches(src, geo)
    if geo.wide:
        np.copyto(cols, view)
    else:
        np.copyto(cols.reshape(view.shape), view)


# The three loops below are serial Numba kernels: NumPy runs them with per-row overhead that
# costs 3-6x at rows of ~24 pixels. Serial on purpose: they run between BLAS calls, where a
# parallel region leaves Numba's OpenMP threads spinning against OpenBLAS's (module
# docstring). Every inner loop indexes a slice from 0: with a computed index such as
# ``plane[start + j]`` Numba must handle negative indices, which stops LLVM from vectorising
# the loop (measured: 5-7x slower).


@numba.njit(cache=True, error_model="numpy")
def _col2im_kernel(gcols, offsets, row_step, col_step, gx):  # pragma: no cover - compiled
    """``gx[n, c, offsets[k] + r·row_step + j·col_step] += gcols[c, k, n, r, j]``.

    ``gx`` is ``(m, C, Hp·Wp)`` (flat padded planes), ``gcols`` ``(C, KH·KW, m, R, J)``.
    """
    channels, taps, m, rows, width = gcols.shape
    for n in range(m):
        for c in range(channels):
            plane = gx[n, c]
            for k in range(taps):
                for r in range(rows):
                    start = offsets[k] + r * row_step
                    src = gcols[c, k, n, r]
                    if col_step == 1:
                        run = plane[start: start + width]
                        for j in range(width):
                            run[j] += src[j]
                    else:
                        spaced = plane[start: start + (width - 1) * col_step + 1: col_step]
                        for j in range(width):
                            spaced[j] += src[j]


@numba.njit(cache=True, error_model="numpy")
def _scatter_kernel(buf, bias, pitch, out):  # pragma: no cover - compiled
    """``out[n, o, i, j] = buf[o, n, i·pitch + j] (+ bias[o] when bias is not empty)``."""
    m, channels, oh, ow = out.shape
    for n in range(m):
        for o in range(channels):
            for i in range(oh):
                src = buf[o, n, i * pitch: i * pitch + ow]
                dst = out[n, o, i]
                if bias.size:
                    b = bias[o]
                    for j in range(ow):
                        dst[j] = src[j] + b
                else:
                    for j in range(ow):
                        dst[j] = src[j]


@numba.njit(cache=True, error_model="numpy")
def _gather_kernel(grad, pitch, buf):  # pragma: no cover - compiled
    """``buf[o, n, i·pitch + j] = grad[n, o, i, j]`` (the inverse of ``_scatter_kernel``)."""
    m, channels, oh, ow = grad.shape
    for n in range(m):
        for o in range(channels):
            for i in range(oh):
                src = grad[n, o, i]
                dst = buf[o, n, i * pitch: i * pitch + ow]
                for j in range(ow):
                    dst[j] = src[j]


def _col2im(gcols: np.ndarray, geo: _Geometry, gsrc: np.ndarray) -> None:
    """Add each patch-matrix gradient ``gcols`` ``(C, KH, KW, m, span)`` back onto the
    padded input pixels it was copied from; ``gsrc`` ``(m, C, Hp, Wp)``, C-contiguous,
    must start at zero."""
    m, c = gsrc.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    wp = geo.padded[1]
    offsets = np.array([p * dh * wp + q * dw for p in range(kh) for q in range(kw)])
    if geo.wide:  # each patch row is one run of the plane
        shaped = gcols.reshape(c, kh * kw, m, 1, geo.span)
        _col2im_kernel(shaped, offsets, 0, 1, gsrc.reshape(m, c, -1))
    else:
        shaped = gcols.reshape(c, kh * kw, m, *geo.out)
        _col2im_kernel(shaped, offsets, sh * wp, sw, gsrc.reshape(m, c, -1))


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair,
                   padding: Padding, dilation: Pair, groups: int) -> np.ndarray:
    """Fast ``conv2d_reference`` (same arguments, with ``stride``/``dilation`` as pairs and
    ``padding`` as ``(top, bottom, left, right)``); arguments must already be valid.

    Per chunk of samples: copy the patches into ``cols`` (Cg·KH·KW rows per group), one
    matrix product per group ``y_g = W_g · cols_g``, then scatter the valid columns (plus
    bias) into the NCHW output.
    """
    n, c = x.shape[:2]
    o, cg, kh, kw = weight.shape
    geo = _geometry(x.shape, (kh, kw), stride, padding, dilation)
    oh, ow = geo.out
    y = np.empty((n, o, oh, ow), dtype=x.dtype)
    rows = c * kh * kw
    nb = _chunk_size(n, rows + o, geo, x.itemsize)
    w = weight.reshape(groups, o // groups, cg * kh * kw)
    cols = np.empty(rows * nb * geo.span, dtype=x.dtype)
    out = np.empty(o * nb * geo.span, dtype=x.dtype)
    buf = (np.zeros((nb, c, *geo.padded), dtype=x.dtype) if _needs_buffer(x, geo) else None)
    no_bias = np.empty(0, dtype=x.dtype)
    for n0 in range(0, n, nb):
        m = min(nb, n - n0)
        cm = cols[: rows * m * geo.span].reshape(c, kh, kw, m, geo.span)
        _im2col(_padded_source(x, n0, m, geo, buf), geo, cm)
        cg_ = cm.reshape(groups, rows // groups, m * geo.span)
        om = out[: o * m * geo.span].reshape(groups, o // groups, m * geo.span)
        for g in range(groups):
            np.matmul(w[g], cg_[g], out=om[g])
        _scatter_kernel(om.reshape(o, m, geo.span), no_bias if bias is None else bias,
                        geo.pitch, y[n0: n0 + m])
    return y


def conv2d_backward(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: Pair,
                    padding: Padding, dilation: Pair, groups: int, need_input: bool = True,
                    need_weight: bool = True, need_bias: bool = True,
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients ``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of ``conv2d_forward`` for ``grad = ∂L/∂y``;
    those not asked for are None.

    Per chunk: ``grad`` is copied into patch-matrix column order ``G`` (zeros in the unused
    columns), ``∂L/∂W_g += cols_g · G_gᵀ`` (``cols`` rebuilt from ``x``), and
    ``Wᵀ_g · G_g`` is added back onto the input pixels (col2im).
    """
    n, c, h, w_in = x.shape
    o, cg, kh, kw = weight.shape
    og = o // groups
    geo = _geometry(x.shape, (kh, kw), stride, padding, dilation)
    rows = c * kh * kw
    nb = _chunk_size(n, rows + o, geo, x.itemsize)
    w = weight.reshape(groups, og, cg * kh * kw)
    gb = grad.sum(axis=(0, 2, 3)) if need_bias else None
    if not (need_input or need_weight):
        return None, None, gb
    grad = np.ascontiguousarray(grad)
    # Only valid columns are ever written, and each sample's block starts at a multiple of
    # span in every chunk (also the shorter last one), so the unused columns stay zero.
    gt = np.zeros(o * nb * geo.span, dtype=x.dtype)
    cols = np.empty(rows * nb * geo.span, dtype=x.dtype) if need_weight else None
    gcols = np.empty(rows * nb * geo.span, dtype=x.dtype) if need_input else None
    gw_t = np.zeros((groups, cg * kh * kw, og), dtype=x.dtype) if need_weight else None
    part = np.empty((cg * kh * kw, og), dtype=x.dtype)
    buf = (np.zeros((nb, c, *geo.padded), dtype=x.dtype)
           if need_weight and _needs_buffer(x, geo) else None)
    gx = np.zeros(x.shape, dtype=x.dtype) if need_input else None
    # Gradients for the padded input go to a scratch buffer, then its interior to gx.
    gbuf = np.zeros((nb, c, *geo.padded), dtype=x.dtype) if need_input and any(padding) else None
    top, _, left, _ = padding
    for n0 in range(0, n, nb):
        m = min(nb, n - n0)
        span = m * geo.span
        gm = gt[: o * span].reshape(o, span)
        _gather_kernel(grad[n0: n0 + m], geo.pitch, gm.reshape(o, m, geo.span))
        gmg = gm.reshape(groups, og, span)
        if need_weight:
            cm = cols[: rows * span].reshape(c, kh, kw, m, geo.span)
            _im2col(_padded_source(x, n0, m, geo, buf), geo, cm)
            cmg = cm.reshape(groups, rows // groups, span)
            for g in range(groups):
                np.matmul(cmg[g], gmg[g].T, out=part)
                gw_t[g] += part
        if need_input:
            gc = gcols[: rows * span].reshape(groups, rows // groups, span)
            for g in range(groups):
                np.matmul(w[g].T, gmg[g], out=gc[g])
            gc5 = gc.reshape(c, kh, kw, m, geo.span)
            if gbuf is None:
                _col2im(gc5, geo, gx[n0: n0 + m])
            else:
                gsrc = gbuf[:m]
                gsrc[...] = 0
                _col2im(gc5, geo, gsrc)
                gx[n0: n0 + m] = gsrc[:, :, top: top + h, left: left + w_in]
    gw = None
    if need_weight:
        gw = np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape(weight.shape)
    return gx, gw, gb
