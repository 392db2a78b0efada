"""Tests of ``minidl.nn`` (all but ``nn.init``): registration, traversal, modes, Linear,
Dropout, activations, losses, containers, state_dict, hooks, dtype conversion and repr,
against NumPy, ``minidl.gradcheck`` and, where installed, PyTorch."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from types import ModuleType

import numpy as np
import pytest

import minidl
from minidl import functional as F
from minidl import nn
from minidl.nn import Parameter


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


def params_snapshot(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.data.copy() for k, v in model.named_parameters()}


class Net(nn.Module):
    """A small custom model with nested children, a parameter and buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.fc2 = nn.Linear(8, 3)
        self.scale = Parameter(np.ones(3, dtype=np.float32))
        self.register_buffer("count", minidl.zeros(1))
        self.register_buffer("cache", minidl.zeros(2), persistent=False)

    def forward(self, x: minidl.Tensor) -> minidl.Tensor:
        return self.fc2(self.block(self.act(self.fc1(x)))) * self.scale


# ======================================================================== registration
def test_parameters_buffers_and_children_are_registered() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias",
                     "fc2.weight", "fc2.bias"]
    assert [p.shape for p in net.parameters()] == [(3,), (8, 4), (8,), (8, 8), (8,), (3, 8),
                                                    (3,)]
    assert all(isinstance(p, Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["count", "cache"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "block", "fc2"]
    assert list(net.children()) == [net.fc1, net.act, net.block, net.fc2]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "block", "block.0",
                                                    "block.1", "fc2"]
    # non-recursive: only the module's own
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="model", recurse=False)] == ["model.scale"]
    # persistent buffers are state, non-persistent ones are not
    assert "count" in net.state_dict() and "cache" not in net.state_dict()
    assert net.count is net._buffers["count"]


def test_plain_attributes_are_not_registered() -> None:
    m = nn.Module()
    m.lr = 0.1
    m.layers = [nn.Linear(2, 2)]  # a plain list hides its modules (use ModuleList)
    m.data = minidl.zeros(3)  # a plain tensor is not a parameter
    assert list(m.parameters()) == []
    assert list(m.children()) == []
    assert m.lr == 0.1


def test_reassigning_moves_between_registries() -> None:
    m = nn.Module()
    p1, p2 = Parameter(np.zeros(2)), Parameter(np.ones(2))
    m.w = p1
    m.w = p2  # replaces
    assert list(m.parameters()) == [p2]
    m.w = nn.Linear(2, 2)  # a parameter name becomes a child module
    assert "w" not in m._parameters and [n for n, _ in m.named_parameters()] == [
        "w.weight", "w.bias"]
    m.w = p1  # and back
    assert list(m.named_parameters()) == [("w", p1)] and list(m.children()) == []
    m.w = None  # a registered parameter set to None is absent
    assert m.w is None and list(m.parameters()) == [] and "w" not in m.state_dict()
    m.plain = 3
    m.plain = Parameter(np.zeros(1))  # a plain attribute becomes a parameter
    assert [n for n, _ in m.named_parameters()] == ["plain"]
    assert "plain" not in m.__dict__


def test_buffer_reassignment_keeps_persistence_and_checks_type() -> None:
    m = nn.Module()
    m.register_buffer("running", minidl.zeros(2))
    m.register_buffer("tmp", minidl.zeros(2), persistent=False)
    m.running = minidl.ones(2)
    m.tmp = minidl.ones(2)
    np.testing.assert_array_equal(m.state_dict()["running"], [1, 1])
    assert list(m.state_dict()) == ["running"]
    with pytest.raises(TypeError, match="buffer 'running'"):
        m.running = np.ones(2)
    with pytest.raises(TypeError, match="must be a Tensor"):
        m.register_buffer("bad", [1.0, 2.0])


def test_delete_unregisters() -> None:
    net = Net()
    del net.scale
    del net.fc2
    del net.count
    assert "scale" not in [n for n, _ in net.named_parameters()]
    assert not any(n.startswith("fc2.") for n in net.state_dict())
    assert "count" not in net.state_dict()
    for name in ("scale", "fc2", "count"):
        with pytest.raises(AttributeError, match=name):
            getattr(net, name)
    net.note = "x"
    del net.note
    assert not hasattr(net, "note")


