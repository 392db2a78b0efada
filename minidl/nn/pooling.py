"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``.

Thin modules over ``minidl.functional`` (the ops live in ``minidl/ops/pooling.py``); the
arguments are checked when the layer is built, and errors from a forward name the layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidl import functional as F
from minidl.nn.module import Module
from minidl.ops.pooling import (
    IntPair,
    check_divisor_override,
    check_output_size,
    check_pool_args,
)
from minidl.tensor import Tensor


def _named(layer: Module, op: Callable, *args: Any) -> Any:
    """Run ``op``; an argument error from it gets the layer's repr in front."""
    try:
        return op(*args)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{layer!r}: {e}") from None


class MaxPool2d(Module):
    """2-D max pooling (see ``minidl.functional.max_pool2d`` for the formula).

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window size.
    stride : int or (int, int), optional
        Step between windows; ``kernel_size`` when None.
    padding : int or (int, int)
        Implicit -inf padding, at most ``kernel_size // 2``.
    dilation : int or (int, int)
        Spacing between the window's taps.
    return_indices : bool
        Return ``(output, indices)`` instead of the output.
    ceil_mode : bool
        Round the output size up.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None,
                 padding: IntPair = 0, dilation: IntPair = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        check_pool_args("MaxPool2d", kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return _named(self, F.max_pool2d, x, self.kernel_size, self.stride, self.padding,
                      self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling (see ``minidl.functional.avg_pool2d`` for the formula and the
    divisor rules).

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window size.
    stride : int or (int, int), optional
        Step between windows; ``kernel_size`` when None.
    padding : int or (int, int)
        Implicit zero padding, at most ``kernel_size // 2``.
    ceil_mode : bool
        Round the output size up.
    count_include_pad : bool
        Count padded positions in the divisor.
    divisor_override : int, optional
        A fixed non-zero divisor.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None,
                 padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        check_pool_args("AvgPool2d", kernel_size, stride, padding, 1)
        check_divisor_override("AvgPool2d", divisor_override)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return _named(self, F.avg_pool2d, x, self.kernel_size, self.stride, self.padding,
                      self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size ``(OH, OW)`` whatever the input size (see
    ``minidl.functional.adaptive_avg_pool2d``); ``AdaptiveAvgPool2d(1)`` is global average
    pooling.

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        An int means a square output; None keeps that input dimension.
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        check_output_size("AdaptiveAvgPool2d", output_size)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return _named(self, F.adaptive_avg_pool2d, x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
