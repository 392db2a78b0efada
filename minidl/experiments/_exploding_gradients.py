"""Exploding gradients: too-large init, products of random matrices, clipping."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Exploding gradients: too-large init, products of random matrices, clipping"


def exploding_gradients(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Exploding gradients: too-large init, products of random matrices, clipping.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("exploding_gradients", quick, seed, **options)
