"""Fused Numba CPU kernels, generated from the scalar activations.

For an activation ``f(x, *params)`` / ``df(x, y, *params)`` this module writes a small
Python file of kernels, one loop each::

    forward:   out[i] = f(x[i], p)                   one pass: read x, write y
    backward:  gx[i] = g[i] * df(x[i], y[i], p)      one pass: read g (and x, y), write gx

and imports it. Why a file on disk rather than kernels built in a closure: Numba's on-disk
cache only works for functions defined in a source file, so closures recompile in every
process (0.3-0.8 s per kernel). The generated files live in minidl's cache directory
(``MINIDL_CACHE_DIR``, else ``$XDG_CACHE_HOME/minidl``, else ``~/.cache/minidl``), named
by a hash of everything they are built from, so editing a scalar function gives a new file
and a fresh compile. Kernels compile lazily, on first use.

Each kernel comes in a float32 and a float64 flavour. They differ in what the scalar
functions' ``fm`` means: in float32 kernels it is ``kernels/fastmath.py``, whose
approximations LLVM can vectorise (libm calls block vectorisation and run 3-10x slower);
everything compiles with ``error_model='numpy'``, because Python's error model puts a
division-by-zero check on every ``/``, which also blocks vectorisation, and with fused
multiply-adds allowed (``FASTMATH``). float64 kernels, used for gradient checks, call
libm through Python's ``math`` module for full precision. Each also comes serial and
``prange``-parallel; arrays of at least ``PARALLEL_THRESHOLD`` elements take the parallel
one, where threads pay for their start-up.

Parameters are laid out one of three ways: a number (``"s"``, the same for every
element), one value per channel along axis 1 (``"c"``, PReLU's per-channel slope; the
input is viewed as ``(N, C, rest)``), or one value per element (``"e"``, RReLU's random
slopes).
"""

from __future__ import annotations

import dis
import hashlib
import importlib.util
import inspect
import math
import os
import sys
import tempfile
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np

from minidl.kernels import fastmath
from minidl.kernels.activations import REGISTRY, Activation

PARALLEL_THRESHOLD = 1 << 14  # elements; measured: benchmarks/README.md, "serial or parallel"
_FORMAT = 3  # bump when the generated source or the compile options change
# Only FMA contraction (a*b + c in one instruction, rounded once: faster and at least as
# accurate). Never the flags that assume no NaN/inf or reorder sums: kernels must
# propagate NaN and handle ±inf exactly.
FASTMATH = {"contract"}
DTYPES = ("float32", "float64")


# ---------------------------------------------------------------------------- scalar functions


def _global_functions(fn: Callable) -> list[str]:
    """Names of the plain Python functions that ``fn`` loads as globals."""
    names = {ins.argval for ins in dis.get_instructions(fn) if ins.opname == "LOAD_GLOBAL"}
    names = {n[1] if isinstance(n, tuple) else n for n in names}
    return sorted(n for n in names if inspect.isfunction(fn.__globals__.get(n)))


def _retarget(fn: Callable, math_module: Any, memo: dict, compile: bool = True) -> Callable:
    """``fn`` compiled by ``numba.njit`` with ``fm`` bound to ``math_module``.

    The functions it calls are retargeted the same way, so a scalar function and its
    helpers all see one math module. With ``compile=False`` the result stays plain Python
    (what the numpy backend vectorises for activations that bring no reference).
    """
    if fn in memo:
        return memo[fn]
    scope = dict(fn.__globals__)
    scope["fm"] = math_module
    memo[fn] = None  # a function that calls itself is not a scalar function
    for name in _global_functions(fn):
        callee = _retarget(scope[name], math_module, memo, compile)
        if callee is None:
            raise TypeError(f"scalar function {fn.__name__!r} is recursive; kernels need "
                            "loop-free scalar math")
        scope[name] = callee
    clone = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__,
                               fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    clone.__module__ = fn.__module__
    memo[fn] = numba.njit(clone, error_model="numpy", inline="always") if compile else clone
    return memo[fn]


