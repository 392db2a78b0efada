"""Plain NumPy reference versions of every activation and its derivative.

These are the versions a student writes first: whole-array expressions with ``np.where``,
no loops and no compilation. They serve two purposes:

* **tests**: the fast Numba kernels (``kernels/cpu.py``) are checked against them, and they
  are checked against PyTorch (``tests/test_reference_activations.py``);
* **teaching**: a notebook can put the readable form beside the fast one and time both
  (``minidl.kernels.set_kernel_backend('numpy')`` runs minidl on these).

For each activation ``NAME`` there are two functions:

* ``NAME(x, *params)``: the value ``f(x)``;
* ``NAME_grad(x, y, *params)``: the elementwise derivative ``df/dx``, *not* multiplied by an
  upstream gradient. ``y = f(x)`` is the forward output; ``relu_grad``, ``selu_grad``,
  ``sigmoid_grad`` and ``tanh_grad`` read only ``y``, so they may be called with ``y`` in
  place of ``x`` when only the output was saved.

PReLU also has ``prelu_grad_weight``, the elementwise ``df/da`` (the caller sums it).

Conventions, all following PyTorch:

* the result has the dtype and shape of ``x`` (integer input counts as float64);
* parameter defaults are PyTorch's;
* at a kink the derivative is the one PyTorch's backward uses: ``relu'(0) = 0``,
  ``leaky_relu'(0) = slope``, ``elu'(0) = alpha``, ``hardswish'(-3) = 0``,
  ``hardswish'(3) = 1``, and so on (see each docstring);
* NaN in gives NaN out (forward). Every finite input gives a finite result without a NumPy
  warning: exponentials only see non-positive arguments (``e^-|x|``), and ``np.where``,
  which evaluates both branches, gets a clamped argument on the branch it discards;
* ±inf gives the mathematical limit. Where PyTorch computes ``inf * 0`` and returns NaN
  (``gelu``, ``gelu_tanh``, ``silu``, ``mish`` and ``hardswish`` at -inf, ``softsign`` at
  ±inf, and several derivatives) these return the limit instead.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_GELU_TANH_K = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715
# Beyond |x| = 25, σ(±2u) in GELU's tanh form is exactly 0 or 1 in float32 and float64
# (e^-1155 underflows), so clamping there changes no result and keeps x³ and inf·0 away.
_GELU_TANH_CLAMP = 25.0
# The normal pdf e^(-x²/2) underflows to exactly 0 in float64 for |x| > 38.6, so clamping at
# 40 changes no result and keeps x² from overflowing.
_GELU_PDF_CLAMP = 40.0

# math.erfc element by element: NumPy has no erf, SciPy is not a dependency. erfc rather than
# erf because Φ(x) = erfc(-x/√2)/2 keeps full relative accuracy where Φ is tiny (x << 0).
_erfc = np.frompyfunc(math.erfc, 1, 1)


# ---------------------------------------------------------------------------- helpers


def _as_float(x: ArrayLike) -> np.ndarray:
    """``x`` as an array; integer and boolean input becomes float64."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _like(value: ArrayLike, x: np.ndarray) -> np.ndarray:
    """``value`` as an array of ``x``'s dtype.

    Python floats such as ``np.where(c, 1.0, slope)`` or a float64 weight would otherwise
    promote a float32 result to float64, and ufuncs return NumPy scalars for 0-d input.
    """
    return np.asarray(value, dtype=x.dtype)


def _finite(x: np.ndarray) -> np.ndarray:
    """``x`` with ±inf replaced by the largest finite numbers of its dtype (NaN stays NaN).

    In a product ``x·g(x)`` whose other factor ``g`` tends to 0 at ±inf, an infinite ``x``
    gives ``inf·0 = NaN``; the largest finite number times 0 gives 0, the true limit.
    """
    big = np.finfo(x.dtype).max
    return np.clip(x, -big, big)


