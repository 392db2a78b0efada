"""Tests of 2-D convolution: ``minidl.kernels.conv`` (reference and fast path),
``F.conv2d`` (values and gradients against NumPy, ``minidl.gradcheck`` and PyTorch) and
``nn.Conv2d`` (initialisation, repr, state_dict, errors)."""

from __future__ import annotations

import itertools
import math
import re
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl import functional as F
from minidl import nn
from minidl.kernels import conv as K


@pytest.fixture(autouse=True)
def _seed() -> None:
    minidl.manual_seed(0)


def oracle() -> ModuleType:
    """PyTorch, seeded, or a skip where it is not installed."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def t(a: np.ndarray, requires_grad: bool = False) -> minidl.Tensor:
    return minidl.Tensor(np.asarray(a), requires_grad=requires_grad)


def tol(dtype: Any) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10,
                                                                      "atol": 1e-12}


# One geometry per case: (N, C, H, W), O, (KH, KW), stride, padding, dilation, groups.
CASES = [
    ((2, 3, 7, 6), 4, (3, 3), 1, 0, 1, 1),
    ((2, 1, 8, 8), 5, (3, 3), 1, 1, 1, 1),              # one input channel (first layer)
    ((3, 4, 9, 7), 6, (2, 3), (2, 1), (1, 2), (1, 2), 2),
    ((1, 6, 6, 6), 6, (3, 3), 1, "same", 1, 6),         # depthwise
    ((2, 4, 6, 7), 4, (2, 2), 1, "same", 1, 1),         # even kernel: asymmetric padding
    ((2, 2, 7, 8), 3, (3, 2), 1, "same", (2, 3), 1),    # 'same' with dilation
    ((2, 4, 5, 5), 2, (5, 5), 1, "valid", 1, 2),        # kernel as large as the input
    ((2, 3, 10, 9), 2, (3, 3), 3, 2, 2, 1),              # stride 3, dilation 2
    ((1, 2, 4, 4), 2, (1, 1), 2, 0, 1, 1),              # 1x1 kernel, stride 2
    ((4, 3, 5, 6), 3, (2, 2), (1, 2), (0, 1), 1, 3),
]
CASE_IDS = [f"case{i}" for i in range(len(CASES))]


def case_arrays(case: tuple, dtype: Any, rng: np.random.Generator,
                bias: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    shape, o, kernel, _, _, _, groups = case
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((o, shape[1] // groups, *kernel)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype) if bias else None
    return x, w, b


def options(case: tuple) -> dict[str, Any]:
    _, _, _, stride, padding, dilation, groups = case
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def fast_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                 opts: dict[str, Any]) -> np.ndarray:
    d = K.pair(opts["dilation"])
    pad = K.padding_amounts(opts["padding"], w.shape[2:], d)
    return K.conv2d_forward(x, w, b, K.pair(opts["stride"]), pad, d, opts["groups"])


def fast_backward(g: np.ndarray, x: np.ndarray, w: np.ndarray,
                  opts: dict[str, Any]) -> tuple:
    d = K.pair(opts["dilation"])
    pad = K.padding_amounts(opts["padding"], w.shape[2:], d)
    return K.conv2d_backward(g, x, w, K.pair(opts["stride"]), pad, d, opts["groups"])


def naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pad: int,
               dilation: int, groups: int) -> np.ndarray:
    """The formula, one output element at a time (float64), for the reference's own test."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for ni, oi, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = oi // og
        acc = 0.0 if b is None else float(b[oi])
        for ci, p, q in itertools.product(range(cg), range(kh), range(kw)):
            acc += w[oi, ci, p, q] * xp[ni, g * cg + ci, i * stride + p * dilation,
                                        j * stride + q * dilation]
        y[ni, oi, i, j] = acc
    return y


# =========================================================================== reference


@pytest.mark.parametrize("stride,pad,dilation,groups",
                         [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), (2, 0, 2, 2)])
