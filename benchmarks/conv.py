"""Conv2d forward + backward: minidl against PyTorch CPU, on the MNIST CNN's two convolutions.

The classic MNIST CNN starts with Conv2d(1, 32, 3) on 28x28 images, then Conv2d(32, 64, 3)
on the 26x26 result. One training step runs each forward and backward once; the first
layer's input needs no gradient. This script times exactly that, float32, batch 128, two
threads in both libraries, variants interleaved round-robin in one process (medians).

Variants:
  minidl op      ``F.conv2d`` on tensors + ``backward`` (what a training step runs)
  minidl kernel  ``kernels.conv.conv2d_forward`` + ``conv2d_backward`` on arrays
  PyTorch        ``torch.nn.functional.conv2d`` + ``backward``
  whole-batch    the plain im2col baseline (with --alternatives): the whole batch's patch
                 matrix built from one slice copy per kernel offset, one GEMM per product
  reference      ``conv2d_reference`` + ``conv2d_backward_reference`` (with --reference)

Usage:  python benchmarks/conv.py [--repeats 9] [--batch 128] [--chunk-bytes 1M,4M,16M]
        [--alternatives] [--reference]
``--chunk-bytes`` also times the kernels with other patch-matrix chunk sizes.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np

import minidl
from minidl import functional as F
from minidl.kernels import conv as K

CONVS = {"conv1 1->32, 28x28": (1, 32, 28), "conv2 32->64, 26x26": (32, 64, 26)}


def time_round_robin(variants: dict[str, Callable[[], object]],
                     repeats: int) -> dict[str, float]:
    """Median seconds per call of each variant, the variants taking turns."""
    for fn in variants.values():  # warm-up: compilation, allocator, BLAS threads
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def make_case(batch: int, c: int, o: int, size: int,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    x = rng.standard_normal((batch, c, size, size), dtype=np.float32)
    bound = 1 / np.sqrt(c * 9)
    w = rng.uniform(-bound, bound, (o, c, 3, 3)).astype(np.float32)
    b = rng.uniform(-bound, bound, o).astype(np.float32)
    g = rng.standard_normal((batch, o, size - 2, size - 2), dtype=np.float32)
    return {"x": x, "w": w, "b": b, "g": g}


def minidl_op(case: dict[str, np.ndarray], need_x: bool) -> Callable[[], None]:
    x = minidl.Tensor(case["x"], requires_grad=need_x)
    w = minidl.Tensor(case["w"], requires_grad=True)
    b = minidl.Tensor(case["b"], requires_grad=True)

    def run() -> None:
        w.grad = b.grad = x.grad = None
        F.conv2d(x, w, b).backward(case["g"])

    return run


def minidl_kernel(case: dict[str, np.ndarray], need_x: bool,
                  chunk_bytes: int | None = None) -> Callable[[], None]:
    args = ((1, 1), (0, 0, 0, 0), (1, 1), 1)

    def run() -> None:
        saved = K.CHUNK_BYTES
        if chunk_bytes is not None:
            K.CHUNK_BYTES = chunk_bytes
        try:
            K.conv2d_forward(case["x"], case["w"], case["b"], *args)
            K.conv2d_backward(case["g"], case["x"], case["w"], *args, need_input=need_x)
        finally:
            K.CHUNK_BYTES = saved

    return run


def whole_batch_slices(case: dict[str, np.ndarray], need_x: bool) -> Callable[[], None]:
    """The plain im2col baseline: the whole batch's patch matrix (C·9, N·OH·OW), built by
    copying one strided slice per kernel offset, one GEMM per product, slice-add col2im."""
    x, w, b, g = case["x"], case["w"], case["b"], case["g"]
    n, c, h, wd = x.shape
    o = w.shape[0]
    oh, ow = h - 2, wd - 2
    w2 = w.reshape(o, -1)

    def run() -> None:
        cols = np.empty((c, 3, 3, n, oh, ow), dtype=x.dtype)
        xt = x.transpose(1, 0, 2, 3)
        for p in range(3):
            for q in range(3):
                cols[:, p, q] = xt[:, :, p: p + oh, q: q + ow]
        cols2 = cols.reshape(c * 9, -1)
        y = (w2 @ cols2).reshape(o, n, oh, ow).transpose(1, 0, 2, 3) + b[:, None, None]
        gt = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(o, -1)
        (cols2 @ gt.T).T.reshape(w.shape)
        g.sum(axis=(0, 2, 3))
        if need_x:
            gcols = (w2.T @ gt).reshape(c, 3, 3, n, oh, ow)
            gx = np.zeros((c, n, h, wd), dtype=x.dtype)
            for p in range(3):
                for q in range(3):
                    gx[:, :, p: p + oh, q: q + ow] += gcols[:, p, q]
            np.ascontiguousarray(gx.transpose(1, 0, 2, 3))
        del y

    return run


def reference(case: dict[str, np.ndarray], need_x: bool) -> Callable[[], None]:
    def run() -> None:
        K.conv2d_reference(case["x"], case["w"], case["b"])
        K.conv2d_backward_reference(case["g"], case["x"], case["w"])

    return run


def pytorch(case: dict[str, np.ndarray], need_x: bool) -> Callable[[], None]:
    import torch

    x = torch.from_numpy(case["x"]).requires_grad_(need_x)
    w = torch.from_numpy(case["w"]).requires_grad_()
    b = torch.from_numpy(case["b"]).requires_grad_()
    g = torch.from_numpy(case["g"])

    def run() -> None:
        w.grad = b.grad = x.grad = None
        torch.nn.functional.conv2d(x, w, b).backward(g)

    return run


def check_agreement(case: dict[str, np.ndarray]) -> float:
    """Largest |minidl - PyTorch| over output and gradients, relative to the values' scale."""
    import torch

    args = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    y = K.conv2d_forward(case["x"], case["w"], case["b"], *args)
    grads = K.conv2d_backward(case["g"], case["x"], case["w"], *args)
    tx = torch.from_numpy(case["x"]).requires_grad_()
    tw = torch.from_numpy(case["w"]).requires_grad_()
    tb = torch.from_numpy(case["b"]).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, tb)
    ty.backward(torch.from_numpy(case["g"]))
    pairs = zip((y, *grads), (ty, tx.grad, tw.grad, tb.grad), strict=True)
    return max(float(np.abs(a - t.detach().numpy()).max() / np.abs(t.detach().numpy()).max())
               for a, t in pairs)


