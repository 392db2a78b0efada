"""The dropout family beyond ``F.dropout``: ``dropout2d``, ``alpha_dropout`` and
``feature_alpha_dropout``.

Each draws a random keep-mask from minidl's seeded generator (so ``minidl.manual_seed``
reproduces it) and applies ``y = x · scale + shift`` with ``scale`` and ``shift`` built from
the mask; its gradient is ``grad · scale``. ``dropout2d`` and ``feature_alpha_dropout``
draw one mask entry per channel (the mask has shape ``(N, C, 1, 1)``) instead of one per
element, because neighbouring pixels of a feature map are strongly correlated: zeroing
single pixels barely regularises a convolutional layer, zeroing whole maps does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl import random as _random
from minidl.autograd import Context, Function
from minidl.tensor import Tensor

# λα of SELU (Klambauer et al. 2017): -λα is the value SELU saturates to as x → -∞, and
# what alpha dropout sets a dropped unit to (before the affine correction).
SELU_SATURATION = 1.7580993408473766


class MaskedAffine(Function):
    """``y = x · scale + shift`` with constant arrays that broadcast to ``x``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, scale: np.ndarray, shift: Any) -> np.ndarray:
        ctx.save_for_backward(scale)
        y = x * scale
        if shift is not None:
            y += shift
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (scale,) = ctx.saved_tensors
        return grad * scale, None, None


def _check(fn: str, input: Any, p: float, min_ndim: int = 0) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: probability p must be in [0, 1], got {p}")
    if input.ndim < min_ndim:
        raise ValueError(
            f"{fn}: expected an input with at least {min_ndim} dimensions (N, C, ...), "
            f"got shape {input.shape}"
        )


def _keep(shape: tuple[int, ...], p: float) -> np.ndarray:
    """A boolean mask, True with probability ``1 - p``, from minidl's generator."""
    return _random.generator().random(shape, dtype=np.float32) >= p


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels with probability ``p`` and scale the rest by ``1/(1-p)``.

    ``y[n, c] = x[n, c] · m[n, c] / (1 - p)`` with ``m[n, c] ~ Bernoulli(1 - p)`` drawn once
    per channel, so the expected value is unchanged.

    Parameters
    ----------
    input : Tensor
        ``(N, C, H, W)``, or unbatched ``(C, H, W)``.
    p : float
        Probability of zeroing a channel, in [0, 1].
    training : bool
        Identity when False.

    Notes
    -----
    A 3-D input is one unbatched image ``(C, H, W)`` (each of its ``C`` planes is kept or
    dropped), as PyTorch documents. PyTorch 2.x itself still treats it as ``(N, C, L)``,
    with a warning that this will change.
    """
    _check("dropout2d", input, p)
    if input.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
            f"{input.shape}"
        )
    if not training or p == 0.0:
        return input
    mask_shape = input.shape[:-2] + (1, 1)
    if p == 1.0:
        return MaskedAffine.apply(input, np.zeros(mask_shape, dtype=input.dtype), None)
    scale = _keep(mask_shape, p).astype(input.dtype) * input.dtype.type(1 / (1 - p))
    return MaskedAffine.apply(input, scale, None)


def _alpha_dropout(input: Tensor, p: float, training: bool,
                   mask_shape: tuple[int, ...]) -> Tensor:
    if not training or p == 0.0:
        return input
    if p == 1.0:  # PyTorch's choice; the affine correction is undefined at p = 1
        return MaskedAffine.apply(input, np.zeros(mask_shape, dtype=input.dtype), None)
    keep = _keep(mask_shape, p)
    a = 1.0 / np.sqrt((SELU_SATURATION ** 2 * p + 1.0) * (1.0 - p))
    dtype = input.dtype.type
    scale = np.where(keep, dtype(a), dtype(0))
    shift = np.where(keep, dtype(SELU_SATURATION * a * p), dtype(-SELU_SATURATION * a * (1 - p)))
    return MaskedAffine.apply(input, scale, shift)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False) -> Tensor:
    """Dropout for self-normalising (SELU) networks: keeps mean 0 and variance 1.

    Each element is dropped with probability ``p``: set to SELU's saturation value
    ``α' = -λα = -1.7580993408473766`` rather than 0. An affine map then restores the
    input's mean and variance (for inputs with mean 0 and variance 1)::

        y = a · (x·m + α'·(1 - m)) + b,   m ~ Bernoulli(1 - p)
        a = ((1 - p)(1 + p·α'²))^(-1/2),   b = -a·α'·p

    so a kept element becomes ``a·x + b`` and a dropped one ``a·α' + b = α'·a·(1 - p)``.

    Parameters
    ----------
    input : Tensor
        Any shape.
    p : float
        Drop probability, in [0, 1]; ``p = 1`` gives zeros (as in PyTorch).
    training : bool
        Identity when False (the default, as in PyTorch's functional form).
    """
    _check("alpha_dropout", input, p)
    return _alpha_dropout(input, p, training, input.shape)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels: one mask entry per ``(n, c)`` of an
    ``(N, C, ...)`` input (at least 2-D), as PyTorch does.

    Parameters
    ----------
    input : Tensor
        ``(N, C, *)``.
    p : float
        Drop probability, in [0, 1].
    training : bool
        Identity when False (the default).
    """
    _check("feature_alpha_dropout", input, p, min_ndim=2)
    return _alpha_dropout(input, p, training, input.shape[:2] + (1,) * (input.ndim - 2))