def test_reference_matches_the_formula(stride: int, pad: int, dilation: int, groups: int,
                                       rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 4 // groups, 3, 2))
    b = rng.standard_normal(4)
    got = K.conv2d_reference(x, w, b, stride, pad, dilation, groups)
    np.testing.assert_allclose(got, naive_conv(x, w, b, stride, pad, dilation, groups),
                               rtol=1e-12, atol=1e-12)


def test_reference_backward_is_the_adjoint(rng: np.random.Generator) -> None:
    # <g, conv(x, w)> is bilinear: its gradients are exactly what backward must return.
    x = rng.standard_normal((2, 4, 7, 8))
    w = rng.standard_normal((6, 2, 3, 2))
    opts = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2}
    g = rng.standard_normal(K.conv2d_reference(x, w, **opts).shape)
    gx, gw, gb = K.conv2d_backward_reference(g, x, w, **opts)
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    lhs = np.sum(g * (K.conv2d_reference(x + dx, w, **opts) - K.conv2d_reference(x, w, **opts)))
    np.testing.assert_allclose(lhs, np.sum(gx * dx), rtol=1e-10)
    lhs = np.sum(g * (K.conv2d_reference(x, w + dw, **opts) - K.conv2d_reference(x, w, **opts)))
    np.testing.assert_allclose(lhs, np.sum(gw * dw), rtol=1e-10)
    np.testing.assert_allclose(gb, g.sum(axis=(0, 2, 3)))


def test_padding_amounts_follow_pytorch() -> None:
    assert K.padding_amounts("valid", (3, 3), (1, 1)) == (0, 0, 0, 0)
    assert K.padding_amounts(2, (3, 3), (1, 1)) == (2, 2, 2, 2)
    assert K.padding_amounts((1, 3), (3, 3), (1, 1)) == (1, 1, 3, 3)
    assert K.padding_amounts("same", (3, 5), (1, 1)) == (1, 1, 2, 2)
    # total d·(k-1) odd: the extra row/column goes at the bottom/right
    assert K.padding_amounts("same", (2, 4), (1, 1)) == (0, 1, 1, 2)
    assert K.padding_amounts("same", (2, 3), (3, 2)) == (1, 2, 2, 2)


# =========================================================================== fast path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fast_path_matches_reference(case: tuple, dtype: Any, rng: np.random.Generator) -> None:
    x, w, b = case_arrays(case, dtype, rng)
    opts = options(case)
    y = fast_forward(x, w, b, opts)
    ref = K.conv2d_reference(x, w, b, **opts)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **tol(dtype))
    g = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(fast_backward(g, x, w, opts),
                         K.conv2d_backward_reference(g, x, w, **opts), strict=True):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("chunk_bytes", [1, 3000, 40_000])
@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[4], CASES[7]], ids=str)
def test_fast_path_in_chunks(case: tuple, chunk_bytes: int, rng: np.random.Generator,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks: one sample at a time, several samples, a shorter last chunk.
    monkeypatch.setattr(K, "CHUNK_BYTES", chunk_bytes)
    shape, *rest = case
    case = ((7, *shape[1:]), *rest)
    x, w, b = case_arrays(case, np.float64, rng)
    opts = options(case)
    y = fast_forward(x, w, b, opts)
    np.testing.assert_allclose(y, K.conv2d_reference(x, w, b, **opts), **tol(np.float64))
    g = rng.standard_normal(y.shape)
    for got, want in zip(fast_backward(g, x, w, opts),
                         K.conv2d_backward_reference(g, x, w, **opts), strict=True):
        np.testing.assert_allclose(got, want, **tol(np.float64))


@pytest.mark.parametrize("layout", ["fortran", "transposed", "sliced", "broadcast-grad"])
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[5]], ids=str)
def test_fast_path_non_contiguous(case: tuple, layout: str,
                                  rng: np.random.Generator) -> None:
    x, w, b = case_arrays(case, np.float64, rng)
    if layout == "fortran":
        x, w = np.asfortranarray(x), np.asfortranarray(w)
    elif layout == "transposed":
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    elif layout == "sliced":
        big = rng.standard_normal((x.shape[0], x.shape[1] * 2, x.shape[2] + 3, x.shape[3] * 2))
        x = big[:, ::2, 1: 1 + x.shape[2], ::2]
    assert not x.flags.c_contiguous or layout == "broadcast-grad"
    opts = options(case)
    y = fast_forward(x, w, b, opts)
    np.testing.assert_allclose(y, K.conv2d_reference(x, w, b, **opts), **tol(np.float64))
    g = rng.standard_normal(y.shape)
    if layout == "broadcast-grad":
        g = np.broadcast_to(rng.standard_normal((1, y.shape[1], 1, y.shape[3])), y.shape)
    for got, want in zip(fast_backward(g, x, w, opts),
                         K.conv2d_backward_reference(g, x, w, **opts), strict=True):
        np.testing.assert_allclose(got, want, **tol(np.float64))


