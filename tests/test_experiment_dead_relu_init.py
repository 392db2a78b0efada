"""The dead-ReLU and initialisation experiments in quick mode: the effects they exist to
show, with margins, and the report machinery around them.

Each experiment runs once per module (seed 0) and the tests read its runs and tables.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from experiment_checks import assert_saves, assert_well_formed

from minidl import experiments, nn
from minidl.experiments import _dead_relu, _initialization
from minidl.tensor import Tensor

NAMES = ("dead_relu", "initialization")


@pytest.fixture(scope="module")
def results() -> dict:
    return {name: getattr(experiments, name)(quick=True, seed=0) for name in NAMES}


# ------------------------------------------------------------------- the report machinery
@pytest.mark.parametrize("name", NAMES)
def test_plan_is_json_with_unique_keys_per_seed(name):
    module = {"dead_relu": _dead_relu, "initialization": _initialization}[name]
    quick, full = module.plan(True, [0, 1]), module.plan(False, [0])
    assert json.loads(json.dumps(quick)) == quick
    assert len({s["key"] for s in quick}) == len(quick) == 2 * len(full)
    assert sorted({s["seed"] for s in quick}) == [0, 1]
    # Quick mode trains on a subset; full mode on all 60000 images.
    assert all(s["train"] is not None for s in quick) and all(s["train"] is None for s in full)


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


# ------------------------------------------------------------------------------ dead ReLU
def _settings(results, table: str) -> dict[str, dict]:
    """Rows of a dead_relu table by the activation and what was changed."""
    return {row["change"]: row for row in results["dead_relu"].tables[table]}


def test_unit_fractions_tells_dead_from_inactive():
    # Unit 0 is always positive, unit 1 always negative, unit 2 changes sign with x.
    linear = nn.Linear(1, 3)
    linear.weight.data[:] = np.array([[0.0], [0.0], [1.0]], dtype=linear.weight.data.dtype)
    linear.bias.data[:] = np.array([1.0, -1.0, 0.0], dtype=linear.bias.data.dtype)
    batches = [(Tensor(np.array([[-1.0], [2.0]], dtype=np.float32)), None)]
    for act, dead in ((nn.ReLU(), 1 / 3), (nn.LeakyReLU(), 0.0), (nn.ELU(), 0.0)):
        fractions = _dead_relu.unit_fractions(nn.Sequential(linear, act), batches)
        assert fractions is not None
        assert fractions[0] == pytest.approx([dead])
        assert fractions[1] == pytest.approx([1 / 3])  # unit 1 is inactive in every case
    linear.weight.data[0, 0] = np.nan
    assert _dead_relu.unit_fractions(nn.Sequential(linear, nn.ReLU()), batches) is None


def test_bias_shift_kills_most_relu_units_but_no_leaky_ones(results):
    rows = _settings(results, "Bias shift and the leaky family")
    relu = rows["the cause: ReLU"]
    assert relu["dead total"] > 0.55
    # A shifted ReLU layer dies whole: the net then outputs a constant (chance accuracy).
    assert max(relu[f"dead h{i}"] for i in (1, 2, 3)) == 1.0
    assert relu["test acc"] < 0.25
    for act in _dead_relu.LEAKY_FAMILY:
        assert rows[act]["dead total"] == 0.0, act
        assert rows[act]["diverged seeds"] == 0, act
    # ... yet LeakyReLU's units are as inactive as ReLU's: alive, but hardly learning.
    assert rows["LeakyReLU"]["inactive total"] > 0.5


def test_elu_learns_back_from_the_bias_shift(results):
    rows = _settings(results, "Bias shift and the leaky family")
    assert rows["ELU"]["test acc"] > rows["the cause: ReLU"]["test acc"] + 0.3
    run = next(r for spec, r in results["dead_relu"].runs if spec["setting"] == "shift-elu")
    inactive = [np.mean(e["inactive"]) for e in run["epochs"]]
    assert inactive[-1] < inactive[0] - 0.2


def test_large_learning_rate_kills_relu_units(results):
    rows = _settings(results, "Large learning rate and its remedies")
    cause, smaller = rows[f"the cause: ReLU, Adam lr {_dead_relu.LARGE_LR:g}"], \
        rows[f"smaller learning rate (Adam lr {_dead_relu.ADAM_LR:g})"]
    assert cause["diverged seeds"] == smaller["diverged seeds"] == 0
    assert cause["dead total"] > 0.3
    assert cause["dead total"] > smaller["dead total"] + 0.2
    assert rows[f"plain SGD (lr {_dead_relu.SGD_LR:g})"]["dead total"] < 0.1
    # Units die early: most of them within the first epoch.
    run = next(r for spec, r in results["dead_relu"].runs if spec["setting"] == "lr-large")
    total = [np.mean(e["dead"]) for e in run["epochs"]]
    assert total[0] < 0.05 and total[1] > 0.2


def test_leaky_family_survives_the_large_learning_rate(results):
    rows = _settings(results, "Large learning rate and its remedies")
    for act in _dead_relu.LEAKY_FAMILY:
        assert rows[act]["lr"] == _dead_relu.LARGE_LR
        assert rows[act]["dead total"] == 0.0, act
        assert rows[act]["diverged seeds"] == 0, act
        assert rows[act]["test acc"] > 0.7, act


def test_dead_relu_figures(results):
    figures = results["dead_relu"].figures
    assert set(figures) == {"dead_units_large_lr", "inactive_units_bias_shift",
                            "accuracy_and_dead_units"}
    # One line per setting of each problem.
    lines = figures["inactive_units_bias_shift"].axes[0].get_lines()
    assert len(lines) == 1 + len(_dead_relu.LEAKY_FAMILY)
    inactive = _settings(results, "Bias shift and the leaky family")["ELU"]["inactive total"]
    assert lines[-1].get_ydata()[-1] == pytest.approx(inactive)


# ------------------------------------------------------------------------- initialization
def _init_rows(results) -> dict[tuple[str, str], dict]:
    table = results["initialization"].tables["Signal through depth and test accuracy"]
    return {(row["activation"], row["init"]): row for row in table}


def test_initialization_table_covers_every_pair(results):
    rows = _init_rows(results)
    assert list(rows) == [(act, init) for act in _initialization.ACTIVATIONS
                          for init in _initialization.INITS]


def test_kaiming_keeps_relu_signal_and_xavier_shrinks_it(results):
    rows = _init_rows(results)
    depth = _initialization.DEPTH
    ratio = f"std {depth} / std 1"
    assert 1 / 3 < rows["ReLU", "Kaiming"][ratio] < 3
    # Var × 1/2 per layer: std × 2^(-15) ≈ 3e-5 over 30 layers.
    assert rows["ReLU", "Xavier"][ratio] < 1e-3
    assert rows["ReLU", "LeCun"][ratio] < 1e-3
    # Var × n/2 = 128 per layer.
    assert rows["ReLU", "N(0,1)"][ratio] > 1e20
    assert rows["SELU", "N(0,1)"][ratio] > 1e20


def test_normal_init_saturates_tanh_and_sigmoid(results):
    rows = _init_rows(results)
    depth = _initialization.DEPTH
    saturated = f"saturated layer {depth}"
    assert rows["Tanh", "N(0,1)"][saturated] > 0.6
    assert rows["Sigmoid", "N(0,1)"][saturated] > 0.5
    for act in ("Tanh", "Sigmoid"):
        assert rows[act, "Xavier"][saturated] < 0.05
    assert rows["ReLU", "Kaiming"][saturated] is None  # ReLU has no saturating region


def test_lecun_keeps_selu_at_its_fixed_point(results):
    row = _init_rows(results)["SELU", "LeCun"]
    depth = _initialization.DEPTH
    assert 0.7 < row[f"std layer {depth}"] < 1.4
    assert abs(row[f"mean layer {depth}"]) < 0.2
    assert _init_rows(results)["SELU", "Kaiming"][f"std layer {depth}"] > 3


def test_matching_init_trains_and_normal_init_does_not(results):
    rows = _init_rows(results)
    for act, init in (("Tanh", "Xavier"), ("ReLU", "Kaiming"), ("SELU", "LeCun")):
        assert rows[act, init]["test acc"] > 0.6, act
        assert rows[act, init]["test acc"] > rows[act, "N(0,1)"]["test acc"] + 0.3, act
        assert rows[act, init]["diverged seeds"] == 0
    assert rows["ReLU", "N(0,1)"]["diverged seeds"] == 1


def test_initialization_figures(results):
    figures = results["initialization"].figures
    assert set(figures) == {f"{kind}_{act.lower()}" for kind in ("depth", "training")
                            for act in _initialization.ACTIVATIONS}
    # Mean and variance panels, one line per init (plus SELU's two target lines).
    assert [len(ax.get_lines()) for ax in figures["depth_relu"].axes] == [4, 4]
    assert [len(ax.get_lines()) for ax in figures["depth_selu"].axes] == [5, 5]
