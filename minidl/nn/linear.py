"""Shape-level layers: ``Linear``, ``Identity``, ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl import functional as F
from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.tensor import Tensor, get_default_dtype


class Linear(Module):
    """Affine layer ``y = x Wᵀ + b``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last dimension of the input and of the output.
    bias : bool
        Learn the additive bias ``b``.
    dtype : dtype, optional
        Parameter dtype (the default dtype, float32, when None).

    Notes
    -----
    PyTorch's default initialisation: ``W ~ U(-1/√in, 1/√in)`` (written as
    ``kaiming_uniform_(W, a=√5)``) and ``b ~ U(-1/√in, 1/√in)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        for label, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or n < 0:
                raise ValueError(f"Linear: {label} must be a non-negative int, got {n!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:  # registered as absent, so assigning a plain tensor to it is an error
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        try:
            return F.linear(x, self.weight, self.bias)
        except (TypeError, ValueError) as e:
            # F.linear checks the input; say which layer it was checked against.
            raise type(e)(f"{self!r}: {e}") from None

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Return the input unchanged (a placeholder where a layer is optional)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim``; by default all but the batch dimension."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
