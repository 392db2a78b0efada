"""Tests of ``minidl.diagnostics``: each probe on hand-built models whose answer is known
(a ReLU behind a bias of -100 is 100% dead, a branch scaled by 10 has 10x the gradient
norm, tanh of large inputs is saturated), against NumPy for the accumulated statistics,
and for clean detaching and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minidl
from minidl import diagnostics as D
from minidl import functional as F
from minidl import models, nn, optim
from minidl.data import DataLoader, TensorDataset
from minidl.diagnostics.activation_stats import _histogram, _moments
from minidl.diagnostics.gradient_norms import _norm
from minidl.train import fit


@pytest.fixture(autouse=True)
def _seed() -> None:
    minidl.manual_seed(0)


def t(a: np.ndarray | list, requires_grad: bool = False) -> minidl.Tensor:
    return minidl.Tensor(np.asarray(a, dtype=np.float32), requires_grad=requires_grad)


def no_hooks_left(model: nn.Module) -> bool:
    return (all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
            and all(not p._hooks for p in model.parameters()))


def biased_relu(bias: np.ndarray, act: nn.Module | None = None) -> nn.Sequential:
    """Linear(4, len(bias)) with identity-like weights and the given bias, then ``act``."""
    lin = nn.Linear(4, len(bias))
    lin.weight.data[...] = np.eye(len(bias), 4, dtype=np.float32)
    lin.bias.data[...] = bias
    return nn.Sequential(lin, act if act is not None else nn.ReLU())


class TwoBranch(nn.Module):
    """Two identical Linear layers side by side; the second one's output is scaled by 10."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)
        self.b.load_state_dict(self.a.state_dict())

    def forward(self, x: minidl.Tensor) -> minidl.Tensor:
        return self.a(x) + self.b(x) * 10.0


# ======================================================================== to_markdown, chain
def test_to_markdown_renders_every_column_and_none_as_dash() -> None:
    text = D.to_markdown([{"layer": "1", "mean": 0.123456}, {"layer": "3", "std": None}])
    assert text.splitlines() == ["| layer | mean | std |", "|---|---|---|",
                                 "| 1 | 0.1235 | - |", "| 3 | - | - |"]


def test_chain_calls_every_callback_in_order() -> None:
    seen: list[tuple[str, int]] = []
    cb = D.chain(lambda r: seen.append(("a", r["epoch"])), lambda r: seen.append(("b", r["epoch"])))
    cb({"epoch": 3})
    assert seen == [("a", 3), ("b", 3)]
    with pytest.raises(TypeError, match="callable"):
        D.chain(print, 3)


# ======================================================================== ActivationStats
def test_relu_behind_bias_minus_100_is_all_zeros() -> None:
    model = biased_relu(np.full(6, -100.0, np.float32))
    with D.ActivationStats(model) as stats:
        model(t(np.random.default_rng(0).normal(size=(32, 4))))
    (row,) = stats.summary()
    assert row["layer"] == "1" and row["type"] == "ReLU" and row["elements"] == 32 * 6
    assert row["zero_frac"] == 1.0 and row["mean"] == 0.0 and row["std"] == 0.0
    assert row["saturated_frac"] is None  # ReLU has no saturating regime


def test_tanh_saturates_on_large_inputs_only() -> None:
    model = nn.Sequential(nn.Tanh())
    stats = D.ActivationStats(model)
    model(t(np.array([[-50.0, 50.0, 9.0, -9.0]])))
    assert stats.summary()[0]["saturated_frac"] == 1.0
    stats.reset()
    model(t(np.linspace(-0.5, 0.5, 40).reshape(4, 10)))
    assert stats.summary()[0]["saturated_frac"] == 0.0
    stats.reset()
    # |tanh(x)| > 0.97 exactly when |x| > atanh(0.97) = 2.09: three of these six.
    model(t(np.array([[-3.0, -2.0, 0.0, 2.0, 2.2, 5.0]])))
    assert stats.summary()[0]["saturated_frac"] == pytest.approx(0.5)
    stats.remove()