_MATH_NAMES = ("exp", "expm1", "log1p", "tanh", "erf", "erfc")
_SCALARS: dict[tuple[str, str], tuple[Activation, tuple]] = {}
_MEMOS: dict[str, dict] = {"float32": {}, "float64": {}}
_MATH: dict[str, Any] = {"float64": math}


def _math_module(dtype: str) -> Any:
    """What ``fm`` means in ``dtype`` kernels: compiled ``fastmath`` for float32, else libm."""
    if dtype not in _MATH:
        module = types.ModuleType("minidl.kernels.fastmath_compiled")
        memo: dict = {}
        for name in _MATH_NAMES:
            setattr(module, name, _retarget(getattr(fastmath, name), None, memo))
        _MATH[dtype] = module
    return _MATH[dtype]


def scalar_functions(name: str, dtype: str) -> tuple[Callable, Callable, tuple[Callable, ...]]:
    """``(f, df, dparams)`` of a registered activation, compiled for ``dtype`` kernels.

    Called by the generated kernel files when they are imported.
    """
    key = (name, dtype)
    act = REGISTRY[name]
    # Keyed by the registered object too: registering a corrected activation under the
    # same name (as a student fixing homework does) must not reuse the old functions.
    if key not in _SCALARS or _SCALARS[key][0] is not act:
        memo = _MEMOS[dtype]
        math_module = _math_module(dtype)
        _SCALARS[key] = (act, (_retarget(act.f, math_module, memo),
                               _retarget(act.df, math_module, memo),
                               tuple(_retarget(g, math_module, memo)
                                     for g in act.dparams.values())))
    return _SCALARS[key][1]


# ---------------------------------------------------------------------------- code generation


def _source(act: Activation, layouts: str) -> str:
    """The kernel file for ``act`` with parameter ``layouts`` (one of ``s c e`` each)."""
    uses_x, uses_y = act.uses
    params = [f"p{k}" for k in range(len(layouts))]
    learnable = [k for k, p in enumerate(act.params) if p in act.dparams]
    grid = "c" in layouts
    at = "o, c, j" if grid else "i"

    def args(first: str) -> str:
        out = [first]
        for k, kind in enumerate(layouts):
            out.append({"s": f"p{k}", "c": f"a{k}", "e": f"p{k}[{at}]"}[kind])
        return ", ".join(out)

    def loop(body: list[str], loop_fn: str) -> list[str]:
        if not grid:
            return [f"    for i in {loop_fn}(x.shape[0]):"] + ["        " + b for b in body]
        lines = [f"    for o in {loop_fn}(x.shape[0]):", "        for c in range(x.shape[1]):"]
        lines += [f"            a{k} = p{k}[c]" for k, kind in enumerate(layouts) if kind == "c"]
        lines.append("            for j in range(x.shape[2]):")
        return lines + ["                " + b for b in body]

    saved = (["x"] if uses_x else []) + (["y"] if uses_y else [])
    xi = f"x[{at}]" if uses_x else "0.0"
    yi = f"y[{at}]" if uses_y else "0.0"
    grads = ["gx"] + [f"gp{k}" for k in learnable]
    lines = [
        f"# Generated by minidl.kernels.cpu for the activation {act.name!r} with parameter",
        f"# layouts {layouts!r}. Do not edit: it is rewritten when the scalar functions change.",
        "from numba import njit, prange",
        "",
        "from minidl.kernels.cpu import scalar_functions",
        "",
    ]
    for dtype in DTYPES:
        lines.append(f"f_{dtype}, df_{dtype}, dp_{dtype} = scalar_functions({act.name!r}, "
                     f"{dtype!r})")
        for k in learnable:
            lines.append(f"dp{k}_{dtype} = dp_{dtype}[{learnable.index(k)}]")
    shape = "x" if grid or uses_x else saved[0] if saved else "g"
    for dtype in DTYPES:
        for mode, loop_fn, flags in (("serial", "range", ""),
                                        ("parallel", "prange", ", parallel=True")):
            decorator = f"@njit(cache=True, error_model='numpy', fastmath={FASTMATH!r}{flags})"
            lines += ["", "", decorator,
                      f"def forward_{dtype}_{mode}({', '.join(['x', 'out', *params])}):"]
            lines += loop([f"out[{at}] = f_{dtype}({args(f'x[{at}]')})"], loop_fn)
            body = [f"gi = g[{at}]", f"gx[{at}] = gi * df_{dtype}({args(f'{xi}, {yi}')})"]
            body += [f"gp{k}[{at}] = gi * dp{k}_{dtype}({args(f'{xi}, {yi}')})"
                     for k in learnable]
            signature = ", ".join([*saved, "g", *grads, *params])
            lines += ["", "", decorator,
                      f"def backward_{dtype}_{mode}({signature}):"]
            lines += [b.replace("x.shape", f"{shape}.shape") for b in loop(body, loop_fn)]
    return "\n".join(lines) + "\n"


