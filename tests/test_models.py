"""Tests of ``minidl.models``: the ``mlp`` builder's structure, shapes, errors and PyTorch
parity, and a small end-to-end training run with hand-written SGD steps."""

from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import models, nn


@pytest.fixture(autouse=True)
def _seed() -> None:
    minidl.manual_seed(0)


def test_mlp_structure() -> None:
    model = models.mlp(784, (256, 128), 10)
    assert [type(m).__name__ for m in model] == [
        "Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 256), (256, 128),
                                                                  (128, 10)]
    assert sum(p.data.size for p in model.parameters()) == (
        784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
    # defaults: the 784-256-256-10 MNIST model
    default = models.mlp()
    assert [(m.in_features, m.out_features) for m in default if isinstance(m, nn.Linear)] == [
        (784, 256), (256, 256), (256, 10)]


def test_mlp_options() -> None:
    model = models.mlp(20, (8,), 3, activation="Tanh", dropout=0.2)
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear", "Tanh", "Dropout",
                                                 "Linear"]
    assert model[3].p == 0.2
    assert [type(m).__name__ for m in models.mlp(5, (), 2)] == ["Flatten", "Linear"]
    assert isinstance(models.mlp(5, (4,), 2, activation="sigmoid")[2], nn.Sigmoid)
    # each call builds new activation modules
    assert models.activation("relu") is not models.activation("relu")


def test_mlp_accepts_images() -> None:
    model = models.mlp()
    x = minidl.randn(4, 1, 28, 28)
    y = model(x)
    assert y.shape == (4, 10) and y.dtype == np.float32
    flat = x.data.reshape(4, 784)
    h = np.maximum(flat @ model[1].weight.data.T + model[1].bias.data, 0)
    h = np.maximum(h @ model[3].weight.data.T + model[3].bias.data, 0)
    expected = h @ model[5].weight.data.T + model[5].bias.data
    np.testing.assert_allclose(y.data, expected, rtol=1e-4, atol=1e-5)
    assert model(minidl.randn(4, 784)).shape == (4, 10)


def test_unknown_activation_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown activation 'swish'; known: celu, elu, gelu, "
                       "hardsigmoid, .*leakyrelu, .*relu6, rrelu, selu, sigmoid, silu"):
        models.mlp(activation="swish")


@pytest.mark.parametrize("name, cls, param", [
    ("leaky_relu", "LeakyReLU", "negative_slope"), ("LeakyReLU", "LeakyReLU", "negative_slope"),
    ("elu", "ELU", "alpha"), ("GELU", "GELU", None)])
def test_activation_names_in_any_case_with_parameters(name, cls, param) -> None:
    module = models.activation(name, **({param: 0.3} if param else {}))
    assert type(module).__name__ == cls
    if param:
        assert getattr(module, param) == 0.3


