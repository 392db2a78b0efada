"""Tests for ``minidl.kernels.fastmath``: accuracy against float64 ``math``, special values,
and that the same source works as plain Python, compiled with ``numba.njit``, and inside a
vectorised ``prange`` loop.

Tolerances (the module's promise, over every float32 input):

* exp, expm1, log1p, tanh: relative error <= 5e-7 (about 4 float32 ulp);
* erf: absolute error <= 2e-7, and relative <= 5e-7 for ``|x| <= 0.5`` (tiny inputs);
* erfc: relative error <= 2e-6.

Results smaller than float32's smallest normal number are held to the same tolerance
times that number; results beyond float32's range must be at least float32's largest.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import types
import warnings
from pathlib import Path

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.kernels import fastmath

NAMES = ("exp", "expm1", "log1p", "tanh", "erf", "erfc")
FLT_TINY = float(np.finfo(np.float32).tiny)  # 1.18e-38, the smallest normal float32
FLT_MAX = float(np.finfo(np.float32).max)
HALF_ULP32 = 2.0**-24  # the relative rounding error of a float32 result

# Options that let a kernel calling these functions vectorise: the default error model
# checks every division for zero, and that branch blocks vectorisation; "contract" allows
# fused multiply-adds. The kernel generator should compile with the same.
VECTOR_OPTIONS = {"error_model": "numpy", "fastmath": {"contract"}}


def _compile(**options) -> dict:
    """Every function of ``fastmath`` compiled with ``numba.njit(**options)``.

    The module stays plain Python; each function is cloned into a shared namespace where
    its callees (``exp`` inside ``_erfc_positive``, ...) are the compiled versions, which is
    what the kernel generator does too. Compilation happens on first call.
    """
    scope = dict(vars(fastmath))
    compiled = {}
    for name, fn in vars(fastmath).items():
        if inspect.isfunction(fn) and fn.__module__ == fastmath.__name__:
            clone = types.FunctionType(fn.__code__, scope, name, fn.__defaults__, fn.__closure__)
            scope[name] = compiled[name] = numba.njit(**options)(clone)
    return compiled


JIT = _compile(**VECTOR_OPTIONS)
JIT_DEFAULT = _compile()  # plain numba.njit: slower (scalar loops) but must agree exactly


def _map_kernel(f):
    """A parallel elementwise kernel ``out[i] = f(x[i])``, the shape of minidl's kernels."""

    @numba.njit(parallel=True, **VECTOR_OPTIONS)
    def kernel(x, out):
        for i in numba.prange(x.shape[0]):
            out[i] = f(x[i])

    return kernel


MAP = {name: _map_kernel(JIT[name]) for name in NAMES}


def map_(name: str, x: np.ndarray) -> np.ndarray:
    """``name`` of each element of ``x`` by the parallel kernel, in ``x``'s dtype."""
    out = np.empty_like(x)
    MAP[name](x, out)
    return out


# ---------------------------------------------------------------------------- references

_ERF = np.vectorize(math.erf, otypes=[np.float64])
_ERFC = np.vectorize(math.erfc, otypes=[np.float64])


def reference(name: str, x) -> np.ndarray:
    """The float64 value of ``name`` at ``x`` (an array or a number), from libm."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        if name in ("erf", "erfc"):
            return (_ERF if name == "erf" else _ERFC)(x)
        return getattr(np, name)(x)


def assert_accurate(name: str, x, y, output32: bool = False) -> None:
    """Assert that ``y`` (float64, or float32 if ``output32``) is ``name(x)`` to the
    module's tolerance; the message names the worst input."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    ref = reference(name, x)
    rounding = HALF_ULP32 if output32 else 0.0
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(y), nan), f"{name}: NaN where libm has none, or vice versa"
    over = ~nan & (np.abs(ref) > FLT_MAX)
    # Beyond float32's range: at least float32's largest (inf once stored as float32).
    assert np.all(np.sign(y[over]) == np.sign(ref[over])), f"{name}: wrong sign of overflow"
    assert np.all(np.abs(y[over]) >= FLT_MAX), f"{name}: result too small where it overflows"
    finite = ~nan & ~over
    x, y, ref = x[finite], y[finite], ref[finite]
    with np.errstate(invalid="ignore"):
        error = np.abs(y - ref)
    if name == "erf":
        allowed = np.full_like(ref, 2e-7 + rounding)
        small = np.abs(x) <= 0.5
        allowed[small] = (5e-7 + rounding) * np.maximum(np.abs(ref[small]), FLT_TINY)
    else:
        tol = 2e-6 if name == "erfc" else 5e-7
        allowed = (tol + rounding) * np.maximum(np.abs(ref), FLT_TINY)
    bad = ~(error <= allowed)
    if bad.any():
        worst = np.argmax(np.where(bad, error / allowed, 0.0))
        raise AssertionError(
            f"{name}({x[worst]!r}) = {y[worst]!r}, libm says {ref[worst]!r}: error "
            f"{error[worst]:.3g} > allowed {allowed[worst]:.3g} ({bad.sum()} inputs fail)")


