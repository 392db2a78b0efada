"""``Optimizer``: the machinery every optimisation algorithm shares.

An optimiser owns a list of *parameter groups* (each a dict holding some parameters and
the options, such as ``lr``, that apply to them) and a per-parameter ``state`` (momentum
buffers, running averages, step counts). A subclass supplies only the algorithm:

* ``_init_state(param, group)``: the state a parameter starts with (its arrays allocated
  once, not at every step),
* ``_update(param, grad, state, group, work)``: one in-place update of one parameter,

and, for its own options, ``nonnegative_options`` and, where needed, ``_validate_group``.
Everything else (parameter groups, checking gradients, ``zero_grad``, ``state_dict``)
lives here, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minidl.autograd import enable_grad
from minidl.nn.module import Module
from minidl.tensor import Tensor, _RemovableHandle

ParamsLike = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class of optimisers: parameter groups, state, ``step`` and checkpoints.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        The parameters to optimise, or *parameter groups*: dicts with a ``'params'``
        entry and any options that should differ from ``defaults`` for those parameters,
        e.g. ``[{'params': weights}, {'params': prelu_slopes, 'weight_decay': 0}]``.
    defaults : dict
        The options (``lr``, ...) of groups that do not set their own.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``'params'`` (a list of tensors) and every option.
    state : dict
        ``state[param]`` is a dict of that parameter's running state; a parameter gets
        its entry at its first step.
    defaults : dict
        The default options.

    Notes
    -----
    ``step`` checks every gradient before it changes anything, so a bad gradient raises
    and leaves all parameters and all state as they were. Parameters whose ``.grad`` is
    None are skipped (their state does not advance).
    """

    #: Options that must be >= 0 (``_validate_group`` checks them).
    nonnegative_options: tuple[str, ...] = ("lr",)

    def __init__(self, params: ParamsLike, defaults: dict[str, Any]) -> None:
        if isinstance(params, Module) or callable(params):
            raise TypeError(
                f"the optimizer needs the parameters, got {type(params).__name__}; pass "
                "model.parameters() (with the parentheses)"
            )
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got a single {type(params).__name__}; wrap it in a list"
            )
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        # One scratch array per parameter, reused by every step for intermediate results.
        self._work: dict[Tensor, np.ndarray] = {}
        self._options_seen: dict[int, dict[str, Any]] = {}
        self._step_pre_hooks: list[Callable] = []
        self._step_post_hooks: list[Callable] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with its own options, to those being optimised.

        Useful when fine-tuning (unfreezing layers as training goes on) or to give some
        parameters different options. Options the group does not set take the
        optimiser's defaults.

        Parameters
        ----------
        param_group : dict
            ``'params'`` (a tensor or a list of tensors) and any options.

        Raises
        ------
        TypeError
            If the group is not a dict or holds something other than tensors.
        ValueError
            If an option is invalid, a parameter is not a leaf, or a parameter appears
            twice (in this group or in another one).
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs; use a list"
            )
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but parameter {i} of the group is "
                    f"a {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"can't optimize a non-leaf Tensor (parameter {i} of the group, shape "
                    f"{p.shape}); optimise the leaf it was computed from"
                )

        group = dict(param_group)
        group["params"] = params
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self._validate_group(group)

        # A set finds repeats by identity (Tensor's == compares elementwise).
        seen: set[Tensor] = set()
        for i, p in enumerate(params):
            if p in seen:
                raise ValueError(
                    f"parameter {i} of the group (shape {p.shape}) appears twice in it; "
                    "each parameter may be given once"
                )
            seen.add(p)
        if not seen.isdisjoint(self._params()):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Raise ``ValueError`` for an invalid option of ``group`` (before it is used)."""
        for name in self.nonnegative_options:
            if not group[name] >= 0:  # written so that NaN fails too
                label = _OPTION_LABELS.get(name, f"{name} value")
                raise ValueError(f"Invalid {label}: {group[name]}")

    def _params(self) -> list[Tensor]:
        """Every parameter, group by group: position ``i`` is index ``i`` of ``state_dict``."""
        return [p for group in self.param_groups for p in group["params"]]

    # ----------------------------------------------------------------- the update
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters before the next backward.

        Parameters
        ----------
        set_to_none : bool
            Set ``.grad`` to None (the default: frees the memory, and ``step`` then
            skips the parameter until a backward gives it a gradient again). With False,
            fill the existing gradient arrays with zeros instead.
        """
        for p in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.fill(0)

    def register_step_pre_hook(self, hook: Callable[[Optimizer, tuple, dict], None]
                               ) -> _RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` at the start of every ``step`` (as in
        PyTorch): the place for gradient clipping or for looking at gradients just before
        they are applied. ``handle.remove()`` unregisters it.

        >>> opt.register_step_pre_hook(lambda o, a, k: clip_grad_value_(params, 0.5))
        """
        self._step_pre_hooks.append(hook)
        return _RemovableHandle(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable[[Optimizer, tuple, dict], None]
                                ) -> _RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` at the end of every ``step``, after the
        parameters changed. ``handle.remove()`` unregisters it."""
        self._step_post_hooks.append(hook)
        return _RemovableHandle(self._step_post_hooks, hook)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place.

        Parameters
        ----------
        closure : callable, optional
            Recomputes the loss (zero_grad, forward, backward) and returns it; called with
            gradient recording on, before the update.

        Returns
        -------
        Any
            The closure's loss, or None without a closure.

        Raises
        ------
        TypeError
            If a gradient is not a floating-point NumPy array.
        RuntimeError
            If a gradient's shape differs from its parameter's.

        Both are raised before any parameter or state changes.
        """
        for hook in list(self._step_pre_hooks):
            hook(self, (closure,), {})
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._check_grads()
        self._ensure_state()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                work = self._work.get(p)
                if work is None:
                    work = self._work[p] = np.empty_like(p.data)
                self._update(p.data, p.grad, state, group, work)
        for hook in list(self._step_post_hooks):
            hook(self, (closure,), {})
        return loss

    def _ensure_state(self) -> None:
        """Create all the state this step needs before updating anything, so that a step
        never stops half-way: new parameters get fresh state, and options switched on since
        the last step (e.g. ``amsgrad``) get their entries, zero-initialised."""
        for i, group in enumerate(self.param_groups):
            options = {k: v for k, v in group.items() if k != "params"}
            changed = self._options_seen.get(i) != options
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    self.state[p] = self._init_state(p.data, group)
                elif changed:
                    for key, value in self._init_state(p.data, group).items():
                        state.setdefault(key, value)
            self._options_seen[i] = options

    def _check_grads(self) -> None:
        """Raise if any gradient cannot be used, naming the parameter by its index."""
        for i, p in enumerate(self._params()):
            g = p.grad
            if g is None:
                continue
            if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
                kind = f"dtype {g.dtype}" if isinstance(g, np.ndarray) else type(g).__name__
                raise TypeError(
                    f"step: the gradient of parameter {i} (shape {p.shape}) is {kind}; "
                    "expected a floating-point NumPy array"
                )
            if g.shape != p.shape:
                raise RuntimeError(
                    f"step: the gradient of parameter {i} has shape {g.shape}, but the "
                    f"parameter has shape {p.shape}; they must match. Nothing was updated."
                )

    def _init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first update (all its arrays allocated)."""
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any], work: np.ndarray) -> None:
        """Update ``param`` (and ``state``) in place from ``grad``.

        ``work`` is a scratch array shaped like ``param`` that the update may overwrite,
        so that it needs no temporary arrays of its own.
        """
        raise NotImplementedError

    @staticmethod
    def _effective_grad(param: np.ndarray, grad: np.ndarray, maximize: bool,
                        weight_decay: float) -> np.ndarray:
        """The gradient the update follows: ``-grad`` to maximise, plus ``weight_decay * param``.

        This is L2 regularisation: the gradient of ``weight_decay / 2 * ||param||^2`` added
        to the loss's. Returns ``grad`` itself (no copy) when neither applies.
        """
        if weight_decay != 0:
            decayed = param * weight_decay
            if maximize:
                return np.subtract(decayed, grad, out=decayed)
            return np.add(decayed, grad, out=decayed)
        return -grad if maximize else grad

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state, in PyTorch's format, with every array copied.

        Returns
        -------
        dict
            ``'state'``: ``{index: {name: value}}`` for each parameter that has state, and
            ``'param_groups'``: one dict of options per group, whose ``'params'`` lists the
            indices of its parameters. Parameters are numbered ``0, 1, ...`` in group order,
            so the state can be loaded into an optimiser built over other parameter objects
            of the same shapes (e.g. a freshly built model).
        """
        index = {p: i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in group.items() if k != "params"},
                   "params": [index[p] for p in group["params"]]}
                  for group in self.param_groups]
        state = {index[p]: {k: v.copy() if isinstance(v, np.ndarray) else v
                            for k, v in s.items()}
                 for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict`` (arrays are copied, in each parameter's dtype).

        The saved options (``lr``, ...) replace the current ones; the parameters stay those
        of this optimiser, matched to the saved ones by position.

        Raises
        ------
        ValueError
            If the numbers of groups or of parameters per group differ, a group lacks an
            option or has an invalid one, or a parameter's saved state does not have the
            names or shapes this optimiser needs. Checked before anything changes.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"load_state_dict: the state dict has {len(saved_groups)} parameter groups, "
                f"but this optimizer has {len(self.param_groups)}"
            )
        groups = []
        param_of_index: dict[int, tuple[Tensor, dict[str, Any]]] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"load_state_dict: parameter group {i} has {len(saved['params'])} "
                    f"parameters in the state dict, but {len(group['params'])} in this optimizer"
                )
            missing = sorted(set(self.defaults) - set(saved))
            if missing:
                raise ValueError(
                    f"load_state_dict: parameter group {i} lacks the options {missing} of "
                    f"{type(self).__name__}; was it saved from another optimizer?"
                )
            new_group = {**{k: v for k, v in saved.items() if k != "params"},
                         "params": group["params"]}
            self._validate_group(new_group)
            groups.append(new_group)
            for index, p in zip(saved["params"], group["params"], strict=True):
                param_of_index[index] = (p, new_group)

        state: dict[Tensor, dict[str, Any]] = {}
        for index, saved_state in state_dict["state"].items():
            if index not in param_of_index:
                raise ValueError(
                    f"load_state_dict: the state dict has state for parameter {index}, "
                    "which is in none of its parameter groups"
                )
            p, group = param_of_index[index]
            expected = sorted(self._init_state(p.data, group))
            if sorted(saved_state) != expected:
                raise ValueError(
                    f"load_state_dict: the state of parameter {index} has the entries "
                    f"{sorted(saved_state)}, but {type(self).__name__} with these options "
                    f"keeps {expected}"
                )
            for name, value in saved_state.items():
                if isinstance(value, np.ndarray) and value.shape != p.shape:
                    raise ValueError(
                        f"load_state_dict: state '{name}' of parameter {index} has shape "
                        f"{value.shape}, but the parameter has shape {p.shape}"
                    )
            state[p] = {name: np.array(value, dtype=p.dtype) if isinstance(value, np.ndarray)
                        else value
                        for name, value in saved_state.items()}

        self.param_groups = groups
        self.state = state
        self._options_seen = {}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join([*lines, ")"])


# How PyTorch's error messages name each option ("Invalid learning rate: -1").
_OPTION_LABELS = {"lr": "learning rate", "eps": "epsilon value"}
