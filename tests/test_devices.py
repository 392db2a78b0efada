"""Devices on a machine without CUDA: names, the clear error for 'cuda', the 'auto' fallback.
(The cuda code paths themselves are tested in tests/cuda/test_devices.py, on the simulator.)"""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import backend

pytestmark = pytest.mark.skipif(backend.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize(("spec", "text"), [("cpu", "cpu"), ("CUDA", "cuda:0"),
                                             ("cuda:2", "cuda:2"), (" cuda:0 ", "cuda:0")])
def test_device_names(spec: str, text: str) -> None:
    dev = backend.Device(spec)
    assert str(dev) == text and dev == text and repr(dev) == f"device('{text}')"
    assert hash(dev) == hash(backend.Device(text))
    assert dev != "tpu"


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "cuda:x", "", "cuda:-1"])
def test_bad_device_names_are_named(spec: str) -> None:
    expected = f"expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {spec!r}"
    with pytest.raises(ValueError, match=expected):
        minidl.device(spec)
    with pytest.raises(TypeError, match="got int"):
        minidl.device(0)


def test_cuda_without_a_gpu_says_what_to_install() -> None:
    with pytest.raises(RuntimeError, match="device 'cuda:0' is not available: .*minidl\\[cuda\\]"
                       "|device 'cuda:0' is not available: numba.cuda.is_available"):
        minidl.device("cuda")
    t = minidl.ones(3)
    with pytest.raises(RuntimeError, match="not available"):
        t.to("cuda")
    model = minidl.nn.Linear(2, 2)
    before = model.weight.data
    with pytest.raises(RuntimeError, match="not available"):
        model.to("cuda")
    assert model.weight.data is before, "a failed move must leave the model as it was"


def test_auto_falls_back_to_the_cpu_in_one_line(capsys: pytest.CaptureFixture) -> None:
    assert minidl.device("auto") == "cpu"
    err = capsys.readouterr().err
    assert err.startswith("minidl: using the CPU (") and err.count("\n") == 1


def test_to_takes_a_device_a_dtype_or_both() -> None:
    t = minidl.tensor([1.0, 2.0], requires_grad=True)
    assert t.device == "cpu" and t.to("cpu") is t and t.cpu() is t and t.to(minidl.float32) is t
    d = t.to("cpu", minidl.float64)
    assert d.dtype == np.float64 and d.grad_fn is not None
    d.sum().backward()
    assert t.grad.dtype == np.float32 and t.grad.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="expected a device and/or a dtype"):
        t.to("cpu", "cpu")
    model = minidl.nn.Linear(2, 2).to("cpu", minidl.float64)
    assert model.weight.dtype == np.float64 and model.weight.device == "cpu"
    with pytest.raises(TypeError, match="floating-point dtype"):
        model.to(minidl.int64)