def parse_bytes(text: str) -> list[int]:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return [int(float(v[:-1]) * units[v[-1]]) if v[-1] in units else int(v)
            for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--chunk-bytes", type=parse_bytes, default=[],
                        help="also time the kernels with these chunk sizes, e.g. 1M,16M")
    parser.add_argument("--alternatives", action="store_true",
                        help="also time the whole-batch im2col baseline")
    parser.add_argument("--reference", action="store_true",
                        help="also time the readable reference (slow)")
    args = parser.parse_args()

    import torch

    numba.set_num_threads(2)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"PyTorch {torch.__version__}, {platform.machine()}, 2 threads, batch {args.batch}, "
          f"float32, medians of {args.repeats} interleaved rounds; "
          f"chunk {K.CHUNK_BYTES >> 20} MiB\n")
    rows: dict[str, dict[str, float]] = {}
    for label, (c, o, size) in CONVS.items():
        case = make_case(args.batch, c, o, size, rng)
        need_x = c != 1  # the first layer's input (the images) needs no gradient
        print(f"{label}: max relative difference to PyTorch {check_agreement(case):.1e}")
        variants = {"minidl op": minidl_op(case, need_x),
                    "minidl kernel": minidl_kernel(case, need_x),
                    "PyTorch": pytorch(case, need_x)}
        for nbytes in args.chunk_bytes:
            variants[f"minidl kernel, chunk {nbytes >> 10} KiB"] = minidl_kernel(
                case, need_x, nbytes)
        if args.alternatives:
            variants["whole-batch im2col, slice copies"] = whole_batch_slices(case, need_x)
        if args.reference:
            variants["reference"] = reference(case, need_x)
        rows[label] = time_round_robin(variants, args.repeats)
    names = list(next(iter(rows.values())))
    total = {n: sum(r[n] for r in rows.values()) for n in names}
    print("\n| forward + backward, ms | " + " | ".join(rows) + " | both | ratio to PyTorch |")
    print("|---" * (len(rows) + 3) + "|")
    for n in names:
        cells = " | ".join(f"{r[n] * 1e3:.1f}" for r in rows.values())
        print(f"| {n} | {cells} | {total[n] * 1e3:.1f} | {total[n] / total['PyTorch']:.2f} |")


if __name__ == "__main__":
    main()
