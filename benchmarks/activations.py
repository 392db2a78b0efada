"""Elementwise activations: minidl's fused Numba kernels against PyTorch CPU and naive NumPy.

Three measurements, one per mode:

  (default)      for every activation and size (float32, 1-D, x ~ 3·N(0, 1), 2 threads):
                 forward and forward+backward through minidl's autograd, through PyTorch's
                 autograd and through the plain NumPy references (called directly, and
                 through minidl with ``set_kernel_backend('numpy')``); plus the kernel alone
                 (``cpu.forward`` into a preallocated output) and a plain copy of the same
                 array as the bandwidth roofline. At sizes >= --thp-min-size PyTorch is timed
                 a second time in a child process started with THP_MEM_ALLOC_ENABLE=1 (the
                 variable is read when torch is imported), so that both allocators are shown.
  --threshold    serial against prange kernels (relu and gelu, forward and backward) for sizes
                 2**10 .. 2**20: where parallel starts to win, for ``cpu.PARALLEL_THRESHOLD``.
  --compile      first forward+backward of every activation in a fresh process, with an empty
                 (cold) and a filled (warm) MINIDL_CACHE_DIR, and ``import minidl`` alone.

Variants of one activation and size are timed round-robin (one sample of each in turn, for
--repeats rounds), so that drift on a shared machine hits them alike. A sample of a fast
call repeats it for a few milliseconds; every call is timed on its own and each figure is
the median time per call over all samples (a slow call is one sample per round).

Usage:
  python benchmarks/activations.py                      # full table, several minutes
  python benchmarks/activations.py --quick              # smoke test: small sizes, 3 repeats
  python benchmarks/activations.py --sizes 1e6 --activations relu,gelu --json out.json
  python benchmarks/activations.py --threshold
  python benchmarks/activations.py --compile
  python benchmarks/activations.py --from-json out.json   # the tables again, from a saved run
Results are printed as markdown tables (paste them into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
DEFAULT_SIZES = "1e4,1e6,1.6e7"
QUICK_SIZES = "1e4,1e5"
ALL_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu",
                   "gelu_tanh", "softplus", "relu6", "hardtanh", "sigmoid", "tanh", "silu",
                   "mish", "hardsigmoid", "hardswish", "softsign", "logsigmoid")
RRELU_LOWER, RRELU_UPPER = 1 / 8, 1 / 3
PRELU_WEIGHT = 0.25
SAMPLE_S = 0.004  # a sample of a fast call loops it for at least this long

# ----------------------------------------------------------------------------- timing


def _once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_round_robin(variants: dict[str, Callable[[], Any]], repeats: int,
                     sample_s: float = SAMPLE_S, faults: dict[str, float] | None = None,
                     ) -> dict[str, float]:
    """Median seconds per call of each variant; one sample of every variant per round.

    A sample of a fast call is a run of calls lasting about ``sample_s``; each call is timed
    on its own and the result is the median over all calls, so that a call preempted by
    another process on this shared machine does not inflate its whole sample. ``faults``,
    when given, receives the median number of minor page faults per call (counted outside
    the timed region).
    """
    loops = {}
    for name, fn in variants.items():
        fn()  # warm-up (and compilation)
        single = _once(fn)
        if single < sample_s:
            single = min(single, _once(fn))
        loops[name] = max(1, min(2000, math.ceil(sample_s / max(single, 1e-7))))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    nfaults: dict[str, list[int]] = {name: [] for name in variants}
    was_enabled = gc.isenabled()
    try:
        for _ in range(repeats):
            for name, fn in variants.items():
                n = loops[name]
                gc.collect()
                gc.disable()
                clock = time.perf_counter
                for _ in range(n):
                    f0 = _minor_faults()
                    t0 = clock()
                    fn()
                    t1 = clock()
                    nfaults[name].append(_minor_faults() - f0)
                    samples[name].append(t1 - t0)
                gc.enable()
    finally:
        if was_enabled:
            gc.enable()
    if faults is not None:
        faults.update({name: statistics.median(f) for name, f in nfaults.items()})
    return {name: statistics.median(s) for name, s in samples.items()}


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's input (3·N(0, 1)) and upstream gradient (N(0, 1)), float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32) * np.float32(3.0)
    g = rng.standard_normal(n, dtype=np.float32)
    return x, g


def parse_sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def setup_threads() -> None:
    import numba
    numba.set_num_threads(THREADS)


# ----------------------------------------------------------------------------- PyTorch


def torch_call(name: str) -> Callable:
    """``f(TF, torch, t, w)``: the PyTorch form of activation ``name`` (RReLU training)."""
    special = {
        "prelu": lambda TF, torch, t, w: TF.prelu(t, w),
        "rrelu": lambda TF, torch, t, w: TF.rrelu(t, RRELU_LOWER, RRELU_UPPER, training=True),
        "gelu_tanh": lambda TF, torch, t, w: TF.gelu(t, approximate="tanh"),
        "sigmoid": lambda TF, torch, t, w: torch.sigmoid(t),
        "tanh": lambda TF, torch, t, w: torch.tanh(t),
    }
    return special.get(name, lambda TF, torch, t, w: getattr(TF, name)(t))


def torch_variants(name: str, x: np.ndarray, g: np.ndarray, label: str = "torch"
                   ) -> dict[str, Callable]:
    import torch
    import torch.nn.functional as TF
    call = torch_call(name)
    t = torch.from_numpy(x).requires_grad_()
    gt = torch.from_numpy(g)
    w = torch.full((1,), PRELU_WEIGHT, dtype=torch.float32, requires_grad=True)

    def fwd() -> None:
        call(TF, torch, t, w)

    def fwdbwd() -> None:
        t.grad = None
        w.grad = None
        call(TF, torch, t, w).backward(gt)

    return {f"{label}_fwd": fwd, f"{label}_fwdbwd": fwdbwd}


def torch_copy_variants(x: np.ndarray, label: str = "torch") -> dict[str, Callable]:
    import torch
    src = torch.from_numpy(x)
    dst = torch.empty_like(src)
    return {f"{label}_copy_": lambda: dst.copy_(src),
            f"{label}_clone": lambda: src.clone()}


# ----------------------------------------------------------------------------- minidl, NumPy


def _prange_copy():
    import numba

    @numba.njit(parallel=True, cache=False)
    def copy(src, dst):
        for i in numba.prange(src.shape[0]):
            dst[i] = src[i]

    return copy


def copy_variants(x: np.ndarray) -> dict[str, Callable]:
    """Copies of ``x`` into a preallocated array (the roofline) and into a fresh one."""
    dst = np.empty_like(x)
    pcopy = _prange_copy()
    variants = {
        "np_copyto": lambda: np.copyto(dst, x),
        "numba_prange_copy": lambda: pcopy(x, dst),
        "np_copy_alloc": lambda: x.copy(),  # fresh output: what an op returning a new array pays
    }
    variants.update(torch_copy_variants(x))
    return variants


def minidl_variants(name: str, x: np.ndarray, g: np.ndarray) -> tuple[dict[str, Callable], int]:
    """minidl through autograd (numba and numpy backends), the kernel alone, and the NumPy
    references called directly. Also returns the bytes the forward kernel moves."""
    import minidl
    from minidl import functional as F
    from minidl.kernels import cpu, reference
    from minidl.kernels.activations import REGISTRY

    act = REGISTRY[name]
    t = minidl.Tensor(x, requires_grad=True)
    gt = minidl.Tensor(g)
    w = minidl.Tensor(np.full(1, PRELU_WEIGHT, dtype=np.float32), requires_grad=True)
    w_np = w.data
    rng = np.random.default_rng(1)

    if name == "prelu":
        def call(): return F.prelu(t, w)
    elif name == "rrelu":
        def call(): return F.rrelu(t, RRELU_LOWER, RRELU_UPPER, training=True)
    elif name == "gelu_tanh":
        def call(): return F.gelu(t, approximate="tanh")
    else:
        fn = getattr(F, name)

        def call(): return fn(t)

    def numpy_params() -> tuple:
        if name == "prelu":
            return (w_np,)
        if name == "rrelu":  # training: a fresh slope per element, as F.rrelu draws it
            return (rng.uniform(RRELU_LOWER, RRELU_UPPER, x.shape).astype(x.dtype),)
        return tuple(act.params.values())

    ref_f = getattr(reference, name)
    ref_df = getattr(reference, name + "_grad")

    def m_fwd() -> None:
        call()

    def m_fwdbwd() -> None:
        t.grad = None
        w.grad = None
        call().backward(gt)

    def on_numpy(fn: Callable) -> Callable:
        def run() -> None:
            minidl.set_kernel_backend("numpy")
            try:
                fn()
            finally:
                minidl.set_kernel_backend("numba")
        return run

    def ref_fwd() -> None:
        ref_f(x, *numpy_params())

    def ref_fwdbwd() -> None:
        p = numpy_params()
        y = ref_f(x, *p)
        g * ref_df(x, y, *p)
        if name == "prelu":
            (g * reference.prelu_grad_weight(x, y, *p)).sum()

    kernel_params = numpy_params()
    out = np.empty_like(x)
    nbytes = 8 * x.size + sum(4 * x.size for p in kernel_params if np.size(p) == x.size)

    def kernel_fwd() -> None:
        cpu.forward(act, x, kernel_params, out=out)

    return ({"minidl_fwd": m_fwd, "minidl_fwdbwd": m_fwdbwd, "kernel_fwd": kernel_fwd,
             "numpy_fwd": ref_fwd, "numpy_fwdbwd": ref_fwdbwd,
             "numpy_backend_fwd": on_numpy(m_fwd), "numpy_backend_fwdbwd": on_numpy(m_fwdbwd)},
            nbytes)


# ----------------------------------------------------------------------------- main benchmark


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                            "machine": platform.machine(), "cpus": os.cpu_count(),
                            "threads": THREADS}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["thp"] = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        pass
    for mod in ("numba", "torch"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    info["THP_MEM_ALLOC_ENABLE"] = os.environ.get("THP_MEM_ALLOC_ENABLE")
    info["loadavg_start"] = os.getloadavg()
    if info["loadavg_start"][0] > 0.5:
        print(f"warning: load average {info['loadavg_start'][0]:.2f}: other processes share "
              "the CPUs, and parallel kernels (minidl's and PyTorch's) wait for them",
              file=sys.stderr)
    return info


def run_torch_only(sizes: list[int], names: list[str], repeats: dict[int, int]) -> dict:
    """Only PyTorch (the child process of the THP run); never imports minidl."""
    import torch
    torch.set_num_threads(THREADS)
    results: dict[str, Any] = {"copy": {}, "acts": {}, "faults": {}}
    for n in sizes:
        x, g = make_data(n)
        results["copy"][str(n)] = time_round_robin(torch_copy_variants(x, "torch_thp"),
                                                   max(repeats[n], 7))
        for name in names:
            faults: dict[str, float] = {}
            times = time_round_robin(torch_variants(name, x, g, "torch_thp"), repeats[n],
                                     faults=faults)
            results["acts"].setdefault(name, {})[str(n)] = times
            results["faults"].setdefault(name, {})[str(n)] = faults
            print(f"  [thp] {name} n={n:.3g}: " + ", ".join(
                f"{k} {v * 1e3:.3f} ms" for k, v in times.items()), file=sys.stderr, flush=True)
    return results


def run_thp_child(sizes: list[int], names: list[str], repeats: dict[int, int]) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "thp.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-only",
               "--sizes", ",".join(str(n) for n in sizes), "--activations", ",".join(names),
               "--repeats-map", json.dumps({str(n): repeats[n] for n in sizes}),
               "--json", str(out)]
        env = dict(os.environ, THP_MEM_ALLOC_ENABLE="1")
        proc = subprocess.run(cmd, env=env, cwd=ROOT)
        if proc.returncode != 0 or not out.exists():
            print(f"THP child failed (exit {proc.returncode}); no THP column", file=sys.stderr)
            return None
        return json.loads(out.read_text())


def run_benchmark(sizes: list[int], names: list[str], repeats: dict[int, int],
                  thp_min_size: float, use_thp: bool) -> dict:
    import torch

    import minidl  # noqa: F401  (fail early, before the long run)
    setup_threads()
    torch.set_num_threads(THREADS)
    results: dict[str, Any] = {"machine": machine_info(), "sizes": sizes, "repeats": repeats,
                               "copy": {}, "acts": {}, "bytes": {}, "faults": {}}
    import numba
    for n in sizes:
        x, g = make_data(n)
        t0 = time.perf_counter()
        results["copy"][str(n)] = time_round_robin(copy_variants(x), max(repeats[n], 7))
        for name in names:
            variants, nbytes = minidl_variants(name, x, g)
            variants.update(torch_variants(name, x, g))
            faults: dict[str, float] = {}
            times = time_round_robin(variants, repeats[n], faults=faults)
            results["acts"].setdefault(name, {})[str(n)] = times
            results["faults"].setdefault(name, {})[str(n)] = faults
            results["bytes"].setdefault(name, {})[str(n)] = nbytes
            print(f"  {name} n={n:.3g}: minidl f+b {times['minidl_fwdbwd'] * 1e3:.3f} ms, "
                  f"torch f+b {times['torch_fwdbwd'] * 1e3:.3f} ms, numpy f+b "
                  f"{times['numpy_fwdbwd'] * 1e3:.3f} ms", file=sys.stderr, flush=True)
        print(f"size {n:.3g} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr,
              flush=True)
    results["machine"]["numba_threading_layer"] = numba.threading_layer()
    results["machine"]["loadavg_end"] = os.getloadavg()
    thp_sizes = [n for n in sizes if n >= thp_min_size]
    if use_thp and thp_sizes:
        child = run_thp_child(thp_sizes, names, repeats)
        if child is not None:
            for n, times in child["copy"].items():
                results["copy"][n].update(times)
            for name, by_size in child["acts"].items():
                for n, times in by_size.items():
                    results["acts"][name][n].update(times)
                    results["faults"][name][n].update(child["faults"][name][n])
    return results


# ----------------------------------------------------------------------------- reporting


def _ms(s: float | None) -> str:
    if s is None:
        return "–"
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _ratio(a: float | None, b: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if a is None or b is None else fmt.format(a / b)


def copy_roofline(results: dict, n: int) -> tuple[str, float]:
    """The fastest copy into a preallocated array, timed in this process beside the
    activations: (variant, seconds). The THP child's copy is left out: another process, at
    another time."""
    times = results["copy"][str(n)]
    candidates = {k: v for k, v in times.items()
                  if k in ("np_copyto", "numba_prange_copy", "torch_copy_")}
    best = min(candidates, key=candidates.get)
    return best, candidates[best]


def report(results: dict) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append(f"Machine: {m.get('cpu', '?')}, {m['cpus']} CPUs, {m['threads']} threads; "
                 f"Python {m['python']}, NumPy {m['numpy']}, Numba {m['numba']} "
                 f"(threading layer {m.get('numba_threading_layer', '?')}), "
                 f"PyTorch {m['torch']}; THP {m.get('thp', '?')}; load average "
                 f"{m['loadavg_start'][0]:.2f} at the start, "
                 f"{m.get('loadavg_end', [math.nan])[0]:.2f} at the end.")
    lines.append("")
    for n in results["sizes"]:
        key = str(n)
        thp = any("torch_thp_fwd" in results["acts"][a][key] for a in results["acts"])
        rep = results["repeats"][n] if n in results["repeats"] else results["repeats"][key]
        lines += [f"### N = {n:.3g} float32 elements (median of {rep})", ""]
        # copies
        copies = results["copy"][key]
        lines += ["| copy | ms | GB/s (8N bytes) |", "|---|---|---|"]
        for k, v in copies.items():
            lines.append(f"| {k} | {_ms(v)} | {8 * n / v / 1e9:.1f} |")
        best, t_copy = copy_roofline(results, n)
        lines += ["", f"Roofline: {best}, {8 * n / t_copy / 1e9:.1f} GB/s.", ""]
        # forward + backward
        head = ["activation", "minidl", "PyTorch"]
        if thp:
            head += ["PyTorch THP"]
        head += ["ratio minidl/torch"]
        if thp:
            head += ["ratio vs THP"]
        head += ["NumPy ref", "NumPy backend", "speed-up vs NumPy ref",
                 "speed-up vs NumPy backend"]
        for title, suffix in (("forward + backward through autograd, ms", "fwdbwd"),
                              ("forward through autograd, ms", "fwd")):
            lines += [f"{title}:", "", "| " + " | ".join(head) + " |",
                      "|" + "---|" * len(head)]
            for name, by_size in results["acts"].items():
                tm = by_size[key]
                mi, to = tm[f"minidl_{suffix}"], tm[f"torch_{suffix}"]
                tt = tm.get(f"torch_thp_{suffix}")
                npr, npb = tm[f"numpy_{suffix}"], tm[f"numpy_backend_{suffix}"]
                row = [name, _ms(mi), _ms(to)] + ([_ms(tt)] if thp else [])
                row += [_ratio(mi, to)] + ([_ratio(mi, tt)] if thp else [])
                row += [_ms(npr), _ms(npb), _ratio(npr, mi, "{:.1f}×"),
                        _ratio(npb, mi, "{:.1f}×")]
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        # bandwidth
        lines += ["forward bandwidth (kernel: `cpu.forward` into a preallocated output; "
                  "autograd: `F.<name>(t)`, fresh output):", "",
                  "| activation | kernel ms | kernel GB/s | kernel % of copy | autograd GB/s "
                  "| autograd % of copy |", "|---|---|---|---|---|---|"]
        roof = 8 * n / t_copy
        for name, by_size in results["acts"].items():
            tm = by_size[key]
            nbytes = results["bytes"][name][key]
            k_bw, a_bw = nbytes / tm["kernel_fwd"], nbytes / tm["minidl_fwd"]
            lines.append(f"| {name} | {_ms(tm['kernel_fwd'])} | {k_bw / 1e9:.1f} | "
                         f"{100 * k_bw / roof:.0f}% | {a_bw / 1e9:.1f} | "
                         f"{100 * a_bw / roof:.0f}% |")
        lines.append("")
        if results.get("faults"):
            cols = ["minidl_fwd", "minidl_fwdbwd", "torch_fwd", "torch_fwdbwd"]
            cols += ["torch_thp_fwd", "torch_thp_fwdbwd"] if thp else []
            cols += ["numpy_fwdbwd"]
            pages = 4 * n / 4096
            lines += [f"minor page faults per call (median; one {4 * n / 2**20:.3g} MiB array "
                      f"in 4 KiB pages is {pages:.0f} faults):", "",
                      "| activation | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            for name, by_size in results["faults"].items():
                fl = by_size[key]
                lines.append(f"| {name} | " + " | ".join(
                    f"{fl[c]:.0f}" if c in fl else "–" for c in cols) + " |")
            lines.append("")
    lines += targets(results)
    return "\n".join(lines)


def targets(results: dict) -> list[str]:
    """The issue's speed targets, checked against this run."""
    out = ["### Targets", ""]
    big = [n for n in results["sizes"] if n >= 1_000_000]
    for n in big:
        key = str(n)
        worse, worse_thp, slow_np = [], [], []
        for name, by_size in results["acts"].items():
            tm = by_size[key]
            mi = tm["minidl_fwdbwd"]
            if mi > tm["torch_fwdbwd"]:
                worse.append(f"{name} {mi / tm['torch_fwdbwd']:.2f}")
            if "torch_thp_fwdbwd" in tm and mi > tm["torch_thp_fwdbwd"]:
                worse_thp.append(f"{name} {mi / tm['torch_thp_fwdbwd']:.2f}")
            if tm["numpy_fwdbwd"] < 3 * mi:
                slow_np.append(f"{name} {tm['numpy_fwdbwd'] / mi:.1f}×")
        has_thp = any("torch_thp_fwdbwd" in b[key] for b in results["acts"].values())
        out.append(f"- N = {n:.3g}, fwd+bwd ratio <= 1.0 vs PyTorch: "
                   + ("met" if not worse else "missed by " + ", ".join(worse)))
        if has_thp:
            out.append(f"- N = {n:.3g}, fwd+bwd ratio <= 1.0 vs PyTorch with THP: "
                       + ("met" if not worse_thp else "missed by " + ", ".join(worse_thp)))
        out.append(f"- N = {n:.3g}, >= 3× faster than the NumPy references (fwd+bwd): "
                   + ("met" if not slow_np else "missed by " + ", ".join(slow_np)))
    for n in [n for n in results["sizes"] if n >= 10_000_000]:
        key = str(n)
        _, t_copy = copy_roofline(results, n)
        roof = 8 * n / t_copy
        parts = []
        for name in ("relu", "leaky_relu", "prelu"):
            if name in results["acts"]:
                tm = results["acts"][name][key]
                bw = results["bytes"][name][key]
                parts.append(f"{name} kernel {100 * bw / tm['kernel_fwd'] / roof:.0f}%, "
                             f"autograd {100 * bw / tm['minidl_fwd'] / roof:.0f}%")
        if parts:
            out.append(f"- N = {n:.3g}, ReLU-family forward >= 80% of copy bandwidth: "
                       + "; ".join(parts))
    out.append("")
    return out


