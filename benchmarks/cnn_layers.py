"""MaxPool2d(2) on (128, 64, 24, 24) and BatchNorm2d(32) on (128, 32, 26, 26), float32:
minidl vs a reshape-based NumPy max pool vs PyTorch (2 threads), forward + backward.
Variants run round-robin in one process; medians of 15 repeats.

Usage:  python benchmarks/cnn_layers.py
"""
import time

import numba
import numpy as np
import torch

import minidl
import minidl.functional as F
from minidl.ops import pooling

torch.set_num_threads(2)
numba.set_num_threads(2)
rng = np.random.default_rng(0)

# ---- max pool
x_np = rng.standard_normal((128, 64, 24, 24), dtype=np.float32)
g_np = rng.standard_normal((128, 64, 12, 12), dtype=np.float32)
x = minidl.Tensor(x_np, requires_grad=True)
tx = torch.tensor(x_np, requires_grad=True)
tg = torch.tensor(g_np)
planes = x_np.reshape(-1, 24, 24)
taps = pooling._max_taps(12, 24, 2, 2, 0, 1)
out = np.empty((planes.shape[0], 12, 12), np.float32)
idx = np.empty(out.shape, np.int64)


def pool_minidl():
    F.max_pool2d(x, 2).backward(g_np)
    x.grad = None


def pool_minidl_general_kernel_fwd():  # the any-geometry kernel on the same case
    pooling._max_pool_forward(planes, taps, taps, 2, 2, 0, 0, 1, 1, out, idx)


def pool_numpy_reshape():
    n, c, h, w = x_np.shape
    win = x_np.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(axis=-1)  # the first maximum, PyTorch's tie rule
    y = np.take_along_axis(win, arg[..., None], -1)[..., 0]
    gwin = np.zeros(win.shape, np.float32)
    np.put_along_axis(gwin, arg[..., None], g_np[..., None], -1)
    gx = gwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_np.shape)
    return y, gx


def pool_torch():
    torch.nn.functional.max_pool2d(tx, 2).backward(tg)
    tx.grad = None


# ---- batch norm
b_np = rng.standard_normal((128, 32, 26, 26), dtype=np.float32)
bg_np = rng.standard_normal(b_np.shape, dtype=np.float32)
bx = minidl.Tensor(b_np, requires_grad=True)
bn = minidl.nn.BatchNorm2d(32)
tbn = torch.nn.BatchNorm2d(32)
tbx = torch.tensor(b_np, requires_grad=True)
tbg = torch.tensor(bg_np)


def bn_minidl():
    bn(bx).backward(bg_np)
    bx.grad = None
    bn.zero_grad()


def bn_torch():
    tbn(tbx).backward(tbg)
    tbx.grad = None
    tbn.zero_grad()


def bn_minidl_eval():
    with minidl.no_grad():
        bn.eval()(bx)
    bn.train()


def bn_torch_eval():
    with torch.no_grad():
        tbn.eval()(tbx)
    tbn.train()


fns = {
    "max_pool2d fwd+bwd  minidl": pool_minidl,
    "max_pool2d fwd      general kernel": pool_minidl_general_kernel_fwd,
    "max_pool2d fwd+bwd  NumPy reshape": pool_numpy_reshape,
    "max_pool2d fwd+bwd  PyTorch": pool_torch,
    "BatchNorm2d train fwd+bwd minidl": bn_minidl,
    "BatchNorm2d train fwd+bwd PyTorch": bn_torch,
    "BatchNorm2d eval fwd minidl": bn_minidl_eval,
    "BatchNorm2d eval fwd PyTorch": bn_torch_eval,
}
for f in fns.values():
    f()
    f()
times = {k: [] for k in fns}
for _ in range(15):
    for k, f in fns.items():
        t = time.perf_counter()
        f()
        times[k].append(time.perf_counter() - t)
for k, v in times.items():
    print(f"{k:38s} {np.median(v) * 1e3:8.2f} ms")
