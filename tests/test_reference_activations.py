"""The NumPy reference activations (``minidl.kernels.reference``).

Against PyTorch (skipped without it): values and derivatives in float64 and float32, on
random inputs, at the kinks and thresholds, at tiny and huge inputs and at ±inf. Without
PyTorch: the check values of the facts sheet, the derivative PyTorch uses at each kink,
dtype and shape, NaN propagation, freedom from NumPy warnings, PReLU's per-channel weight
and RReLU's per-element slopes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from minidl.kernels import reference as ref

# (name, parameters) pairs; every name has ``name`` and ``name_grad`` in the module.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("prelu", {"weight": np.array([0.25])}),
    ("prelu", {"weight": np.array([-0.7])}),
    ("rrelu", {"slope": 11 / 48}),
    ("rrelu", {"slope": 0.3}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("elu", {"alpha": 2.5}),
    ("selu", {}),
    ("celu", {}),
    ("celu", {"alpha": 0.5}),
    ("celu", {"alpha": 2.0}),
    ("gelu", {}),
    ("gelu_tanh", {}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
    ("softplus", {"beta": 0.5, "threshold": 3.0}),
    ("relu6", {}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("silu", {}),
    ("mish", {}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
    ("softsign", {}),
    ("logsigmoid", {}),
]
CASE_IDS = [name + "".join(f"-{k}={np.ravel(v)[0]:g}" for k, v in p.items()) for name, p in CASES]
NAMES = sorted({name for name, _ in CASES})

# Kinks, thresholds (softplus: 20, 5/2, 3/0.5 = 6) and their neighbours, tiny and huge inputs.
_POINTS = [0.0, 1e-8, 0.5, 1.0, 2.0, 2.5, 3.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 100.0,
           1e3, 1e4]
EDGES = np.array(
    [s * p for p in _POINTS for s in (1.0, -1.0)]
    + [np.nextafter(t, d) for t in (20.0, 2.5, 6.0, 3.0, -3.0) for d in (-np.inf, np.inf)]
)
INPUTS = np.concatenate([np.random.default_rng(0).normal(0.0, 4.0, 300), EDGES])
INFS = np.array([-np.inf, np.inf])

# Float64 agrees with PyTorch to rounding. In float32, PyTorch's own error reaches 1e-6 where
# it computes 1 + tanh(u) or 1 - tanh² with cancellation (gelu_tanh, mish for x around ±4);
# the reference's float32 error is checked separately against its float64 result.
TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 2e-5, "atol": 2e-6}}


def fwd(name: str, x: Any, params: dict[str, Any]) -> np.ndarray:
    return getattr(ref, name)(x, **params)


def grad(name: str, x: Any, params: dict[str, Any]) -> np.ndarray:
    return getattr(ref, name + "_grad")(x, fwd(name, x, params), **params)


def torch_value_and_grad(name: str, x: np.ndarray,
                         params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's ``f(x)`` and ``d(sum f)/dx`` by autograd."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = torch.tensor(x, requires_grad=True)
    if name == "gelu_tanh":
        y = F.gelu(t, approximate="tanh")
    elif name == "prelu":
        y = F.prelu(t, torch.tensor(params["weight"], dtype=t.dtype))
    elif name == "rrelu":
        y = F.rrelu(t, params["slope"], params["slope"], training=False)
    elif name in ("sigmoid", "tanh"):
        y = getattr(torch, name)(t)
    else:
        y = getattr(F, name)(t, **params)
    y.sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def tolerance(name: str, dtype: type) -> dict[str, float]:
    tol = dict(TOL[dtype])
    if name == "hardsigmoid":
        # PyTorch's backward uses float32(1/6) = 0.16666667163 even in float64.
        tol["atol"] = max(tol["atol"], 1e-8)
    return tol


# ---------------------------------------------------------------------------- against PyTorch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_value_and_derivative_match_pytorch(name, params, dtype) -> None:
    x = INPUTS.astype(dtype)
    y_torch, g_torch = torch_value_and_grad(name, x, params)
    y, g = fwd(name, x, params), grad(name, x, params)
    tol = tolerance(name, dtype)
    np.testing.assert_allclose(y, y_torch, **tol, err_msg=f"{name} value")
    np.testing.assert_allclose(g, g_torch, **tol, err_msg=f"{name} derivative")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_infinite_inputs_give_pytorchs_limits(name, params, dtype) -> None:
    """Where PyTorch gives a number at ±inf the reference gives the same; where PyTorch
    gives NaN (it computes inf·0) the reference still gives a number: the limit, checked in
    ``test_limits_where_pytorch_gives_nan``."""
    x = INFS.astype(dtype)
    y_torch, g_torch = torch_value_and_grad(name, x, params)
    y, g = fwd(name, x, params), grad(name, x, params)
    assert not np.isnan(y).any() and not np.isnan(g).any()
    for ours, theirs in ((y, y_torch), (g, g_torch)):
        known = ~np.isnan(theirs)
        np.testing.assert_array_equal(ours[known], theirs[known])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_limits_where_pytorch_gives_nan(dtype) -> None:
    x = INFS.astype(dtype)  # -inf, +inf
    limits = {  # name: (f(-inf), f(+inf)), (f'(-inf), f'(+inf))
        "gelu": ((0, np.inf), (0, 1)),
        "gelu_tanh": ((0, np.inf), (0, 1)),
        "silu": ((0, np.inf), (0, 1)),
        "mish": ((0, np.inf), (0, 1)),
        "hardswish": ((0, np.inf), (0, 1)),
        "softsign": ((-1, 1), (0, 0)),
    }
    for name, (values, slopes) in limits.items():
        np.testing.assert_array_equal(fwd(name, x, {}), values, err_msg=name)
        np.testing.assert_array_equal(grad(name, x, {}), slopes, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5)])
def test_prelu_per_channel_matches_pytorch(shape, dtype) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype(dtype)
    x.flat[:3] = 0.0  # the kink
    weight = np.array([0.25, -0.5, 1.5], dtype=dtype)
    t = torch.tensor(x, requires_grad=True)
    w = torch.tensor(weight, requires_grad=True)
    y_torch = torch.nn.functional.prelu(t, w)
    y_torch.sum().backward()
    y = ref.prelu(x, weight)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **tol)
    np.testing.assert_allclose(ref.prelu_grad(x, y, weight), t.grad.numpy(), **tol)
    per_element = ref.prelu_grad_weight(x, y, weight)
    assert per_element.shape == x.shape and per_element.dtype == dtype
    summed = per_element.sum(axis=(0, *range(2, x.ndim)))
    np.testing.assert_allclose(summed, w.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rrelu_per_element_slopes_match_pytorch_training_mode(dtype) -> None:
    """PyTorch draws a slope for every element with x <= 0 (0 included) and records it in
    ``noise``; the reference, given the same slopes, gives the same values and gradient."""
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.random.default_rng(2).normal(size=20), [0.0, -0.0, 1e-8, -1e-8]])
    x = x.astype(dtype)
    t = torch.tensor(x, requires_grad=True)
    noise = torch.empty_like(t)
    y_torch = torch.ops.aten.rrelu_with_noise(t, noise, 1 / 8, 1 / 3, True)
    y_torch.sum().backward()
    slope = noise.numpy()
    assert np.unique(slope[x <= 0]).size == np.count_nonzero(x <= 0)  # really per element
    y = ref.rrelu(x, slope)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **tol)
    np.testing.assert_allclose(ref.rrelu_grad(x, y, slope), t.grad.numpy(), **tol)


# ---------------------------------------------------------------------------- without PyTorch


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_float32_is_accurate(name, params) -> None:
    """Float32 results are within a few float32 roundings of the float64 result for the same
    (float32) inputs. The derivatives read from y (sigmoid, tanh) lose relative accuracy
    where they are tiny, hence the absolute tolerance."""
    x32 = INPUTS.astype(np.float32)
    x64 = x32.astype(np.float64)
    for f in (fwd, grad):
        np.testing.assert_allclose(f(name, x32, params), f(name, x64, params),
                                   rtol=2e-6, atol=3e-7, err_msg=f"{name} {f.__name__}")


X_TABLE = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
# Facts sheet 1.1 (PyTorch float64, 6 decimals): name, params, f at X_TABLE, f' at X_TABLE.
TABLE = [
    ("relu", {}, [0, 0, 0, 0.5, 2], [0, 0, 0, 1, 1]),
    ("leaky_relu", {}, [-0.02, -0.005, 0, 0.5, 2], [0.01, 0.01, 0.01, 1, 1]),
    ("prelu", {"weight": [0.25]}, [-0.5, -0.125, 0, 0.5, 2], [0.25, 0.25, 0.25, 1, 1]),
    ("rrelu", {}, [-0.458333, -0.114583, 0, 0.5, 2], [0.229167, 0.229167, 0.229167, 1, 1]),
    ("elu", {}, [-0.864665, -0.393469, 0, 0.5, 2], [0.135335, 0.606531, 1, 1, 1]),
    ("celu", {}, [-0.864665, -0.393469, 0, 0.5, 2], [0.135335, 0.606531, 1, 1, 1]),
    ("selu", {}, [-1.520166, -0.691758, 0, 0.525350, 2.101402],
     [0.237933, 1.066341, 1.758099, 1.050701, 1.050701]),
    ("gelu", {}, [-0.045500, -0.154269, 0, 0.345731, 1.954500],
     [-0.085232, 0.132505, 0.5, 0.867495, 1.085232]),
    ("gelu_tanh", {}, [-0.045402, -0.154286, 0, 0.345714, 1.954598],
     [-0.086099, 0.132630, 0.5, 0.867370, 1.086099]),
    ("silu", {}, [-0.238406, -0.188770, 0, 0.311230, 1.761594],
     [-0.090784, 0.260039, 0.5, 0.739961, 1.090784]),
    ("mish", {}, [-0.252501, -0.220744, 0, 0.375245, 1.943959],
     [-0.108355, 0.289511, 0.6, 0.886424, 1.069318]),
    ("softplus", {}, [0.126928, 0.474077, 0.693147, 0.974077, 2.126928],
     [0.119203, 0.377541, 0.5, 0.622459, 0.880797]),
    ("relu6", {}, [0, 0, 0, 0.5, 2], [0, 0, 0, 1, 1]),
    ("hardtanh", {}, [-1, -0.5, 0, 0.5, 1], [0, 1, 1, 1, 0]),
    ("hardswish", {}, [-0.333333, -0.208333, 0, 0.291667, 1.666667],
     [-0.166667, 0.333333, 0.5, 0.666667, 1.166667]),
    ("softsign", {}, [-0.666667, -0.333333, 0, 0.333333, 0.666667],
     [0.111111, 0.444444, 1, 0.444444, 0.111111]),
    ("sigmoid", {}, [0.119203, 0.377541, 0.5, 0.622459, 0.880797],
     [0.104994, 0.235004, 0.25, 0.235004, 0.104994]),
    ("tanh", {}, [-0.964028, -0.462117, 0, 0.462117, 0.964028],
     [0.070651, 0.786448, 1, 0.786448, 0.070651]),
]


@pytest.mark.parametrize(("name", "params", "values", "slopes"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_facts_sheet_check_values(name, params, values, slopes) -> None:
    # Six decimals: rounding leaves at most 5e-7.
    np.testing.assert_allclose(fwd(name, X_TABLE, params), values, rtol=0, atol=5.01e-7)
    np.testing.assert_allclose(grad(name, X_TABLE, params), slopes, rtol=0, atol=5.01e-7)


KINKS = [  # name, params, x, the derivative PyTorch uses there
    ("relu", {}, 0.0, 0.0),
    ("leaky_relu", {"negative_slope": 0.2}, 0.0, 0.2),
    ("prelu", {"weight": [0.3]}, 0.0, 0.3),
    ("rrelu", {"slope": 0.15}, 0.0, 0.15),
    ("elu", {"alpha": 2.0}, 0.0, 2.0),
    ("selu", {}, 0.0, ref.SELU_SCALE * ref.SELU_ALPHA),
    ("celu", {"alpha": 2.0}, 0.0, 1.0),
    ("relu6", {}, 0.0, 0.0),
    ("relu6", {}, 6.0, 0.0),
    ("hardtanh", {}, -1.0, 0.0),
    ("hardtanh", {}, 1.0, 0.0),
    ("hardsigmoid", {}, -3.0, 0.0),
    ("hardsigmoid", {}, 3.0, 0.0),
    ("hardswish", {}, -3.0, 0.0),
    ("hardswish", {}, 3.0, 1.0),
    ("softplus", {}, 20.0, 1 / (1 + math.exp(-20.0))),
    ("softplus", {}, float(np.nextafter(20.0, 21.0)), 1.0),
    ("softplus", {"beta": 2.0, "threshold": 5.0}, 2.5, 1 / (1 + math.exp(-5.0))),
]


@pytest.mark.parametrize(("name", "params", "x", "slope"), KINKS,
                         ids=[f"{k[0]}@{k[2]:g}" for k in KINKS])
def test_derivative_at_kinks_follows_pytorch(name, params, x, slope) -> None:
    assert grad(name, np.array([x, -0.0 if x == 0 else x]), params) == pytest.approx(
        [slope, slope], rel=1e-15)


def test_softplus_uses_the_log_form_at_the_threshold() -> None:
    x = np.array([20.0, np.nextafter(20.0, 21.0)])
    np.testing.assert_array_equal(ref.softplus(x), [math.log1p(math.exp(20.0)), x[1]])
    assert ref.softplus(np.array([2.5]), beta=2.0, threshold=5.0)[0] == pytest.approx(
        math.log1p(math.exp(5.0)) / 2, rel=1e-15)


@pytest.mark.parametrize("name", ["relu", "selu", "sigmoid", "tanh"])
def test_derivatives_that_read_only_the_output(name) -> None:
    """These may be called with ``y`` in place of ``x`` when only the output was saved."""
    x = INPUTS
    y = fwd(name, x, {})
    np.testing.assert_array_equal(getattr(ref, name + "_grad")(y, y), grad(name, x, {}))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_dtype_and_shape_are_kept(name, params, dtype) -> None:
    for shape in [(), (5,), (2, 3, 4)]:
        x = np.random.default_rng(3).normal(size=shape).astype(dtype)
        for out in (fwd(name, x, params), grad(name, x, params)):
            assert isinstance(out, np.ndarray)
            assert out.dtype == dtype and out.shape == shape


def test_integer_input_becomes_float64() -> None:
    for name in NAMES:
        args = {"weight": [0.25]} if name == "prelu" else {}
        assert fwd(name, np.arange(-3, 4), args).dtype == np.float64, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_nan_propagates_forward(name, params, dtype) -> None:
    x = np.array([-1.0, np.nan, 0.0, 2.0], dtype=dtype)
    y = fwd(name, x, params)
    assert np.isnan(y[1]) and not np.isnan(y[[0, 2, 3]]).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_no_warnings_and_finite_for_large_inputs(name, params, dtype) -> None:
    finite = np.concatenate([np.linspace(-1e4, 1e4, 2001), EDGES]).astype(dtype)
    x = np.concatenate([finite, [-np.inf, np.inf, np.nan]]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, g = fwd(name, x, params), grad(name, x, params)
    n = finite.size
    assert np.isfinite(y[:n]).all() and np.isfinite(g[:n]).all()


def test_prelu_weight_layouts() -> None:
    x1 = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(ref.prelu(x1, np.array([0.25])), [-0.5, 0.0, 3.0])
    np.testing.assert_array_equal(ref.prelu_grad(x1, None, [0.25]), [0.25, 0.25, 1.0])
    x0 = np.float32(-2.0)
    for out in (ref.prelu(x0, [0.25]), ref.prelu_grad(x0, None, [0.25]),
                ref.prelu_grad_weight(x0, None, [0.25])):
        assert out.shape == () and out.dtype == np.float32
    assert ref.prelu(x0, [0.25]) == -0.5
    assert ref.prelu_grad_weight(x0, None, [0.25]) == -2.0
    x4 = -np.ones((2, 3, 2, 2))
    y4 = ref.prelu(x4, np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(y4[1, :, 1, 0], [-0.1, -0.2, -0.3])
    with pytest.raises(ValueError, match="prelu"):
        ref.prelu(x4, np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="prelu"):
        ref.prelu(x1, np.array([0.1, 0.2, 0.3]))  # a 1-D input has one channel


def test_rrelu_array_slope_applies_per_element() -> None:
    x = np.array([[-1.0, -2.0], [0.0, 4.0]], dtype=np.float32)
    slope = np.array([[0.1, 0.2], [0.3, 0.4]])
    y = ref.rrelu(x, slope)
    np.testing.assert_allclose(y, [[-0.1, -0.4], [0.0, 4.0]], rtol=1e-7)
    np.testing.assert_allclose(ref.rrelu_grad(x, y, slope), [[0.1, 0.2], [0.3, 1.0]], rtol=1e-7)
    assert y.dtype == np.float32


def test_celu_rejects_alpha_zero() -> None:
    with pytest.raises(ValueError, match="alpha"):
        ref.celu(np.ones(2), alpha=0.0)
    with pytest.raises(ValueError, match="alpha"):
        ref.celu_grad(np.ones(2), np.ones(2), alpha=0.0)
