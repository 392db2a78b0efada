"""Figures (matplotlib). Each function returns the ``Figure`` so notebooks show it and
scripts can ``fig.savefig(...)``. Figures are made without pyplot, so they are not kept
open in pyplot's global list (no leak over many calls, no second copy in Jupyter).
matplotlib is imported on first use, keeping ``import minidl`` fast.

* :func:`plot_history` — loss and accuracy per epoch of one or a few runs.
* :func:`activation_gallery` — registered activations and their derivatives.
* :func:`gradient_norms` — per-layer gradient norms over training ("speed of learning").
* :func:`activation_histograms` — per-layer histograms of activation values.
* :func:`dead_units` — dead-unit fraction per layer over epochs.
* :func:`depth_profile` — mean and variance of layer outputs through depth.
* :func:`selu_map` — the SELU (mean, variance) map and its fixed point.
* :func:`runs` — loss and accuracy of several runs, mean ± std across seeds per group.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from minidl.diagnostics import ActivationStats, DeadUnitTracker, GradientNorms
    from minidl.train import History

#: Columns of panels per row in the multi-panel figures (gallery pairs, histograms).
_PANELS_PER_ROW = 4


def plot_history(history: History | Mapping[str, History], title: str | None = None,
                 val_label: str = "val") -> Any:
    """Loss (left) and accuracy (right) per epoch; training solid, validation dashed.

    Parameters
    ----------
    history : History or mapping of label -> History
        One run, or several runs to overlay (e.g. ``{"relu": h1, "tanh": h2}``).
    title : str, optional
        Figure title.
    val_label : str
        Legend name of the validation curves (e.g. "test" when the test set was used).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = dict(history) if isinstance(history, Mapping) else {"": history}
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, h) in enumerate(runs.items()):
        color = f"C{i}"
        epochs = h["epoch"]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                values = h[f"{split}_{key}"]
                if any(v is None for v in values):
                    continue
                name = f"{label} {split if split == 'train' else val_label}".strip()
                ax.plot(epochs, values, style, color=color, marker="o", label=name)
    ax_loss.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------ helpers
def _figure(rows: int, cols: int, panel: tuple[float, float] = (3.2, 2.6)) -> Any:
    """A constrained-layout Figure sized for ``rows`` x ``cols`` panels."""
    from matplotlib.figure import Figure
    if "IPython" in sys.modules and "matplotlib.pyplot" not in sys.modules:
        # Importing pyplot in a kernel sets up Jupyter's display of figures, so a returned
        # Figure shows as a picture even before any pyplot call.
        import matplotlib.pyplot  # noqa: F401
    return Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")


def _finish(ax: Any) -> None:
    """The common look: a light grid, and a legend when something is labelled."""
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _panels(fig: Any, n: int, cols: int) -> list[Any]:
    """``n`` axes on a grid ``cols`` wide, the unused cells of the last row removed."""
    rows = max(1, math.ceil(n / cols))
    axes = list(np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel())
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def _values(values: Sequence[float | None]) -> np.ndarray:
    """Floats with None (not measured) as NaN, which matplotlib leaves as a gap."""
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


