"""Dropout layers."""

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
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"  # PyTorch's text; minidl's dropout never works in place
