"""Diagnostics: probes that make the inside of training visible.

Each probe attaches hooks to any ``Module`` and records, per named layer, while the model
runs; ``remove()`` (or leaving a ``with`` block) detaches every hook. Results are lists of
dicts, one per layer, which ``to_markdown`` renders as a table.

* :class:`ActivationStats` — mean, std, fraction of zeros, saturation and histograms of
  layer outputs.
* :class:`DeadUnits`, :func:`dead_fraction`, :class:`DeadUnitTracker` — ReLU-family units
  that are never active on a dataset, once or after every epoch.
* :class:`GradientNorms` — per-layer gradient norms (weights and biases), grad:data and
  update:data ratios, per step and per epoch.
* :func:`depth_statistics` — mean and variance of each layer's output for one batch.

>>> from minidl import diagnostics, models
>>> model = models.mlp()
>>> with diagnostics.ActivationStats(model) as stats, diagnostics.GradientNorms(model) as norms:
...     loss = loss_fn(model(x), y)
...     loss.backward()
>>> print(diagnostics.to_markdown(stats.summary()))
"""

from minidl.diagnostics.activation_stats import (
    OUTPUT_RANGES,
    SATURATION_RULES,
    ActivationStats,
    LayerActivationStats,
)
from minidl.diagnostics.dead_units import (
    RELU_FAMILY,
    DeadUnits,
    DeadUnitTracker,
    LayerDeadUnits,
    dead_fraction,
)
from minidl.diagnostics.depth import depth_statistics
from minidl.diagnostics.gradient_norms import UPDATE_DATA_GUIDE, GradientNorms, ProbedOptimizer
from minidl.diagnostics.probe import Probe, chain, select_layers, to_markdown

__all__ = [
    "ActivationStats", "DeadUnitTracker", "DeadUnits", "GradientNorms", "LayerActivationStats",
    "LayerDeadUnits", "OUTPUT_RANGES", "Probe", "ProbedOptimizer", "RELU_FAMILY",
    "SATURATION_RULES", "UPDATE_DATA_GUIDE", "chain", "dead_fraction", "depth_statistics",
    "select_layers", "to_markdown",
]