# ----------------------------------------------------------------------------- --threshold


def run_threshold(repeats: int) -> dict:
    from minidl.kernels import cpu
    from minidl.kernels.activations import REGISTRY
    setup_threads()
    sizes = sorted({int(round(2 ** (k / 2))) for k in range(20, 41)})
    curves: dict[str, dict[int, dict[str, float]]] = {}
    for name in ("relu", "gelu"):
        act = REGISTRY[name]
        module = cpu._kernels(act, "")
        uses_x, uses_y = act.uses
        for direction in ("forward", "backward"):
            label = f"{name} {direction}"
            curves[label] = {}
            for n in sizes:
                x, g = make_data(n)
                y = np.empty_like(x)
                module.forward_float32_serial(x, y)
                out = np.empty_like(x)
                if direction == "forward":
                    args = (x, out)
                else:
                    args = tuple(a for a, used in ((x, uses_x), (y, uses_y)) if used)
                    args += (g, out)
                variants = {mode: _bound(getattr(module, f"{direction}_float32_{mode}"), args)
                            for mode in ("serial", "parallel")}
                curves[label][n] = time_round_robin(variants, repeats, sample_s=0.002)
            print(f"  {label} done", file=sys.stderr, flush=True)
    return {"sizes": sizes, "curves": {k: {str(n): v for n, v in c.items()}
                                       for k, c in curves.items()},
            "current_threshold": cpu.PARALLEL_THRESHOLD}


