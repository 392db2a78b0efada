"""Vanishing gradients: per-layer speed of learning in sigmoid, tanh and ReLU MLPs."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Vanishing gradients: per-layer speed of learning in sigmoid, tanh and ReLU MLPs"


def vanishing_gradients(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Vanishing gradients: per-layer speed of learning in sigmoid, tanh and ReLU MLPs.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("vanishing_gradients", quick, seed, **options)
