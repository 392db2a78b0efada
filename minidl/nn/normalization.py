"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm``.

The ops (``batch_norm``, ``layer_norm``) live in ``minidl/ops/normalization.py``. Parameter
and buffer names match PyTorch's (``weight``, ``bias``, ``running_mean``, ``running_var``,
``num_batches_tracked``), so state dicts load both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import functional as F
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.normalization import check_batch_norm
from minidl.tensor import Tensor, get_default_dtype


class _BatchNorm(Module):
    """Batch normalisation over channel dimension 1 (see ``minidl.functional.batch_norm``).

    In training the layer normalises with the batch's statistics and, if
    ``track_running_stats``, updates ``running_mean`` and ``running_var`` (with the unbiased
    variance) and counts batches in ``num_batches_tracked``; in evaluation it normalises
    with the running statistics (or with the batch's, when it does not track them).

    Parameters
    ----------
    num_features : int
        Number of channels ``C``.
    eps : float
        Added to the variance for numerical stability.
    momentum : float or None
        Weight of each new batch in the running statistics; None means a cumulative
        (equally weighted) average, ``1/num_batches_tracked``.
    affine : bool
        Learn a per-channel scale ``weight`` (init 1) and shift ``bias`` (init 0).
    track_running_stats : bool
        Keep running statistics for evaluation.
    dtype : dtype, optional
        Dtype of the parameters and running statistics (the default dtype when None).
    bias : bool
        With ``affine``, learn the shift too.
    """

    _expected_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 dtype: Any = None, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = dtype or get_default_dtype()
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Reset the running statistics, and the affine parameters to weight 1, bias 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim not in self._expected_dims:
            got = f"{x.ndim}-D input of shape {x.shape}" if isinstance(x, Tensor) \
                else f"a {type(x).__name__}"
            dims = " or ".join(f"{d}-D" for d in self._expected_dims)
            raise ValueError(f"{self!r}: expected {dims} input, got {got}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r}: expected {self.num_features} channels in dimension 1, got input "
                f"of shape {x.shape}"
            )
        # Batch statistics in training, and in evaluation when there are no running ones.
        use_batch = self.training or self.running_mean is None
        update = self.training and self.track_running_stats
        running = (self.running_mean, self.running_var) if update or not self.training \
            else (None, None)
        try:  # every check before the batch counter moves
            check_batch_norm(type(self).__name__, x, *running, self.weight, self.bias,
                             use_batch)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{self!r}: {e}") from None
        momentum = 0.0 if self.momentum is None else self.momentum
        if update:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return F.batch_norm(x, *running, self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input, per channel ``C``.

    ``y = weight·(x - μ)/√(σ² + eps) + bias``; see ``_BatchNorm`` for the parameters and
    ``minidl.functional.batch_norm`` for the statistics.
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` input, per channel ``C`` over the batch and
    all positions.

    ``y = weight·(x - μ)/√(σ² + eps) + bias``; see ``_BatchNorm`` for the parameters and
    ``minidl.functional.batch_norm`` for the statistics.
    """

    _expected_dims = (4,)


class LayerNorm(Module):
    """Layer normalisation: standardise each sample over its last dimensions.

    ``y = weight·(x - μ)/√(σ² + eps) + bias`` with ``μ`` and the biased ``σ²`` over the
    trailing ``normalized_shape`` dimensions; ``weight`` (init 1) and ``bias`` (init 0)
    have shape ``normalized_shape``. Unlike batch norm it behaves the same in training and
    evaluation.

    Parameters
    ----------
    normalized_shape : int or sequence of int
        The trailing shape to normalise over.
    eps : float
        Added to the variance for numerical stability.
    elementwise_affine : bool
        Learn ``weight`` (and ``bias``).
    bias : bool
        With ``elementwise_affine``, learn the shift too.
    dtype : dtype, optional
        Parameter dtype (the default dtype when None).
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, *,
                 dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(normalized_shape)
        if not shape or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
            raise ValueError(
                f"LayerNorm: normalized_shape must be a positive int or a non-empty sequence "
                f"of them, got {normalized_shape!r}"
            )
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = dtype or get_default_dtype()
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """Weight 1, bias 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        try:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{self!r}: {e}") from None

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
