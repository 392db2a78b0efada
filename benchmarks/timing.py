"""Timing shared by the training-step benchmarks (imported by scripts in this folder)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_steps(fns: dict[str, Callable[[], None]], rounds: int, steps: int,
               warmup: int = 5) -> dict[str, float]:
    """Median ms per step of each variant, the variants interleaved round by round.

    Each variant first runs ``warmup`` times (compilation, caches, allocator); then every
    round times ``steps`` consecutive calls of each variant in turn, so that drift on a
    shared machine hits all of them alike.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - start) / steps * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}
