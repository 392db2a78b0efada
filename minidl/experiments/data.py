"""The data the experiments train on: MNIST and Fashion-MNIST as arrays, and loaders."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from minidl.data import MNIST, DataLoader, FashionMNIST, TensorDataset

DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST}


@lru_cache(maxsize=8)
def _arrays(dataset: str, train: bool, flatten: bool) -> tuple[np.ndarray, np.ndarray]:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; available: {', '.join(DATASETS)}")
    ds = DATASETS[dataset](train=train, flatten=flatten)
    x, y = ds.inputs(), ds.targets
    x.flags.writeable = y.flags.writeable = False
    return x, y


def arrays(dataset: str = "mnist", train: bool = True, limit: int | None = None,
           flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` images (all by default) of a split, normalised float32 of shape
    (N, 1, 28, 28) or (N, 784) with ``flatten``, and their int64 labels. Read-only views of
    a per-process cache: copy before changing them."""
    x, y = _arrays(dataset, bool(train), bool(flatten))
    return x[:limit], y[:limit]


def loader(dataset: str = "mnist", train: bool = True, limit: int | None = None,
           flatten: bool = False, batch_size: int = 128,
           shuffle: bool | None = None) -> DataLoader:
    """A DataLoader over ``arrays(...)``; shuffled by default for the training split."""
    x, y = arrays(dataset, train, limit, flatten)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size,
                      shuffle=train if shuffle is None else shuffle)
