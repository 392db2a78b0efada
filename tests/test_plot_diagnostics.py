"""Tests of the diagnostic figures in ``minidl.plot``: each figure's contents (number of
axes, line data equal to the values it should show, labels, log scales, bands), fed by
real probes on small models. Figures are built without pyplot, so no global state."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import minidl
from minidl import activations, nn, plot
from minidl import diagnostics as D
from minidl import functional as F
from minidl.data import DataLoader, TensorDataset
from minidl.kernels import reference
from minidl.train import History


@pytest.fixture(autouse=True)
def _seed() -> None:
    minidl.manual_seed(0)


def small_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(),
                         nn.Linear(8, 3))


def batch(n: int = 32) -> minidl.Tensor:
    return minidl.Tensor(np.random.default_rng(0).standard_normal((n, 6)).astype(np.float32))


def labelled(ax) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


# ---------------------------------------------------------------------------- gallery
def test_gallery_pairs_each_activation_with_its_reference_derivative() -> None:
    names = ["relu", "sigmoid", "selu", "prelu", "softplus"]
    x = np.linspace(-4.0, 4.0, 401)
    fig = plot.activation_gallery(names, x)
    axes = fig.get_axes()
    assert len(axes) == 2 * len(names)
    for i, name in enumerate(names):
        ax_f, ax_df = axes[2 * i], axes[2 * i + 1]
        assert (ax_f.get_title(), ax_df.get_title()) == (name, f"{name}'")
        assert labelled(ax_f) and labelled(ax_df)
        params = [np.array([d]) for d in activations.get(name).params.values()]
        y_ref = getattr(reference, name)(x, *params)
        np.testing.assert_array_equal(ax_f.lines[0].get_xdata(), x)
        np.testing.assert_allclose(ax_f.lines[0].get_ydata(), y_ref, atol=1e-12)
        np.testing.assert_allclose(ax_df.lines[0].get_ydata(),
                                   getattr(reference, f"{name}_grad")(x, y_ref, *params),
                                   atol=1e-12)


def test_gallery_defaults_to_every_registered_activation() -> None:
    from minidl.kernels.activations import REGISTRY
    fig = plot.activation_gallery()
    assert len(fig.get_axes()) == 2 * len(REGISTRY)
    assert [ax.get_title() for ax in fig.get_axes()[::2]] == list(REGISTRY)
    assert len(fig.get_axes()[0].lines[0].get_xdata()) == 1001


def test_gallery_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown activation"):
        plot.activation_gallery(["nope"])


# ---------------------------------------------------------------------- gradient norms
def recorded_norms(steps: int = 3) -> D.GradientNorms:
    model = small_mlp()
    x, y = batch(), minidl.Tensor(np.arange(32) % 3)
    with D.GradientNorms(model) as norms:
        for _ in range(steps):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
    return norms


def test_gradient_norms_one_log_curve_per_layer_per_step() -> None:
    norms = recorded_norms()
    fig = plot.gradient_norms(norms)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["weight", "bias"]
    for ax, kind in zip(axes, ("weight", "bias"), strict=True):
        assert ax.get_yscale() == "log" and ax.get_xlabel() == "step"
        assert "norm" in ax.get_ylabel()
        assert [line.get_label() for line in ax.lines] == ["0", "2", "4"]
        for line in ax.lines:
            np.testing.assert_allclose(line.get_ydata(),
                                       norms.series(f"{line.get_label()}.{kind}"))
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])


def test_gradient_norms_from_epoch_means_and_update_ratio_guide() -> None:
    norms = recorded_norms()
    rows = norms.epoch_means()
    fig = plot.gradient_norms(rows, params=("weight",))
    (ax,) = fig.get_axes()
    assert ax.get_xlabel() == "epoch"
    first = [r["grad_norm"] for r in rows if r["layer"] == "0" and r["param"] == "weight"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), first)

    fig = plot.gradient_norms(norms, stat="log10_grad_data", params=("weight",))
    (ax,) = fig.get_axes()
    assert ax.get_yscale() == "linear" and "log₁₀" in ax.get_ylabel()
    fig = plot.gradient_norms(norms, stat="log10_update_data", params=("weight",))
    guide = fig.get_axes()[0].lines[-1]
    assert guide.get_label().startswith("guide")
    np.testing.assert_array_equal(guide.get_ydata(), [D.UPDATE_DATA_GUIDE] * 2)
    with pytest.raises(ValueError, match="stat must be"):
        plot.gradient_norms(norms, stat="speed")


# ---------------------------------------------------------------------- histograms
def test_activation_histograms_one_panel_per_layer_as_fractions() -> None:
    model = small_mlp()
    with D.ActivationStats(model, bins=20) as stats:
        model(batch())
    hists = stats.histograms()
    fig = plot.activation_histograms(stats, log=True)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == list(hists) == ["1", "3"]
    for ax, (counts, edges) in zip(axes, hists.values(), strict=True):
        assert ax.get_yscale() == "log" and labelled(ax)
        (patch,) = ax.patches
        verts = patch.get_path().vertices
        # The filled step outline passes through every bin's (edge, fraction) corner.
        fractions = counts / counts.sum()
        for lo, hi, h in zip(edges[:-1], edges[1:], fractions, strict=True):
            if h > 0:
                assert np.any(np.isclose(verts[:, 0], lo) & np.isclose(verts[:, 1], h))
                assert np.any(np.isclose(verts[:, 0], hi) & np.isclose(verts[:, 1], h))
    assert plot.activation_histograms(hists).get_axes()[0].get_yscale() == "linear"


# ---------------------------------------------------------------------- dead units
def test_dead_units_lines_follow_the_tracker_history() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())
    model[2].bias.data[...] = -100.0  # the second ReLU is entirely dead
    loader = DataLoader(TensorDataset(batch(), minidl.Tensor(np.zeros(32))), batch_size=16)
    tracker = D.DeadUnitTracker(model, loader)
    tracker()
    tracker()
    fig = plot.dead_units(tracker)
    (ax,) = fig.get_axes()
    assert [line.get_label() for line in ax.lines] == ["1", "3"]
    for line in ax.lines:
        np.testing.assert_array_equal(line.get_xdata(), [0, 1])
        np.testing.assert_allclose(line.get_ydata(), tracker.series(line.get_label()))
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [1.0, 1.0])
    assert ax.get_ylim() == (-0.02, 1.02) and "fraction" in ax.get_ylabel()


# ---------------------------------------------------------------------- depth profile
def test_depth_profile_overlays_runs_with_log_variance_and_targets() -> None:
    selu = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(6, 6), nn.SELU())])
    relu = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(6, 6), nn.ReLU())])
    rows = {"SELU": D.depth_statistics(selu, batch()), "ReLU": D.depth_statistics(relu, batch())}
    fig = plot.depth_profile(rows)
    ax_mean, ax_var = fig.get_axes()
    assert ax_var.get_yscale() == "log" and ax_mean.get_yscale() == "linear"
    assert labelled(ax_mean) and labelled(ax_var)
    for ax, key, target in ((ax_mean, "mean", 0.0), (ax_var, "var", 1.0)):
        assert [line.get_label() for line in ax.lines[:2]] == ["SELU", "ReLU"]
        for line, run in zip(ax.lines[:2], rows.values(), strict=True):
            np.testing.assert_array_equal(line.get_xdata(), [r["depth"] for r in run])
            np.testing.assert_allclose(line.get_ydata(), [r[key] for r in run])
        np.testing.assert_array_equal(ax.lines[2].get_ydata(), [target, target])
    assert len(plot.depth_profile(rows["SELU"], target=None).get_axes()[0].lines) == 1


# ---------------------------------------------------------------------- SELU map
@pytest.mark.parametrize(("m", "v", "mean", "var"), [
    (0.0, 1.0, 0.0, 1.0), (0.0, 0.5, -0.041430, 0.577500), (0.0, 2.0, 0.089612, 1.714478),
    (0.0, 3.0, 0.175004, 2.349062), (0.1, 1.0, 0.099371, 1.028407),
    (-0.1, 1.0, -0.097594, 0.967841), (0.0, 0.1, -0.051716, 0.149942)])
def test_selu_moments_match_the_facts_sheet_table(m: float, v: float, mean: float,
                                                  var: float) -> None:
    # z ~ N(m, v) is μ = m, ν = v with ω = τ = 1.
    mu_new, nu_new = plot.selu_moments(m, v, omega=1.0, tau=1.0)
    assert abs(mu_new - mean) < 1e-6 and abs(nu_new - var) < 1e-6


def test_selu_moments_agree_with_monte_carlo_of_the_reference_selu() -> None:
    z = np.random.default_rng(1).normal(0.3, np.sqrt(1.7), 2_000_000)
    y = reference.selu(z)
    mu_new, nu_new = plot.selu_moments(0.3, 1.7, omega=1.0, tau=1.0)
    assert abs(mu_new - y.mean()) < 3e-3 and abs(nu_new - y.var()) < 5e-3


def test_selu_map_marks_the_fixed_point_and_draws_the_iterated_paths() -> None:
    starts = ((0.0, 2.0), (0.3, 0.4))
    fig = plot.selu_map(starts=starts, steps=5)
    ax_map, ax_nu = fig.get_axes()
    assert labelled(ax_map) and labelled(ax_nu)
    assert len(ax_map.collections) == 1  # the arrow field
    for line, (m0, v0) in zip(ax_map.lines[:2], starts, strict=True):
        path = plot.selu_trajectory(m0, v0, 5)
        np.testing.assert_allclose(line.get_xdata(), path[:, 0])
        np.testing.assert_allclose(line.get_ydata(), path[:, 1])
        # Variance moves toward 1 (the facts sheet: 2.0 -> 1.714 -> 1.521 -> ...).
        assert abs(path[-1, 1] - 1.0) < abs(v0 - 1.0)
    np.testing.assert_allclose(plot.selu_trajectory(0.0, 2.0, 3)[1:, 1],
                               [1.714, 1.521, 1.387], atol=1e-3)
    for ax in (ax_map, ax_nu):
        star = ax.lines[-1]
        assert star.get_marker() == "*" and "fixed point" in star.get_label()
        np.testing.assert_allclose([star.get_xdata()[0], star.get_ydata()[0]],
                                   [0.0, 1.0] if ax is ax_map else [1.0, 1.0], atol=1e-9)
    nus = ax_nu.lines[0].get_xdata()
    np.testing.assert_allclose(ax_nu.lines[0].get_ydata(), plot.selu_moments(0.0, nus)[1])


# ---------------------------------------------------------------------- runs
def history(seed: int, epochs: int = 4, val: bool = True) -> History:
    rng = np.random.default_rng(seed)
    records = []
    for e in range(1, epochs + 1):
        records.append({"epoch": e, "train_loss": 2.0 / e + rng.uniform(0, 0.1),
                        "train_acc": 1 - 0.5 / e, "lr": 0.1, "time": 1.0, "skipped_steps": 0,
                        "val_loss": 2.2 / e + rng.uniform(0, 0.1) if val else None,
                        "val_acc": 1 - 0.6 / e - rng.uniform(0, 0.05) if val else None})
    return History(records)


def test_runs_mean_line_and_std_band_per_group_and_split() -> None:
    groups = {"relu": [history(s) for s in range(3)], "tanh": [history(s + 10) for s in range(2)]}
    fig = plot.runs(groups)
    ax_loss, ax_acc = fig.get_axes()
    assert ax_loss.get_yscale() == "log" and ax_acc.get_yscale() == "linear"
    assert labelled(ax_loss) and labelled(ax_acc)
    # 2 groups x 2 splits bands per axes; thin per-run lines plus one mean line each.
    for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == 4
        assert len(ax.lines) == (3 + 1) * 2 + (2 + 1) * 2
        means = {line.get_label(): line for line in ax.lines if "mean" in line.get_label()}
        assert set(means) == {"relu train (mean of 3)", "relu val (mean of 3)",
                              "tanh train (mean of 2)", "tanh val (mean of 2)"}
        values = np.array([h[f"val_{key}"] for h in groups["relu"]])
        np.testing.assert_allclose(means["relu val (mean of 3)"].get_ydata(), values.mean(0))
        band = bands[1].get_paths()[0].vertices  # relu val: train is drawn first
        std = values.std(0, ddof=1)
        assert np.isclose(band[:, 1].min(), (values.mean(0) - std).min())
        assert np.isclose(band[:, 1].max(), (values.mean(0) + std).max())


def test_runs_single_run_has_no_band_and_missing_validation_is_skipped() -> None:
    fig = plot.runs([history(0, val=False)], log_loss=False)
    ax_loss, _ = fig.get_axes()
    assert ax_loss.get_yscale() == "linear"
    assert not ax_loss.collections
    assert [line.get_label() for line in ax_loss.lines if "mean" in line.get_label()] == \
        ["train (mean of 1)"]


def test_runs_cut_to_the_shortest_run() -> None:
    fig = plot.runs({"a": [history(0, epochs=5), history(1, epochs=3)]})
    for line in fig.get_axes()[0].lines:
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])


def test_figures_render_to_png(tmp_path) -> None:
    fig = plot.runs({"a": [history(0), history(1)]})
    fig.savefig(tmp_path / "runs.png")
    assert (tmp_path / "runs.png").stat().st_size > 0