def _bound(fn: Callable, args: tuple) -> Callable[[], Any]:
    return lambda: fn(*args)


def _crossover(curve: dict[str, dict[str, float]]) -> int | None:
    """The smallest size from which parallel wins at every larger size."""
    sizes = sorted(int(n) for n in curve)
    found = None
    for n in reversed(sizes):
        t = curve[str(n)]
        if t["parallel"] < t["serial"]:
            found = n
        else:
            break
    return found


def report_threshold(res: dict) -> str:
    curves = res["curves"]
    labels = list(curves)
    lines = ["| N | " + " | ".join(f"{lb} serial µs | parallel µs" for lb in labels) + " |",
             "|---|" + "---|---|" * len(labels)]
    for n in res["sizes"]:
        row = [f"{n}"]
        for lb in labels:
            t = curves[lb][str(n)]
            mark = "**" if t["parallel"] < t["serial"] else ""
            row += [f"{t['serial'] * 1e6:.1f}", f"{mark}{t['parallel'] * 1e6:.1f}{mark}"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for lb in labels:
        c = _crossover(curves[lb])
        lines.append(f"- {lb}: parallel wins from N = {c} on" if c else
                     f"- {lb}: parallel never wins consistently")
    # The single threshold that costs least, summed over the four curves: time with the
    # threshold over the time of the better kernel at each size.
    best, best_cost = None, math.inf
    for cand in res["sizes"]:
        cost = 0.0
        for lb in labels:
            for n in res["sizes"]:
                t = curves[lb][str(n)]
                chosen = t["parallel"] if n >= cand else t["serial"]
                cost += chosen / min(t["parallel"], t["serial"])
        if cost < best_cost:
            best, best_cost = cand, cost
    lines.append(f"- least total slow-down over all four curves: PARALLEL_THRESHOLD = {best} "
                 f"(currently {res['current_threshold']})")
    res["recommended"] = best
    return "\n".join(lines)


# ----------------------------------------------------------------------------- --compile

_COMPILE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import minidl
t1 = time.perf_counter()
import numpy as np
from minidl import functional as F
n, names = int(sys.argv[1]), sys.argv[2].split(",")
x = np.linspace(-5, 5, n, dtype=np.float32)
g = minidl.Tensor(np.ones(n, dtype=np.float32))
per = {}
for name in names:
    s = time.perf_counter()
    t = minidl.Tensor(x, requires_grad=True)
    if name == "prelu":
        y = F.prelu(t, minidl.Tensor(np.full(1, 0.25, np.float32), requires_grad=True))
    elif name == "rrelu":
        y = F.rrelu(t, training=True)
    elif name == "gelu_tanh":
        y = F.gelu(t, approximate="tanh")
    else:
        y = getattr(F, name)(t)
    y.backward(g)
    per[name] = time.perf_counter() - s
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "acts_s": t2 - t1, "total_s": t2 - t0, "per": per}))
"""


def _compile_child(cache: str, n: int, names: list[str]) -> dict:
    env = dict(os.environ, MINIDL_CACHE_DIR=cache, MINIDL_KERNEL_BACKEND="numba")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _COMPILE_CHILD, str(n), ",".join(names)],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall
    return res


def run_compile(names: list[str], warm_repeats: int, cold_repeats: int) -> dict:
    out: dict[str, Any] = {}
    # 1000 elements run the serial kernels; 2**17 the prange ones (both compile lazily).
    for n in (1000, 1 << 17):
        cold, warm = [], []
        for _ in range(cold_repeats):
            with tempfile.TemporaryDirectory(prefix="minidl-bench-cache-") as cache:
                cold.append(_compile_child(cache, n, names))
                print(f"  n={n} cold: {cold[-1]['total_s']:.2f} s", file=sys.stderr, flush=True)
                if len(cold) == 1:  # warm runs reuse the first cold run's cache
                    for _ in range(warm_repeats):
                        warm.append(_compile_child(cache, n, names))
                    print(f"  n={n} warm: " + ", ".join(f"{w['total_s']:.2f}" for w in warm)
                          + " s", file=sys.stderr, flush=True)
        out[str(n)] = {"cold": cold, "warm": warm}
    return out


def report_compile(res: dict) -> str:
    lines = ["| first fwd+bwd of all activations | kernels | import minidl s | "
             "activations s | total s (import → last backward) | process wall s |",
             "|---|---|---|---|---|---|"]
    for n, runs in res.items():
        kind = "serial" if int(n) < 1 << 16 else "prange"
        for label in ("cold", "warm"):
            rs = runs[label]
            if not rs:
                continue

            def med(k: str, rs: list = rs) -> float:
                return statistics.median(r[k] for r in rs)

            lines.append(f"| {label} cache (median of {len(rs)}), N = {n} | {kind} | "
                         f"{med('import_s'):.2f} | {med('acts_s'):.2f} | {med('total_s'):.2f} | "
                         f"{med('process_wall_s'):.2f} |")
    lines.append("")
    slow = {}
    for n, runs in res.items():
        if runs["cold"]:
            per = runs["cold"][0]["per"]
            slow[n] = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    for n, top in slow.items():
        lines.append(f"- cold, N = {n}: slowest first calls " +
                     ", ".join(f"{k} {v:.2f} s" for k, v in top))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", help=f"comma-separated element counts (default {DEFAULT_SIZES})")
    p.add_argument("--activations", default=",".join(ALL_ACTIVATIONS),
                   help="comma-separated names (default: all 20)")
    p.add_argument("--repeats", type=int,
                   help="samples per variant (default 7 below 1e7 elements, 5 from 1e7)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test: sizes {QUICK_SIZES}, 3 repeats")
    p.add_argument("--json", help="write all results to this file")
    p.add_argument("--thp-min-size", type=float, default=1e7,
                   help="time PyTorch with THP_MEM_ALLOC_ENABLE=1 too from this size on "
                        "(default 1e7)")
    p.add_argument("--no-thp", action="store_true", help="skip the THP_MEM_ALLOC_ENABLE=1 run")
    p.add_argument("--threshold", action="store_true",
                   help="serial vs parallel kernel crossover (relu, gelu)")
    p.add_argument("--compile", action="store_true",
                   help="cold and warm first forward+backward of all activations")
    p.add_argument("--from-json", metavar="FILE",
                   help="print the tables of an earlier run's --json file (no timing)")
    p.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--repeats-map", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    names = [a for a in args.activations.split(",") if a]
    unknown = sorted(set(names) - set(ALL_ACTIVATIONS))
    if unknown:
        p.error(f"unknown activations {unknown}; choose from {', '.join(ALL_ACTIVATIONS)}")
    sizes = parse_sizes(args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    if args.repeats_map:
        repeats = {int(k): v for k, v in json.loads(args.repeats_map).items()}
    else:
        repeats = {n: args.repeats or (3 if args.quick else 7 if n < 10_000_000 else 5)
                   for n in sizes}

    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        if "curves" in results:
            print(report_threshold(results))
        elif "acts" in results:
            print(report(results))
        else:
            print(report_compile(results))
        return
    if args.torch_only:
        results: dict[str, Any] = run_torch_only(sizes, names, repeats)
        text = ""
    elif args.threshold:
        results = run_threshold(args.repeats or (3 if args.quick else 15))
        text = report_threshold(results)
    elif args.compile:
        results = run_compile(names, warm_repeats=2 if args.quick else 5,
                              cold_repeats=1 if args.quick else 2)
        text = report_compile(results)
    else:
        if os.environ.get("THP_MEM_ALLOC_ENABLE"):
            print("note: THP_MEM_ALLOC_ENABLE is set in this process, so the 'PyTorch' column "
                  "already uses huge pages", file=sys.stderr)
        results = run_benchmark(sizes, names, repeats, args.thp_min_size, not args.no_thp)
        text = report(results)
    if text:
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
