"""Overhead of the ``minidl.diagnostics`` probes on a training step of the MNIST MLP.

The step of benchmarks/train_mlp.py (784-256-256-10 ReLU, Adam lr 1e-3, batch 128 of real
MNIST images) with no probe, with each probe alone, and with all of them attached
(``ActivationStats`` on both ReLUs, ``DeadUnits``, ``GradientNorms`` with update ratios
through ``GradientNorms.wrap(optimizer)``). Median ms per step over interleaved rounds;
the issue's target is all probes <= 1.3x the plain step.

Usage:  python benchmarks/diagnostics.py [--rounds 9] [--steps 50]
Prints a markdown table (paste it into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable

import numpy as np
from timing import time_steps

import minidl
from minidl import data, diagnostics, models, nn, optim

BATCH = 128


def step_fn(x: minidl.Tensor, y: minidl.Tensor, probes: tuple[str, ...]) -> Callable[[], None]:
    """A training step of a fresh MLP with the named probes attached (they stay attached)."""
    minidl.manual_seed(0)
    model = models.mlp(784, (256, 256), 10, "relu")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    if "activations" in probes:
        diagnostics.ActivationStats(model)
    if "dead" in probes:
        diagnostics.DeadUnits(model)
    if "gradients" in probes:
        opt = diagnostics.GradientNorms(model).wrap(opt)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    train = data.MNIST(train=True)
    x, y = train.__getitems__(np.arange(BATCH))
    variants = {
        "no probes": (),
        "ActivationStats (2 ReLU layers, 50-bin histograms)": ("activations",),
        "DeadUnits (2 ReLU layers)": ("dead",),
        "GradientNorms (6 parameters, update ratios)": ("gradients",),
        "all three": ("activations", "dead", "gradients"),
    }
    fns = {name: step_fn(x, y, probes) for name, probes in variants.items()}
    ms = time_steps(fns, args.rounds, args.steps)
    base = ms["no probes"]
    print(f"{platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}; "
          f"median of {args.rounds} interleaved rounds of {args.steps} steps\n")
    print("| MLP training step (batch 128, Adam) | ms | ratio to no probes |")
    print("|---|---|---|")
    for name, value in ms.items():
        print(f"| {name} | {value:.2f} | {value / base:.2f} |")


if __name__ == "__main__":
    main()
