"""minidl's random number generator: one seeded NumPy ``Generator`` behind every draw.

Weight initialisation, dropout masks, data shuffling and random activations all draw from
``generator()``, so ``manual_seed(s)`` at the top of a script reproduces the whole run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_state: dict[str, Any] = {"generator": np.random.default_rng(), "seed": None}


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it.

    Parameters
    ----------
    seed : int
        A non-negative integer.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _state["generator"] = np.random.default_rng(int(seed))
    _state["seed"] = int(seed)
    return _state["generator"]


def initial_seed() -> int | None:
    """The seed last passed to ``manual_seed`` (None if the generator was never seeded)."""
    return _state["seed"]


def generator() -> np.random.Generator:
    """The global generator (replaced, not mutated, by ``manual_seed``)."""
    return _state["generator"]


def get_rng_state() -> dict:
    """A snapshot of the generator's state, for ``set_rng_state`` (and checkpoints)."""
    return _state["generator"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    _state["generator"].bit_generator.state = state
