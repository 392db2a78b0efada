"""The classic MNIST CNN (ReLU, Adam lr 1e-3, batch 128): minidl against PyTorch CPU.

    Conv2d(1, 32, 3) → ReLU → Conv2d(32, 64, 3) → ReLU → MaxPool2d(2) → Dropout(0.25)
    → Flatten → Linear(9216, 128) → ReLU → Dropout(0.5) → Linear(128, 10)

Measures, on 2 threads, both libraries under the same OpenMP wait policy (see the imports):
  1. time per training step (median of interleaved rounds, the same batch) for minidl and
     PyTorch, and where minidl's step goes (``--profile``);
  2. full training runs, each in its own process so that its peak memory (RSS) is its own:
     seconds per epoch, test accuracy after N epochs, peak RSS; several seeds per library.

Usage:
  python benchmarks/train_cnn.py                  # step timing + 3 seeds x 2 epochs each
  python benchmarks/train_cnn.py --quick          # step timing + 1 seed x 1 epoch on 6,000
  python benchmarks/train_cnn.py --steps-only --profile
Results are printed as markdown tables (paste them into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import time_steps

# Imported before torch (which is imported inside functions): minidl sets
# OMP_WAIT_POLICY=PASSIVE (minidl/_openmp.py) unless the environment has a value, and
# PyTorch's OpenMP runtime reads it when torch is imported, so both libraries run with the
# same wait policy (passive speeds PyTorch up too on this machine).
import minidl

BATCH = 128
THREADS = 2


def set_threads() -> None:
    import numba
    import torch

    numba.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)


def load_mnist(limit: int | None = None) -> tuple[np.ndarray, ...]:
    from minidl import data

    train, test = data.MNIST(train=True), data.MNIST(train=False)
    n = len(train) if limit is None else min(limit, len(train))
    return train.inputs()[:n], train.targets[:n], test.inputs(), test.targets


def torch_cnn():
    import torch.nn as tnn

    return tnn.Sequential(
        tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.Conv2d(32, 64, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Dropout(0.25), tnn.Flatten(), tnn.Linear(9216, 128), tnn.ReLU(), tnn.Dropout(0.5),
        tnn.Linear(128, 10))


# ----------------------------------------------------------------------------- per step


def minidl_step_fn(x: np.ndarray, y: np.ndarray, device: str = "cpu"):
    from minidl import models, nn, optim

    model = models.mnist_cnn("relu").to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xb, yb = minidl.Tensor(x).to(device), minidl.Tensor(y).to(device)

    def step() -> None:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":  # GPU work is asynchronous: wait for it before the clock stops
            import cupy
            cupy.cuda.Device().synchronize()

    return step


def torch_step_fn(x: np.ndarray, y: np.ndarray, device: str = "cpu"):
    import torch

    model = torch_cnn().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xb, yb = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step() -> None:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    return step


def profile_step(step, steps: int = 10) -> None:
    import cProfile
    import pstats

    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    print(f"\nminidl step profile ({steps} steps, tottime):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


# ----------------------------------------------------------------------------- full runs


def minidl_run(seed: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    from minidl import data, models, nn, optim
    from minidl.train import evaluate, fit

    xs, ys, xt, yt = load_mnist(limit)
    minidl.manual_seed(seed)
    model = models.mnist_cnn("relu").to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    train_loader = data.DataLoader(data.TensorDataset(minidl.Tensor(xs), minidl.Tensor(ys)),
                                   batch_size=BATCH, shuffle=True)
    test_loader = data.DataLoader(data.TensorDataset(minidl.Tensor(xt), minidl.Tensor(yt)),
                                  batch_size=1000)
    history = fit(model, opt, loss_fn, train_loader, epochs=epochs, progress=False)
    return {"acc": evaluate(model, test_loader, loss_fn)["acc"], "epoch_s": history["time"]}


def torch_run(seed: int, epochs: int, limit: int | None, device: str = "cpu") -> dict:
    import torch

    xs, ys, xt, yt = load_mnist(limit)
    torch.manual_seed(seed)
    model = torch_cnn().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_train = torch.from_numpy(xs).to(device)
    y_train = torch.from_numpy(ys.astype(np.int64)).to(device)
    times = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(x_train), device=device)
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(xt[i:i + 1000]).to(device)).argmax(1)
                          for i in range(0, len(xt), 1000)]).cpu().numpy()
    return {"acc": float((pred == yt).mean()), "epoch_s": times}


def child(library: str, seed: int, epochs: int, limit: int | None, device: str) -> None:
    set_threads()
    run = minidl_run if library == "minidl" else torch_run
    result = run(seed, epochs, limit, device)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_in_child(library: str, seed: int, epochs: int, limit: int | None, device: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", library, "--seed",
           str(seed), "--epochs", str(epochs), "--device", device] \
        + ([] if limit is None else ["--limit", str(limit)])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{library} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="training images to use")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 1 epoch on 6,000 images, 3 rounds")
    parser.add_argument("--steps-only", action="store_true", help="only the per-step timing")
    parser.add_argument("--profile", action="store_true", help="profile minidl's step")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--device", default="cpu",
                        help="cpu or cuda: both libraries run there (default: %(default)s)")
    parser.add_argument("--child", choices=("minidl", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seed, args.epochs, args.limit, args.device)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        seeds, args.epochs, args.rounds, args.limit = seeds[:1], 1, 3, 6000

    import torch

    set_threads()
    print(f"machine: {platform.machine()}, {THREADS} threads; numpy {np.__version__}, "
          f"torch {torch.__version__}, python {platform.python_version()}")
    xs, ys, _, _ = load_mnist(BATCH)
    xb, yb = xs[:BATCH].copy(), ys[:BATCH].astype(np.int64)
    fns = {"minidl": minidl_step_fn(xb, yb, args.device),
           "torch": torch_step_fn(xb, yb, args.device)}
    step_ms = time_steps(fns, args.rounds, 5, warmup=3)
    print("\n| per training step (batch 128, Adam) | ms | ratio to PyTorch |\n|---|---|---|")
    for name, label in (("minidl", "minidl"), ("torch", f"PyTorch {args.device}")):
        print(f"| {label} | {step_ms[name]:.1f} | {step_ms[name] / step_ms['torch']:.2f} |")
    if args.profile:
        profile_step(fns["minidl"])
    results: dict = {"step_ms": step_ms, "runs": {"minidl": {}, "torch": {}}}
    if not args.steps_only:
        for seed in seeds:
            for name in ("minidl", "torch"):
                r = run_in_child(name, seed, args.epochs, args.limit, args.device)
                results["runs"][name][seed] = r
                print(f"{name} seed {seed}: test acc {r['acc']:.4f}, epoch times "
                      + ", ".join(f"{t:.1f}" for t in r["epoch_s"])
                      + f" s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        print(summary(results["runs"], args.epochs, seeds, args.limit))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def summary(runs: dict, epochs: int, seeds: list[int], limit: int | None) -> str:
    def stats(name: str) -> tuple[float, float, float, float]:
        rs = list(runs[name].values())
        accs = [r["acc"] for r in rs]
        epoch = statistics.median(t for r in rs for t in r["epoch_s"])
        return (float(np.mean(accs)), float(np.std(accs)), epoch,
                max(r["peak_rss_mb"] for r in rs))

    m, t = stats("minidl"), stats("torch")
    data = "full MNIST" if limit is None else f"{limit} training images"
    lines = [f"\n| {epochs} epochs on {data}, seeds {seeds} | test accuracy (mean ± sd) | "
             "s per epoch (median) | epoch-time ratio | peak RSS MB |", "|---|---|---|---|---|"]
    for label, s in (("minidl", m), ("PyTorch", t)):
        lines.append(f"| {label} | {100 * s[0]:.2f}% ± {100 * s[1]:.2f} | {s[2]:.1f} | "
                     f"{s[2] / t[2]:.2f} | {s[3]:.0f} |")
    lines.append(f"\naccuracy difference (minidl - PyTorch): {100 * (m[0] - t[0]):+.2f} points")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
