"""The CNN ops on a ``cuda`` device (``minidl/kernels/array_ops.py``) against the CPU path.

Convolution, pooling and normalisation on 'cuda' must give the CPU's outputs, gradients
and saved state (running statistics, max-pool indices), keep everything on the device,
and train a small CNN one step to the same parameters. Run on the simulator with

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_device_cnn.py

Tensors are tiny: the simulated device is host memory, but the suite stays quick.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import minidl
from minidl import backend, models, nn, optim
from minidl import functional as F

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float64, np.float32]


@pytest.fixture(autouse=True)
def _seed() -> None:
    minidl.manual_seed(0)


def _host(a) -> np.ndarray:
    return backend.to_device(a, backend.CPU)


def _on_device(a) -> bool:
    return isinstance(a, backend.SimulatedCudaArray) or backend.device_of(a).type == "cuda"


def _leaf(a: np.ndarray | None, device: str, grad: bool = True) -> minidl.Tensor | None:
    if a is None:
        return None
    return minidl.Tensor(a).to(device).requires_grad_(grad)


def _compare(fn: Callable, arrays: list[np.ndarray | None], dtype, needs=None,
             rng_seed: int = 1) -> minidl.Tensor:
    """Run ``fn(*tensors)`` on cpu and on cuda with the same inputs and the same upstream
    gradient; check the outputs, every gradient, and that the cuda ones stay on cuda."""
    arrays = [None if a is None else a.astype(dtype) for a in arrays]
    needs = needs or [a is not None for a in arrays]
    results = {}
    for device in ("cpu", "cuda"):
        leaves = [_leaf(a, device, n) for a, n in zip(arrays, needs, strict=True)]
        y = fn(*leaves)
        g = np.random.default_rng(rng_seed).standard_normal(y.shape).astype(dtype)
        (y * minidl.Tensor(g).to(device)).sum().backward()
        results[device] = (y, leaves)
    (y_cpu, cpu_leaves), (y_gpu, gpu_leaves) = results["cpu"], results["cuda"]
    assert type(y_gpu.data) is backend.SimulatedCudaArray
    assert y_gpu.dtype == y_cpu.dtype == dtype and y_gpu.shape == y_cpu.shape
    np.testing.assert_allclose(_host(y_gpu.data), y_cpu.data, **TOL[dtype])
    for k, (a, b) in enumerate(zip(cpu_leaves, gpu_leaves, strict=True)):
        if a is None or not a.requires_grad:
            continue
        assert type(b.grad) is backend.SimulatedCudaArray, f"grad of input {k} left cuda"
        assert b.grad.dtype == a.grad.dtype and b.grad.shape == a.grad.shape
        np.testing.assert_allclose(_host(b.grad), a.grad, **TOL[dtype],
                                   err_msg=f"gradient of input {k}")
    return y_gpu


# ============================================================================ conv2d

CONV_CASES = [
    # (input shape, weight shape, bias, options)
    ((2, 3, 6, 5), (4, 3, 3, 3), True, {}),
    ((2, 3, 7, 6), (4, 3, 3, 3), True, dict(stride=2, padding=1)),
    ((1, 2, 6, 7), (3, 2, 2, 3), True, dict(padding="same", dilation=2)),
    ((2, 4, 7, 7), (6, 2, 3, 2), True, dict(stride=(1, 2), padding=(1, 2), dilation=(2, 1),
                                            groups=2)),
    ((2, 4, 5, 5), (4, 1, 3, 3), False, dict(padding="same", groups=4)),
    ((3, 5, 5), (2, 3, 1, 1), True, dict(stride=2)),  # unbatched, 1x1 kernel
    ((2, 2, 5, 5), (3, 2, 3, 3), True, dict(padding="valid", stride=3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, bias, options", CONV_CASES)
def test_conv2d_matches_cpu(x_shape, w_shape, bias, options, dtype):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) if bias else None
    _compare(lambda x, w, b: F.conv2d(x, w, b, **options), [x, w, b], dtype)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, True),
                                   (False, False, True), (True, True, False)])
def test_conv2d_computes_only_the_gradients_asked_for(needs):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)),
              rng.standard_normal(3)]
    _compare(lambda x, w, b: F.conv2d(x, w, b, padding=1), arrays, np.float64, list(needs))


# ============================================================================ max pooling

POOL_CASES = [
    dict(kernel_size=2),  # tiles the input (the CPU's fast kernel)
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1),  # overlapping windows: an input can win several times
    dict(kernel_size=(2, 3), stride=(2, 1), dilation=2),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, ceil_mode=True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", POOL_CASES)
def test_max_pool2d_matches_cpu(options, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8))
    _compare(lambda x: F.max_pool2d(x, **options), [x], dtype)


@pytest.mark.parametrize("options", POOL_CASES)
def test_max_pool2d_ties_nans_and_indices_match_cpu(options):
    """Small integers tie everywhere (the first maximum wins), NaNs win (the last one),
    and -inf inputs next to the padding keep the first tap inside the input."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (2, 2, 7, 8)).astype(np.float64)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[1, 1, 5, 3] = np.nan
    x[0, 1] = -np.inf
    x[1, 0, :3, :3] = -np.inf
    indices = {}
    for device in ("cpu", "cuda"):
        xt = minidl.Tensor(x).to(device).requires_grad_()
        y, idx = F.max_pool2d(xt, return_indices=True, **options)
        y.sum().backward()
        indices[device] = (y, idx, xt.grad)
    (y0, i0, g0), (y1, i1, g1) = indices["cpu"], indices["cuda"]
    assert type(i1.data) is backend.SimulatedCudaArray and i1.dtype == np.int64
    np.testing.assert_array_equal(_host(i1.data), i0.data)
    np.testing.assert_array_equal(_host(y1.data), y0.data)
    np.testing.assert_array_equal(_host(g1), g0)


