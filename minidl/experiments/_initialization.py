"""Initialisation: N(0,1), Xavier, Kaiming and LeCun through depth and in training."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Initialisation: N(0,1), Xavier, Kaiming and LeCun through depth and in training"


def initialization(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Initialisation: N(0,1), Xavier, Kaiming and LeCun through depth and in training.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("initialization", quick, seed, **options)
