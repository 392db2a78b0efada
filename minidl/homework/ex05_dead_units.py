"""ex05_dead_units: count the dead units of ReLU layers.

A unit is dead on a data set when its pre-activation (the input of the ReLU) is <= 0 for
every example: its output is then always 0 and, because ReLU'(x) = 0 for x <= 0, no
gradient ever reaches its weights again. The student writes

* ``count_dead_units(pre_activations)``: the number of dead units in one layer, given the
  pre-activations of a whole data set, ``(N, units)`` or ``(N, channels, H, W)`` (a unit of
  a convolution is a channel, alive if it is positive anywhere in any example);
* ``dead_units_per_layer(model, x)``: that count for every ``nn.ReLU`` of an
  ``nn.Sequential``, in order.

The cases use hand-made pre-activations for the first and compare the second with
``minidl.diagnostics.DeadUnits``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from minidl import nn
from minidl.autograd import no_grad
from minidl.diagnostics import DeadUnits
from minidl.homework._check import Case, CaseFailure, Exercise, FunctionSpec, as_number, returned
from minidl.tensor import Tensor

DEAD_HINT = ("A unit (a column of the (N, units) array) is dead when its pre-activation is "
             "<= 0 for every example (every row); one positive value anywhere keeps it alive.")
ZERO_HINT = ("ReLU'(0) = 0, so a pre-activation of exactly 0 passes no gradient either: "
             "<= 0, not < 0.")
CONV_HINT = ("For (N, channels, H, W) pre-activations the units are the channels (axis 1): a "
             "channel is alive if it is positive at any position of any example.")
LAYER_HINT = ("Run x through the layers of the Sequential one at a time (a Sequential can be "
              "looped over) and count the dead units of the input of each nn.ReLU, in order; "
              "no other layer counts.")


def _pre_activations(kind: str) -> np.ndarray:
    rng = np.random.default_rng(5)
    if kind == "alive":
        z = rng.normal(size=(8, 6))
        z[np.arange(6), np.arange(6)] = np.abs(z[np.arange(6), np.arange(6)]) + 0.1
        return z  # every column has a positive entry
    if kind == "negative":
        z = rng.normal(size=(10, 7))
        z[:, [1, 4, 5]] = -np.abs(z[:, [1, 4, 5]]) - 0.1
        z[0, [0, 2, 3, 6]] = 1.0
        return z  # dead: 1, 4, 5
    if kind == "zero":
        z = -np.abs(rng.normal(size=(6, 5)))
        z[:, 2] = 0.0
        z[:, 3] = 0.0
        z[3, 3] = -1.0
        z[2, [0, 1, 4]] = 0.5
        return z  # dead: 2 (all 0) and 3 (0 or negative)
    if kind == "single":
        z = -np.abs(rng.normal(size=(50, 4)))
        z[17, 1] = 1e-3
        z[49, 3] = 2.0
        return z  # dead: 0 and 2
    z = -np.abs(rng.normal(size=(4, 5, 3, 3)))  # "conv": (N, C, H, W)
    z[2, 1, 0, 2] = 0.3
    z[0, 3, 1, 1] = 1.0
    return z  # dead: channels 0, 2 and 4


CASES = {  # kind: (description, expected count, hint)
    "alive": ("every unit is positive for some example", 0, DEAD_HINT),
    "negative": ("3 of 7 units are negative for every example", 3, DEAD_HINT),
    "zero": ("2 of 5 units are never positive, some exactly 0", 2, ZERO_HINT),
    "single": ("2 of 4 units are alive for a single example each", 2, DEAD_HINT),
    "conv": ("(N, C, H, W) = (4, 5, 3, 3); 2 channels are positive at one position", 3,
             CONV_HINT),
}


def _count_case(kind: str) -> Callable[[SimpleNamespace], None]:
    description, expected, hint = CASES[kind]

    def run(s: SimpleNamespace) -> None:
        z = _pre_activations(kind)
        inputs = f"count_dead_units(z) for z of shape {z.shape}: {description}"
        got = as_number(s.count_dead_units(z.copy()), "count_dead_units", inputs)
        if got != expected:
            raise CaseFailure(inputs, expected=f"{expected} dead units", got=f"{got:g}",
                              hint=hint)
    return run


def _model(middle: nn.Module, biases: dict[int, list[int]]) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), middle,
                          nn.Linear(8, 3))
    for index, units in biases.items():
        model[index].bias.data[units] = -100.0  # never positive for inputs of this size
    return model


def _reference(model: nn.Module, x: Tensor) -> list[int]:
    with DeadUnits(model) as probe, no_grad():
        model(x)
    return [int(mask.sum()) for mask in probe.dead_masks().values()]


def _layers_case(middle: Callable[[], nn.Module], biases: dict[int, list[int]],
                 description: str) -> Callable[[SimpleNamespace], None]:
    def run(s: SimpleNamespace) -> None:
        model = _model(middle(), biases)
        x = Tensor(np.random.default_rng(7).normal(size=(64, 6)).astype(np.float32))
        expected = _reference(model, x)
        inputs = f"dead_units_per_layer(model, x) for x of shape (64, 6) and {description}"
        got = returned(s.dead_units_per_layer(model, x), "dead_units_per_layer", inputs)
        try:
            got = [int(n) for n in got]
        except (TypeError, ValueError):
            raise CaseFailure(inputs, problem="dead_units_per_layer should return a list of "
                                              "counts, one per nn.ReLU",
                              got=repr(got)[:200], hint=LAYER_HINT) from None
        if got != expected:
            raise CaseFailure(inputs, expected=f"{expected} (one count per nn.ReLU, in order)",
                              got=str(got), hint=LAYER_HINT)
    return run


EXERCISE = Exercise(
    id="ex05_dead_units",
    title="counting dead ReLU units",
    functions=(FunctionSpec("count_dead_units", "(pre_activations)", 1),
               FunctionSpec("dead_units_per_layer", "(model, x)", 2)),
    cases=(
        Case("count_dead_units: no dead units", _count_case("alive"), DEAD_HINT),
        Case("count_dead_units: units negative for every example", _count_case("negative"),
             DEAD_HINT),
        Case("count_dead_units: a pre-activation of exactly 0 counts as dead",
             _count_case("zero"), ZERO_HINT),
        Case("count_dead_units: one positive example keeps a unit alive",
             _count_case("single"), DEAD_HINT),
        Case("count_dead_units: convolution pre-activations, one unit per channel",
             _count_case("conv"), CONV_HINT),
        Case("dead_units_per_layer: two ReLU layers",
             _layers_case(nn.ReLU, {0: [1, 4, 7], 2: [0, 5]},
                          "model = Linear(6, 10), ReLU, Linear(10, 8), ReLU, Linear(8, 3), "
                          "some biases set to −100"),
             LAYER_HINT),
        Case("dead_units_per_layer: only nn.ReLU layers count",
             _layers_case(nn.Tanh, {0: [2, 3]},
                          "model = Linear(6, 10), ReLU, Linear(10, 8), Tanh, Linear(8, 3), "
                          "some biases set to −100"),
             LAYER_HINT),
    ),
)
