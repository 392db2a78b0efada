"""The fit loop, History, evaluation and checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl import data, nn, optim
from minidl.train import (
    History,
    NonFiniteLossError,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
)


def _moons_loaders(seed: int = 0) -> tuple[data.DataLoader, data.DataLoader]:
    x, y = data.make_moons(400, noise=0.1, seed=seed)
    train = data.TensorDataset(x[:300], y[:300])
    val = data.TensorDataset(x[300:], y[300:])
    return (data.DataLoader(train, batch_size=32, shuffle=True),
            data.DataLoader(val, batch_size=100))


def _model(dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Dropout(dropout), nn.Linear(32, 2))


def _run(seed: int, epochs: int = 3, dropout: float = 0.2) -> History:
    minidl.manual_seed(seed)
    train, val = _moons_loaders()
    model = _model(dropout)
    opt = optim.Adam(model.parameters(), lr=0.02)
    return fit(model, opt, nn.CrossEntropyLoss(), train, val, epochs, progress=False)


def test_fit_learns_and_records_history() -> None:
    history = _run(0, epochs=15)
    assert len(history) == 15
    assert history["epoch"] == list(range(1, 16))
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_acc"][-1] > 0.9
    assert len(history.step_losses) == 15 * math.ceil(300 / 32)
    assert all(t > 0 for t in history["time"])
    assert history.records[0]["lr"] == 0.02
    with pytest.raises(KeyError, match="no column 'accuracy'"):
        history["accuracy"]


def test_same_seed_same_run_bit_for_bit() -> None:
    a, b = _run(7), _run(7)
    assert a.step_losses == b.step_losses
    assert a["val_loss"] == b["val_loss"]
    assert _run(8).step_losses != a.step_losses


def test_nan_loss_stops_before_the_step_and_names_epoch_and_step() -> None:
    minidl.manual_seed(0)
    train, _ = _moons_loaders()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    calls = {"n": 0}
    snapshot = {}

    def poisoned(out: minidl.Tensor, y: minidl.Tensor) -> minidl.Tensor:
        calls["n"] += 1
        loss = F.cross_entropy(out, y)
        if calls["n"] == 12:  # epoch 2, step 2 (10 steps per epoch)
            snapshot.update(model.state_dict())
            return loss * float("nan")
        return loss

    with pytest.raises(NonFiniteLossError, match="nan at epoch 2, step 2"):
        fit(model, opt, poisoned, train, epochs=3, progress=False)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshot[name])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("policy, applied", [("skip", False), ("continue", True)])
def test_nan_policies(policy: str, applied: bool) -> None:
    minidl.manual_seed(0)
    train, _ = _moons_loaders()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}

    def poisoned(out: minidl.Tensor, y: minidl.Tensor) -> minidl.Tensor:
        calls["n"] += 1
        loss = F.cross_entropy(out, y)
        return loss * float("inf") if calls["n"] == 3 else loss

    history = fit(model, opt, poisoned, train, epochs=1, progress=False, on_nan=policy)
    weights_finite = all(np.isfinite(p.data).all() for p in model.parameters())
    assert weights_finite is not applied
    assert history.records[0]["skipped_steps"] == (0 if applied else 1)


def test_fit_rejects_bad_arguments() -> None:
    train, _ = _moons_loaders()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="on_nan must be"):
        fit(model, opt, nn.CrossEntropyLoss(), train, on_nan="ignore")
    with pytest.raises(ValueError, match="epochs must be"):
        fit(model, opt, nn.CrossEntropyLoss(), train, epochs=-1)


def test_scheduler_steps_once_per_epoch() -> None:
    train, _ = _moons_loaders()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, opt, nn.CrossEntropyLoss(), train, epochs=3, scheduler=sched,
                  progress=False)
    assert history["lr"] == [1.0, 0.5, 0.25]
    assert opt.param_groups[0]["lr"] == 0.125


def test_evaluate_matches_manual_computation_and_restores_mode() -> None:
    minidl.manual_seed(1)
    _, val = _moons_loaders()
    model = _model(dropout=0.5)
    model.train()
    result = evaluate(model, val, nn.CrossEntropyLoss())
    assert model.training
    x, y = val.dataset.tensors
    model.eval()
    with minidl.no_grad():
        out = model(x)
    assert result["loss"] == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx(float((out.data.argmax(1) == y.data).mean()))


def test_evaluate_regression_has_no_accuracy() -> None:
    x = minidl.randn(20, 3)
    loader = data.DataLoader(data.TensorDataset(x, minidl.randn(20, 1)), batch_size=5)
    assert evaluate(nn.Linear(3, 1), loader, nn.MSELoss())["acc"] is None


def test_history_json_round_trip_table_and_plot(tmp_path: Path) -> None:
    history = _run(0, epochs=2)
    history.meta = {"seed": 0}
    path = tmp_path / "h" / "history.json"
    history.save(path)
    loaded = History.load(path)
    assert loaded.records == json.loads(json.dumps(history.records))
    assert loaded.step_losses == history.step_losses
    assert loaded.meta == {"seed": 0}
    table = history.table().splitlines()
    assert table[0].startswith("| epoch | train_loss")
    assert len(table) == 4
    fig = history.plot()
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["train", "val"]


def _trained(seed: int = 0) -> tuple[nn.Module, optim.Optimizer]:
    minidl.manual_seed(seed)
    train, _ = _moons_loaders()
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    fit(model, opt, nn.CrossEntropyLoss(), train, epochs=1, progress=False)
    return model, opt


def _one_step(model: nn.Module, opt: optim.Optimizer) -> None:
    x, y = data.make_moons(32, seed=99)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_checkpoint_round_trip_resumes_identically(tmp_path: Path) -> None:
    model, opt = _trained()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, opt, epoch=1, note="after one epoch")

    fresh = _model()
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    extra = load_checkpoint(path, fresh, fresh_opt)
    assert extra == {"epoch": 1, "note": "after one epoch"}
    assert fresh_opt.param_groups[0]["lr"] == 0.01
    _one_step(model, opt)
    _one_step(fresh, fresh_opt)
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_checkpoint_restores_rng(tmp_path: Path) -> None:
    model, opt = _trained()
    save_checkpoint(tmp_path / "c.npz", model)
    expected = minidl.rand(5).data
    minidl.manual_seed(123)
    load_checkpoint(tmp_path / "c.npz", model, restore_rng=True)
    np.testing.assert_array_equal(minidl.rand(5).data, expected)


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, opt = _trained()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, opt)
    before = path.read_bytes()

    def crash(f: object, **arrays: object) -> None:
        f.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, opt)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_checkpoint_mismatch_changes_nothing(tmp_path: Path) -> None:
    model, opt = _trained()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, opt)

    other = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Dropout(0.0), nn.Linear(16, 2))
    before = other.state_dict()
    with pytest.raises(RuntimeError, match="size mismatch for '0.weight'"):
        load_checkpoint(path, other)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, before[k])

    # The model fits but the optimizer (SGD, no Adam state) does not: the model is put back.
    target = _model()
    target_before = target.state_dict()
    with pytest.raises((ValueError, KeyError, RuntimeError)):
        load_checkpoint(path, target, optim.SGD(target.parameters(), lr=0.1, momentum=0.9))
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v, target_before[k])

    with pytest.raises(ValueError, match="holds no optimizer state"):
        save_checkpoint(tmp_path / "m.npz", model)
        load_checkpoint(tmp_path / "m.npz", target, opt)
