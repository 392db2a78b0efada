"""RMSprop: divide each gradient by a running root-mean-square of its recent values."""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.optim.optimizer import Optimizer, ParamsLike


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float
        Learning rate γ.
    alpha : float
        Smoothing constant α: the decay rate of the running average of g².
    eps : float
        ε, added to the denominator so that it is never zero.
    weight_decay : float
        L2 penalty λ, added to the gradient as ``λ θ``.
    momentum : float
        Momentum factor μ (0 turns momentum off).
    centered : bool
        Divide by an estimate of the gradient's standard deviation (subtracting the
        squared running mean of g) instead of its root mean square.
    maximize : bool
        Maximise the objective instead of minimising it.

    Notes
    -----
    For each parameter θ with gradient g (v, ḡ and b start at 0)::

        g ← -g                              if maximize
        g ← g + λ θ                         if λ ≠ 0
        v ← α v + (1 - α) g²                running mean of g²
        if centered:
            ḡ ← α ḡ + (1 - α) g             running mean of g
            d = √(v - ḡ²) + ε
        else:
            d = √v + ε
        if μ > 0:
            b ← μ b + g / d,   θ ← θ - γ b
        else:
            θ ← θ - γ g / d

    There is no bias correction (unlike Adam), so the first steps are larger than γ:
    after one step v = (1 - α) g², and θ moves by γ / √(1 - α) = 10 γ for α = 0.99.

    References
    ----------
    .. [1] G. Hinton, "Neural Networks for Machine Learning", lecture 6e (2012).
    .. [2] A. Graves, "Generating Sequences With Recurrent Neural Networks",
       arXiv:1308.0850 (2013) (the centered form).
    """

    nonnegative_options = ("lr", "eps", "momentum", "weight_decay", "alpha")

    def __init__(self, params: ParamsLike, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": 0, "square_avg": np.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], work: np.ndarray) -> None:
        alpha, lr = group["alpha"], group["lr"]
        state["step"] += 1
        g = self._effective_grad(param, grad, group["maximize"], group["weight_decay"])

        square_avg = state["square_avg"]
        square_avg *= alpha
        np.multiply(g, g, out=work)
        work *= 1 - alpha
        square_avg += work
        if group["centered"]:
            grad_avg = state["grad_avg"]
            # ḡ ← ḡ + (1 - α)(g - ḡ), the same average written as PyTorch's lerp.
            np.subtract(g, grad_avg, out=work)
            work *= 1 - alpha
            grad_avg += work
            np.multiply(grad_avg, grad_avg, out=work)
            np.subtract(square_avg, work, out=work)
            np.sqrt(work, out=work)
        else:
            np.sqrt(square_avg, out=work)
        work += group["eps"]                   # work = d
        np.divide(g, work, out=work)

        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += work
            np.multiply(buf, -lr, out=work)
        else:
            work *= -lr
        param += work
