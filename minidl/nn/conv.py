"""Convolution layers: ``Conv2d``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.conv import check_input_channels, conv2d, parse_options
from minidl.tensor import Tensor, get_default_dtype

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive_int(label: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Conv2d: {label} must be a positive int, got {value!r}")
    return int(value)


def _int_or_pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return tuple(value)  # type: ignore[return-value]  # checked by parse_options
    return value, value


class Conv2d(Module):
    """2-D convolution layer over ``(N, C, H, W)`` (or unbatched ``(C, H, W)``) input:

    ``y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · xp[n, g·Cg + c, i·sh + p·dh, j·sw + q·dw]``

    (see ``minidl.functional.conv2d``; ``xp`` is the zero-padded input).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels ``C`` of the input and ``O`` of the output.
    kernel_size : int or (int, int)
        ``(KH, KW)``.
    stride, dilation : int or (int, int)
        Step between kernel positions, spacing between kernel taps.
    padding : int, (int, int), 'valid' or 'same'
        Zero padding on both sides (``'same'``: output as large as the input, stride 1).
    groups : int
        Independent channel blocks; must divide both channel counts.
    bias : bool
        Learn the bias ``b``.
    padding_mode : str
        Only ``'zeros'`` is implemented (PyTorch also has reflect, replicate, circular).
    dtype : dtype, optional
        Parameter dtype (the default dtype, float32, when None).

    Attributes
    ----------
    weight : Parameter
        ``(out_channels, in_channels / groups, KH, KW)``.
    bias : Parameter or None
        ``(out_channels,)``.

    Notes
    -----
    PyTorch's default initialisation, with ``fan_in = in_channels / groups · KH · KW``:
    ``w ~ U(-1/√fan_in, 1/√fan_in)`` (written as ``kaiming_uniform_(w, a=√5)``) and
    ``b ~ U(-1/√fan_in, 1/√fan_in)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        groups = _positive_int("groups", groups)
        for label, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if n % groups:
                raise ValueError(f"Conv2d: {label}={n} must be divisible by groups={groups}")
        kernel = _int_or_pair(kernel_size)
        if not (len(kernel) == 2 and all(isinstance(k, (int, np.integer))
                                         and not isinstance(k, bool) and k >= 1
                                         for k in kernel)):
            raise ValueError(
                f"Conv2d: kernel_size must be a positive int or a pair of them, "
                f"got {kernel_size!r}")
        kernel = (int(kernel[0]), int(kernel[1]))
        try:
            stride_, _, dilation_, _ = parse_options(kernel, stride, padding, dilation, groups)
        except (TypeError, ValueError) as e:
            raise type(e)(str(e).replace("conv2d:", "Conv2d:", 1)) from None
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"Conv2d: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}, "
                f"got {padding_mode!r}")
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"Conv2d: padding_mode={padding_mode!r} is not implemented; only 'zeros' is "
                "supported (pad the input yourself for other modes)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel
        self.stride = stride_
        self.padding = padding if isinstance(padding, str) else tuple(
            int(p) for p in _int_or_pair(padding))
        self.dilation = dilation_
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = False
        self.output_padding = (0, 0)
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *kernel),
                                         dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:  # registered as absent, so assigning a plain tensor to it is an error
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        # The channel count is checked here so the message can speak of this layer.
        if isinstance(x, Tensor) and x.ndim in (3, 4):
            problem = check_input_channels(x, self.weight, self.groups)
            if problem:
                raise ValueError(f"{self!r}: {problem}")
        try:
            return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                          self.groups)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{self!r}: {str(e).removeprefix('conv2d: ')}") from None

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
