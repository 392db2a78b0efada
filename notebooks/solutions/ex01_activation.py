"""Reference solution of ex01_activation: QuickGELU, f(x) = x·σ(1.702x)."""

import minidl
from minidl.kernels import fastmath as fm

K = 1.702


def _sigmoid(z):
    # e^(-|z|) is at most 1, so it never overflows; the two branches are the same σ.
    e = fm.exp(-abs(z))
    s = 1.0 / (1.0 + e)
    return s if z >= 0.0 else e * s


def quick_gelu(x):
    """QuickGELU of one number."""
    s = _sigmoid(K * x)
    # Where σ underflows to 0 the product is 0, even for x = -inf.
    return 0.0 if s == 0.0 else x * s


def quick_gelu_grad(x, y):
    """Derivative of QuickGELU at x (y is not needed)."""
    s = _sigmoid(K * x)
    slope = s * (1.0 - s)
    return s + (K * x * slope if slope > 0.0 else 0.0)


def register_quick_gelu():
    """Make F.quick_gelu and nn.QuickGELU."""
    return minidl.activations.register("quick_gelu", "QuickGELU", quick_gelu, quick_gelu_grad,
                                       formula="x·σ(1.702x)")
