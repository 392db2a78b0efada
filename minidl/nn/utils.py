"""Gradient clipping, as in ``torch.nn.utils``: call between ``backward`` and ``step``.

>>> loss.backward()
>>> total = minidl.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
>>> opt.step()
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np

from minidl.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    """The existing gradients of ``parameters`` (one tensor or an iterable of them)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        warnings.warn(
            "`parameters` is empty, so no gradient clipping will occur (a generator such as "
            "model.parameters() is used up by the first loop over it)",
            stacklevel=3,
        )
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together, in place, so that their total norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector::

        N = ‖(‖g_1‖_p, ..., ‖g_k‖_p)‖_p          (the p-norm of every element)
        c = min(max_norm / (N + 1e-6), 1)
        g_i ← c g_i                              for every gradient

    Clipping keeps the direction of the update and caps its length: the remedy of
    Pascanu et al. for exploding gradients. The 1e-6 keeps the division finite for
    N = 0, and leaves the clipped norm just under ``max_norm``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        The parameters whose ``.grad`` to clip; those without a gradient are ignored.
    max_norm : float
        The largest total norm allowed.
    norm_type : float
        p, the order of the norm: 2 (Euclidean), 1, ``math.inf`` (largest absolute
        element), or any other p > 0.
    error_if_nonfinite : bool
        Raise if the total norm is NaN or infinite (otherwise the gradients are scaled
        by the non-finite coefficient, which makes the blow-up visible downstream).

    Returns
    -------
    float
        The total norm N before clipping (0.0 if no parameter has a gradient).

    Raises
    ------
    ValueError
        If ``max_norm`` is negative.
    RuntimeError
        If ``error_if_nonfinite`` and the total norm is not finite (nothing is changed).

    References
    ----------
    .. [1] R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training recurrent
       neural networks", ICML 2013.
    """
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    norm_type = float(norm_type)
    grads = _grads(parameters)
    # An empty gradient has norm 0, which adds nothing to the total for any p.
    norms = [np.linalg.norm(g.ravel(), ord=norm_type) for g in grads if g.size]
    total_norm = 0.0
    if norms:
        total_norm = float(np.linalg.norm(np.array(norms, dtype=np.float64), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    scale = min(max_norm / (total_norm + 1e-6), 1.0)  # NaN if the norm is NaN
    if scale != 1.0:  # multiplying by 1 would change nothing: skip the pass over memory
        for g in grads:
            g *= scale
    return total_norm


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element, in place, to ``[-clip_value, clip_value]``.

    Unlike ``clip_grad_norm_``, this changes the direction of the gradient whenever some
    elements are clamped and others are not.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        The parameters whose ``.grad`` to clip; those without a gradient are ignored.
    clip_value : float
        The largest absolute value allowed.

    Raises
    ------
    ValueError
        If ``clip_value`` is negative.
    """
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