def test_plain_tensor_into_parameter_slot_raises_type_error() -> None:
    lin = nn.Linear(3, 2)
    w = lin.weight
    with pytest.raises(TypeError, match="parameter 'weight'"):
        lin.weight = minidl.zeros(2, 3)
    assert lin.weight is w  # unchanged
    with pytest.raises(TypeError, match="Parameter or None"):
        lin.bias = np.zeros(2)
    # an absent bias is still a parameter slot
    nobias = nn.Linear(3, 2, bias=False)
    with pytest.raises(TypeError, match="parameter 'bias'"):
        nobias.bias = minidl.zeros(2)
    nobias.bias = Parameter(np.zeros(2, dtype=np.float32))  # a Parameter is fine
    assert [n for n, _ in nobias.named_parameters()] == ["weight", "bias"]
    with pytest.raises(TypeError, match="child module 'block'"):
        Net().block = minidl.zeros(1)
    with pytest.raises(TypeError, match="must be a Parameter"):
        nn.Module().register_parameter("w", minidl.zeros(2))
    with pytest.raises(TypeError, match="must be a Module"):
        nn.Module().add_module("m", minidl.zeros(2))


def test_assignment_before_super_init_is_a_clear_error() -> None:
    class Forgot(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(AttributeError, match=r"'fc'.*super\(\).__init__\(\)"):
        Forgot()


def test_unknown_attribute_raises_attribute_error_naming_it() -> None:
    lin = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'wieght'"):
        _ = lin.wieght
    assert not hasattr(lin, "wieght")
    assert getattr(lin, "missing", 42) == 42
    assert "weight" in dir(lin) and "bias" in dir(lin)


def test_shared_parameters_and_modules_are_listed_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(4, 4)
            self.dec = nn.Linear(4, 4)
            self.dec.weight = self.enc.weight  # weight tying
            self.again = self.enc  # the same module under two names

    m = Tied()
    assert [n for n, _ in m.named_parameters()] == ["enc.weight", "enc.bias", "dec.bias"]
    assert len(list(m.parameters())) == 3
    assert [n for n, _ in m.named_modules()] == ["", "enc", "dec"]
    # state_dict lists a shared tensor under each of its names, as PyTorch does
    assert list(m.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias",
                                    "again.weight", "again.bias"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == [
        "", "enc", "dec", "again"]
    # a gradient reaches the one shared tensor from both uses
    x = minidl.randn(2, 4)
    m.dec(m.enc(x)).sum().backward()
    assert m.enc.weight.grad is not None and m.dec.weight.grad is m.enc.weight.grad


def test_named_parameters_and_state_dict_keys_match_torch() -> None:
    torch = oracle()
    tnn = torch.nn

    class TNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = tnn.Linear(4, 8)
            self.act = tnn.ReLU()
            self.block = tnn.Sequential(tnn.Linear(8, 8), tnn.Tanh())
            self.fc2 = tnn.Linear(8, 3)
            self.scale = tnn.Parameter(torch.ones(3))
            self.register_buffer("count", torch.zeros(1))
            self.register_buffer("cache", torch.zeros(2), persistent=False)

    ours, theirs = Net(), TNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())

    seq = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    tseq = tnn.Sequential(tnn.Flatten(), tnn.Linear(4, 3), tnn.ReLU(), tnn.Linear(3, 2))
    assert [n for n, _ in seq.named_parameters()] == [n for n, _ in tseq.named_parameters()]
    assert [n for n, _ in seq.named_parameters()] == ["1.weight", "1.bias", "3.weight", "3.bias"]

    class TTied(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tnn.Linear(2, 2)
            self.b = self.a

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a

    assert list(Tied().state_dict()) == list(TTied().state_dict())
    assert [n for n, _ in Tied().named_parameters()] == [
        n for n, _ in TTied().named_parameters()]


def test_apply_visits_children_first_and_requires_grad_() -> None:
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Linear", "Tanh", "Sequential", "Linear", "Net"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())


def test_zero_grad() -> None:
    net = Net()
    net(minidl.randn(5, 4)).sum().backward()
    assert all(p.grad is not None and np.any(p.grad != 0) for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_deepcopy_gives_an_independent_model() -> None:
    net = Net()
    clone = copy.deepcopy(net)
    x = minidl.randn(3, 4)
    np.testing.assert_array_equal(clone(x).data, net(x).data)
    assert clone.fc1.weight is not net.fc1.weight
    with minidl.no_grad():
        clone.fc1.weight.data += 1
    assert not np.array_equal(clone(x).data, net(x).data)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in net.named_parameters()]


def test_module_without_forward() -> None:
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(minidl.zeros(1))


# ======================================================================== train / eval
def test_train_and_eval_reach_every_descendant() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5),
                                                         nn.ModuleList([nn.Dropout(0.1)])))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert [m.training for m in model.modules()] == [False] * 6
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())
    model[1].train()  # only a subtree
    assert [m.training for m in model.modules()] == [False, False, True, True, True, True]


