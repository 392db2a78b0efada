"""Float32-grade ``exp``, ``expm1``, ``log1p``, ``tanh``, ``erf`` and ``erfc`` that vectorise.

Why this module exists
----------------------
An activation kernel is a loop ``out[i] = f(x[i])``. LLVM, the compiler behind Numba, turns
such a loop into SIMD code that handles 4 float64 (8 float32) elements per instruction on an
AVX2 machine. It can only do that when everything in the loop body is plain arithmetic: a
call into the C maths library (``math.exp``, ``math.tanh``, ``math.erf``, ...) is an opaque
scalar function, so one call in ``f`` and the whole loop runs one element at a time. On the
2-core AVX2 machine this library is developed on, that made Numba's ELU, GELU, sigmoid and
friends 3-10x slower than PyTorch. (Numba can use Intel's vector maths library, SVML, for
these calls, but only where SVML is installed.)

The functions below compute the same things with ``+ - * /``, comparisons and a little bit
twiddling, which LLVM does vectorise: written this way the kernels run 2-3x faster than
PyTorch's.

How
---
The recipe is the one every maths library uses, kept short because float32 needs only about
7 correct digits:

1. *Range reduction*: use an identity to move the argument into a small interval, e.g.
   ``exp(x) = 2**n * exp(r)`` with ``n`` the integer nearest to ``x / ln 2`` and
   ``|r| <= ln(2) / 2``.
2. *A short polynomial* for the function on that small interval (with a division where
   an identity needs one). Most coefficients are minimax fits: they minimise the largest
   relative error on the interval, where a Taylor series is only accurate near 0, so a few
   terms reach float32 accuracy.
3. *Undo the reduction*. ``2**n`` is built directly from the bits of a float64 (exponent
   field ``n + 1023``, mantissa zero), because converting a float to an integer is the one
   operation AVX2 cannot vectorise for float64. The integer ``n`` never exists as a converted
   number: adding ``1.5 * 2**52`` to ``x / ln 2`` pushes the fractional part out of the
   float64 mantissa, so the addition itself rounds to the nearest integer and leaves ``n``
   in the low bits, where integer arithmetic on the bit pattern can pick it up.

Branches are written as ``a if condition else b`` on values that are both computed anyway,
which LLVM compiles to a SIMD blend rather than a jump. Arguments are clamped before the bit
tricks so no exponent can overflow, with comparisons that are False for NaN so NaN still
propagates.

Rules the code keeps, so that one source runs as plain Python (on Python floats and NumPy
scalars) and inside Numba ``prange`` loops: module-level functions only (the kernel
generator compiles each with ``numba.njit``), no calls into ``math`` or NumPy ufuncs, no
float-to-int conversions (``int``, ``round``, ``floor``), no division by a value that can
be 0 (Python floats raise ``ZeroDivisionError``). Compile with ``error_model="numpy"``:
under Numba's default error model every ``/`` carries a division-by-zero check that stops
the loop from vectorising. ``fastmath={"contract"}`` is safe and lets LLVM fuse each
multiply-add into one FMA instruction. Do not compile with ``fastmath=True``: its
reassociation simplifies ``(x + C) - C`` to ``x``, which breaks the rounding trick (``exp``
then returns 2.0 for 0.7), and its no-NaN/no-inf assumptions break the special cases.

Accuracy
--------
Arithmetic is float64 throughout, and every result is a float64 within about 4 float32 ulp
(relative error below ``5e-7``) of the exact value; each function's docstring gives the
largest error measured against float64 ``math`` over all 2**32 float32 inputs. That is
what float32 kernels need, and only they use this module: float64 kernels (which gradient
checks rely on) and the GPU kernels call the ``math`` functions, which are accurate to
float64.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------- constants

INF = float("inf")
NAN = float("nan")
DBL_MAX = 1.7976931348623157e308  # largest finite float64

LN2 = 0.6931471805599453
LOG2E = 1.4426950408889634  # 1 / ln(2)

# Adding SHIFTER to a float64 of magnitude below 2**51 rounds it to an integer (the sum has
# no mantissa bits left for a fraction) and that integer is the low bits of the sum's bit
# pattern: bits(SHIFTER + k) == SHIFTER_BITS + k.
SHIFTER = 6755399441055744.0  # 1.5 * 2**52
SHIFTER_BITS = 0x4338000000000000  # bits of SHIFTER
EXPONENT_BIAS = 1023  # a float64 with exponent field e is 2**(e - 1023) * 1.mantissa
MANTISSA_BITS = 52
MANTISSA_MASK = 0x000FFFFFFFFFFFFF
SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # bits of sqrt(2) / 2
ONE_BITS = 0x3FF0000000000000  # bits of 1.0

# exp and expm1 work on x in [EXP_MIN, EXP_MAX], where 2**n stays a normal float64; beyond,
# exp is 0 or inf (e**-708 is 3e-308, e**709 is 8e307: far outside float32 either way).
EXP_MIN = -708.0
EXP_MAX = 709.0

# expm1(r) = r + r**2 * (E0 + E1 r + E2 r**2 + E3 r**3 + E4 r**4) for |r| <= ln(2) / 2.
# Minimax fit of the relative error of expm1 (at most 1.3e-8); the Taylor coefficients
# 1/2, 1/6, 1/24, 1/120, 1/720 would need one more term for the same accuracy.
E0 = 0.4999999814961716
E1 = 0.1666654342412182
E2 = 0.04166720071174205
E3 = 0.008366547152820406
E4 = 0.001388251651879621

# log(m) = 2 atanh(s) = 2s (1 + s**2/3 + s**4/5 + s**6/7 + ...) with s = (m - 1) / (m + 1).
# For m in [sqrt(2)/2, sqrt(2)], |s| <= 0.172, and stopping after s**6 / 7 leaves a
# relative error below 8.5e-8: the Taylor series converges fast enough here.
L1 = 1.0 / 3.0
L2 = 1.0 / 5.0
L3 = 1.0 / 7.0

# erf(x) = x * (A0 + A1 x**2 + ... + A4 x**8) for |x| <= ERF_SMALL; minimax fit of the
# relative error (at most 1.4e-9). A0 is 2 / sqrt(pi) to 9 digits.
ERF_SMALL = 0.5
A0 = 1.1283791655598145
A1 = -0.37612608453640584
A2 = 0.11282819973045954
A3 = -0.0267569737779505
A4 = 0.004717511280446729

# erfc(z) = t * exp(-z**2 + C0 + C1 t + ... + C9 t**9) with t = 2 / (2 + z), for z >= 0:
# a Chebyshev fit with relative error below 1.2e-7 for every z >= 0, from Numerical Recipes
# (Press et al., 2nd ed., section 6.2, "erfcc").
C0 = -1.26551223
C1 = 1.00002368
C2 = 0.37409196
C3 = 0.09678418
C4 = -0.18628806
C5 = 0.27886807
C6 = -1.13520398
C7 = 1.48851587
C8 = -0.82215223
C9 = 0.17087277
ERFC_ZERO = 27.0  # erfc(27) = 5e-319: 0 in float32, and 27**2 is far from overflowing


# ---------------------------------------------------------------------------- bit helpers


def _bits(x):
    """The IEEE-754 bit pattern of float64 ``x``, as an int64 (a reinterpretation: no
    conversion instruction, so it vectorises)."""
    return np.float64(x).view(np.int64)


def _from_bits(i):
    """The float64 whose bit pattern is int64 ``i``."""
    return np.int64(i).view(np.float64)


def _exp_reduce(x):
    """Split ``exp(x) = 2**n * (1 + p)``; return ``(2**n, p)`` with ``p = expm1(r)``.

    ``x`` must lie in ``[EXP_MIN, EXP_MAX]`` (or be NaN). ``n`` is the integer nearest to
    ``x / ln 2`` and ``r = x - n ln 2`` lies in ``[-ln(2)/2, ln(2)/2]``.
    """
    t = x * LOG2E + SHIFTER  # rounds x / ln 2 to the nearest integer n: see SHIFTER
    n = t - SHIFTER  # n as a float64, exact
    r = x - n * LN2  # exact enough: n ln2 is off by at most 1024 * 1e-17
    n_bits = _bits(t) - SHIFTER_BITS  # n as an integer, read from the bits
    two_n = _from_bits((n_bits + EXPONENT_BIAS) << MANTISSA_BITS)
    p = r + r * r * (E0 + r * (E1 + r * (E2 + r * (E3 + r * E4))))
    return two_n, p


def _erf_small(x):
    """``erf(x)`` for ``|x| <= ERF_SMALL``, relatively accurate down to the tiniest ``x``."""
    z = x * x
    return x * (A0 + z * (A1 + z * (A2 + z * (A3 + z * A4))))


def _erfc_positive(z):
    """``erfc(z)`` for ``0 <= z <= ERFC_ZERO``, with relative error below 2e-7."""
    t = 2.0 / (2.0 + z)  # z >= 0, so never a division by zero
    q = C8 + t * C9
    q = C7 + t * q
    q = C6 + t * q
    q = C5 + t * q
    q = C4 + t * q
    q = C3 + t * q
    q = C2 + t * q
    q = C1 + t * q
    q = C0 + t * q
    # z * z is exact in float64 for a float32 z, which matters: an error d in the exponent
    # is a relative error d in the result, and z**2 reaches 85 where erfc is 1e-38.
    return t * exp(q - z * z)


# ---------------------------------------------------------------------------- functions


def exp(x):
    """Exponential ``e**x`` as float64, float32-grade.

    Method: ``e**x = 2**n * e**r`` with ``n = round(x / ln 2)`` and ``|r| <= ln(2)/2``;
    ``e**r = 1 + expm1(r)`` from a degree-6 polynomial; ``2**n`` built from its bits.

    Maximum relative error, measured over all float32 inputs: 5.4e-9 (storing the result
    as float32 rounds by up to 6e-8). ``exp(-inf) = 0``, ``exp(inf) = inf``,
    ``exp(nan) = nan``; results beyond the float64 range are 0 (``x < -708``) or inf
    (``x > 709``), so every input above ``log(float32 max) = 88.72`` gives at least
    float32's largest value, which is inf once stored as float32.
    """
    x = np.float64(x)
    xc = EXP_MIN if x < EXP_MIN else x  # clamp, keeping NaN (comparisons with NaN are False)
    xc = EXP_MAX if xc > EXP_MAX else xc
    two_n, p = _exp_reduce(xc)
    y = two_n + two_n * p
    y = 0.0 if x < EXP_MIN else y
    return INF if x > EXP_MAX else y


def expm1(x):
    """``e**x - 1`` as float64, float32-grade, relatively accurate for tiny ``x``.

    Method: as :func:`exp`, ``e**x - 1 = 2**n * (1 + p) - 1 = (2**n - 1) + 2**n * p``.
    ``2**n - 1`` is exact and for ``n = 0`` vanishes, leaving ``p = expm1(x)`` from the
    polynomial, so ``expm1(1e-30) = 1e-30``; the cancellation for ``n = +-1`` at most
    amplifies the polynomial's 1.3e-8 error 1.4 times.

    Maximum relative error, measured over all float32 inputs: 1.8e-8. ``expm1(-inf) = -1``,
    ``expm1(inf) = inf``, ``expm1(nan) = nan``.
    """
    x = np.float64(x)
    xc = EXP_MIN if x < EXP_MIN else x
    xc = EXP_MAX if xc > EXP_MAX else xc
    two_n, p = _exp_reduce(xc)
    y = (two_n - 1.0) + two_n * p
    return INF if x > EXP_MAX else y


def log1p(x):
    """``log(1 + x)`` as float64, float32-grade, relatively accurate for tiny ``x``.

    Method: ``u = 1 + x = 2**k * m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))``, read from the
    bits of ``u``; ``log(u) = k ln 2 + 2 atanh(s)`` with ``s = (m - 1) / (m + 1)`` and a
    short series for ``atanh``. Rounding ``1 + x`` loses the low bits of a tiny ``x``; the
    correction ``(x - (u - 1)) / u`` puts them back, so ``log1p(1e-30) = 1e-30``.

    Maximum relative error, measured over all float32 inputs: 8.5e-8. ``log1p(-1) = -inf``,
    ``log1p(x < -1) = nan``, ``log1p(inf) = inf``, ``log1p(nan) = nan``.
    """
    x = np.float64(x)
    xc = x if x > -1.0 else 0.0  # x <= -1 and NaN take a harmless path, fixed below
    xc = DBL_MAX if xc > DBL_MAX else xc
    u = 1.0 + xc  # u > 0: at least 2**-53 for xc > -1
    # Shift the bit pattern so that the exponent field counts from sqrt(2)/2 rather than 1:
    # the field is then k + 1023 and the mantissa, re-based on sqrt(2)/2, is m.
    shifted = _bits(u) + (ONE_BITS - SQRT_HALF_BITS)
    k_bits = (shifted >> MANTISSA_BITS) - EXPONENT_BIAS  # k, an integer in [-53, 1024]
    k = _from_bits(k_bits + SHIFTER_BITS) - SHIFTER  # ... as a float64: SHIFTER in reverse
    m = _from_bits((shifted & MANTISSA_MASK) + SQRT_HALF_BITS)
    f = m - 1.0
    s = f / (2.0 + f)  # = (m - 1) / (m + 1); 2 + f >= 1.7
    z = s * s
    two_s = s + s
    log_m = two_s + two_s * z * (L1 + z * (L2 + z * L3))
    correction = (xc - (u - 1.0)) / u
    y = k * LN2 + (log_m + correction)
    y = y if x >= -1.0 else NAN  # x < -1, and NaN
    y = -INF if x == -1.0 else y
    return INF if x > DBL_MAX else y


def tanh(x):
    """Hyperbolic tangent as float64, float32-grade, relatively accurate for tiny ``x``.

    Method: with ``e = expm1(-2|x|)`` in ``(-1, 0]``, ``tanh(|x|) = -e / (e + 2)``; the sign
    is put back afterwards. Working with ``-|x|`` keeps ``e`` from overflowing and the
    denominator in ``(1, 2]``; ``expm1`` keeps small results relatively accurate.

    Maximum relative error, measured over all float32 inputs: 1.5e-8. ``tanh(+-inf) = +-1``,
    ``tanh(nan) = nan``, ``tanh(+-0.0) = 0.0``.
    """
    x = np.float64(x)
    e = expm1(-2.0 * abs(x))
    t = abs(e) / (e + 2.0)  # abs(e) = -e, but +0.0 rather than -0.0 when e = 0
    return -t if x < 0.0 else t


def erf(x):
    """Error function ``erf(x) = 2/sqrt(pi) * integral of exp(-t**2) from 0 to x``, float32-grade.

    Method: for ``|x| <= 0.5`` an odd polynomial ``x * P(x**2)`` (relatively accurate for
    tiny ``x``: ``erf(x) ~ 2x / sqrt(pi)``); beyond, ``sign(x) * (1 - erfc(|x|))`` with
    ``erfc`` from :func:`_erfc_positive`. Both are computed and one is selected.

    Maximum absolute error, measured over all float32 inputs: 3.1e-8; maximum relative
    error for ``|x| <= 0.5``: 1.4e-9. ``erf(+-inf) = +-1``, ``erf(nan) = nan``.
    """
    x = np.float64(x)
    a = abs(x)
    small = _erf_small(x if a <= ERF_SMALL else ERF_SMALL)  # clamped: no overflow in P
    big = 1.0 - _erfc_positive(ERFC_ZERO if a > ERFC_ZERO else a)
    big = big if x >= 0.0 else -big
    return small if a <= ERF_SMALL else big


def erfc(x):
    """Complementary error function ``erfc(x) = 1 - erf(x)``, float32-grade.

    Method: for ``|x| <= 0.5``, ``1 - erf(x)`` with the polynomial of :func:`erf` (no
    cancellation: the result is in ``[0.47, 1.53]``); for ``x > 0.5`` the Numerical Recipes
    fit ``t * exp(-x**2 + Q(t))``, ``t = 2 / (2 + x)``, which stays relatively accurate into
    the tail; for ``x < -0.5``, ``2 - erfc(-x)``.

    Maximum relative error, measured over all float32 inputs where ``erfc(x)`` is a
    normal float32 (``x < 9.19``): 1.1e-7. ``erfc(-inf) = 2``, ``erfc(inf) = 0``,
    ``erfc(nan) = nan``.
    """
    x = np.float64(x)
    a = abs(x)
    small = 1.0 - _erf_small(x if a <= ERF_SMALL else ERF_SMALL)
    big = _erfc_positive(ERFC_ZERO if a > ERFC_ZERO else a)
    big = big if x >= 0.0 else 2.0 - big
    return small if a <= ERF_SMALL else big
