"""A tiny experiment for the runner's tests: each run draws from minidl's seeded generator
and, when TOY_CALLS is set, leaves a file there so a test can count the runs executed."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

from minidl import random
from minidl.experiments.runner import Report

TITLE = "Toy experiment"


def plan(quick: bool, seeds: list[int]) -> list[dict]:
    sizes = (2,) if quick else (2, 3)
    return [{"key": f"n{n}-seed{s}", "n": n, "seed": s} for n in sizes for s in seeds]


def run(spec: dict) -> dict:
    if os.environ.get("TOY_CALLS"):
        Path(os.environ["TOY_CALLS"], f"{spec['key']}-{os.getpid()}").touch()
    if spec["n"] < 0:
        raise ValueError("toy: n must be non-negative")
    draws = random.generator().standard_normal(spec["n"])
    return {"draws": draws, "total": draws.sum(), "nan": float("nan"),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}


def report(runs: list[tuple[dict, dict]], quick: bool, seeds: list[int]) -> Report:
    fig, ax = plt.subplots()
    ax.plot([r["total"] for _, r in runs])
    rows = [{"key": spec["key"], "total": r["total"]} for spec, r in runs]
    return Report({"Totals": rows}, {"totals": fig}, ["Sums of normal draws."])