def _finite_below(x: np.ndarray) -> np.ndarray:
    """``x`` with only -inf replaced by the most negative finite number, for ``x·g(x)`` with
    ``g(-inf) = 0`` but ``g(+inf) = 1``: +inf must stay +inf."""
    return np.maximum(x, -np.finfo(x.dtype).max)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) from one ``e^-|z|``, which cannot overflow: 1/(1+e^-z) for z >= 0 and
    e^z/(1+e^z) for z < 0."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|), which cannot overflow."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _channel_weight(weight: ArrayLike, x: np.ndarray) -> np.ndarray:
    """PReLU's weight shaped to broadcast along ``x``'s channel axis (axis 1).

    As in PyTorch, an input with fewer than 2 dimensions has one channel.
    """
    w = np.asarray(weight)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.ndim > 1 or w.size not in (1, channels):
        raise ValueError(f"prelu: weight of shape {w.shape} is neither one value nor one per "
                         f"channel ({channels} for an input of shape {x.shape})")
    if w.size == 1:
        return w.reshape(())
    return w.reshape((1, channels) + (1,) * (x.ndim - 2))


def _check_celu_alpha(alpha: float) -> None:
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0 (the formula divides by it)")


# ---------------------------------------------------------------------------- rectifiers


def relu(x: ArrayLike) -> np.ndarray:
    """ReLU: ``max(0, x)``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # np.maximum, not np.where(x > 0, x, 0): it propagates NaN.
    return _like(np.maximum(x, 0), x)


def relu_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of ReLU: ``0 if y <= 0 else 1``, so ``relu'(0) = 0``.

    Reads only ``y``, as PyTorch does (it zeroes the gradient where the output is <= 0).

    Parameters
    ----------
    x : array_like
        Input (only its dtype is used).
    y : array_like
        ``relu(x)``.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(np.asarray(y) <= 0, 0.0, 1.0), x)


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> np.ndarray:
    """Leaky ReLU: ``x if x > 0 else negative_slope·x``.

    Parameters
    ----------
    x : array_like
        Input.
    negative_slope : float, default 0.01
        Slope for ``x <= 0``.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(x > 0, x, negative_slope * x), x)


def leaky_relu_grad(x: ArrayLike, y: ArrayLike, negative_slope: float = 0.01) -> np.ndarray:
    """Derivative of leaky ReLU: ``1 if x > 0 else negative_slope``; at 0 it is the slope.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``leaky_relu(x, negative_slope)`` (unused).
    negative_slope : float, default 0.01
        Slope for ``x <= 0``.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(x > 0, 1.0, negative_slope), x)


def prelu(x: ArrayLike, weight: ArrayLike) -> np.ndarray:
    """PReLU: ``x if x > 0 else a·x``, with a learnable slope ``a`` per channel.

    Parameters
    ----------
    x : array_like
        Input; axis 1 is the channel axis (an input of fewer than 2 dimensions has one
        channel).
    weight : array_like
        The slopes ``a``: a 1-D array of length 1 (shared) or C (one per channel), or a
        number. PyTorch's ``nn.PReLU`` starts it at 0.25.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.

    Raises
    ------
    ValueError
        If ``weight`` has neither 1 nor C elements.
    """
    x = _as_float(x)
    a = _channel_weight(weight, x)
    return _like(np.where(x > 0, x, a * x), x)


def prelu_grad(x: ArrayLike, y: ArrayLike, weight: ArrayLike) -> np.ndarray:
    """Derivative of PReLU with respect to ``x``: ``1 if x > 0 else a``; at 0 it is ``a``.

    Parameters
    ----------
    x : array_like
        Input, channels on axis 1.
    y : array_like
        ``prelu(x, weight)`` (unused).
    weight : array_like
        The slopes ``a``, as for :func:`prelu`.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    a = _channel_weight(weight, x)
    return _like(np.where(x > 0, 1.0, a), x)


