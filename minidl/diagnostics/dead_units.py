"""Dead units: ReLU-family units that never leave the flat (or negative) side of the kink.

A unit is *dead on a dataset* when its pre-activation is <= 0 for every example. For ReLU
and ReLU6 that is exactly "the output is 0 for every example": such a unit passes no
gradient (ReLU'(x) = 0 for x <= 0), so its incoming weights and bias never change again.
For LeakyReLU, PReLU, RReLU, ELU, CELU and SELU the same test means "never in the linear
regime"; those units still pass a (small) gradient, which is why they can come back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minidl.autograd import no_grad
from minidl.diagnostics.probe import LayerSpec, Probe, select_layers
from minidl.nn.module import Module
from minidl.tensor import Tensor

#: The activation classes (by name) whose units can be dead in the sense above.
RELU_FAMILY: tuple[str, ...] = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU",
                                "SELU")


def _is_relu_family(module: Module) -> bool:
    return type(module).__name__ in RELU_FAMILY


def _relu_layers(model: Module, layers: LayerSpec | None, probe: str) -> list[tuple[str, Module]]:
    chosen = select_layers(model, layers, _is_relu_family, "ReLU-family layers", probe)
    for name, module in chosen:
        if not _is_relu_family(module):
            raise TypeError(f"{probe}: layer {name!r} is a {type(module).__name__}; dead units "
                            f"are defined for {', '.join(RELU_FAMILY)}")
    return chosen


class LayerDeadUnits:
    """Which units of one layer have been alive (pre-activation > 0) at least once.

    Attributes
    ----------
    alive : ndarray of bool or None
        One entry per unit, None before the first batch.
    examples : int
        Examples seen.
    """

    def __init__(self, name: str, module: Module) -> None:
        self.name = name
        self.type = type(module).__name__
        self.reset()

    def reset(self) -> None:
        self.alive: np.ndarray | None = None
        self.examples = 0

    def update(self, x: np.ndarray) -> None:
        if x.ndim < 2:
            raise ValueError(f"DeadUnits: layer {self.name!r} ({self.type}) got an input of "
                             f"shape {x.shape}; expected a batch (N, F) or (N, C, ...)")
        # Unit = axis 1: a feature of (N, F), a channel of (N, C, H, W). The max over the
        # other axes is > 0 exactly when the unit is positive somewhere in the batch.
        axes = (0, *range(2, x.ndim))
        batch_alive = x.max(axis=axes) > 0 if x.shape[0] else np.zeros(x.shape[1], bool)
        if self.alive is None:
            self.alive = batch_alive
        elif self.alive.shape != batch_alive.shape:
            raise ValueError(f"DeadUnits: layer {self.name!r} ({self.type}) had "
                             f"{self.alive.size} units (axis 1 of its input) and now gets "
                             f"an input of shape {x.shape}")
        else:
            self.alive |= batch_alive
        self.examples += x.shape[0]

    @property
    def dead_fraction(self) -> float | None:
        return None if self.alive is None else 1.0 - float(self.alive.mean())

    def row(self) -> dict[str, Any]:
        units = None if self.alive is None else int(self.alive.size)
        dead = None if self.alive is None else int(units - np.count_nonzero(self.alive))
        return {"layer": self.name, "type": self.type, "examples": self.examples,
                "units": units, "dead": dead, "dead_frac": self.dead_fraction}


class DeadUnits(Probe):
    """Find the units that are dead for every example seen while attached.

    Parameters
    ----------
    model : Module
    layers : str, type or iterable of them, optional
        Names (from ``model.named_modules()``) and/or classes of ReLU-family layers
        (``RELU_FAMILY``); default all of them.

    Notes
    -----
    A unit is an index along axis 1 of the layer's input: a feature for (N, F) inputs, a
    channel for (N, C, H, W) (a channel is alive if any position of any example is
    positive). It is *dead* when its pre-activation (the layer's input, read before the
    layer runs, so in-place activations are measured correctly) is <= 0 for every example:
    for ReLU and ReLU6 exactly the units whose output is always 0; for LeakyReLU, PReLU,
    RReLU, ELU, CELU and SELU the units never in the linear regime.

    ``dead_fraction()`` = dead units / units, per layer. For a whole dataset use
    :func:`dead_fraction`, which runs the model in evaluation mode; over training, use
    :class:`DeadUnitTracker`.
    """

    def __init__(self, model: Module, layers: LayerSpec | None = None) -> None:
        super().__init__()
        chosen = _relu_layers(model, layers, "DeadUnits")
        self.layers: dict[str, LayerDeadUnits] = {n: LayerDeadUnits(n, m) for n, m in chosen}
        for name, module in chosen:
            self._handles.append(module.register_forward_pre_hook(self._hook(self.layers[name])))

    @staticmethod
    def _hook(layer: LayerDeadUnits) -> Callable:
        def record(module: Module, inputs: tuple) -> None:
            if not inputs or not isinstance(inputs[0], Tensor):
                raise TypeError(f"DeadUnits: layer {layer.name!r} ({layer.type}) was called "
                                "without a Tensor input")
            layer.update(inputs[0].data)
        return record

    def dead_fraction(self) -> dict[str, float | None]:
        """``{layer: fraction of its units dead so far}`` (None before any data)."""
        return {name: layer.dead_fraction for name, layer in self.layers.items()}

    def dead_masks(self) -> dict[str, np.ndarray | None]:
        """``{layer: boolean array, True for each dead unit}``."""
        return {name: None if layer.alive is None else ~layer.alive
                for name, layer in self.layers.items()}

    def summary(self) -> list[dict[str, Any]]:
        """One row per layer: ``layer``, ``type``, ``examples``, ``units``, ``dead``,
        ``dead_frac``."""
        return [layer.row() for layer in self.layers.values()]

    def reset(self) -> None:
        """Forget the examples seen (start a new dataset pass)."""
        for layer in self.layers.values():
            layer.reset()


def _inputs(batch: Any) -> Any:
    """The model input of a loader's batch: ``x`` of ``(x, y)``, or the batch itself."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def dead_fraction(model: Module, loader: Iterable,
                  layers: LayerSpec | None = None) -> dict[str, float]:
    """Fraction of dead units per ReLU-family layer over a whole pass of ``loader``.

    The model runs in evaluation mode (dropout off, RReLU at its mean slope) without
    recording a graph; every module's train/eval mode is restored afterwards.

    Parameters
    ----------
    model : Module
    loader : iterable
        Batches ``(x, y)`` (as from ``minidl.data.DataLoader``) or plain inputs ``x``.
    layers : optional
        As for :class:`DeadUnits`.

    Returns
    -------
    dict
        ``{layer name: dead units / units}``.
    """
    probe = DeadUnits(model, layers)
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                model(_inputs(batch))
    finally:
        for module, mode in modes:
            module.training = mode
        probe.remove()
    result = probe.dead_fraction()
    if any(f is None for f in result.values()):
        raise ValueError("dead_fraction: the loader yielded no examples")
    return result


