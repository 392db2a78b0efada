"""Tests of ``minidl.nn.init``: gains, fans, the statistics of every initialiser (against
the formula and against PyTorch), orthogonality, dtype, seeding and errors."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest

import minidl
from minidl.nn import Parameter, init

SHAPE = (1000, 1000)  # 10⁶ draws: the sample std is within ~0.1% of the true one


@pytest.fixture(autouse=True)
def _seed() -> None:
    # The statistical checks have wide margins, but seeding makes every run identical.
    minidl.manual_seed(0)


def oracle() -> ModuleType:
    """PyTorch, seeded, or a skip where it is not installed."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def empty(*shape: int, dtype: type = np.float32) -> Parameter:
    """A parameter full of NaN, so that any element an initialiser misses shows."""
    return Parameter(np.full(shape, np.nan, dtype=dtype))


# ------------------------------------------------------------------ calculate_gain
@pytest.mark.parametrize(("nonlinearity", "param", "gain"), [
    ("linear", None, 1.0),
    ("conv1d", None, 1.0),
    ("conv2d", None, 1.0),
    ("conv3d", None, 1.0),
    ("conv_transpose1d", None, 1.0),
    ("conv_transpose2d", None, 1.0),
    ("conv_transpose3d", None, 1.0),
    ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, 1.4141428),
    ("leaky_relu", 0.2, 1.3867505),
    ("leaky_relu", 0, math.sqrt(2)),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),
    ("selu", None, 0.75),
])
def test_calculate_gain_table(nonlinearity: str, param: float | None, gain: float) -> None:
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-7)


@pytest.mark.parametrize(("nonlinearity", "param"), [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu", None),
])
def test_calculate_gain_matches_torch(nonlinearity: str, param: float | None) -> None:
    torch = oracle()
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-12)


def test_calculate_gain_errors() -> None:
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative slope .* got 'a'"):
        init.calculate_gain("leaky_relu", "a")
    with pytest.raises(ValueError, match="got True"):
        init.calculate_gain("leaky_relu", True)


# ------------------------------------------------------------------ fans
@pytest.mark.parametrize(("shape", "fans"), [
    ((30, 784), (784, 30)),
    ((64, 3, 5, 5), (75, 1600)),
    ((8, 4, 3), (12, 24)),
    ((2, 3, 4, 5, 6), (360, 240)),
    ((10, 0), (0, 10)),
])
def test_fan_in_and_fan_out(shape: tuple[int, ...], fans: tuple[int, int]) -> None:
    assert init.calculate_fan_in_and_fan_out(empty(*shape)) == fans


@pytest.mark.parametrize("shape", [(30, 784), (64, 3, 5, 5), (8, 4, 3)])
def test_fan_in_and_fan_out_matches_torch(shape: tuple[int, ...]) -> None:
    torch = oracle()
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.calculate_fan_in_and_fan_out(empty(*shape)) == expected


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fan_needs_two_dimensions(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*got shape"):
        init.calculate_fan_in_and_fan_out(empty(*shape))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(empty(*shape))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(empty(*shape))


# ------------------------------------------------------------------ statistics
FAN_IN, FAN_OUT = SHAPE[1], SHAPE[0]

# (name, kwargs, "normal" or "uniform", the std the formula gives, torch's equivalent).
CASES = [
    ("xavier_uniform_", {}, "uniform", math.sqrt(2 / (FAN_IN + FAN_OUT)),
     ("xavier_uniform_", {})),
    ("xavier_uniform_", {"gain": 5 / 3}, "uniform", 5 / 3 * math.sqrt(2 / (FAN_IN + FAN_OUT)),
     ("xavier_uniform_", {"gain": 5 / 3})),
    ("xavier_normal_", {"gain": 2.0}, "normal", 2 * math.sqrt(2 / (FAN_IN + FAN_OUT)),
     ("xavier_normal_", {"gain": 2.0})),
    ("kaiming_uniform_", {}, "uniform", math.sqrt(2 / FAN_IN), ("kaiming_uniform_", {})),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, "uniform", 1 / math.sqrt(3 * FAN_IN),
     ("kaiming_uniform_", {"a": math.sqrt(5)})),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, "normal",
     math.sqrt(2 / FAN_OUT), ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"})),
    ("kaiming_normal_", {"a": 0.2}, "normal", math.sqrt(2 / (1.04 * FAN_IN)),
     ("kaiming_normal_", {"a": 0.2})),
    ("lecun_normal_", {}, "normal", 1 / math.sqrt(FAN_IN),
     ("kaiming_normal_", {"nonlinearity": "linear"})),
    ("lecun_uniform_", {}, "uniform", 1 / math.sqrt(FAN_IN),
     ("kaiming_uniform_", {"nonlinearity": "linear"})),
    ("normal_", {"mean": 0.0, "std": 0.3}, "normal", 0.3, ("normal_", {"std": 0.3})),
    ("uniform_", {"a": -0.5, "b": 0.5}, "uniform", 1 / math.sqrt(12),
     ("uniform_", {"a": -0.5, "b": 0.5})),
]