@given(n=st.integers(1, 3), cg=st.integers(1, 3), og=st.integers(1, 3),
       groups=st.integers(1, 3), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       ph=st.integers(0, 2), pw=st.integers(0, 2), extra_h=st.integers(0, 4),
       extra_w=st.integers(0, 4), same=st.booleans(), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fast_path_random_geometries(n: int, cg: int, og: int, groups: int, kh: int, kw: int,
                                     sh: int, sw: int, dh: int, dw: int, ph: int, pw: int,
                                     extra_h: int, extra_w: int, same: bool, bias: bool,
                                     seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w_ = dh * (kh - 1) + 1 + extra_h, dw * (kw - 1) + 1 + extra_w
    case = ((n, cg * groups, h, w_), og * groups, (kh, kw), (sh, sw),
            "same" if same else (ph, pw), (dh, dw), groups)
    if same:
        case = (*case[:3], 1, *case[4:])
    x, w, b = case_arrays(case, np.float64, rng, bias)
    opts = options(case)
    y = fast_forward(x, w, b, opts)
    np.testing.assert_allclose(y, K.conv2d_reference(x, w, b, **opts), **tol(np.float64))
    g = rng.standard_normal(y.shape)
    for got, want in zip(fast_backward(g, x, w, opts),
                         K.conv2d_backward_reference(g, x, w, **opts), strict=True):
        np.testing.assert_allclose(got, want, **tol(np.float64))


def test_fast_backward_computes_only_what_is_asked(rng: np.random.Generator) -> None:
    x, w, _ = case_arrays(CASES[2], np.float64, rng)
    opts = options(CASES[2])
    g = rng.standard_normal(fast_forward(x, w, None, opts).shape)
    d = K.pair(opts["dilation"])
    args = (K.pair(opts["stride"]), K.padding_amounts(opts["padding"], w.shape[2:], d), d,
            opts["groups"])
    full = K.conv2d_backward(g, x, w, *args)
    for need in itertools.product([False, True], repeat=3):
        got = K.conv2d_backward(g, x, w, *args, *need)
        for want, asked, value in zip(full, need, got, strict=True):
            if asked:
                np.testing.assert_array_equal(value, want)
            else:
                assert value is None


def test_empty_batch(rng: np.random.Generator) -> None:
    x = t(np.zeros((0, 3, 5, 5), np.float32), requires_grad=True)
    w = t(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 2, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros((2, 3, 3, 3)))


# =========================================================================== vs PyTorch


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own speed
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv2d_matches_torch(case: tuple, dtype: Any, rng: np.random.Generator) -> None:
    torch = oracle()
    x, w, b = case_arrays(case, dtype, rng)
    opts = options(case)
    mx, mw, mb = t(x, True), t(w, True), t(b, True)
    y = F.conv2d(mx, mw, mb, **opts)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **opts)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **tol(dtype))
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for ours, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        assert ours.grad.dtype == dtype
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **tol(dtype))
    # the readable reference agrees with PyTorch too
    np.testing.assert_allclose(K.conv2d_reference(x, w, b, **opts), ty.detach().numpy(),
                               **tol(dtype))


