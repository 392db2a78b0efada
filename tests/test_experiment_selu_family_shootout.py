"""The self_normalization, relu_family and activation_shootout experiments.

Each experiment runs once in quick mode (seed 0) per module; the tests check what it
shows, with margins, and the report it writes. Helpers (the SELU fixed point, the test
metrics, the clipped Adam, the tables' mean ± std) are also tested on hand-made inputs.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from experiment_checks import assert_saves

import minidl
from minidl import nn, optim
from minidl.experiments import (
    _activation_shootout,
    _relu_family,
    _self_normalization,
    activation_shootout,
    relu_family,
    self_normalization,
)

# ------------------------------------------------------------------- self_normalization


@pytest.fixture(scope="module")
def selu_result():
    return self_normalization(quick=True, seed=0)


def _last(result, network: str) -> dict:
    """The (depth, mean, var) row of the last layer of ``network`` (seed 0)."""
    [rows] = [r["rows"] for spec, r in result.runs if spec["network"] == network]
    return rows[-1]


def test_selu_keeps_mean_0_and_variance_1_at_depth_64(selu_result):
    for network in ("selu", "selu_alpha_dropout"):
        last = _last(selu_result, network)
        assert last["depth"] == 64
        assert abs(last["mean"]) < 0.1, network
        assert 0.8 <= last["var"] <= 1.2, network


def test_plain_dropout_breaks_self_normalisation_alpha_dropout_keeps_it(selu_result):
    plain = abs(_last(selu_result, "selu_dropout")["var"] - 1.0)
    alpha = abs(_last(selu_result, "selu_alpha_dropout")["var"] - 1.0)
    assert plain > alpha + 0.1


def test_relu_tanh_and_untuned_selu_leave_the_fixed_point(selu_result):
    # A ReLU output has var/mean² = (1/2 − 1/2π)/(1/2π) ≈ 2.1 whatever its input variance
    # (zero-mean Gaussian input), so it can never sit near (0, 1).
    relu = _last(selu_result, "relu_kaiming")
    assert max(abs(relu["mean"]), abs(relu["var"] - 1.0)) > 0.3
    assert _last(selu_result, "tanh_xavier")["var"] < 0.1
    assert _last(selu_result, "selu_pytorch_init")["var"] < 0.1


def test_selu_fixed_point_and_jacobian_match_the_facts_file():
    for start in (_self_normalization.NEWTON_START, (-0.3, 0.5)):
        fp = _self_normalization.selu_fixed_point(start)
        assert abs(fp["mu"]) < 1e-4 and abs(fp["nu"] - 1.0) < 1e-4
        assert fp["residual"] < 1e-10
        np.testing.assert_allclose(fp["jacobian"], [[0.0, 0.08883], [0.0, 0.78265]],
                                   atol=1e-5)
        assert fp["spectral_norm"] == pytest.approx(0.7877, abs=1e-4)


def test_selu_fixed_point_gives_up_when_newton_cannot_converge():
    with pytest.raises(RuntimeError, match="did not converge"):
        _self_normalization.selu_fixed_point(max_iter=1)


def test_selu_report_tables_figures_and_text(selu_result):
    [table, fixed] = selu_result.tables.values()
    assert [row["network"] for row in table] == [
        n["label"] for n in _self_normalization.NETWORKS.values()]
    assert {f"{stat}@{layer}" for stat in ("mean", "var")
            for layer in (1, 8, 16, 32, 64)} <= set(table[0])
    assert fixed[-1]["computed"] == pytest.approx(0.7877, abs=1e-4)
    assert set(selu_result.figures) == {"depth_profile", "selu_map"}
    markdown = selu_result.to_markdown()
    assert "| SELU, LeCun normal |" in markdown and "0.7877" in markdown
    assert "![selu_map](selu_map.png)" in markdown


def test_selu_same_seed_same_tables_other_seed_other_tables(selu_result):
    again = self_normalization(quick=True, seed=0)
    assert again.tables == selu_result.tables
    other = self_normalization(quick=True, seed=1)
    first = next(iter(other.tables))
    assert other.tables[first] != selu_result.tables[first]


def test_selu_plan_is_json_with_unique_keys():
    specs = _self_normalization.plan(False, [0, 1])
    assert len({s["key"] for s in specs}) == len(specs) == 2 * len(
        _self_normalization.NETWORKS)
    assert json.loads(json.dumps(specs)) == specs
    assert all(s["depth"] == 128 for s in specs)


def test_selu_save_writes_report_and_pngs(selu_result, tmp_path):
    assert_saves(selu_result, tmp_path)
    assert "Self-normalisation" in (tmp_path / "report.md").read_text()


# ------------------------------------------------------------------------- relu_family


@pytest.fixture(scope="module")
def family_result():
    return relu_family(quick=True, seed=0)


def test_relu_family_every_network_learns(family_result):
    assert len(family_result.runs) == len(_relu_family.DATASETS) * len(
        _relu_family.ACTIVATIONS)
    for spec, result in family_result.runs:
        assert result["test_err"] < 0.5, spec["key"]
        assert 0.0 <= result["train_err"] < 0.5, spec["key"]
        assert len(result["history"]) == spec["epochs"]


def test_relu_family_table_has_a_row_per_dataset_and_activation(family_result):
    table, paper = family_result.tables.values()
    assert {(r["dataset"], r["activation"]) for r in table} == set(itertools.product(
        _relu_family.DATASETS, _relu_family.ACTIVATIONS.values()))
    for row in table:
        assert row["gap (test − train)"] == pytest.approx(row["test err"] - row["train err"])
    assert [r["activation"] for r in paper] == list(_relu_family.ACTIVATIONS.values())
    assert paper[-1]["CIFAR-10 test err"] == 0.1119
    assert set(family_result.figures) == {"curves_mnist", "curves_fashion_mnist"}


def test_relu_family_report_states_the_rrelu_convention(family_result):
    markdown = family_result.to_markdown()
    assert "U(3, 8)" in markdown and "11/48" in markdown and "2/11" in markdown
    assert "UNVERIFIED" in markdown


def test_relu_family_prelu_learns_one_slope_per_channel(family_result):
    model = _relu_family.small_cnn("prelu")
    slopes = [m.weight.shape for m in model.modules() if isinstance(m, nn.PReLU)]
    assert slopes == [(16,), (32,), (100,)]
    assert model(minidl.tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 10)
    for spec, result in family_result.runs:
        assert len(result["prelu_slopes"]) == (3 if spec["activation"] == "prelu" else 0)


def test_relu_family_report_with_several_seeds():
    """The table's mean ± std and the seed-noise verdict, from made-up results."""
    def result(test_err: float) -> dict:
        record = {"epoch": 1, "train_loss": 0.1, "train_acc": 0.9, "val_loss": 0.2,
                  "val_acc": 1 - test_err, "lr": 1e-3, "time": 1.0, "skipped_steps": 0}
        return {"history": [record], "train_err": 0.01, "train_loss": 0.1,
                "test_err": test_err, "test_loss": 0.2,
                "prelu_slopes": [0.25, 0.25, 0.25]}

    # Seeds 0 and 1 differ by 0.10 in every setting, far more than the activations do.
    names = list(_relu_family.ACTIVATIONS)
    runs = [(spec, result(0.05 + 0.1 * spec["seed"] + 0.001 * names.index(spec["activation"])))
            for spec in _relu_family.plan(True, [0, 1])]
    report = _relu_family.report(runs, True, [0, 1])
    table = next(iter(report.tables.values()))
    assert table[0]["test err"] == "0.1000 ± 0.0707"
    assert table[0]["gap (test − train)"] == "0.0900 ± 0.0707"
    assert sum("within twice the seed noise" in t for t in report.text) == 2