def check_distribution(values: np.ndarray, kind: str, std: float) -> None:
    """Mean 0 (to 5 standard errors), std within 1% and, for uniform, the bound."""
    values = values.astype(np.float64)
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)
    assert values.std() == pytest.approx(std, rel=0.01)
    if kind == "uniform":
        bound = math.sqrt(3) * std
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > bound * (1 - 1e-3)
        # A uniform has no tails: its kurtosis is 9/5, a normal's is 3.
        assert (values**4).mean() / values.var() ** 2 == pytest.approx(1.8, rel=0.02)
    else:
        assert (values**4).mean() / values.var() ** 2 == pytest.approx(3.0, rel=0.02)


@pytest.mark.parametrize(("name", "kwargs", "kind", "std", "torch_case"), CASES,
                         ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_statistics_match_formula(name: str, kwargs: dict, kind: str, std: float,
                                  torch_case: tuple) -> None:
    w = getattr(init, name)(empty(*SHAPE, dtype=np.float64), **kwargs)
    check_distribution(w.data, kind, std)


@pytest.mark.parametrize(("name", "kwargs", "kind", "std", "torch_case"), CASES,
                         ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_statistics_match_torch(name: str, kwargs: dict, kind: str, std: float,
                                torch_case: tuple) -> None:
    torch = oracle()
    torch_name, torch_kwargs = torch_case
    theirs = getattr(torch.nn.init, torch_name)(torch.empty(SHAPE, dtype=torch.float64),
                                                **torch_kwargs).numpy()
    ours = getattr(init, name)(empty(*SHAPE, dtype=np.float64), **kwargs).data
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    assert abs(ours.mean() - theirs.mean()) < 5 * std * math.sqrt(2 / ours.size)
    if kind == "uniform":
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)


def test_conv_weight_uses_receptive_field() -> None:
    w = init.kaiming_normal_(empty(64, 32, 5, 5, dtype=np.float64), nonlinearity="relu")
    check_distribution(w.data, "normal", math.sqrt(2 / (32 * 25)))


def test_uniform_bounds_hold_in_float32() -> None:
    # Rounding to float32 is monotonic, so float32 values stay within the float32 bounds.
    w = init.kaiming_uniform_(empty(*SHAPE), a=math.sqrt(5))
    bound = np.float32(1 / math.sqrt(FAN_IN))
    assert w.data.min() >= -bound and w.data.max() <= bound


def test_constant_zeros_ones() -> None:
    w = empty(3, 4)
    assert init.constant_(w, 0.25) is w and np.all(w.data == 0.25)
    assert np.all(init.zeros_(w).data == 0)
    assert np.all(init.ones_(w).data == 1)
    b = init.zeros_(empty(7))  # a bias: 1-D is fine without a fan
    assert np.all(b.data == 0)


# ------------------------------------------------------------------ trunc_normal_
def test_trunc_normal_bounds_and_moments() -> None:
    w = init.trunc_normal_(empty(*SHAPE, dtype=np.float64))
    assert w.data.min() >= -2 and w.data.max() <= 2
    assert w.data.min() < -1.99 and w.data.max() > 1.99
    # N(0, 1) truncated to [-2, 2] has variance 1 - 2·2·φ(2) / (2Φ(2) - 1) = 0.7737413.
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert w.data.var() == pytest.approx(1 - 4 * phi2 / mass, rel=0.01)
    assert abs(w.data.mean()) < 0.005


def test_trunc_normal_narrow_and_far_interval() -> None:
    # Little mass on [a, b]: the uniform-proposal branch. On [1, 1.5] the density of
    # N(0, 1) decreases, so the mean lies below the midpoint 1.25.
    w = init.trunc_normal_(empty(200, 500, dtype=np.float64), a=1.0, b=1.5)
    assert w.data.min() >= 1.0 and w.data.max() <= 1.5
    # E[x | 1 <= x <= 1.5] = (φ(1) - φ(1.5)) / (Φ(1.5) - Φ(1)) = 1.2292.
    phi = [math.exp(-x * x / 2) / math.sqrt(2 * math.pi) for x in (1.0, 1.5)]
    cdf = [0.5 * (1 + math.erf(x / math.sqrt(2))) for x in (1.0, 1.5)]
    assert w.data.mean() == pytest.approx((phi[0] - phi[1]) / (cdf[1] - cdf[0]), abs=3e-3)
    far = init.trunc_normal_(empty(1000, dtype=np.float64), mean=0.0, std=1.0, a=8.0, b=9.0)
    assert far.data.min() >= 8.0 and far.data.max() <= 9.0


def test_trunc_normal_matches_torch() -> None:
    torch = oracle()
    theirs = torch.nn.init.trunc_normal_(torch.empty(SHAPE, dtype=torch.float64), mean=0.5,
                                         std=2.0, a=-1.0, b=3.0).numpy()
    ours = init.trunc_normal_(empty(*SHAPE, dtype=np.float64), mean=0.5, std=2.0, a=-1.0,
                              b=3.0).data
    assert ours.mean() == pytest.approx(theirs.mean(), abs=1e-2)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)


