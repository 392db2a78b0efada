"""Every registered activation and its derivative."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "Every registered activation and its derivative"


def activation_gallery(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Every registered activation and its derivative.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("activation_gallery", quick, seed, **options)