def test_dropout_is_identity_in_eval_and_for_p0() -> None:
    x = minidl.randn(20, 30)
    drop = nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    y = nn.Dropout(1.0)(x)
    assert not np.any(y.data)


def test_dropout_in_training_zeroes_about_p_and_keeps_the_mean() -> None:
    p = 0.3
    x = minidl.ones(400, 500, requires_grad=True)
    y = nn.Dropout(p)(x)
    zeroed = np.mean(y.data == 0)
    assert abs(zeroed - p) < 0.01
    kept = y.data[y.data != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-6)
    assert abs(y.data.mean() - 1.0) < 0.01
    assert y.dtype == np.float32
    y.sum().backward()  # the gradient is the mask
    np.testing.assert_array_equal(x.grad, y.data)


def test_dropout_is_reproducible_with_manual_seed() -> None:
    x = minidl.ones(50, 50)
    minidl.manual_seed(7)
    a = nn.Dropout(0.5)(x).data
    b = nn.Dropout(0.5)(x).data
    minidl.manual_seed(7)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).data, a)
    assert not np.array_equal(a, b)  # successive masks differ


def test_dropout_rejects_bad_p() -> None:
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
            nn.Dropout(p)


# ======================================================================== Linear
def test_linear_forward_and_backward_match_numpy(rng: np.random.Generator) -> None:
    lin = nn.Linear(5, 3)
    x = t(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    y = lin(x)
    W, b = lin.weight.data, lin.bias.data
    np.testing.assert_allclose(y.data, x.data @ W.T + b, rtol=1e-5, atol=1e-6)
    y.backward(g)
    np.testing.assert_allclose(lin.weight.grad, g.T @ x.data, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad, g.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad, g @ W, rtol=1e-5, atol=1e-5)


def test_linear_nd_input(rng: np.random.Generator) -> None:
    lin = nn.Linear(4, 6).double()
    xs = rng.standard_normal((2, 3, 4))
    x = t(xs, requires_grad=True)
    y = lin(x)
    assert y.shape == (2, 3, 6)
    np.testing.assert_allclose(y.data, xs @ lin.weight.data.T + lin.bias.data)
    g = rng.standard_normal((2, 3, 6))
    y.backward(g)
    np.testing.assert_allclose(lin.weight.grad, np.einsum("bso,bsi->oi", g, xs))
    np.testing.assert_allclose(lin.bias.grad, g.sum((0, 1)))
    np.testing.assert_allclose(x.grad, g @ lin.weight.data)
    assert lin(t(rng.standard_normal(4))).shape == (6,)  # a single 1-D sample


def test_linear_gradcheck_input(rng: np.random.Generator) -> None:
    lin = nn.Linear(4, 3).double()
    x = t(rng.standard_normal((2, 3, 4)), requires_grad=True)
    assert minidl.gradcheck(lambda x: F.tanh(lin(x)), [x])


def test_linear_parameter_gradients_match_finite_differences(rng: np.random.Generator) -> None:
    lin = nn.Linear(3, 2).double()
    x = t(rng.standard_normal((5, 3)))
    target = rng.standard_normal((5, 2))

    def loss() -> minidl.Tensor:
        return ((F.tanh(lin(x)) - t(target)) ** 2).sum()

    loss().backward()
    eps = 1e-6
    for p in lin.parameters():
        numeric = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            orig = p.data[i]
            with minidl.no_grad():
                p.data[i] = orig + eps
                up = loss().item()
                p.data[i] = orig - eps
                down = loss().item()
                p.data[i] = orig
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-8)
    # and the functional form through gradcheck, every input at once
    w = t(lin.weight.data.copy(), requires_grad=True)
    b = t(lin.bias.data.copy(), requires_grad=True)
    xg = t(x.data, requires_grad=True)
    assert minidl.gradcheck(lambda x, w, b: F.linear(x, w, b), [xg, w, b])