def test_trunc_normal_float32_bounds() -> None:
    w = init.trunc_normal_(empty(*SHAPE), std=0.02, a=-0.03, b=0.03)
    assert w.data.min() >= np.float32(-0.03) and w.data.max() <= np.float32(0.03)


# ------------------------------------------------------------------ orthogonal_
@pytest.mark.parametrize("shape", [(64, 256), (256, 64), (100, 100), (16, 8, 3, 3), (8, 3, 2)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape: tuple[int, ...], gain: float) -> None:
    w = init.orthogonal_(empty(*shape, dtype=np.float64), gain=gain)
    matrix = w.data.reshape(shape[0], -1) / gain
    rows, cols = matrix.shape
    gram = matrix @ matrix.T if rows <= cols else matrix.T @ matrix
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_float32() -> None:
    w = init.orthogonal_(empty(64, 128), gain=math.sqrt(2))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.data @ w.data.T, 2 * np.eye(64), atol=1e-5)


def test_orthogonal_is_not_biased_by_qr_sign_convention() -> None:
    # Without the sign correction, LAPACK's QR returns R with a negative diagonal, which
    # makes Q's diagonal entries lean negative. With it, each is symmetric about 0.
    rng = np.random.default_rng(0)
    diagonals = np.stack([init.orthogonal_(empty(4, 4, dtype=np.float64),
                                           generator=rng).data.diagonal()
                          for _ in range(2000)])
    assert np.abs(diagonals.mean(axis=0)).max() < 0.05


def test_orthogonal_matches_torch_spectrum() -> None:
    torch = oracle()
    theirs = torch.nn.init.orthogonal_(torch.empty(50, 80, dtype=torch.float64), gain=3.0)
    ours = init.orthogonal_(empty(50, 80, dtype=np.float64), gain=3.0)
    np.testing.assert_allclose(np.linalg.svd(ours.data, compute_uv=False),
                               np.linalg.svd(theirs.numpy(), compute_uv=False), atol=1e-10)


