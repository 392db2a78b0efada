"""Data: datasets, mini-batch loading, MNIST / Fashion-MNIST, and small synthetic sets.

>>> from minidl.data import MNIST, DataLoader
>>> train = MNIST(train=True, flatten=True)          # the copy shipped in data/mnist/
>>> loader = DataLoader(train, batch_size=128, shuffle=True)
>>> x, y = next(iter(loader))
>>> x.shape, y.shape
((128, 784), (128,))
"""

from minidl.data.dataset import Dataset, Subset, TensorDataset
from minidl.data.loader import DataLoader, default_collate
from minidl.data.mnist import (
    FASHION_MNIST_MIRRORS,
    MNIST,
    MNIST_MIRRORS,
    ChecksumError,
    FashionMNIST,
    read_idx,
    sha256sum,
)
from minidl.data.synthetic import make_circles, make_moons, make_spirals

__all__ = [
    "FASHION_MNIST_MIRRORS", "MNIST", "MNIST_MIRRORS", "ChecksumError", "DataLoader",
    "Dataset", "FashionMNIST", "Subset", "TensorDataset", "default_collate", "make_circles",
    "make_moons", "make_spirals", "read_idx", "sha256sum",
]
