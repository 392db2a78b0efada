"""Dropout layers: ``Dropout``, ``Dropout2d``, ``AlphaDropout``, ``FeatureAlphaDropout``."""

from __future__ import annotations

from minidl import functional as F
from minidl.nn.module import Module
from minidl.tensor import Tensor


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the survivors by
    ``1/(1-p)`` (so the expected value is unchanged); in evaluation, do nothing.

    Masks come from minidl's seeded generator (``minidl.manual_seed``).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"  # PyTorch's text; minidl's dropout never works in place


class Dropout2d(Dropout):
    """In training, zero whole channels of ``(N, C, H, W)`` or ``(C, H, W)`` input with
    probability ``p`` and scale the rest by ``1/(1-p)``; in evaluation, do nothing.

    See ``minidl.functional.dropout2d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network self-normalising (mean 0, variance 1): dropped
    units take SELU's saturation value, then an affine map restores mean and variance.

    See ``minidl.functional.alpha_dropout`` for the formula.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.alpha_dropout(x, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """``AlphaDropout`` of whole channels of ``(N, C, *)`` input.

    See ``minidl.functional.feature_alpha_dropout``.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.feature_alpha_dropout(x, self.p, self.training)