def test_max_pool2d_unbatched_and_module():
    x = np.random.default_rng(0).standard_normal((3, 6, 6))
    _compare(lambda x: nn.MaxPool2d(3, stride=2, padding=1)(x), [x], np.float64)


# ============================================================================ average pooling

AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=1, divisor_override=5),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", AVG_CASES)
def test_avg_pool2d_matches_cpu(options, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    _compare(lambda x: F.avg_pool2d(x, **options), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, size", [((2, 3, 7, 5), (3, 2)), ((2, 3, 6, 6), 1),
                                         ((3, 5, 4), (None, 3)), ((1, 2, 4, 4), 6)])
def test_adaptive_avg_pool2d_matches_cpu(shape, size, dtype):
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(lambda x: F.adaptive_avg_pool2d(x, size), [x], dtype)


# ============================================================================ normalisation


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_cpu(shape, training, affine, dtype):
    rng = np.random.default_rng(0)
    channels = shape[1]
    x = rng.standard_normal(shape) * 3 + 100  # far from 0: the statistics must not cancel
    w = rng.uniform(0.5, 2, channels) if affine else None
    b = rng.standard_normal(channels) if affine else None
    mean0 = rng.standard_normal(channels).astype(dtype)
    var0 = rng.uniform(0.5, 2, channels).astype(dtype)
    stats = {}

    def fn(x, w, b):
        device = x.device.type
        stats[device] = (minidl.Tensor(mean0.copy()).to(device),
                         minidl.Tensor(var0.copy()).to(device))
        return F.batch_norm(x, *stats[device], w, b, training=training, momentum=0.3)

    _compare(fn, [x, w, b], dtype)
    for cpu, gpu in zip(stats["cpu"], stats["cuda"], strict=True):
        assert type(gpu.data) is backend.SimulatedCudaArray
        np.testing.assert_allclose(_host(gpu.data), cpu.data, **TOL[dtype])


def test_batch_norm_without_running_stats():
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    _compare(lambda x: F.batch_norm(x, None, None, training=True), [x], np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_cpu(affine, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)) + 50
    w = rng.uniform(0.5, 2, (4, 5)) if affine else None
    b = rng.standard_normal((4, 5)) if affine else None
    _compare(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), [x, w, b], dtype)


# ============================================================================ models


def _bn_cnn() -> nn.Module:
    # No bias before batch norm: its gradient is rounding noise (the mean is subtracted
    # again), which Adam would turn into steps of a random sign on each device.
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding="same", groups=2, bias=False),
        nn.BatchNorm2d(6), nn.ReLU(),
        nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))


@pytest.mark.parametrize("make", [lambda: models.mnist_cnn("relu", image_size=8),
                                  lambda: models.mnist_cnn("selu", image_size=8),
                                  _bn_cnn], ids=["relu", "selu-alpha-dropout", "batchnorm"])
def test_one_adam_step_matches_cpu(make):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 3)
    runs = {}
    for device in ("cpu", "cuda"):
        minidl.manual_seed(0)
        model = make().to(device)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        loss = nn.CrossEntropyLoss()(model(minidl.Tensor(x).to(device)),
                                     minidl.Tensor(y).to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        runs[device] = (loss.item(), model)
    (loss_cpu, cpu), (loss_gpu, gpu) = runs["cpu"], runs["cuda"]
    if make is not _bn_cnn:
        assert any(isinstance(m, (nn.Dropout, nn.AlphaDropout)) for m in gpu.modules())
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    cpu_state, gpu_state = cpu.state_dict(), gpu.state_dict()
    assert cpu_state.keys() == gpu_state.keys()
    for name, value in gpu_state.items():
        data = value.data if isinstance(value, minidl.Tensor) else value
        assert _on_device(data), name
        expected = cpu_state[name]
        expected = expected.data if isinstance(expected, minidl.Tensor) else expected
        np.testing.assert_allclose(_host(data), expected, rtol=1e-4, atol=1e-5, err_msg=name)