def test_mnist_cnn_shapes_match_torch(rng: np.random.Generator) -> None:
    # The layers the benchmark times, at a small batch: the chunked fast path in float32.
    torch = oracle()
    for c, o, size in ((1, 32, 28), (32, 64, 26)):
        x = rng.standard_normal((5, c, size, size)).astype(np.float32)
        w = (rng.standard_normal((o, c, 3, 3)) / math.sqrt(9 * c)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        mx, mw, mb = t(x, True), t(w, True), t(b, True)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        y, ty = F.conv2d(mx, mw, mb), torch.nn.functional.conv2d(tx, tw, tb)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
        g = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(g)
        ty.backward(torch.tensor(g))
        for ours, theirs in ((mx, tx), (mw, tw), (mb, tb)):
            scale = np.abs(theirs.grad.numpy()).max()
            np.testing.assert_allclose(ours.grad / scale, theirs.grad.numpy() / scale,
                                       atol=1e-5)


def test_unbatched_input_matches_torch(rng: np.random.Generator) -> None:
    torch = oracle()
    x = rng.standard_normal((4, 6, 5))
    w = rng.standard_normal((6, 2, 3, 3))
    mx, mw = t(x, True), t(w, True)
    y = F.conv2d(mx, mw, stride=2, padding=1, groups=2)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, stride=2, padding=1, groups=2)
    assert y.shape == tuple(ty.shape) == (6, 3, 3)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(mx.grad, tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(mw.grad, tw.grad.numpy(), rtol=1e-10)


# =========================================================================== gradcheck


def _grid() -> list[tuple]:
    grid = []
    for stride, padding, dilation, groups, bias in itertools.product(
            [1, (2, 1)], [0, (1, 2), "same"], [1, (2, 1)], [1, 2], [True, False]):
        if padding == "same" and stride != 1:
            continue
        grid.append((stride, padding, dilation, groups, bias))
    return grid


@pytest.mark.parametrize("stride,padding,dilation,groups,bias", _grid())
def test_gradcheck(stride: Any, padding: Any, dilation: Any, groups: int, bias: bool,
                   rng: np.random.Generator) -> None:
    x = t(rng.standard_normal((2, 2, 5, 4)), True)
    w = t(rng.standard_normal((2, 2 // groups, 2, 3)), True)
    inputs = [x, w] + ([t(rng.standard_normal(2), True)] if bias else [])

    def fn(x: minidl.Tensor, w: minidl.Tensor, b: minidl.Tensor | None = None) -> Any:
        return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation,
                        groups=groups)

    assert minidl.gradcheck(fn, inputs)


def test_gradcheck_unbatched(rng: np.random.Generator) -> None:
    inputs = [t(rng.standard_normal((2, 4, 4)), True), t(rng.standard_normal((3, 2, 2, 2)), True)]
    assert minidl.gradcheck(lambda x, w: F.conv2d(x, w, padding="same"), inputs)


def test_gradient_flows_only_where_needed(rng: np.random.Generator) -> None:
    x = t(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))  # images: no gradient
    w = t(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), True)
    y = F.conv2d(x, w)
    y.sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)
    with minidl.no_grad():
        assert not F.conv2d(x, w).requires_grad


# =========================================================================== errors


def _err_inputs(rng: np.random.Generator) -> tuple[minidl.Tensor, minidl.Tensor]:
    return (t(rng.standard_normal((8, 3, 6, 6)).astype(np.float32)),
            t(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)))