def _fingerprint(fn: Callable, seen: set) -> list[str]:
    """What a scalar function compiles from: its code, constants and global values."""
    if fn in seen:
        return []
    seen.add(fn)
    code = fn.__code__
    parts = [fn.__qualname__, code.co_code.hex(), repr(code.co_consts), repr(code.co_names)]
    for ins in dis.get_instructions(fn):
        if ins.opname == "LOAD_GLOBAL":
            name = ins.argval[1] if isinstance(ins.argval, tuple) else ins.argval
            value = fn.__globals__.get(name)
            if inspect.isfunction(value):
                parts += _fingerprint(value, seen)
            elif isinstance(value, (int, float)):
                parts.append(f"{name}={value!r}")
    return parts


def cache_dir() -> Path:
    """Where generated kernel files (and Numba's cache of them) are kept."""
    root = os.environ.get("MINIDL_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                            "minidl")
    return Path(root) / "kernels"


_MODULES: dict[tuple[str, str], types.ModuleType] = {}


def _kernels(act: Activation, layouts: str) -> types.ModuleType:
    key = (act.name, layouts)
    module = _MODULES.get(key)
    if module is not None and module.__activation__ is act:
        return module
    source = _source(act, layouts)
    seen: set = set()
    fingerprint = [source, numba.__version__, str(_FORMAT)]
    for fn in (act.f, act.df, *act.dparams.values(), *vars(fastmath).values()):
        if inspect.isfunction(fn):
            fingerprint += _fingerprint(fn, seen)
    digest = hashlib.sha256("\n".join(fingerprint).encode()).hexdigest()[:16]
    modname = f"minidl_kernels_{act.name}_{layouts or 'none'}_{digest}"
    path = _write(modname, source)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    module.__activation__ = act
    module.__table__ = {(direction, np.dtype(dtype), mode == "parallel"):
                        getattr(module, f"{direction}_{dtype}_{mode}")
                        for direction in ("forward", "backward") for dtype in DTYPES
                        for mode in ("serial", "parallel")}
    _MODULES[key] = module
    return module


def _write(modname: str, source: str) -> Path:
    """Write the kernel file once (atomically); fall back to a temporary directory."""
    for directory in (cache_dir(), Path(tempfile.gettempdir()) / f"minidl-{os.getuid()}"):
        path = directory / f"{modname}.py"
        try:
            if not path.exists():
                directory.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
                with os.fdopen(fd, "w") as fh:
                    fh.write(source)
                os.replace(tmp, path)
            return path
        except OSError:
            continue
    raise OSError(f"minidl could not write its kernel file {modname}.py to {cache_dir()} or "
                  "the temporary directory; set MINIDL_CACHE_DIR to a writable directory")


# ---------------------------------------------------------------------------- calling kernels


def layout_of(x: np.ndarray, p: Any) -> str:
    """``"s"``, ``"c"`` or ``"e"`` for a parameter value ``p`` beside input ``x``."""
    if np.ndim(p) == 0 or (np.ndim(p) == 1 and np.size(p) == 1 and x.shape != (1,)):
        return "s"
    if np.shape(p) == x.shape:
        return "e"
    if x.ndim >= 2 and np.ndim(p) == 1 and np.size(p) == x.shape[1]:
        return "c"
    raise ValueError(f"parameter of shape {np.shape(p)} fits neither a number, one value per "
                     f"channel (axis 1) nor one per element of an input of shape {x.shape}")


def _prepare(x: np.ndarray, params: Sequence[Any]) -> tuple[str, np.ndarray, list]:
    layouts = "".join(layout_of(x, p) for p in params)
    dtype = x.dtype
    if "c" in layouts:
        view = (x.shape[0], x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64)))
    else:
        view = (x.size,)
    args = []
    for p, kind in zip(params, layouts, strict=True):
        if kind == "s":
            args.append(float(np.reshape(p, ())))
        elif kind == "c":
            args.append(np.ascontiguousarray(p, dtype=dtype))
        else:
            args.append(np.ascontiguousarray(p, dtype=dtype).reshape(view))
    return layouts, view, args