# ------------------------------------------------------------------ activation_shootout


@pytest.fixture(scope="module")
def shootout_result():
    return activation_shootout(quick=True, seed=0)


def _final(result) -> dict[str, dict]:
    return {spec["activation"]: r["history"][-1] for spec, r in result.runs}


def test_shootout_every_modern_activation_learns_sigmoid_slowest(shootout_result):
    final = _final(shootout_result)
    assert set(final) == set(_activation_shootout.ACTIVATIONS)
    for name, record in final.items():
        if name != "sigmoid":
            assert record["val_acc"] > 0.5, name
            assert record["val_acc"] > final["sigmoid"]["val_acc"] + 0.2, name


def test_shootout_binary_accuracy_is_bounded_by_categorical(shootout_result):
    # Per image, binary accuracy is 1 or 0.9 when right, 0.8 or 0.9 when wrong; so
    # 0.8 + 0.1 a <= binary <= 0.9 + 0.1 a for categorical accuracy a.
    for spec, result in shootout_result.runs:
        for record in result["history"]:
            a, binary = record["val_acc"], record["val_binary_acc"]
            assert 0.8 + 0.1 * a - 1e-9 <= binary <= 0.9 + 0.1 * a + 1e-9, spec["key"]


def test_shootout_table_figure_and_text(shootout_result):
    [table] = shootout_result.tables.values()
    assert [r["activation"] for r in table] == list(_activation_shootout.LABELS.values())
    assert {"test acc", "test binary acc (Keras)", "s/epoch"} <= set(table[0])
    assert set(shootout_result.figures) == {"curves"}
    markdown = shootout_result.to_markdown()
    assert "Binary accuracy" in markdown and "0.998" in markdown
    assert "| GELU (tanh approx.) |" in markdown


