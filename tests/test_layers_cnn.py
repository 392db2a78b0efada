"""Tests of the convolutional-network layers other than convolution: pooling
(``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``), the dropout family
(``dropout2d``, ``alpha_dropout``, ``feature_alpha_dropout``) and normalisation
(``batch_norm``, ``layer_norm``), functional and module forms.

Values are checked against readable NumPy references and, where installed, PyTorch;
gradients with ``minidl.gradcheck`` in float64 over grids of the options.
"""

from __future__ import annotations

import itertools
import math
import re
from types import ModuleType

import numpy as np
import pytest

import minidl
from minidl import functional as F
from minidl import nn

SELU_LAMBDA_ALPHA = 1.7580993408473766


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


def distinct(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """float64 values at least 1 apart, so no max-pool window has a tie and a finite
    difference step never changes which element wins."""
    return rng.permutation(math.prod(shape)).reshape(shape) * 1.0 + rng.uniform(0, 0.5, shape)


# ============================================================================ references


def ref_out_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output size from PyTorch's documented formula."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside
        out -= 1
    return out


def ref_max_pool2d(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple,
                   ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling by brute force over an -inf padded copy; indices are flat positions in
    the unpadded plane of the first maximum in row-major window order."""
    *lead, h, w = x.shape
    oh = ref_out_size(h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = ref_out_size(w, k[1], s[1], p[1], d[1], ceil_mode)
    xp = np.pad(x, [(0, 0)] * len(lead) + [(p[0], p[0] + s[0]), (p[1], p[1] + s[1])],
                constant_values=-np.inf)
    flat = np.arange(h * w).reshape(h, w)
    flat_p = np.pad(flat, [(p[0], p[0] + s[0]), (p[1], p[1] + s[1])], constant_values=-1)
    out = np.empty((*lead, oh, ow))
    idx = np.empty((*lead, oh, ow), dtype=np.int64)
    for i, j in itertools.product(range(oh), range(ow)):
        rows = slice(i * s[0], i * s[0] + d[0] * (k[0] - 1) + 1, d[0])
        cols = slice(j * s[1], j * s[1] + d[1] * (k[1] - 1) + 1, d[1])
        win = xp[..., rows, cols].reshape(*lead, -1)
        out[..., i, j] = win.max(axis=-1)
        idx[..., i, j] = flat_p[rows, cols].reshape(-1)[win.argmax(axis=-1)]
    return out, idx


def ref_avg_pool2d(x: np.ndarray, k: tuple, s: tuple, p: tuple, ceil_mode: bool,
                   count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """Average pooling over a zero-padded copy. The divisor counts the window's positions
    inside the padded input (``count_include_pad``) or inside the input itself."""
    *lead, h, w = x.shape
    oh = ref_out_size(h, k[0], s[0], p[0], 1, ceil_mode)
    ow = ref_out_size(w, k[1], s[1], p[1], 1, ceil_mode)
    xp = np.pad(x, [(0, 0)] * len(lead) + [(p[0], p[0]), (p[1], p[1])])
    real = np.pad(np.ones((h, w)), [(p[0], p[0]), (p[1], p[1])])
    out = np.empty((*lead, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        rows = slice(i * s[0], i * s[0] + k[0])
        cols = slice(j * s[1], j * s[1] + k[1])
        total = xp[..., rows, cols].sum(axis=(-2, -1))
        if divisor_override:
            div = divisor_override
        elif count_include_pad:
            div = real[rows, cols].size  # positions in the padded input
        else:
            div = real[rows, cols].sum()
        out[..., i, j] = total / div
    return out


def ref_adaptive_avg_pool2d(x: np.ndarray, oh: int, ow: int) -> np.ndarray:
    *lead, h, w = x.shape
    out = np.empty((*lead, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        rows = slice(i * h // oh, math.ceil((i + 1) * h / oh))
        cols = slice(j * w // ow, math.ceil((j + 1) * w / ow))
        out[..., i, j] = x[..., rows, cols].mean(axis=(-2, -1))
    return out


def ref_batch_norm(x: np.ndarray, mean: np.ndarray, var: np.ndarray, w: np.ndarray | None,
                   b: np.ndarray | None, eps: float) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


def channel_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


# ============================================================================ pooling

MAX_POOL_OPTIONS = [
    # kernel_size, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, None, 0, 1, False),
    ((2, 3), (2, 1), 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 2, 1, 1, True),
    (2, None, 0, 1, True),
    (3, 1, 1, 2, False),
    ((3, 2), (2, 3), (1, 1), (2, 1), True),
]


def _pairs(*values) -> list[tuple[int, int]]:
    return [v if isinstance(v, tuple) else (v, v) for v in values]


@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 7, 8)])
@pytest.mark.parametrize("opts", MAX_POOL_OPTIONS)
def test_max_pool2d_matches_the_numpy_reference(shape, opts, rng) -> None:
    k, s, p, d, ceil_mode = opts
    x = rng.standard_normal(shape)
    y, idx = F.max_pool2d(t(x), k, s, p, d, ceil_mode, return_indices=True)
    kp, sp, pp, dp = _pairs(k, k if s is None else s, p, d)
    ref, ref_idx = ref_max_pool2d(x, kp, sp, pp, dp, ceil_mode)
    np.testing.assert_array_equal(y.data, ref)
    np.testing.assert_array_equal(idx.data, ref_idx)
    assert idx.dtype == np.int64 and not idx.requires_grad


@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 7, 8)])
@pytest.mark.parametrize("opts", MAX_POOL_OPTIONS)
def test_max_pool2d_values_indices_and_gradients_match_torch(shape, opts, rng) -> None:
    torch = oracle()
    k, s, p, d, ceil_mode = opts
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[::5] = 0.5  # ties inside windows
    xt = t(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, k, s, p, d, ceil_mode, return_indices=True)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil_mode, return_indices=True)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert y.dtype == np.float32 and xt.grad.dtype == np.float32


@pytest.mark.parametrize("opts", [(2, None, 0, 1, False), (3, 2, 1, 1, True),
                                  (2, 1, 1, 2, False)])
def test_max_pool2d_nan_and_minus_inf_match_torch(opts) -> None:
    torch = oracle()
    k, s, p, d, ceil_mode = opts
    x = np.random.default_rng(3).standard_normal((2, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 0, 0, 3] = np.nan
    x[1, 1, 2:4, 2:4] = np.nan  # several NaNs in one window: PyTorch picks the last
    x[0, 1] = -np.inf  # a plane of -inf: the first tap of each window is chosen
    y, idx = F.max_pool2d(t(x), k, s, p, d, ceil_mode, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil_mode,
                                              return_indices=True)
    np.testing.assert_array_equal(y.data, ty.numpy())  # NaN == NaN here
    np.testing.assert_array_equal(idx.data, tidx.numpy())


def test_max_pool2d_gives_a_tied_windows_gradient_to_its_first_maximum_only() -> None:
    x = t(np.ones((1, 1, 4, 4)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1  # the top-left element of each window
    np.testing.assert_array_equal(x.grad[0, 0], expected)
    # Overlapping windows: the gradient of each lands on its own first maximum.
    x = t(np.ones((1, 1, 3, 3)), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("opts", MAX_POOL_OPTIONS)
def test_max_pool2d_gradcheck(opts, rng) -> None:
    k, s, p, d, ceil_mode = opts
    x = t(distinct((1, 2, 7, 8), rng), requires_grad=True)
    assert minidl.gradcheck(lambda a: F.max_pool2d(a, k, s, p, d, ceil_mode), [x])


def test_max_pool2d_accepts_non_contiguous_input_and_empty_stride(rng) -> None:
    x = rng.standard_normal((2, 3, 8, 6)).transpose(0, 1, 3, 2)
    ref, _ = ref_max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(F.max_pool2d(t(x), 2, stride=[]).data, ref)


AVG_POOL_OPTIONS = [
    # kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, None, 0, False, True, None),
    ((2, 3), (1, 2), 0, False, True, None),
    (3, 2, 1, False, True, None),
    (3, 2, 1, False, False, None),
    (3, 2, 1, True, True, None),
    (3, 2, 1, True, False, None),
    (2, None, 0, True, True, None),
    (2, None, 1, True, False, None),
    (3, 2, 1, True, True, 4),
]


@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 5, 5)])
@pytest.mark.parametrize("opts", AVG_POOL_OPTIONS)
def test_avg_pool2d_matches_numpy_and_torch(shape, opts, rng) -> None:
    k, s, p, ceil_mode, include_pad, divisor = opts
    x = rng.standard_normal(shape)
    xt = t(x, requires_grad=True)
    y = F.avg_pool2d(xt, k, s, p, ceil_mode, include_pad, divisor)
    kp, sp, pp = _pairs(k, k if s is None else s, p)
    np.testing.assert_allclose(y.data, ref_avg_pool2d(x, kp, sp, pp, ceil_mode, include_pad,
                                                      divisor), rtol=1e-12, atol=1e-12)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil_mode, include_pad, divisor)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("opts", AVG_POOL_OPTIONS)
def test_avg_pool2d_gradcheck(opts, rng) -> None:
    k, s, p, ceil_mode, include_pad, divisor = opts
    x = t(rng.standard_normal((1, 2, 5, 6)), requires_grad=True)
    assert minidl.gradcheck(lambda a: F.avg_pool2d(a, k, s, p, ceil_mode, include_pad, divisor),
                            [x])


def test_avg_pool2d_keeps_float32_and_accumulates_accurately() -> None:
    x = np.full((1, 1, 64, 64), 0.1, dtype=np.float32)
    x[0, 0, 0, 0] = 1e4  # float32 accumulation would lose the 0.1s next to it
    y = F.avg_pool2d(t(x), 64)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data[0, 0, 0, 0], (1e4 + 0.1 * 4095) / 4096, rtol=1e-7)


@pytest.mark.parametrize("out", [1, 3, (2, 5), (4, None), (None, 3), (7, 8), (9, 11)])
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 7, 8)])
def test_adaptive_avg_pool2d_matches_numpy_and_torch(out, shape, rng) -> None:
    x = rng.standard_normal(shape)
    xt = t(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(xt, out)
    oh, ow = out if isinstance(out, tuple) else (out, out)
    oh, ow = oh or shape[-2], ow or shape[-1]
    np.testing.assert_allclose(y.data, ref_adaptive_avg_pool2d(x, oh, ow), rtol=1e-12)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, out)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("out", [1, (2, 3), (5, 4), (None, 2)])
def test_adaptive_avg_pool2d_gradcheck(out, rng) -> None:
    x = t(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    assert minidl.gradcheck(lambda a: F.adaptive_avg_pool2d(a, out), [x])


def test_pooling_modules_match_functional_and_torch_repr(rng) -> None:
    x = t(rng.standard_normal((2, 3, 9, 9)).astype(np.float32))
    cases = [
        (nn.MaxPool2d(2), lambda a: F.max_pool2d(a, 2)),
        (nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True),
         lambda a: F.max_pool2d(a, (2, 3), 1, 1, 2, True)),
        (nn.AvgPool2d(3, 2, 1, True, False, 4), lambda a: F.avg_pool2d(a, 3, 2, 1, True, False, 4)),
        (nn.AdaptiveAvgPool2d((3, None)), lambda a: F.adaptive_avg_pool2d(a, (3, None))),
    ]
    for module, fn in cases:
        np.testing.assert_array_equal(module(x).data, fn(x).data)
    out, idx = nn.MaxPool2d(3, return_indices=True)(x)
    np.testing.assert_array_equal(idx.data, F.max_pool2d(x, 3, return_indices=True)[1].data)
    assert nn.MaxPool2d(2).stride == 2 and nn.AvgPool2d(3).stride == 3
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    pairs = [
        (nn.MaxPool2d(2), tnn.MaxPool2d(2)),
        (nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, return_indices=True,
                      ceil_mode=True),
         tnn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, return_indices=True,
                       ceil_mode=True)),
        (nn.AvgPool2d(2), tnn.AvgPool2d(2)),
        (nn.AvgPool2d(3, 2, 1, True, False, 4), tnn.AvgPool2d(3, 2, 1, True, False, 4)),
        (nn.AdaptiveAvgPool2d((3, None)), tnn.AdaptiveAvgPool2d((3, None))),
        (nn.AdaptiveAvgPool2d(1), tnn.AdaptiveAvgPool2d(1)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == []


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 5, 5), 2, padding=2), ValueError,
     r"max_pool2d: padding 2 must be at most half of kernel_size 2"),
    (lambda: F.avg_pool2d(minidl.zeros(1, 1, 5, 5), 3, padding=(1, 2)), ValueError,
     r"avg_pool2d: padding \(1, 2\) must be at most half of kernel_size 3"),
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 2, 2), 3), ValueError,
     r"input of spatial size 2x2 gives an output of size 0x0 .* at least 1x1"),
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 5, 5), (2, 2, 2)), TypeError,
     r"kernel_size must be an int or a pair of ints, got \(2, 2, 2\)"),
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 5, 5), 2.0), TypeError,
     r"kernel_size must be an int or a pair of ints, got 2.0"),
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 5, 5), 2, stride=0), ValueError,
     r"stride must be at least 1, got 0"),
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 5, 5), 2, dilation=(1, 0)), ValueError,
     r"dilation must be at least 1"),
    (lambda: F.max_pool2d(minidl.zeros(5, 5), 2), ValueError,
     r"max_pool2d: expected a non-empty 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got "
     r"shape \(5, 5\)"),
    (lambda: F.avg_pool2d(minidl.zeros(1, 0, 5, 5), 2), ValueError, r"non-empty"),
    (lambda: F.max_pool2d(minidl.tensor(np.zeros((1, 4, 4), np.int64)), 2), TypeError,
     r"max_pool2d: input must be floating point, got dtype int64"),
    (lambda: F.max_pool2d(np.zeros((1, 4, 4)), 2), TypeError, r"input must be a Tensor"),
    (lambda: F.max_pool2d(minidl.zeros(1, 1, 4, 4), 2, stride=1, padding=1, dilation=5),
     ValueError, r"some windows over the 4x4 input hold only padding"),
    (lambda: F.avg_pool2d(minidl.zeros(1, 4, 4), 2, divisor_override=0), ValueError,
     r"avg_pool2d: divisor_override must be a non-zero int or None, got 0"),
    (lambda: F.adaptive_avg_pool2d(minidl.zeros(1, 4, 4), 0), ValueError,
     r"adaptive_avg_pool2d: output_size must be a positive int or a pair"),
    (lambda: F.adaptive_avg_pool2d(minidl.zeros(1, 4, 4), (1, 2, 3)), ValueError,
     r"output_size must be .* got \(1, 2, 3\)"),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, r"MaxPool2d: padding 2 must be at most"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, r"AvgPool2d: divisor_override"),
    (lambda: nn.AdaptiveAvgPool2d((0, 1)), ValueError, r"AdaptiveAvgPool2d: output_size"),
    (lambda: nn.MaxPool2d(3)(minidl.zeros(1, 1, 2, 2)), ValueError,
     r"MaxPool2d\(kernel_size=3, stride=3, .*\): max_pool2d: input of spatial size 2x2"),
    (lambda: nn.AvgPool2d(2)(minidl.zeros(4, 4)), ValueError,
     r"AvgPool2d\(kernel_size=2, stride=2, padding=0\): avg_pool2d: expected"),
])
def test_pooling_errors(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


# ============================================================================ dropout family


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest() -> None:
    p = 0.3
    x = t(np.random.default_rng(1).uniform(1, 2, (200, 50, 3, 4)).astype(np.float32),
          requires_grad=True)
    y = F.dropout2d(x, p)
    assert y.dtype == np.float32
    planes = y.data.reshape(200, 50, -1)
    dropped = (planes == 0).all(axis=-1)
    kept = ~dropped
    np.testing.assert_allclose(planes[kept], x.data.reshape(200, 50, -1)[kept] / (1 - p),
                               rtol=1e-6)
    assert ((planes != 0).all(axis=-1) | dropped).all()  # never a partly zeroed channel
    # 10000 Bernoulli(0.3) channels: the dropped fraction has standard deviation 0.0046.
    assert abs(dropped.mean() - p) < 0.025
    y.sum().backward()
    np.testing.assert_allclose(x.grad.reshape(200, 50, -1),
                               np.broadcast_to(kept[..., None] / (1 - p), planes.shape),
                               rtol=1e-6)


def test_dropout2d_treats_3d_input_as_one_unbatched_image() -> None:
    y = F.dropout2d(minidl.ones(400, 2, 3), 0.5)
    per_channel = y.data.reshape(400, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel == per_channel[:, :1]).all()  # each (H, W) plane all kept or dropped
    assert 0.4 < (per_channel[:, 0] == 0).mean() < 0.6


def test_dropout2d_identity_cases_and_p1() -> None:
    x = t(np.random.default_rng(2).standard_normal((2, 3, 4, 4)), requires_grad=True)
    assert F.dropout2d(x, 0.5, training=False) is x
    assert F.dropout2d(x, 0.0) is x
    y = F.dropout2d(x, 1.0)
    np.testing.assert_array_equal(y.data, 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)


def test_dropout_family_is_reproducible_with_manual_seed() -> None:
    x = minidl.randn(8, 6, 3, 3)
    for fn in (lambda: F.dropout2d(x, 0.5), lambda: F.alpha_dropout(x, 0.5, True),
               lambda: F.feature_alpha_dropout(x, 0.5, True)):
        minidl.manual_seed(123)
        a, b = fn().data, fn().data
        minidl.manual_seed(123)
        np.testing.assert_array_equal(fn().data, a)
        assert not np.array_equal(a, b)  # successive masks differ


@pytest.mark.parametrize(("p", "a", "b", "dropped"), [
    # a, b and the dropped value from the PyTorch formula (reference sheet, section 3.3)
    (0.05, 0.954844, 0.083936, -1.594776),
    (0.10, 0.921285, 0.161971, -1.457739),
    (0.20, 0.878904, 0.309040, -1.236160),
    (0.50, 0.886405, 0.779194, -0.779194),
])
def test_alpha_dropout_keeps_a_x_plus_b_or_sets_the_saturation_value(p, a, b, dropped) -> None:
    # The SNN paper's form for the fixed point (0, 1), keep probability q, α' = -λα:
    # a = (q + α'²·q(1 - q))^(-1/2), b = -a·(1 - q)·α', dropped units become a·α' + b.
    q, alpha = 1 - p, -SELU_LAMBDA_ALPHA
    a_paper = (q + alpha ** 2 * q * (1 - q)) ** -0.5
    b_paper = -a_paper * (1 - q) * alpha
    np.testing.assert_allclose([a_paper, b_paper, a_paper * alpha + b_paper], [a, b, dropped],
                               atol=1e-6)
    x = np.random.default_rng(4).standard_normal(20000)
    xt = t(x, requires_grad=True)
    y = F.alpha_dropout(xt, p, training=True).data
    kept = np.isclose(y, a_paper * x + b_paper, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y[~kept], a_paper * alpha + b_paper, rtol=1e-12)
    assert abs((~kept).mean() - p) < 5 * math.sqrt(p * (1 - p) / x.size)
    F.alpha_dropout(xt, p, training=True).sum().backward()
    np.testing.assert_allclose(np.unique(xt.grad), [0.0, a_paper], rtol=1e-12)


def test_alpha_dropout_of_a_constant_gives_torchs_two_values() -> None:
    y = F.alpha_dropout(minidl.full((1000,), 2.0), 0.2, training=True)
    np.testing.assert_allclose(np.unique(y.data), [-1.236160, 2.066847], atol=1e-6)
    torch = pytest.importorskip("torch")
    ty = torch.nn.functional.alpha_dropout(torch.full((1000,), 2.0), 0.2, training=True)
    np.testing.assert_allclose(np.unique(y.data), np.unique(ty.numpy()), atol=1e-6)


@pytest.mark.parametrize("p", [0.05, 0.1, 0.2, 0.5])
def test_alpha_dropout_keeps_the_selu_fixed_point(p) -> None:
    # For x ~ N(0, 1) the output has mean 0 and variance 1 exactly in expectation. Over
    # n = 1e6 samples the sample mean has standard error 1/√n = 0.001, and the sample
    # variance √((E[y⁴] - 1)/n) ≤ 0.0014 (E[y⁴] ≤ 2.73 for these p), so 0.006 is over four
    # standard errors for both; a wrong a or b (e.g. b = 0) is off by 0.08 or more.
    x = minidl.Tensor(np.random.default_rng(5).standard_normal(1_000_000).astype(np.float32))
    out = F.alpha_dropout(x, p, training=True)
    assert out.dtype == np.float32
    y = out.data.astype(np.float64)
    assert abs(y.mean()) < 0.006
    assert abs(y.var() - 1) < 0.006


def test_alpha_dropout_identity_cases_and_p1() -> None:
    x = t(np.random.default_rng(6).standard_normal((3, 4)), requires_grad=True)
    assert F.alpha_dropout(x, 0.5) is x  # training defaults to False, as in PyTorch
    assert F.alpha_dropout(x, 0.0, training=True) is x
    assert F.feature_alpha_dropout(x, 0.5) is x
    y = F.alpha_dropout(x, 1.0, training=True)
    np.testing.assert_array_equal(y.data, 0)
    np.testing.assert_array_equal(F.feature_alpha_dropout(x, 1.0, True).data, 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)


def test_feature_alpha_dropout_drops_whole_channels() -> None:
    p = 0.5
    x = minidl.ones(100, 20, 3, 2)
    y = F.feature_alpha_dropout(x, p, training=True).data.reshape(100, 20, -1)
    assert (y == y[..., :1]).all()
    np.testing.assert_allclose(np.unique(y), [-0.779194, 0.886405 + 0.779194], atol=1e-5)
    torch = pytest.importorskip("torch")
    ty = torch.nn.functional.feature_alpha_dropout(torch.ones(100, 20, 3, 2), p, True)
    np.testing.assert_allclose(np.unique(y), np.unique(ty.numpy()), atol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda a: F.dropout2d(a, 0.4),
    lambda a: F.dropout2d(a[0], 0.4),
    lambda a: F.alpha_dropout(a, 0.3, training=True),
    lambda a: F.feature_alpha_dropout(a, 0.3, training=True),
])
def test_dropout_family_gradcheck_with_a_fixed_mask(fn, rng) -> None:
    def f(a):
        minidl.manual_seed(9)  # the same mask for every evaluation
        return fn(a) * a

    assert minidl.gradcheck(f, [t(rng.standard_normal((3, 4, 2, 2)), requires_grad=True)])


def test_dropout_modules_follow_train_and_eval_and_match_torch_repr() -> None:
    x = minidl.randn(4, 8, 3, 3)
    for module in (nn.Dropout2d(0.5), nn.AlphaDropout(0.5), nn.FeatureAlphaDropout(0.5)):
        assert not np.array_equal(module(x).data, x.data)
        module.eval()
        np.testing.assert_array_equal(module(x).data, x.data)
        module.train()
        assert not np.array_equal(module(x).data, x.data)
    minidl.manual_seed(1)
    a = nn.Dropout2d(0.3)(x).data
    minidl.manual_seed(1)
    np.testing.assert_array_equal(a, F.dropout2d(x, 0.3).data)
    minidl.manual_seed(1)
    a = nn.AlphaDropout(0.3)(x).data
    minidl.manual_seed(1)
    np.testing.assert_array_equal(a, F.alpha_dropout(x, 0.3, True).data)
    tnn = oracle().nn
    for ours, theirs in ((nn.Dropout2d(), tnn.Dropout2d()), (nn.AlphaDropout(0.2),
                                                             tnn.AlphaDropout(0.2)),
                         (nn.FeatureAlphaDropout(), tnn.FeatureAlphaDropout())):
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.dropout2d(minidl.ones(1, 2, 2, 2), 1.5),
     r"dropout2d: probability p must be in \[0, 1\], got 1.5"),
    (lambda: F.alpha_dropout(minidl.ones(3), -0.1),
     r"alpha_dropout: probability p must be in \[0, 1\], got -0.1"),
    (lambda: F.feature_alpha_dropout(minidl.ones(2, 3), 2),
     r"feature_alpha_dropout: probability p must be in \[0, 1\], got 2"),
    (lambda: F.dropout2d(minidl.ones(2, 3), 0.5),
     r"dropout2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(2, 3\)"),
    (lambda: F.dropout2d(minidl.ones(1, 2, 3, 4, 5), 0.5), r"got shape \(1, 2, 3, 4, 5\)"),
    (lambda: F.feature_alpha_dropout(minidl.ones(3), 0.5, True),
     r"feature_alpha_dropout: expected an input with at least 2 dimensions"),
    (lambda: nn.Dropout2d(1.5), r"Dropout2d: probability p must be in \[0, 1\], got 1.5"),
    (lambda: nn.AlphaDropout(-1), r"AlphaDropout: probability p must be in"),
])
def test_dropout_family_errors(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ============================================================================ batch norm

BN_SHAPES = [(6, 3), (4, 3, 5), (3, 3, 4, 5)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_numpy_and_updates_running_stats(shape, affine,
                                                                    rng) -> None:
    x = rng.standard_normal(shape) * 3 + 2
    w, b = (rng.standard_normal(3), rng.standard_normal(3)) if affine else (None, None)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    run_mean, run_var = t(rm.copy()), t(rv.copy())
    y = F.batch_norm(t(x), run_mean, run_var, None if w is None else t(w),
                     None if b is None else t(b), training=True, momentum=0.25, eps=1e-3)
    axes = channel_axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased, for normalising
    np.testing.assert_allclose(y.data, ref_batch_norm(x, mean, var, w, b, 1e-3), rtol=1e-10,
                               atol=1e-12)
    m = x.size // 3
    np.testing.assert_allclose(run_mean.data, 0.75 * rm + 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(run_var.data, 0.75 * rv + 0.25 * var * m / (m - 1), rtol=1e-12)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval_uses_the_running_stats_and_leaves_them(shape, rng) -> None:
    x = rng.standard_normal(shape)
    rm, rv, w, b = (rng.standard_normal(3), rng.uniform(0.5, 2, 3), rng.standard_normal(3),
                    rng.standard_normal(3))
    run_mean, run_var = t(rm.copy()), t(rv.copy())
    y = F.batch_norm(t(x), run_mean, run_var, t(w), t(b))
    np.testing.assert_allclose(y.data, ref_batch_norm(x, rm, rv, w, b, 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(run_mean.data, rm)
    np.testing.assert_array_equal(run_var.data, rv)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_values_gradients_and_running_stats_match_torch(shape, training, affine,
                                                                   rng) -> None:
    torch = oracle()
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    rm, rv = rng.standard_normal(3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    ours = [t(x, True), t(w, True) if affine else None, t(b, True) if affine else None]
    theirs = [torch.tensor(x, requires_grad=True),
              torch.tensor(w, requires_grad=True) if affine else None,
              torch.tensor(b, requires_grad=True) if affine else None]
    run, trun = [t(rm.copy()), t(rv.copy())], [torch.tensor(rm), torch.tensor(rv)]
    y = F.batch_norm(ours[0], *run, *ours[1:], training=training, momentum=0.2)
    ty = torch.nn.functional.batch_norm(theirs[0], *trun, *theirs[1:], training=training,
                                        momentum=0.2)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert y.dtype == np.float32 and ours[0].grad.dtype == np.float32
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, ta in zip(ours, theirs, strict=True):
        if a is not None:
            np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-4, atol=1e-4)
    for a, ta in zip(run, trun, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.data, ta.numpy(), rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, 2), (3, 2, 3), (2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_batch_norm_gradcheck(shape, training, affine, rng) -> None:
    x = t(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
    w = t(rng.standard_normal(2), requires_grad=True) if affine != "none" else None
    b = t(rng.standard_normal(2), requires_grad=True) if affine == "both" else None
    rm, rv = rng.standard_normal(2), rng.uniform(0.5, 2, 2)

    def fn(x, w, b):
        # Fresh running buffers: the training forward updates them in place.
        return F.batch_norm(x, t(rm.copy()), t(rv.copy()), w, b, training=training)

    assert minidl.gradcheck(fn, [x, w, b])


def test_batch_norm_is_accurate_for_float32_with_a_large_offset() -> None:
    # Values 1e4 ± 1 in float32: E[x²] - E[x]² in float32 would lose every digit.
    rng = np.random.default_rng(7)
    x = (1e4 + rng.standard_normal((64, 4, 8, 8))).astype(np.float32)
    y = F.batch_norm(t(x), None, None, training=True)
    x64 = x.astype(np.float64)
    axes = channel_axes(x64)
    ref = ref_batch_norm(x64, x64.mean(axis=axes), x64.var(axis=axes), None, None, 1e-5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, ref, atol=2e-6)


def test_batch_norm_in_training_updates_running_stats_even_without_grad(rng) -> None:
    x = t(rng.standard_normal((8, 3)))
    run_mean, run_var = minidl.zeros(3), minidl.ones(3)
    with minidl.no_grad():
        F.batch_norm(x, run_mean, run_var, training=True)
    np.testing.assert_allclose(run_mean.data, 0.1 * x.data.mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d"])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_modules_track_torch_over_several_steps(cls, momentum, affine,
                                                           rng) -> None:
    torch = oracle()
    ours = getattr(nn, cls)(4, momentum=momentum, affine=affine)
    theirs = getattr(torch.nn, cls)(4, momentum=momentum, affine=affine)
    shapes = [(5, 4), (3, 4, 6)] if cls == "BatchNorm1d" else [(3, 4, 5, 5), (2, 4, 3, 7)]
    means, variances = [], []
    for step in range(4):
        x = (rng.standard_normal(shapes[step % 2]) * (step + 1) + step).astype(np.float32)
        y = ours(t(x))
        ty = theirs(torch.tensor(x))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        axes = channel_axes(x)
        means.append(x.astype(np.float64).mean(axis=axes))
        variances.append(x.astype(np.float64).var(axis=axes, ddof=1))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(getattr(ours, name).data,
                                       getattr(theirs, name).numpy(), rtol=1e-5)
    assert int(ours.num_batches_tracked.data) == 4
    if momentum is None:  # a cumulative average: every batch weighs the same
        np.testing.assert_allclose(ours.running_mean.data, np.mean(means, axis=0), rtol=1e-5)
        np.testing.assert_allclose(ours.running_var.data, np.mean(variances, axis=0),
                                   rtol=1e-5)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shapes[0]).astype(np.float32)
    np.testing.assert_allclose(ours(t(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert int(ours.num_batches_tracked.data) == 4  # evaluation changes nothing


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval_too(rng) -> None:
    bn = nn.BatchNorm2d(3, track_running_stats=False).eval()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    axes = channel_axes(x)
    np.testing.assert_allclose(bn(t(x)).data,
                               ref_batch_norm(x, x.mean(axis=axes), x.var(axis=axes), None,
                                              None, 1e-5), rtol=1e-5, atol=1e-5)


def test_batch_norm_train_and_eval_give_different_outputs(rng) -> None:
    bn = nn.BatchNorm1d(3)
    x = t((rng.standard_normal((16, 3)) * 5 + 3).astype(np.float32))
    train_out = bn(x).data
    np.testing.assert_allclose(train_out.mean(axis=0), 0, atol=1e-5)
    stats = (bn.running_mean.data.copy(), bn.running_var.data.copy())
    eval_out = bn.eval()(x).data
    assert not np.allclose(train_out, eval_out)
    np.testing.assert_allclose(eval_out, ref_batch_norm(x.data, *stats, None, None, 1e-5),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.running_mean.data, stats[0])


def test_batch_norm_module_parameters_gradients_and_dtype(rng) -> None:
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    x = t(rng.standard_normal((2, 3, 4, 4)).astype(np.float32), requires_grad=True)
    (bn(x) * t(rng.standard_normal((2, 3, 4, 4)).astype(np.float32))).sum().backward()
    assert bn.weight.grad.dtype == bn.bias.grad.dtype == x.grad.dtype == np.float32
    bn64 = nn.BatchNorm1d(2, dtype=np.float64)
    assert bn64.weight.dtype == bn64.running_var.dtype == np.float64
    assert bn64.num_batches_tracked.dtype == np.int64 and bn64.num_batches_tracked.shape == ()
    nb = nn.BatchNorm1d(2, bias=False)
    assert nb.bias is None and list(nb.state_dict()) == [
        "weight", "running_mean", "running_var", "num_batches_tracked"]
    bn(x)
    bn.reset_parameters()
    assert int(bn.num_batches_tracked.data) == 0
    np.testing.assert_array_equal(bn.running_var.data, 1)


def test_batch_norm_state_dict_loads_both_ways_with_torch(rng) -> None:
    torch = oracle()
    theirs = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 2)
        theirs.bias.uniform_(-1, 1)
    for _ in range(3):
        theirs(torch.randn(4, 3, 5, 5) * 2 + 1)
    ours = nn.BatchNorm2d(3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert int(ours.num_batches_tracked.data) == 3
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(t(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    # and back: our trained state into a fresh torch module
    ours.train()
    for _ in range(2):
        ours(t(rng.standard_normal((4, 3, 5, 5)).astype(np.float32)))
    fresh = torch.nn.BatchNorm2d(3)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert int(fresh.num_batches_tracked) == 5
    ours.eval()
    fresh.eval()
    np.testing.assert_allclose(ours(t(x)).data, fresh(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_normalisation_reprs_match_torch() -> None:
    tnn = oracle().nn
    pairs = [
        (nn.BatchNorm2d(3), tnn.BatchNorm2d(3)),
        (nn.BatchNorm1d(5, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
         tnn.BatchNorm1d(5, eps=1e-3, momentum=None, affine=False, track_running_stats=False)),
        (nn.BatchNorm1d(4, bias=False), tnn.BatchNorm1d(4, bias=False)),
        (nn.LayerNorm([3, 4]), tnn.LayerNorm([3, 4])),
        (nn.LayerNorm(3, elementwise_affine=False), tnn.LayerNorm(3, elementwise_affine=False)),
        (nn.LayerNorm(3, eps=1e-6, bias=False), tnn.LayerNorm(3, eps=1e-6, bias=False)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: nn.BatchNorm2d(3)(minidl.zeros(2, 3, 4)), ValueError,
     r"BatchNorm2d\(3, eps=1e-05, .*\): expected 4-D input, got 3-D input of shape \(2, 3, 4\)"),
    (lambda: nn.BatchNorm1d(3)(minidl.zeros(2, 3, 4, 5)), ValueError,
     r"BatchNorm1d\(3, .*\): expected 2-D or 3-D input, got 4-D input"),
    (lambda: nn.BatchNorm1d(3)(minidl.zeros(2, 4)), ValueError,
     r"BatchNorm1d\(3, .*\): expected 3 channels in dimension 1, got input of shape \(2, 4\)"),
    (lambda: nn.BatchNorm1d(3)(minidl.zeros(1, 3)), ValueError,
     r"BatchNorm1d\(3, .*\): BatchNorm1d: expected more than 1 value per channel when "
     r"training, got input of shape \(1, 3\)"),
    (lambda: nn.BatchNorm1d(0), ValueError, r"BatchNorm1d: num_features must be a positive int"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError,
     r"BatchNorm1d: momentum must be in \[0, 1\] or None, got 1.5"),
    (lambda: F.batch_norm(minidl.zeros(2, 3), None, None), ValueError,
     r"batch_norm: running_mean and running_var are required in evaluation mode"),
    (lambda: F.batch_norm(minidl.zeros(2, 3), minidl.zeros(3), None, training=True), ValueError,
     r"batch_norm: give both running_mean and running_var, or neither"),
    (lambda: F.batch_norm(minidl.zeros(2, 3), minidl.zeros(4), minidl.ones(4)), ValueError,
     r"batch_norm: running_mean must have shape \(3,\), one value per channel of the input, "
     r"got shape \(4,\)"),
    (lambda: F.batch_norm(minidl.zeros(2, 3), None, None, weight=minidl.ones(2),
                          training=True), ValueError, r"batch_norm: weight must have shape"),
    (lambda: F.batch_norm(minidl.zeros(3), None, None, training=True), ValueError,
     r"batch_norm: expected an input of shape \(N, C\) or \(N, C, \*\), got shape \(3,\)"),
    (lambda: F.batch_norm(minidl.zeros(2, 3), np.zeros(3), np.ones(3)), TypeError,
     r"batch_norm: running_mean must be a Tensor or None, got ndarray"),
    (lambda: F.layer_norm(minidl.zeros(2, 4), 3), ValueError,
     re.escape("layer_norm: normalized_shape=(3,) must be non-empty and equal the input's "
               "last dimensions, but the input has shape (2, 4)")),
    (lambda: F.layer_norm(minidl.zeros(4), (2, 4)), ValueError, r"normalized_shape=\(2, 4\)"),
    (lambda: F.layer_norm(minidl.zeros(2, 4), 4, weight=minidl.ones(3)), ValueError,
     r"layer_norm: weight must be a Tensor of shape normalized_shape=\(4,\), got \(3,\)"),
    (lambda: F.layer_norm(minidl.tensor([[1, 2]]), 2), TypeError,
     r"layer_norm: input must be floating point, got dtype int64"),
    (lambda: nn.LayerNorm(4)(minidl.zeros(2, 3)), ValueError,
     r"LayerNorm\(\(4,\), eps=1e-05, elementwise_affine=True, bias=True\): layer_norm: "),
    (lambda: nn.LayerNorm((2, 0)), ValueError, r"LayerNorm: normalized_shape must be"),
])
def test_normalisation_errors(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


def test_batch_norm_errors_leave_the_state_alone() -> None:
    bn = nn.BatchNorm1d(3)
    for bad in (minidl.zeros(1, 3), minidl.zeros(2, 4), minidl.zeros(2, 3, 4, 5)):
        with pytest.raises(ValueError):
            bn(bad)
    assert int(bn.num_batches_tracked.data) == 0
    np.testing.assert_array_equal(bn.running_mean.data, 0)
    np.testing.assert_array_equal(bn.running_var.data, 1)


# ============================================================================ layer norm


def ref_layer_norm(x: np.ndarray, k: int, w: np.ndarray | None, b: np.ndarray | None,
                   eps: float) -> np.ndarray:
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


LN_CASES = [((4, 5), 5), ((2, 3, 4), (3, 4)), ((2, 3, 4), [4]), ((6,), 6)]


@pytest.mark.parametrize(("shape", "normalized"), LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_matches_numpy_and_torch(shape, normalized, affine, rng) -> None:
    nshape = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    x = rng.standard_normal(shape) * 3 + 1
    w = rng.standard_normal(nshape) if affine != "none" else None
    b = rng.standard_normal(nshape) if affine == "both" else None
    ours = [t(x, True), None if w is None else t(w, True), None if b is None else t(b, True)]
    y = F.layer_norm(ours[0], normalized, *ours[1:], eps=1e-4)
    np.testing.assert_allclose(y.data, ref_layer_norm(x, len(nshape), w, b, 1e-4), rtol=1e-10,
                               atol=1e-12)
    torch = pytest.importorskip("torch")
    theirs = [None if a is None else torch.tensor(a.data, requires_grad=True) for a in ours]
    ty = torch.nn.functional.layer_norm(theirs[0], nshape, *theirs[1:], eps=1e-4)
    g = rng.standard_normal(shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, ta in zip(ours, theirs, strict=True):
        if a is not None:
            np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("shape", "normalized"), LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_gradcheck(shape, normalized, affine, rng) -> None:
    nshape = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    x = t(rng.standard_normal(shape), requires_grad=True)
    w = t(rng.standard_normal(nshape), requires_grad=True) if affine != "none" else None
    b = t(rng.standard_normal(nshape), requires_grad=True) if affine == "both" else None
    assert minidl.gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), [x, w, b])


def test_layer_norm_keeps_float32_and_is_accurate_with_a_large_offset() -> None:
    x = (1e4 + np.random.default_rng(8).standard_normal((16, 64))).astype(np.float32)
    y = F.layer_norm(t(x), 64)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, ref_layer_norm(x.astype(np.float64), 1, None, None,
                                                      1e-5), atol=1e-5)


def test_layer_norm_module_matches_torch_and_state_dict_loads_both_ways(rng) -> None:
    torch = oracle()
    theirs = torch.nn.LayerNorm((3, 4))
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = nn.LayerNorm((3, 4))
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((2, 5, 3, 4)).astype(np.float32)
    xt = t(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = ours(xt), theirs(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-5)
    ours.eval()  # layer norm ignores the mode
    np.testing.assert_array_equal(ours(xt).data, y.data)
    fresh = torch.nn.LayerNorm((3, 4))
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(fresh(tx).detach().numpy(), y.data, rtol=1e-5, atol=1e-5)
