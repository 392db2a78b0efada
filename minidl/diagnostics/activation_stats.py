"""``ActivationStats``: what each layer's output looks like, accumulated over batches.

Per layer: mean and standard deviation of all output elements, the fraction of exact
zeros (dead or inactive ReLU outputs), the fraction in a saturated region (where the
derivative is nearly zero, so learning through that unit stalls), and a histogram.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from minidl.diagnostics.probe import LayerSpec, Probe, is_activation, select_layers
from minidl.kernels.activations import SELU_ALPHA, SELU_SCALE
from minidl.nn.module import Module
from minidl.tensor import Tensor

#: Where an activation saturates, by class name: a function of the module returning
#: ``(lo, hi, on_clamp)``. An output is saturated when it is below ``lo`` or above ``hi``
#: (None: no bound on that side), or, with ``on_clamp``, at or beyond them. Smooth bounded
#: activations count within 3% of a bound (the usual |tanh| > 0.97, sigmoid < 0.03 or
#: > 0.97); clamping ones on the clamp, where the derivative is exactly 0. ReLU6's lower
#: clamp and the zeros of ReLU-like activations are the zero fraction instead. Classes
#: not listed (ReLU, LeakyReLU, GELU, Linear, ...) have no saturating regime.
#: Add an entry to measure a new activation.
SATURATION_RULES: dict[str, Callable[[Any], tuple[float | None, float | None, bool]]] = {
    "Sigmoid": lambda m: (0.03, 0.97, False),
    "Tanh": lambda m: (-0.97, 0.97, False),
    "Softsign": lambda m: (-0.97, 0.97, False),
    "LogSigmoid": lambda m: (None, math.log(0.97), False),  # sigma(x) > 0.97
    "ELU": lambda m: (-0.97 * m.alpha, None, False),
    "CELU": lambda m: (-0.97 * m.alpha, None, False),
    "SELU": lambda m: (-0.97 * SELU_SCALE * SELU_ALPHA, None, False),
    "Hardsigmoid": lambda m: (0.0, 1.0, True),
    "Hardtanh": lambda m: (m.min_val, m.max_val, True),
    "ReLU6": lambda m: (None, 6.0, True),
}

#: The range of an activation's output, by class name, for choosing histogram edges;
#: None where a side is unbounded (that side is then taken from the first batch).
OUTPUT_RANGES: dict[str, Callable[[Any], tuple[float | None, float | None]]] = {
    "Sigmoid": lambda m: (0.0, 1.0),
    "Tanh": lambda m: (-1.0, 1.0),
    "Softsign": lambda m: (-1.0, 1.0),
    "Hardsigmoid": lambda m: (0.0, 1.0),
    "Hardtanh": lambda m: (m.min_val, m.max_val),
    "ReLU6": lambda m: (0.0, 6.0),
    "ReLU": lambda m: (0.0, None),
    "Softplus": lambda m: (0.0, None),
    "ELU": lambda m: (-m.alpha, None),
    "CELU": lambda m: (-m.alpha, None),
    "SELU": lambda m: (-SELU_SCALE * SELU_ALPHA, None),
    "LogSigmoid": lambda m: (None, 0.0),
}


@numba.njit(cache=True, fastmath={"reassoc"})
def _moments(y, shift, sat_lo, sat_hi, lo, hi):
    """One pass over the flat array ``y``: ``(Σ(y-shift), Σ(y-shift)², #zeros,
    #saturated, #below lo, #above hi)``; saturated means ``y < sat_lo or y > sat_hi``.

    Shifting by a value near the mean keeps the sum of squares accurate. Every step is a
    sum, so Numba may reorder them (``reassoc``) and use SIMD; comparisons keep IEEE
    semantics (NaN is neither zero, saturated nor out of range).
    """
    s1 = 0.0
    s2 = 0.0
    zeros = saturated = under = over = 0
    for i in range(y.size):
        v = y[i]
        d = v - shift
        s1 += d
        s2 += d * d
        if v == 0:
            zeros += 1
        if v < sat_lo or v > sat_hi:
            saturated += 1
        if v < lo:
            under += 1
        if v > hi:
            over += 1
    return s1, s2, zeros, saturated, under, over


@numba.njit(cache=True)
def _histogram(y, lo, hi, counts):
    """Add the histogram of the flat array ``y`` over ``[lo, hi]`` into ``counts``:
    ``y`` falls in bin ``floor((y - lo) / width)``, ``hi`` itself in the last bin; values
    outside ``[lo, hi]`` and NaN in none.
    """
    last = counts.size - 1
    scale = counts.size / (hi - lo)
    # Pass 1, vectorisable: each element's bin, -1 for none.
    bins = np.empty(y.size, np.int32)
    for i in range(y.size):
        v = y[i]
        b = np.int32(min((v - lo) * scale, last))
        bins[i] = b if lo <= v <= hi else -1
    # Pass 2: count into 4 interleaved histograms (column 0 collects the -1s), so that a
    # run of equal values (ReLU's zeros) does not wait on its own previous increment.
    partial = np.zeros((4, counts.size + 1), np.int64)
    n = y.size
    for i in range(0, n - n % 4, 4):
        for k in range(4):
            partial[k, bins[i + k] + 1] += 1
    for i in range(n - n % 4, n):
        partial[0, bins[i] + 1] += 1
    for k in range(4):
        counts += partial[k, 1:]


class LayerActivationStats:
    """The running statistics of one layer's output (see ``ActivationStats``).

    Attributes
    ----------
    count : int
        Elements seen (over all batches).
    mean, m2 : float
        Running mean and sum of squared deviations (Chan et al.'s pairwise update, so the
        variance stays accurate when the mean is large).
    zeros, saturated : int
        Elements exactly 0, and elements in the saturated region (``saturated`` is None
        where the activation has none).
    edges : ndarray or None
        Histogram bin edges (fixed on the first batch unless a range was given).
    counts : ndarray
        Histogram counts; ``underflow``/``overflow`` count the elements below the first
        and above the last edge, so ``counts.sum() + underflow + overflow`` is the number
        of elements that are not NaN.
    """

    def __init__(self, name: str, module: Module, bins: int,
                 hist_range: tuple[float, float] | None) -> None:
        self.name = name
        self.type = type(module).__name__
        rule = SATURATION_RULES.get(self.type)
        self._saturation = None if rule is None else _thresholds(*rule(module))
        out_range = OUTPUT_RANGES.get(self.type)
        self._range = out_range(module) if out_range is not None else (None, None)
        self._bins = bins
        self._fixed_range = hist_range
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.zeros = 0
        self.saturated: int | None = None if self._saturation is None else 0
        self.underflow = 0
        self.overflow = 0
        self.counts = np.zeros(self._bins, dtype=np.int64)
        self.edges: np.ndarray | None = (
            None if self._fixed_range is None else np.linspace(*self._fixed_range, self._bins + 1))

    def _choose_edges(self, y: np.ndarray) -> np.ndarray:
        """The activation's bounds where it has them; otherwise the batch's range,
        widened by half its span on each open side so later batches mostly fit."""
        lo, hi = self._range
        finite = y[np.isfinite(y)]
        seen_lo = float(finite.min()) if finite.size else 0.0
        seen_hi = float(finite.max()) if finite.size else 1.0
        span = max(seen_hi - seen_lo, 1e-6)
        lo = seen_lo - 0.5 * span if lo is None else lo
        hi = seen_hi + 0.5 * span if hi is None else hi
        if hi <= lo:
            hi = lo + 1.0
        return np.linspace(lo, hi, self._bins + 1)

    def update(self, y: np.ndarray) -> None:
        """Add one batch of outputs."""
        n = y.size
        if n == 0:
            return
        if self.edges is None:
            self.edges = self._choose_edges(y)
        flat = y.reshape(-1)
        if flat.dtype.kind != "f":
            flat = flat.astype(np.float64)
        shift = self.mean if self.count else float(flat[0])
        sat_lo, sat_hi = self._saturation or (-math.inf, math.inf)
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        s1, s2, zeros, saturated, under, over = _moments(flat, shift, sat_lo, sat_hi, lo, hi)
        _histogram(flat, lo, hi, self.counts)
        # Merge the batch's (mean, M2) into the running ones (Chan et al.).
        batch_mean = shift + s1 / n
        batch_m2 = s2 - s1 * s1 / n
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.count = total
        self.zeros += zeros
        if self.saturated is not None:
            self.saturated += saturated
        self.underflow += under
        self.overflow += over

    def row(self) -> dict[str, Any]:
        n = self.count
        return {
            "layer": self.name,
            "type": self.type,
            "elements": n,
            "mean": self.mean if n else None,
            "std": math.sqrt(max(self.m2, 0.0) / n) if n else None,  # rounding can give -0
            "zero_frac": self.zeros / n if n else None,
            "saturated_frac": self.saturated / n if n and self.saturated is not None else None,
        }


def _thresholds(lo: float | None, hi: float | None, on_clamp: bool) -> tuple[float, float]:
    """A rule of ``SATURATION_RULES`` as strict thresholds: saturated when ``y < lo'`` or
    ``y > hi'``. On a clamp, ``y <= lo`` is ``y < `` the next float64 above ``lo`` (exact
    for float32 and float64 outputs)."""
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if on_clamp:
        lo, hi = math.nextafter(lo, math.inf), math.nextafter(hi, -math.inf)
    return lo, hi


def _check_histogram(bins: Any, hist_range: Any) -> tuple[int, tuple[float, float] | None]:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"ActivationStats: bins must be a positive int, got {bins!r}")
    if hist_range is None:
        return int(bins), None
    try:
        lo, hi = (float(v) for v in hist_range)
    except (TypeError, ValueError):
        raise TypeError(f"ActivationStats: range must be a pair (lo, hi) of numbers, got "
                        f"{hist_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"ActivationStats: range must be finite with lo < hi, got {hist_range!r}")
    return int(bins), (lo, hi)


class ActivationStats(Probe):
    """Record statistics of layer outputs on every forward pass, per layer.

    Parameters
    ----------
    model : Module
    layers : str, type or iterable of them, optional
        Layer names (from ``model.named_modules()``) and/or module classes; default every
        activation module. Add ``nn.Linear`` / ``nn.Conv2d`` to see pre-activations too.
    bins : int
        Number of equal-width histogram bins.
    range : (float, float), optional
        The histogram's lower and upper edge for every layer. By default each layer's
        edges are fixed on its first batch: the activation's own bounds where it has them
        (``OUTPUT_RANGES``, e.g. [-1, 1] for Tanh), the other sides from the batch's range
        widened by half its span. Elements outside are counted as underflow/overflow.

    Notes
    -----
    For all the output elements ``y`` seen so far (every batch, every unit, every position):

    * ``mean`` = Σy / n and ``std`` = √(Σ(y - mean)² / n) (population std);
    * ``zero_frac`` = #{y = 0} / n;
    * ``saturated_frac`` = #{y saturated} / n with the rule of ``SATURATION_RULES`` for the
      layer's class: Sigmoid y < 0.03 or y > 0.97; Tanh and Softsign |y| > 0.97; LogSigmoid
      y > ln 0.97; ELU and CELU y < -0.97α; SELU y < -0.97λα; Hardsigmoid, Hardtanh and
      ReLU6 on their clamp (ReLU6 only at 6). None for layers without a saturating regime;
    * the histogram: element ``y`` falls in bin ``floor((y - lo) / width)``, ``y = hi`` in
      the last bin (``np.histogram``'s bins, up to rounding exactly at an inner edge).

    All of it is gathered by two Numba loops over each output (``_moments`` and
    ``_histogram``): probes must not slow training down much.

    Every forward is recorded, in training and evaluation mode alike, with or without
    gradients; a module used twice per forward contributes both outputs.

    Examples
    --------
    >>> with ActivationStats(model) as stats:
    ...     for x, _ in loader:
    ...         model(x)
    >>> print(to_markdown(stats.summary()))
    """

    def __init__(self, model: Module, layers: LayerSpec | None = None, bins: int = 50,
                 range: tuple[float, float] | None = None) -> None:  # np.histogram's name
        super().__init__()
        bins, hist_range = _check_histogram(bins, range)
        chosen = select_layers(model, layers, is_activation, "activation layers",
                               "ActivationStats")
        self.layers: dict[str, LayerActivationStats] = {
            name: LayerActivationStats(name, module, bins, hist_range) for name, module in chosen}
        for name, module in chosen:
            self._handles.append(module.register_forward_hook(self._hook(self.layers[name])))

    @staticmethod
    def _hook(stats: LayerActivationStats) -> Callable:
        def record(module: Module, inputs: tuple, output: Any) -> None:
            if not isinstance(output, Tensor):
                raise TypeError(f"ActivationStats: layer {stats.name!r} ({stats.type}) returned "
                                f"a {type(output).__name__}; a Tensor was expected")
            stats.update(output.data)
        return record

    def summary(self) -> list[dict[str, Any]]:
        """One row per layer: ``layer``, ``type``, ``elements``, ``mean``, ``std``,
        ``zero_frac``, ``saturated_frac`` (None where not measured or not meaningful)."""
        return [s.row() for s in self.layers.values()]

    def histograms(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{layer: (counts, edges)}`` for the layers whose edges are fixed (given, or
        chosen on a first batch)."""
        return {name: (s.counts.copy(), s.edges.copy())
                for name, s in self.layers.items() if s.edges is not None}

    def reset(self) -> None:
        """Forget everything recorded (edges chosen on a first batch are chosen again)."""
        for s in self.layers.values():
            s.reset()