@pytest.mark.parametrize("call,error,match", [
    (lambda x, w: F.conv2d(x.data, w), TypeError, r"input must be a minidl Tensor, got ndarray"),
    (lambda x, w: F.conv2d(x[0, 0], w), ValueError,
     r"expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(6, 6\)"),
    (lambda x, w: F.conv2d(x, w[0]), ValueError, r"expected a 4-D weight .* \(3, 3, 3\)"),
    (lambda x, w: F.conv2d(x, w[:, :2]), ValueError,
     r"expected input with 2 channels, got input of shape \(8, 3, 6, 6\) "
     r"\(weight \(4, 2, 3, 3\), groups=1\)"),
    (lambda x, w: F.conv2d(x, w[:, :1], groups=2), ValueError,
     r"expected input with 2 channels, got input of shape \(8, 3, 6, 6\)"),
    (lambda x, w: F.conv2d(x, w[:3, :1], groups=2), ValueError,
     r"groups=2 must divide the weight's 3 output channels"),
    (lambda x, w: F.conv2d(x, w.double()), TypeError,
     r"input dtype float32 differs from weight dtype float64"),
    (lambda x, w: F.conv2d(x, w, t(np.zeros(3, np.float32))), ValueError,
     r"expected a bias of shape \(4,\) for weight \(4, 3, 3, 3\), got shape \(3,\)"),
    (lambda x, w: F.conv2d(x, w, t(np.zeros(4))), TypeError,
     r"bias dtype float64 differs from input dtype float32"),
    (lambda x, w: F.conv2d(x[:, :, :2], w), ValueError,
     r"kernel \(3, 3\) with dilation \(1, 1\) spans \(3, 3\), larger than the padded input "
     r"\(2, 6\)"),
    (lambda x, w: F.conv2d(x, w, dilation=3), ValueError,
     r"kernel \(3, 3\) with dilation \(3, 3\) spans \(7, 7\), larger than the padded input "
     r"\(6, 6\)"),
    (lambda x, w: F.conv2d(x, w, padding="full"), ValueError,
     r"invalid padding string 'full', expected 'valid' or 'same'"),
    (lambda x, w: F.conv2d(x, w, padding="same", stride=2), ValueError,
     r"padding='same' is not supported for strided convolutions"),
    (lambda x, w: F.conv2d(x, w, padding=-1), ValueError, r"padding must be at least 0, got -1"),
    (lambda x, w: F.conv2d(x, w, stride=(1, 0)), ValueError,
     r"stride must be at least 1, got \(1, 0\)"),
    (lambda x, w: F.conv2d(x, w, stride=1.5), TypeError,
     r"stride must be an int or a pair of ints, got 1.5"),
    (lambda x, w: F.conv2d(x, w, groups=0), ValueError, r"groups must be a positive int"),
    (lambda x, w: F.conv2d(t(np.zeros((1, 3, 6, 6), np.int64)), w), TypeError,
     r"input must be float32 or float64, got dtype int64"),
    (lambda x, w: F.conv2d(t(np.zeros((1, 3, 6, 6), np.float16)), w), TypeError,
     r"input must be float32 or float64, got dtype float16"),
])
def test_conv2d_errors(call: Any, error: type, match: str, rng: np.random.Generator) -> None:
    x, w = _err_inputs(rng)
    with pytest.raises(error, match="conv2d: " + match):
        call(x, w)


# =========================================================================== nn.Conv2d