@pytest.mark.parametrize(("act", "x", "expected"), [
    (nn.Sigmoid(), [-10.0, -3.0, 0.0, 3.0, 10.0, 4.0], 3 / 6),    # sigma < 0.03 or > 0.97
    (nn.Hardtanh(), [-2.0, -1.0, -0.999, 0.5, 1.0, 7.0], 4 / 6),  # on the clamp, both ends
    (nn.ReLU6(), [-1.0, 0.0, 3.0, 6.0, 9.0, 5.99], 2 / 6),        # only the top clamp
    (nn.ELU(alpha=2.0), [-10.0, -1.0, 0.0, 1.0, -5.0, 3.0], 2 / 6),  # y < -0.97 alpha
])
def test_saturation_rule_per_activation(act: nn.Module, x: list, expected: float) -> None:
    model = nn.Sequential(act)
    with D.ActivationStats(model) as stats:
        model(t([x]))
    assert stats.summary()[0]["saturated_frac"] == pytest.approx(expected)


def test_statistics_accumulate_over_batches_like_numpy_on_all_outputs() -> None:
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3), nn.Tanh())
    stats = D.ActivationStats(model, layers=[nn.ReLU, nn.Tanh, "0"], bins=20)
    outputs: dict[str, list[np.ndarray]] = {"0": [], "1": [], "3": []}
    for name in outputs:
        model._modules[name].register_forward_hook(
            lambda m, i, o, name=name: outputs[name].append(o.data.copy()))
    for size in (16, 3, 40):
        model(t(rng.normal(size=(size, 5)) * 3 + 1))
    rows = {r["layer"]: r for r in stats.summary()}
    assert list(rows) == ["0", "1", "3"]  # the model's order, Linear included when named
    hists = stats.histograms()
    for name, chunks in outputs.items():
        y = np.concatenate([c.ravel() for c in chunks])
        assert rows[name]["elements"] == y.size
        assert rows[name]["mean"] == pytest.approx(y.mean(dtype=np.float64), abs=1e-6)
        assert rows[name]["std"] == pytest.approx(y.std(dtype=np.float64), rel=1e-5)
        assert rows[name]["zero_frac"] == np.mean(y == 0)
        counts, edges = hists[name]
        layer = stats.layers[name]
        assert counts.sum() + layer.underflow + layer.overflow == y.size
        assert layer.underflow == np.sum(y < edges[0]) and layer.overflow == np.sum(y > edges[-1])
        np.testing.assert_array_equal(counts, np.histogram(y, bins=edges)[0])
    # Tanh's edges are its bounds, so every element is in a bin; ReLU's start at 0.
    assert hists["3"][1][[0, -1]].tolist() == [-1.0, 1.0] and hists["3"][0].sum() == 3 * 59
    assert hists["1"][1][0] == 0.0
    stats.remove()


def test_given_range_counts_outliers_separately() -> None:
    model = nn.Sequential(nn.Identity())
    with D.ActivationStats(model, layers="0", bins=4, range=(0.0, 4.0)) as stats:
        model(t([[-1.0, 0.0, 0.5, 1.0, 3.99, 4.0, 4.5, 100.0]]))
    counts, edges = stats.histograms()["0"]
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert counts.tolist() == [2, 1, 0, 2]  # 4.0 is in the last bin, as in np.histogram
    assert (stats.layers["0"].underflow, stats.layers["0"].overflow) == (1, 2)


def test_histogram_kernel_ignores_nan_and_matches_numpy() -> None:
    y = np.random.default_rng(2).normal(size=1001).astype(np.float32)
    y[[3, 500]] = np.nan
    counts = np.zeros(13, np.int64)
    _histogram(y, -2.0, 2.5, counts)
    np.testing.assert_array_equal(counts, np.histogram(y[~np.isnan(y)], 13, (-2.0, 2.5))[0])
    s1, s2, zeros, saturated, under, over = _moments(np.array([0.0, 1.0, 3.0]), 1.0, 0.5,
                                                     2.0, 0.0, 2.0)
    assert (s1, s2, zeros, saturated, under, over) == (1.0, 5.0, 1, 2, 0, 1)


def test_reset_forgets_and_detached_probe_records_nothing() -> None:
    model = nn.Sequential(nn.ReLU())
    stats = D.ActivationStats(model)
    model(t([[1.0, -1.0]]))
    stats.reset()
    assert stats.summary()[0]["elements"] == 0 and stats.summary()[0]["mean"] is None
    assert stats.histograms() == {}
    stats.remove()
    model(t([[1.0, -1.0]]))
    assert stats.summary()[0]["elements"] == 0
    assert not stats.attached and no_hooks_left(model)


