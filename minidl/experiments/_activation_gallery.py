"""Every registered activation and its derivative: the gallery, and a table of values.

An activation's derivative decides how a gradient passes through it: backpropagation
multiplies the incoming gradient by ``f'(z)`` at every unit, so a region where ``f'`` is 0
stops learning there (ReLU's negative half), a derivative below 1 everywhere shrinks the
gradient at every layer (sigmoid: ``max f' = f'(0) = 1/4``), and a derivative that tends to
0 for large ``|z|`` (saturation) kills the gradient of units pushed far from 0.

All numbers come from minidl's own kernels (``minidl.plot.activation_values``), with each
activation's default parameters, so the table shows what the library computes, kinks
included (e.g. the derivative it uses at ReLU's kink ``x = 0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.experiments import runner
from minidl.experiments.runner import ExperimentResult, Report
from minidl.kernels.activations import REGISTRY
from minidl.plot import activation_gallery as gallery_figure
from minidl.plot import activation_values

TITLE = "Every registered activation and its derivative"

#: Where the values table samples each activation and its derivative.
POINTS = (-3.0, -1.0, 0.0, 1.0, 3.0)
#: Far enough out to read the limits x → ±∞ (every kernel is stable there).
FAR = 1e6
#: Beyond this, |f(±FAR)| counts as unbounded.
UNBOUNDED = 1e3
#: The window whose share with f' = 0 ("dead") or f' = 1 ("identity") is measured.
WINDOW = (-5.0, 5.0)


def plan(quick: bool, seeds: list[int]) -> list[dict]:
    """One run: the gallery is deterministic, so the seed (the first one) changes nothing."""
    return [{"key": "gallery", "seed": seeds[0], "points": list(POINTS)}]


def _shape(name: str) -> dict[str, Any]:
    """Range, extreme slopes, limits of f' and dead/identity shares of one activation."""
    y_far, dy_far = activation_values(name, np.array([-FAR, FAR]))
    y, dy = activation_values(name, np.linspace(-10.0, 10.0, 2001))
    # The infimum and supremum over the whole line: the grid (for minima inside it, such
    # as SiLU's) and the far limits (for asymptotes such as sigmoid's 0 and 1). None: ∓∞.
    values = np.concatenate([y, y_far])
    inf = None if y_far[0] < -UNBOUNDED else float(values.min())
    sup = None if y_far[1] > UNBOUNDED else float(values.max())
    # Midpoints of a grid of step 0.01: no sample falls on a kink, so each share is the
    # length of the region (over the window's length), not a count of isolated points.
    edges = np.linspace(*WINDOW, 1001)
    _, dw = activation_values(name, (edges[:-1] + edges[1:]) / 2)
    return {"inf": inf, "sup": sup, "min_slope": float(dy.min()), "max_slope": float(dy.max()),
            "slope_left": float(dy_far[0]), "slope_right": float(dy_far[1]),
            "dead_share": float(np.mean(dw == 0.0)),
            "identity_share": float(np.mean(dw == 1.0))}


def run(spec: dict) -> dict:
    """Each registered activation (in registry order) with its module, default parameters,
    formula, values and derivatives at ``spec["points"]`` and its shape (see ``_shape``)."""
    points = np.array(spec["points"], dtype=np.float64)
    rows = []
    for name, act in REGISTRY.items():
        y, dy = activation_values(name, points)
        rows.append({"name": name, "module": act.module, "formula": act.formula,
                     "params": act.params,
                     "f": y.tolist(), "df": dy.tolist(), **_shape(name)})
    return {"points": spec["points"], "activations": rows}


def _saturation(row: dict) -> str:
    """Where f' tends to 0: the side(s) on which a unit can stop learning for good."""
    sides = [side for side, slope in (("x → -∞", row["slope_left"]),
                                      ("x → +∞", row["slope_right"])) if abs(slope) < 1e-6]
    return "both sides" if len(sides) == 2 else sides[0] if sides else "never"