def prelu_grad_weight(x: ArrayLike, y: ArrayLike, weight: ArrayLike) -> np.ndarray:
    """Derivative of PReLU with respect to its slope, element by element:
    ``0 if x > 0 else x``.

    The caller sums it over every axis but the channel axis (or over all axes for a shared
    slope).

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``prelu(x, weight)`` (unused).
    weight : array_like
        The slopes (unused: ``f`` is linear in ``a``).

    Returns
    -------
    numpy.ndarray
        ``df/da`` per element, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(x > 0, 0.0, x), x)


def rrelu(x: ArrayLike, slope: ArrayLike = 11 / 48) -> np.ndarray:
    """Randomized leaky ReLU with the slope already drawn: ``x if x > 0 else slope·x``.

    In training PyTorch draws ``slope ~ U(lower, upper)`` per element at every call (the
    caller does that here); in evaluation it uses ``(lower + upper)/2 = 11/48`` with the
    defaults ``lower = 1/8``, ``upper = 1/3``.

    Parameters
    ----------
    x : array_like
        Input.
    slope : array_like, default 11/48
        A number, or an array of ``x``'s shape.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(x > 0, x, np.asarray(slope) * x), x)


def rrelu_grad(x: ArrayLike, y: ArrayLike, slope: ArrayLike = 11 / 48) -> np.ndarray:
    """Derivative of RReLU: ``1 if x > 0 else slope``; at 0 it is the slope.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``rrelu(x, slope)`` (unused).
    slope : array_like, default 11/48
        The slopes used in the forward pass: a number or an array of ``x``'s shape.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(x > 0, 1.0, slope), x)


def relu6(x: ArrayLike) -> np.ndarray:
    """ReLU6: ``min(max(0, x), 6)`` (``hardtanh(x, 0, 6)``).

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    return hardtanh(x, 0.0, 6.0)