def test_activation_stats_errors_name_the_problem_and_attach_nothing() -> None:
    model = models.mlp(8, (4,), 2)
    with pytest.raises(KeyError, match=r"no layer named 'fc9'.*'0', '1', '2', '3'"):
        D.ActivationStats(model, layers=["2", "fc9"])
    with pytest.raises(ValueError, match="has no activation layers"):
        D.ActivationStats(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="has no Conv2d layers"):
        D.ActivationStats(model, layers=[nn.Conv2d])
    with pytest.raises(TypeError, match="layer names .* or Module classes, got int"):
        D.ActivationStats(model, layers=[1])
    with pytest.raises(TypeError, match="must be a minidl.nn.Module"):
        D.ActivationStats(lambda x: x)
    with pytest.raises(ValueError, match="bins must be a positive int"):
        D.ActivationStats(model, bins=0)
    with pytest.raises(ValueError, match="lo < hi"):
        D.ActivationStats(model, range=(1.0, 1.0))
    with pytest.raises(TypeError, match=r"pair \(lo, hi\)"):
        D.ActivationStats(model, range="ab")
    assert no_hooks_left(model)


# ======================================================================== DeadUnits
def test_bias_minus_100_is_100_percent_dead_and_half_is_half() -> None:
    x = t(np.random.default_rng(3).normal(size=(64, 4)))
    all_dead = biased_relu(np.full(4, -100.0, np.float32))
    assert D.dead_fraction(all_dead, [x]) == {"1": 1.0}
    half = biased_relu(np.array([-100.0, 0.0, -100.0, 0.0], np.float32))
    with D.DeadUnits(half) as dead:
        half(x)
    assert dead.dead_fraction() == {"1": 0.5}
    assert dead.dead_masks()["1"].tolist() == [True, False, True, False]
    assert dead.summary() == [{"layer": "1", "type": "ReLU", "examples": 64, "units": 4,
                               "dead": 2, "dead_frac": 0.5}]


def test_a_unit_alive_in_any_batch_is_alive() -> None:
    model = nn.Sequential(nn.ReLU())
    dead = D.DeadUnits(model)
    model(t([[-1.0, -1.0, 1.0]]))
    assert dead.dead_fraction()["0"] == pytest.approx(2 / 3)
    model(t([[-1.0, 2.0, -1.0], [0.0, -3.0, -1.0]]))
    assert dead.dead_fraction()["0"] == pytest.approx(1 / 3)  # unit 0 never > 0 (0 is dead)
    dead.reset()
    assert dead.dead_fraction() == {"0": None}
    dead.remove()


def test_conv_units_are_channels() -> None:
    conv = nn.Conv2d(1, 4, 3)
    conv.bias.data[...] = [-100.0, 5.0, -100.0, -100.0]
    model = nn.Sequential(conv, nn.ReLU())
    assert D.dead_fraction(model, [t(np.random.default_rng(4).normal(size=(2, 1, 6, 6)))]) \
        == {"1": 0.75}


def test_pre_activation_defines_dead_for_the_leaky_family() -> None:
    # PReLU with a negative slope outputs positive values for negative inputs: its units
    # are still never in the linear regime, so dead by the documented definition.
    prelu = nn.PReLU(init=-0.5)
    model = nn.Sequential(prelu)
    assert D.dead_fraction(model, [t([[-1.0, 2.0], [-3.0, -1.0]])]) == {"0": 0.5}
    # In-place ReLU overwrites its input: the pre-hook reads it first.
    model = nn.Sequential(nn.ReLU(inplace=True))
    assert D.dead_fraction(model, [t([[-1.0, 2.0]])]) == {"0": 0.5}


def test_dead_fraction_runs_in_eval_mode_and_restores_every_mode() -> None:
    model = nn.Sequential(nn.Dropout(0.5), nn.ReLU(), nn.Linear(3, 3), nn.RReLU())
    model[2].eval()  # a mixed state, to be restored as it was
    modes = []
    model[1].register_forward_hook(lambda m, i, o: modes.append((m.training,
                                                                 minidl.is_grad_enabled())))
    loader = DataLoader(TensorDataset(t(np.ones((10, 3))), t(np.zeros(10))), batch_size=4)
    fractions = D.dead_fraction(model, loader)
    # Dropout off in eval mode: every input is 1, so no unit of the ReLU is dead.
    assert fractions["1"] == 0.0 and set(fractions) == {"1", "3"}
    assert modes == [(False, False)] * 3
    assert [m.training for m in model] == [True, True, False, True]
    assert len(model[1]._forward_hooks) == 1  # only the test's own hook is left
    with pytest.raises(ValueError, match="no examples"):
        D.dead_fraction(model, [])


