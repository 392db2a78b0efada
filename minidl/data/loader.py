"""``DataLoader``: turns a dataset into a stream of mini-batches, optionally shuffled."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor


def default_collate(items: Sequence[Any]) -> Any:
    """Stack a list of examples into one batch.

    Parameters
    ----------
    items : sequence
        Examples as returned by ``dataset[i]``: all tuples (or lists) of the same length,
        or all single values. A value may be a Tensor, a NumPy array or scalar, or a
        Python number.

    Returns
    -------
    tuple of Tensor or Tensor
        For tuple examples, a tuple with one batched Tensor per field; otherwise one
        batched Tensor. The batch is the new first dimension. Integers become int64 and
        Python floats the default float dtype, as in ``minidl.tensor``.
    """
    first = items[0]
    if isinstance(first, (tuple, list)):
        lengths = {len(item) for item in items}
        if len(lengths) != 1:
            raise ValueError(
                f"default_collate: every example must have the same number of fields, got "
                f"lengths {sorted(lengths)}"
            )
        fields = zip(*items, strict=True)
        return tuple(_stack(list(values), f"field {i}") for i, values in enumerate(fields))
    return _stack(list(items), "examples")


def _stack(values: list, what: str) -> Tensor:
    if all(isinstance(v, (bool, int, float)) for v in values):
        return Tensor(values)  # Tensor's rules: int -> int64, float -> default dtype
    arrays = []
    for v in values:
        if isinstance(v, Tensor):
            arrays.append(v.data)
        elif isinstance(v, (np.ndarray, np.generic)):
            arrays.append(v)
        else:
            raise TypeError(
                f"default_collate: cannot batch {what}: expected Tensors, NumPy arrays or "
                f"Python numbers, got {type(v).__name__}"
            )
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(
            f"default_collate: cannot batch {what}: examples have different shapes "
            f"{sorted(shapes)}; every example must have the same shape"
        )
    batch = np.stack(arrays)
    if batch.dtype.kind in "iu" and batch.dtype != np.int64:
        batch = batch.astype(np.int64)
    return Tensor._make(batch)


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``__getitem__`` and ``__len__``. If it also has
        ``__getitems__(indices)``, each batch is fetched with that one call (fast);
        otherwise the examples are fetched one by one and stacked by ``default_collate``.
    batch_size : int
        Examples per batch (the last batch may be smaller, see ``drop_last``).
    shuffle : bool
        Visit the examples in a new random order every epoch (every ``iter(loader)``).
    drop_last : bool
        Skip the last batch when it would be smaller than ``batch_size``.
    generator : np.random.Generator, optional
        Source of the shuffling permutations. By default minidl's global generator is
        used, so ``minidl.manual_seed(s)`` reproduces the order exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from minidl.data import TensorDataset
    >>> ds = TensorDataset(Tensor(np.arange(10.0)), Tensor(np.arange(10)))
    >>> [x.shape for x, y in DataLoader(ds, batch_size=4)]
    [(4,), (4,), (2,)]
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: np.random.Generator | None = None) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(
                f"DataLoader: dataset must define __getitem__ and __len__, got "
                f"{type(dataset).__name__}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(
                f"DataLoader: batch_size must be a positive integer, got {batch_size!r}"
            )
        for name, value in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"DataLoader: {name} must be True or False, got {value!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"DataLoader: generator must be an np.random.Generator or None, got "
                f"{type(generator).__name__}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        # The order is drawn here, when the epoch starts, rather than lazily at the first
        # batch, so that the generator's state at iter() time decides it.
        n = len(self.dataset)
        if self.shuffle:
            rng = self.generator if self.generator is not None else _random.generator()
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[Any]:
        dataset, size = self.dataset, self.batch_size
        stop = len(self) * size if self.drop_last else len(order)
        getitems = getattr(dataset, "__getitems__", None)
        for start in range(0, stop, size):
            indices = order[start:start + size]
            if getitems is not None:
                yield getitems(indices)
            else:
                yield default_collate([dataset[int(i)] for i in indices])