# ---------------------------------------------------------------------------- inputs

# Per function: the interval where it is neither constant nor over/underflowing.
RANGES = {
    "exp": (-104.0, 89.0),
    "expm1": (-20.0, 89.0),
    "log1p": (-1.0, 50.0),
    "tanh": (-10.0, 10.0),
    "erf": (-4.5, 4.5),
    "erfc": (-4.5, 10.0),
}

LN2 = math.log(2.0)
# Where the range reductions switch from one interval to the next.
BOUNDARIES = (
    [(k + 0.5) * LN2 for k in range(-3, 3)]  # exp, expm1: n changes
    + [(k + 0.5) * LN2 / 2 for k in range(-3, 3)]  # tanh = f(expm1(-2|x|))
    + [math.sqrt(2.0) - 1.0, math.sqrt(0.5) - 1.0, 1.0, 3.0]  # log1p: k changes
    + [0.5, -0.5, 88.72283935546875, -87.33654022216797, -103.97]  # erf split, exp limits
)

EDGES = [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3,
         1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 9.1, 9.2, 26.0, 27.5, 88.7, -88.7, 89.0, -89.0,
         104.0, -104.0, 1e3, -1e3, 1e4, -1e4, 3.4e38, -3.4e38, FLT_MAX, -FLT_MAX,
         math.inf, -math.inf, math.nan, -math.nan, -0.9999999, -1.0000001]