def test_module_forward_is_functional_conv(rng: np.random.Generator) -> None:
    layer = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    assert layer.weight.shape == (6, 2, 3, 2) and layer.bias.shape == (6,)
    assert layer.weight.dtype == np.float32
    x = t(rng.standard_normal((3, 4, 8, 9)).astype(np.float32), True)
    y = layer(x)
    want = K.conv2d_reference(x.data, layer.weight.data, layer.bias.data, (2, 1), (1, 0),
                              (1, 2), 2)
    np.testing.assert_allclose(y.data, want, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape and x.grad.shape == x.shape
    assert layer(x[0]).shape == y.shape[1:]  # unbatched


@pytest.mark.parametrize("kwargs", [
    {}, {"groups": 4}, {"kernel_size": (5, 2)}, {"bias": False}, {"dtype": np.float64},
])
def test_module_init_statistics(kwargs: dict[str, Any]) -> None:
    # PyTorch's default: weight and bias ~ U(-1/√fan_in, 1/√fan_in), fan_in = C/groups·KH·KW.
    kwargs = {"kernel_size": 3, **kwargs}
    layer = nn.Conv2d(8, 64, **kwargs)
    kh, kw = K.pair(kwargs["kernel_size"])
    bound = 1 / math.sqrt(8 // kwargs.get("groups", 1) * kh * kw)
    w = layer.weight.data
    assert w.dtype == kwargs.get("dtype", np.float32)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    # the std of U(-a, a) is a/√3; with ≥ 1000 draws it lands within 10%
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.1
    assert abs(w.mean()) < 0.1 * bound
    if kwargs.get("bias", True):
        b = layer.bias.data
        assert np.abs(b).max() <= bound and b.std() > 0.3 * bound
    else:
        assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]


def test_module_init_is_seeded() -> None:
    minidl.manual_seed(5)
    a = nn.Conv2d(3, 4, 3)
    minidl.manual_seed(5)
    b = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


@pytest.mark.parametrize("args,kwargs", [
    ((1, 32, 3), {}),
    ((4, 8, (3, 5)), {"stride": 2, "padding": (1, 2), "dilation": 2, "groups": 2, "bias": False}),
    ((4, 8, 3), {"padding": "same"}),
    ((4, 8, 3), {"padding": "valid"}),
    ((4, 8, 3), {"padding": 1, "stride": (1, 2)}),
    ((3, 3, 1), {"groups": 3}),
])
def test_module_repr_and_attributes_match_torch(args: tuple, kwargs: dict[str, Any]) -> None:
    torch = oracle()
    ours, theirs = nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "groups", "padding_mode", "output_padding", "transposed"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(nn.Sequential(ours, nn.ReLU())) == repr(torch.nn.Sequential(theirs,
                                                                            torch.nn.ReLU()))


def test_state_dict_round_trip_with_torch(rng: np.random.Generator) -> None:
    torch = oracle()
    ours = nn.Conv2d(3, 6, 3, padding=1, groups=3)
    theirs = torch.nn.Conv2d(3, 6, 3, padding=1, groups=3)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    # PyTorch's parameters into minidl
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours(t(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    # and minidl's (re-initialised) parameters into PyTorch
    ours.reset_parameters()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(theirs(torch.tensor(x)).detach().numpy(), ours(t(x)).data,
                               rtol=1e-5, atol=1e-6)


def test_module_double_and_gradcheck(rng: np.random.Generator) -> None:
    layer = nn.Conv2d(2, 3, 2, padding=1).double()
    x = t(rng.standard_normal((1, 2, 3, 3)), True)
    assert layer(x).dtype == np.float64
    assert minidl.gradcheck(layer, [x])


def test_module_channel_error_names_layer_and_shape() -> None:
    layer = nn.Conv2d(1, 32, 3)
    w = layer.weight.data.copy()
    with pytest.raises(ValueError, match=re.escape(
            "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1)): expected input with 1 "
            "channels, got input of shape (8, 3, 28, 28)")):
        layer(t(np.zeros((8, 3, 28, 28), np.float32)))
    with pytest.raises(ValueError, match=re.escape(
            "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1)): expected input with 1 "
            "channels, got input of shape (3, 28, 28)")):
        layer(t(np.zeros((3, 28, 28), np.float32)))
    np.testing.assert_array_equal(layer.weight.data, w)


@pytest.mark.parametrize("call,error,match", [
    (lambda layer: layer(t(np.zeros((2, 1, 2, 9), np.float32))), ValueError,
     r"Conv2d\(1, 32, kernel_size=\(3, 3\), stride=\(1, 1\)\): kernel \(3, 3\) .* larger "
     r"than the padded input \(2, 9\)"),
    (lambda layer: layer(t(np.zeros((2, 1, 9, 9)))), TypeError,
     r"Conv2d\(1, 32, .*\): input dtype float64 differs from weight dtype float32"),
    (lambda layer: layer(t(np.zeros((1, 9, 9), np.float32))[0]), ValueError,
     r"Conv2d\(1, 32, .*\): expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, "
     r"got shape \(9, 9\)"),
    (lambda layer: layer(np.zeros((1, 1, 9, 9), np.float32)), TypeError,
     r"Conv2d\(1, 32, .*\): input must be a minidl Tensor"),
])
def test_module_forward_errors(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call(nn.Conv2d(1, 32, 3))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"in_channels": 3, "groups": 2}, ValueError, r"in_channels=3 must be divisible by groups=2"),
    ({"out_channels": 5, "groups": 2}, ValueError,
     r"out_channels=5 must be divisible by groups=2"),
    ({"groups": 0}, ValueError, r"groups must be a positive int, got 0"),
    ({"in_channels": 0}, ValueError, r"in_channels must be a positive int, got 0"),
    ({"kernel_size": (3, 0)}, ValueError, r"kernel_size must be a positive int or a pair"),
    ({"kernel_size": (3, 3, 3)}, ValueError, r"kernel_size must be a positive int or a pair"),
    ({"padding": "same", "stride": 2}, ValueError,
     r"padding='same' is not supported for strided convolutions"),
    ({"padding": "full"}, ValueError, r"invalid padding string 'full'"),
    ({"padding": -1}, ValueError, r"padding must be at least 0"),
    ({"dilation": 0}, ValueError, r"dilation must be at least 1"),
    ({"padding_mode": "reflect"}, NotImplementedError,
     r"padding_mode='reflect' is not implemented; only 'zeros' is supported"),
    ({"padding_mode": "circular"}, NotImplementedError, r"padding_mode='circular'"),
    ({"padding_mode": "mirror"}, ValueError,
     r"padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got 'mirror'"),
])
def test_module_constructor_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    kwargs = {"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(error, match="Conv2d: " + match):
        nn.Conv2d(**kwargs)
