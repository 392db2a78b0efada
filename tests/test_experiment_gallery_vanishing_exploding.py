"""The activation gallery, vanishing- and exploding-gradient experiments in quick mode:
the effects they exist to show, with margins, and the report machinery around them.

Each experiment runs once per module (seed 0) and the tests read its runs and tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from experiment_checks import assert_saves, assert_well_formed

from minidl import experiments
from minidl.experiments import _exploding_gradients, _vanishing_gradients

NAMES = ("activation_gallery", "vanishing_gradients", "exploding_gradients")


@pytest.fixture(scope="module")
def results() -> dict:
    return {name: getattr(experiments, name)(quick=True, seed=0) for name in NAMES}


# ------------------------------------------------------------------- the report machinery
@pytest.mark.parametrize("name", NAMES)
def test_result_has_tables_figures_and_text(results, name):
    assert_well_formed(results[name])


@pytest.mark.parametrize("name", NAMES)
def test_save_writes_report_and_pngs(results, name, tmp_path):
    assert_saves(results[name], tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_results_and_tables(results, name):
    again = getattr(experiments, name)(quick=True, seed=0)
    assert [outcome for _, outcome in again.runs] == \
        [outcome for _, outcome in results[name].runs]
    assert again.tables == results[name].tables
    assert again.text == results[name].text


# --------------------------------------------------------------------- activation gallery
def _by_activation(results, table: str) -> dict[str, dict]:
    return {row["activation"]: row
            for row in results["activation_gallery"].tables[table]}


def test_gallery_covers_every_registered_activation(results):
    from minidl.kernels.activations import REGISTRY

    rows = _by_activation(results, "Values and derivatives")
    assert list(rows) == list(REGISTRY)
    assert list(results["activation_gallery"].figures) == ["activation_gallery"]
    # Two panels (f and f') per activation.
    assert len(results["activation_gallery"].figures["activation_gallery"].axes) \
        == 2 * len(REGISTRY)


def test_gallery_values_are_the_known_ones(results):
    values = _by_activation(results, "Values and derivatives")
    sigmoid, relu, tanh = values["sigmoid"], values["relu"], values["tanh"]
    assert sigmoid["f(0)"] == pytest.approx(0.5)
    assert sigmoid["f'(0)"] == pytest.approx(0.25)
    assert sigmoid["f'(3)"] == pytest.approx(math.exp(-3) / (1 + math.exp(-3)) ** 2)
    assert tanh["f'(1)"] == pytest.approx(1 - math.tanh(1) ** 2)
    assert (relu["f(-3)"], relu["f(3)"], relu["f'(-1)"], relu["f'(1)"]) == (0, 3, 0, 1)


def test_gallery_shape_table(results):
    shape = _by_activation(results, "Range, slopes and saturation")
    dead = "share of [-5, 5] with f' = 0"
    assert (shape["sigmoid"]["inf f"], shape["sigmoid"]["sup f"]) == (0.0, 1.0)
    assert shape["sigmoid"]["max f'"] == pytest.approx(0.25)
    assert shape["tanh"]["inf f"] == -1.0
    assert shape["relu"]["sup f"] == "∞" and shape["leaky_relu"]["inf f"] == "-∞"
    assert shape["silu"]["inf f"] == pytest.approx(-0.2785, abs=1e-3)
    assert shape["sigmoid"]["f' → 0 as"] == shape["tanh"]["f' → 0 as"] == "both sides"
    assert shape["relu"]["f' → 0 as"] == "x → -∞"
    assert shape["leaky_relu"]["f' → 0 as"] == "never"
    assert shape["relu"][dead] == pytest.approx(0.5)
    assert shape["hardtanh"][dead] == pytest.approx(0.8)
    assert shape["leaky_relu"][dead] == 0.0
    assert shape["relu"]["with f' = 1"] == pytest.approx(0.5)


# -------------------------------------------------------------------- vanishing gradients
def _initial_norms(results, activation: str, depth: int) -> list[float]:
    (result,) = [outcome for spec, outcome in results["vanishing_gradients"].runs
                 if spec["activation"] == activation and len(spec["sizes"]) == depth + 2]
    return result["norms"][0]


def test_vanishing_first_layer_learns_far_slower(results):
    """The issue's check: in the sigmoid [784, 30, 30, 30, 30, 10] net, ‖δ¹‖ is less than a
    tenth of ‖δ⁴‖ (Nielsen: 0.003 against 0.285; we measure about a hundredth)."""
    norms = _initial_norms(results, "sigmoid", 4)
    assert norms[0] < norms[-1] / 10
    # Every layer is slower than the one after it, by at least 2x (σ' ≤ 1/4).
    assert all(a < b / 2 for a, b in zip(norms[:-1], norms[1:], strict=True))


def test_vanishing_matches_nielsen_within_a_factor_of_three(results):
    rows = results["vanishing_gradients"].tables[
        "‖δˡ‖ at initialisation: sigmoid nets against Nielsen"]
    assert len(rows) == 2 + 3 + 4
    for row in rows:
        assert 1 / 3 < row["mean / Nielsen"] < 3, row


def test_vanishing_deeper_sigmoid_nets_spread_more(results):
    ratios = [(lambda n: n[0] / n[-1])(_initial_norms(results, "sigmoid", d)) for d in (2, 3, 4)]
    assert ratios[0] > 2 * ratios[1] > 4 * ratios[2]


def test_vanishing_tanh_and_relu_lose_far_less(results):
    sigmoid = _initial_norms(results, "sigmoid", 4)
    for activation in ("tanh", "relu"):
        norms = _initial_norms(results, activation, 4)
        assert norms[0] / norms[-1] > 5 * sigmoid[0] / sigmoid[-1], activation


def test_vanishing_ordering_persists_during_training(results):
    (result,) = [outcome for spec, outcome in results["vanishing_gradients"].runs
                 if spec["key"] == "sigmoid-4-s0"]
    norms = np.array(result["norms"])
    assert norms.shape == (_vanishing_gradients.EPOCHS[True], 4)
    assert np.all(norms[:, 0] < norms[:, -1] / 10)
    assert all(math.isfinite(v) for v in result["loss"])
    assert result["loss"][-1] < result["loss"][0]


# -------------------------------------------------------------------- exploding gradients
def _part(results, key: str) -> dict:
    return next(outcome for spec, outcome in results["exploding_gradients"].runs
                if spec["key"] == key)


def test_exploding_nielsen_chain_factor_25(results):
    for chain in _part(results, "chain")["chains"]:
        factor = chain["w"] / 4
        grads = chain["grads"]
        assert grads[-1] == pytest.approx(0.25)
        for g, g_next in zip(grads[:-1], grads[1:], strict=True):
            assert g / g_next == pytest.approx(factor)
    assert _part(results, "chain")["chains"][0]["grads"][0] == pytest.approx(0.25 * 25 ** 3)


def test_exploding_matrix_products_grow_like_c_to_the_depth(results):
    ratios = _part(results, "products-s0")["ratios"]
    depth = len(ratios["1.0"]) - 1
    assert ratios["1.5"][-1] > 1e3 and ratios["0.5"][-1] < 1e-6
    assert 0.3 < ratios["1.0"][-1] < 3
    for c, r in ratios.items():
        measured = r[-1] ** (1 / depth)
        assert measured == pytest.approx(float(c), rel=0.1), c


def test_exploding_large_init_blows_gradients_up_layer_by_layer(results):
    gains = _part(results, "init-s0")["gains"]
    large, right, small = gains["2.0"]["bias"], gains["1.0"]["bias"], gains["0.5"]["bias"]
    assert large[0] >= 100 * large[-1]
    assert small[0] <= small[-1] / 100
    assert 0.1 < right[0] / right[-1] < 10
    assert all(a > b for a, b in zip(large[:-1], large[1:], strict=True))


def test_exploding_clipping_tames_training(results):
    runs = {spec["label"]: outcome for spec, outcome in results["exploding_gradients"].runs
            if spec["part"] == "train"}
    unclipped = runs["gain 2, no clipping"]
    assert unclipped["first_nonfinite"] is not None
    assert unclipped["first_nonfinite"] <= 10
    for label in ("gain 2, clip_grad_norm_", "gain 2, clip_grad_value_"):
        losses = runs[label]["loss"]
        assert runs[label]["first_nonfinite"] is None
        assert all(v is not None and math.isfinite(v) for v in losses), label
        assert len(losses) == _exploding_gradients.SIZES[True]["steps"]
        assert np.mean(losses[-5:]) < losses[0] / 10, label
    kaiming = runs["gain 1 (Kaiming), no clipping"]["loss"]
    assert np.mean(kaiming[-5:]) < kaiming[0]


def test_exploding_anomaly_names_module_and_step(results):
    anomaly = _part(results, "anomaly-s0")
    assert anomaly["message"] is not None
    assert anomaly["message"].startswith("detect_anomaly:")
    assert "module '" in anomaly["message"] and "(Linear)" in anomaly["message"]
    assert f"step {anomaly['step']}" in anomaly["message"]
    # It stops no later than the step whose loss was first found non-finite.
    unclipped = _part(results, "train0-s0")
    assert anomaly["step"] <= unclipped["first_nonfinite"]
