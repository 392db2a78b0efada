"""Reference solution of ex05_dead_units."""

import numpy as np

import minidl
from minidl import nn


def count_dead_units(pre_activations):
    """Units (axis 1) never positive over all examples (and all positions)."""
    z = np.asarray(pre_activations)
    other_axes = tuple(k for k in range(z.ndim) if k != 1)
    ever_positive = (z > 0).any(axis=other_axes)
    return int((~ever_positive).sum())


def dead_units_per_layer(model, x):
    """Dead units at the input of every nn.ReLU of a Sequential, in order."""
    counts = []
    h = x
    with minidl.no_grad():
        for layer in model:
            if isinstance(layer, nn.ReLU):
                counts.append(count_dead_units(h.data))
            h = layer(h)
    return counts