def relu6_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of ReLU6: 1 on the open interval (0, 6), else 0, so ``f'(0) = f'(6) = 0``.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``relu6(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    return hardtanh_grad(x, y, 0.0, 6.0)


def hardtanh(x: ArrayLike, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """Hardtanh: ``min(max(x, min_val), max_val)``.

    Parameters
    ----------
    x : array_like
        Input.
    min_val, max_val : float, default -1.0 and 1.0
        The clipping range; ``min_val < max_val``.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.clip(x, min_val, max_val), x)


def hardtanh_grad(x: ArrayLike, y: ArrayLike, min_val: float = -1.0,
                  max_val: float = 1.0) -> np.ndarray:
    """Derivative of Hardtanh: 1 on the open interval (min_val, max_val), else 0.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``hardtanh(x, min_val, max_val)`` (unused).
    min_val, max_val : float, default -1.0 and 1.0
        The clipping range.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # PyTorch's test, written this way round: a NaN input passes the gradient through.
    return _like(np.where((x <= min_val) | (x >= max_val), 0.0, 1.0), x)


# ---------------------------------------------------------------------------- exponential family


def elu(x: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """ELU: ``x if x > 0 else alpha·(e^x - 1)``.

    Parameters
    ----------
    x : array_like
        Input.
    alpha : float, default 1.0
        The negative saturation value is ``-alpha``.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # np.where evaluates both branches: min(x, 0) keeps e^x from overflowing on the one
    # thrown away, and expm1 keeps e^x - 1 accurate near 0.
    return _like(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), x)


def elu_grad(x: ArrayLike, y: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """Derivative of ELU: ``1 if x > 0 else alpha·e^x``; at 0 it is ``alpha``.

    ``alpha·e^x`` equals ``y + alpha`` for ``x <= 0``, but that difference loses all
    accuracy once ``e^x`` is below the rounding error of ``alpha``, so ``x`` is used, as in
    PyTorch.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``elu(x, alpha)`` (unused).
    alpha : float, default 1.0
        As for :func:`elu`.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # x <= 0 as PyTorch's backward tests it: a NaN input passes the gradient through.
    return _like(np.where(x <= 0, alpha * np.exp(np.minimum(x, 0)), 1.0), x)


def selu(x: ArrayLike) -> np.ndarray:
    """SELU: ``λx if x > 0 else λα(e^x - 1)``, with ``α = SELU_ALPHA ≈ 1.6733`` and
    ``λ = SELU_SCALE ≈ 1.0507`` (Klambauer et al. 2017).

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where(x > 0, SELU_SCALE * x,
                          SELU_SCALE * SELU_ALPHA * np.expm1(np.minimum(x, 0))), x)


def selu_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of SELU: ``λ if x > 0 else λα·e^x = y + λα``; at 0 it is
    ``λα ≈ 1.7581``.

    Reads only ``y``: ``λα > 0``, so ``y > 0`` exactly when ``x > 0``.

    Parameters
    ----------
    x : array_like
        Input (only its dtype is used).
    y : array_like
        ``selu(x)``.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    y = np.asarray(y)
    return _like(np.where(y <= 0, y + SELU_SCALE * SELU_ALPHA, SELU_SCALE), x)  # NaN: as elu


def celu(x: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """CELU: ``x if x > 0 else alpha·(e^(x/alpha) - 1)`` (Barron 2017).

    Parameters
    ----------
    x : array_like
        Input.
    alpha : float, default 1.0
        Non-zero; the negative saturation value is ``-alpha``.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.

    Raises
    ------
    ValueError
        If ``alpha`` is 0.
    """
    _check_celu_alpha(alpha)
    x = _as_float(x)
    with np.errstate(over="ignore"):  # x/α on the discarded branch may overflow near 1e308
        return _like(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha)), x)


def celu_grad(x: ArrayLike, y: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """Derivative of CELU: ``1 if x > 0 else e^(x/alpha)``; at 0 it is 1 (CELU is C¹).

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``celu(x, alpha)`` (unused; see :func:`elu_grad` for why).
    alpha : float, default 1.0
        As for :func:`celu`.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.

    Raises
    ------
    ValueError
        If ``alpha`` is 0.
    """
    _check_celu_alpha(alpha)
    x = _as_float(x)
    with np.errstate(over="ignore"):  # x/α on the discarded branch may overflow near 1e308
        return _like(np.where(x <= 0, np.exp(np.minimum(x, 0) / alpha), 1.0), x)  # as elu


# ---------------------------------------------------------------------------- sigmoid family


def sigmoid(x: ArrayLike) -> np.ndarray:
    """Logistic sigmoid: ``σ(x) = 1/(1 + e^-x)``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(_sigmoid(x), x)


def sigmoid_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of the sigmoid: ``y(1 - y)``, at most 1/4 (at 0). Reads only ``y``.

    Parameters
    ----------
    x : array_like
        Input (only its dtype is used).
    y : array_like
        ``sigmoid(x)``.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    y = np.asarray(y)
    return _like(y * (1 - y), x)


def tanh(x: ArrayLike) -> np.ndarray:
    """Hyperbolic tangent: ``(e^x - e^-x)/(e^x + e^-x)``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.tanh(x), x)


def tanh_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of tanh: ``1 - y²``. Reads only ``y``.

    Parameters
    ----------
    x : array_like
        Input (only its dtype is used).
    y : array_like
        ``tanh(x)``.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    y = np.asarray(y)
    return _like(1 - y * y, x)


def softplus(x: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """Softplus: ``ln(1 + e^(βx))/β``, or ``x`` where ``βx > threshold`` (strictly).

    Parameters
    ----------
    x : array_like
        Input.
    beta : float, default 1.0
        Sharpness; non-zero.
    threshold : float, default 20.0
        Above it (in ``βx``) the function is taken as linear.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    with np.errstate(over="ignore"):  # βx may overflow near 1e308; the limit is still right
        z = beta * x
        return _like(np.where(z > threshold, x, _softplus(z) / beta), x)


def softplus_grad(x: ArrayLike, y: ArrayLike, beta: float = 1.0,
                  threshold: float = 20.0) -> np.ndarray:
    """Derivative of Softplus: ``σ(βx)`` if ``βx <= threshold``, else 1.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``softplus(x, beta, threshold)`` (unused).
    beta, threshold : float, default 1.0 and 20.0
        As for :func:`softplus`.

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    with np.errstate(over="ignore"):  # βx may overflow near 1e308; σ(±inf) is still right
        z = beta * x
    return _like(np.where(z > threshold, 1.0, _sigmoid(z)), x)


def logsigmoid(x: ArrayLike) -> np.ndarray:
    """Log-sigmoid: ``ln σ(x) = -ln(1 + e^-x) = min(x, 0) - ln(1 + e^-|x|)``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))), x)