def report(runs: list[tuple[dict, dict]], quick: bool, seeds: list[int]) -> Report:
    """Three tables (definitions; values and derivatives; range and saturation) and the
    gallery figure."""
    (_, result), = runs
    acts, points = result["activations"], result["points"]
    definitions = [{"activation": a["name"], "module": f"nn.{a['module']}",
                    "parameters": ", ".join(f"{k}={v:.4g}" for k, v in a["params"].items())
                    or "-", "formula": a["formula"]} for a in acts]
    values = [{"activation": a["name"],
               **{f"f({p:g})": v for p, v in zip(points, a["f"], strict=True)},
               **{f"f'({p:g})": v for p, v in zip(points, a["df"], strict=True)}}
              for a in acts]
    shape = [{"activation": a["name"],
              "inf f": "-∞" if a["inf"] is None else a["inf"],
              "sup f": "∞" if a["sup"] is None else a["sup"],
              "min f'": a["min_slope"], "max f'": a["max_slope"],
              "f'(-∞)": a["slope_left"], "f'(+∞)": a["slope_right"],
              "f' → 0 as": _saturation(a),
              f"share of [{WINDOW[0]:g}, {WINDOW[1]:g}] with f' = 0": a["dead_share"],
              "with f' = 1": a["identity_share"]} for a in acts]

    sigmoid = next(a for a in acts if a["name"] == "sigmoid")
    dead = [f"{a['name']} ({a['dead_share']:.0%})" for a in acts if a["dead_share"] > 0]
    saturating = [a["name"] for a in acts if _saturation(a) == "both sides"]
    above_one = [a["name"] for a in acts if a["max_slope"] > 1.0 + 1e-9]
    text = [
        f"Each of the {len(acts)} registered activations (functional name, as in "
        "`minidl.activations.get`) beside its derivative, computed by minidl's own kernels "
        "with the default parameters (PReLU at its initial slope, RReLU at its evaluation "
        "slope (lower + upper)/2). Backpropagation multiplies the gradient by f'(z) at "
        "every unit, so the derivative column is the per-layer factor of the chain rule.",
        f"Vanishing gradients start here: the sigmoid's derivative is at most "
        f"{sigmoid['max_slope']:.4g} (at x = 0), so every sigmoid layer shrinks the gradient "
        f"by at least 4x unless its weights make up for it (see `vanishing_gradients`). "
        f"Saturating on both sides (f' → 0 as |x| → ∞): {', '.join(saturating)}. A zero "
        f"derivative on part of [{WINDOW[0]:g}, {WINDOW[1]:g}], where a unit gets no gradient "
        f"at all (the share of the window): "
        f"{', '.join(dead)}. Slopes above 1 somewhere (a chain of them can grow a "
        f"gradient): {', '.join(above_one)}.",
        "`inf f` and `sup f` are the infimum and supremum over the whole line (∓∞: "
        "unbounded); f'(±∞) are the derivatives at x = ±10⁶; min f' and max f' are "
        "taken on [-10, 10]; the shares are the fractions of the window where f' is exactly "
        "0 (a unit there gets no gradient) or exactly 1 (the gradient passes unchanged).",
    ]
    names = [a["name"] for a in acts]
    return Report(tables={"Definitions": definitions, "Values and derivatives": values,
                          "Range, slopes and saturation": shape},
                  figures={"activation_gallery": gallery_figure(
                      names, title="Activations (solid) and their derivatives (dashed)")},
                  text=text)


def activation_gallery(quick: bool = False, seed: int | list[int] = 0,
        **options: Any) -> ExperimentResult:
    """Every registered activation and its derivative, with a table of their values.

    For each activation f of the registry: the gallery figure (f beside f'), f and f' at
    x = -3, -1, 0, 1, 3, and its shape: inf f and sup f over the line, the extreme slopes,
    f'(±∞), whether it saturates (f' → 0 as x → ±∞) and the share of [-5, 5] where
    f' = 0 (dead units) or f' = 1. The chain rule multiplies the gradient by f'(z) at
    every layer, so this table predicts which activations let gradients vanish: the
    sigmoid's f' ≤ 1/4 shrinks a gradient at least 4x per layer.

    Parameters
    ----------
    quick : bool
        Ignored: the gallery is cheap and deterministic.
    seed : int or list of int
        Ignored apart from naming the run (nothing is random).
    **options
        ``out``, ``workers``, ``executor``, ``progress``: as for
        ``minidl.experiments.run``.

    Returns
    -------
    ExperimentResult
        Tables ``"Definitions"``, ``"Values and derivatives"`` and ``"Range, slopes and
        saturation"``; figure ``"activation_gallery"``.
    """
    return runner.run("activation_gallery", quick, seed, **options)