class DeadUnitTracker:
    """Dead-unit fractions over training: call it after every epoch, e.g. as
    ``fit(..., on_epoch_end=tracker)``, or directly (``tracker()`` before training gives
    the fractions at initialisation, epoch 0).

    Parameters
    ----------
    model : Module
    loader : iterable
        The data the fractions are measured on (typically a fixed part of the training
        set; see :func:`dead_fraction`).
    layers : optional
        As for :class:`DeadUnits`; checked now, so a bad name fails before training.

    Attributes
    ----------
    history : list of dict
        One row per call: ``epoch`` and each layer's dead fraction under its name.
    """

    def __init__(self, model: Module, loader: Iterable, layers: LayerSpec | None = None) -> None:
        chosen = _relu_layers(model, layers, "DeadUnitTracker")
        self.model = model
        self.loader = loader
        self.names = [name for name, _ in chosen]
        self.history: list[dict[str, Any]] = []

    def __call__(self, record: dict | None = None) -> dict[str, float]:
        """Measure now; ``record`` is ``fit``'s epoch record (its ``epoch`` is used)."""
        fractions = dead_fraction(self.model, self.loader, self.names)
        epoch = record["epoch"] if record and "epoch" in record else len(self.history)
        self.history.append({"epoch": epoch, **fractions})
        return fractions

    def series(self, layer: str) -> np.ndarray:
        """The dead fraction of ``layer`` at each measurement."""
        if layer not in self.names:
            raise KeyError(f"DeadUnitTracker: no layer {layer!r}; tracked: {self.names}")
        return np.array([row[layer] for row in self.history])
