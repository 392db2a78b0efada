"""``depth_statistics``: the mean and variance of the signal as it goes through a deep net.

With a self-normalising net (SELU + LeCun-normal init) both stay near (0, 1) through any
depth; with ReLU or tanh and their usual inits they drift towards 0 or blow up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import no_grad
from minidl.diagnostics.probe import LayerSpec, is_activation, select_layers
from minidl.nn.module import Module
from minidl.tensor import Tensor


def _is_leaf(module: Module) -> bool:
    return next(module.children(), None) is None


def depth_statistics(model: Module, x: Tensor | np.ndarray,
                     layers: LayerSpec | None = "activations") -> list[dict[str, Any]]:
    """Push one batch through ``model`` and return each chosen layer's output statistics,
    in the order the layers ran.

    Parameters
    ----------
    model : Module
        Typically a deep ``nn.Sequential``; any model works. It runs in its current
        train/eval mode (so ``AlphaDropout`` and ``Dropout`` act if it is training),
        without recording a graph.
    x : Tensor or ndarray
        The batch.
    layers : {"activations", "all"}, names, classes or None
        ``"activations"`` (the default): every activation module; ``"all"`` or None: every
        module without children (Linear, activation, dropout, ...); otherwise names from
        ``model.named_modules()`` and/or module classes.

    Returns
    -------
    list of dict
        First a row for the input (``depth`` 0, ``layer`` ``"input"``), then one per
        layer output: ``depth`` (1, 2, ... in order of execution), ``layer``, ``type``,
        ``mean`` = Σy/n and ``var`` = Σ(y - mean)²/n over all n elements of the output
        (every example and unit together), as float64.
    """
    if layers == "activations":
        chosen = select_layers(model, None, is_activation, "activation layers",
                               "depth_statistics")
    elif layers in ("all", None):
        chosen = select_layers(model, None, _is_leaf, "layers", "depth_statistics")
    else:
        chosen = select_layers(model, layers, _is_leaf, "layers", "depth_statistics")
    if not isinstance(x, (Tensor, np.ndarray)):
        raise TypeError(f"depth_statistics: x must be a Tensor or an ndarray, got "
                        f"{type(x).__name__}")
    x = x if isinstance(x, Tensor) else Tensor(x)

    rows: list[dict[str, Any]] = []

    def stats(layer: str, kind: str, y: np.ndarray) -> dict[str, Any]:
        y = y.astype(np.float64)
        return {"depth": len(rows), "layer": layer, "type": kind, "mean": float(y.mean()),
                "var": float(y.var())}

    rows.append(stats("input", "input", x.data))

    def hook_for(name: str) -> Any:
        def record(module: Module, inputs: tuple, output: Any) -> None:
            if not isinstance(output, Tensor):
                raise TypeError(f"depth_statistics: layer {name!r} ({type(module).__name__}) "
                                f"returned a {type(output).__name__}; a Tensor was expected")
            rows.append(stats(name, type(module).__name__, output.data))
        return record

    handles = [module.register_forward_hook(hook_for(name)) for name, module in chosen]
    try:
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return rows
