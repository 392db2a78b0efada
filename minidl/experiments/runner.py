"""The machinery every named experiment shares: plan the runs, run them (in this process,
on a local process pool, or on any ``concurrent.futures.Executor``), save each run's result
as it completes, and turn the results into tables, figures and a ``report.md``.

An experiment is a module ``minidl/experiments/_<name>.py`` with a public function of the
experiment's name (``vanishing_gradients(quick=False, seed=0, **options)``, which calls
``run``) and four names the runner uses:

``TITLE``
    One line, the report's heading.
``plan(quick, seeds) -> list[dict]``
    The independent runs, each a JSON-able dict with a unique ``"key"`` (it names the
    run's result file) and a ``"seed"``.
``run(spec) -> dict``
    One run. A module-level function, so a process pool or a cluster can pickle it. It
    must draw all randomness from ``minidl.manual_seed(spec["seed"])`` (the runner seeds
    before calling it) and return plain data: numbers, strings, lists and dicts.
``report(runs, quick, seeds) -> Report``
    Tables, figures and text from ``runs``, a list of ``(spec, result)`` pairs in plan
    order. Figures are drawn here, in the calling process, so a resumed sweep draws
    them from saved results exactly as a fresh one does.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minidl import random as _random
from minidl.diagnostics import to_markdown
from minidl.train import _atomic_write

#: Experiment name -> the module that defines it, in the order the course takes them.
EXPERIMENTS = {name: f"minidl.experiments._{name}" for name in (
    "activation_gallery",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relu",
    "self_normalization",
    "initialization",
    "relu_family",
    "activation_shootout",
)}


@dataclass
class Report:
    """What an experiment's ``report`` function returns.

    ``tables`` maps a table's title to its rows (a list of dicts, one per row);
    ``figures`` maps a file stem (``"gradient_norms"`` becomes ``gradient_norms.png``) to
    a matplotlib Figure; ``text`` holds markdown paragraphs: what the run shows and how it
    compares with the published numbers.
    """

    tables: dict[str, list[dict]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)


@dataclass
class ExperimentResult:
    """An experiment's outcome: its tables, figures and text, and every run's raw result.

    Attributes
    ----------
    name, title : str
        The experiment's name (as ``minidl run`` takes it) and heading.
    quick : bool
        Whether it ran in quick mode (small data, few epochs: a smoke test, not a result).
    seeds : list of int
    tables : dict of str to list of dict
        Title to rows; ``result.markdown(title)`` renders one.
    figures : dict of str to matplotlib Figure
    text : list of str
        Markdown paragraphs.
    runs : list of (dict, dict)
        Each run's spec and result, in plan order.
    seconds : float
        Wall-clock time of the whole experiment, resumed runs excluded.
    run_seconds : float
        Sum of the runs' own times (what the sweep would take on one worker).
    """

    name: str
    title: str
    quick: bool
    seeds: list[int]
    tables: dict[str, list[dict]]
    figures: dict[str, Any]
    text: list[str]
    runs: list[tuple[dict, dict]]
    seconds: float
    run_seconds: float

    def markdown(self, table: str) -> str:
        """One table as markdown."""
        if table not in self.tables:
            raise KeyError(f"{self.name} has no table {table!r}; tables: {list(self.tables)}")
        return to_markdown(self.tables[table])

    def to_markdown(self) -> str:
        """The whole report: settings, text, tables and links to the figures."""
        mode = "quick mode (a smoke test on small data, not a result)" if self.quick \
            else "full mode"
        lines = [f"# {self.title}", "",
                 f"`minidl run {self.name}{' --quick' if self.quick else ''} --seeds "
                 f"{','.join(map(str, self.seeds))}`: {mode}; {len(self.runs)} runs, "
                 f"{self.run_seconds:.0f} s of run time, {self.seconds:.0f} s wall-clock.", ""]
        for paragraph in self.text:
            lines += [paragraph, ""]
        for title, rows in self.tables.items():
            lines += [f"## {title}", "", to_markdown(rows), ""]
        for stem in self.figures:
            lines += [f"![{stem}]({stem}.png)", ""]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def save(self, out: str | os.PathLike) -> Path:
        """Write every figure as ``<stem>.png`` and the report as ``report.md`` in ``out``;
        returns the report's path."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for stem, fig in self.figures.items():
            _atomic_write(out / f"{stem}.png", lambda f, fig=fig: fig.savefig(f, format="png",
                                                                             dpi=110))
        report = out / "report.md"
        _atomic_write(report, lambda f: f.write(self.to_markdown().encode()))
        return report


