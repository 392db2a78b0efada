"""Adagrad: each parameter's step shrinks with the sum of its squared gradients so far."""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.optim.optimizer import Optimizer, ParamsLike


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    Parameters that rarely get a gradient (weights of rarely non-zero input features, of
    rarely active units) accumulate little, so they keep large steps when they do get
    one, while frequently updated ones slow down: one step size then suits badly scaled
    features.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float
        Learning rate γ.
    lr_decay : float
        η: the learning rate at step t is ``γ / (1 + (t - 1) η)``.
    weight_decay : float
        L2 penalty λ, added to the gradient as ``λ θ``.
    initial_accumulator_value : float
        The starting value of the sum of squared gradients, s.
    eps : float
        ε, added to the denominator so that it is never zero.
    maximize : bool
        Maximise the objective instead of minimising it.

    Notes
    -----
    For each parameter θ with gradient g, at step t = 1, 2, ...::

        g ← -g                              if maximize
        g ← g + λ θ                         if λ ≠ 0
        γ_t = γ / (1 + (t - 1) η)
        s ← s + g²
        θ ← θ - γ_t g / (√s + ε)

    Since s only grows, the effective step size only shrinks: good for convex problems,
    often too aggressive for long deep-network training (RMSprop and Adam use running
    averages instead of a sum).

    References
    ----------
    .. [1] J. Duchi, E. Hazan, Y. Singer, "Adaptive Subgradient Methods for Online
       Learning and Stochastic Optimization", JMLR 12 (2011).
    """

    nonnegative_options = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                           "eps")

    def __init__(self, params: ParamsLike, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(param, group["initial_accumulator_value"])}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], work: np.ndarray) -> None:
        state["step"] = t = state["step"] + 1
        g = self._effective_grad(param, grad, group["maximize"], group["weight_decay"])
        lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])

        s = state["sum"]
        np.multiply(g, g, out=work)
        s += work
        np.sqrt(s, out=work)
        work += group["eps"]
        np.divide(g, work, out=work)
        work *= -lr_t
        param += work
