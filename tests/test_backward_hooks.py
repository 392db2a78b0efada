"""``Module.register_full_backward_hook``: what the hook sees, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import nn

torch = pytest.importorskip("torch")


def _pair(seed: int = 0):
    """A minidl MLP and the same PyTorch MLP (same weights)."""
    minidl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    return model, tmodel


def _record(log: list):
    def hook(module, grad_input, grad_output):
        log.append((type(module).__name__,
                    [None if g is None else np.array(g.data if hasattr(g, "data") else g)
                     for g in grad_input],
                    [np.array(g.data) for g in grad_output]))
    return hook


def _torch_record(log: list):
    def hook(module, grad_input, grad_output):
        log.append((type(module).__name__,
                    [None if g is None else g.detach().numpy().copy() for g in grad_input],
                    [g.detach().numpy().copy() for g in grad_output]))
    return hook


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("input_requires_grad", [False, True])
def test_hooks_see_what_pytorch_hooks_see(input_requires_grad):
    model, tmodel = _pair()
    log, tlog = [], []
    for m, tm in zip(model, tmodel, strict=True):
        m.register_full_backward_hook(_record(log))
        tm.register_full_backward_hook(_torch_record(tlog))
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    xm = minidl.tensor(x, requires_grad=input_requires_grad)
    xt = torch.tensor(x, requires_grad=input_requires_grad)
    model(xm).sum().backward()
    tmodel(xt).sum().backward()
    # backward order: last layer first, as in PyTorch
    assert [entry[0] for entry in log] == [entry[0] for entry in tlog] == [
        "Linear", "Tanh", "Linear"]
    for (_, gi, go), (_, tgi, tgo) in zip(log, tlog, strict=True):
        assert len(gi) == len(tgi) == 1 and len(go) == len(tgo) == 1
        np.testing.assert_allclose(go[0], tgo[0], rtol=1e-5, atol=1e-6)
        if tgi[0] is None:
            assert gi[0] is None
        else:
            np.testing.assert_allclose(gi[0], tgi[0], rtol=1e-5, atol=1e-6)


def test_a_hook_can_replace_grad_input_and_be_removed():
    model, _ = _pair()
    x = minidl.randn(3, 5, requires_grad=True)
    model(x).sum().backward()
    plain = x.grad.copy()
    x.grad = None
    handle = model[0].register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    model(x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * plain, rtol=1e-6)
    handle.remove()
    x.grad = None
    model(x).sum().backward()
    np.testing.assert_allclose(x.grad, plain, rtol=1e-6)
    assert not model[0]._backward_hooks


def test_hooks_do_not_run_without_a_graph_and_check_their_result():
    model, _ = _pair()
    calls = []
    model[2].register_full_backward_hook(lambda m, gi, go: calls.append(1))
    with minidl.no_grad():
        y = model(minidl.randn(2, 5))
    assert not y.requires_grad and calls == []
    model[0].register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="returned 2 gradients for a module with 1 inputs"):
        model(minidl.randn(2, 5, requires_grad=True)).sum().backward()


def test_hook_on_a_module_with_two_inputs():
    class Add(nn.Module):
        def forward(self, a, b):
            return a * 2 + b

    seen = []
    add = Add()
    add.register_full_backward_hook(lambda m, gi, go: seen.append(gi))
    a, b = minidl.randn(3, requires_grad=True), minidl.randn(3, requires_grad=True)
    add(a, b).sum().backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0][0].data, 2.0)
    np.testing.assert_allclose(seen[0][1].data, 1.0)
    add.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0, gi[1] * 0))
    with pytest.raises(RuntimeError, match="replace grad_input only for modules with one"):
        add(a, b).sum().backward()
