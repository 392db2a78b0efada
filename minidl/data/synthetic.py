"""Small 2-D classification sets (spirals, moons, circles) for quick experiments and plots.

Each function returns ``(X, y)``: ``X`` a float32 Tensor of shape (n_samples, 2) and ``y``
an int64 Tensor of labels, with the rows in random order. With ``seed=None`` the points
are drawn from minidl's global generator (so ``minidl.manual_seed`` reproduces them); an
integer ``seed`` gives a private generator and leaves the global one untouched.
"""

from __future__ import annotations

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor


def _rng(seed: int | None, fn: str) -> np.random.Generator:
    if seed is None:
        return _random.generator()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{fn}: seed must be None or a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))


def _check(fn: str, n_samples: int, noise: float, min_samples: int = 1) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < min_samples:
        raise ValueError(
            f"{fn}: n_samples must be an integer >= {min_samples}, got {n_samples!r}"
        )
    if not noise >= 0:
        raise ValueError(f"{fn}: noise must be >= 0, got {noise!r}")


def _shuffled(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """Shuffle the rows (so that slicing gives mixed classes) and wrap them as Tensors."""
    order = rng.permutation(len(x))
    return Tensor._make(x[order].astype(np.float32)), Tensor._make(y[order].astype(np.int64))


def _split(n: int, parts: int) -> np.ndarray:
    """Sizes of ``parts`` groups that add up to ``n`` and differ by at most one."""
    return np.full(parts, n // parts) + (np.arange(parts) < n % parts)


def make_spirals(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2,
                 seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Interleaved spiral arms, one per class: hard for a linear model, easy for an MLP.

    Class ``k`` gets ``n_k`` points (``n_samples`` split as evenly as possible), with
    radii ``r_i`` evenly spaced from 0 to 1. Point ``i`` has angle
    ``theta_i = 2 pi k / n_classes + 4 r_i + noise * e_i`` with ``e_i ~ N(0, 1)``, and is
    ``(r_i cos theta_i, r_i sin theta_i)``. Noise perturbs the angle, so the arms blur
    sideways while the radius stays in [0, 1].

    Parameters
    ----------
    n_samples : int
        Total number of points (at least ``n_classes``).
    n_classes : int
        Number of arms (classes), at least 1.
    noise : float
        Standard deviation of the angle noise, in radians.
    seed : int, optional
        Seed of a private generator; None draws from minidl's global generator.

    Returns
    -------
    X : Tensor
        float32, shape (n_samples, 2).
    y : Tensor
        int64 labels in ``0 .. n_classes - 1``, shape (n_samples,).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 1:
        raise ValueError(f"make_spirals: n_classes must be an integer >= 1, got {n_classes!r}")
    _check("make_spirals", n_samples, noise, min_samples=n_classes)
    rng = _rng(seed, "make_spirals")
    xs, ys = [], []
    for k, n_k in enumerate(_split(n_samples, n_classes)):
        r = np.linspace(0.0, 1.0, n_k)
        theta = 2 * np.pi * k / n_classes + 4 * r + noise * rng.standard_normal(n_k)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(n_k, k))
    return _shuffled(np.concatenate(xs), np.concatenate(ys), rng)


def make_moons(n_samples: int = 200, noise: float = 0.1,
               seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    With ``t`` evenly spaced in [0, pi], class 0 is the upper half circle
    ``(cos t, sin t)`` and class 1 the lower one shifted right and down,
    ``(1 - cos t, 0.5 - sin t)``; then Gaussian noise of standard deviation ``noise`` is
    added to both coordinates. Class 0 gets ``n_samples // 2`` points, class 1 the rest.

    Parameters
    ----------
    n_samples : int
        Total number of points (at least 2).
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate.
    seed : int, optional
        Seed of a private generator; None draws from minidl's global generator.

    Returns
    -------
    X : Tensor
        float32, shape (n_samples, 2).
    y : Tensor
        int64 labels 0 and 1, shape (n_samples,).
    """
    _check("make_moons", n_samples, noise, min_samples=2)
    rng = _rng(seed, "make_moons")
    n_outer = n_samples // 2
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_samples - n_outer)
    x = np.concatenate([
        np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
        np.stack([1 - np.cos(t_inner), 0.5 - np.sin(t_inner)], axis=1),
    ])
    y = np.repeat([0, 1], [n_outer, n_samples - n_outer])
    return _shuffled(x + rng.normal(0.0, noise, size=x.shape), y, rng)


def make_circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5,
                 seed: int | None = None) -> tuple[Tensor, Tensor]:
    """A small circle inside a large one (scikit-learn's ``make_circles``).

    With ``t`` evenly spaced in [0, 2 pi), class 0 is the unit circle ``(cos t, sin t)``
    and class 1 the circle of radius ``factor``, ``factor * (cos t, sin t)``; then
    Gaussian noise of standard deviation ``noise`` is added to both coordinates. Class 0
    gets ``n_samples // 2`` points, class 1 the rest.

    Parameters
    ----------
    n_samples : int
        Total number of points (at least 2).
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate.
    factor : float
        Radius of the inner circle relative to the outer one, in (0, 1).
    seed : int, optional
        Seed of a private generator; None draws from minidl's global generator.

    Returns
    -------
    X : Tensor
        float32, shape (n_samples, 2).
    y : Tensor
        int64 labels 0 (outer) and 1 (inner), shape (n_samples,).
    """
    _check("make_circles", n_samples, noise, min_samples=2)
    if not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor!r}")
    rng = _rng(seed, "make_circles")
    n_outer = n_samples // 2
    t_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2 * np.pi, n_samples - n_outer, endpoint=False)
    x = np.concatenate([
        np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
        factor * np.stack([np.cos(t_inner), np.sin(t_inner)], axis=1),
    ])
    y = np.repeat([0, 1], [n_outer, n_samples - n_outer])
    return _shuffled(x + rng.normal(0.0, noise, size=x.shape), y, rng)