def test_mlp_matches_torch_names_repr_and_outputs() -> None:
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    model = models.mlp(12, (16, 8), 3, dropout=0.5)
    tmodel = tnn.Sequential(tnn.Flatten(), tnn.Linear(12, 16), tnn.ReLU(), tnn.Dropout(0.5),
                            tnn.Linear(16, 8), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(8, 3))
    assert repr(model) == str(tmodel)
    assert list(model.state_dict()) == list(tmodel.state_dict())
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    model.eval()
    tmodel.eval()
    x = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model(minidl.tensor(x)).data,
                               tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def _blobs(n_per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 2-D, one per class."""
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x = np.concatenate([c + 0.6 * rng.standard_normal((n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return x.astype(np.float32), y


def test_mlp_trains_with_manual_sgd() -> None:
    xs, ys = _blobs()
    x, y = minidl.tensor(xs), minidl.tensor(ys)
    model = models.mlp(2, (16,), 3)
    loss_fn = nn.CrossEntropyLoss()
    lr = 0.5
    losses = []
    for _ in range(100):
        loss = loss_fn(model(x), y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with minidl.no_grad():
            for p in model.parameters():
                p.data -= lr * p.grad
    assert losses[0] > 0.7  # about log(3) at the start
    assert losses[-1] < 0.2 * losses[0]
    with minidl.no_grad():
        accuracy = (model(x).argmax(1).data == ys).mean()
    assert accuracy > 0.95
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_training_is_reproducible_with_manual_seed() -> None:
    xs, ys = _blobs(20)

    def run() -> list[float]:
        minidl.manual_seed(11)
        model = models.mlp(2, (8,), 3, dropout=0.2)
        out = []
        for _ in range(5):
            loss = nn.CrossEntropyLoss()(model(minidl.tensor(xs)), minidl.tensor(ys))
            out.append(loss.item())
            model.zero_grad()
            loss.backward()
            with minidl.no_grad():
                for p in model.parameters():
                    p.data -= 0.1 * p.grad
        return out

    a, b = run(), run()
    assert a == b
    assert a[-1] < a[0]


def test_mnist_cnn_structure_and_shapes() -> None:
    model = models.mnist_cnn()
    assert [type(m).__name__ for m in model] == [
        "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten", "Linear", "ReLU",
        "Dropout", "Linear"]
    assert (model[0].in_channels, model[0].out_channels, model[2].out_channels) == (1, 32, 64)
    assert (model[7].in_features, model[5].p, model[9].p) == (9216, 0.25, 0.5)
    model.eval()
    y = model(minidl.randn(2, 1, 28, 28))
    assert y.shape == (2, 10) and y.dtype == np.float32
    no_dropout = models.mnist_cnn(dropout=0)
    assert "Dropout" not in [type(m).__name__ for m in no_dropout]
    small = models.mnist_cnn(in_channels=3, num_classes=4, image_size=10)
    assert small[7].in_features == 64 * 3 * 3
    assert small(minidl.randn(2, 3, 10, 10)).shape == (2, 4)


def test_selu_networks_get_lecun_init_and_alpha_dropout() -> None:
    for model in (models.mnist_cnn("selu"), models.mlp(784, (512, 256), 10, "SELU", 0.1)):
        kinds = [type(m).__name__ for m in model]
        assert "AlphaDropout" in kinds and "Dropout" not in kinds
        for layer in model:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                w = layer.weight.data
                fan_in = w[0].size
                assert abs(w.std() * np.sqrt(fan_in) - 1) < 0.1  # N(0, 1/fan_in)
                assert abs(w.mean()) < 3 / np.sqrt(w.size * fan_in) + 1e-3
                np.testing.assert_array_equal(layer.bias.data, 0)
    # an explicit init wins; other activations keep PyTorch's default U(±1/√fan_in)
    kaiming = models.mnist_cnn("selu", init="kaiming_normal")
    assert abs(kaiming[7].weight.data.std() * np.sqrt(9216 / 2) - 1) < 0.1
    relu = models.mnist_cnn()
    assert abs(relu[7].weight.data).max() <= 1 / np.sqrt(9216)
    assert abs(relu[7].weight.data.std() * np.sqrt(3 * 9216) - 1) < 0.1


def test_models_take_activation_config_dicts_one_module_per_place() -> None:
    model = models.mnist_cnn({"type": "LeakyReLU", "negative_slope": 0.2})
    acts = [m for m in model if type(m).__name__ == "LeakyReLU"]
    assert len(acts) == 3 and all(a.negative_slope == 0.2 for a in acts)
    prelu = models.mlp(4, (3, 3), 2, {"type": "PReLU"})
    slopes = [m.weight for m in prelu if type(m).__name__ == "PReLU"]
    assert len(slopes) == 2 and slopes[0] is not slopes[1]


def test_model_builder_errors() -> None:
    with pytest.raises(ValueError, match="unknown init 'he'; choose one of pytorch, lecun_normal"):
        models.mnist_cnn(init="he")
    with pytest.raises(KeyError, match="Swish"):
        models.mnist_cnn({"type": "Swish"})
    with pytest.raises(TypeError, match="activation must be a name"):
        models.mlp(activation=3)
    with pytest.raises(ValueError, match="image_size 5 is too small"):
        models.mnist_cnn(image_size=5)


def test_mnist_cnn_matches_torch_names_repr_and_outputs() -> None:
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    model = models.mnist_cnn("elu")
    tmodel = tnn.Sequential(
        tnn.Conv2d(1, 32, 3), tnn.ELU(), tnn.Conv2d(32, 64, 3), tnn.ELU(), tnn.MaxPool2d(2),
        tnn.Dropout(0.25), tnn.Flatten(), tnn.Linear(9216, 128), tnn.ELU(), tnn.Dropout(0.5),
        tnn.Linear(128, 10))
    assert repr(model) == str(tmodel)
    assert list(model.state_dict()) == list(tmodel.state_dict())
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    model.eval()
    tmodel.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(model(minidl.tensor(x)).data,
                               tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
