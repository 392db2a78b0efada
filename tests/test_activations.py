"""The activation library: every registered activation, checked from every side.

The scalar definitions in ``minidl/kernels/activations.py`` generate the Numba CPU kernels,
``F.<name>`` and ``nn.<Module>``; these tests hold each generated form against independent
oracles:

* the NumPy references in ``minidl/kernels/reference.py`` (kernels, float32 and float64);
* PyTorch, when installed, through minidl's autograd (values and gradients);
* central finite differences (``minidl.gradcheck``, float64);
* the check values of the fact sheet (``activations-facts.md`` section 1.1).

Everything is parametrised over ``REGISTRY``, so a newly registered activation is covered
automatically, and ``test_every_activation_has_all_its_pieces`` fails until it brings a NumPy
reference, a PyTorch oracle below, a module and a functional form.

Tolerances (``TOL``, ``BACKEND_TOL``, ``TORCH_TOL``): the tightest that hold over a
40,000-point sweep, with about 2x headroom, separately for values (f) and derivatives (df):

* minidl against the references evaluated in float64 on the very same inputs:
  float64 ``rtol=1e-13`` (libm against NumPy; different but equally valid formulas, such as
  ``x/6 + 1/2`` against ``(x + 3)/6``, differ by up to 2e-14) with ``atol=1e-16`` (f) and
  ``5e-16`` (df: ``1 - y²`` and ``y + λα`` cancel); float32 ``rtol=5e-7``, the bound
  ``kernels/fastmath.py`` documents (4 float32 ulp; 1.5e-7 measured), with ``atol=1e-38``
  (f) and ``1.5e-7`` (df: ``1 - y²`` from a float32 ``y`` is only absolutely accurate);
* the numpy backend against the numba one, both rounding to the input's dtype: as above in
  float64; float32 ``rtol=1e-6``, ``atol=1e-9`` (f) and ``1e-6`` (df);
* against PyTorch: float64 ``rtol=1e-13`` with ``atol=1e-15`` (f) and ``1e-14`` (df:
  PyTorch's tanh-GELU derivative cancels for x << 0); float32 ``rtol=1e-6`` with
  ``atol=5e-7`` (f) and ``3e-6`` (df, same cause).
"""

from __future__ import annotations

import inspect
import math
import os
import re
import subprocess
import sys
import warnings

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

import minidl
import minidl.functional as F
from minidl import nn
from minidl.kernels import cpu, reference
from minidl.kernels import fastmath as fm
from minidl.kernels.activations import REGISTRY, SELU_ALPHA, SELU_SCALE

try:
    import torch
except ImportError:  # PyTorch is only a test oracle
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the test oracle) not installed")
TF = None if torch is None else torch.nn.functional

DTYPES = [np.float32, np.float64]
BUILTIN = dict(REGISTRY)  # the registry as shipped (tests below may register more)
NAMES = sorted(BUILTIN)

# Tolerances for values ("f") and derivatives ("df"); see the module docstring.
TOL = {  # minidl (kernels, F, autograd) against the float64 references on the same inputs
    (np.float32, "f"): dict(rtol=5e-7, atol=1e-38),
    (np.float32, "df"): dict(rtol=5e-7, atol=1.5e-7),
    (np.float64, "f"): dict(rtol=1e-13, atol=1e-16),
    (np.float64, "df"): dict(rtol=1e-13, atol=5e-16),
}
BACKEND_TOL = {  # set_kernel_backend('numpy') against 'numba', both in the input's dtype
    (np.float32, "f"): dict(rtol=1e-6, atol=1e-9),
    (np.float32, "df"): dict(rtol=1e-6, atol=1e-6),
    (np.float64, "f"): dict(rtol=1e-13, atol=1e-16),
    (np.float64, "df"): dict(rtol=1e-13, atol=2e-15),
}
TORCH_TOL = {  # minidl against PyTorch, both in the input's dtype
    (np.float32, "f"): dict(rtol=1e-6, atol=5e-7),
    (np.float32, "df"): dict(rtol=1e-6, atol=3e-6),
    (np.float64, "f"): dict(rtol=1e-13, atol=1e-15),
    (np.float64, "df"): dict(rtol=1e-13, atol=1e-14),
}

# ---------------------------------------------------------------------------- oracles and calls

# PyTorch's functional form of each registry entry, called with the registry's parameters in
# order. A registered activation without an entry here fails the completeness test.
TORCH_CALL = {
    "relu": lambda t: TF.relu(t),
    "leaky_relu": lambda t, s: TF.leaky_relu(t, s),
    "prelu": lambda t, w: TF.prelu(t, w if isinstance(w, torch.Tensor)
                                   else torch.tensor([w], dtype=t.dtype)),
    "rrelu": lambda t, s: TF.rrelu(t, s, s, training=False),  # eval slope (s + s)/2 = s
    "elu": lambda t, a: TF.elu(t, a),
    "selu": lambda t: TF.selu(t),
    "celu": lambda t, a: TF.celu(t, a),
    "gelu": lambda t: TF.gelu(t),
    "gelu_tanh": lambda t: TF.gelu(t, approximate="tanh"),
    "softplus": lambda t, b, th: TF.softplus(t, b, th),
    "relu6": lambda t: TF.relu6(t),
    "hardtanh": lambda t, lo, hi: TF.hardtanh(t, lo, hi),
    "sigmoid": lambda t: torch.sigmoid(t),
    "tanh": lambda t: torch.tanh(t),
    "silu": lambda t: TF.silu(t),
    "mish": lambda t: TF.mish(t),
    "hardsigmoid": lambda t: TF.hardsigmoid(t),
    "hardswish": lambda t: TF.hardswish(t),
    "softsign": lambda t: TF.softsign(t),
    "logsigmoid": lambda t: TF.logsigmoid(t),
}


def _weight(w, dtype, requires_grad=False):
    """PReLU's weight tensor from a registry parameter value (a number or an array)."""
    dtype = dtype if np.dtype(dtype).kind == "f" else minidl.get_default_dtype()
    return minidl.tensor(np.array(w, dtype=dtype).reshape(-1), requires_grad=requires_grad)


# How to reach a registry entry through ``F`` when it is not ``F.<name>(x, *params)``.
MD_CALL = {
    "prelu": lambda x, w: F.prelu(x, w if isinstance(w, minidl.Tensor)
                                  else _weight(w, getattr(x, "dtype", np.float32))),
    "rrelu": lambda x, s: F.rrelu(x, s, s),  # eval mode: slope (s + s)/2 = s exactly
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


def md_call(name, x, params=None):
    """``F``'s form of registry entry ``name`` on tensor ``x`` (default parameters if None)."""
    params = tuple(REGISTRY[name].params.values()) if params is None else tuple(params)
    fn = MD_CALL.get(name)
    return fn(x, *params) if fn is not None else getattr(F, name)(x, *params)


def ref_forward(name, x, params):
    return np.asarray(getattr(reference, name)(x, *params), dtype=np.float64)


def ref_grad(name, x, y, params):
    return np.asarray(getattr(reference, name + "_grad")(x, y, *params), dtype=np.float64)


# ---------------------------------------------------------------------------- test data

# Non-default parameters, checked beside the defaults.
VARIANTS = {
    "leaky_relu": [(0.2,)],
    "prelu": [(0.1,)],
    "rrelu": [(0.3,)],
    "elu": [(0.5,), (2.0,)],
    "celu": [(0.5,), (3.0,)],
    "softplus": [(2.0, 10.0), (0.5, 5.0)],
    "hardtanh": [(-2.0, 0.5)],
}


def kinks(name, params):
    """Inputs where the derivative of ``name`` with ``params`` jumps."""
    if name == "softplus":
        return (params[1] / params[0],)
    if name == "hardtanh":
        return tuple(params)
    return tuple(REGISTRY[name].kinks)


def cases():
    out = []
    for name in NAMES:
        for params in [tuple(BUILTIN[name].params.values()), *VARIANTS.get(name, [])]:
            out.append(pytest.param(name, params, id=f"{name}{list(params) if params else ''}"))
    return out


CASES = cases()

EDGES = [0.0, -0.0, 1e-8, -1e-8, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 20.0, -20.0, 1e3, -1e3,
         1e4, -1e4, math.inf, -math.inf]


def sample(dtype, kink_points=(), n=200, seed=0):
    """Edge values, the kinks (and points just beside them), N(0, 9) and log-uniform
    magnitudes in [1e-8, 1e4] of both signs."""
    rng = np.random.default_rng(seed)
    near = [k + d for k in kink_points for d in (0.0, 1e-6, -1e-6, 1e-3, -1e-3)]
    normal = rng.standard_normal(n) * 3
    logu = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-8, 4, n)
    return np.concatenate([EDGES, near, normal, logu]).astype(dtype)