@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 5)])
def test_linear_matches_torch(shape: tuple[int, ...], rng: np.random.Generator) -> None:
    torch = oracle()
    tl = torch.nn.Linear(5, 3)
    lin = nn.Linear(5, 3)
    lin.load_state_dict({k: v.numpy() for k, v in tl.state_dict().items()})
    xs = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape[:-1] + (3,)).astype(np.float32)
    x = t(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    y, ty = lin(x), tl(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.weight.grad, tl.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad, tl.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_default_init_bounds() -> None:
    for n_in in (3, 50, 784):
        lin = nn.Linear(n_in, 300)
        bound = 1 / math.sqrt(n_in)
        for p in (lin.weight, lin.bias):
            assert p.dtype == np.float32
            assert np.abs(p.data).max() <= bound * (1 + 1e-6)
            assert np.abs(p.data).max() > 0.9 * bound  # fills the range, not a narrower one
            assert p.data.min() < 0 < p.data.max()


def test_linear_default_init_statistics() -> None:
    n_in = 1000
    w = nn.Linear(n_in, 1000).weight.data.astype(np.float64)
    assert abs(w.std() - 1 / math.sqrt(3 * n_in)) < 0.01 / math.sqrt(3 * n_in)
    assert abs(w.mean()) < 1e-3 / math.sqrt(n_in)
    # uniform: a quarter of the draws lies in each quarter of [-bound, bound]
    hist, _ = np.histogram(w, bins=4, range=(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in)))
    np.testing.assert_allclose(hist / w.size, 0.25, atol=0.005)


def test_linear_init_is_seeded() -> None:
    minidl.manual_seed(3)
    a = nn.Linear(10, 10)
    minidl.manual_seed(3)
    b = nn.Linear(10, 10)
    c = nn.Linear(10, 10)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(b.weight.data, c.weight.data)


def test_linear_feature_mismatch_error_names_layer_and_shapes() -> None:
    lin = nn.Linear(784, 10)
    with pytest.raises(ValueError) as err:
        lin(minidl.zeros(32, 28, 28))
    message = str(err.value)
    assert "Linear(in_features=784, out_features=10" in message
    assert "784" in message and "(32, 28, 28)" in message
    with pytest.raises(ValueError, match=r"shape \(\)"):
        lin(minidl.tensor(1.0))


def test_linear_options_and_validation() -> None:
    lin = nn.Linear(3, 2, bias=False)
    assert lin.bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert list(lin.state_dict()) == ["weight"]
    x = minidl.randn(4, 3)
    np.testing.assert_allclose(lin(x).data, x.data @ lin.weight.data.T, rtol=1e-6)
    lin64 = nn.Linear(3, 2, dtype=np.float64)
    assert lin64.weight.dtype == np.float64 and lin64.bias.dtype == np.float64
    for bad in (-1, 2.5, "3"):
        with pytest.raises(ValueError, match="in_features must be a non-negative int"):
            nn.Linear(bad, 2)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(2, -3)


def test_identity_and_flatten(rng: np.random.Generator) -> None:
    x = t(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    assert nn.Identity(54, unused=True)(x) is x
    y = nn.Flatten()(x)
    assert y.shape == (2, 60)
    np.testing.assert_array_equal(y.data, x.data.reshape(2, 60))
    assert nn.Flatten(0, -1)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    g = rng.standard_normal((2, 60))
    y.backward(g)
    np.testing.assert_array_equal(x.grad, g.reshape(x.shape))


# ======================================================================== activations
def test_activation_modules_match_numpy_and_functional(rng: np.random.Generator) -> None:
    xs = rng.standard_normal((3, 4))
    x = t(xs)
    sm = np.exp(xs) / np.exp(xs).sum(1, keepdims=True)
    cases = [
        (nn.ReLU(), np.maximum(xs, 0)),
        (nn.Sigmoid(), 1 / (1 + np.exp(-xs))),
        (nn.Tanh(), np.tanh(xs)),
        (nn.Softmax(dim=1), sm),
        (nn.LogSoftmax(dim=1), np.log(sm)),
        (nn.Softmax(dim=0), np.exp(xs) / np.exp(xs).sum(0, keepdims=True)),
    ]
    for module, expected in cases:
        np.testing.assert_allclose(module(x).data, expected, rtol=1e-10, atol=1e-12,
                                   err_msg=repr(module))
    xg = t(xs, requires_grad=True)
    for module, _ in cases[1:]:
        assert minidl.gradcheck(module, [xg])


# ======================================================================== losses
def _loss_inputs(rng: np.random.Generator):
    logits = t(rng.standard_normal((6, 4)), requires_grad=True)
    labels = t(np.array([0, 3, 1, 1, 2, -100]))
    return logits, labels


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_equal_functional_forms(reduction: str,
                                             rng: np.random.Generator) -> None:
    logits, labels = _loss_inputs(rng)
    weight = t(np.array([1.0, 2.0, 0.5, 1.5]))
    probs = t(rng.random((6, 4)))
    binary = t((rng.random((6, 4)) > 0.5).astype(np.float64))
    pos_weight = t(np.array([1.0, 3.0, 0.5, 2.0]))
    logp = F.log_softmax(logits, 1)
    cases = [
        (nn.CrossEntropyLoss(reduction=reduction)(logits, labels),
         F.cross_entropy(logits, labels, reduction=reduction)),
        (nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1, reduction=reduction)(
            logits, labels),
         F.cross_entropy(logits, labels, weight, reduction=reduction, label_smoothing=0.1)),
        (nn.CrossEntropyLoss(ignore_index=1, reduction=reduction)(logits, t(np.arange(6) % 4)),
         F.cross_entropy(logits, t(np.arange(6) % 4), ignore_index=1, reduction=reduction)),
        (nn.NLLLoss(weight=weight, reduction=reduction)(logp, labels),
         F.nll_loss(logp, labels, weight, reduction=reduction)),
        (nn.MSELoss(reduction=reduction)(logits, probs),
         F.mse_loss(logits, probs, reduction=reduction)),
        (nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction=reduction)(logits, binary),
         F.binary_cross_entropy_with_logits(logits, binary, reduction=reduction,
                                            pos_weight=pos_weight)),
    ]
    for module_out, functional_out in cases:
        assert module_out.shape == functional_out.shape
        np.testing.assert_array_equal(module_out.data, functional_out.data)
        logits.grad = None
        module_out.sum().backward(retain_graph=True)  # NLL's two share log_softmax
        g_module = logits.grad
        logits.grad = None
        functional_out.sum().backward(retain_graph=True)
        np.testing.assert_array_equal(g_module, logits.grad)


