"""The numba.cuda activation kernels against the CPU kernels, for every activation.

Arrays are tiny because the simulator runs a few thousand elements a second; they are
still longer than the simulated grid, so the grid-stride loop takes more than one step.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

from minidl.kernels import cpu
from minidl.kernels import cuda as gpu
from minidl.kernels.activations import REGISTRY

N = 100  # > 2 blocks x 32 threads in the simulator
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def _inputs(dtype, shape=(N,), seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    flat = x.reshape(-1)
    flat[:6] = [0.0, -3.0, 3.0, 6.0, 25.0, -30.0]
    return x


def _params(name, x):
    act = REGISTRY[name]
    if name == "prelu":
        return (np.linspace(0.1, 0.4, x.shape[1]).astype(x.dtype),) if x.ndim > 1 else (0.25,)
    if name == "rrelu":
        return (np.random.default_rng(1).uniform(1 / 8, 1 / 3, x.shape).astype(x.dtype),)
    return tuple(act.params.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_forward_and_backward_match_cpu(name, dtype):
    act = REGISTRY[name]
    x = _inputs(dtype)
    params = _params(name, x)
    y_cpu = cpu.forward(act, x, params)
    y_gpu = gpu.forward(act, cuda.to_device(x), params).copy_to_host()
    assert y_gpu.dtype == dtype and y_gpu.shape == x.shape
    np.testing.assert_allclose(y_gpu, y_cpu, **TOL[dtype])

    g = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    gx_cpu, _ = cpu.backward(act, x, y_cpu, g, params)
    gx_gpu, _ = gpu.backward(act, cuda.to_device(x), cuda.to_device(y_cpu), cuda.to_device(g),
                             params)
    np.testing.assert_allclose(gx_gpu.copy_to_host(), gx_cpu, **TOL[dtype])


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 4)])
def test_prelu_per_channel_and_weight_grad(shape):
    act = REGISTRY["prelu"]
    x = _inputs(np.float64, shape)
    w = np.array([0.1, 0.2, 0.3])
    y = gpu.forward(act, cuda.to_device(x), (w,)).copy_to_host()
    slope = w.reshape((1, 3) + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(y, np.where(x > 0, x, slope * x), rtol=1e-15)
    g = np.ones(shape)
    gx, (gw,) = gpu.backward(act, cuda.to_device(x), None, cuda.to_device(g), (w,))
    axes = tuple(i for i in range(len(shape)) if i != 1)
    np.testing.assert_allclose(gw, np.where(x > 0, 0.0, x).sum(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(gx.copy_to_host(), np.where(x > 0, 1.0, slope * g), rtol=1e-15)


def test_shared_prelu_weight_grad_is_summed_to_its_shape():
    act = REGISTRY["prelu"]
    x = _inputs(np.float32, (4, 5))
    w = np.array([0.25], dtype=np.float32)
    _, (gw,) = gpu.backward(act, cuda.to_device(x), None, cuda.to_device(np.ones_like(x)), (w,))
    assert gw.shape == (1,)
    np.testing.assert_allclose(gw, [np.where(x > 0, 0, x).sum()], rtol=1e-5)


def test_non_contiguous_device_arrays_are_refused_with_a_clear_error():
    x = cuda.to_device(np.ones((4, 6)))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        gpu.forward(REGISTRY["relu"], x)
