"""Checks of the size arguments the CNN ops share (``kernel_size``, ``stride``, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np


def int_pair(fn: str, label: str, value: Any, minimum: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints) as a pair, each at least ``minimum``.

    Raises ``TypeError`` for anything else and ``ValueError`` below ``minimum``, both
    naming ``fn`` and the argument ``label``.
    """
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_int, value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{fn}: {label} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{fn}: {label} must be at least {minimum}, got {value!r}")
    return pair