def test_cross_entropy_module_value(rng: np.random.Generator) -> None:
    logits, _ = _loss_inputs(rng)
    labels = np.array([0, 3, 1, 1, 2, 0])
    z = logits.data
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -logp[np.arange(6), labels].mean()
    np.testing.assert_allclose(nn.CrossEntropyLoss()(logits, t(labels)).item(), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(nn.MSELoss()(logits, t(np.zeros((6, 4)))).item(),
                               (z ** 2).mean(), rtol=1e-12)


def test_loss_modules_match_torch(rng: np.random.Generator) -> None:
    torch = oracle()
    logits, labels = _loss_inputs(rng)
    tl = torch.tensor(logits.data)
    tlab = torch.tensor(labels.data)
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    ours = nn.CrossEntropyLoss(weight=t(weight), label_smoothing=0.2)(logits, labels).item()
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), label_smoothing=0.2)(
        tl, tlab).item()
    assert ours == pytest.approx(theirs, rel=1e-12)
    target = (rng.random((6, 4)) > 0.5).astype(np.float64)
    ours = nn.BCEWithLogitsLoss(reduction="sum")(logits, t(target)).item()
    theirs = torch.nn.BCEWithLogitsLoss(reduction="sum")(tl, torch.tensor(target)).item()
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("cls", [nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss,
                                 nn.BCEWithLogitsLoss])
def test_loss_reduction_is_validated(cls: type) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}: reduction must be 'mean', 'sum' "
                                         r"or 'none', got 'average'"):
        cls(reduction="average")
    assert cls(reduction="sum").reduction == "sum"


# ======================================================================== containers
def test_sequential_indexing_slicing_len_iter_append() -> None:
    layers = [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3
    assert list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    with pytest.raises(IndexError):
        seq[3]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    assert [n for n, _ in seq[1:].named_children()] == ["1", "2"]  # names kept, as PyTorch
    x = minidl.randn(5, 4)
    np.testing.assert_array_equal(seq(x).data, layers[2](layers[1](layers[0](x))).data)
    np.testing.assert_array_equal(seq[1:](head(x)).data, seq(x).data)
    extra = nn.Linear(2, 1)
    assert seq.append(extra) is seq
    assert len(seq) == 4 and seq[3] is extra
    assert [n for n, _ in seq.named_parameters()][-2:] == ["3.weight", "3.bias"]
    assert seq(x).shape == (5, 1)
    assert nn.Sequential()(x) is x


def test_sequential_from_ordered_dict() -> None:
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 2)), ("act", nn.Sigmoid())]))
    assert [n for n, _ in seq.named_children()] == ["fc", "act"]
    assert seq.fc is seq[0] and seq.act is seq[1]
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert [n for n, _ in seq[1:].named_children()] == ["act"]
    x = minidl.randn(2, 3)
    np.testing.assert_allclose(seq(x).data, F.sigmoid(seq.fc(x)).data)


