"""``GradientNorms``: how hard each layer is being pushed, step by step.

After every backward pass, for each parameter of each chosen layer (weights and biases
separately): the gradient's L2 norm ‖g‖, the grad:data ratio ‖g‖/‖w‖ and, when the
optimizer step is reported, the update:data ratio ‖Δw‖/‖w‖. Layers whose gradient norms
differ by orders of magnitude learn at very different speeds (vanishing or exploding
gradients); an update:data ratio far from 1e-3 hints at a learning rate far off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from minidl.diagnostics.probe import LayerSpec, Probe, select_layers
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.tensor import Tensor

#: The usual guide line for log10(update:data): updates about a thousandth of the weights
#: (cs231n's rule of thumb). Much lower: the layer barely learns (learning rate too low,
#: or vanishing gradients); much higher: the steps are too large to be stable.
UPDATE_DATA_GUIDE = -3.0

STATS = ("grad_norm", "data_norm", "log10_grad_data", "log10_update_data")


def _owns_parameters(module: Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


@numba.njit(cache=True, fastmath={"reassoc"})
def _sum_squares(a):
    """Σ a² for a flat array, accumulated in float64: float32 squares would overflow
    from |a| ~ 1e19, which is exactly when exploding gradients are being watched."""
    total = 0.0
    for i in range(a.size):
        v = np.float64(a[i])
        total += v * v
    return total


@numba.njit(cache=True, fastmath={"reassoc"})
def _sum_squared_diff(a, b):
    """Σ (a - b)² for flat arrays of one shape, without writing a - b anywhere."""
    total = 0.0
    for i in range(a.size):
        d = np.float64(a[i]) - np.float64(b[i])
        total += d * d
    return total


def _norm(a: np.ndarray) -> float:
    """The L2 norm ‖a‖₂ = √(Σ a²)."""
    return math.sqrt(_sum_squares(a.reshape(-1)))


def _log10_ratio(num: float | None, den: float) -> float | None:
    """log10(num/den): None where undefined (no value, or den = 0, e.g. zero-initialised
    biases); -inf for a zero numerator (a layer that gets no gradient at all)."""
    if num is None or den == 0:
        return None
    ratio = num / den
    return math.log10(ratio) if ratio > 0 else -math.inf if ratio == 0 else math.nan


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


class GradientNorms(Probe):
    """Record per-parameter gradient norms after each backward, and update ratios.

    Parameters
    ----------
    model : Module
    layers : str, type or iterable of them, optional
        Layers that own parameters (names from ``model.named_modules()`` or classes such
        as ``nn.Linear``); default every layer with parameters of its own.

    Notes
    -----
    For a parameter ``w`` with gradient ``g`` (the gradient of one backward pass, before
    it is added to ``.grad``):

    * ``grad_norm`` = ‖g‖₂ and ``data_norm`` = ‖w‖₂;
    * ``log10_grad_data`` = log10(‖g‖ / ‖w‖);
    * ``log10_update_data`` = log10(‖w_after - w_before‖ / ‖w_before‖) around the optimizer
      step, recorded only when the step is reported: pass ``probe.wrap(optimizer)`` in
      place of the optimizer (to ``fit`` too), or call ``before_step()`` and
      ``after_step()`` around ``optimizer.step()``. ``UPDATE_DATA_GUIDE`` (-3) is the usual
      guide line.

    A *step* is one backward pass through the model: a forward of the model followed by
    the backward that reaches these parameters. ``end_epoch()`` (usable as ``fit``'s
    ``on_epoch_end``) advances the epoch number the following steps are filed under.
    Ratios are None where ‖w‖ = 0 (zero-initialised biases at the first step).

    Examples
    --------
    >>> with GradientNorms(model) as norms:
    ...     fit(model, norms.wrap(optimizer), loss_fn, loader, epochs=3,
    ...         on_epoch_end=norms.end_epoch)
    >>> print(to_markdown(norms.epoch_means()))
    """

    def __init__(self, model: Module, layers: LayerSpec | None = None) -> None:
        super().__init__()
        chosen = select_layers(model, layers, _owns_parameters, "layers with parameters",
                               "GradientNorms")
        self.params: dict[str, tuple[str, str, Parameter]] = {}
        seen: set[int] = set()
        for layer, module in chosen:
            if not _owns_parameters(module):
                raise ValueError(f"GradientNorms: layer {layer!r} ({type(module).__name__}) has "
                                 "no parameters of its own")
            for pname, param in module.named_parameters(recurse=False):
                if param.requires_grad and id(param) not in seen:
                    seen.add(id(param))
                    full = f"{layer}.{pname}" if layer else pname
                    self.params[full] = (layer, pname, param)
        if not self.params:
            raise ValueError("GradientNorms: the chosen layers have no parameters that require "
                             "grad")
        self._types = {layer: type(module).__name__ for layer, module in chosen}
        self.steps: list[dict[str, Any]] = []
        self.epoch = 1
        self._new_step = True
        self._before: dict[str, np.ndarray] = {}
        self._before_taken = False
        self._handles.append(model.register_forward_pre_hook(self._on_forward))
        for full, (_, _, param) in self.params.items():
            self._handles.append(param.register_hook(self._hook(full, param)))

    def _on_forward(self, module: Module, inputs: tuple) -> None:
        self._new_step = True

    def _hook(self, full: str, param: Parameter) -> Callable[[Tensor], None]:
        def record(grad: Tensor) -> None:
            # A parameter seen twice means a new backward pass even without a forward of
            # the whole model in between (e.g. a loss computed from a submodule).
            if self._new_step or not self.steps or full in self.steps[-1]["grad"]:
                self.steps.append({"step": len(self.steps) + 1, "epoch": self.epoch,
                                   "grad": {}, "update": {}})
                self._new_step = False
            self.steps[-1]["grad"][full] = (_norm(grad.data), _norm(param.data))
        return record

    # ----------------------------------------------------------------- the optimizer step
    def before_step(self) -> None:
        """Remember the parameters; call right before ``optimizer.step()``."""
        for full, (_, _, param) in self.params.items():
            buf = self._before.get(full)
            if buf is None or buf.shape != param.data.shape or buf.dtype != param.data.dtype:
                self._before[full] = param.data.copy()
            else:
                np.copyto(buf, param.data)
        self._before_taken = True

    def after_step(self) -> None:
        """Record ‖Δw‖ for the latest step; call right after ``optimizer.step()``."""
        if not self._before_taken:
            raise RuntimeError("GradientNorms.after_step: call before_step() before "
                               "optimizer.step(), then after_step()")
        self._before_taken = False
        if not self.steps:
            return
        step = self.steps[-1]
        for full in step["grad"]:
            after, before = self.params[full][2].data, self._before[full]
            step["update"][full] = math.sqrt(_sum_squared_diff(after.reshape(-1),
                                                               before.reshape(-1)))

    def wrap(self, optimizer: Any) -> ProbedOptimizer:
        """``optimizer`` with ``step()`` reported to this probe (for update:data ratios);
        everything else is the optimizer's own. Use it in place of the optimizer."""
        if not (callable(getattr(optimizer, "step", None)) and hasattr(optimizer, "param_groups")):
            raise TypeError(f"GradientNorms.wrap: expected a minidl.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        return ProbedOptimizer(optimizer, self)

    def end_epoch(self, record: dict | None = None) -> None:
        """Start a new epoch (``record``, from ``fit``'s ``on_epoch_end``, is not needed)."""
        self.epoch += 1

    # ----------------------------------------------------------------- results
    def rows(self) -> list[dict[str, Any]]:
        """One row per (step, parameter): ``step``, ``epoch``, ``layer``, ``param``
        (``weight``/``bias``), ``grad_norm``, ``data_norm``, ``log10_grad_data``,
        ``log10_update_data`` (None without a reported optimizer step)."""
        out = []
        for step in self.steps:
            for full, (gnorm, wnorm) in step["grad"].items():
                layer, pname, _ = self.params[full]
                out.append({"step": step["step"], "epoch": step["epoch"], "layer": layer,
                            "param": pname, "grad_norm": gnorm, "data_norm": wnorm,
                            "log10_grad_data": _log10_ratio(gnorm, wnorm),
                            "log10_update_data": _log10_ratio(step["update"].get(full), wnorm)})
        return out

    def _means(self, by_epoch: bool) -> list[dict[str, Any]]:
        order = {(layer, pname): i for i, (layer, pname, _) in enumerate(self.params.values())}
        groups: dict[tuple, list[dict]] = {}
        for row in self.rows():
            key = (row["epoch"] if by_epoch else 0, order[row["layer"], row["param"]])
            groups.setdefault(key, []).append(row)
        out = []
        for key in sorted(groups):  # epochs in order, parameters in the model's order
            rows = groups[key]
            head = {"epoch": key[0]} if by_epoch else {}
            layer, pname = rows[0]["layer"], rows[0]["param"]
            out.append({**head, "layer": layer, "type": self._types[layer], "param": pname,
                        "steps": len(rows),
                        **{s: _mean([r[s] for r in rows]) for s in STATS}})
        return out

    def epoch_means(self) -> list[dict[str, Any]]:
        """Per (epoch, layer, parameter): the mean over the epoch's steps of each statistic
        (of the log10 values for the ratios, i.e. their geometric mean)."""
        return self._means(by_epoch=True)

    def summary(self) -> list[dict[str, Any]]:
        """Per (layer, parameter): the mean over every recorded step, as in
        ``epoch_means``."""
        return self._means(by_epoch=False)

    def series(self, param: str, stat: str = "grad_norm") -> np.ndarray:
        """One statistic of one parameter (``"fc1.weight"``) per step, NaN where the step
        has no value (e.g. no gradient reached it)."""
        if param not in self.params:
            raise KeyError(f"GradientNorms: no parameter {param!r}; recorded: "
                           f"{', '.join(self.params)}")
        if stat not in STATS:
            raise ValueError(f"GradientNorms.series: stat must be one of {', '.join(STATS)}, "
                             f"got {stat!r}")
        layer, pname, _ = self.params[param]
        values = {r["step"]: r[stat] for r in self.rows()
                  if r["layer"] == layer and r["param"] == pname}
        return np.array([math.nan if values.get(s["step"]) is None else values[s["step"]]
                         for s in self.steps])

    def reset(self) -> None:
        """Forget every recorded step and start again at epoch 1."""
        self.steps.clear()
        self.epoch = 1
        self._new_step = True
        self._before_taken = False


class ProbedOptimizer:
    """An optimizer whose ``step()`` also reports to a ``GradientNorms`` probe (while it is
    attached); every other attribute is the wrapped optimizer's."""

    def __init__(self, optimizer: Any, probe: GradientNorms) -> None:
        self.optimizer = optimizer
        self.probe = probe

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if not self.probe.attached:
            return self.optimizer.step(closure)
        self.probe.before_step()
        loss = self.optimizer.step(closure)
        self.probe.after_step()
        return loss

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    def __repr__(self) -> str:
        return f"ProbedOptimizer({self.optimizer!r})"