def test_shootout_save_writes_report_and_png(shootout_result, tmp_path):
    assert_saves(shootout_result, tmp_path)
    assert (tmp_path / "report.md").read_text().startswith("# Activation shoot-out")


def test_shootout_uses_the_original_activations():
    model = _activation_shootout.mnist_cnn(_activation_shootout.ACTIVATIONS["gelu"])
    assert all(m.approximate == "tanh" for m in model.modules() if isinstance(m, nn.GELU))
    selu = _activation_shootout.mnist_cnn(_activation_shootout.ACTIVATIONS["selu"])
    assert sum(isinstance(m, nn.AlphaDropout) for m in selu.modules()) == 2
    leaky = [m for m in _activation_shootout.mnist_cnn(
        _activation_shootout.ACTIVATIONS["leaky_relu"]).modules()
        if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 3 and all(m.negative_slope == 0.2 for m in leaky)


def test_test_metrics_on_known_outputs():
    """Three images through the identity "model": confidently right, confidently wrong,
    unsure (uniform) and right by the arg-max tie-break."""
    logits = np.full((3, 10), 0.0, dtype=np.float32)
    logits[0, 3] = 10.0      # class 3, p ≈ 1: right, all 10 outputs right
    logits[1, 5] = 10.0      # class 5 predicted, label 2: 8 of 10 outputs right
    labels = np.array([3, 2, 0])   # image 2: p = 0.1 everywhere, arg-max 0: right, 9 of 10
    batches = [(minidl.tensor(logits), minidl.tensor(labels))]
    metrics = _activation_shootout.test_metrics(nn.Identity(), batches)
    assert metrics["acc"] == pytest.approx(2 / 3)
    assert metrics["binary_acc"] == pytest.approx((1.0 + 0.8 + 0.9) / 3)
    p_wrong = 1 / (9 + np.exp(10.0))
    expected_loss = (-np.log(1 - 9 * p_wrong) - np.log(p_wrong) + np.log(10)) / 3
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert 0 < metrics["bce"] < metrics["loss"]


def test_clip_value_adam_clips_every_gradient_element_before_the_step():
    clipped = minidl.tensor(np.zeros(3), requires_grad=True)
    reference = minidl.tensor(np.zeros(3), requires_grad=True)
    opt = _activation_shootout.clip_value_adam([clipped], clip_value=0.5, lr=0.1)
    ref_opt = optim.Adam([reference], lr=0.1)
    # Adam's first step is ±lr whatever the gradient's size, so the second tells.
    for grad in (np.array([10.0, -10.0, 0.2]), np.array([0.1, 0.1, 0.1])):
        clipped.grad = grad.copy()
        opt.step()
        reference.grad = np.clip(grad, -0.5, 0.5)
        ref_opt.step()
    np.testing.assert_allclose(clipped.data, reference.data)
    assert np.abs(clipped.grad).max() <= 0.5
    unclipped = minidl.tensor(np.zeros(3), requires_grad=True)
    plain = optim.Adam([unclipped], lr=0.1)
    for grad in (np.array([10.0, -10.0, 0.2]), np.array([0.1, 0.1, 0.1])):
        unclipped.grad = grad.copy()
        plain.step()
    assert not np.allclose(unclipped.data, clipped.data)