def test_module_list() -> None:
    layers = [nn.Linear(3, 3) for _ in range(3)]
    ml = nn.ModuleList(layers)
    assert len(ml) == 3 and list(ml) == layers and ml[-1] is layers[2]
    assert len(list(ml.parameters())) == 6
    assert [n for n, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    sub = ml[1:]
    assert isinstance(sub, nn.ModuleList) and list(sub) == layers[1:]
    assert [n for n, _ in sub.named_children()] == ["0", "1"]  # renumbered, as PyTorch
    assert ml.append(nn.ReLU()) is ml and len(ml) == 4
    ml.extend([nn.Tanh(), nn.Sigmoid()])
    assert [type(m).__name__ for m in ml][3:] == ["ReLU", "Tanh", "Sigmoid"]
    assert len(nn.ModuleList()) == 0
    with pytest.raises(NotImplementedError, match="iterate over it"):
        ml(minidl.zeros(3))

    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))

        def forward(self, x: minidl.Tensor) -> minidl.Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

    s = Stack()
    assert [n for n, _ in s.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    s(minidl.randn(3, 2)).sum().backward()
    assert all(p.grad is not None for p in s.parameters())


# ======================================================================== state_dict
def test_state_dict_keys_and_values_are_copies() -> None:
    net = Net()
    sd = net.state_dict()
    # PyTorch's order: a module's own parameters, its buffers, then each child's
    assert list(sd) == ["scale", "count", "fc1.weight", "fc1.bias", "block.0.weight",
                        "block.0.bias", "fc2.weight", "fc2.bias"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    np.testing.assert_array_equal(sd["fc1.weight"], net.fc1.weight.data)
    sd["fc1.weight"][...] = 7.0  # changing the dict does not touch the model
    assert not np.any(net.fc1.weight.data == 7.0)
    with minidl.no_grad():
        net.fc2.bias.data[...] = -1.0  # and changing the model does not touch the dict
    assert not np.any(sd["fc2.bias"] == -1.0)


def test_state_dict_round_trip_gives_identical_outputs() -> None:
    src = Net()
    with minidl.no_grad():
        src.count.data[...] = 5
    minidl.manual_seed(99)
    dst = Net()
    x = minidl.randn(7, 4)
    assert not np.array_equal(dst(x).data, src(x).data)
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(dst(x).data, src(x).data)
    assert dst.count.data[0] == 5
    assert dst.fc1.weight is not src.fc1.weight  # copied, not shared
    # minidl tensors are accepted as values too
    dst2 = Net()
    dst2.load_state_dict({k: v for k, v in src._state_tensors().items()})
    np.testing.assert_array_equal(dst2(x).data, src(x).data)


def test_load_state_dict_strict_error_lists_everything_and_changes_nothing() -> None:
    net = Net()
    before = params_snapshot(net)
    sd = Net().state_dict()
    del sd["fc1.bias"], sd["count"]
    sd["fc3.weight"] = np.zeros((2, 2))
    sd["fc1.weight"] = np.zeros((8, 5))
    sd["fc2.bias"] = np.zeros(4)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert "Net" in msg
    assert "Missing key(s): 'count', 'fc1.bias'" in msg
    assert "Unexpected key(s): 'fc3.weight'" in msg
    assert "size mismatch for 'fc1.weight'" in msg and "(8, 5)" in msg and "(8, 4)" in msg
    assert "size mismatch for 'fc2.bias'" in msg and "(4,)" in msg and "(3,)" in msg
    after = params_snapshot(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # not even the good keys


def test_load_state_dict_size_mismatch_is_an_error_even_when_not_strict() -> None:
    net = nn.Linear(3, 2)
    before = params_snapshot(net)
    with pytest.raises(RuntimeError, match="size mismatch for 'weight'"):
        net.load_state_dict({"weight": np.zeros((3, 3)), "bias": np.zeros(2)}, strict=False)
    assert np.array_equal(net.bias.data, before["bias"])


def test_load_state_dict_not_strict_returns_missing_and_unexpected() -> None:
    net = Net()
    sd = {"fc1.weight": np.full((8, 4), 0.5, dtype=np.float32), "extra": np.zeros(1)}
    bias_before = net.fc1.bias.data.copy()
    result = net.load_state_dict(sd, strict=False)
    missing, unexpected = result
    assert unexpected == ["extra"] and result.unexpected_keys == ["extra"]
    assert missing == ["scale", "count", "fc1.bias", "block.0.weight", "block.0.bias",
                       "fc2.weight", "fc2.bias"]
    np.testing.assert_array_equal(net.fc1.weight.data, 0.5)
    np.testing.assert_array_equal(net.fc1.bias.data, bias_before)


def test_load_state_dict_keeps_dtype() -> None:
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})  # float64 values
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.data, 1)