def away_from_kinks(x, kink_points, margin=1e-2):
    keep = np.ones(x.shape, bool)
    for k in kink_points:
        keep &= np.abs(x - k) > margin
    return x[keep]


def assert_close(got, want, tol, what):
    np.testing.assert_allclose(got, want, equal_nan=True, err_msg=what, **tol)


@pytest.fixture
def backend():
    """``set_kernel_backend``, with the starting backend restored afterwards."""
    old = minidl.get_kernel_backend()
    yield minidl.set_kernel_backend
    minidl.set_kernel_backend(old)


# ---------------------------------------------------------------------------- completeness


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_activation_has_all_its_pieces(name):
    act = REGISTRY[name]
    missing = [f"reference.{name}{s}" for s in ("", "_grad") if not hasattr(reference, name + s)]
    missing += [f"reference.{name}_grad_{p}" for p in act.dparams
                if not hasattr(reference, f"{name}_grad_{p}")]
    if name not in TORCH_CALL:
        missing.append(f"a PyTorch oracle in TORCH_CALL ({__file__})")
    if not hasattr(nn, act.module) or act.module not in nn.ACTIVATION_MODULES:
        missing.append(f"nn.{act.module}")
    if name not in MD_CALL and not callable(getattr(F, name, None)):
        missing.append(f"F.{name}")
    assert not missing, f"activation {name!r} lacks {', '.join(missing)}"
    assert act.name == name and name.isidentifier()
    assert all(k in act.params for k in act.dparams)


def test_registry_lists_the_documented_activations():
    assert set(BUILTIN) == {
        "relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu", "gelu_tanh",
        "softplus", "relu6", "hardtanh", "sigmoid", "tanh", "silu", "mish", "hardsigmoid",
        "hardswish", "softsign", "logsigmoid"}
    assert {a.module for a in BUILTIN.values()} == set(nn.ACTIVATION_MODULES)


# ---------------------------------------------------------------------------- 1. kernels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_cpu_kernels_match_the_numpy_reference(name, params, dtype):
    act = REGISTRY[name]
    x = sample(dtype, kinks(name, params))
    y = cpu.forward(act, x, params)
    assert y.dtype == dtype and y.shape == x.shape
    x64 = x.astype(np.float64)  # the reference in float64 on the very same inputs
    y_ref = ref_forward(name, x64, params)
    assert_close(y, y_ref, TOL[dtype, "f"], f"{name}{params} forward ({dtype.__name__})")

    d_ref = ref_grad(name, x64, y_ref, params)
    tol = TOL[dtype, "df"]
    scaled = dict(rtol=tol["rtol"], atol=2 * tol["atol"])  # |g| <= 2 scales the error
    g_random = np.random.default_rng(1).uniform(-2, 2, x.shape).astype(dtype)
    for g, g_tol in ((np.ones_like(x), tol), (g_random, scaled)):
        gx, _ = cpu.backward(act, x, y, g, params)
        assert gx.dtype == dtype and gx.shape == x.shape
        want = g.astype(np.float64) * d_ref
        assert_close(gx, want, g_tol, f"{name}{params} derivative ({dtype.__name__})")


