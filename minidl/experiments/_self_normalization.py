"""Self-normalisation: SELU keeps mean 0 and variance 1 through depth."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Self-normalisation: SELU keeps mean 0 and variance 1 through depth"


def self_normalization(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Self-normalisation: SELU keeps mean 0 and variance 1 through depth.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("self_normalization", quick, seed, **options)
