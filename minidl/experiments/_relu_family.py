"""The ReLU family (Xu et al. 2015): ReLU, Leaky ReLU, PReLU, RReLU on (Fashion-)MNIST."""

from __future__ import annotations

from typing import Any

from minidl.experiments.runner import ExperimentResult, run

TITLE = "The ReLU family (Xu et al. 2015): ReLU, Leaky ReLU, PReLU, RReLU on (Fashion-)MNIST"


def relu_family(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """The ReLU family (Xu et al. 2015): ReLU, Leaky ReLU, PReLU, RReLU on (Fashion-)MNIST.

    Options (``out``, ``workers``, ``executor``, ``progress``) are those of
    ``minidl.experiments.run``.
    """
    return run("relu_family", quick, seed, **options)
