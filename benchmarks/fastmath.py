"""``minidl.kernels.fastmath`` against libm inside Numba ``prange`` kernels.

For each function ``f``, times the elementwise kernel ``out[i] = f(x[i])`` over float32
arrays of 1e6 and 1.6e7 elements on 2 threads, with ``f`` from

* libm: ``math.f`` (Numba calls the C library's float32 version, ``expf``, ...);
* fastmath: ``minidl.kernels.fastmath.f`` compiled with ``error_model="numpy"`` and
  ``fastmath={"contract"}``, the options under which the loop vectorises;
* fastmath, default njit: the same functions under plain ``numba.njit``, whose division
  checks keep loops with a ``/`` (log1p, tanh, erf, erfc) from vectorising;

and a plain copy ``out[i] = x[i]`` as the memory-bandwidth floor. Times are medians of 7
runs after a warm-up. Then it shows, from the compiled assembly, whether the ``tanh`` kernel
uses vector fused multiply-adds and divisions on 256-bit ymm registers.

Usage:  python benchmarks/fastmath.py
Prints markdown (paste it into benchmarks/README.md).
"""

from __future__ import annotations

import inspect
import math
import platform
import re
import statistics
import time
import types

import numba
import numpy as np

from minidl.kernels import fastmath

NAMES = ("exp", "expm1", "log1p", "tanh", "erf", "erfc")
SIZES = (1_000_000, 16_000_000)
THREADS = 2
REPEATS = 7
VECTOR_OPTIONS = {"error_model": "numpy", "fastmath": {"contract"}}


def compile_fastmath(**options) -> dict:
    """The functions of ``fastmath`` compiled with ``numba.njit(**options)``, each calling
    the compiled versions of the others (as minidl's kernel generator does)."""
    scope = dict(vars(fastmath))
    compiled = {}
    for name, fn in vars(fastmath).items():
        if inspect.isfunction(fn) and fn.__module__ == fastmath.__name__:
            clone = types.FunctionType(fn.__code__, scope, name, fn.__defaults__, fn.__closure__)
            scope[name] = compiled[name] = numba.njit(**options)(clone)
    return compiled


def map_kernel(f, **options):
    @numba.njit(parallel=True, **options)
    def kernel(x, out):
        for i in numba.prange(x.shape[0]):
            out[i] = f(x[i])

    return kernel


@numba.njit(parallel=True)
def copy_kernel(x, out):
    for i in numba.prange(x.shape[0]):
        out[i] = x[i]


def median_ms(kernel, x: np.ndarray, out: np.ndarray) -> float:
    kernel(x, out)  # compile (first call) and warm up
    kernel(x, out)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        kernel(x, out)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def inputs(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Activation-like float32 inputs: N(0, 2**2); for log1p, (0, 1] as in softplus."""
    if name == "log1p":
        return rng.uniform(0.0, 1.0, n).astype(np.float32)
    return (2.0 * rng.standard_normal(n)).astype(np.float32)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def vector_evidence(kernel) -> str:
    asm = "\n".join(kernel.inspect_asm(sig) for sig in kernel.signatures)
    fma = len(re.findall(r"\bvfn?m(?:add|sub)\w*pd\s[^\n]*%ymm", asm))
    div = len(re.findall(r"\bvdivpd\s[^\n]*%ymm", asm))
    # Numba calls libm through a function pointer: movabsq $tanhf, %rax; callq *%rax
    calls = sorted(set(re.findall(r"\$((?:exp|expm1|log1p|tanh|erf|erfc)f?)\b", asm)))
    return (f"{fma} vector FMA instructions (vfmadd...pd on ymm), {div} vector divisions "
            f"(vdivpd on ymm), libm calls: {', '.join(calls) or 'none'}")


def main() -> None:
    numba.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    fast = compile_fastmath(**VECTOR_OPTIONS)
    plain = compile_fastmath()
    kernels = {
        name: {
            "libm": map_kernel(getattr(math, name)),
            "fast": map_kernel(fast[name], **VECTOR_OPTIONS),
            "plain": map_kernel(plain[name]),
        }
        for name in NAMES
    }

    print(f"{cpu_name()}, {THREADS} threads, Numba {numba.__version__}, NumPy "
          f"{np.__version__}; float32 in and out, median of {REPEATS} runs\n")
    print("| function | elements | libm ms | fastmath ms | speed-up | fastmath, default "
          "njit ms | copy ms |")
    print("|---|---|---|---|---|---|---|")
    for name in NAMES:
        for n in SIZES:
            x = inputs(name, n, rng)
            out = np.empty_like(x)
            copy = median_ms(copy_kernel, x, out)
            t = {kind: median_ms(k, x, out) for kind, k in kernels[name].items()}
            print(f"| {name} | {n:.1e} | {t['libm']:.2f} | {t['fast']:.2f} | "
                  f"{t['libm'] / t['fast']:.1f}x | {t['plain']:.2f} | {copy:.2f} |", flush=True)

    print("\nVectorisation, from the assembly of the float32 tanh kernel:")
    print(f"- fastmath (error_model='numpy', contract): {vector_evidence(kernels['tanh']['fast'])}")
    print(f"- fastmath, default njit: {vector_evidence(kernels['tanh']['plain'])}")
    print(f"- libm: {vector_evidence(kernels['tanh']['libm'])}")


if __name__ == "__main__":
    main()