def test_load_torch_state_dict(rng: np.random.Generator) -> None:
    torch = oracle()
    tnn = torch.nn
    tmodel = tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 16), tnn.ReLU(), tnn.Dropout(0.5),
                            tnn.Linear(16, 16), tnn.Tanh(), tnn.Linear(16, 5)).eval()
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 5)).eval()
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    xs = rng.standard_normal((8, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model(t(xs)).data, tmodel(torch.tensor(xs)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    # and the other way round
    tmodel2 = tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 16), tnn.ReLU(), tnn.Dropout(0.5),
                             tnn.Linear(16, 16), tnn.Tanh(), tnn.Linear(16, 5)).eval()
    minidl.manual_seed(5)
    model2 = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5),
                           nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 5)).eval()
    tmodel2.load_state_dict({k: torch.tensor(v) for k, v in model2.state_dict().items()})
    np.testing.assert_allclose(model2(t(xs)).data, tmodel2(torch.tensor(xs)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# ======================================================================== hooks
def test_forward_hook_sees_module_inputs_output_and_can_replace_output() -> None:
    lin = nn.Linear(3, 2)
    x = minidl.randn(4, 3)
    calls = []

    def record(module, inputs, output):
        calls.append((module, inputs, output))

    handle = lin.register_forward_hook(record)
    y = lin(x)
    assert len(calls) == 1
    module, inputs, output = calls[0]
    assert module is lin and isinstance(inputs, tuple) and inputs[0] is x and output is y
    np.testing.assert_allclose(y.data, F.linear(x, lin.weight, lin.bias).data)

    replace = lin.register_forward_hook(lambda m, i, o: o * 0 + 1)
    np.testing.assert_array_equal(lin(x).data, 1.0)
    replace.remove()
    handle.remove()
    calls.clear()
    np.testing.assert_array_equal(lin(x).data, y.data)
    assert calls == []
    handle.remove()  # removing twice is harmless


def test_forward_pre_hook_can_replace_inputs() -> None:
    lin = nn.Linear(3, 2)
    x = minidl.randn(4, 3)
    zeros = minidl.zeros(4, 3)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, inputs: seen.append(inputs))
    h2 = lin.register_forward_pre_hook(lambda m, inputs: zeros)  # a single value
    out = lin(x)
    assert seen[0][0] is x
    np.testing.assert_array_equal(out.data, np.broadcast_to(lin.bias.data, (4, 2)))
    h2.remove()
    h3 = lin.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 2,))  # a tuple
    np.testing.assert_allclose(lin(x).data, lin.forward(x * 2).data)
    h3.remove()
    h1.remove()
    np.testing.assert_array_equal(lin(x).data, lin.forward(x).data)
    with lin.register_forward_pre_hook(lambda m, inputs: (zeros,)):
        np.testing.assert_array_equal(lin(x).data, out.data)
    np.testing.assert_array_equal(lin(x).data, lin.forward(x).data)  # removed on exit


def test_hooks_on_nested_modules_fire_in_order() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
    order = []
    for name, m in model.named_modules():
        label = name or "root"
        m.register_forward_pre_hook(lambda mod, i, label=label: order.append("pre " + label))
        m.register_forward_hook(lambda mod, i, o, label=label: order.append("post " + label))
    model(minidl.randn(2, 3))
    assert order == ["pre root", "pre 0", "post 0", "pre 1", "post 1", "pre 2", "pre 2.0",
                     "post 2.0", "post 2", "post root"]


def test_hooks_fire_in_registration_order_and_output_replacement_chains() -> None:
    m = nn.Identity()
    m.register_forward_hook(lambda mod, i, o: o + 1)
    m.register_forward_hook(lambda mod, i, o: o * 10)
    np.testing.assert_array_equal(m(minidl.zeros(2)).data, [10.0, 10.0])


def test_hook_output_is_differentiable() -> None:
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(lambda m, i, o: o * 3)
    lin(minidl.ones(1, 2)).sum().backward()
    np.testing.assert_allclose(lin.bias.grad, [3.0, 3.0])


