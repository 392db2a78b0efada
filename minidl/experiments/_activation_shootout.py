"""Activation shoot-out on the classic MNIST CNN."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Activation shoot-out on the classic MNIST CNN"


def activation_shootout(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Activation shoot-out on the classic MNIST CNN.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("activation_shootout", quick, seed, **options)
