"""Named, seeded experiments: each reproduces one phenomenon of training, with tables and
figures.

>>> from minidl import experiments
>>> result = experiments.vanishing_gradients(quick=True, seed=0)   # doctest: +SKIP
>>> print(result.to_markdown())                                    # doctest: +SKIP

Each experiment takes ``quick`` (small data and few epochs) and ``seed`` (one or several),
plus the options of ``run``: ``out`` (save figures, ``report.md`` and each run's result, and
resume an interrupted sweep), ``workers`` (a local process pool) or ``executor`` (any
``concurrent.futures.Executor``). ``minidl run NAME`` does the same from the shell.
"""

from minidl.experiments._activation_gallery import activation_gallery
from minidl.experiments._activation_shootout import activation_shootout
from minidl.experiments._dead_relu import dead_relu
from minidl.experiments._exploding_gradients import exploding_gradients
from minidl.experiments._initialization import initialization
from minidl.experiments._relu_family import relu_family
from minidl.experiments._self_normalization import self_normalization
from minidl.experiments._vanishing_gradients import vanishing_gradients
from minidl.experiments.runner import ExperimentResult, Report, available, quick_default, run

__all__ = [
    "ExperimentResult",
    "Report",
    "activation_gallery",
    "activation_shootout",
    "available",
    "dead_relu",
    "exploding_gradients",
    "initialization",
    "quick_default",
    "relu_family",
    "run",
    "self_normalization",
    "vanishing_gradients",
]