def float32_neighbours(values, count: int) -> np.ndarray:
    """The ``count`` consecutive float32 values around each of ``values``."""
    bits = np.asarray(values, dtype=np.float32).view(np.int32)[:, None]
    offsets = np.arange(-(count // 2), count - count // 2, dtype=np.int32)
    return (bits + offsets).ravel().view(np.float32)


def log_uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """float32 values of both signs with magnitudes spread evenly over 1e-40 ... 3.4e38."""
    magnitude = 10.0 ** rng.uniform(-40.0, 38.53, n)
    return (rng.choice([-1.0, 1.0], n) * np.minimum(magnitude, FLT_MAX)).astype(np.float32)


def sample_inputs(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """float32 inputs for ``name``: grids, random magnitudes, reduction boundaries, edges."""
    lo, hi = RANGES[name]
    return np.concatenate([
        np.linspace(lo, hi, n, dtype=np.float32),
        np.linspace(-1.0, 1.0, n // 4, dtype=np.float32),
        log_uniform(rng, n),
        float32_neighbours(BOUNDARIES, 200),
        np.asarray(EDGES, dtype=np.float32),
    ])



# ---------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("name", NAMES)
def test_parallel_kernel_matches_libm(name, rng):
    """The vectorised prange map, on 250k float32 values (as a float32 and as a float64
    array), is within tolerance everywhere."""
    x = sample_inputs(name, 100_000, rng)
    assert_accurate(name, x, map_(name, x), output32=True)
    assert_accurate(name, x, map_(name, x.astype(np.float64)))


@pytest.mark.parametrize("name", NAMES)
def test_plain_python_matches_libm_and_compiled(name, rng):
    """As plain Python, on Python floats, float32 and float64 scalars: within tolerance,
    the same float64 for all three, no warnings, and bit-for-bit what ``numba.njit``
    (default options: no fused multiply-add) computes."""
    fn = getattr(fastmath, name)
    x = sample_inputs(name, 100, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = [[fn(convert(v)) for v in x] for convert in (float, np.float32, np.float64)]
    for values in results:
        assert all(isinstance(v, float) for v in values)
        assert_accurate(name, x, values)
    compiled = np.array([JIT_DEFAULT[name](v) for v in x])
    for values in results:
        np.testing.assert_array_equal(np.array(values), compiled)


@pytest.mark.parametrize("name", NAMES)
def test_njit_scalar_matches_libm(name, rng):
    fn = JIT[name]
    x = sample_inputs(name, 1000, rng)
    assert_accurate(name, x, [fn(v) for v in x])
    assert_accurate(name, x, [fn(v) for v in x.astype(np.float64)])


@pytest.mark.parametrize("name", NAMES)
@given(x=st.floats(width=32, allow_nan=True, allow_infinity=True))
def test_any_float32(name, x):
    assert_accurate(name, x, getattr(fastmath, name)(x))
    assert_accurate(name, x, JIT[name](np.float32(x)))


@pytest.mark.parametrize("compiled", [False, True])
def test_tiny_arguments_keep_relative_accuracy(compiled):
    fm = JIT if compiled else vars(fastmath)
    for x in (1e-30, -1e-30, 1e-20, 1e-10, -3e-9):
        assert fm["expm1"](x) == pytest.approx(x, rel=1e-12)
        assert fm["log1p"](x) == pytest.approx(x, rel=1e-12)
        assert fm["tanh"](x) == pytest.approx(x, rel=1e-12)
        assert fm["erf"](x) == pytest.approx(2.0 / math.sqrt(math.pi) * x, rel=5e-9)


# ---------------------------------------------------------------------------- special values

SPECIAL = [
    ("exp", -math.inf, 0.0), ("exp", math.inf, math.inf), ("exp", 0.0, 1.0),
    ("exp", -1e4, 0.0), ("exp", 1e4, math.inf),
    ("exp", 3.4e38, math.inf), ("exp", -3.4e38, 0.0),
    ("expm1", -math.inf, -1.0), ("expm1", math.inf, math.inf), ("expm1", 0.0, 0.0),
    ("expm1", -1e4, -1.0), ("expm1", 3.4e38, math.inf),
    ("log1p", -1.0, -math.inf), ("log1p", -1.5, math.nan), ("log1p", -math.inf, math.nan),
    ("log1p", math.inf, math.inf), ("log1p", 0.0, 0.0), ("log1p", -0.0, 0.0),
    ("tanh", math.inf, 1.0), ("tanh", -math.inf, -1.0), ("tanh", 0.0, 0.0),
    ("tanh", 3.4e38, 1.0), ("tanh", -20.0, -1.0),
    ("erf", math.inf, 1.0), ("erf", -math.inf, -1.0), ("erf", 0.0, 0.0), ("erf", 10.0, 1.0),
    ("erfc", -math.inf, 2.0), ("erfc", math.inf, 0.0), ("erfc", 0.0, 1.0),
    ("erfc", 30.0, 0.0), ("erfc", -30.0, 2.0),
] + [(name, nan, math.nan) for name in NAMES for nan in (math.nan, -math.nan)]


@pytest.mark.parametrize(("name", "x", "expected"), SPECIAL)
def test_special_values(name, x, expected):
    got = [getattr(fastmath, name)(x), getattr(fastmath, name)(np.float32(x)),
           JIT[name](np.float32(x)), JIT[name](x), JIT_DEFAULT[name](x)]
    got += list(map_(name, np.array([x], np.float32))) + list(map_(name, np.array([x])))
    for value in got:
        if math.isnan(expected):
            assert math.isnan(value)
        else:
            assert value == expected, (name, x, value)


def test_exp_overflows_float32_exactly_where_libm_does():
    x = float32_neighbours([88.72283935546875], 64)
    with np.errstate(over="ignore"):
        expected = np.isinf(reference("exp", x).astype(np.float32))
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(np.isinf(map_("exp", x)), expected)


# ---------------------------------------------------------------------------- construction


def test_bit_constants():
    bits = fastmath._bits
    assert bits(fastmath.SHIFTER) == fastmath.SHIFTER_BITS
    assert bits(1.0) == fastmath.ONE_BITS
    assert bits(math.sqrt(0.5)) == fastmath.SQRT_HALF_BITS
    assert fastmath._from_bits(bits(-2.5)) == -2.5
    assert fastmath.LN2 == math.log(2.0) and fastmath.LOG2E == 1.0 / math.log(2.0)
    assert fastmath.DBL_MAX == float(np.finfo(np.float64).max)


def test_source_keeps_the_vectorisation_rules():
    """No calls but the permitted ones: no math/NumPy ufuncs, no float-to-int conversion."""
    allowed = {"abs", "float", "_bits", "_from_bits", "np.float64", "np.int64"}
    allowed |= {n for n, f in vars(fastmath).items() if inspect.isfunction(f)}
    tree = ast.parse(Path(fastmath.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            assert [a.name for a in node.names] in (["annotations"], ["numpy"]), "imports"
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name.endswith(".view"):
                continue
            assert name in allowed, f"fastmath calls {name}(); see the module docstring"
        if isinstance(node, ast.ClassDef | ast.Lambda):
            raise AssertionError("fastmath must hold module-level functions only")
    for fn in vars(fastmath).values():
        if inspect.isfunction(fn) and fn.__module__ == fastmath.__name__:
            assert fn.__code__.co_freevars == (), f"{fn.__name__} is a closure"


def _host_has(*features: str) -> bool:
    have = llvm.get_host_cpu_features()
    return all(have.get(f, False) for f in features)


@pytest.mark.skipif(not _host_has("avx2", "fma"), reason="needs an x86 CPU with AVX2 and FMA")
@pytest.mark.parametrize("name", NAMES)
def test_kernel_vectorises(name):
    """The prange map over float32 compiles to 4-wide float64 arithmetic on ymm registers:
    fused multiply-adds, and vector division where the function divides. (Scalar code
    remains for the loop's remainder, so its presence proves nothing.)"""
    map_(name, np.ones(8, np.float32))
    asm = "\n".join(MAP[name].inspect_asm(MAP[name].signatures[0]).splitlines())
    assert re.search(r"vfn?madd\w*pd\s[^\n]*%ymm", asm), "no vector fused multiply-add"
    if name not in ("exp", "expm1"):
        assert re.search(r"vdivpd\s[^\n]*%ymm", asm), "no vector division"
    # Numba calls libm through a function pointer: movabsq $expf, %rax; callq *%rax
    assert not re.search(r"\$(exp|expm1|log1p|tanh|erf|erfc)f?\b", asm), "a libm call remains"