def logsigmoid_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of log-sigmoid: ``1 - σ(x) = σ(-x)``.

    ``1 - e^y`` would be the same, but cancels for large ``x``; ``σ(-x)`` does not.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``logsigmoid(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(_sigmoid(-x), x)


def silu(x: ArrayLike) -> np.ndarray:
    """SiLU (Swish with β = 1): ``x·σ(x)``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(_finite_below(x) * _sigmoid(x), x)


def silu_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of SiLU: ``σ(x)(1 + x(1 - σ(x)))``, with ``1 - σ(x)`` computed as ``σ(-x)``
    so that it keeps its accuracy for large ``x``.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``silu(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    s = _sigmoid(x)
    return _like(s * (1 + _finite(x) * _sigmoid(-x)), x)


def mish(x: ArrayLike) -> np.ndarray:
    """Mish: ``x·tanh(softplus(x)) = x·tanh(ln(1 + e^x))`` (Misra 2019).

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(_finite_below(x) * np.tanh(_softplus(x)), x)


def mish_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of Mish: ``t + x·σ(x)·(1 - t²)`` with ``t = tanh(softplus(x))``;
    ``f'(0) = tanh(ln 2) = 0.6``.

    ``1 - t²`` is computed as ``4σ(2s)σ(-2s)`` (``s = softplus(x)``), which does not cancel
    as ``t`` approaches 1.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``mish(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    sp = _softplus(x)
    with np.errstate(over="ignore"):  # 2·sp overflows near 1e308, where sech² is 0 anyway
        sech2 = 4 * _sigmoid(2 * sp) * _sigmoid(-2 * sp)
    return _like(np.tanh(sp) + _finite(x) * _sigmoid(x) * sech2, x)


def hardsigmoid(x: ArrayLike) -> np.ndarray:
    """Hardsigmoid: ``0 if x <= -3, 1 if x >= 3, else x/6 + 1/2``, computed as PyTorch does,
    ``min(max(x + 3, 0), 6)/6``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.clip(x + 3, 0, 6) / 6, x)


def hardsigmoid_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of Hardsigmoid: 1/6 on the open interval (-3, 3), else 0.

    PyTorch's backward uses the float32 value of 1/6 even for float64 input
    (0.1666666716…), and so does minidl, so that float64 gradients match PyTorch's.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``hardsigmoid(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    return _like(np.where((x > -3) & (x < 3), float(np.float32(1 / 6)), 0.0), x)


def hardswish(x: ArrayLike) -> np.ndarray:
    """Hardswish: ``0 if x <= -3, x if x >= 3, else x(x + 3)/6``, that is
    ``x·hardsigmoid(x)`` (MobileNetV3).

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # Dividing the clipped factor first keeps x·6 from overflowing near the dtype's maximum.
    return _like(_finite_below(x) * (np.clip(x + 3, 0, 6) / 6), x)


def hardswish_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of Hardswish: ``0 if x <= -3, 1 if x >= 3, else (2x + 3)/6``; PyTorch's
    choice at the kinks is ``f'(-3) = 0`` and ``f'(3) = 1``.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``hardswish(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # (2x + 3)/6 written as x/3 + 1/2, which cannot overflow on the discarded branches.
    return _like(np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0)), x)


def softsign(x: ArrayLike) -> np.ndarray:
    """Softsign: ``x/(1 + |x|)``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # inf/inf would be NaN; the largest finite number over itself plus 1 rounds to the limit 1.
    xf = _finite(x)
    return _like(xf / (1 + np.abs(xf)), x)


def softsign_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of Softsign: ``1/(1 + |x|)²``.

    ``(1 - |y|)²`` is the same, but ``1 - |y|`` cancels for large ``|x|``, so ``x`` is used.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``softsign(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    # Squaring the reciprocal rather than dividing by the square: (1 + |x|)² can overflow.
    return _like((1 / (1 + np.abs(x))) ** 2, x)


# ---------------------------------------------------------------------------- GELU


def _gelu_tanh_inner(x: np.ndarray) -> np.ndarray:
    """u = √(2/π)·(x + 0.044715x³), from x clamped where it makes no difference."""
    xc = np.clip(x, -_GELU_TANH_CLAMP, _GELU_TANH_CLAMP)
    return _GELU_TANH_K * (xc + _GELU_TANH_C * xc**3)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = erfc(-x/√2)/2 in float64."""
    return 0.5 * np.asarray(_erfc(-x / math.sqrt(2.0)), dtype=np.float64)


def gelu(x: ArrayLike) -> np.ndarray:
    """GELU, exact form: ``x·Φ(x) = x/2·(1 + erf(x/√2))``, Φ the standard normal CDF.

    Computed in float64 (``math.erfc``) and rounded to ``x``'s dtype.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    x64 = x.astype(np.float64)
    return _like(_finite_below(x64) * _normal_cdf(x64), x)


def gelu_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of exact GELU: ``Φ(x) + x·φ(x)``, φ the standard normal pdf
    ``e^(-x²/2)/√(2π)``; ``f'(0) = 1/2``.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``gelu(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    x64 = x.astype(np.float64)
    xc = np.clip(x64, -_GELU_PDF_CLAMP, _GELU_PDF_CLAMP)
    pdf = np.exp(-0.5 * xc * xc) / math.sqrt(2.0 * math.pi)
    return _like(_normal_cdf(x64) + xc * pdf, x)


def gelu_tanh(x: ArrayLike) -> np.ndarray:
    """GELU, tanh approximation: ``x/2·(1 + tanh(u))`` with
    ``u = √(2/π)·(x + 0.044715x³)``.

    Computed as ``x·σ(2u)``, the same number (``1 + tanh u = 2σ(2u)``) without the
    cancellation in ``1 + tanh u`` for ``x << 0``.

    Parameters
    ----------
    x : array_like
        Input.

    Returns
    -------
    numpy.ndarray
        ``f(x)``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    u = _gelu_tanh_inner(x)
    return _like(_finite_below(x) * _sigmoid(2 * u), x)


def gelu_tanh_grad(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Derivative of tanh-approximated GELU:
    ``(1 + t)/2 + x/2·(1 - t²)·√(2/π)·(1 + 3·0.044715x²)`` with ``t = tanh(u)``;
    ``f'(0) = 1/2``.

    Computed with ``(1 + t)/2 = σ(2u)`` and ``(1 - t²)/4 = σ(2u)σ(-2u)``, which do not
    cancel.

    Parameters
    ----------
    x : array_like
        Input.
    y : array_like
        ``gelu_tanh(x)`` (unused).

    Returns
    -------
    numpy.ndarray
        ``df/dx``, with the dtype and shape of ``x``.
    """
    x = _as_float(x)
    u = _gelu_tanh_inner(x)
    xc = np.clip(x, -_GELU_TANH_CLAMP, _GELU_TANH_CLAMP)
    du = _GELU_TANH_K * (1 + 3 * _GELU_TANH_C * xc * xc)
    return _like(_sigmoid(2 * u) + 2 * xc * _sigmoid(2 * u) * _sigmoid(-2 * u) * du, x)
