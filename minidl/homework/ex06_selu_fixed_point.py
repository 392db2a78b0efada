"""ex06_selu_fixed_point: the SELU mean/variance map and the constants of its fixed point.

SELU, ``λx`` for ``x > 0`` and ``λα(eˣ - 1)`` otherwise, maps a pre-activation
``z ~ N(m, v)`` to an output with some mean and variance. With normalised weights the next
layer's pre-activation has that variance, so the map from ``v`` to the output variance is
iterated layer after layer, and ``(0, 1)`` is its fixed point exactly for SELU's constants
α₀₁ = 1.6732632… and λ₀₁ = 1.0507009… (Klambauer et al., 2017). The student writes

* ``selu_moments(m, v, alpha=α₀₁, lam=λ₀₁)``: the mean and variance of SELU(z) for
  ``z ~ N(m, v)``, numerically (integration on a grid);
* ``solve_selu_constants()``: the (α, λ) for which N(0, 1) goes to mean 0 and variance 1.

The cases compare with the closed form of the map (Klambauer et al.; the same formula as
``minidl.plot.selu_moments``, with α and λ as parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

from minidl.homework._check import (
    Case,
    CaseFailure,
    Exercise,
    FunctionSpec,
    as_number,
    expect_close,
    returned,
)
from minidl.kernels.activations import SELU_ALPHA, SELU_SCALE

MOMENT_ATOL = 1e-4
CONSTANT_RTOL = 1e-5

MEAN_HINT = ("The mean is E[SELU(z)] = ∫ SELU(z)·p(z) dz, with p the normal density of mean m "
             "and variance v. Integrate on a fine grid (about 10⁵ points over m ± 12√v); "
             "random sampling is too noisy for a tolerance of 1e-4.")
VARIANCE_HINT = ("The variance is E[SELU(z)²] − (E[SELU(z)])²: the second moment minus the "
                 "square of the mean. " + MEAN_HINT)
PARAM_HINT = "Use the alpha and lam you are given, in both branches of SELU (λ scales both)."
SOLVE_HINT = ("λ multiplies the whole function, so the mean is 0 for a value of α that does not "
              "depend on λ: find it first (bisection on α between 1 and 2, with λ = 1), then "
              "choose λ so that the variance becomes 1 (the variance grows with λ²).")


def moments(m: float, v: float, alpha: float = SELU_ALPHA,
            lam: float = SELU_SCALE) -> tuple[float, float]:
    """Closed-form mean and variance of SELU_{α,λ}(z) for z ~ N(m, v)."""
    s = math.sqrt(2.0 * v)
    gauss = math.sqrt(2.0 / math.pi) * math.sqrt(v) * math.exp(-m * m / (2.0 * v))
    tail = math.exp(m + v / 2.0) * math.erfc((m + v) / s)
    mean = 0.5 * lam * (m * math.erf(m / s) + alpha * tail - alpha * math.erfc(m / s)
                        + gauss + m)
    second = 0.5 * lam**2 * (
        (m * m + v) * (2.0 - math.erfc(m / s))
        + alpha**2 * (-2.0 * tail + math.exp(2.0 * (m + v)) * math.erfc((m + 2.0 * v) / s)
                      + math.erfc(m / s))
        + m * gauss)
    return mean, second - mean**2


def _pair(value: object, who: str, inputs: str) -> tuple[object, object]:
    value = returned(value, who, inputs)
    try:
        first, second = value
    except (TypeError, ValueError):
        raise CaseFailure(inputs, problem=f"{who} should return two numbers",
                          got=repr(value)[:200]) from None
    return first, second


def _moments_case(points: list[tuple[float, float]], alpha: float | None = None,
                  lam: float | None = None) -> Callable[[SimpleNamespace], None]:
    def run(s: SimpleNamespace) -> None:
        for m, v in points:
            if alpha is None:
                got = s.selu_moments(m, v)
                inputs = f"selu_moments(m={m:g}, v={v:g}): z ~ N({m:g}, {v:g}), SELU's constants"
                mean, variance = moments(m, v)
            else:
                got = s.selu_moments(m, v, alpha=alpha, lam=lam)
                inputs = f"selu_moments(m={m:g}, v={v:g}, alpha={alpha:g}, lam={lam:g})"
                mean, variance = moments(m, v, alpha, lam)
            got_mean, got_variance = _pair(got, "selu_moments", inputs)
            extra = f" {PARAM_HINT}" if alpha is not None else ""
            expect_close(got_mean, mean, "selu_moments", inputs + ": the mean", rtol=0.0,
                         atol=MOMENT_ATOL, hint=MEAN_HINT + extra)
            expect_close(got_variance, variance, "selu_moments", inputs + ": the variance",
                         rtol=0.0, atol=MOMENT_ATOL, hint=VARIANCE_HINT + extra)
    return run


def _solve(s: SimpleNamespace) -> None:
    inputs = "solve_selu_constants(): the (α, λ) that map N(0, 1) to mean 0 and variance 1"
    alpha, lam = _pair(s.solve_selu_constants(), "solve_selu_constants", inputs)
    alpha = as_number(alpha, "solve_selu_constants", inputs)
    lam = as_number(lam, "solve_selu_constants", inputs)
    for name, got, expected in (("α", alpha, SELU_ALPHA), ("λ", lam, SELU_SCALE)):
        if not abs(got - expected) <= CONSTANT_RTOL * expected:
            mean, variance = moments(0.0, 1.0, alpha, lam)
            raise CaseFailure(inputs + f" ({name} is off)",
                              expected=f"{name} ≈ {expected:.7f} (within {CONSTANT_RTOL:g} "
                                       "relative)",
                              got=f"α = {alpha:.7f}, λ = {lam:.7f}, for which N(0, 1) goes to "
                                  f"mean {mean:.3g} and variance {variance:.6g}",
                              hint=SOLVE_HINT)


EXERCISE = Exercise(
    id="ex06_selu_fixed_point",
    title="the SELU fixed point",
    functions=(FunctionSpec("selu_moments", "(m, v, alpha=1.6732632, lam=1.0507010)", 2,
                            ("alpha", "lam")),
               FunctionSpec("solve_selu_constants", "()", 0)),
    cases=(
        Case("selu_moments: N(0, 1) is the fixed point", _moments_case([(0.0, 1.0)]),
             MEAN_HINT),
        Case("selu_moments: other variances", _moments_case([(0.0, 2.0), (0.0, 0.5),
                                                              (0.0, 0.1)]), VARIANCE_HINT),
        Case("selu_moments: a mean that is not 0", _moments_case([(0.1, 1.0), (-0.1, 1.0),
                                                                  (1.0, 3.0)]), MEAN_HINT),
        Case("selu_moments: other constants (α = 1, λ = 1 is ELU)",
             _moments_case([(0.0, 1.0), (0.5, 2.0)], alpha=1.0, lam=1.0), PARAM_HINT),
        Case("solve_selu_constants: α and λ of the fixed point", _solve, SOLVE_HINT),
    ),
)