def test_dead_relu_stays_dead_in_training_while_leaky_relu_revives() -> None:
    rng = np.random.default_rng(5)
    loader = DataLoader(TensorDataset(t(rng.normal(size=(64, 2))), t(np.full((64, 1), 5.0))),
                        batch_size=16)
    results = {}
    for act in (nn.ReLU(), nn.LeakyReLU(negative_slope=0.1)):
        model = nn.Sequential(nn.Linear(2, 4), act, nn.Linear(4, 1))
        model[0].weight.data[...] = 0.0
        model[0].bias.data[...] = -1.0  # every pre-activation is -1: all units dead
        model[2].weight.data[...] = 1.0
        model[2].bias.data[...] = 0.0
        before = model[0].weight.data.copy(), model[0].bias.data.copy()
        tracker = D.DeadUnitTracker(model, loader)
        tracker()  # at initialisation: epoch 0
        fit(model, optim.SGD(model[0].parameters(), lr=0.1), nn.MSELoss(), loader, epochs=6,
            progress=False, on_epoch_end=tracker)
        assert [row["epoch"] for row in tracker.history] == list(range(7))
        results[type(act).__name__] = (tracker.series("1"), before, model)
    relu_dead, (w, b), relu = results["ReLU"]
    assert relu_dead.tolist() == [1.0] * 7
    # ReLU'(x) = 0 for x < 0: a dead unit's weights get exactly zero gradient.
    np.testing.assert_array_equal(relu[0].weight.data, w)
    np.testing.assert_array_equal(relu[0].bias.data, b)
    leaky_dead = results["LeakyReLU"][0]
    assert leaky_dead[0] == 1.0 and leaky_dead[-1] == 0.0


def test_dead_units_errors() -> None:
    model = models.mlp(8, (4,), 2)
    with pytest.raises(TypeError, match="layer '1' is a Linear; dead units are defined for"):
        D.DeadUnits(model, layers=["1", "2"])
    with pytest.raises(ValueError, match="has no ReLU-family layers"):
        D.DeadUnits(models.mlp(8, (4,), 2, activation="tanh"))
    with pytest.raises(KeyError, match="no layer named 'relu'"):
        D.DeadUnitTracker(model, [], layers="relu")
    with pytest.raises(ValueError, match=r"expected a batch \(N, F\)"):
        D.dead_fraction(nn.Sequential(nn.ReLU()), [t([1.0, -1.0])])
    tracker = D.DeadUnitTracker(model, [t(np.ones((2, 8)))])
    with pytest.raises(KeyError, match="tracked"):
        tracker.series("0")
    assert no_hooks_left(model)


# ======================================================================== GradientNorms
def test_branch_scaled_by_10_has_10x_the_gradient_norm() -> None:
    model = TwoBranch().double()
    x = minidl.Tensor(np.random.default_rng(6).normal(size=(8, 3)))
    with D.GradientNorms(model) as norms:
        F.mse_loss(model(x), minidl.Tensor(np.ones((8, 2)))).backward()
    rows = {(r["layer"], r["param"]): r for r in norms.rows()}
    assert sorted(rows) == [("a", "bias"), ("a", "weight"), ("b", "bias"), ("b", "weight")]
    for pname in ("weight", "bias"):
        a, b = rows["a", pname], rows["b", pname]
        assert b["grad_norm"] == pytest.approx(10 * a["grad_norm"], rel=1e-12)
        assert a["grad_norm"] == pytest.approx(np.linalg.norm(model.a._parameters[pname].grad))
        assert a["data_norm"] == pytest.approx(np.linalg.norm(model.a._parameters[pname].data))
        assert b["log10_grad_data"] == pytest.approx(a["log10_grad_data"] + 1)
        assert a["step"] == 1 and a["epoch"] == 1 and a["log10_update_data"] is None
    assert no_hooks_left(model)


