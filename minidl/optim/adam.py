"""Adam and AdamW: per-parameter step sizes from running moments of the gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.optim.optimizer import Optimizer, ParamsLike


class Adam(Optimizer):
    """Adam (adaptive moment estimation), as ``torch.optim.Adam``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float
        Learning rate γ.
    betas : tuple of float
        (β1, β2): decay rates of the running averages of the gradient and of its square.
    eps : float
        ε, added to the denominator so that it is never zero.
    weight_decay : float
        L2 penalty λ, added to the gradient as ``λ θ`` (for decay applied to the weights
        directly, use ``AdamW``).
    amsgrad : bool
        Use the AMSGrad variant: divide by the largest second moment seen so far.
    maximize : bool
        Maximise the objective instead of minimising it.

    Notes
    -----
    For each parameter θ with gradient g, at step t = 1, 2, ... (m and v start at 0)::

        g ← -g                              if maximize
        g ← g + λ θ                         if λ ≠ 0
        m ← β1 m + (1 - β1) g               running mean of g
        v ← β2 v + (1 - β2) g²              running mean of g²
        m̂ = m / (1 - β1^t)                  bias corrections: m and v start at 0,
        v̂ = v / (1 - β2^t)                  so early averages are too small
        if amsgrad:
            v_max ← max(v_max, v),   v̂ = v_max / (1 - β2^t)
        θ ← θ - γ m̂ / (√v̂ + ε)

    Each element of θ thus moves by about γ at most, whatever the scale of its gradient.

    References
    ----------
    .. [1] D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    .. [2] S. J. Reddi, S. Kale, S. Kumar, "On the Convergence of Adam and Beyond",
       ICLR 2018 (AMSGrad).

    Examples
    --------
    >>> opt = minidl.optim.Adam(model.parameters(), lr=1e-3)
    """

    nonnegative_options = ("lr", "eps", "weight_decay")
    #: AdamW sets this: weight decay shrinks θ directly instead of entering the gradient.
    decoupled_weight_decay = False

    def __init__(self, params: ParamsLike, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], work: np.ndarray) -> None:
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state["step"] = t = state["step"] + 1
        if self.decoupled_weight_decay and weight_decay != 0:
            param *= 1 - lr * weight_decay
            weight_decay = 0  # applied; it must not enter the gradient as well
        g = self._effective_grad(param, grad, group["maximize"], weight_decay)

        m, v = state["exp_avg"], state["exp_avg_sq"]
        # m ← m + (1 - β1)(g - m), the same average written as PyTorch's lerp.
        np.subtract(g, m, out=work)
        work *= 1 - beta1
        m += work
        v *= beta2
        np.multiply(g, g, out=work)
        work *= 1 - beta2
        v += work
        if group["amsgrad"]:  # from here on, v means v_max
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])

        # The bias corrections are folded into two scalars rather than applied to m and v.
        step_size = lr / (1 - beta1 ** t)
        np.sqrt(v, out=work)
        work /= (1 - beta2 ** t) ** 0.5
        work += group["eps"]                   # work = √v̂ + ε
        np.divide(m, work, out=work)
        work *= -step_size
        param += work


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Parameters to optimise, or parameter groups (see ``Optimizer``).
    lr : float
        Learning rate γ.
    betas : tuple of float
        (β1, β2): decay rates of the running averages of the gradient and of its square.
    eps : float
        ε, added to the denominator so that it is never zero.
    weight_decay : float
        Decay rate λ: each step shrinks θ by the factor ``1 - γ λ``.
    amsgrad : bool
        Use the AMSGrad variant (see ``Adam``).
    maximize : bool
        Maximise the objective instead of minimising it.

    Notes
    -----
    The update is Adam's (see ``Adam``), except for how weight decay enters::

        θ ← θ (1 - γ λ)                     before the Adam update, instead of
        g ← g + λ θ                         (Adam's L2 penalty, which AdamW does not add)

    With Adam's L2 penalty, the decay term is divided by √v̂ like the rest of the
    gradient, so weights with large gradients are barely decayed. Decoupling applies the
    same relative decay to every weight.

    References
    ----------
    .. [1] I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """

    decoupled_weight_decay = True

    def __init__(self, params: ParamsLike, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
