"""Datasets: anything that can be indexed to give one example, and knows its length.

A dataset may also implement ``__getitems__(indices)`` to return a whole batch at once.
``DataLoader`` prefers it: one fancy-indexing call per batch instead of one Python call per
example is what makes iterating MNIST cheap next to a training step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from minidl.data.loader import default_collate
from minidl.tensor import Tensor


class Dataset(ABC):
    """Abstract base class of datasets: subclasses define ``__getitem__`` and ``__len__``.

    ``dataset[i]`` returns example ``i`` (usually a tuple such as ``(image, label)``), for
    ``0 <= i < len(dataset)``. Subclasses that can gather many examples cheaply should also
    define ``__getitems__(indices)``, returning a tuple of already-batched Tensors.
    """

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """Example number ``index``."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of examples."""


class TensorDataset(Dataset):
    """A dataset made of tensors that share their first dimension.

    Example ``i`` is ``(tensors[0][i], tensors[1][i], ...)``.

    Parameters
    ----------
    *tensors : Tensor
        One or more tensors (e.g. inputs ``X`` and labels ``y``) of equal length along
        dimension 0. NumPy arrays are accepted and converted as ``Tensor(array)`` does.

    Examples
    --------
    >>> import numpy as np
    >>> ds = TensorDataset(Tensor(np.zeros((5, 2))), Tensor(np.arange(5)))
    >>> len(ds), ds[3][1].item()
    (5, 3)
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        shapes = [t.shape for t in tensors]
        if any(len(s) == 0 for s in shapes):
            raise ValueError(
                f"TensorDataset: every tensor needs a first (example) dimension, but got "
                f"shapes {shapes}"
            )
        if len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"TensorDataset: all tensors must have the same size in dimension 0 (one "
                f"row per example), but got shapes {shapes}"
            )
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        # Copy so that an in-place change to an example cannot alter the dataset.
        return tuple(Tensor._make(np.array(t.data[index])) for t in self.tensors)

    def __getitems__(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        # Fancy indexing already returns a fresh array: no copy needed.
        return tuple(Tensor._make(t.data[indices]) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order (e.g. a quick small run).

    Parameters
    ----------
    dataset : Dataset
        The full dataset.
    indices : sequence of int
        Positions in ``dataset``, each in ``0 .. len(dataset) - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> small = Subset(TensorDataset(Tensor(np.arange(10))), [7, 2])
    >>> len(small), small[0][0].item()
    (2, 7)
    """

    def __init__(self, dataset: Dataset, indices: Any) -> None:
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(
                f"Subset: indices must be a 1-D sequence of integers, got an array of shape "
                f"{indices.shape} and dtype {indices.dtype}"
            )
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = indices[(indices < 0) | (indices >= n)][0]
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of length {n}")
        self.dataset = dataset
        self.indices = indices.astype(np.int64)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices: np.ndarray) -> Any:
        inner = self.indices[indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None:
            return getitems(inner)
        return default_collate([self.dataset[int(i)] for i in inner])

    def __len__(self) -> int:
        return len(self.indices)
