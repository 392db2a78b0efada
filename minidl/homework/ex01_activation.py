"""ex01_activation: an activation as two scalar functions, registered with minidl.

The activation is the sigmoid approximation of GELU, ``f(x) = x·σ(kx)`` with ``k = 1.702``
(not in minidl or PyTorch), with derivative ``f'(x) = σ(kx)(1 + kx(1 - σ(kx)))``. The
student writes ``quick_gelu(x)``, ``quick_gelu_grad(x, y)`` and ``register_quick_gelu()``;
the cases compare the scalar functions with a NumPy reference on a grid and at large
inputs, then register them and check ``F.quick_gelu`` and ``nn.QuickGELU`` end to end,
backward included (``minidl.gradcheck``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from minidl import functional as F
from minidl import nn
from minidl.gradcheck import GradcheckError, gradcheck
from minidl.homework._check import (
    Case,
    CaseFailure,
    Exercise,
    FunctionSpec,
    as_number,
    expect_array,
    fmt,
)
from minidl.kernels.activations import REGISTRY
from minidl.tensor import Tensor, float64

K = 1.702
GRID = np.linspace(-6.0, 6.0, 49)  # step 0.25: includes 0, ±0.5, ±2
LARGE = np.array([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0])
# The student's functions run on float32-grade fastmath when called from Python (about
# 5e-7 relative error), so the scalar cases allow a little more than that.
SCALAR_TOL = {"rtol": 1e-5, "atol": 1e-6}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z) = (1 + tanh(z/2)) / 2: no overflow


def reference(x: np.ndarray) -> np.ndarray:
    """``x·σ(1.702x)``."""
    return x * _sigmoid(K * x)


def reference_grad(x: np.ndarray) -> np.ndarray:
    """``σ(kx)(1 + kx(1 - σ(kx)))``."""
    s = _sigmoid(K * x)
    return s * (1.0 + K * x * (1.0 - s))


def _scalar_values(fn, who: str, xs: np.ndarray, with_y: bool) -> np.ndarray:
    values = []
    for x in xs:
        args = (float(x), float(reference(x))) if with_y else (float(x),)
        call = f"{who}({', '.join(fmt(a) for a in args)})"
        values.append(as_number(fn(*args), who, call))
    return np.array(values)


def _at_x(xs: np.ndarray, what: str):
    return lambda index: f"at x = {fmt(xs[index])} ({what})"


VALUE_HINT = ("f(x) = x·σ(1.702·x) with σ(z) = 1 / (1 + e^(−z)); check the sign of the "
              "exponent and the factor 1.702.")
STABLE_HINT = ("e^(−z) overflows for very negative z. Exponentiate only numbers <= 0: with "
               "e = e^(−|z|), σ(z) = 1/(1 + e) for z >= 0 and e/(1 + e) for z < 0.")
GRAD_HINT = ("f'(x) = σ(kx)·(1 + kx·(1 − σ(kx))) with k = 1.702: the product rule on x·σ(kx), "
             "σ'(z) = σ(z)(1 − σ(z)), and the chain rule brings the factor k.")


def _values_on_grid(s: SimpleNamespace) -> None:
    got = _scalar_values(s.quick_gelu, "quick_gelu", GRID, with_y=False)
    expect_array(got, reference(GRID), "quick_gelu", "quick_gelu(x) for 49 points x in [−6, 6]",
                 **SCALAR_TOL, hint=VALUE_HINT, index_names=_at_x(GRID, "the worst point"))


def _values_at_large_inputs(s: SimpleNamespace) -> None:
    got = _scalar_values(s.quick_gelu, "quick_gelu", LARGE, with_y=False)
    expect_array(got, reference(LARGE), "quick_gelu",
                 f"quick_gelu(x) for x in {fmt(LARGE)}: the limits are 0 (left) and x (right)",
                 **SCALAR_TOL, hint=STABLE_HINT, index_names=_at_x(LARGE, "the worst point"))


def _grad_on_grid(s: SimpleNamespace) -> None:
    got = _scalar_values(s.quick_gelu_grad, "quick_gelu_grad", GRID, with_y=True)
    expect_array(got, reference_grad(GRID), "quick_gelu_grad",
                 "quick_gelu_grad(x, y) for 49 points x in [−6, 6], with y = f(x)",
                 **SCALAR_TOL, hint=GRAD_HINT, index_names=_at_x(GRID, "the worst point"))


def _grad_at_large_inputs(s: SimpleNamespace) -> None:
    got = _scalar_values(s.quick_gelu_grad, "quick_gelu_grad", LARGE, with_y=True)
    expect_array(got, reference_grad(LARGE), "quick_gelu_grad",
                 f"quick_gelu_grad(x, y) for x in {fmt(LARGE)}: the limits are 0 and 1",
                 **SCALAR_TOL, hint=STABLE_HINT, index_names=_at_x(LARGE, "the worst point"))


def _registered(s: SimpleNamespace) -> None:
    inputs = "after register_quick_gelu(): F.quick_gelu and nn.QuickGELU on float64 tensors"
    s.register_quick_gelu()
    missing = [name for name, owner, attr in (("F.quick_gelu", F, "quick_gelu"),
                                               ("nn.QuickGELU", nn, "QuickGELU"))
               if not hasattr(owner, attr)]
    if missing:
        raise CaseFailure(inputs, expected="F.quick_gelu and nn.QuickGELU exist",
                          got=f"no {' and no '.join(missing)}",
                          hint="Register under the functional name 'quick_gelu' and the module "
                               "name 'QuickGELU' (docs/adding-an-activation.md, section 2).")
    act = REGISTRY["quick_gelu"]
    if act.f is not s.quick_gelu or act.df is not s.quick_gelu_grad:
        raise CaseFailure(inputs, problem="F.quick_gelu runs other functions than the two "
                                          "passed to check",
                          hint="Register the quick_gelu and quick_gelu_grad you pass to check "
                               "(value first, derivative second); re-run the cell that defines "
                               "them after every change.")
    x = Tensor(np.linspace(-4.0, 4.0, 17) + 0.05, dtype=float64, requires_grad=True)
    expect_array(F.quick_gelu(x), reference(x.data), "F.quick_gelu", inputs, rtol=1e-9,
                 atol=1e-12, index_names=_at_x(x.data, "float64"))
    expect_array(nn.QuickGELU()(x), reference(x.data), "nn.QuickGELU()", inputs, rtol=1e-9,
                 atol=1e-12, index_names=_at_x(x.data, "float64"))
    try:
        gradcheck(F.quick_gelu, [x])
    except GradcheckError as e:
        raise CaseFailure("minidl.gradcheck(F.quick_gelu, [x]) for 17 points x in [−4, 4]",
                          problem=f"the backward pass disagrees with finite differences: {e}",
                          hint=GRAD_HINT) from None


EXERCISE = Exercise(
    id="ex01_activation",
    title="an activation as two scalar functions",
    functions=(FunctionSpec("quick_gelu", "(x)", 1),
               FunctionSpec("quick_gelu_grad", "(x, y)", 2),
               FunctionSpec("register_quick_gelu", "()", 0)),
    cases=(
        Case("quick_gelu: values on a grid", _values_on_grid, VALUE_HINT),
        Case("quick_gelu: large inputs give the limits, without overflow or NaN",
             _values_at_large_inputs, STABLE_HINT),
        Case("quick_gelu_grad: derivative on a grid", _grad_on_grid, GRAD_HINT),
        Case("quick_gelu_grad: large inputs give the limits, without overflow or NaN",
             _grad_at_large_inputs, STABLE_HINT),
        Case("registered: F.quick_gelu and nn.QuickGELU compute it, gradcheck passes",
             _registered,
             "minidl compiles the registered functions with Numba: use only arithmetic, "
             "comparisons, 'a if condition else b' and fm.exp-style maths (no NumPy calls, no "
             "loops). Registering again under the same name replaces the earlier version.",
             needs_previous=True),
    ),
)