def _flat(a: np.ndarray, view: tuple) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(view)


def _pick(module: types.ModuleType, direction: str, dtype: np.dtype, size: int) -> Callable:
    return module.__table__[direction, dtype, size >= PARALLEL_THRESHOLD]


def forward(act: Activation, x: np.ndarray, params: Sequence[Any],
            out: np.ndarray | None = None) -> np.ndarray:
    """``y = f(x, *params)`` in one fused pass; writes into ``out`` when given."""
    layouts, view, args = _prepare(x, params)
    module = _kernels(act, layouts)
    direct = out is not None and out.flags.c_contiguous and out.dtype == x.dtype
    y = out if direct else np.empty(x.shape, dtype=x.dtype)
    # Each element is read before it is written, so out may be x itself (in-place).
    _pick(module, "forward", x.dtype, x.size)(_flat(x, view), y.reshape(view), *args)
    if out is None or direct:
        return y
    out[...] = y
    return out


def backward(act: Activation, x: np.ndarray | None, y: np.ndarray | None, grad: np.ndarray,
             params: Sequence[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """``gx = grad * df(x, y)`` and, per learnable parameter, ``Σ grad * ∂f/∂p`` summed to
    the parameter's shape; the elementwise products come from the same fused pass.

    ``x`` or ``y`` may be None when the derivative does not read it.
    """
    layouts, view, args = _prepare(grad, params)
    module = _kernels(act, layouts)
    uses_x, uses_y = act.uses
    saved = [_flat(a, view) for a, used in ((x, uses_x), (y, uses_y)) if used]
    gx = np.empty(grad.shape, dtype=grad.dtype)
    gps = [np.empty(view, dtype=grad.dtype) for _ in act.dparams]
    _pick(module, "backward", grad.dtype, grad.size)(*saved, _flat(grad, view), gx.reshape(view),
                                                     *gps, *args)
    learnable = [k for k, name in enumerate(act.params) if name in act.dparams]
    return gx, reduce_param_grads(
        gps, [layouts[k] for k in learnable], [params[k] for k in learnable], grad.shape)


def reduce_param_grads(gps: Sequence[np.ndarray], layouts: Sequence[str], params: Sequence[Any],
                       shape: tuple[int, ...]) -> list[np.ndarray]:
    """Sum elementwise parameter gradients to each parameter's own shape."""
    out = []
    for gp, kind, p in zip(gps, layouts, params, strict=True):
        if kind == "s":
            out.append(np.reshape(gp.sum(), np.shape(p)).astype(gp.dtype))
        elif kind == "c":
            out.append(gp.reshape(gp.shape[0], gp.shape[1], -1).sum(axis=(0, 2)))
        else:
            out.append(gp.reshape(shape))
    return out