def test_each_backward_is_a_step_with_its_own_gradient() -> None:
    lin = nn.Linear(2, 1)
    norms = D.GradientNorms(lin)
    x = t([[1.0, 2.0]])
    lin(x).sum().backward()
    (lin(x) * 3).sum().backward()  # accumulates into .grad; the probe sees this pass only
    w = norms.series("weight")
    np.testing.assert_allclose(w, [np.sqrt(5), 3 * np.sqrt(5)], rtol=1e-6)
    np.testing.assert_allclose(norms.series("bias"), [1.0, 3.0])
    out = lin(x) * 2
    out.sum().backward(retain_graph=True)
    out.sum().backward()  # a second pass without a forward in between is a new step too
    np.testing.assert_allclose(norms.series("bias"), [1.0, 3.0, 2.0, 2.0])
    assert np.isnan(norms.series("weight", "log10_update_data")).all()  # no step reported
    with pytest.raises(KeyError, match="no parameter 'fc.weight'"):
        norms.series("fc.weight")
    with pytest.raises(ValueError, match="stat must be one of"):
        norms.series("weight", "norm")
    norms.remove()


@pytest.mark.parametrize("explicit", [False, True])
def test_update_ratio_of_plain_sgd_is_lr_times_grad_ratio(explicit: bool) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = minidl.Tensor(np.random.default_rng(7).normal(size=(5, 3)))
    opt = optim.SGD(model.parameters(), lr=0.01)
    norms = D.GradientNorms(model)
    stepper = opt if explicit else norms.wrap(opt)
    for _ in range(3):
        stepper.zero_grad()
        model(x).sum().backward()
        if explicit:
            norms.before_step()
        stepper.step()
        if explicit:
            norms.after_step()
    rows = norms.rows()
    assert len(rows) == 3 * 4 and [r["step"] for r in rows[::4]] == [1, 2, 3]
    for r in rows:  # w -= lr * g, so ||dw|| / ||w|| = lr * ||g|| / ||w||
        assert r["log10_update_data"] == pytest.approx(r["log10_grad_data"] - 2, abs=1e-9)
    norms.remove()
    assert no_hooks_left(model)
    opt.step()  # a wrapper of a detached probe is the plain optimizer
    with pytest.raises(RuntimeError, match="call before_step"):
        norms.after_step()


def test_gradient_norms_with_fit_per_epoch_means() -> None:
    rng = np.random.default_rng(8)
    model = models.mlp(6, (5,), 3)
    loader = DataLoader(TensorDataset(t(rng.normal(size=(20, 6))),
                                      minidl.Tensor(rng.integers(0, 3, 20))), batch_size=8)
    with D.GradientNorms(model) as norms:
        opt = norms.wrap(optim.Adam(model.parameters(), lr=1e-2))
        history = fit(model, opt, nn.CrossEntropyLoss(), loader, epochs=2, progress=False,
                      on_epoch_end=norms.end_epoch)
    assert history["lr"] == [1e-2, 1e-2]  # fit reads the wrapped optimizer's groups
    assert len(norms.steps) == 6
    means = norms.epoch_means()
    assert [(r["epoch"], r["layer"], r["param"], r["steps"]) for r in means] == [
        (e, layer, p, 3) for e in (1, 2) for layer in ("1", "3") for p in ("weight", "bias")]
    first = [r for r in norms.rows() if r["epoch"] == 1 and r["layer"] == "1"
             and r["param"] == "weight"]
    assert means[0]["grad_norm"] == pytest.approx(np.mean([r["grad_norm"] for r in first]))
    # Adam's first step moves every weight by about lr: ||dw|| ~ lr * sqrt(n).
    w = model[1].weight
    assert 10 ** first[0]["log10_update_data"] * first[0]["data_norm"] == pytest.approx(
        1e-2 * math.sqrt(w.data.size), rel=0.01)
    assert [r["layer"] for r in norms.summary()] == ["1", "1", "3", "3"]
    assert "| epoch | layer | type | param |" in D.to_markdown(means)


def test_zero_weights_give_no_ratio_and_frozen_parameters_are_skipped() -> None:
    lin = nn.Linear(2, 2)
    nn.init.zeros_(lin.bias)
    lin.weight.requires_grad = False
    with D.GradientNorms(lin) as norms:
        lin(t([[1.0, 1.0]])).sum().backward()
    (row,) = norms.rows()
    assert row["param"] == "bias" and row["grad_norm"] == pytest.approx(math.sqrt(2))
    assert row["data_norm"] == 0.0 and row["log10_grad_data"] is None