def seed_stats(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof = 1) over seeds of the values that are not
    None (a NaN or an overflow is saved as None); None where there are too few."""
    kept = np.array([v for v in values if v is not None], dtype=np.float64)
    mean = float(kept.mean()) if kept.size else None
    return mean, float(kept.std(ddof=1)) if kept.size > 1 else None


def seed_cell(values: Sequence[float], digits: int = 4) -> float | str:
    """A table cell for one value per seed: the value itself for one seed, else
    "mean ± sample standard deviation" (ddof = 1) with ``digits`` decimals."""
    if len(values) == 1:
        return values[0]
    mean, std = seed_stats(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def quick_default() -> bool:
    """Whether experiments run in quick mode when not told: ``MINIDL_QUICK`` set to anything
    but ``''`` or ``'0'`` (CI and the notebooks' smoke runs set ``MINIDL_QUICK=1``)."""
    return os.environ.get("MINIDL_QUICK", "") not in ("", "0")


def available() -> list[str]:
    """The names of the experiments, in the order the course takes them."""
    return list(EXPERIMENTS)


def title(name: str) -> str:
    """The one-line title of experiment ``name``."""
    return _module(name).TITLE


def _module(name: str) -> Any:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; available: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])


def _seeds(seed: int | Sequence[int]) -> list[int]:
    seeds = [seed] if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) \
        else list(seed) if isinstance(seed, Sequence) and not isinstance(seed, str) else None
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
                        for s in seeds):
        raise ValueError(f"seed must be a non-negative integer or a non-empty sequence of "
                         f"them, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return [int(s) for s in seeds]


def _plain(value: Any) -> Any:
    """``value`` as JSON data: NumPy scalars and arrays become Python numbers and lists,
    NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"an experiment run returned a {type(value).__name__}, which cannot be "
                    "saved; return numbers, strings, lists and dicts")


def run_one(module: str, spec: dict) -> tuple[dict, float]:
    """One planned run of the experiment defined in ``module`` (an import path): seed, run,
    and return the result as JSON data with the seconds it took. Module-level, and given
    the module rather than the experiment's name, so that an executor's worker processes
    can import and run it."""
    module = importlib.import_module(module)
    _random.manual_seed(spec["seed"])
    start = time.perf_counter()
    result = module.run(spec)
    seconds = time.perf_counter() - start
    return json.loads(json.dumps(_plain(result), allow_nan=False)), seconds


def _share_threads(workers: int) -> None:
    """Worker-process initializer: split the machine's cores between the workers, so that
    N workers with Numba's parallel kernels do not oversubscribe the CPU (BLAS threads are
    limited by ``_blas_threads``, before NumPy loads)."""
    import numba

    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS,
                                     (os.cpu_count() or 1) // workers)))


@contextlib.contextmanager
def _blas_threads(threads: int | None) -> Iterator[None]:
    """Set ``OPENBLAS_NUM_THREADS`` while worker processes start (it must be set before
    they import NumPy), unless the user set it: N workers with all cores' worth of BLAS
    threads each made small experiments 10-20x slower on a 2-core machine."""
    if threads is None or "OPENBLAS_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        del os.environ["OPENBLAS_NUM_THREADS"]


def _saved(path: Path, spec: dict) -> dict | None:
    try:
        with open(path) as f:
            saved = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return saved if saved.get("spec") == spec else None


def run(name: str, quick: bool | None = None, seed: int | Sequence[int] = 0, *,
        out: str | os.PathLike | None = None, workers: int = 1,
        executor: cf.Executor | None = None, progress: bool = False) -> ExperimentResult:
    """Run the experiment ``name`` over its activations (or settings) and seeds.

    Parameters
    ----------
    name : str
        One of ``available()`` (a key of ``EXPERIMENTS``, which maps each name to the
        module that defines it; add an entry to run an experiment of your own).
    quick : bool, optional
        Small data and few epochs: minutes for all experiments together, for CI and for
        a first look. Quick results show the qualitative effect, not the published numbers.
        Default: ``quick_default()``, i.e. the ``MINIDL_QUICK`` environment variable.
    seed : int or sequence of int
        One seed, or several: each setting runs once per seed.
    out : path, optional
        Folder for the results. Each run's result is saved there (``runs/<key>.json``) as
        it completes, and a later call with the same ``out`` reuses every run already saved
        with the same spec, so an interrupted sweep resumes where it stopped. The figures
        (PNG) and ``report.md`` are written there at the end.
    workers : int
        Runs at once in a local process pool; 1 runs them one after another in this
        process. Ignored when ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Where to run the runs instead, e.g. a Dask distributed client's
        ``client.get_executor()`` to spread a sweep over a cluster. Each run must get a
        process of its own while it runs (minidl's random generator is per process), so
        thread pools are refused.
    progress : bool
        Print a line as each run completes.
    """
    module = _module(name)
    seeds = _seeds(seed)
    quick = quick_default() if quick is None else bool(quick)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got "
                        f"{type(executor).__name__}")
    if isinstance(executor, cf.ThreadPoolExecutor):
        raise TypeError("executor: a ThreadPoolExecutor cannot run experiments: minidl has one "
                        "random generator per process, so runs in threads would reseed each "
                        "other; use a process pool (workers=N) or a cluster's executor")
    specs = module.plan(bool(quick), seeds)
    keys = [s["key"] for s in specs]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"{name}: plan() gave duplicate run keys {keys}")

    folder = Path(out) / "runs" if out is not None else None
    results: dict[str, tuple[dict, float]] = {}
    if folder is not None:
        for spec in specs:
            saved = _saved(folder / f"{spec['key']}.json", spec)
            if saved is not None:
                results[spec["key"]] = (saved["result"], saved["seconds"])
    pending = [s for s in specs if s["key"] not in results]

    def done(spec: dict, outcome: tuple[dict, float]) -> None:
        results[spec["key"]] = outcome
        if folder is not None:
            text = json.dumps({"spec": spec, "result": outcome[0], "seconds": outcome[1]})
            _atomic_write(folder / f"{spec['key']}.json", lambda f: f.write(text.encode()))
        if progress:
            print(f"{name}: {spec['key']} done in {outcome[1]:.1f} s "
                  f"({len(results)}/{len(specs)})", flush=True)

    start = time.perf_counter()
    if pending and executor is None and workers == 1:
        for spec in pending:
            done(spec, run_one(module.__name__, spec))
    elif pending:
        own = executor is None
        n = min(workers, len(pending))
        pool = executor or cf.ProcessPoolExecutor(
            n, mp_context=multiprocessing.get_context("spawn"), initializer=_share_threads,
            initargs=(n,))
        try:
            with _blas_threads(max(1, (os.cpu_count() or 1) // n) if own else None):
                # The workers start here, as the runs are submitted, and read the variable.
                futures = {pool.submit(run_one, module.__name__, spec): spec
                           for spec in pending}
            for future in cf.as_completed(futures):
                done(futures[future], future.result())
        finally:
            if own:
                pool.shutdown(cancel_futures=True)
    seconds = time.perf_counter() - start

    runs = [(spec, results[spec["key"]][0]) for spec in specs]
    report = module.report(runs, bool(quick), seeds)
    result = ExperimentResult(name, module.TITLE, bool(quick), seeds, report.tables,
                              report.figures, report.text, runs, seconds,
                              sum(results[k][1] for k in keys))
    if out is not None:
        result.save(out)
    return result
