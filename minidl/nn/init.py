"""Weight initialisation: fill a tensor in place with values drawn for a good start.

Why initialisation matters: a layer ``y = W x`` with ``n`` inputs multiplies the variance
of its input by ``n · Var(W)``. Stack many layers and any factor other than 1 makes the
signal (and the gradient) explode or vanish exponentially with depth. Every scheme here is
the same rule with a different ``n`` and a ``gain`` that makes up for what the activation
function does to the variance::

    std = gain / sqrt(n)        n = fan_in (LeCun, Kaiming), fan_out (Kaiming),
                                    or (fan_in + fan_out) / 2 (Xavier/Glorot)

and a uniform variant with the same variance: ``U(-bound, bound)`` has variance
``bound² / 3``, so ``bound = √3 · std``.

The API and the results follow ``torch.nn.init``. Every initialiser writes into
``tensor.data`` without recording a graph (as PyTorch does under ``no_grad``), keeps the
tensor's dtype and returns the tensor. Random ones draw from ``generator``, or, when it is
None, from minidl's global generator, so ``minidl.manual_seed(s)`` reproduces them.

Example::

    w = nn.Parameter(np.empty((256, 784), dtype=np.float32))
    nn.init.kaiming_normal_(w, nonlinearity="relu")      # std = √2 / √784
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor

__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "constant_", "kaiming_normal_",
    "kaiming_uniform_", "lecun_normal_", "lecun_uniform_", "normal_", "ones_", "orthogonal_",
    "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]

# PyTorch's table (torch.nn.init.calculate_gain), so that results match PyTorch's.
_GAINS = {
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    # ReLU zeroes half of a symmetric input, halving its second moment; gain² = 2 restores it.
    "relu": math.sqrt(2.0),
    # Found empirically by PyTorch (pull request #50664), not derived.
    "selu": 3.0 / 4.0,
}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a scheme's std is multiplied to suit the activation after it.

    Parameters
    ----------
    nonlinearity : str
        The ``minidl.functional`` name of the activation: ``'linear'``, ``'conv1d'``,
        ``'conv2d'``, ``'conv3d'``, ``'conv_transpose1d'``, ``'conv_transpose2d'``,
        ``'conv_transpose3d'``, ``'sigmoid'``, ``'tanh'``, ``'relu'``, ``'leaky_relu'`` or
        ``'selu'``.
    param : float, optional
        The negative slope ``s`` of ``'leaky_relu'`` (0.01 when None); ignored otherwise.

    Returns
    -------
    float
        ===================  ============================
        nonlinearity         gain
        ===================  ============================
        linear, conv*,       1
        sigmoid
        tanh                 5/3
        relu                 √2
        leaky_relu           √(2 / (1 + s²))
        selu                 3/4
        ===================  ============================

    Raises
    ------
    ValueError
        For an unsupported ``nonlinearity`` or a ``param`` that is not a number.

    Notes
    -----
    A leaky ReLU keeps the positive half of a symmetric input and scales the negative
    half by ``s``, so it keeps ``(1 + s²) / 2`` of the second moment; the gain² undoes that
    (He et al., 2015). For self-normalising (SELU) networks use ``lecun_normal_`` (gain 1,
    i.e. ``'linear'``), not the gain of ``'selu'``: the SELU fixed point needs weights of
    variance exactly ``1 / fan_in`` (Klambauer et al., 2017).
    """
    if nonlinearity == "leaky_relu":
        if param is None:
            return math.sqrt(2.0 / (1.0 + 0.01**2))
        # bool is a subclass of int, but leaky_relu(True) is surely a mistake.
        if isinstance(param, bool) or not isinstance(param, Real):
            raise ValueError(
                f"calculate_gain: the negative slope of leaky_relu must be a number, "
                f"got {param!r}"
            )
        return math.sqrt(2.0 / (1.0 + float(param) ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(
            f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
            f"{', '.join(repr(name) for name in [*_GAINS, 'leaky_relu'])}"
        )
    return _GAINS[nonlinearity]


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """How many inputs feed each output unit, and how many outputs each input feeds.

    Parameters
    ----------
    tensor : Tensor
        A weight of shape ``(out_features, in_features)`` (Linear) or
        ``(out_channels, in_channels, *kernel_size)`` (convolution).

    Returns
    -------
    fan_in, fan_out : int
        ``fan_in = in · prod(kernel_size)`` and ``fan_out = out · prod(kernel_size)``.

    Raises
    ------
    ValueError
        For a tensor with fewer than 2 dimensions (a bias has no fan).
    """
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"calculate_fan_in_and_fan_out: needs a weight with at least 2 dimensions, "
            f"(out, in, *kernel_size), got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


# ------------------------------------------------------------------ filling in place
def _generator(generator: np.random.Generator | None) -> np.random.Generator:
    if generator is None:
        return _random.generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"generator must be a numpy.random.Generator or None, "
            f"got {type(generator).__name__}"
        )
    return generator


def _check_floating(tensor: Tensor, caller: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{caller}: expected a minidl Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(
            f"{caller}: random values need a floating-point tensor, got dtype {tensor.dtype}"
        )


def _write(tensor: Tensor, values: np.ndarray | float) -> Tensor:
    # Assigning into the existing array keeps its dtype (values are drawn in float64 and
    # rounded once) and its memory, so views of it see the new values. No op runs, so no
    # graph is recorded and a Parameter that requires grad stays a leaf.
    tensor.data[...] = values
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from the uniform distribution ``U(a, b)``.

    Parameters
    ----------
    tensor : Tensor
        A floating-point tensor, filled in place.
    a, b : float
        The bounds, finite, with ``a <= b``. Every value lies in ``[a, b]`` (rounded to
        the tensor's dtype).
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.
    """
    _check_floating(tensor, "uniform_")
    if not (math.isfinite(a) and math.isfinite(b) and a <= b):
        raise ValueError(f"uniform_: expected finite bounds with a <= b, got a={a}, b={b}")
    return _write(tensor, _generator(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from the normal distribution ``N(mean, std²)``.

    Parameters
    ----------
    tensor : Tensor
        A floating-point tensor, filled in place.
    mean : float
        The mean.
    std : float
        The standard deviation, ``>= 0``.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.
    """
    _check_floating(tensor, "normal_")
    if not (math.isfinite(mean) and math.isfinite(std) and std >= 0):
        raise ValueError(
            f"normal_: expected a finite mean and a finite std >= 0, got mean={mean}, "
            f"std={std}"
        )
    return _write(tensor, _generator(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with draws from ``N(mean, std²)`` truncated to ``[a, b]``.

    The distribution is the normal one restricted to ``[a, b]`` and renormalised: draws
    outside the interval are redrawn, so no value is clipped onto a bound.

    Parameters
    ----------
    tensor : Tensor
        A floating-point tensor, filled in place.
    mean, std : float
        Mean and standard deviation (``std > 0``) of the normal distribution *before*
        truncation. The truncated values have a smaller spread than ``std``.
    a, b : float
        The cut-offs, finite, ``a < b``. They are absolute values, not multiples of
        ``std``: ``trunc_normal_(w, std=0.02)`` cuts at ±2, i.e. at ±100 std.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    Notes
    -----
    Rejection sampling, as in PyTorch: draw candidates, keep those that pass a test, and
    draw again for the rest. When the normal puts more than 30% of its mass on ``[a, b]``,
    a normal draw is kept if it lands inside. Otherwise (a narrow or far-off interval, where
    normal draws would rarely land) a uniform draw ``x`` on ``[a, b]`` is kept with
    probability ``pdf(x) / max pdf on [a, b]``; both tests give exactly the truncated
    distribution.
    """
    _check_floating(tensor, "trunc_normal_")
    if not all(math.isfinite(v) for v in (mean, std, a, b)) or std <= 0 or a >= b:
        raise ValueError(
            f"trunc_normal_: expected finite values with std > 0 and a < b, got "
            f"mean={mean}, std={std}, a={a}, b={b}"
        )
    return _write(tensor, _truncated_normal(_generator(generator), tensor.shape,
                                            mean, std, a, b))


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], mean: float,
                      std: float, a: float, b: float) -> np.ndarray:
    """Float64 draws of shape ``shape`` from N(mean, std²) truncated to [a, b]."""

    def normal_cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0))))

    # A normal draw lands in [a, b] with probability equal to the mass there, so normal
    # proposals are cheap only when that mass is large.
    if normal_cdf(b) - normal_cdf(a) > 0.3:
        def propose(n: int) -> np.ndarray:
            return rng.normal(mean, std, n)

        def accept(x: np.ndarray) -> np.ndarray:
            return (a <= x) & (x <= b)
    else:
        # The density peaks at the point of [a, b] nearest the mean; comparing logs of
        # pdf(x) / pdf(peak) avoids underflow far out in the tail.
        peak = min(max(mean, a), b)

        def propose(n: int) -> np.ndarray:
            return rng.uniform(a, b, n)

        def accept(x: np.ndarray) -> np.ndarray:
            log_ratio = ((peak - mean) ** 2 - (x - mean) ** 2) / (2.0 * std**2)
            return np.log(rng.random(x.size)) < log_ratio

    values = np.empty(math.prod(shape))
    pending = np.arange(values.size)
    while pending.size:
        x = propose(pending.size)
        kept = accept(x)
        values[pending[kept]] = x[kept]
        pending = pending[~kept]
    return values.reshape(shape)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with the value ``val``.

    Parameters
    ----------
    tensor : Tensor
        A tensor of any dtype, filled in place.
    val : float
        The value, cast to the tensor's dtype.

    Returns
    -------
    Tensor
        ``tensor`` itself.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"constant_: expected a minidl Tensor, got {type(tensor).__name__}")
    return _write(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0 (the usual start for biases). Returns ``tensor``."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1 (e.g. a normalisation layer's scale). Returns ``tensor``."""
    return constant_(tensor, 1)


# ------------------------------------------------------------------ variance scaling
def _scaled_std(gain: float, fan: float) -> float:
    """``gain / sqrt(fan)``: the rule shared by the Xavier, Kaiming and LeCun schemes."""
    # A fan of 0 means a dimension of size 0: the tensor is empty and any std will do.
    return gain / math.sqrt(fan) if fan > 0 else 0.0


def _uniform_with_std(tensor: Tensor, std: float,
                      generator: np.random.Generator | None) -> Tensor:
    # U(-bound, bound) has variance bound² / 3, so this bound gives the same std.
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def _xavier_std(tensor: Tensor, gain: float) -> float:
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    # The average of the two fans compromises between keeping the forward variance
    # (fan_in) and the backward variance (fan_out).
    return _scaled_std(gain, (fan_in + fan_out) / 2)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return _scaled_std(calculate_gain(nonlinearity, a), fan)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Tensor:
    """Xavier (Glorot) uniform initialisation: ``U(-bound, bound)`` with::

        bound = gain · √(6 / (fan_in + fan_out))

    Parameters
    ----------
    tensor : Tensor
        A floating-point weight with at least 2 dimensions, filled in place.
    gain : float
        Scale factor, e.g. ``calculate_gain('tanh')``.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    Notes
    -----
    The variance ``gain² · 2 / (fan_in + fan_out)`` is the compromise between keeping the
    activations' variance in the forward pass (``1 / fan_in``) and the gradients' in the
    backward pass (``1 / fan_out``), derived for activations that are linear near 0
    (tanh, sigmoid).

    References
    ----------
    X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010, Eq. 16 ("normalized initialization").
    """
    return _uniform_with_std(tensor, _xavier_std(tensor, gain), generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Tensor:
    """Xavier (Glorot) normal initialisation: ``N(0, std²)`` with::

        std = gain · √(2 / (fan_in + fan_out))

    Parameters
    ----------
    tensor : Tensor
        A floating-point weight with at least 2 dimensions, filled in place.
    gain : float
        Scale factor, e.g. ``calculate_gain('tanh')``.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    Notes
    -----
    Same variance as ``xavier_uniform_``.

    References
    ----------
    X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010.
    """
    return normal_(tensor, 0.0, _xavier_std(tensor, gain), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """Kaiming (He) uniform initialisation: ``U(-bound, bound)`` with::

        bound = gain · √(3 / fan),    gain = calculate_gain(nonlinearity, a)

    where ``fan`` is ``fan_in`` or ``fan_out``, as ``mode`` says.

    Parameters
    ----------
    tensor : Tensor
        A floating-point weight with at least 2 dimensions, filled in place.
    a : float
        The negative slope of the leaky ReLU after this layer (used only with
        ``nonlinearity='leaky_relu'``). The defaults, ``a=0`` and ``'leaky_relu'``, give
        gain √2: He init for ReLU. PyTorch's default ``Linear`` init is ``a=√5``, which
        gives ``bound = 1 / √fan_in``.
    mode : {'fan_in', 'fan_out'}
        ``'fan_in'`` keeps the variance of the activations in the forward pass,
        ``'fan_out'`` that of the gradients in the backward pass.
    nonlinearity : str
        The activation after this layer, as named by ``calculate_gain``.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun, "Delving Deep into Rectifiers: Surpassing
    Human-Level Performance on ImageNet Classification", ICCV 2015, arXiv:1502.01852.
    """
    return _uniform_with_std(tensor, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """Kaiming (He) normal initialisation: ``N(0, std²)`` with::

        std = gain / √fan,    gain = calculate_gain(nonlinearity, a)

    where ``fan`` is ``fan_in`` or ``fan_out``, as ``mode`` says.

    With the defaults, ``std = √(2 / fan_in)``: a ReLU zeroes half of its input, and the
    factor 2 makes up for it so that the variance survives every layer.

    Parameters
    ----------
    tensor : Tensor
        A floating-point weight with at least 2 dimensions, filled in place.
    a : float
        The negative slope of the leaky ReLU after this layer (used only with
        ``nonlinearity='leaky_relu'``).
    mode : {'fan_in', 'fan_out'}
        ``'fan_in'`` keeps the variance of the activations in the forward pass,
        ``'fan_out'`` that of the gradients in the backward pass.
    nonlinearity : str
        The activation after this layer, as named by ``calculate_gain``.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun, "Delving Deep into Rectifiers: Surpassing
    Human-Level Performance on ImageNet Classification", ICCV 2015, arXiv:1502.01852.
    """
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def lecun_normal_(tensor: Tensor, generator: np.random.Generator | None = None) -> Tensor:
    """LeCun normal initialisation, the init for SELU networks: ``N(0, std²)`` with::

        std = 1 / √fan_in

    The same as ``kaiming_normal_(tensor, nonlinearity='linear')``. With standardised
    inputs it gives every pre-activation variance 1, the fixed point that SELU keeps.

    Parameters
    ----------
    tensor : Tensor
        A floating-point weight with at least 2 dimensions, filled in place.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    References
    ----------
    Y. LeCun, L. Bottou, G. Orr and K.-R. Müller, "Efficient BackProp", in Neural
    Networks: Tricks of the Trade, 1998. G. Klambauer, T. Unterthiner, A. Mayr and
    S. Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017, arXiv:1706.02515.
    """
    return kaiming_normal_(tensor, nonlinearity="linear", generator=generator)


def lecun_uniform_(tensor: Tensor, generator: np.random.Generator | None = None) -> Tensor:
    """LeCun uniform initialisation: ``U(-bound, bound)`` with::

        bound = √(3 / fan_in)      (variance 1 / fan_in, as in ``lecun_normal_``)

    Parameters
    ----------
    tensor : Tensor
        A floating-point weight with at least 2 dimensions, filled in place.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    References
    ----------
    Y. LeCun, L. Bottou, G. Orr and K.-R. Müller, "Efficient BackProp", in Neural
    Networks: Tricks of the Trade, 1998. G. Klambauer, T. Unterthiner, A. Mayr and
    S. Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017, arXiv:1706.02515.
    """
    return kaiming_uniform_(tensor, nonlinearity="linear", generator=generator)


# ------------------------------------------------------------------ orthogonal
def orthogonal_(tensor: Tensor, gain: float = 1.0,
                generator: np.random.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with a random (semi-)orthogonal matrix times ``gain``.

    The tensor is viewed as a matrix ``W`` of shape ``(rows, cols)``, with
    ``rows = tensor.shape[0]`` and the trailing dimensions flattened into ``cols``. Then::

        W Wᵀ = gain² I   if rows <= cols   (wide: the rows are orthonormal, times gain)
        Wᵀ W = gain² I   otherwise         (tall: the columns are)

    Parameters
    ----------
    tensor : Tensor
        A floating-point tensor with at least 2 dimensions, filled in place.
    gain : float
        Scale factor.
    generator : numpy.random.Generator, optional
        Where to draw from; minidl's global generator when None.

    Returns
    -------
    Tensor
        ``tensor`` itself.

    Notes
    -----
    An orthogonal ``W`` preserves the norm of every vector, so a deep *linear* network
    starts with no exploding or vanishing signal at all (Saxe et al.).

    Algorithm (PyTorch's): draw a Gaussian matrix ``A`` (transposed if wide, so it is tall),
    factor ``A = QR``, and multiply each column of ``Q`` by the sign of ``R``'s diagonal
    entry. Without that correction ``Q`` would not be uniformly distributed over the
    orthogonal matrices, because QR routines fix the signs of ``R``'s diagonal by
    convention (Mezzadri 2007).

    References
    ----------
    A. M. Saxe, J. L. McClelland and S. Ganguli, "Exact solutions to the nonlinear
    dynamics of learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120.
    F. Mezzadri, "How to generate random matrices from the classical compact groups",
    Notices of the AMS 54 (2007), arXiv:math-ph/0609050.
    """
    _check_floating(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(
            f"orthogonal_: needs a tensor with at least 2 dimensions, got shape {tensor.shape}"
        )
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    gaussian = _generator(generator).standard_normal((rows, cols))
    wide = rows < cols
    q, r = np.linalg.qr(gaussian.T if wide else gaussian)
    q *= np.sign(np.diag(r))
    return _write(tensor, gain * (q.T if wide else q).reshape(tensor.shape))
