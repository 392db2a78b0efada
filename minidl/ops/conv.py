"""2-D convolution as a differentiable op: ``conv2d`` (``minidl.functional.conv2d``).

The arithmetic lives in ``minidl/kernels/conv.py`` (a readable reference and the fast
im2col + BLAS path, with the formulas), and for tensors on a ``cuda`` device in
``minidl/kernels/array_ops.py`` (the same im2col as CuPy array code); this module checks
the arguments, with errors that name the shapes, and records the op for autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import Context, Function
from minidl.kernels import array_ops as _array_ops
from minidl.kernels import conv as _conv
from minidl.ops.arguments import int_pair
from minidl.tensor import Tensor

IntPair = int | tuple[int, int]


class Conv2d(Function):
    """``y = conv2d(x, w) + b``; backward gives ``∂L/∂x``, ``∂L/∂w`` and ``∂L/∂b``.

    Only the input is saved: the backward rebuilds the patch matrices chunk by chunk
    (see ``minidl.kernels.conv``) rather than keeping them alive between the passes.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                stride: tuple[int, int], padding: tuple[int, int, int, int],
                dilation: tuple[int, int], groups: int, unbatched: bool) -> np.ndarray:
        ctx.save_for_backward(x, weight)
        ctx.options = (stride, padding, dilation, groups, unbatched)
        batch = x[None] if unbatched else x
        impl = _array_ops if _array_ops.on_device(x) else _conv
        y = impl.conv2d_forward(batch, weight, bias, stride, padding, dilation, groups)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, unbatched = ctx.options
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if unbatched:
            x, grad = x[None], grad[None]
        impl = _array_ops if _array_ops.on_device(x) else _conv
        gx, gw, gb = impl.conv2d_backward(grad, x, weight, stride, padding, dilation, groups,
                                          need_x, need_w, need_b)
        if unbatched and gx is not None:
            gx = gx[0]
        return gx, gw, gb, None, None, None, None, None


def parse_options(kernel_size: tuple[int, int], stride: Any, padding: Any, dilation: Any,
                  groups: Any) -> tuple[tuple[int, int], tuple[int, int, int, int],
                                        tuple[int, int], int]:
    """Checked ``(stride, (top, bottom, left, right), dilation, groups)``.

    Raises
    ------
    TypeError, ValueError
        Naming the argument and the value (``'same'`` with a stride other than 1, an
        unknown padding string, a negative padding, a stride, dilation or groups below 1).
    """
    stride = int_pair("conv2d", "stride", stride, 1)
    dilation = int_pair("conv2d", "dilation", dilation, 1)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(
                f"conv2d: invalid padding string {padding!r}, expected 'valid' or 'same'")
        if padding == "same" and stride != (1, 1):
            raise ValueError(
                f"conv2d: padding='same' is not supported for strided convolutions "
                f"(stride {stride}); pad explicitly instead")
        pad = _conv.padding_amounts(padding, kernel_size, dilation)
    else:
        ph, pw = int_pair("conv2d", "padding", padding, 0)
        pad = (ph, ph, pw, pw)
    return stride, pad, dilation, int(groups)


def check_input_channels(input: Tensor, weight: Tensor, groups: int) -> str | None:
    """The error text when ``input`` lacks the channels ``weight`` expects, else None."""
    expected = weight.shape[1] * groups
    if input.shape[-3] != expected:
        return f"expected input with {expected} channels, got input of shape {input.shape}"
    return None


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of an NCHW batch:

    ``y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · xp[n, g·Cg + c, i·sh + p·dh, j·sw + q·dw]``

    with ``xp`` the zero-padded input, ``g`` the group of output channel ``o`` and
    ``Cg = C / groups``. The output is ``(N, O, OH, OW)`` with
    ``OH = (H + pad_top + pad_bottom - dh·(KH - 1) - 1) // sh + 1`` (``OW`` alike).

    Parameters
    ----------
    input : Tensor
        ``(N, C, H, W)``, or unbatched ``(C, H, W)`` (the output is then ``(O, OH, OW)``).
    weight : Tensor
        ``(O, C / groups, KH, KW)``, same dtype as ``input``.
    bias : Tensor, optional
        ``(O,)``.
    stride : int or (int, int)
        Step between kernel positions.
    padding : int, (int, int), 'valid' or 'same'
        Zeros added on both sides of each spatial axis. ``'same'`` (stride 1 only) pads so
        that the output has the input's size, one more at the bottom/right when the total
        ``d·(k - 1)`` is odd, as PyTorch does; ``'valid'`` is no padding.
    dilation : int or (int, int)
        Spacing between kernel taps.
    groups : int
        Split channels into ``groups`` independent blocks; both ``C`` and ``O`` must be
        divisible by it (``groups = C`` is a depthwise convolution).

    Returns
    -------
    Tensor
        In the input's dtype.

    Raises
    ------
    TypeError
        Non-tensors, dtypes other than float32/float64 or mismatched, malformed options.
    ValueError
        Wrong dimensionality, channel counts that do not match the weight or groups, a
        bias of the wrong shape, a kernel larger than the padded input, bad option values.
    """
    for label, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"conv2d: {label} must be a minidl Tensor, got {type(t).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(
            f"conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
            f"{input.shape}")
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), "
            f"got shape {weight.shape}")
    if 0 in weight.shape[1:]:
        raise ValueError(f"conv2d: the weight has an empty dimension: shape {weight.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"conv2d: input must be float32 or float64, got dtype {input.dtype}")
    if input.dtype != weight.dtype:
        raise TypeError(
            f"conv2d: input dtype {input.dtype} differs from weight dtype {weight.dtype}; "
            "convert the input (e.g. x.float()) or the layer (e.g. layer.double())")
    kernel = (weight.shape[2], weight.shape[3])
    stride, pad, dilation, groups = parse_options(kernel, stride, padding, dilation, groups)
    o = weight.shape[0]
    if o % groups:
        raise ValueError(
            f"conv2d: groups={groups} must divide the weight's {o} output channels "
            f"(weight {weight.shape})")
    problem = check_input_channels(input, weight, groups)
    if problem:
        raise ValueError(f"conv2d: {problem} (weight {weight.shape}, groups={groups})")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"conv2d: bias must be a minidl Tensor or None, "
                            f"got {type(bias).__name__}")
        if bias.shape != (o,):
            raise ValueError(f"conv2d: expected a bias of shape ({o},) for weight "
                             f"{weight.shape}, got shape {bias.shape}")
        if bias.dtype != input.dtype:
            raise TypeError(f"conv2d: bias dtype {bias.dtype} differs from input dtype "
                            f"{input.dtype}")
    h, w = input.shape[-2:]
    top, bottom, left, right = pad
    out_h, out_w = _conv.output_size(h, w, kernel, stride, pad, dilation)
    if out_h < 1 or out_w < 1:
        reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        raise ValueError(
            f"conv2d: kernel {kernel} with dilation {dilation} spans {reach}, larger than "
            f"the padded input ({h + top + bottom}, {w + left + right}) (input {input.shape}, "
            f"padding {padding!r})")
    return Conv2d.apply(input, weight, bias, stride, pad, dilation, groups, input.ndim == 3)
