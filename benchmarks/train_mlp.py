"""MLP 784-256-256-10 (ReLU, Adam lr 1e-3, batch 128) on MNIST: minidl against PyTorch CPU.

Measures, in one process and one run:
  1. time per training step (median of interleaved rounds) for minidl, PyTorch and a
     hand-written NumPy forward/backward/Adam step (the "no framework" floor);
  2. time per epoch of the full training loop (data loading, shuffling, step);
  3. test accuracy after N epochs, for several seeds in each library;
  4. `import minidl` time in a fresh process.

Usage:  python benchmarks/train_mlp.py [--seeds 0,1,2] [--epochs 3] [--quick]
Results are printed as markdown tables (paste them into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
from timing import time_steps

import minidl
from minidl import data, models, nn, optim
from minidl.train import evaluate, fit

BATCH = 128


def load_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, test = data.MNIST(train=True), data.MNIST(train=False)
    xs, ys = train.__getitems__(np.arange(len(train)))
    xt, yt = test.__getitems__(np.arange(len(test)))
    return (xs.data.reshape(len(train), -1), ys.data, xt.data.reshape(len(test), -1), yt.data)


# ----------------------------------------------------------------------------- per step


def minidl_step_fn(x: np.ndarray, y: np.ndarray):
    model = models.mlp(784, (256, 256), 10, "relu")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xb, yb = minidl.Tensor(x), minidl.Tensor(y)

    def step() -> None:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def torch_step_fn(x: np.ndarray, y: np.ndarray):
    import torch

    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xb, yb = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def numpy_step_fn(x: np.ndarray, y: np.ndarray):
    """Forward, backward and Adam written out by hand: what a framework cannot beat."""
    rng = np.random.default_rng(0)
    sizes = [(784, 256), (256, 256), (256, 10)]
    params = []
    for fan_in, fan_out in sizes:
        b = 1 / np.sqrt(fan_in)
        params += [rng.uniform(-b, b, (fan_out, fan_in)).astype(np.float32),
                   rng.uniform(-b, b, fan_out).astype(np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = [0]
    onehot = np.eye(10, dtype=np.float32)[y]

    def step() -> None:
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1.T + b1, 0)
        h2 = np.maximum(h1 @ w2.T + b2, 0)
        z = h2 @ w3.T + b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        g3 = (p - onehot) / len(x)
        g2 = (g3 @ w3) * (h2 > 0)
        g1 = (g2 @ w2) * (h1 > 0)
        grads = [g1.T @ x, g1.sum(0), g2.T @ h1, g2.sum(0), g3.T @ h2, g3.sum(0)]
        t[0] += 1
        c1, c2 = 1 - 0.9 ** t[0], 1 - 0.999 ** t[0]
        for p_, g, m_, v_ in zip(params, grads, m, v, strict=True):
            m_ *= 0.9
            m_ += 0.1 * g
            v_ *= 0.999
            v_ += 0.001 * g * g
            p_ -= (1e-3 / c1) * m_ / (np.sqrt(v_ / c2) + 1e-8)

    return step


# ----------------------------------------------------------------------------- full runs


def minidl_run(seed: int, epochs: int, xs, ys, xt, yt) -> tuple[float, list[float]]:
    minidl.manual_seed(seed)
    model = models.mlp(784, (256, 256), 10, "relu")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    train_loader = data.DataLoader(data.TensorDataset(minidl.Tensor(xs), minidl.Tensor(ys)),
                                   batch_size=BATCH, shuffle=True)
    test_loader = data.DataLoader(data.TensorDataset(minidl.Tensor(xt), minidl.Tensor(yt)),
                                  batch_size=1000)
    history = fit(model, opt, loss_fn, train_loader, epochs=epochs, progress=False)
    return evaluate(model, test_loader, loss_fn)["acc"], history["time"]


def torch_run(seed: int, epochs: int, xs, ys, xt, yt) -> tuple[float, list[float]]:
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
        torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_train, y_train = torch.from_numpy(xs), torch.from_numpy(ys)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(x_train))
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        acc = (model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
    return float(acc), times


def import_time() -> float:
    """Median of 5 fresh-process imports, in seconds."""
    code = "import time; t = time.perf_counter(); import minidl; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(5)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 3 rounds")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        seeds, args.epochs, args.rounds = seeds[:1], 1, 3

    import torch

    xs, ys, xt, yt = load_mnist()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
          f"torch threads; numpy {np.__version__}, torch {torch.__version__}, "
          f"python {platform.python_version()}")

    xb, yb = xs[:BATCH].copy(), ys[:BATCH].copy()
    step_ms = time_steps({"minidl": minidl_step_fn(xb, yb), "torch": torch_step_fn(xb, yb),
                          "numpy": numpy_step_fn(xb, yb)}, args.rounds, 50)
    print("\n| per training step (batch 128, Adam) | ms | ratio to PyTorch |\n|---|---|---|")
    for name, label in (("minidl", "minidl"), ("torch", "PyTorch CPU"),
                        ("numpy", "hand-written NumPy")):
        print(f"| {label} | {step_ms[name]:.2f} | {step_ms[name] / step_ms['torch']:.2f} |")

    results: dict[str, dict] = {"minidl": {}, "torch": {}}
    for seed in seeds:
        for name, run in (("minidl", minidl_run), ("torch", torch_run)):
            acc, times = run(seed, args.epochs, xs, ys, xt, yt)
            results[name][seed] = {"acc": acc, "epoch_s": times}
            print(f"{name} seed {seed}: test acc {acc:.4f}, epoch times "
                  + ", ".join(f"{t:.2f}" for t in times), flush=True)

    def summary(name: str) -> tuple[float, float, float]:
        accs = [r["acc"] for r in results[name].values()]
        epoch = statistics.median(t for r in results[name].values() for t in r["epoch_s"])
        return float(np.mean(accs)), float(np.std(accs)), epoch

    m_acc, m_sd, m_ep = summary("minidl")
    t_acc, t_sd, t_ep = summary("torch")
    print(f"\n| {args.epochs} epochs, seeds {seeds} | test accuracy (mean ± sd) | "
          "s per epoch (median) | epoch-time ratio |\n|---|---|---|---|")
    print(f"| minidl | {100 * m_acc:.2f}% ± {100 * m_sd:.2f} | {m_ep:.2f} | {m_ep / t_ep:.2f} |")
    print(f"| PyTorch CPU | {100 * t_acc:.2f}% ± {100 * t_sd:.2f} | {t_ep:.2f} | 1.00 |")
    print(f"\naccuracy difference (minidl - PyTorch): {100 * (m_acc - t_acc):+.2f} points")
    imp = import_time()
    print(f"`import minidl` in a fresh process: {imp:.3f} s (median of 5)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"step_ms": step_ms, "runs": results, "import_s": imp}, f, indent=1)


if __name__ == "__main__":
    main()