# ------------------------------------------------------------------- activation gallery
def activation_values(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A registered activation and its derivative at ``x``, with default parameters.

    Parameters
    ----------
    name : str
        The functional name (``"leaky_relu"``), as in ``minidl.activations.get``.
    x : ndarray
        Inputs; computed in float64.

    Returns
    -------
    y, dy : ndarray
        ``f(x)`` and ``f'(x)`` from minidl's own kernels (the current backend), so the
        gallery shows what the library computes, kinks included.
    """
    from minidl import activations, kernels

    act = activations.get(name)
    x = np.asarray(x, dtype=np.float64)
    # Learnable parameters (PReLU's slope) are arrays in the kernels' calling convention.
    params = [np.array([d], dtype=np.float64) if p in act.dparams else float(d)
              for p, d in act.params.items()]
    y = kernels.forward(act, x, params)
    dy, _ = kernels.backward(act, x, y, np.ones_like(x), params)
    return y, dy


def activation_gallery(names: Sequence[str] | None = None,
                       x: np.ndarray | None = None, title: str | None = None) -> Any:
    """Each activation (left, solid) beside its derivative (right, dashed).

    Parameters
    ----------
    names : sequence of str, optional
        Functional names of registered activations; default all of them, in registry order.
    x : ndarray, optional
        Inputs; default ``np.linspace(-5, 5, 1001)``.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Two axes per activation, titled ``"<name>"`` and ``"<name>'"``, in pairs, two
        pairs per row.
    """
    from minidl.kernels.activations import REGISTRY

    names = list(REGISTRY) if names is None else list(names)
    x = np.linspace(-5.0, 5.0, 1001) if x is None else np.asarray(x, dtype=np.float64)
    pairs_per_row = _PANELS_PER_ROW // 2
    fig = _figure(math.ceil(len(names) / pairs_per_row), _PANELS_PER_ROW)
    axes = _panels(fig, 2 * len(names), _PANELS_PER_ROW)
    for i, name in enumerate(names):
        y, dy = activation_values(name, x)
        ax_f, ax_df = axes[2 * i], axes[2 * i + 1]
        ax_f.plot(x, y, "-", color=f"C{i % 10}")
        ax_df.plot(x, dy, "--", color=f"C{i % 10}")
        ax_f.set(title=name, xlabel="x", ylabel="f(x)")
        ax_df.set(title=f"{name}'", xlabel="x", ylabel="f'(x)")
        for ax in (ax_f, ax_df):
            ax.axhline(0.0, color="0.5", lw=0.6)
            ax.axvline(0.0, color="0.5", lw=0.6)
            _finish(ax)
    if title:
        fig.suptitle(title)
    return fig


# -------------------------------------------------------------------------- gradient norms
#: Statistics of ``GradientNorms`` rows that are already log10 ratios (plotted linearly).
_LOG10_STATS = ("log10_grad_data", "log10_update_data")
_STAT_LABELS = {
    "grad_norm": "gradient norm ‖∂L/∂w‖₂",
    "data_norm": "parameter norm ‖w‖₂",
    "log10_grad_data": "log₁₀(‖∂L/∂w‖ / ‖w‖)",
    "log10_update_data": "log₁₀(‖Δw‖ / ‖w‖)",
}


def gradient_norms(norms_or_rows: GradientNorms | Sequence[Mapping[str, Any]],
                   stat: str = "grad_norm", params: Sequence[str] = ("weight", "bias"),
                   title: str | None = None) -> Any:
    """Per-layer curves of a gradient statistic over training: the "speed of learning"
    of each layer, one panel per parameter kind.

    Parameters
    ----------
    norms_or_rows : GradientNorms or list of dict
        The probe (its ``rows()``, one point per step, layers in the model's order) or
        rows it produced: ``rows()`` (x axis: step) or ``epoch_means()`` (x axis: epoch),
        layers in the order they first appear.
    stat : str
        ``"grad_norm"`` or ``"data_norm"`` (log y axis: they span decades across layers),
        or ``"log10_grad_data"`` / ``"log10_update_data"`` (already log10; the update
        ratio gets the usual guide line at -3).
    params : sequence of str
        Parameter kinds to plot, one panel each; kinds absent from the rows are skipped.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        One line per layer (labelled with the layer name) in each panel.
    """
    from minidl.diagnostics import UPDATE_DATA_GUIDE

    if stat not in _STAT_LABELS:
        raise ValueError(f"gradient_norms: stat must be one of {', '.join(_STAT_LABELS)}, "
                         f"got {stat!r}")
    if hasattr(norms_or_rows, "rows"):
        rows = norms_or_rows.rows()
        # Rows come in backward order (last layer first); the legend reads better in the
        # model's order, which the probe's parameter table keeps.
        order = [layer for layer, _, _ in norms_or_rows.params.values()]
    else:
        rows = list(norms_or_rows)
        order = [r["layer"] for r in rows]
    if not rows:
        raise ValueError("gradient_norms: nothing recorded")
    xkey = "step" if "step" in rows[0] else "epoch"
    kinds = [p for p in params if any(r["param"] == p for r in rows)]
    if not kinds:
        raise ValueError(f"gradient_norms: no rows for parameters {list(params)}")
    fig = _figure(1, len(kinds), panel=(5.0, 3.8))
    axes = _panels(fig, len(kinds), len(kinds))
    for ax, kind in zip(axes, kinds, strict=True):
        present = {r["layer"] for r in rows if r["param"] == kind}
        layers = [layer for layer in dict.fromkeys(order) if layer in present]
        for i, layer in enumerate(layers):
            mine = [r for r in rows if r["layer"] == layer and r["param"] == kind]
            ax.plot([r[xkey] for r in mine], _values([r[stat] for r in mine]),
                    color=f"C{i % 10}", label=layer or "(model)")
        if stat == "log10_update_data":
            ax.axhline(UPDATE_DATA_GUIDE, color="k", ls=":", lw=1,
                       label=f"guide ({UPDATE_DATA_GUIDE:g})")
        if stat not in _LOG10_STATS:
            ax.set_yscale("log")
        ax.set(xlabel=xkey, ylabel=_STAT_LABELS[stat], title=kind)
        _finish(ax)
    if title:
        fig.suptitle(title)
    return fig


# -------------------------------------------------------------------- activation histograms
def activation_histograms(stats: ActivationStats | Mapping[str, tuple[np.ndarray, np.ndarray]],
                          log: bool = False, title: str | None = None) -> Any:
    """One histogram of activation values per layer.

    Parameters
    ----------
    stats : ActivationStats or mapping of layer -> (counts, edges)
        The probe, or its ``histograms()``.
    log : bool
        Log y axis, to see the tails beside a spike (ReLU's zeros, saturated sigmoids).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        One axes per layer, titled with the layer name; bar heights are the fraction of the
        histogrammed elements in each bin (``counts / counts.sum()``), so layers of
        different widths compare.
    """
    hists = dict(stats.histograms() if hasattr(stats, "histograms") else stats)
    if not hists:
        raise ValueError("activation_histograms: no histograms (nothing recorded yet?)")
    cols = min(len(hists), _PANELS_PER_ROW)
    fig = _figure(math.ceil(len(hists) / cols), cols)
    for i, (ax, (layer, (counts, edges))) in enumerate(
            zip(_panels(fig, len(hists), cols), hists.items(), strict=True)):
        total = counts.sum()
        ax.stairs(counts / total if total else counts.astype(float), edges, fill=True,
                  color=f"C{i % 10}", alpha=0.8)
        if log:
            ax.set_yscale("log")
        ax.set(title=layer, xlabel="activation value", ylabel="fraction of elements")
        _finish(ax)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------ dead units
def dead_units(tracker: DeadUnitTracker | Sequence[Mapping[str, Any]],
               title: str | None = None) -> Any:
    """Dead-unit fraction of each ReLU-family layer over epochs.

    Parameters
    ----------
    tracker : DeadUnitTracker or list of dict
        The tracker, or its ``history`` (rows with ``epoch`` and one fraction per layer).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        One axes, one line per layer, y from 0 to 1.
    """
    history = list(tracker.history if hasattr(tracker, "history") else tracker)
    if not history:
        raise ValueError("dead_units: nothing measured yet")
    layers = [k for k in history[0] if k != "epoch"]
    fig = _figure(1, 1, panel=(6.0, 4.0))
    ax = fig.subplots()
    epochs = [row["epoch"] for row in history]
    for i, layer in enumerate(layers):
        ax.plot(epochs, _values([row[layer] for row in history]), marker="o",
                color=f"C{i % 10}", label=layer)
    ax.set(xlabel="epoch", ylabel="dead units (fraction of the layer)", ylim=(-0.02, 1.02),
           title="Dead units")
    _finish(ax)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- depth profile
def depth_profile(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
                  target: tuple[float, float] | None = (0.0, 1.0),
                  title: str | None = None) -> Any:
    """Mean (left) and variance (right, log axis) of layer outputs against depth.

    Parameters
    ----------
    rows : list of dict, or mapping of label -> list of dict
        ``depth_statistics`` rows (``depth``, ``mean``, ``var``), or several to overlay
        (e.g. ``{"SELU": rows_selu, "ReLU": rows_relu}``).
    target : (float, float), optional
        Guide lines for the mean and variance (default the self-normalising fixed point
        (0, 1)); None for none.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Two axes; one line per run in each. The variance axis is logarithmic because
        badly initialised nets drift by decades.
    """
    series = dict(rows) if isinstance(rows, Mapping) else {"": rows}
    fig = _figure(1, 2, panel=(5.0, 3.8))
    ax_mean, ax_var = fig.subplots(1, 2)
    for i, (label, run) in enumerate(series.items()):
        depth = [r["depth"] for r in run]
        for ax, key in ((ax_mean, "mean"), (ax_var, "var")):
            ax.plot(depth, [r[key] for r in run], marker=".", color=f"C{i % 10}",
                    label=label or None)
    if target is not None:
        ax_mean.axhline(target[0], color="k", ls=":", lw=1, label=f"target {target[0]:g}")
        ax_var.axhline(target[1], color="k", ls=":", lw=1, label=f"target {target[1]:g}")
    ax_var.set_yscale("log")
    ax_mean.set(xlabel="depth (layer)", ylabel="mean of outputs", title="Mean")
    ax_var.set(xlabel="depth (layer)", ylabel="variance of outputs", title="Variance")
    for ax in (ax_mean, ax_var):
        _finish(ax)
    if title:
        fig.suptitle(title)
    return fig


# -------------------------------------------------------------------------------- SELU map
def selu_moments(mu: np.ndarray | float, nu: np.ndarray | float, omega: float = 0.0,
                 tau: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The SELU (mean, variance) map g: (μ, ν) -> (μ̃, ν̃) of Klambauer et al. (2017).

    Parameters
    ----------
    mu, nu : float or ndarray
        Mean and variance of a unit's inputs (broadcast together); ``nu > 0``.
    omega, tau : float
        ω = Σwᵢ and τ = Σwᵢ² of the unit's weights; (0, 1) are "normalised weights",
        for which (0, 1) is the fixed point.

    Returns
    -------
    mu_new, nu_new : ndarray
        Mean and variance of ``selu(z)`` for ``z ~ N(μω, ντ)``, in closed form (with
        m = μω, v = ντ, s = √(2v))::

            μ̃ = λ/2 [m erf(m/s) + α e^(m+v/2) erfc((m+v)/s) - α erfc(m/s)
                      + √(2/π) √v e^(-m²/(2v)) + m]
            E[y²] = λ²/2 [(m² + v)(2 - erfc(m/s)) + α²(-2 e^(m+v/2) erfc((m+v)/s)
                      + e^(2(m+v)) erfc((m+2v)/s) + erfc(m/s)) + √(2/π) m √v e^(-m²/(2v))]
            ν̃ = E[y²] - μ̃²
    """
    from minidl.kernels.activations import SELU_ALPHA as alpha
    from minidl.kernels.activations import SELU_SCALE as lam

    erf, erfc = np.vectorize(math.erf), np.vectorize(math.erfc)
    m = np.asarray(mu, dtype=np.float64) * omega
    v = np.asarray(nu, dtype=np.float64) * tau
    s = np.sqrt(2.0 * v)
    gauss = np.sqrt(2.0 / np.pi) * np.sqrt(v) * np.exp(-m * m / (2.0 * v))
    tail = np.exp(m + v / 2.0) * erfc((m + v) / s)
    mu_new = 0.5 * lam * (m * erf(m / s) + alpha * tail - alpha * erfc(m / s) + gauss + m)
    second = 0.5 * lam ** 2 * (
        (m * m + v) * (2.0 - erfc(m / s))
        + alpha ** 2 * (-2.0 * tail + np.exp(2.0 * (m + v)) * erfc((m + 2.0 * v) / s)
                        + erfc(m / s))
        + m * gauss)
    return mu_new, second - mu_new ** 2


def selu_trajectory(mu: float, nu: float, steps: int, omega: float = 0.0,
                    tau: float = 1.0) -> np.ndarray:
    """``steps`` iterations of :func:`selu_moments` from (μ, ν): an array of shape
    ``(steps + 1, 2)`` whose rows are the (mean, variance) after 0, 1, ... layers."""
    points = [(float(mu), float(nu))]
    for _ in range(steps):
        m, v = selu_moments(*points[-1], omega, tau)
        points.append((float(m), float(v)))
    return np.array(points)


def selu_map(mu_range: tuple[float, float] = (-0.5, 0.5),
             nu_range: tuple[float, float] = (0.2, 3.0), omega: float = 0.0, tau: float = 1.0,
             starts: Sequence[tuple[float, float]] = ((0.4, 2.8), (-0.4, 0.3), (0.0, 2.0),
                                                      (0.0, 0.5)),
             steps: int = 8, grid: int = 9, title: str | None = None) -> Any:
    """The SELU (mean, variance) map and its fixed point.

    Left: arrows from (μ, ν) to g(μ, ν) on a ``grid`` x ``grid`` lattice, and the paths of a
    few starting points through ``steps`` layers. Right: ν̃ against ν at μ = 0 beside the
    identity line; they cross at the fixed point's variance.

    Parameters
    ----------
    mu_range, nu_range : (float, float)
        The (μ, ν) window; ``nu_range[0] > 0``.
    omega, tau : float
        Weight sums ω = Σwᵢ and τ = Σwᵢ² (see :func:`selu_moments`).
    starts : sequence of (float, float)
        Starting (μ, ν) of the drawn paths.
    steps : int
        Layers each path is iterated through.
    grid : int
        Arrows per side.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Two axes. The fixed point, found by iterating the map from (0, 1) until it stops
        moving (it is (0, 1) for ω = 0, τ = 1), is marked with a star labelled with its
        coordinates; a map without one in 1000 iterations gets no star.
    """
    if nu_range[0] <= 0:
        raise ValueError(f"selu_map: variances must be positive, got nu_range={nu_range}")
    fig = _figure(1, 2, panel=(5.0, 4.2))
    ax_map, ax_nu = fig.subplots(1, 2)

    mu, nu = np.meshgrid(np.linspace(*mu_range, grid), np.linspace(*nu_range, grid))
    mu_new, nu_new = selu_moments(mu, nu, omega, tau)
    ax_map.quiver(mu, nu, mu_new - mu, nu_new - nu, angles="xy", scale_units="xy", scale=1,
                  color="0.6", alpha=0.7, width=0.004)
    for i, (m0, v0) in enumerate(starts):
        path = selu_trajectory(m0, v0, steps, omega, tau)
        ax_map.plot(path[:, 0], path[:, 1], "-o", ms=3, color=f"C{i % 10}",
                    label=f"from ({m0:g}, {v0:g})")

    nus = np.linspace(*nu_range, 200)
    ax_nu.plot(nus, selu_moments(0.0, nus, omega, tau)[1], color="C0", label="ν̃ = g(0, ν)")
    ax_nu.plot(nus, nus, "k:", lw=1, label="ν̃ = ν")

    # Iterate to the fixed point rather than assume (0, 1), so other ω, τ are marked right.
    point = selu_trajectory(0.0, 1.0, 1000, omega, tau)[-2:]
    if np.all(np.isfinite(point)) and np.abs(point[1] - point[0]).max() < 1e-9:
        m_star, v_star = point[1]
        label = f"fixed point ({m_star:.3f}, {v_star:.3f})"
        ax_map.plot([m_star], [v_star], "*", ms=14, color="k", label=label)
        ax_nu.plot([v_star], [v_star], "*", ms=14, color="k", label=label)

    ax_map.set(xlabel="input mean μ", ylabel="input variance ν", xlim=mu_range, ylim=nu_range,
               title=f"SELU (μ, ν) → (μ̃, ν̃), ω = {omega:g}, τ = {tau:g}")
    ax_nu.set(xlabel="input variance ν (μ = 0)", ylabel="output variance ν̃",
              title="Variance map at μ = 0")
    for ax in (ax_map, ax_nu):
        _finish(ax)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------ runs
def runs(histories: Mapping[str, History | Sequence[History]] | Sequence[History],
         val_label: str = "val", log_loss: bool = True, title: str | None = None) -> Any:
    """Loss (left) and accuracy (right) of several runs overlaid, with a mean ± std band
    across the runs (seeds) of each group; training solid, validation dashed.

    Parameters
    ----------
    histories : mapping of label -> History or list of History, or list of History
        Groups of runs, e.g. ``{"relu": [h_seed0, h_seed1, h_seed2], "tanh": [...]}``; a
        plain list is one unlabelled group.
    val_label : str
        Legend name of the validation curves (e.g. "test").
    log_loss : bool
        Log y axis for the loss, which falls by decades on the training set.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Two axes. Each run is a thin line; each group and split has a thick mean line and,
        with two or more runs, a shaded band of ± one sample standard deviation (ddof=1).
        Runs of different lengths are cut to the shortest; splits not recorded (None) are
        skipped.
    """
    from matplotlib.ticker import MaxNLocator

    groups = dict(histories) if isinstance(histories, Mapping) else {"": histories}
    fig = _figure(1, 2, panel=(5.0, 4.0))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, group) in enumerate(groups.items()):
        group = [group] if hasattr(group, "records") else list(group)
        color = f"C{i % 10}"
        n = min(len(h) for h in group)
        epochs = np.asarray(group[0]["epoch"][:n])
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                columns = [h[f"{split}_{key}"][:n] for h in group]
                if any(v is None for col in columns for v in col):
                    continue
                values = np.array(columns, dtype=np.float64)
                for run in values:
                    ax.plot(epochs, run, style, color=color, alpha=0.3, lw=0.8)
                mean = values.mean(axis=0)
                name = f"{label} {split if split == 'train' else val_label}".strip()
                ax.plot(epochs, mean, style, color=color, lw=2,
                        label=f"{name} (mean of {len(values)})")
                if len(values) > 1:
                    std = values.std(axis=0, ddof=1)
                    ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
    if log_loss:
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (fraction correct)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _finish(ax)
    if title:
        fig.suptitle(title)
    return fig