# ------------------------------------------------------------------ in place, dtype, graph
RANDOM_INITS = [
    ("uniform_", {}), ("normal_", {}), ("trunc_normal_", {}), ("xavier_uniform_", {}),
    ("xavier_normal_", {}), ("kaiming_uniform_", {}), ("kaiming_normal_", {}),
    ("lecun_normal_", {}), ("lecun_uniform_", {}), ("orthogonal_", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), RANDOM_INITS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_keeps_dtype_and_records_no_graph(name: str, kwargs: dict,
                                                   dtype: type) -> None:
    w = empty(20, 30, dtype=dtype)
    array = w.data
    out = getattr(init, name)(w, **kwargs)
    assert out is w and w.data is array
    assert w.dtype == dtype
    assert np.isfinite(w.data).all()
    assert w.requires_grad and w.is_leaf and w.grad is None


def test_initialising_a_view_writes_through() -> None:
    w = empty(6, 4)
    with minidl.no_grad():
        init.constant_(w[:2], 7.0)
    init.normal_(w.detach()[2:], generator=np.random.default_rng(0))
    assert np.all(w.data[:2] == 7.0) and np.isfinite(w.data).all()


def test_empty_tensor_is_a_no_op() -> None:
    # nn.Linear(0, n) has a (n, 0) weight; its fan_in is 0.
    for name, _ in RANDOM_INITS:
        assert getattr(init, name)(empty(10, 0)).shape == (10, 0)


# ------------------------------------------------------------------ reproducibility
@pytest.mark.parametrize(("name", "kwargs"), RANDOM_INITS)
def test_manual_seed_reproduces(name: str, kwargs: dict) -> None:
    fn = getattr(init, name)
    minidl.manual_seed(123)
    first = fn(empty(16, 24), **kwargs).data.copy()
    minidl.manual_seed(123)
    second = fn(empty(16, 24), **kwargs).data
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(second, fn(empty(16, 24), **kwargs).data)


@pytest.mark.parametrize(("name", "kwargs"), RANDOM_INITS)
def test_explicit_generator_reproduces_and_leaves_global_alone(name: str,
                                                                kwargs: dict) -> None:
    fn = getattr(init, name)
    minidl.manual_seed(0)
    state = minidl.get_rng_state()
    first = fn(empty(16, 24), generator=np.random.default_rng(7), **kwargs).data.copy()
    second = fn(empty(16, 24), generator=np.random.default_rng(7), **kwargs).data
    np.testing.assert_array_equal(first, second)
    assert minidl.get_rng_state() == state


def test_float32_is_float64_rounded() -> None:
    # Draws are made in float64 and rounded once, so the dtype does not change the stream.
    single = init.xavier_normal_(empty(8, 8), generator=np.random.default_rng(3))
    double = init.xavier_normal_(empty(8, 8, dtype=np.float64),
                                 generator=np.random.default_rng(3))
    np.testing.assert_array_equal(single.data, double.data.astype(np.float32))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_bad_mode(name: str) -> None:
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        getattr(init, name)(empty(3, 4), mode="fan_avg")


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_unsupported_nonlinearity(name: str) -> None:
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        getattr(init, name)(empty(3, 4), nonlinearity="swish")


@pytest.mark.parametrize(("call", "message"), [
    (lambda w: init.normal_(w, std=-1.0), "std >= 0, got mean=0.0, std=-1.0"),
    (lambda w: init.uniform_(w, 1.0, 0.0), "a <= b, got a=1.0, b=0.0"),
    (lambda w: init.uniform_(w, 0.0, math.inf), "finite bounds"),
    (lambda w: init.trunc_normal_(w, a=1.0, b=1.0), "a < b"),
    (lambda w: init.trunc_normal_(w, std=0.0), "std > 0"),
])
def test_bad_arguments(call: object, message: str) -> None:
    w = empty(3, 4)
    with pytest.raises(ValueError, match=message):
        call(w)
    assert np.isnan(w.data).all()  # the error came before any change


def test_integer_tensor_and_bad_generator() -> None:
    ints = minidl.zeros(3, 4, dtype=np.int64)
    with pytest.raises(TypeError, match="floating-point tensor, got dtype int64"):
        init.kaiming_uniform_(ints)
    with pytest.raises(TypeError, match="numpy.random.Generator or None, got RandomState"):
        init.normal_(empty(3, 4), generator=np.random.RandomState(0))
    with pytest.raises(TypeError, match="expected a minidl Tensor, got ndarray"):
        init.normal_(np.zeros((3, 4)))
