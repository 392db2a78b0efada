"""Dead ReLU units: how they die and what keeps them alive."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Dead ReLU units: how they die and what keeps them alive"


def dead_relu(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Dead ReLU units: how they die and what keeps them alive.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("dead_relu", quick, seed, **options)