def test_gradient_norm_does_not_overflow_in_float32() -> None:
    assert _norm(np.full(4, 1e30, np.float32)) == pytest.approx(2e30, rel=1e-6)
    assert _norm(np.zeros(3, np.float32)) == 0.0


def test_gradient_norms_errors() -> None:
    model = models.mlp(8, (4,), 2)
    with pytest.raises(ValueError, match=r"layer '2' \(ReLU\) has no parameters"):
        D.GradientNorms(model, layers=["1", "2"])
    with pytest.raises(ValueError, match="no parameters that require grad"):
        D.GradientNorms(nn.Linear(2, 2).requires_grad_(False))
    with pytest.raises(TypeError, match="expected a minidl.optim optimizer"):
        D.GradientNorms(model).wrap(model)


# ======================================================================== depth_statistics
def test_depth_statistics_of_a_known_affine_chain() -> None:
    layers = []
    for _ in range(3):
        lin = nn.Linear(4, 4)
        lin.weight.data[...] = 2 * np.eye(4, dtype=np.float32)
        lin.bias.data[...] = 1.0
        layers += [lin, nn.Identity()]
    model = nn.Sequential(*layers)
    x = np.random.default_rng(9).normal(size=(1000, 4)).astype(np.float32)
    rows = D.depth_statistics(model, x, layers=[nn.Linear])
    assert [(r["depth"], r["layer"], r["type"]) for r in rows] == [
        (0, "input", "input"), (1, "0", "Linear"), (2, "2", "Linear"), (3, "4", "Linear")]
    mean, var = x.mean(dtype=np.float64), x.var(dtype=np.float64)
    for r in rows:  # y = 2x + 1 at each layer
        assert r["mean"] == pytest.approx(mean, rel=1e-5)
        assert r["var"] == pytest.approx(var, rel=1e-5)
        mean, var = 2 * mean + 1, 4 * var
    assert len(D.depth_statistics(model, x, layers="all")) == 7
    assert no_hooks_left(model) and model.training


def test_selu_keeps_mean_and_variance_through_depth() -> None:
    model = models.mlp(64, [64] * 32, 64, activation="selu")
    rows = D.depth_statistics(model, minidl.randn(256, 64))
    assert len(rows) == 33 and all(r["type"] == "SELU" for r in rows[1:])
    assert abs(rows[-1]["mean"]) < 0.1 and 0.8 < rows[-1]["var"] < 1.2


def test_depth_statistics_errors() -> None:
    with pytest.raises(TypeError, match="x must be a Tensor or an ndarray"):
        D.depth_statistics(models.mlp(4, (3,), 2), [[1.0] * 4])
    with pytest.raises(KeyError, match="no layer named 'x'"):
        D.depth_statistics(models.mlp(4, (3,), 2), np.ones((1, 4)), layers=["x"])


# ======================================================================== all together
@pytest.mark.parametrize("build", [lambda: models.mlp(784, (32, 16), 10),
                                   lambda: models.mnist_cnn()])
def test_all_probes_on_the_library_models_detach_cleanly(build) -> None:
    model = build()
    x = minidl.randn(2, 1, 28, 28)
    y = minidl.Tensor(np.array([3, 7]))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with D.ActivationStats(model) as stats, D.DeadUnits(model) as dead, \
            D.GradientNorms(model) as norms:
        wrapped = norms.wrap(opt)
        for _ in range(2):
            loss = F.cross_entropy(model(x), y)
            wrapped.zero_grad()
            loss.backward()
            wrapped.step()
        assert not no_hooks_left(model)
    assert no_hooks_left(model)
    n_acts = 3 if len(list(model.children())) > 6 else 2
    assert len(stats.summary()) == len(dead.summary()) == n_acts
    assert all(r["elements"] > 0 and 0.2 < r["zero_frac"] < 0.8 for r in stats.summary())
    assert all(r["examples"] == 4 for r in dead.summary())
    n_params = len(list(model.parameters()))
    assert len(norms.rows()) == 2 * n_params
    assert all(r["grad_norm"] > 0 and r["log10_update_data"] is not None
               for r in norms.rows())
