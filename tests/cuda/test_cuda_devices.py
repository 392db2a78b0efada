"""The 'cuda' device end to end, on Numba's CUDA simulator (or a real GPU): moving tensors
and models, the device-mixing error, activations on the numba.cuda kernels, and training
steps that match the CPU's for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import activations, backend, models, nn, optim
from minidl import functional as F
from minidl.data import DataLoader, TensorDataset
from minidl.train import fit, load_checkpoint, save_checkpoint

CUDA = backend.Device("cuda")


def host(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else backend.to_device(a, backend.CPU)


def on_cuda(a: object) -> bool:
    return backend.device_of(a) == CUDA


def test_tensors_move_and_gradients_flow_back() -> None:
    x = minidl.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda:0" and on_cuda(y.data) and x.device == "cpu"
    assert "device='cuda:0'" in repr(y)
    assert y.to("cuda") is y and y.cuda() is y
    (y * y).sum().backward()
    assert type(x.grad) is np.ndarray
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    back = y.cpu()
    assert back.device == "cpu" and type(back.data) is np.ndarray
    np.testing.assert_array_equal(back.data, x.data)
    with pytest.raises(TypeError, match="is on cuda:0; copy it to the host first"):
        y.detach().numpy()
    assert y.sum().item() == 6.0 and y.tolist() == [[1.0, -2.0], [3.0, 4.0]]
    assert minidl.tensor(y.data).device == "cuda:0"


def test_mixing_devices_names_the_op_and_both_devices() -> None:
    a, b = minidl.ones(3), minidl.ones(3).to("cuda")
    with pytest.raises(RuntimeError, match="Add: expected all tensors on one device, but found "
                                           "cpu and cuda:0"):
        a + b
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="found cuda:0 and cpu"):
        layer(b)


def test_host_arrays_cannot_enter_cuda_arithmetic() -> None:
    with pytest.raises(TypeError, match="cannot be combined with a host NumPy array"):
        minidl.ones(3).to("cuda").data + np.ones(3)


@pytest.mark.parametrize("name", activations.available())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_activation_matches_the_cpu(name: str, dtype: type) -> None:
    minidl.manual_seed(0)
    x = minidl.tensor(np.linspace(-4, 4, 37, dtype=dtype).reshape(1, 37), requires_grad=True)
    module = models.activation(name)
    module.train()
    cpu_out = module(x)
    cpu_out.sum().backward()
    cpu_grads = [x.grad] + [p.grad for p in module.parameters()]
    x.grad = None
    module.zero_grad()

    minidl.manual_seed(0)
    module.to("cuda")
    xc = x.detach().to("cuda").requires_grad_()
    out = module(xc)
    assert on_cuda(out.data)
    out.sum().backward()
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(out.data), cpu_out.data, **tol)
    np.testing.assert_allclose(host(xc.grad), cpu_grads[0], **tol)
    for p, g in zip(module.parameters(), cpu_grads[1:], strict=True):
        assert on_cuda(p.grad)
        np.testing.assert_allclose(host(p.grad), g, **tol)


def test_per_channel_prelu_on_images() -> None:
    minidl.manual_seed(1)
    x = minidl.randn(2, 3, 2, 2)
    module = nn.PReLU(3)
    module.weight.data[:] = [0.1, 0.2, 0.3]
    expected = F.prelu(x, module.weight).data
    out = module.to("cuda")(x.to("cuda"))
    np.testing.assert_allclose(host(out.data), expected, rtol=1e-6)


def _train(device: str, activation: str, steps: int = 3) -> tuple[list[float], dict]:
    minidl.manual_seed(7)
    model = models.mlp(12, (16, 8), 3, activation, dropout=0.2).to(device)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = minidl.randn(10, 12), minidl.randint(0, 3, (10,))
    losses = []
    for _ in range(steps):
        loss = nn.CrossEntropyLoss()(model(x.to(device)), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: host(v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("activation", ["relu", "selu", "rrelu", "prelu", "gelu"])
def test_training_steps_match_the_cpu(activation: str) -> None:
    cpu_losses, cpu_state = _train("cpu", activation)
    losses, state = _train("cuda", activation)
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-5)
    for k in cpu_state:
        np.testing.assert_allclose(state[k], cpu_state[k], rtol=1e-4, atol=1e-6)


def test_fit_moves_batches_and_checkpoints_come_back_to_the_host(tmp_path) -> None:
    minidl.manual_seed(0)
    data = TensorDataset(minidl.randn(32, 6), minidl.randint(0, 2, (32,)))
    model = models.mlp(6, (8,), 2).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, opt, nn.CrossEntropyLoss(), DataLoader(data, 8, shuffle=True),
                  DataLoader(data, 16), epochs=2, progress=False)
    assert len(history) == 2 and history["val_acc"][-1] is not None
    save_checkpoint(tmp_path / "ck.npz", model, opt, epoch=2)
    again = models.mlp(6, (8,), 2)
    load_checkpoint(tmp_path / "ck.npz", again)
    for k, v in again.state_dict().items():
        np.testing.assert_array_equal(v, host(model.state_dict()[k]))
    model.load_state_dict(again.state_dict())
    assert all(on_cuda(p.data) for p in model.parameters())