# ======================================================================== dtype
def test_double_and_to_convert_parameters_and_float_buffers() -> None:
    net = Net()
    net.register_buffer("steps", minidl.tensor([3]))  # an int buffer stays int
    net(minidl.randn(2, 4)).sum().backward()
    assert net.double() is net
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(p.grad.dtype == np.float64 for p in net.parameters())
    assert net.count.dtype == np.float64 and net.cache.dtype == np.float64
    assert net.steps.dtype == np.int64
    assert all(isinstance(p, Parameter) and p.requires_grad for p in net.parameters())
    y = net(minidl.randn(2, 4, dtype=np.float64))
    assert y.dtype == np.float64
    assert net.float() is net and all(p.dtype == np.float32 for p in net.parameters())
    net.to(minidl.float64)
    assert net.fc1.weight.dtype == np.float64
    net.to("float32")
    assert net.fc1.weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point dtype"):
        net.to(np.int64)
    assert net.fc1.weight.dtype == np.float32  # unchanged by the error


def test_float32_stays_float32_through_forward_and_backward() -> None:
    net = Net()
    x = minidl.randn(5, 4, requires_grad=True)
    y = net(x)
    assert y.dtype == np.float32
    loss = nn.CrossEntropyLoss()(y, minidl.tensor([0, 1, 2, 0, 1]))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in net.parameters())


# ======================================================================== repr
def test_sequential_repr_matches_torch() -> None:
    torch = oracle()
    tnn = torch.nn
    ours = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    theirs = tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Dropout(0.5),
                            tnn.Linear(256, 10))
    assert repr(ours) == str(theirs)
    assert repr(ours) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=256, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.5, inplace=False)\n"
        "  (3): Linear(in_features=256, out_features=10, bias=True)\n"
        ")"
    )
    assert repr(ours[1:3]) == str(theirs[1:3])
    assert repr(nn.Sequential()) == str(tnn.Sequential()) == "Sequential()"


def test_leaf_reprs_match_torch() -> None:
    torch = oracle()
    tnn = torch.nn
    pairs = [
        (nn.Linear(3, 2, bias=False), tnn.Linear(3, 2, bias=False)),
        (nn.Identity(), tnn.Identity()),
        (nn.Flatten(), tnn.Flatten()),
        (nn.Flatten(0, 2), tnn.Flatten(0, 2)),
        (nn.Sigmoid(), tnn.Sigmoid()),
        (nn.Tanh(), tnn.Tanh()),
        (nn.Softmax(dim=1), tnn.Softmax(dim=1)),
        (nn.LogSoftmax(dim=-1), tnn.LogSoftmax(dim=-1)),
        (nn.Dropout(0.25), tnn.Dropout(0.25)),
        (nn.CrossEntropyLoss(), tnn.CrossEntropyLoss()),
        (nn.MSELoss(), tnn.MSELoss()),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == str(theirs)


def test_custom_module_repr_matches_torch() -> None:
    torch = oracle()
    tnn = torch.nn

    def build(lib):
        class Model(lib.Module):
            def __init__(self) -> None:
                super().__init__()
                self.flatten = lib.Flatten()
                self.encoder = lib.Sequential(OrderedDict([
                    ("fc", lib.Linear(784, 128)), ("act", lib.Tanh())]))
                self.blocks = lib.ModuleList(
                    [lib.Sequential(lib.Linear(128, 128), lib.ReLU()) for _ in range(3)]
                    + [lib.Dropout(0.1), lib.Identity()])
                self.head = lib.Linear(128, 10, bias=False)
                self.out = lib.LogSoftmax(dim=1)
                self.scale = lib.Parameter(lib_tensor(lib))  # parameters are not shown

        return Model()

    def lib_tensor(lib):
        return torch.ones(1) if lib is tnn else np.ones(1, dtype=np.float32)

    ours, theirs = repr(build(nn)), str(build(tnn))
    assert ours == theirs
    assert "(0-2): 3 x Sequential(" in ours  # runs of equal layers are folded, as in PyTorch


def test_repr_with_multiline_extra_repr_and_empty_child() -> None:
    torch = oracle()

    def build(lib):
        class Odd(lib.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fc = lib.Linear(1, 1)
                self.add_module("skip", None)

            def extra_repr(self) -> str:
                return "a=1\nb=2"

        class Leaf(lib.Module):
            def extra_repr(self) -> str:
                return "a=1\nb=2"

        return Odd(), Leaf()

    for ours, theirs in zip(build(nn), build(torch.nn), strict=True):
        assert repr(ours) == str(theirs)
