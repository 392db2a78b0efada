"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.optim.optimizer import Optimizer, ParamsLike


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float
        Learning rate γ.
    momentum : float
        Momentum factor μ (0 turns momentum off).
    dampening : float
        Dampening τ: the new gradient enters the momentum buffer with weight ``1 - τ``.
    weight_decay : float
        L2 penalty λ, added to the gradient as ``λ θ``.
    nesterov : bool
        Use Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
    maximize : bool
        Maximise the objective instead of minimising it.

    Notes
    -----
    For each parameter θ with gradient g, at step t = 1, 2, ...::

        g ← -g                              if maximize
        g ← g + λ θ                         if λ ≠ 0
        if μ ≠ 0:
            b ← g                           at t = 1
            b ← μ b + (1 - τ) g             at t > 1
            g ← g + μ b  if nesterov,  else  g ← b
        θ ← θ - γ g

    The momentum buffer ``b`` starts as the first gradient (not as zeros), as in PyTorch.
    This differs from Sutskever et al. (2013), who scale the velocity by the learning
    rate: PyTorch's form keeps ``b`` independent of γ, so a learning-rate schedule does
    not rescale the accumulated momentum.

    References
    ----------
    .. [1] I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
       initialization and momentum in deep learning", ICML 2013.

    Examples
    --------
    >>> opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    """

    nonnegative_options = ("lr", "momentum", "weight_decay")

    def __init__(self, params: ParamsLike, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        # The buffer is made from the first gradient, so it does not exist yet.
        return {"momentum_buffer": None} if group["momentum"] != 0 else {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], work: np.ndarray) -> None:
        momentum = group["momentum"]
        d_p = self._effective_grad(param, grad, group["maximize"], group["weight_decay"])
        if momentum != 0:
            # get: the state of a parameter first updated while momentum was 0 has no buffer.
            buf = state.get("momentum_buffer")
            if buf is None:
                # A copy: d_p may be the gradient array itself, which the next backward
                # or zero_grad changes in place.
                buf = state["momentum_buffer"] = d_p.astype(param.dtype)
            else:
                buf *= momentum
                np.multiply(d_p, 1 - group["dampening"], out=work)
                buf += work
            if group["nesterov"]:
                np.multiply(buf, momentum, out=work)
                d_p = np.add(work, d_p, out=work)
            else:
                d_p = buf
        np.multiply(d_p, -group["lr"], out=work)
        param += work
