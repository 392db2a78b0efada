"""The experiment runner: seeding, saving, resuming, executors and the report."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl import experiments
from minidl.experiments import runner


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setitem(runner.EXPERIMENTS, "toy", "toy_experiment")
    calls = tmp_path / "calls"
    calls.mkdir()
    monkeypatch.setenv("TOY_CALLS", str(calls))
    return calls


def totals(result: experiments.ExperimentResult) -> list[float]:
    return [row["total"] for row in result.tables["Totals"]]


def test_runs_are_seeded_and_planned_in_order(toy: Path) -> None:
    result = experiments.run("toy", seed=[3, 4])
    assert [spec["key"] for spec, _ in result.runs] == ["n2-seed3", "n2-seed4", "n3-seed3",
                                                         "n3-seed4"]
    expected = np.random.default_rng(4).standard_normal(3)
    assert result.runs[3][1]["draws"] == pytest.approx(expected.tolist())
    assert totals(experiments.run("toy", seed=[3, 4])) == totals(result)
    assert result.runs[0][1]["nan"] is None, "NaN must be saved as JSON null"
    assert len(experiments.run("toy", quick=True, seed=3).runs) == 1


def test_report_and_per_run_files_are_written(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = experiments.run("toy", seed=0, out=out)
    report = (out / "report.md").read_text()
    assert report.startswith("# Toy experiment")
    assert "minidl run toy --seeds 0" in report and "Sums of normal draws." in report
    assert "## Totals" in report and "| n3-seed0 |" in report
    assert "![totals](totals.png)" in report
    assert (out / "totals.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "runs" / "n3-seed0.json").read_text())
    assert saved["spec"] == {"key": "n3-seed0", "n": 3, "seed": 0}
    assert saved["result"]["total"] == result.runs[1][1]["total"]
    assert result.markdown("Totals").startswith("| key | total |")
    with pytest.raises(KeyError, match="Totals"):
        result.markdown("nope")


def test_an_interrupted_sweep_resumes(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = experiments.run("toy", seed=[0, 1], out=out)
    assert len(list(toy.iterdir())) == 4
    (out / "runs" / "n2-seed1.json").unlink()
    (out / "runs" / "n3-seed0.json").write_text("{ truncated")
    for f in toy.iterdir():
        f.unlink()
    again = experiments.run("toy", seed=[0, 1], out=out)
    assert sorted(f.name.rsplit("-", 1)[0] for f in toy.iterdir()) == ["n2-seed1", "n3-seed0"]
    assert totals(again) == totals(first)
    # A saved run whose spec differs (another seed set) is not reused.
    experiments.run("toy", quick=True, seed=[0], out=out)
    assert len(list(toy.iterdir())) == 2


def test_a_process_pool_and_a_given_executor_give_the_same_results(toy: Path,
                                                                    tmp_path: Path) -> None:
    serial = totals(experiments.run("toy", seed=[0, 1]))
    pooled = experiments.run("toy", seed=[0, 1], workers=2, out=tmp_path / "pool")
    assert totals(pooled) == serial
    assert len({f.name.rsplit("-", 1)[1] for f in toy.iterdir()}) >= 2, \
        "the runs should have run in worker processes"
    with cf.ProcessPoolExecutor(1) as executor:
        assert totals(experiments.run("toy", seed=[0, 1], executor=executor)) == serial


def test_a_thread_pool_is_refused_because_runs_would_share_the_generator(toy: Path) -> None:
    with cf.ThreadPoolExecutor(2) as executor, pytest.raises(TypeError, match="per process"):
        experiments.run("toy", executor=executor)


def test_a_failing_run_raises_and_keeps_the_finished_ones(toy: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import toy_experiment

    def plan(quick: bool, seeds: list[int]) -> list[dict]:
        return [{"key": "good", "n": 1, "seed": 0}, {"key": "bad", "n": -1, "seed": 0}]

    monkeypatch.setattr(toy_experiment, "plan", plan)
    with pytest.raises(ValueError, match="n must be non-negative"):
        experiments.run("toy", out=tmp_path)
    assert (tmp_path / "runs" / "good.json").is_file()
    assert not (tmp_path / "runs" / "bad.json").exists()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"name": "nope"}, ValueError, "unknown experiment 'nope'; available: activation_gallery"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"seed": []}, ValueError, "non-empty sequence"),
    ({"seed": [1, 1]}, ValueError, "seeds must be distinct"),
    ({"seed": "0"}, ValueError, "seed must be"),
    ({"workers": 0}, ValueError, "workers must be a positive integer"),
    ({"executor": object()}, TypeError, "concurrent.futures.Executor"),
])
def test_bad_arguments_are_named(toy: Path, tmp_path: Path, kwargs: dict, error: type,
                                 match: str) -> None:
    with pytest.raises(error, match=match):
        experiments.run(**{"name": "toy", "out": tmp_path / "out", **kwargs})
    assert not (tmp_path / "out").exists(), "nothing is written before the arguments are checked"


def test_unsaveable_results_are_named() -> None:
    with pytest.raises(TypeError, match="returned a object"):
        runner._plain({"x": [object()]})


def test_every_named_experiment_has_its_function() -> None:
    assert experiments.available() == list(runner.EXPERIMENTS)
    for name in experiments.available():
        function = getattr(experiments, name)
        assert callable(function) and function.__name__ == name
        module = runner._module(name)
        assert module.TITLE and all(callable(getattr(module, f))
                                    for f in ("plan", "run", "report"))


def test_the_cli_lists_the_experiments() -> None:
    result = subprocess.run([sys.executable, "-m", "minidl.cli", "run", "--list"],
                            capture_output=True, text=True, timeout=120, env=os.environ)
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == experiments.available()


def test_pool_workers_get_their_share_of_blas_threads(toy: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    result = experiments.run("toy", seed=[0, 1], workers=2)
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert {r["blas_threads"] for _, r in result.runs} == {share}
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    result = experiments.run("toy", seed=[0, 1], workers=2)
    assert {r["blas_threads"] for _, r in result.runs} == {"3"}, "the user's setting wins"
