"""The ``minidl`` command, run as a user would (in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from minidl import models
from minidl.train import load_checkpoint


def minidl_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidl.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_help_guides_a_newcomer() -> None:
    top = minidl_cli("--help")
    assert top.returncode == 0
    assert "train" in top.stdout and "minidl train --help" in top.stdout
    train = minidl_cli("train", "--help")
    assert train.returncode == 0
    for text in ("--activation", "--dataset", "--epochs", "examples:", "history.json"):
        assert text in train.stdout


def test_no_command_prints_help() -> None:
    result = minidl_cli()
    assert result.returncode == 0
    assert "usage: minidl" in result.stdout


def test_unknown_option_and_dataset_are_rejected() -> None:
    result = minidl_cli("train", "--epoch", "3x")
    assert result.returncode == 2
    assert "--epoch" in result.stderr
    result = minidl_cli("train", "--dataset", "cifar10")
    assert result.returncode == 2
    assert "invalid choice: 'cifar10'" in result.stderr
    result = minidl_cli("train", "--hidden", "256,abc")
    assert result.returncode == 2
    assert "comma-separated layer widths" in result.stderr


def test_missing_dataset_gives_a_clear_error(tmp_path: Path) -> None:
    result = minidl_cli("train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path),
                        "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "minidl train: error:" in result.stderr
    assert "download" in result.stderr
    assert "Traceback" not in result.stderr


def test_quick_training_run_writes_its_outputs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = minidl_cli("train", "--limit", "600", "--epochs", "2", "--batch-size", "64",
                        "--hidden", "32", "--activation", "tanh", "--seed", "3",
                        "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["epoch", "train", "loss", "train", "acc", "test", "loss",
                                "test", "acc", "time", "(s)"]
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.npz", "curves.png", "history.json", "results.md"]

    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history["records"]] == [1, 2]
    assert history["meta"]["activation"] == "tanh"
    final_acc = history["records"][-1]["val_acc"]
    assert 0.5 < final_acc <= 1.0
    assert f"final test accuracy {final_acc:.4f}" in result.stdout

    model = models.mlp(784, (32,), 10, "tanh")
    assert load_checkpoint(out / "checkpoint.npz", model) == {"epoch": 2}
    assert np.isfinite(model[1].weight.data).all()


def test_diverging_run_stops_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    args = ("train", "--optimizer", "sgd", "--lr", "1e6", "--limit", "1000", "--epochs", "2",
            "--hidden", "32", "--no-progress", "--out", str(tmp_path / "run"))
    result = minidl_cli(*args)
    assert result.returncode == 1
    assert "the loss is nan at epoch 1" in result.stderr
    assert "--on-nan skip" in result.stderr
    assert "Traceback" not in result.stderr

    skipped = minidl_cli(*args, "--on-nan", "skip")
    assert skipped.returncode == 0, skipped.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert sum(r["skipped_steps"] for r in history["records"]) > 0


def test_cnn_with_selu_on_fashion_mnist(tmp_path: Path) -> None:
    out = tmp_path / "cnn"
    result = minidl_cli("train", "--model", "cnn", "--activation", "selu", "--dataset",
                        "fashion-mnist", "--limit", "256", "--epochs", "1", "--batch-size", "64",
                        "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "cnn conv32-conv64-pool-fc128-10 selu on fashion-mnist" in result.stdout
    model = models.mnist_cnn("selu")
    assert load_checkpoint(out / "checkpoint.npz", model) == {"epoch": 1}
    assert "AlphaDropout" in [type(m).__name__ for m in model]
