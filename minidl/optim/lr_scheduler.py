"""Learning-rate schedules: change each parameter group's ``lr`` as the epochs go by.

Typical use: one ``scheduler.step()`` per epoch, after that epoch's optimiser steps::

    opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = minidl.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from minidl.optim.optimizer import Optimizer


class LRScheduler:
    """Base class of learning-rate schedulers, as ``torch.optim.lr_scheduler.LRScheduler``.

    A subclass defines ``get_lr()``: the learning rate of each group at epoch
    ``last_epoch``, as a function of the group's initial learning rate.

    Parameters
    ----------
    optimizer : Optimizer
        The optimiser whose groups' ``lr`` this scheduler sets.
    last_epoch : int
        The index of the last epoch done; -1 (the default) starts a new schedule. Any
        other value resumes one, and needs ``'initial_lr'`` in every group (as an
        optimiser restored with ``load_state_dict`` has).

    Attributes
    ----------
    base_lrs : list of float
        Each group's initial learning rate (also recorded in the group as ``'initial_lr'``).
    last_epoch : int
        The epoch whose learning rates the groups hold now.

    Notes
    -----
    The constructor makes the first step, to epoch ``last_epoch + 1`` (epoch 0 for a new
    schedule, where every learning rate is the initial one).

    PyTorch computes most schedules recursively from each group's current ``lr`` (so that
    several schedulers can be chained on one optimiser); minidl computes each learning
    rate directly from the initial one, which gives the same sequence for one scheduler
    and reads as the formula it is.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                    f"a scheduler with last_epoch={last_epoch}; load the optimizer's "
                    "state_dict first, or start a new schedule with last_epoch=-1"
                )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch: set every group's ``lr`` to its value there."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything the scheduler holds except the optimiser (copied)."""
        return copy.deepcopy({k: v for k, v in vars(self).items() if k != "optimizer"})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict`` of a scheduler of the same kind.

        Raises
        ------
        ValueError
            If the entries differ from this scheduler's (e.g. a state saved by another
            kind of scheduler); checked before anything changes.
        """
        expected = set(vars(self)) - {"optimizer"}
        if set(state_dict) != expected:
            raise ValueError(
                f"load_state_dict: {type(self).__name__} expects the entries "
                f"{sorted(expected)}, but the state dict has {sorted(state_dict)}"
            )
        vars(self).update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        The optimiser whose learning rates are set.
    step_size : int
        Number of epochs between decays.
    gamma : float
        The factor applied at each decay.
    last_epoch : int
        See ``LRScheduler``.

    Notes
    -----
    At epoch e, ``lr = initial_lr * gamma ** (e // step_size)``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** (self.last_epoch // self.step_size)
        return [base_lr * factor for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    optimizer : Optimizer
        The optimiser whose learning rates are set.
    milestones : iterable of int
        The epochs at which to decay (a milestone given twice decays twice).
    gamma : float
        The factor applied at each milestone.
    last_epoch : int
        See ``LRScheduler``.

    Notes
    -----
    At epoch e, ``lr = initial_lr * gamma ** k``, where k is the number of milestones
    ``<= e``.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** bisect_right(self.milestones, self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch.

    Parameters
    ----------
    optimizer : Optimizer
        The optimiser whose learning rates are set.
    gamma : float
        The factor applied each epoch.
    last_epoch : int
        See ``LRScheduler``.

    Notes
    -----
    At epoch e, ``lr = initial_lr * gamma ** e``.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** self.last_epoch
        return [base_lr * factor for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from its initial value to ``eta_min`` along a half cosine.

    Parameters
    ----------
    optimizer : Optimizer
        The optimiser whose learning rates are set.
    T_max : int
        The number of epochs of the descent.
    eta_min : float
        The learning rate reached at epoch ``T_max``.
    last_epoch : int
        See ``LRScheduler``.

    Notes
    -----
    At epoch e, with η_max the initial learning rate::

        lr = η_min + (η_max - η_min) (1 + cos(π e / T_max)) / 2

    computed as ``η_max - (η_max - η_min) (1 - cos(π e / T_max)) / 2`` so that epoch 0
    gives exactly η_max. Past ``T_max`` the cosine goes on: the learning rate climbs back
    to η_max at ``2 T_max`` (as in PyTorch); SGDR's warm restarts are a different
    scheduler.

    References
    ----------
    .. [1] I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with Warm
       Restarts", ICLR 2017.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        descent = (1 - math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [base_lr - (base_lr - self.eta_min) * descent for base_lr in self.base_lrs]