@pytest.mark.parametrize("dtype", DTYPES)
def test_rrelu_kernel_with_one_slope_per_element(dtype):
    act = REGISTRY["rrelu"]
    x = sample(dtype, (0.0,))
    slopes = np.random.default_rng(3).uniform(1 / 8, 1 / 3, x.shape).astype(dtype)
    y = cpu.forward(act, x, (slopes,))
    x64, s64 = x.astype(np.float64), slopes.astype(np.float64)
    assert_close(y, ref_forward("rrelu", x64, (s64,)), TOL[dtype, "f"], "rrelu forward")
    assert_close(y, np.where(x64 > 0, x64, s64 * x64), TOL[dtype, "f"], "rrelu forward")
    g = np.random.default_rng(4).uniform(-1, 1, x.shape).astype(dtype)
    gx, grads = cpu.backward(act, x, y, g, (slopes,))
    assert grads == []
    assert_close(gx, g * np.where(x64 > 0, 1.0, s64), TOL[dtype, "df"], "rrelu derivative")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_nan_in_gives_nan_out(name, dtype):
    x = np.array([np.nan, 1.0, np.nan, -1.0], dtype=dtype)
    params = tuple(REGISTRY[name].params.values())
    assert np.isnan(cpu.forward(REGISTRY[name], x, params)[[0, 2]]).all()
    assert np.isnan(ref_forward(name, x.astype(np.float64), params)[[0, 2]]).all()
    assert np.isnan(md_call(name, minidl.tensor(x)).data[[0, 2]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_derivative_at_nan_follows_the_reference_and_pytorch(name, dtype):
    """What backward gives at a NaN input is a convention (NaN, or the gradient passed
    through or blocked by a comparison); the kernels follow the references, which follow
    PyTorch's backward formulas."""
    x = np.array([np.nan, 0.5], dtype=dtype)
    params = tuple(REGISTRY[name].params.values())
    y = cpu.forward(REGISTRY[name], x, params)
    gx, _ = cpu.backward(REGISTRY[name], x, y, np.ones_like(x), params)
    want = ref_grad(name, x.astype(np.float64), ref_forward(name, x.astype(np.float64), params),
                    params)
    np.testing.assert_array_equal(np.isnan(gx), np.isnan(want), err_msg=f"{name}: NaN or not")
    assert_close(gx, want, TOL[dtype, "df"], f"{name} derivative at NaN")
    if torch is not None:
        t = torch.tensor(x, requires_grad=True)
        TORCH_CALL[name](t, *params).backward(torch.ones_like(t))
        assert_close(gx, t.grad.numpy(), TORCH_TOL[dtype, "df"], f"{name}: PyTorch at NaN")


# any float of magnitude up to 1e300 (beyond, see test_huge_finite_inputs), and ±inf
FLOATS = st.one_of(st.floats(-1e300, 1e300), st.sampled_from([math.inf, -math.inf]))


@settings(max_examples=25, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(0, 40), elements=FLOATS),
       name=st.sampled_from(NAMES))
def test_kernel_equals_reference_on_arbitrary_floats(x, name):
    act = REGISTRY[name]
    params = tuple(act.params.values())
    y = cpu.forward(act, x, params)
    gx, _ = cpu.backward(act, x, y, np.ones_like(x), params)
    with warnings.catch_warnings():  # the references promise no NumPy warnings
        warnings.simplefilter("error", RuntimeWarning)
        y_ref = ref_forward(name, x, params)
        d_ref = ref_grad(name, x, y_ref, params)
    assert_close(y, y_ref, TOL[np.float64, "f"], f"{name} forward")
    assert_close(gx, d_ref, TOL[np.float64, "df"], f"{name} derivative")


@pytest.mark.parametrize(("name", "params"), CASES)
def test_huge_finite_inputs(name, params):
    """Float64 inputs near the top of the range: the references (which promise no NumPy
    warning for finite input) and the kernels agree, without NaN."""
    act = REGISTRY[name]
    x = np.array([1e308, -1e308, 1e307, -1e307, 1e200, -1e200, 5e-324, -5e-324])
    y = cpu.forward(act, x, params)
    gx, _ = cpu.backward(act, x, y, np.ones_like(x), params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        y_ref = ref_forward(name, x, params)
        d_ref = ref_grad(name, x, y_ref, params)
    assert not np.isnan(y).any() and not np.isnan(gx).any()
    assert_close(y, y_ref, TOL[np.float64, "f"], "value")
    assert_close(gx, d_ref, TOL[np.float64, "df"], "derivative")


@pytest.mark.parametrize("dtype", DTYPES)
def test_kink_derivatives_follow_pytorch(dtype):
    """The conventions of facts sheet section 1.2, through F and autograd."""
    cases_ = [
        ("relu", (), 0.0, 0.0),
        ("leaky_relu", (0.2,), 0.0, 0.2),
        ("prelu", (0.3,), 0.0, 0.3),
        ("rrelu", (0.25,), 0.0, 0.25),
        ("elu", (0.5,), 0.0, 0.5),
        ("selu", (), 0.0, SELU_SCALE * SELU_ALPHA),
        ("celu", (2.0,), 0.0, 1.0),
        ("relu6", (), 0.0, 0.0),
        ("relu6", (), 6.0, 0.0),
        ("hardtanh", (-1.0, 1.0), -1.0, 0.0),
        ("hardtanh", (-1.0, 1.0), 1.0, 0.0),
        ("hardswish", (), -3.0, 0.0),
        ("hardswish", (), 3.0, 1.0),
        ("hardsigmoid", (), -3.0, 0.0),
        ("hardsigmoid", (), 3.0, 0.0),
        ("hardsigmoid", (), 0.0, float(np.float32(1 / 6))),  # PyTorch's float32 constant
        ("softplus", (1.0, 20.0), 20.0, 1 / (1 + math.exp(-20.0))),  # log form at βx = 20
        ("softplus", (2.0, 20.0), 10.5, 1.0),
        ("mish", (), 0.0, 0.6),
        ("gelu", (), 0.0, 0.5),
        ("gelu_tanh", (), 0.0, 0.5),
        ("silu", (), 0.0, 0.5),
        ("sigmoid", (), 0.0, 0.25),
        ("softsign", (), 0.0, 1.0),
    ]
    for name, params, at, want in cases_:
        x = minidl.tensor(np.array([at, at], dtype=dtype), requires_grad=True)
        md_call(name, x, params).sum().backward()
        np.testing.assert_allclose(x.grad, [want, want],
                                   rtol=1e-6 if dtype == np.float32 else 1e-15,
                                   err_msg=f"{name}{params}'({at})")
    # softplus switches to the identity only strictly above the threshold
    x = np.array([20.0, np.nextafter(20.0, 30.0)])
    y = F.softplus(minidl.tensor(x)).data
    assert y[0] == 20.0 + math.log1p(math.exp(-20.0)) and y[1] == x[1]


# ---------------------------------------------------------------------------- 2. PyTorch


def _torch_and_minidl(name, x, params, g, torch_params=None):
    """(y, x.grad) from PyTorch and from minidl, for upstream gradient ``g`` (None: ones)."""
    t = torch.tensor(x, requires_grad=True)
    ty = TORCH_CALL[name](t, *(params if torch_params is None else torch_params))
    (ty.sum() if g is None else (ty * torch.tensor(g)).sum()).backward()
    m = minidl.tensor(x, requires_grad=True)
    my = md_call(name, m, params)
    assert my.dtype == x.dtype and my.shape == x.shape
    (my.sum() if g is None else (my * minidl.tensor(g)).sum()).backward()
    return (ty.detach().numpy(), t.grad.numpy()), (my.data, m.grad)


@needs_torch
@pytest.mark.filterwarnings("ignore:invalid value encountered in reduce")  # the loss: inf - inf
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_matches_pytorch_through_autograd(name, params, dtype):
    x = sample(dtype, kinks(name, params), n=100)
    finite = np.isfinite(x)
    g = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    for upstream in (None, g):
        (ty, tg), (my, mg) = _torch_and_minidl(name, x, params, upstream)
        # at ±inf PyTorch computes inf·0 = NaN in places (silu, gelu, softsign, ...) where
        # minidl may return the limit; its derivatives at ±inf are compared nowhere
        keep = ~(np.isinf(x) & np.isnan(ty))
        what = f"{name}{params} vs torch"
        assert_close(my[keep], ty[keep], TORCH_TOL[dtype, "f"], "value of " + what)
        assert mg.dtype == dtype
        assert_close(mg[finite], tg[finite], TORCH_TOL[dtype, "df"], "grad of " + what)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_rrelu_eval_and_gelu_variants_match_pytorch_defaults(dtype):
    x = sample(dtype, (0.0,), n=50)
    x = x[np.isfinite(x)]
    for mine, theirs in [
        (lambda v: F.rrelu(v), lambda t: TF.rrelu(t)),
        (lambda v: F.rrelu(v, 0.1, 0.5, training=False),
         lambda t: TF.rrelu(t, 0.1, 0.5, training=False)),
        (lambda v: F.gelu(v), lambda t: TF.gelu(t)),
        (lambda v: F.gelu(v, approximate="none"), lambda t: TF.gelu(t, approximate="none")),
        (lambda v: F.gelu(v, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh")),
        (lambda v: nn.GELU("tanh")(v), lambda t: torch.nn.GELU("tanh")(t)),
        (lambda v: nn.RReLU().eval()(v), lambda t: torch.nn.RReLU().eval()(t)),
    ]:
        t = torch.tensor(x, requires_grad=True)
        theirs(t).sum().backward()
        m = minidl.tensor(x, requires_grad=True)
        mine(m).sum().backward()
        assert_close(mine(minidl.tensor(x)).data, theirs(torch.tensor(x)).numpy(),
                     TORCH_TOL[dtype, "f"], "value")
        assert_close(m.grad, t.grad.numpy(), TORCH_TOL[dtype, "df"], "grad")


# ---------------------------------------------------------------------------- 3. gradcheck

GRADCHECK_X = np.array([-25.0, -8.0, -4.3, -2.7, -1.6, -0.9, -0.45, -0.2, -0.05, 0.05, 0.2,
                        0.45, 0.9, 1.6, 2.7, 4.3, 5.7, 8.0, 19.5, 20.5])


@pytest.mark.parametrize(("name", "params"), CASES)
def test_gradcheck_input(name, params):
    rng = np.random.default_rng(5)
    x = np.concatenate([GRADCHECK_X, rng.standard_normal(10) * 3])
    x = away_from_kinks(x, kinks(name, params))
    t = minidl.tensor(x.reshape(-1, 2) if x.size % 2 == 0 else x, requires_grad=True)
    assert minidl.gradcheck(lambda v: md_call(name, v, params), [t])


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_gradcheck_prelu_weight(shape, per_channel):
    x = np.random.default_rng(6).standard_normal(shape)
    x = np.where(np.abs(x) < 0.05, 0.3, x)
    w = np.array([0.1, -0.3, 0.7]) if per_channel else np.array([0.25])
    xt = minidl.tensor(x, requires_grad=True)
    wt = minidl.tensor(w, requires_grad=True)
    assert minidl.gradcheck(F.prelu, [xt, wt])
    # the weight alone, through a module
    m = nn.PReLU(num_parameters=w.size, dtype=np.float64)
    assert minidl.gradcheck(lambda v, a: F.prelu(v, a), [minidl.tensor(x), m.weight])


# ---------------------------------------------------------------------------- 4. shapes, dtypes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4, 5), (0,), (3, 0, 2)])
def test_dtype_and_shape_are_preserved(name, shape, dtype):
    x = np.random.default_rng(7).standard_normal(shape).astype(dtype) * 3
    t = minidl.tensor(x, requires_grad=True)
    y = md_call(name, t)
    assert y.shape == shape and y.dtype == dtype
    y.backward(np.ones(shape))  # (sum's read-only broadcast gradient: see the next test)
    assert t.grad.shape == shape and t.grad.dtype == dtype
    params = tuple(REGISTRY[name].params.values())
    x64 = x.astype(np.float64)
    y_ref = ref_forward(name, x64, params)
    assert_close(y.data, y_ref, TOL[dtype, "f"], "value")
    assert_close(t.grad, ref_grad(name, x64, y_ref, params), TOL[dtype, "df"], "grad")


@pytest.mark.parametrize("shape", [(), (1,), (0,)])
@pytest.mark.parametrize("name", ["relu", "gelu", "softplus"])
def test_read_only_upstream_gradient(name, shape):
    """``y.sum().backward()`` hands the kernels a read-only broadcast gradient, which NumPy
    treats as contiguous when it has at most one element."""
    t = minidl.tensor(np.full(shape, -0.5), requires_grad=True)
    y = md_call(name, t)
    y.sum().backward()
    params = tuple(REGISTRY[name].params.values())
    x = np.full(shape, -0.5)
    want = ref_grad(name, x, ref_forward(name, x, params), params)
    assert t.grad.shape == shape
    assert_close(t.grad, want, TOL[np.float64, "df"], "grad")


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_inputs_give_the_contiguous_result(name):
    act = REGISTRY[name]
    params = tuple(act.params.values())
    base = (np.random.default_rng(8).standard_normal((6, 8, 5)) * 3).astype(np.float32)
    for view in (base.transpose(2, 0, 1), base[:, ::3, 1:4], base[::-1, :, ::2]):
        assert not view.flags.c_contiguous
        dense = np.ascontiguousarray(view)
        # the kernels directly
        y = cpu.forward(act, view, params)
        np.testing.assert_array_equal(y, cpu.forward(act, dense, params))
        g = np.random.default_rng(9).standard_normal((8, 9, 10)).astype(np.float32)
        gview = g.transpose(2, 0, 1)[: view.shape[0], : view.shape[1], : view.shape[2]]
        assert gview.shape == view.shape and not gview.flags.c_contiguous
        gx, _ = cpu.backward(act, view, y, gview, params)
        gx_dense, _ = cpu.backward(act, dense, y, np.ascontiguousarray(gview), params)
        np.testing.assert_array_equal(gx, gx_dense)
        # writing into a non-contiguous ``out``
        out_base = np.zeros((view.shape[0], view.shape[1], 2 * view.shape[2]), np.float32)
        out = out_base[:, :, ::2]
        assert cpu.forward(act, view, params, out=out) is out
        np.testing.assert_array_equal(out, y)
        assert not out_base[:, :, 1::2].any()
    # through F and autograd, on views made by minidl ops
    t = minidl.tensor(base, requires_grad=True)
    for view in (t.transpose(0, 2), t[:, ::3, 1:4]):
        assert not view.data.flags.c_contiguous
        dense = minidl.tensor(np.ascontiguousarray(view.data), requires_grad=True)
        t.grad = None
        y = md_call(name, view)
        y.sum().backward()
        y_dense = md_call(name, dense)
        y_dense.sum().backward()
        np.testing.assert_array_equal(y.data, y_dense.data)
        grad_view = t.grad.transpose(2, 1, 0) if view.shape[0] == 5 else t.grad[:, ::3, 1:4]
        np.testing.assert_array_equal(grad_view, dense.grad)


def _fm_calls(fn, seen):
    """The ``fm`` functions a scalar function calls, directly or through its helpers."""
    if fn in seen:
        return set()
    seen.add(fn)
    found = set(re.findall(r"\bfm\.(\w+)", inspect.getsource(fn)))
    for n in fn.__code__.co_names:
        if inspect.isfunction(fn.__globals__.get(n)):
            found |= _fm_calls(fn.__globals__[n], seen)
    return found


def parallel_representatives():
    """One activation per kernel shape (what the derivative reads, number of parameters) and
    per ``fm`` function used: the parallel kernels differ from the serial ones only in their
    loop, so these cover every kind of generated parallel loop without compiling all 80."""
    chosen = {}
    for name in NAMES:
        act = REGISTRY[name]
        keys = [("shape", act.uses, len(act.params))]
        keys += [("fm", f) for f in sorted(_fm_calls(act.f, set()) | _fm_calls(act.df, set()))]
        for key in keys:
            chosen.setdefault(key, name)
    return sorted(set(chosen.values()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", parallel_representatives())
def test_serial_and_parallel_kernels_agree_with_the_reference(name, dtype):
    act = REGISTRY[name]
    params = tuple(act.params.values())
    n = cpu.PARALLEL_THRESHOLD
    big = sample(dtype, act.kinks, n=n // 2 + 8)
    big = big[np.isfinite(big)][:n + 1]  # ±inf are checked above; here the loops are tested
    assert big.size == n + 1
    x64 = big.astype(np.float64)
    y_ref = ref_forward(name, x64, params)
    d_ref = ref_grad(name, x64, y_ref, params)
    g = np.ones_like(big)
    for size in (n - 1, n, n + 1):  # serial, then parallel
        y = cpu.forward(act, big[:size], params)
        assert_close(y, y_ref[:size], TOL[dtype, "f"], f"forward, {size} elements")
        gx, _ = cpu.backward(act, big[:size], y, g[:size], params)
        assert_close(gx, d_ref[:size], TOL[dtype, "df"], f"derivative, {size} elements")


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_kernels_with_per_channel_and_per_element_parameters(dtype):
    n = cpu.PARALLEL_THRESHOLD
    rng = np.random.default_rng(10)
    w = np.array([0.1, -0.2, 0.3], dtype=dtype)
    for rest in (n // 6 - 1, n // 6 + 1):  # 2·3·rest straddles the threshold
        x = (rng.standard_normal((2, 3, rest)) * 3).astype(dtype)
        y = cpu.forward(REGISTRY["prelu"], x, (w,))
        slope = w.reshape(1, 3, 1)
        np.testing.assert_allclose(y, np.where(x > 0, x, slope * x), rtol=1e-6)
        g = rng.standard_normal(x.shape).astype(dtype)
        gx, (gw,) = cpu.backward(REGISTRY["prelu"], x, y, g, (w,))
        np.testing.assert_allclose(gx, g * np.where(x > 0, 1, slope), rtol=1e-6)
        want = (g.astype(np.float64) * np.where(x > 0, 0, x)).sum(axis=(0, 2))
        np.testing.assert_allclose(gw, want, rtol=1e-4 if dtype == np.float32 else 1e-12)
        s = rng.uniform(1 / 8, 1 / 3, x.shape).astype(dtype)
        y = cpu.forward(REGISTRY["rrelu"], x, (s,))
        np.testing.assert_allclose(y, np.where(x > 0, x, s * x), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_integer_input_is_promoted_to_float32(name):
    x = minidl.tensor([-4, -1, 0, 2, 5])
    assert x.dtype == np.int64
    y = md_call(name, x)
    assert y.dtype == np.float32 and y.shape == (5,)
    params = tuple(REGISTRY[name].params.values())
    want = ref_forward(name, np.array([-4.0, -1.0, 0.0, 2.0, 5.0]), params)
    assert_close(y.data, want, TOL[np.float32, "f"], f"{name} on integers")
    if REGISTRY[name].inplace:  # in place on an integer tensor must not truncate the result
        x = minidl.tensor([-4, -1, 0, 2, 5])
        y = (F.rrelu(x, inplace=True) if name == "rrelu"
             else getattr(F, name)(x, *params, inplace=True))
        assert y.dtype == np.float32
        assert_close(y.data, want, TOL[np.float32, "f"], f"{name} in place on integers")


def test_prelu_promotes_integer_input_with_a_float_weight():
    y = F.prelu(minidl.tensor([-4, 2]), minidl.tensor([0.25]))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [-1.0, 2.0])


# ---------------------------------------------------------------------------- 5. backends


def test_backend_default_and_invalid_names(backend):
    assert minidl.get_kernel_backend() in ("numba", "numpy")
    with pytest.raises(ValueError, match="numba.*numpy"):
        backend("cuda")
    with pytest.raises(ValueError):
        backend("NumPy")
    backend("numpy")
    assert minidl.get_kernel_backend() == "numpy"
    backend("numba")
    assert minidl.get_kernel_backend() == "numba"


def _value_and_grads(fn, x, *extra):
    """(y, x.grad, [extra.grad]) of ``fn(x, *extra)`` with a fixed random upstream gradient."""
    xt = minidl.tensor(x, requires_grad=True)
    y = fn(xt, *extra)
    g = np.random.default_rng(11).standard_normal(y.shape).astype(x.dtype)
    (y * minidl.tensor(g)).sum().backward()
    return y.data, xt.grad, [e.grad for e in extra]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_numpy_and_numba_backends_agree(name, params, dtype, backend):
    x = sample(dtype, kinks(name, params), n=50)
    x = x[np.isfinite(x)]  # ±inf are compared with the references above

    def run(which):
        backend(which)
        return _value_and_grads(lambda v: md_call(name, v, params), x)

    (yn, gn, _), (yp, gp, _) = run("numba"), run("numpy")
    assert yp.dtype == yn.dtype == dtype and gp.dtype == dtype
    assert_close(yp, yn, BACKEND_TOL[dtype, "f"], f"{name}{params} value")
    assert_close(gp, gn, BACKEND_TOL[dtype, "df"], f"{name}{params} grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 5), (2, 3, 4, 3)])
def test_backends_agree_on_per_channel_prelu_and_training_rrelu(shape, dtype, backend):
    x = (np.random.default_rng(12).standard_normal(shape) * 3).astype(dtype)
    out = {}
    for which in ("numba", "numpy"):
        backend(which)
        w = minidl.tensor(np.array([0.1, -0.2, 0.3], dtype=dtype), requires_grad=True)
        out[which, "prelu"] = _value_and_grads(F.prelu, x, w)
        minidl.manual_seed(0)
        out[which, "rrelu"] = _value_and_grads(lambda v: F.rrelu(v, training=True), x)
    for kind in ("prelu", "rrelu"):
        (yn, gn, wn), (yp, gp, wp) = out["numba", kind], out["numpy", kind]
        assert_close(yp, yn, BACKEND_TOL[dtype, "f"], f"{kind} value")
        assert_close(gp, gn, BACKEND_TOL[dtype, "df"], f"{kind} grad")
        for a, b in zip(wp, wn, strict=True):
            assert a.shape == b.shape == (3,)
            np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12)


# ---------------------------------------------------------------------------- 6. RReLU


@pytest.mark.parametrize("dtype", DTYPES)
def test_rrelu_training_draws_slopes_per_element(dtype):
    x = np.concatenate([-np.linspace(0.5, 5.0, 400), np.linspace(0.5, 5.0, 100)]).astype(dtype)
    minidl.manual_seed(0)
    t = minidl.tensor(x, requires_grad=True)
    y = F.rrelu(t, 0.1, 0.4, training=True)
    assert y.dtype == dtype
    y.sum().backward()
    neg = x < 0
    slopes = y.data[neg] / x[neg]
    assert (slopes >= 0.1 - 1e-6).all() and (slopes <= 0.4 + 1e-6).all()
    assert np.unique(slopes).size > 300  # one slope per element, not one per call
    assert 0.2 < slopes.mean() < 0.3 and slopes.min() < 0.12 and slopes.max() > 0.38
    np.testing.assert_array_equal(y.data[~neg], x[~neg])
    # the gradient is the slope each element used
    np.testing.assert_allclose(t.grad[neg], slopes, rtol=1e-5)
    np.testing.assert_array_equal(t.grad[~neg], 1.0)
    # a fresh draw on every call
    assert not np.array_equal(F.rrelu(minidl.tensor(x), 0.1, 0.4, training=True).data,
                              y.data)


def test_rrelu_at_zero_uses_the_drawn_slope():
    minidl.manual_seed(1)
    t = minidl.tensor(np.zeros(50), requires_grad=True)
    F.rrelu(t, training=True).sum().backward()
    assert ((t.grad >= 1 / 8) & (t.grad <= 1 / 3)).all() and np.unique(t.grad).size > 40


def test_rrelu_eval_uses_the_mean_slope_exactly():
    x = np.array([-3.0, -1e-3, 0.0, 2.0, -7.25])
    for lower, upper in ((1 / 8, 1 / 3), (0.1, 0.3), (0.2, 0.2)):
        t = minidl.tensor(x, requires_grad=True)
        y = F.rrelu(t, lower, upper)  # training=False by default, as in PyTorch
        mid = (lower + upper) / 2
        np.testing.assert_array_equal(y.data, np.where(x > 0, x, x * mid))
        y.sum().backward()
        np.testing.assert_array_equal(t.grad, np.where(x > 0, 1.0, mid))
    np.testing.assert_array_equal(F.rrelu(minidl.tensor(x)).data,
                                  np.where(x > 0, x, x * (11 / 48)))


def test_rrelu_training_is_reproducible_with_manual_seed():
    x = minidl.tensor(-np.ones(64))
    minidl.manual_seed(123)
    a = F.rrelu(x, training=True).data
    minidl.manual_seed(123)
    b = F.rrelu(x, training=True).data
    minidl.manual_seed(124)
    c = F.rrelu(x, training=True).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rrelu_module_follows_train_and_eval():
    x = minidl.tensor(-np.linspace(1.0, 2.0, 100))
    m = nn.RReLU(0.1, 0.3)
    assert m.training
    minidl.manual_seed(5)
    a = m(x).data
    b = m(x).data
    assert not np.array_equal(a, b)
    slopes = a / x.data
    assert ((slopes >= 0.1 - 1e-6) & (slopes <= 0.3 + 1e-6)).all()
    m.eval()
    np.testing.assert_allclose(m(x).data, x.data * np.float32(0.2), rtol=1e-6)
    np.testing.assert_array_equal(m(x).data, m(x).data)
    m.train()
    assert not np.array_equal(m(x).data, m(x).data)


def test_rrelu_lower_above_upper_raises():
    x = minidl.tensor([1.0, -1.0])
    with pytest.raises(ValueError, match="lower"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(ValueError, match="lower"):
        F.rrelu(x, 0.5, 0.1, training=True)
    with pytest.raises(ValueError, match="lower"):
        nn.RReLU(0.5, 0.1)
    with pytest.raises(TypeError, match="lower"):
        F.rrelu(x, "0.1", 0.3)


# ---------------------------------------------------------------------------- 7. PReLU


def _prelu_numpy(x, w, g):
    slope = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w
    y = np.where(x > 0, x, slope * x)
    gx = g * np.where(x > 0, 1.0, slope)
    gw_full = g * np.where(x > 0, 0.0, x)
    axes = tuple(i for i in range(x.ndim) if not (i == 1 and w.size > 1))
    gw = gw_full.sum(axis=axes).reshape(w.shape)
    return y, gx, gw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6,), (5, 3), (2, 3, 4, 5), (2, 3, 4, 3)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu_matches_numpy(shape, per_channel, dtype):
    if per_channel and len(shape) < 2:
        pytest.skip("one channel")
    rng = np.random.default_rng(13)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x.reshape(-1)[:3] = 0.0  # x = 0 takes the slope branch
    w = np.array([0.1, -0.2, 0.3] if per_channel else [0.25], dtype=dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y_want, gx_want, gw_want = _prelu_numpy(x.astype(np.float64), w.astype(np.float64), g)
    xt = minidl.tensor(x, requires_grad=True)
    wt = minidl.tensor(w, requires_grad=True)
    y = F.prelu(xt, wt)
    assert y.dtype == dtype and y.shape == shape
    (y * minidl.tensor(g)).sum().backward()
    assert_close(y.data, y_want, TOL[dtype, "f"], "value")
    assert_close(xt.grad, gx_want, TOL[dtype, "df"], "input grad")
    assert wt.grad.shape == w.shape and wt.grad.dtype == dtype
    np.testing.assert_allclose(wt.grad, gw_want, rtol=2e-5 if dtype == np.float32 else 1e-12)
    # the NumPy reference's weight derivative
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(
        np.broadcast_to(reference.prelu_grad_weight(x64, y_want, w.astype(np.float64)), shape),
        np.where(x64 > 0, 0.0, x64))
    if torch is not None:
        t = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        (TF.prelu(t, tw) * torch.tensor(g)).sum().backward()
        assert_close(y.data, TF.prelu(torch.tensor(x), torch.tensor(w)).numpy(),
                     TORCH_TOL[dtype, "f"], "value vs torch")
        assert_close(xt.grad, t.grad.numpy(), TORCH_TOL[dtype, "df"], "input grad vs torch")
        np.testing.assert_allclose(wt.grad, tw.grad.numpy(),
                                   rtol=2e-5 if dtype == np.float32 else 1e-12)


def test_prelu_wrong_weight_size_raises_naming_the_shapes():
    x = minidl.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3, 4\)"):
        F.prelu(x, minidl.tensor(np.ones(4)))
    with pytest.raises(ValueError, match=r"\(1, 3\)"):
        F.prelu(x, minidl.tensor(np.ones((1, 3))))
    with pytest.raises(ValueError):
        F.prelu(minidl.tensor(np.ones(5)), minidl.tensor(np.ones(5)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        nn.PReLU(num_parameters=3)(minidl.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(TypeError):
        F.prelu(np.ones((2, 3)), minidl.tensor([0.25]))
    with pytest.raises(TypeError):
        F.prelu(minidl.tensor(np.ones((2, 3))), 0.25)


def test_prelu_module_parameters_and_repr():
    m = nn.PReLU(num_parameters=3)
    assert repr(m) == "PReLU(num_parameters=3)"
    assert repr(nn.PReLU()) == "PReLU(num_parameters=1)"
    params = list(m.parameters())
    assert len(params) == 1 and params[0] is m.weight
    assert m.weight.shape == (3,) and m.weight.dtype == np.float32 and m.weight.requires_grad
    np.testing.assert_array_equal(m.weight.data, [0.25] * 3)
    np.testing.assert_array_equal(nn.PReLU(2, init=0.1).weight.data, np.float32([0.1, 0.1]))
    x = minidl.tensor(-np.ones((2, 3, 4, 4), np.float32))
    m(x).sum().backward()
    np.testing.assert_array_equal(m.weight.grad, [-32.0] * 3)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            nn.PReLU(num_parameters=bad)
    if torch is not None:
        assert repr(m) == repr(torch.nn.PReLU(num_parameters=3))


# ---------------------------------------------------------------------------- 8. modules


def _module_kwargs(name, params):
    return dict(zip(REGISTRY[name].params, params, strict=True))


@pytest.mark.parametrize("module", sorted({a.module for a in BUILTIN.values()}))
def test_module_constructor_matches_pytorch(module):
    cls = getattr(nn, module)
    ours = {p.name: p.default for p in inspect.signature(cls).parameters.values()}
    assert repr(cls()) == f"{module}({cls().extra_repr()})"
    if torch is None:
        pytest.skip("PyTorch not installed")
    tcls = getattr(torch.nn, module)
    theirs = {p.name: p.default for p in inspect.signature(tcls).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD
              and p.name not in ("device", "min_value", "max_value")}
    ours.pop("dtype", None)
    theirs.pop("dtype", None)
    assert ours == theirs
    assert repr(cls()) == repr(tcls())
    # torch's Hardsigmoid and Hardswish do not show inplace in their repr
    if "inplace" in ours and module not in ("Hardsigmoid", "Hardswish"):
        assert repr(cls(inplace=True)) == repr(tcls(inplace=True))


def test_module_reprs():
    reprs = {
        "ReLU()": nn.ReLU(),
        "LeakyReLU(negative_slope=0.2)": nn.LeakyReLU(negative_slope=0.2),
        "ELU(alpha=1.0)": nn.ELU(),
        "ELU(alpha=0.5, inplace=True)": nn.ELU(alpha=0.5, inplace=True),
        "Softplus(beta=1.0, threshold=20.0)": nn.Softplus(),
        "Hardtanh(min_val=-1.0, max_val=1.0)": nn.Hardtanh(),
        "GELU(approximate='tanh')": nn.GELU(approximate="tanh"),
        "GELU(approximate='none')": nn.GELU(),
        "PReLU(num_parameters=1)": nn.PReLU(),
        "RReLU(lower=0.125, upper=0.3333333333333333)": nn.RReLU(),
        "CELU(alpha=2.0)": nn.CELU(2),
    }
    for want, module in reprs.items():
        assert repr(module) == want
    if torch is not None:
        for want in reprs:
            assert repr(eval("torch.nn." + want)) == want


def test_module_constructors_take_pytorch_arguments():
    m = nn.ELU(alpha=0.5, inplace=True)
    assert m.alpha == 0.5 and m.inplace is True
    m = nn.ELU(0.5, True)
    assert m.alpha == 0.5 and m.inplace is True
    m = nn.Softplus(beta=2, threshold=10)
    assert (m.beta, m.threshold) == (2.0, 10.0) and isinstance(m.beta, float)
    m = nn.Hardtanh(-2.0, 2.0)
    assert (m.min_val, m.max_val, m.inplace) == (-2.0, 2.0, False)
    assert nn.LeakyReLU(0.2).negative_slope == 0.2
    x = minidl.tensor(np.array([-2.0, -0.5, 0.5, 3.0]))
    np.testing.assert_allclose(nn.ELU(alpha=0.5)(x).data,
                               F.elu(x, alpha=0.5).data, rtol=0)
    np.testing.assert_allclose(nn.Hardtanh(-0.4, 1.0)(x).data, [-0.4, -0.4, 0.5, 1.0])
    np.testing.assert_allclose(nn.Softplus(beta=2.0, threshold=1.0)(x).data[-1], 3.0)


def _call_inplace(name, x, params):
    if name == "rrelu":
        return F.rrelu(x, params[0], params[0], inplace=True)
    return getattr(F, name)(x, *params, inplace=True)


INPLACE = [n for n in NAMES if BUILTIN[n].inplace]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_without_grad_writes_into_the_input(name):
    act = REGISTRY[name]
    params = tuple(act.params.values())
    x = np.array([-4.0, -1.5, -0.2, 0.0, 0.3, 2.0, 7.0])
    want = ref_forward(name, x, params)
    t = minidl.tensor(x)
    out = _call_inplace(name, t, params)
    assert out is t
    assert_close(t.data, want, TOL[np.float64, "f"], "in place, functional")
    t = minidl.tensor(x)
    module = getattr(nn, act.module)(*params, inplace=True) if name != "rrelu" \
        else nn.RReLU(params[0], params[0], inplace=True)
    assert module.inplace
    if name == "rrelu":
        module.eval()
    assert module(t) is t
    assert_close(t.data, want, TOL[np.float64, "f"], "in place, module")
    # a tensor that requires grad, under no_grad: nothing to protect, so in place
    t = minidl.tensor(x, requires_grad=True)
    with minidl.no_grad():
        assert _call_inplace(name, t, params) is t
    assert_close(t.data, want, TOL[np.float64, "f"], "in place under no_grad")
    # a non-contiguous view is written where it lies
    base = minidl.tensor(np.stack([x, x]))
    view = base.t()
    assert not view.data.flags.c_contiguous
    _call_inplace(name, view, params)
    assert_close(base.data, np.stack([want, want]), TOL[np.float64, "f"], "in place, view")


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_with_grad_runs_out_of_place(name):
    act = REGISTRY[name]
    params = tuple(act.params.values())
    x = np.array([-4.0, -1.5, -0.2, 0.3, 2.0, 7.0])
    t = minidl.tensor(x, requires_grad=True)
    y = _call_inplace(name, t, params)
    assert y is not t
    np.testing.assert_array_equal(t.data, x)
    y_want = ref_forward(name, x, params)
    assert_close(y.data, y_want, TOL[np.float64, "f"], "value")
    y.sum().backward()
    assert_close(t.grad, ref_grad(name, x, y_want, params), TOL[np.float64, "df"], "grad")
    # and through a module
    t = minidl.tensor(x, requires_grad=True)
    module = getattr(nn, act.module)(inplace=True)
    if name == "rrelu":
        module.eval()
    z = module(t * 1.0)
    z.sum().backward()
    np.testing.assert_array_equal(t.data, x)
    assert t.grad.shape == x.shape


def test_parameter_errors():
    x = minidl.tensor(np.array([-1.0, 0.5]))
    with pytest.raises(ValueError, match="alpha"):
        F.celu(x, alpha=0)
    with pytest.raises(ValueError, match="alpha"):
        nn.CELU(alpha=0.0)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="foo")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("exact")
    with pytest.raises(ValueError, match="max_val"):
        F.hardtanh(x, min_val=1, max_val=0)
    with pytest.raises(ValueError, match="max_val"):
        F.hardtanh(x, min_val=1.0, max_val=1.0)
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, 0.0)
    with pytest.raises(ValueError, match="beta"):
        F.softplus(x, beta=0)
    for bad in ("1.0", None, True, [1.0]):
        with pytest.raises(TypeError, match="alpha"):
            F.elu(x, alpha=bad)
        with pytest.raises(TypeError, match="alpha"):
            nn.ELU(alpha=bad)
    with pytest.raises(TypeError, match="negative_slope"):
        F.leaky_relu(x, negative_slope="0.1")
    with pytest.raises(TypeError, match="min_val"):
        nn.Hardtanh(min_val="a")


def test_input_and_keyword_errors():
    x = minidl.tensor(np.array([-1.0, 0.5]))
    for name in NAMES:
        with pytest.raises(TypeError):
            md_call(name, np.array([-1.0, 0.5]))
        with pytest.raises(TypeError):
            md_call(name, [-1.0, 0.5])
    with pytest.raises(TypeError, match="beta"):
        F.elu(x, beta=1.0)
    with pytest.raises(TypeError, match="inplace"):
        F.sigmoid(x, inplace=True)  # PyTorch's sigmoid has no inplace either
    with pytest.raises(TypeError):
        F.relu(x, 0.5, True)  # too many arguments
    with pytest.raises(TypeError, match="beta"):
        nn.ELU(beta=1.0)
    with pytest.raises(TypeError):
        nn.Sigmoid(inplace=True)
    with pytest.raises(TypeError):
        F.gelu(x, "tanh", True)


@needs_torch
@pytest.mark.parametrize("name", [n for n in NAMES if n not in MD_CALL])
def test_functional_signature_matches_pytorch(name):
    try:
        theirs = inspect.signature(getattr(TF, name))
    except (ValueError, TypeError, AttributeError):
        pytest.skip("PyTorch's function has no Python signature")
    ours = inspect.signature(getattr(F, name))
    assert [(p.name, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.default) for p in theirs.parameters.values()]


# ---------------------------------------------------------------------------- 9. build_activation


@pytest.mark.parametrize("module", sorted({a.module for a in BUILTIN.values()}))
def test_build_activation_with_defaults(module):
    m = nn.build_activation({"type": module})
    assert type(m) is nn.ACTIVATION_MODULES[module] and isinstance(m, nn.Module)
    x = minidl.tensor(np.array([[-1.0, 0.5, 2.0]]))
    assert m(x).shape == (1, 3)


def test_build_activation_with_parameters_and_errors():
    m = nn.build_activation({"type": "LeakyReLU", "negative_slope": 0.2})
    assert isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2
    np.testing.assert_allclose(m(minidl.tensor(np.array([-1.0, 1.0]))).data, [-0.2, 1.0])
    assert nn.build_activation({"type": "GELU", "approximate": "tanh"}).approximate == "tanh"
    assert nn.build_activation({"type": "PReLU", "num_parameters": 4}).weight.shape == (4,)
    config = {"type": "ELU", "alpha": 0.5}
    nn.build_activation(config)
    assert config == {"type": "ELU", "alpha": 0.5}  # not consumed
    with pytest.raises(KeyError) as err:
        nn.build_activation({"type": "Swoosh"})
    assert "Swoosh" in str(err.value) and "LeakyReLU" in str(err.value) \
        and "Hardswish" in str(err.value)
    with pytest.raises(KeyError, match="ReLU"):
        nn.build_activation({"type": "relu"})
    with pytest.raises(KeyError, match="type"):
        nn.build_activation({"negative_slope": 0.2})
    with pytest.raises(TypeError, match="negative_slop"):
        nn.build_activation({"type": "LeakyReLU", "negative_slop": 0.2})
    with pytest.raises(TypeError, match="inplace"):
        nn.build_activation({"type": "Sigmoid", "inplace": True})
    with pytest.raises(TypeError, match="alpha"):
        nn.build_activation({"type": "ELU", "alpha": "big"})
    with pytest.raises(ValueError):
        nn.build_activation({"type": "CELU", "alpha": 0})


def test_available_lists_every_module_with_its_parameters():
    avail = minidl.activations.available()
    assert set(avail) == {a.module for a in BUILTIN.values()}
    assert len(avail) == 19
    assert avail["ELU"] == {"alpha": 1.0, "inplace": False}
    assert avail["LeakyReLU"] == {"negative_slope": 0.01, "inplace": False}
    assert avail["ReLU"] == {"inplace": False}
    assert avail["Sigmoid"] == {}
    assert avail["Softplus"] == {"beta": 1.0, "threshold": 20.0}
    assert avail["Hardtanh"] == {"min_val": -1.0, "max_val": 1.0, "inplace": False}
    assert avail["GELU"] == {"approximate": "none"}
    assert avail["RReLU"] == {"lower": 1 / 8, "upper": 1 / 3, "inplace": False}
    assert avail["PReLU"]["num_parameters"] == 1 and avail["PReLU"]["init"] == 0.25
    assert minidl.activations.get("elu") is REGISTRY["elu"]
    with pytest.raises(KeyError, match="leaky_relu"):
        minidl.activations.get("leakyrelu")


# ---------------------------------------------------------------------------- 10. homework path


def _sig(z):
    e = fm.exp(-abs(z))
    s = 1.0 / (1.0 + e)
    return s if z >= 0.0 else e * s


def swish_f(x, beta):
    return x * _sig(beta * x)


def swish_df(x, y, beta):
    s = _sig(beta * x)
    return s + beta * x * s * (1.0 - s)


def swish_dbeta(x, y, beta):
    s = _sig(beta * x)
    return x * x * s * (1.0 - s)


def _swish_numpy(x, beta):
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-beta * x))
    return x * s, s + beta * x * s * (1.0 - s)


@pytest.fixture
def swish():
    """Swish-β registered the homework way (docs/adding-an-activation.md), removed after."""
    name, module = "swish_test", "SwishTest"
    act = minidl.activations.register(name, module, swish_f, swish_df, params={"beta": 1.0},
                                      formula="x·σ(βx)")
    yield act
    minidl.activations.unregister(name)
    assert name not in REGISTRY and not hasattr(F, name) and not hasattr(nn, module)
    assert module not in minidl.activations.available()


@pytest.fixture
def learnable_swish():
    """Swish-β with a learnable β (the PReLU path: ``dparams``), removed after."""
    name, module = "swish_learn_test", "SwishLearnTest"
    act = minidl.activations.register(name, module, swish_f, swish_df, params={"beta": 1.0},
                                      dparams={"beta": swish_dbeta})
    yield act
    minidl.activations.unregister(name)


def test_registering_again_replaces_the_kernels(swish):
    x = minidl.tensor([-1.0, 2.0])
    before = F.swish_test(x).data
    minidl.activations.register("swish_test", "SwishTest", lambda x, beta: 3.0 * x,
                                lambda x, y, beta: 3.0, params={"beta": 1.0})
    np.testing.assert_array_equal(F.swish_test(x).data, [-3.0, 6.0])
    assert not np.array_equal(before, [-3.0, 6.0])


def test_unregister_removes_everything_and_spares_builtins():
    minidl.activations.register("gone_test", "GoneTest", lambda x: x, lambda x, y: 1.0)
    F.gone_test(minidl.ones(2))
    minidl.activations.unregister("gone_test")
    assert not hasattr(F, "gone_test") and not hasattr(nn, "GoneTest")
    assert "GoneTest" not in minidl.activations.available()
    with pytest.raises(KeyError, match="unknown activation 'gone_test'"):
        minidl.activations.unregister("gone_test")
    with pytest.raises(ValueError, match="one of minidl's own activations"):
        minidl.activations.unregister("relu")


def test_registered_activation_is_everywhere(swish):
    assert REGISTRY["swish_test"] is swish and minidl.activations.get("swish_test") is swish
    assert callable(F.swish_test) and nn.SwishTest is nn.ACTIVATION_MODULES["SwishTest"]
    assert list(inspect.signature(F.swish_test).parameters) == ["input", "beta"]
    assert minidl.activations.available()["SwishTest"] == {"beta": 1.0}
    m = nn.build_activation({"type": "SwishTest", "beta": 1.5})
    assert isinstance(m, nn.SwishTest) and repr(m) == "SwishTest(beta=1.5)"
    assert repr(nn.SwishTest()) == "SwishTest(beta=1.0)"
    with pytest.raises(TypeError, match="beta"):
        F.swish_test(minidl.tensor([1.0]), beta="x")
    with pytest.raises(ValueError):  # nn.GELU is hand-written
        minidl.activations.register("gelu2", "GELU", swish_f, swish_df, params={"beta": 1.0})
    with pytest.raises(ValueError):  # F.softmax is not an activation
        minidl.activations.register("softmax", "Softmax2", swish_f, swish_df,
                                    params={"beta": 1.0})
    with pytest.raises(TypeError):  # df must take (x, y, beta)
        minidl.activations.register("swish_bad", "SwishBad", swish_f, swish_f,
                                    params={"beta": 1.0})
    assert "swish_bad" not in REGISTRY and "gelu2" not in REGISTRY


@pytest.mark.parametrize("dtype", DTYPES)
def test_registered_activation_matches_numpy(swish, dtype, backend):
    x = sample(dtype, n=100)
    x = x[np.isfinite(x)]
    for beta in (1.0, 1.7):
        y_want, d_want = _swish_numpy(x.astype(np.float64), beta)
        for which in ("numba", "numpy"):
            backend(which)
            t = minidl.tensor(x, requires_grad=True)
            y = F.swish_test(t, beta=beta)
            assert y.dtype == dtype
            y.sum().backward()
            assert_close(y.data, y_want, TOL[dtype, "f"], f"value ({which})")
            assert_close(t.grad, d_want, TOL[dtype, "df"], f"grad ({which})")
        np.testing.assert_allclose(nn.SwishTest(beta)(minidl.tensor(x)).data, y.data)


def test_registered_activation_passes_gradcheck(swish, learnable_swish):
    x = minidl.tensor(np.linspace(-4, 4, 9) + 0.05, dtype=minidl.float64, requires_grad=True)
    assert minidl.gradcheck(lambda t: F.swish_test(t, beta=1.5), [x])
    # a learnable β: the gradient of the parameter, summed to its shape
    beta = minidl.tensor(np.array([1.3]), requires_grad=True)
    assert minidl.gradcheck(
        lambda t, b: F.apply_activation(learnable_swish, t, (b,)), [x, beta])
    y = F.apply_activation(learnable_swish, x, (beta,))
    y.sum().backward()
    xs = x.data
    s = 1 / (1 + np.exp(-1.3 * xs))
    np.testing.assert_allclose(beta.grad, [(xs * xs * s * (1 - s)).sum()], rtol=1e-12)
    # a plain number still works for the learnable activation, backward included
    x.grad = None
    z = F.swish_learn_test(x, 1.3)
    np.testing.assert_allclose(z.data, y.data, rtol=0)
    z.sum().backward()
    np.testing.assert_allclose(x.grad, _swish_numpy(xs, 1.3)[1], rtol=1e-12)


@pytest.mark.parametrize("which", ["numba", "numpy"])
@pytest.mark.parametrize("shape", [(0,), (2, 0), ()])
def test_registered_activation_on_empty_and_0d_inputs(swish, shape, which, backend):
    backend(which)
    x = np.full(shape, 0.5)
    t = minidl.tensor(x, requires_grad=True)
    y = F.swish_test(t)
    assert y.shape == shape and y.dtype == np.float64
    y.sum().backward()
    assert t.grad.shape == shape
    y_want, d_want = _swish_numpy(x, 1.0)
    np.testing.assert_allclose(y.data, y_want, rtol=1e-12)
    np.testing.assert_allclose(t.grad, d_want, rtol=1e-12)


def test_registered_activation_trains(swish):
    minidl.manual_seed(0)
    X, y = minidl.data.make_moons(n_samples=128, noise=0.1, seed=0)
    model = nn.Sequential(nn.Linear(2, 16), nn.SwishTest(), nn.Linear(16, 2))
    opt = minidl.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.7 * losses[0], losses


# ---------------------------------------------------------------------------- 11. check values

CHECK_X = [-2.0, -0.5, 0.0, 0.5, 2.0]
# activation: (call, f at CHECK_X, f' at CHECK_X), from facts sheet table 1.1 (PyTorch float64)
CHECK_VALUES = {
    "ReLU": (F.relu, [0, 0, 0, 0.5, 2], [0, 0, 0, 1, 1]),
    "LeakyReLU(0.01)": (F.leaky_relu, [-0.02, -0.005, 0, 0.5, 2], [0.01, 0.01, 0.01, 1, 1]),
    "PReLU(a=0.25)": (lambda x: F.prelu(x, minidl.tensor(np.array([0.25]))),
                      [-0.5, -0.125, 0, 0.5, 2], [0.25, 0.25, 0.25, 1, 1]),
    "RReLU eval": (F.rrelu, [-0.458333, -0.114583, 0, 0.5, 2],
                   [0.229167, 0.229167, 0.229167, 1, 1]),
    "ELU(1)": (F.elu, [-0.864665, -0.393469, 0, 0.5, 2], [0.135335, 0.606531, 1, 1, 1]),
    "CELU(1)": (F.celu, [-0.864665, -0.393469, 0, 0.5, 2], [0.135335, 0.606531, 1, 1, 1]),
    "SELU": (F.selu, [-1.520166, -0.691758, 0, 0.525350, 2.101402],
             [0.237933, 1.066341, 1.758099, 1.050701, 1.050701]),
    "GELU exact": (F.gelu, [-0.045500, -0.154269, 0, 0.345731, 1.954500],
                   [-0.085232, 0.132505, 0.5, 0.867495, 1.085232]),
    "GELU tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  [-0.045402, -0.154286, 0, 0.345714, 1.954598],
                  [-0.086099, 0.132630, 0.5, 0.867370, 1.086099]),
    "SiLU": (F.silu, [-0.238406, -0.188770, 0, 0.311230, 1.761594],
             [-0.090784, 0.260039, 0.5, 0.739961, 1.090784]),
    "Mish": (F.mish, [-0.252501, -0.220744, 0, 0.375245, 1.943959],
             [-0.108355, 0.289511, 0.6, 0.886424, 1.069318]),
    "Softplus(1, 20)": (F.softplus, [0.126928, 0.474077, 0.693147, 0.974077, 2.126928],
                        [0.119203, 0.377541, 0.5, 0.622459, 0.880797]),
    "ReLU6": (F.relu6, [0, 0, 0, 0.5, 2], [0, 0, 0, 1, 1]),
    "Hardtanh(-1, 1)": (F.hardtanh, [-1, -0.5, 0, 0.5, 1], [0, 1, 1, 1, 0]),
    "Hardswish": (F.hardswish, [-0.333333, -0.208333, 0, 0.291667, 1.666667],
                  [-0.166667, 0.333333, 0.5, 0.666667, 1.166667]),
    "Softsign": (F.softsign, [-0.666667, -0.333333, 0, 0.333333, 0.666667],
                 [0.111111, 0.444444, 1, 0.444444, 0.111111]),
    "Sigmoid": (F.sigmoid, [0.119203, 0.377541, 0.5, 0.622459, 0.880797],
                [0.104994, 0.235004, 0.25, 0.235004, 0.104994]),
    "Tanh": (F.tanh, [-0.964028, -0.462117, 0, 0.462117, 0.964028],
             [0.070651, 0.786448, 1, 0.786448, 0.070651]),
}


@pytest.mark.parametrize("which", list(CHECK_VALUES))
def test_fact_sheet_check_values(which):
    fn, values, derivs = CHECK_VALUES[which]
    x = minidl.tensor(np.array(CHECK_X), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    # 6 decimals: half a unit in the last place, plus float64 rounding
    np.testing.assert_allclose(y.data, values, rtol=0, atol=5.0001e-7)
    np.testing.assert_allclose(x.grad, derivs, rtol=0, atol=5.0001e-7)


# ---------------------------------------------------------------------------- 12. stability

BIG = [1e4, -1e4, 5e3, -5e3, 1e3, -1e3, 710.0, -710.0, 100.0, -100.0, 89.0, -89.0, 30.0,
       -30.0, 20.5, -20.5, 1e-30, -1e-30, 1e-45, -1e-45]


@pytest.mark.parametrize("which", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), CASES)
def test_large_inputs_stay_finite_without_warnings(name, params, dtype, which, backend):
    backend(which)
    x = np.array(BIG, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        t = minidl.tensor(x, requires_grad=True)
        y = md_call(name, t, params)
        g = np.random.default_rng(14).standard_normal(x.shape).astype(dtype)
        (y * minidl.tensor(g)).sum().backward()
    assert np.isfinite(y.data).all(), y.data
    assert np.isfinite(t.grad).all(), t.grad
    assert y.dtype == dtype and t.grad.dtype == dtype


_DISABLE_JIT_SCRIPT = """
import numpy as np, minidl
from minidl import functional as F
from minidl.kernels import reference
from minidl.kernels.activations import REGISTRY
x = np.concatenate([np.linspace(-5, 5, 41), [0.0, 1e-30, np.inf, -np.inf, np.nan]])
for name in sorted(REGISTRY):
    p = tuple(REGISTRY[name].params.values())
    for dtype in (np.float32, np.float64):
        t = minidl.Tensor(x.astype(dtype), requires_grad=True)
        if name == "prelu":
            y = F.prelu(t, minidl.Tensor(np.array(p, dtype=dtype)))
        elif name == "rrelu":
            y = F.rrelu(t, p[0], p[0])
        elif name == "gelu_tanh":
            y = F.gelu(t, approximate="tanh")
        else:
            y = getattr(F, name)(t, *p)
        y.backward(minidl.Tensor(np.ones_like(t.data)))
        want = getattr(reference, name)(x, *p)
        dwant = getattr(reference, name + "_grad")(x, want, *p)
        np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(t.grad, dwant, rtol=1e-6, atol=1e-6, err_msg=name)
print("checked", len(REGISTRY))
"""


def test_kernels_run_as_python_under_numba_disable_jit(tmp_path):
    """``NUMBA_DISABLE_JIT=1`` (for stepping through a kernel in a debugger) runs the same
    generated kernels as plain Python: same values, and no warning from any scalar function
    (-W error turns one into a failure)."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", MINIDL_CACHE_DIR=str(tmp_path),
               MINIDL_KERNEL_BACKEND="numba")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", _DISABLE_JIT_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"checked {len(REGISTRY)}" in proc.stdout
